package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/distcron/distcron"
)

// measure samples one process's instances: heap and goroutines added by
// starting them, and, over the window, the transactions they send.
type measure struct {
	heapBefore       uint64
	goroutinesBefore int
}

func beginMeasure() measure {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return measure{ms.HeapAlloc, runtime.NumGoroutine()}
}

// started fills res's heap and goroutine figures after the instances started.
func (m measure) started(res *result) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	res.HeapBytes = int64(ms.HeapAlloc) - int64(m.heapBefore)
	res.Goroutines = runtime.NumGoroutine() - m.goroutinesBefore
}

// waitWindow waits for the window [start, start+rc.window), counting
// counter's transactions in it (with a CPU profile of it, and a line on
// stderr every rc.sample with this process's live heap and goroutines,
// when asked), then waits for the window's last records to arrive and
// writes the allocation profile when asked.
func waitWindow(rc runConfig, start time.Time, every time.Duration, counter *txnCounter, who string) (counts, error) {
	time.Sleep(time.Until(start))
	c0 := counter.snapshot()
	if rc.cpuprofile != "" {
		stop, err := startProfile(rc.cpuprofile)
		if err != nil {
			return counts{}, err
		}
		time.AfterFunc(rc.window, stop)
	}
	if rc.sample > 0 {
		for end := start.Add(rc.window); time.Until(end) > rc.sample; {
			time.Sleep(rc.sample)
			printSample(who, time.Since(start))
		}
	}
	time.Sleep(time.Until(start.Add(rc.window)))
	c1 := counter.snapshot()
	time.Sleep(every + time.Second)
	if rc.memprofile != "" {
		if err := writeAllocs(rc.memprofile); err != nil {
			return counts{}, err
		}
	}
	return c1.minus(c0), nil
}

// printSample writes this process's live heap (as of the last garbage
// collection, none forced) and goroutine count to stderr.
func printSample(who string, at time.Duration) {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	metrics.Read(m)
	fmt.Fprintf(os.Stderr, "sample %s t=%v live_heap_mib=%.2f goroutines=%d\n", who, at.Round(time.Second),
		float64(m[0].Value.Uint64())/(1<<20), m[1].Value.Uint64())
}

// stopAll stops the schedulers, then records their claim figures in res.
func stopAll(scheds []*distcron.Scheduler, res *result) {
	for _, s := range scheds {
		st := s.Stats()
		res.Won, res.Backups, res.Vouched, res.FlatFailed = res.Won+st.ClaimsWon, res.Backups+st.BackupClaims, res.Vouched+st.BackupsVouched, res.FlatFailed+st.FlatClaimsFailed
	}
	for _, s := range scheds {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "stop:", err)
		}
		cancel()
	}
}

// runInProcess runs every instance in this process, next to etcd when it
// is embedded: the instances' and etcd's work and garbage share one runtime.
func runInProcess(p params, rc runConfig) (result, costs, error) {
	rec := newRecorder(rc.soak)
	counter := &txnCounter{}
	m := beginMeasure()
	begin := time.Now()
	var scheds []*distcron.Scheduler
	for i := 0; i < rc.instances; i++ {
		s, cli, err := startInstance(p, fmt.Sprintf("b%d", i), rec, counter)
		if err != nil {
			stopAll(scheds, &result{})
			return result{}, costs{}, err
		}
		defer cli.Close()
		scheds = append(scheds, s)
	}
	startup := time.Since(begin)
	var res result
	m.started(&res)
	start := time.Now().Add(rc.warmup).Truncate(p.every).Add(p.every)
	rec.setWindow(start, start.Add(rc.window))
	window := measureCosts(p.endpoints[0], nil, start, rc.window)
	c, err := waitWindow(rc, start, p.every, counter, "all")
	stopAll(scheds, &res)
	if err != nil {
		return result{}, costs{}, err
	}
	out := rec.collect()
	out.Window, out.Won, out.Backups, out.Goroutines, out.HeapBytes, out.Startup = c, res.Won, res.Backups, res.Goroutines, res.HeapBytes, startup
	return out, window(), nil
}
