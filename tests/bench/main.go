// Command bench measures distcron end to end: several schedulers (each with
// its own etcd client) against one embedded etcd with fsync on, many jobs on
// an @every schedule, for a fixed time. It reports fires per second, fire
// lateness percentiles (scheduled instant to job start), duplicates (must be
// 0), missed ticks, claim transactions, goroutines and heap, and what each
// fire cost: the etcd member's key writes, ranges, raft proposals, fsyncs
// and watch events (from its /metrics) and the CPU time of the instance
// processes and of etcd (costs.go).
//
//	go run ./tests/bench -instances 3 -jobs 1000 -every 1s -duration 20s [-spread] [-procs]
//
// By default the instances and etcd share this process. With -procs each
// instance runs in a process of its own (etcd stays in the parent), as
// replicas of a service do, so no instance's lateness includes another's or
// etcd's garbage collection.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/distcron/distcron/internal/embedetcd"
)

func main() {
	instances := flag.Int("instances", 3, "schedulers, each with its own etcd client")
	jobs := flag.Int("jobs", 1000, "registered jobs")
	every := flag.Duration("every", time.Second, "schedule of every job (@every)")
	duration := flag.Duration("duration", 20*time.Second, "measured window")
	warmup := flag.Duration("warmup", 3*time.Second, "time between the start of the last instance and the window")
	lead := flag.Duration("lead", 20*time.Millisecond, "claim lead")
	endpoints := flag.String("etcd", "", "use this etcd instead of an embedded one")
	namespace := flag.String("ns", "", "key prefix (default: a new one per run)")
	noFsync := flag.Bool("no-fsync", false, "embedded etcd without fsync (unsafe; for comparison)")
	spread := flag.Bool("spread", false, "spread the jobs' ticks evenly over the period instead of one shared instant")
	procs := flag.Bool("procs", false, "run each instance in its own process")
	child := flag.Bool("child", false, "internal: be one instance of a -procs run")
	id := flag.String("id", "", "internal: the instance id of a -child")
	soak := flag.Bool("soak", false, "count runs without keeping one entry per tick (for long windows; duplicates are not told apart)")
	sample := flag.Duration("sample", 0, "print live heap and goroutines of each process to stderr this often during the window (0: never)")
	memprofile := flag.String("memprofile", "", "write an allocation profile (since start) here after the window (with -procs: one per instance, suffixed .b<i>)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured window here (with -procs: one per instance, suffixed .b<i>, and .etcd for this process, which holds the embedded etcd)")
	flag.Parse()
	p := params{jobs: *jobs, every: *every, lead: *lead, spread: *spread, namespace: *namespace}
	rc := runConfig{instances: *instances, window: *duration, warmup: *warmup, noFsync: *noFsync, procs: *procs,
		cpuprofile: *cpuprofile, memprofile: *memprofile, sample: *sample, soak: *soak}
	if p.namespace == "" {
		p.namespace = fmt.Sprintf("/distcron/bench-%d/", time.Now().UnixNano())
	}
	if *endpoints != "" {
		p.endpoints = strings.Split(*endpoints, ",")
	}
	var err error
	if *child {
		err = runChild(p, rc, *id)
	} else {
		err = run(p, rc)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runConfig says how a run measures: how many instances, in which
// processes, over which window, with which profiles.
type runConfig struct {
	instances              int
	window, warmup, sample time.Duration
	noFsync, procs, soak   bool
	cpuprofile, memprofile string
}

// forChild is the config of a -procs child: its profile paths suffixed
// with its id.
func (rc runConfig) forChild(id string) []string {
	args := []string{"-duration", rc.window.String(), "-sample", rc.sample.String(), fmt.Sprintf("-soak=%v", rc.soak)}
	if rc.cpuprofile != "" {
		args = append(args, "-cpuprofile", rc.cpuprofile+"."+id)
	}
	if rc.memprofile != "" {
		args = append(args, "-memprofile", rc.memprofile+"."+id)
	}
	return args
}

func run(p params, rc runConfig) error {
	noFsync := rc.noFsync
	if len(p.endpoints) == 0 {
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
		p.endpoints = c.Endpoints()
	}
	s := summary{instances: rc.instances, jobs: p.jobs, every: p.every, window: rc.window, lead: p.lead,
		spread: p.spread, fsync: !noFsync, procs: rc.procs, soak: rc.soak, cores: runtime.NumCPU()}
	if rc.procs {
		results, cost, err := runProcesses(p, rc)
		if err != nil {
			return err
		}
		s.results, s.costs = results, cost
	} else {
		res, cost, err := runInProcess(p, rc)
		if err != nil {
			return err
		}
		s.results, s.costs = []result{res}, cost
	}
	return s.print()
}

// writeAllocs writes the allocation profile (since the process started) to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

// startProfile starts a CPU profile into path and returns its stop.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
