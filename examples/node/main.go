// Command node is one member of a distcron cluster, for multi-process
// tests, chaos drills and benchmarks. It registers -jobs Go func jobs named
// job-0..job-N-1 on "@every <-every>", and optionally one shell job shell-0,
// and prints every run record as one JSON line on stdout (keys job, tick,
// instance, status, trigger, started, finished, token, ...). Logs go to
// stderr. SIGTERM or SIGINT stops it gracefully.
//
//	go run ./examples/node -etcd 127.0.0.1:2379 -id a -jobs 100 -every 1s
//
// Without -etcd it starts an embedded single-node etcd. Jobs defined in etcd
// (see distcron.Definition) run here too, shell ones only with
// -allow-remote-shell and HTTP ones only with -allow-remote-http.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/internal/examplesinks"
	"github.com/distcron/distcron/internal/exampleutil"
)

type flags struct {
	etcd, id, ns, shell, tags, logLevel string
	allowRemoteShell, rerunLost         bool
	allowRemoteHTTP, sink, sinkDSN      string
	jobs, maxConcurrent                 int
	every, work, skew, ttl, stopWait    time.Duration
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.StringVar(&f.etcd, "etcd", "", "etcd endpoints, comma-separated (empty: start an embedded etcd)")
	fs.StringVar(&f.id, "id", "", "instance id (default host-pid-random)")
	fs.StringVar(&f.ns, "ns", "/distcron/node/", "etcd namespace prefix")
	fs.IntVar(&f.jobs, "jobs", 1, "number of Go func jobs job-0..job-N-1")
	fs.DurationVar(&f.every, "every", time.Second, "schedule of every job (@every)")
	fs.StringVar(&f.shell, "shell", "", "if set, adds shell job shell-0 running this command on the same schedule")
	fs.DurationVar(&f.work, "work", 0, "how long each Go func job works")
	fs.DurationVar(&f.skew, "skew", 0, "offset of this instance's clock (simulated skew)")
	fs.DurationVar(&f.ttl, "ttl", 10*time.Second, "etcd session TTL")
	fs.IntVar(&f.maxConcurrent, "max-concurrent", 0, "max concurrent runs (0: no cap)")
	fs.StringVar(&f.tags, "tags", "", "instance tags, comma-separated")
	fs.DurationVar(&f.stopWait, "stop-wait", 10*time.Second, "how long a graceful stop waits for runs")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level on stderr: debug, info, warn, error")
	fs.StringVar(&f.sink, "sink", "stdout", "where run records go: "+examplesinks.SinkKinds+" (stdout: one JSON line per record)")
	fs.StringVar(&f.sinkDSN, "sink-dsn", "", "data source for -sink: a MongoDB URI, a PostgreSQL or MySQL DSN, or a SQLite file (mongo without one starts an embedded FerretDB)")
	fs.BoolVar(&f.rerunLost, "rerun-lost", false, "re-run lost runs of the Go func jobs elsewhere (RerunLost)")
	fs.BoolVar(&f.allowRemoteShell, "allow-remote-shell", false, "run shell jobs defined in etcd (remote code execution: only where intended)")
	fs.StringVar(&f.allowRemoteHTTP, "allow-remote-http", "", "run HTTP jobs defined in etcd to these hosts (comma-separated; \"*\" for any)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	switch {
	case fs.NArg() > 0:
		return f, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case f.jobs < 0:
		return f, errors.New("-jobs must be >= 0")
	case f.every <= 0:
		return f, errors.New("-every must be positive")
	case f.work < 0:
		return f, errors.New("-work must be >= 0")
	}
	return f, nil
}

func main() {
	f, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(2)
	}
	level, err := zapcore.ParseLevel(f.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "node: -log-level:", err)
		os.Exit(2)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(level)
	cfg.OutputPaths = []string{"stderr"}
	log, _ := cfg.Build()
	defer log.Sync()
	if err := run(f, log); err != nil {
		log.Error("node", zap.Error(err))
		os.Exit(1)
	}
}

func run(f flags, log *zap.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	etcd, err := exampleutil.Connect(f.etcd, log)
	if err != nil {
		return err
	}
	defer etcd.Close()

	sink, closeSink, err := examplesinks.OpenSink(f.sink, f.sinkDSN, log)
	if err != nil {
		return err
	}
	defer closeSink()
	opts := []distcron.Option{
		distcron.WithNamespace(f.ns), distcron.WithLogger(log),
		distcron.WithSinks(sink),
		distcron.WithSessionTTL(f.ttl), distcron.WithMaxConcurrentRuns(f.maxConcurrent),
		distcron.WithClock(distcron.SkewedClock(f.skew)),
	}
	if f.id != "" {
		opts = append(opts, distcron.WithInstanceID(f.id))
	}
	if f.tags != "" {
		opts = append(opts, distcron.WithTags(strings.Split(f.tags, ",")...))
	}
	if f.allowRemoteShell {
		opts = append(opts, distcron.WithRemoteShell(true))
	}
	if f.allowRemoteHTTP != "" {
		opts = append(opts, distcron.WithRemoteHTTP(strings.Split(f.allowRemoteHTTP, ",")...))
	}
	sched, err := distcron.New(etcd.Client, opts...)
	if err != nil {
		return err
	}
	spec := "@every " + f.every.String()
	work := func(ctx context.Context) error {
		if f.work == 0 {
			return nil
		}
		select {
		case <-time.After(f.work):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var jobOpts []distcron.JobOption
	if f.rerunLost {
		jobOpts = append(jobOpts, distcron.RerunLost())
	}
	for i := 0; i < f.jobs; i++ {
		if err := sched.RegisterFunc(fmt.Sprintf("job-%d", i), spec, work, jobOpts...); err != nil {
			return err
		}
	}
	if f.shell != "" {
		if err := sched.RegisterShell("shell-0", spec, f.shell); err != nil {
			return err
		}
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sched.Start(startCtx); err != nil {
		return err
	}
	log.Info("node running", zap.String("instance", sched.InstanceID()), zap.Int("jobs", f.jobs), zap.String("spec", spec))
	<-ctx.Done()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), f.stopWait)
	defer cancelStop()
	return sched.Stop(stopCtx)
}
