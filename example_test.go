package distcron_test

import (
	"context"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/internal/embedetcd"
)

// A scheduler with one job, against a real (embedded) etcd.
func Example() {
	dir, _ := os.MkdirTemp("", "distcron-example-")
	defer os.RemoveAll(dir)
	etcd, err := embedetcd.Start(dir, embedetcd.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer etcd.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: etcd.Endpoints(), Logger: zap.NewNop()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()

	sched, err := distcron.New(cli, distcron.WithNamespace("/distcron/example/"), distcron.WithInstanceID("web-1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ran := make(chan distcron.RunInfo, 1)
	err = sched.RegisterFunc("report", "@every 100ms", func(ctx context.Context) error {
		ri, _ := distcron.RunInfoFrom(ctx)
		select {
		case ran <- ri:
		default:
		}
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := sched.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	ri := <-ran
	if err := sched.Stop(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println(ri.Job, "ran on", ri.Instance, "with a fencing token:", ri.Token > 0)
	// Output: report ran on web-1 with a fencing token: true
}

// Daylight saving: a daily 02:30 job in New York runs at 03:00 on the day
// the clocks skip 02:00-03:00, and once on the day 01:00-02:00 repeats.
func ExampleParseSchedule() {
	ny, _ := time.LoadLocation("America/New_York")
	s, err := distcron.ParseSchedule("30 2 * * *", ny)
	if err != nil {
		fmt.Println(err)
		return
	}
	t := time.Date(2026, 3, 7, 12, 0, 0, 0, ny)
	for range 3 {
		t = s.Next(t)
		fmt.Println(t.Format("Jan 2 15:04 MST"))
	}
	_, err = distcron.ParseSchedule("5-2 * * * *", nil)
	fmt.Println(err)
	// Output:
	// Mar 8 03:00 EDT
	// Mar 9 02:30 EDT
	// Mar 10 02:30 EDT
	// distcron: invalid schedule "5-2 * * * *": minute range 5-2 is reversed
}
