package distcron_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron"
)

// A scheduler with one job. Run as many copies of the program as you like
// against one etcd: each tick runs on exactly one of them. (The example
// needs an etcd at 127.0.0.1:2379, so it is compiled but not run by go
// test; examples/quickstart runs the same with an embedded etcd.)
func Example() {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"127.0.0.1:2379"},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(), // the etcd client's own logger
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()

	sched, err := distcron.New(cli, distcron.WithInstanceID("web-1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	err = sched.RegisterFunc("report", "*/5 * * * *", func(ctx context.Context) error {
		ri, _ := distcron.RunInfoFrom(ctx)
		fmt.Println(ri.Job, "tick", ri.Tick, "runs on", ri.Instance, "with fencing token", ri.Token)
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := sched.Start(context.Background()); err != nil {
		fmt.Println(err) // names the endpoints and what they did
		return
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sched.Stop(ctx); err != nil {
		fmt.Println(err)
	}
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

// A definition's policies are typed in Go and named in its JSON.
func ExampleDefinition() {
	d := distcron.Definition{
		Name: "rotate", Kind: "shell", Schedule: "0 3 * * *",
		Shell:   &distcron.ShellSpec{Command: "logrotate /etc/logrotate.conf"},
		Overlap: distcron.OverlapForbid, Misfire: distcron.MisfireRunOnce, Deadline: distcron.Duration(time.Hour),
	}
	b, _ := json.Marshal(d)
	fmt.Println(string(b))
	back, err := distcron.ParseDefinition(b)
	fmt.Println(back.Overlap, back.Misfire, err)
	_, err = distcron.ParseDefinition([]byte(`{"name":"x","kind":"shell","schedule":"@daily","shell":{"command":"true"},"overlap":"never"}`))
	fmt.Println(err)
	// Output:
	// {"name":"rotate","schedule":"0 3 * * *","kind":"shell","shell":{"command":"logrotate /etc/logrotate.conf"},"overlap":"forbid","misfire":"run_once","starting_deadline":"1h0m0s"}
	// forbid run_once <nil>
	// distcron: invalid job definition: overlap: unknown policy "never" (want allow, forbid or replace)
}
