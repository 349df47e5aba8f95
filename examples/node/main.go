// Command node is one member of a distcron cluster, for multi-process
// tests, chaos drills and benchmarks. It registers -jobs Go func jobs named
// job-0..job-N-1 on "@every <-every>", and optionally one shell job shell-0,
// and prints every run record as one JSON line on stdout (keys job, tick,
// instance, status, trigger, started, finished, token, ...). Logs go to
// stderr. SIGTERM or SIGINT stops it gracefully: Stop gets -stop-wait, its
// outcome is logged ("scheduler stopped"), and the process exits 0.
//
//	go run ./examples/node -etcd 127.0.0.1:2379 -id a -jobs 100 -every 1s
//
// Three optional jobs on the same schedule show the policies a chaos drill
// needs (see jobs.go): rerun-0 (-rerun-job, RerunLost), forbid-0
// (-forbid-job, OverlapForbid) and stubborn-0 (-stubborn-job, a run that
// ignores cancellation). -notify-webhook posts failed and lost runs to a
// URL.
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
	"github.com/distcron/distcron/distcrontest"
	"github.com/distcron/distcron/examples/internal/examplesinks"
	"github.com/distcron/distcron/examples/internal/exampleutil"
	"github.com/distcron/distcron/notify"
)

type flags struct {
	etcd, id, ns, shell, tags, logLevel string
	allowRemoteShell, rerunLost         bool
	allowRemoteHTTP, sink, sinkDSN      string
	notifyWebhook                       string
	jobs, maxConcurrent                 int
	every, work, skew, ttl, stopWait    time.Duration
	clockCorrection                     bool
	stopGrace, afterStop                time.Duration
	rerunJob, forbidJob, stubbornJob    time.Duration // work of each run of the optional jobs; 0: not registered
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
	fs.BoolVar(&f.clockCorrection, "clock-correction", true, "schedule on the cluster's median clock when this one is off (WithClockCorrection)")
	fs.DurationVar(&f.ttl, "ttl", 10*time.Second, "etcd session TTL")
	fs.IntVar(&f.maxConcurrent, "max-concurrent", 0, "max concurrent runs (0: no cap)")
	fs.StringVar(&f.tags, "tags", "", "instance tags, comma-separated")
	fs.DurationVar(&f.stopWait, "stop-wait", 10*time.Second, "how long a graceful stop waits for runs (Stop's context)")
	fs.DurationVar(&f.stopGrace, "stop-grace", 0, "how long Stop waits for runs it cancelled (WithStopGrace; 0: the library's default)")
	fs.DurationVar(&f.afterStop, "after-stop", 0, "stay alive this long after Stop returned, as a host service that keeps serving would")
	fs.DurationVar(&f.rerunJob, "rerun-job", 0, "if set, adds job rerun-0 (RerunLost) whose runs work this long")
	fs.DurationVar(&f.forbidJob, "forbid-job", 0, "if set, adds job forbid-0 (OverlapForbid) whose runs work this long")
	fs.DurationVar(&f.stubbornJob, "stubborn-job", 0, "if set, adds job stubborn-0 whose runs work this long ignoring cancellation, then fail")
	fs.StringVar(&f.notifyWebhook, "notify-webhook", "", "POST the records of failed, timed-out, killed and lost runs to this URL")
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
	case f.rerunJob < 0 || f.forbidJob < 0 || f.stubbornJob < 0:
		return f, errors.New("-rerun-job, -forbid-job and -stubborn-job must be >= 0")
	case f.stopGrace < 0 || f.afterStop < 0:
		return f, errors.New("-stop-grace and -after-stop must be >= 0")
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
		distcron.WithClock(distcrontest.SkewedClock(f.skew)), distcron.WithClockCorrection(f.clockCorrection),
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
	if f.stopGrace > 0 {
		opts = append(opts, distcron.WithStopGrace(f.stopGrace))
	}
	if f.notifyWebhook != "" {
		hook, err := notify.NewWebhook(f.notifyWebhook)
		if err != nil {
			return err
		}
		opts = append(opts, distcron.WithNotifier(hook, nil)) // nil: failures (failed, timeout, killed, lost)
	}
	sched, err := distcron.New(etcd.Client, opts...)
	if err != nil {
		return err
	}
	spec := "@every " + f.every.String()
	if err := registerJobs(sched, spec, f); err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sched.Start(startCtx); err != nil {
		return err
	}
	log.Info("node running", zap.String("instance", sched.InstanceID()), zap.Int("jobs", f.jobs), zap.String("spec", spec))
	<-ctx.Done()

	// Graceful stop, bounded like http.Server.Shutdown: runs still going
	// after -stop-wait are cancelled. Whatever Stop reports (cancelled
	// runs, records it could not deliver) is logged; the stop was graceful.
	stopping := time.Now()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), f.stopWait)
	defer cancelStop()
	err = sched.Stop(stopCtx)
	log.Info("scheduler stopped", zap.Duration("took", time.Since(stopping)), zap.Error(err))
	if f.afterStop > 0 {
		time.Sleep(f.afterStop) // the host goes on serving; late library work happens in a live process
	}
	return nil
}
