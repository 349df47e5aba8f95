package logsink_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/distcron/distcron/logsink"
)

func ExampleNewDelivery() {
	p, err := logsink.NewDelivery(logsink.NewJSON(os.Stdout),
		logsink.WithBatchSize(100),
		logsink.WithFlushInterval(50*time.Millisecond))
	if err != nil {
		panic(err)
	}
	p.Start()

	tick := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	p.Send(logsink.Record{
		Job:      "backup",
		Tick:     tick,
		Instance: "node-1",
		Trigger:  logsink.TriggerSchedule,
		Attempt:  1,
		Token:    42,
		Started:  tick,
		Finished: tick.Add(1500 * time.Millisecond),
		Duration: 1500 * time.Millisecond,
		Status:   logsink.StatusSucceeded,
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		fmt.Println("stop:", err)
	}
	fmt.Printf("%+v\n", p.Stats())
	// Output:
	// {"job":"backup","tick":"2025-01-02T03:04:00Z","shard":0,"instance":"node-1","trigger":"schedule","attempt":1,"token":42,"started":"2025-01-02T03:04:00Z","finished":"2025-01-02T03:04:01.5Z","duration":1500000000,"status":"succeeded","exit_code":0}
	// {Buffered:0 Written:1 Dropped:0 Failures:0 BufferedBytes:0 Clipped:0 Rejected:0}
}
