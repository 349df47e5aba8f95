package sqlsink_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"time"

	_ "modernc.org/sqlite"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sqlsink"
)

func Example() {
	db, err := sql.Open("sqlite", "file::memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database

	runs, err := sqlsink.New(db, sqlsink.SQLite, sqlsink.WithRetention(30*24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	// With a scheduler: distcron.New(cli, distcron.WithSinks(runs)).
	// Here, write two records directly.
	ctx := context.Background()
	tick := time.Now().UTC().Truncate(time.Minute)
	err = runs.Write(ctx, []logsink.Record{
		{Job: "backup", Tick: tick.Add(-time.Minute), Instance: "node-1", Attempt: 1, Status: logsink.StatusSucceeded, Output: "done\n"},
		{Job: "backup", Tick: tick, Instance: "node-2", Attempt: 1, Status: logsink.StatusFailed, Error: "exit status 1", ExitCode: 1},
	})
	if err != nil {
		log.Fatal(err)
	}

	// History, newest first, as the admin side reads it.
	page, err := runs.Query(ctx, logsink.Query{Job: "backup", Limit: 10})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range page.Records {
		fmt.Println(r.Job, r.Instance, r.Status, r.Error)
	}
	// Output:
	// backup node-2 failed exit status 1
	// backup node-1 succeeded
}
