// Command sinks is a service that keeps the history of its scheduled runs
// in MongoDB and in a SQL database at the same time, and reads it back the
// way an admin page would.
//
// It registers three jobs (a Go func, a Go func that fails every other
// run, and a shell task), hands the scheduler a Mongo sink and a SQL sink, and
// every few seconds prints the latest runs and failures from each store.
// With no flags it needs nothing but Go: an embedded etcd, an embedded
// FerretDB (a MongoDB-compatible server) and a SQLite file, all temporary
// (removed at exit):
//
//	go run ./examples/sinks
//
// Against real servers:
//
//	go run ./examples/sinks -etcd 127.0.0.1:2379 \
//		-mongo mongodb://127.0.0.1:27017/ops \
//		-sql postgres -sql-dsn 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// Ctrl-C (or -for) stops it: the scheduler waits for runs and flushes both
// sinks, then the program prints how many runs each store holds.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/examples/internal/examplesinks"
	"github.com/distcron/distcron/examples/internal/exampleutil"
	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/mongosink"
	"github.com/distcron/distcron/logsink/sqlsink"
)

func main() {
	endpoints := flag.String("etcd", os.Getenv("DISTCRON_ETCD"), "etcd endpoints, comma-separated (empty: start an embedded etcd)")
	mongoURI := flag.String("mongo", "", "MongoDB URI; the database is the URI's path, default \"ops\" (empty: start an embedded FerretDB)")
	sqlKind := flag.String("sql", "sqlite", "SQL database: postgres, mysql or sqlite")
	sqlDSN := flag.String("sql-dsn", "", "DSN of the SQL database (empty with -sql sqlite: a temporary file)")
	runFor := flag.Duration("for", 0, "stop after this long (0: run until Ctrl-C)")
	flag.Parse()
	log, _ := zap.NewDevelopment() // operational logs on stderr
	defer log.Sync()
	if err := run(*endpoints, *mongoURI, *sqlKind, *sqlDSN, *runFor, log); err != nil {
		log.Fatal("sinks", zap.Error(err))
	}
}

func run(endpoints, mongoURI, sqlKind, sqlDSN string, runFor time.Duration, log *zap.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, runFor)
		defer cancel()
	}

	etcd, err := exampleutil.Connect(endpoints, log)
	if err != nil {
		return err
	}
	defer etcd.Close()

	// The Mongo sink takes the collection the service already has; it
	// never disconnects the client.
	if mongoURI == "" {
		uri, stopFerret, err := examplesinks.StartFerretDB(log)
		if err != nil {
			return err
		}
		defer stopFerret()
		mongoURI = uri
	}
	client, err := mongo.Connect(options.Client().ApplyURI(mongoURI))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())
	dbName := "ops"
	if u, err := url.Parse(mongoURI); err == nil && strings.Trim(u.Path, "/") != "" {
		dbName = strings.Trim(u.Path, "/")
	}
	mongoRuns, err := mongosink.New(client.Database(dbName).Collection("distcron_runs"),
		mongosink.WithRetention(30*24*time.Hour), // a TTL index (or pruning on FerretDB)
		mongosink.WithLogger(log))
	if err != nil {
		return err
	}

	// The SQL sink takes a *sql.DB and its dialect; the program picks and
	// imports the driver. It never closes the DB.
	db, dialect, removeTemp, err := openSQL(sqlKind, sqlDSN, log)
	if err != nil {
		return err
	}
	defer removeTemp()
	defer db.Close()
	sqlRuns, err := sqlsink.New(db, dialect,
		sqlsink.WithTable("distcron_runs"),
		sqlsink.WithRetention(30*24*time.Hour),
		sqlsink.WithLogger(log))
	if err != nil {
		return err
	}

	// Each sink gets its own pipeline: batching, retry with backoff in a
	// bounded buffer while its database is down, flush on Stop.
	sched, err := distcron.New(etcd.Client,
		distcron.WithNamespace("/distcron/sinks-example/"),
		distcron.WithLogger(log),
		distcron.WithSinks(mongoRuns, sqlRuns))
	if err != nil {
		return err
	}
	if err := register(sched); err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := sched.Start(startCtx); err != nil {
		return err
	}
	log.Info("running; press Ctrl-C to stop", zap.String("instance", sched.InstanceID()), zap.String("mongo", mongoURI), zap.String("sql", string(dialect)))

	stores := []struct {
		name string
		q    logsink.Querier
	}{{"mongo", mongoRuns}, {"sql/" + string(dialect), sqlRuns}}
	ticker := time.NewTicker(5 * time.Second)
	defer ticker.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-ticker.C:
			for _, st := range stores {
				printHistory(ctx, st.name, st.q)
			}
		}
	}

	stopCtx, cancelStop := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancelStop()
	if err := sched.Stop(stopCtx); err != nil { // flushes both sinks
		return err
	}
	for _, st := range stores {
		n, err := countRuns(st.q)
		if err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		fmt.Printf("%s holds %d runs\n", st.name, n)
	}
	return nil
}

func register(sched *distcron.Scheduler) error {
	err := sched.RegisterFunc("report", "@every 2s", func(ctx context.Context) error {
		return nil
	})
	if err != nil {
		return err
	}
	var calls atomic.Int64
	err = sched.RegisterFunc("flaky", "@every 2s", func(ctx context.Context) error {
		if calls.Add(1)%2 == 0 {
			return errors.New("upstream answered 503")
		}
		return nil
	})
	if err != nil {
		return err
	}
	return sched.RegisterShell("disk-usage", "*/5 * * * * *", "df -h / | tail -n 1", distcron.Timeout(10*time.Second))
}

// openSQL opens the SQL database; remove deletes the temporary SQLite
// file made when no DSN was given (else it does nothing).
func openSQL(kind, dsn string, log *zap.Logger) (db *sql.DB, d sqlsink.Dialect, remove func(), err error) {
	remove = func() {}
	driver := kind
	switch kind {
	case "postgres":
		driver = "pgx"
	case "mysql":
	case "sqlite":
		if dsn == "" {
			dir, err := os.MkdirTemp("", "distcron-sinks-example-")
			if err != nil {
				return nil, "", nil, err
			}
			remove = func() { os.RemoveAll(dir) }
			dsn = filepath.Join(dir, "runs.db")
			log.Info("no -sql-dsn: run records go to a temporary SQLite file, removed at exit", zap.String("path", dsn))
		}
		if !strings.HasPrefix(dsn, "file:") {
			dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
		}
	default:
		return nil, "", nil, fmt.Errorf("-sql %q: want postgres, mysql or sqlite", kind)
	}
	if dsn == "" {
		return nil, "", nil, fmt.Errorf("-sql %s needs -sql-dsn", kind)
	}
	if db, err = sql.Open(driver, dsn); err != nil {
		remove()
		return nil, "", nil, err
	}
	return db, sqlsink.Dialect(kind), remove, nil
}

// printHistory prints the latest runs and the latest failures of one
// store, as an admin page would show them.
func printHistory(ctx context.Context, name string, q logsink.Querier) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	latest, err := q.Query(ctx, logsink.Query{Limit: 3, OmitOutput: true})
	if err != nil {
		fmt.Printf("[%s] history unavailable: %v\n", name, err)
		return
	}
	failed, err := q.Query(ctx, logsink.Query{
		Statuses: []logsink.Status{logsink.StatusFailed, logsink.StatusTimeout, logsink.StatusLost},
		Since:    time.Now().Add(-time.Hour),
		Limit:    3,
	})
	if err != nil {
		fmt.Printf("[%s] history unavailable: %v\n", name, err)
		return
	}
	fmt.Printf("[%s] latest runs:\n", name)
	for _, r := range latest.Records {
		fmt.Printf("  %s  %-10s %-9s %6s  %s\n", r.Tick.Format(time.TimeOnly), r.Job, r.Status, r.Duration.Round(time.Millisecond), r.Instance)
	}
	fmt.Printf("[%s] failures in the last hour:\n", name)
	for _, r := range failed.Records {
		fmt.Printf("  %s  %-10s %s\n", r.Tick.Format(time.TimeOnly), r.Job, r.Error)
	}
	if len(failed.Records) > 0 { // one run with its output, by identity
		r, err := q.Get(ctx, failed.Records[0].ID())
		if err == nil {
			fmt.Printf("[%s] newest failure in full: attempt %d, token %d, exit code %d, error %q\n",
				name, r.Attempt, r.Token, r.ExitCode, r.Error)
		}
	}
}

// countRuns counts every stored record by following the pages.
func countRuns(q logsink.Querier) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n := 0
	query := logsink.Query{Limit: logsink.MaxQueryLimit, OmitOutput: true}
	for {
		page, err := q.Query(ctx, query)
		if err != nil {
			return n, err
		}
		n += len(page.Records)
		if page.Next == "" {
			return n, nil
		}
		query.Cursor = page.Next
	}
}
