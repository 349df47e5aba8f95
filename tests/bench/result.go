package main

import (
	"fmt"
	"slices"
	"time"
)

// result is what one process measured: the runs of the window's ticks,
// their lateness, the etcd transactions sent in the window, and its
// instances' claims, goroutines and heap.
type result struct {
	Runs       []runCount      `json:"runs"`
	Fired      int             `json:"fired"` // runs of the window's ticks, duplicates included
	Lateness   []time.Duration `json:"lateness"`
	Worst      []time.Duration `json:"worst"` // the latest run of each second of the window
	Window     counts          `json:"window"`
	Won        uint64          `json:"won"`
	Backups    uint64          `json:"backups"`
	Vouched    uint64          `json:"vouched"`     // backup ticks dropped on the preferred claimer's progress statement
	FlatFailed uint64          `json:"flat_failed"` // flat claim transactions that failed and went nested
	Goroutines int             `json:"goroutines"`  // added by its idle instances
	HeapBytes  int64           `json:"heap_bytes"`  // added by its instances after start
	Startup    time.Duration   `json:"startup"`
}

type runCount struct {
	runKey
	N int `json:"n"`
}

// collect turns a recorder's counts and samples into a result.
func (r *recorder) collect() result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := result{Lateness: slices.Clone(r.lateness), Worst: slices.Clone(r.worst), Fired: r.fired}
	for k, n := range r.runs {
		res.Runs = append(res.Runs, runCount{k, n})
	}
	return res
}

// summary is the report of a whole bench run.
type summary struct {
	instances, jobs      int
	every, window, lead  time.Duration
	spread, fsync, procs bool
	soak                 bool
	cores                int
	results              []result
	costs                costs // etcd's counters and the CPU of the window
}

// print writes the report and returns an error when a tick ran twice.
func (s summary) print() error {
	runs := map[runKey]int{}
	var lateness, worst []time.Duration
	var window counts
	var won, backups, vouched, flatFailed uint64
	runsTotal := 0
	for _, r := range s.results {
		runsTotal += r.Fired
		for _, rc := range r.Runs {
			runs[rc.runKey] += rc.N
		}
		lateness = append(lateness, r.Lateness...)
		for i, w := range r.Worst {
			if i >= len(worst) {
				worst = append(worst, 0)
			}
			worst[i] = max(worst[i], w)
		}
		window = counts{window.Txns + r.Window.Txns, window.ClaimTxns + r.Window.ClaimTxns, window.ClaimOps + r.Window.ClaimOps}
		won, backups, vouched, flatFailed = won+r.Won, backups+r.Backups, vouched+r.Vouched, flatFailed+r.FlatFailed
	}
	expected := s.jobs * int(s.window/s.every)
	dups, fired := 0, 0
	for _, n := range runs {
		fired++
		dups += n - 1
	}
	if s.soak { // runs are counted, not told apart by tick
		fired = runsTotal
	}
	slices.Sort(lateness)
	pct := func(p float64) time.Duration {
		if len(lateness) == 0 {
			return 0
		}
		return lateness[min(len(lateness)-1, int(p*float64(len(lateness))))]
	}
	mode := "one process (instances and etcd)"
	if s.procs {
		mode = "a process per instance, etcd in the parent"
	}
	secs := s.window.Seconds()
	fmt.Printf("instances=%d jobs=%d every=%v spread=%v window=%v lead=%v fsync=%v cores=%d mode=%s\n",
		s.instances, s.jobs, s.every, s.spread, s.window, s.lead, s.fsync, s.cores, mode)
	for i, r := range s.results {
		who := "all instances"
		if s.procs {
			who = fmt.Sprintf("instance %d", i)
		}
		fmt.Printf("%s: startup (New+Register+Start) %v; heap added %.1f MiB (%.0f B per registered job per instance); goroutines added while idle %d\n",
			who, r.Startup.Round(time.Millisecond), float64(r.HeapBytes)/(1<<20),
			float64(r.HeapBytes)/float64(s.jobs*s.instances/len(s.results)), r.Goroutines)
	}
	if s.soak {
		fmt.Printf("ticks expected=%d runs=%d (soak: duplicates not told apart; lateness from 1 run in %d)\n", expected, fired, soakSampling)
	} else {
		fmt.Printf("ticks expected=%d fired=%d missed=%d duplicates=%d\n", expected, fired, expected-fired, dups)
	}
	fmt.Printf("fires/s=%.0f claim txns/s=%.0f (all instances) all txns/s=%.0f\n", float64(fired)/secs, float64(window.ClaimTxns)/secs, float64(window.Txns)/secs)
	fmt.Printf("claims won=%d of which by backups=%d; backup ticks vouched for=%d; flat claim txns failed=%d; claim operations per fire=%.2f\n", won, backups, vouched, flatFailed, float64(window.ClaimOps)/float64(max(fired, 1)))
	s.costs.print(fired)
	fmt.Printf("lateness p50=%v p90=%v p99=%v p99.9=%v max=%v\n", pct(0.50), pct(0.90), pct(0.99), pct(0.999), pct(1))
	fmt.Print("latest run of each second of the window (ms):")
	for _, w := range worst {
		fmt.Printf(" %.0f", float64(w)/float64(time.Millisecond))
	}
	fmt.Println()
	if dups > 0 {
		return fmt.Errorf("%d duplicate runs", dups)
	}
	return nil
}
