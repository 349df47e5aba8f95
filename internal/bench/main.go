// Command bench measures distcron end to end: several schedulers (each with
// its own etcd client) against one embedded etcd with fsync on, many jobs on
// an @every schedule, for a fixed time. It reports fires per second, fire
// lateness percentiles (scheduled instant to job start), duplicates (must be
// 0), missed ticks, claim transactions, goroutines and heap.
//
//	go run ./internal/bench -instances 3 -jobs 1000 -every 1s -duration 20s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/internal/embedetcd"
	"github.com/distcron/distcron/logsink"
)

var (
	profile string
	spread  bool
)

// offsetEvery fires every period at a fixed offset from the epoch grid, so
// that jobs with different offsets spread their ticks over the period.
type offsetEvery struct{ every, offset time.Duration }

func (o offsetEvery) Next(from time.Time) time.Time {
	base := from.Add(-o.offset).Truncate(o.every).Add(o.every)
	return base.Add(o.offset)
}

type runKey struct {
	job  string
	tick int64
}

// recorder is the sink: it counts runs per tick and keeps lateness samples.
type recorder struct {
	mu       sync.Mutex
	runs     map[runKey]int
	lateness []time.Duration
	from, to time.Time // only ticks in [from, to) count
}

func (r *recorder) Write(_ context.Context, batch []logsink.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range batch {
		if rec.Tick.Before(r.from) || !rec.Tick.Before(r.to) {
			continue
		}
		r.runs[runKey{rec.Job, rec.Tick.UnixNano()}]++
		r.lateness = append(r.lateness, rec.Started.Sub(rec.Tick))
	}
	return nil
}

func main() {
	instances := flag.Int("instances", 3, "schedulers, each with its own etcd client")
	jobs := flag.Int("jobs", 1000, "registered jobs")
	every := flag.Duration("every", time.Second, "schedule of every job (@every)")
	duration := flag.Duration("duration", 20*time.Second, "measured window")
	warmup := flag.Duration("warmup", 3*time.Second, "time before the window")
	lead := flag.Duration("lead", 20*time.Millisecond, "claim lead")
	endpoints := flag.String("etcd", "", "use this etcd instead of an embedded one")
	noFsync := flag.Bool("no-fsync", false, "embedded etcd without fsync (unsafe; for comparison)")
	flag.BoolVar(&spread, "spread", false, "spread the jobs' ticks evenly over the period instead of one shared instant")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured window here")
	flag.Parse()
	profile = *cpuprofile
	if err := run(*instances, *jobs, *every, *duration, *warmup, *lead, *endpoints, *noFsync); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(instances, jobs int, every, duration, warmup, lead time.Duration, endpoints string, noFsync bool) error {
	var eps []string
	if endpoints == "" {
		dir, err := os.MkdirTemp("", "distcron-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c, err := embedetcd.Start(dir, embedetcd.Options{NoFsync: noFsync, AutoCompaction: "1m", QuotaBackendBytes: 8 << 30})
		if err != nil {
			return err
		}
		defer c.Close()
		eps = c.Endpoints()
	} else {
		eps = strings.Split(endpoints, ",")
	}
	var claimTxns, claimOps, txns atomic.Int64
	count := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if tr, ok := req.(*pb.TxnRequest); ok {
			txns.Add(1)
			if len(tr.Compare) == 0 && len(tr.Success) > 0 && tr.Success[0].GetRequestTxn() != nil {
				claimTxns.Add(1)
				claimOps.Add(int64(len(tr.Success)))
			}
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})

	start := time.Now().Add(warmup).Truncate(every).Add(every)
	rec := &recorder{runs: make(map[runKey]int), from: start, to: start.Add(duration)}
	ns := fmt.Sprintf("/distcron/bench-%d/", time.Now().UnixNano())
	var scheds []*distcron.Scheduler
	var memBefore runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&memBefore)
	goroutinesBefore := runtime.NumGoroutine()
	startupBegin := time.Now()
	for i := 0; i < instances; i++ {
		cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), DialOptions: []grpc.DialOption{count}})
		if err != nil {
			return err
		}
		defer cli.Close()
		s, err := distcron.New(cli, distcron.WithNamespace(ns), distcron.WithInstanceID(fmt.Sprintf("b%d", i)),
			distcron.WithSinks(rec), distcron.WithClaimLead(lead),
			distcron.WithPipelineOptions(logsink.WithBatchSize(4096), logsink.WithBufferSize(1<<20)))
		if err != nil {
			return err
		}
		spec := "@every " + every.String()
		noop := executor.Func(func(context.Context) error { return nil })
		for j := 0; j < jobs; j++ {
			name := fmt.Sprintf("job-%d", j)
			var err error
			if spread {
				err = s.RegisterSchedule(name, offsetEvery{every, every * time.Duration(j) / time.Duration(jobs)}, noop)
			} else {
				err = s.Register(name, spec, noop)
			}
			if err != nil {
				return err
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = s.Start(ctx)
		cancel()
		if err != nil {
			return err
		}
		scheds = append(scheds, s)
	}
	startup := time.Since(startupBegin)
	var memAfter runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&memAfter)
	goroutinesIdle := runtime.NumGoroutine() - goroutinesBefore

	time.Sleep(time.Until(start))
	c0, o0, t0 := claimTxns.Load(), claimOps.Load(), txns.Load()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		time.AfterFunc(duration, pprof.StopCPUProfile)
	}
	time.Sleep(duration)
	c1, o1, t1 := claimTxns.Load(), claimOps.Load(), txns.Load()
	time.Sleep(every + time.Second) // let the last window's records arrive
	var won, backups uint64
	for _, s := range scheds {
		st := s.Stats()
		won, backups = won+st.ClaimsWon, backups+st.BackupClaims
	}
	for _, s := range scheds {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "stop:", err)
		}
		cancel()
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	expected := jobs * int(duration/every)
	dups, fired := 0, 0
	for _, n := range rec.runs {
		fired++
		if n > 1 {
			dups += n - 1
		}
	}
	slices.Sort(rec.lateness)
	pct := func(p float64) time.Duration {
		if len(rec.lateness) == 0 {
			return 0
		}
		return rec.lateness[min(len(rec.lateness)-1, int(p*float64(len(rec.lateness))))]
	}
	secs := duration.Seconds()
	fmt.Printf("instances=%d jobs=%d every=%v spread=%v window=%v lead=%v fsync=%v cores=%d\n", instances, jobs, every, spread, duration, lead, !noFsync, runtime.NumCPU())
	fmt.Printf("startup (New+Register+Start, all instances): %v\n", startup.Round(time.Millisecond))
	fmt.Printf("heap after start: %.1f MiB total, %.0f B per registered job per instance\n",
		float64(memAfter.HeapAlloc)/(1<<20), float64(int64(memAfter.HeapAlloc)-int64(memBefore.HeapAlloc))/float64(jobs*instances))
	fmt.Printf("goroutines added by %d idle-between-ticks instances: %d\n", instances, goroutinesIdle)
	fmt.Printf("ticks expected=%d fired=%d missed=%d duplicates=%d\n", expected, fired, expected-fired, dups)
	fmt.Printf("fires/s=%.0f claim txns/s=%.0f (all instances) all txns/s=%.0f\n", float64(fired)/secs, float64(c1-c0)/secs, float64(t1-t0)/secs)
	fmt.Printf("claims won=%d of which by backups=%d; claim operations per fire=%.2f\n", won, backups, float64(o1-o0)/float64(max(fired, 1)))
	fmt.Printf("lateness p50=%v p90=%v p99=%v max=%v\n", pct(0.50), pct(0.90), pct(0.99), pct(1))
	if dups > 0 {
		return fmt.Errorf("%d duplicate runs", dups)
	}
	return nil
}
