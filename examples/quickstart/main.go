// Command quickstart runs a one-instance distcron cluster: a Go func and a
// shell task on short schedules, with every run record printed to stdout as
// one JSON line. Without -etcd (or DISTCRON_ETCD) it starts an embedded etcd
// in a temporary directory, so it needs nothing but Go:
//
//	go run ./examples/quickstart
//
// Run it twice against one etcd to see the ticks split between instances:
//
//	go run ./examples/quickstart -etcd 127.0.0.1:2379
//
// Ctrl-C stops it gracefully.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/examples/internal/exampleutil"
	"github.com/distcron/distcron/logsink"
)

func main() {
	endpoints := flag.String("etcd", os.Getenv("DISTCRON_ETCD"), "etcd endpoints, comma-separated (empty: start an embedded etcd)")
	flag.Parse()
	log, _ := zap.NewDevelopment() // operational logs on stderr
	defer log.Sync()
	if err := run(*endpoints, log); err != nil {
		log.Fatal("quickstart", zap.Error(err))
	}
}

func run(endpoints string, log *zap.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	etcd, err := exampleutil.Connect(endpoints, log)
	if err != nil {
		return err
	}
	defer etcd.Close()

	sched, err := distcron.New(etcd.Client,
		distcron.WithNamespace("/distcron/quickstart/"),
		distcron.WithLogger(log),
		distcron.WithSinks(logsink.NewJSON(os.Stdout)), // run records on stdout
	)
	if err != nil {
		return err
	}
	err = sched.RegisterFunc("hello", "@every 2s", func(ctx context.Context) error {
		ri, _ := distcron.RunInfoFrom(ctx)
		fmt.Fprintf(os.Stderr, "hello from %s, tick %s, fencing token %d\n", ri.Instance, ri.Tick.Format(time.RFC3339), ri.Token)
		return nil
	})
	if err != nil {
		return err
	}
	if err := sched.RegisterShell("disk-usage", "*/5 * * * * *", "df -h / | tail -n 1", distcron.Timeout(10*time.Second)); err != nil {
		return err
	}

	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := sched.Start(startCtx); err != nil {
		return err
	}
	log.Info("running; press Ctrl-C to stop", zap.String("instance", sched.InstanceID()))
	<-ctx.Done()

	stopCtx, cancelStop := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelStop()
	return sched.Stop(stopCtx)
}
