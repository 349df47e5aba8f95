package mongosink_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/mongosink"
)

func Example() {
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:27017"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(context.Background()) // the sink never disconnects it

	runs, err := mongosink.New(client.Database("ops").Collection("distcron_runs"),
		mongosink.WithRetention(90*24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	// Hand it to the scheduler: distcron.New(cli, distcron.WithSinks(runs)).

	// Later, the last failures of a job, newest first:
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	page, err := runs.Query(ctx, logsink.Query{
		Job:        "backup",
		Statuses:   []logsink.Status{logsink.StatusFailed, logsink.StatusTimeout},
		Limit:      20,
		OmitOutput: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range page.Records {
		fmt.Println(r.Tick, r.Instance, r.Status, r.Error)
	}
	fmt.Println("more pages:", page.Next != "") // if so, Query again with Cursor: page.Next
}
