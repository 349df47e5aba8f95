// Command peers runs one workload through distcron and through other
// etcd-backed Go schedulers, one after another, and prints one table:
//
//	go run ./tests/peers -jobs 1000 -duration 30s
//
// For each system it starts a fresh single etcd member in a process of its
// own (internal/embedetcd/cmd/etcdmember, fsync on), then three node
// processes, each with its own etcd client, that register the same N no-op
// jobs due together every -every (with -spread, their ticks spread evenly
// over the period). The nodes write a line per fire to their stdout; this
// process counts fires per (job, tick) in a measured window, lateness
// (start minus scheduled instant), ticks missed and fires duplicated, each
// node's peak RSS (VmHWM), and, from etcd's /metrics and /proc/<pid>/stat,
// the etcd key writes, watch events and CPU per fire. The diagrid node is a
// module of its own (diagrid/, see external.go); the others are this
// binary with -role node.
//
// The systems (-systems, in this order by default):
//
//   - distcron: this module's root, one claim per tick in etcd.
//   - gocron: github.com/go-co-op/gocron/v2 with an Elector on etcd's
//     concurrency.Election (elector.go): the leader runs every job.
//   - diagrid: github.com/diagridio/go-etcd-cron, jobs stored in etcd and
//     partitioned among the replicas.
//   - scalingo: github.com/Scalingo/go-etcd-cron, a concurrency.Mutex on a
//     new session per job per tick.
//
// Only distcron tells a job which tick it runs; for the others this process
// takes the latest scheduled instant at or before the start, so a fire more
// than one period late counts as a missed tick plus a duplicate of the
// next.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	var c config
	systemsFlag := flag.String("systems", strings.Join(systemNames, ","), "systems to run, in order")
	flag.IntVar(&c.nodes, "nodes", 3, "node processes per system")
	flag.IntVar(&c.jobs, "jobs", 1000, "jobs, registered on every node (stored once, for diagrid)")
	flag.DurationVar(&c.every, "every", time.Second, "period of every job")
	flag.DurationVar(&c.window, "duration", 30*time.Second, "measured window")
	flag.DurationVar(&c.warmup, "warmup", 5*time.Second, "time between the jobs' first tick and the window (start-up transients stay out of it)")
	flag.DurationVar(&c.setup, "setup", 0, "time the nodes get to start before the jobs' first tick (default 6s + 1ms per job)")
	flag.DurationVar(&c.drain, "drain", 3*time.Second, "time after the window for its last fires to arrive")
	flag.BoolVar(&c.noFsync, "no-fsync", false, "etcd without fsync (unsafe; for comparison)")
	flag.BoolVar(&c.spread, "spread", false, "spread the jobs' ticks evenly over the period instead of one shared instant")
	role := flag.String("role", "", "internal: node")
	var n nodeConfig
	flag.StringVar(&n.system, "system", "", "internal: the node's system")
	flag.StringVar(&n.id, "id", "", "internal: the node's id")
	flag.IntVar(&n.index, "index", 0, "internal: the node's index")
	flag.StringVar(&n.endpoint, "etcd", "", "internal: etcd client URL")
	flag.StringVar(&n.namespace, "ns", "", "internal: key prefix")
	flag.Int64Var(&n.t0, "t0", 0, "internal: the jobs' first tick (Unix nanoseconds)")
	flag.Parse()
	if c.setup == 0 {
		c.setup = 6*time.Second + time.Duration(c.jobs)*time.Millisecond
	}
	var err error
	switch *role {
	case "node":
		n.jobs, n.every, n.nodes, n.spread = c.jobs, c.every, c.nodes, c.spread
		err = runNode(n)
	case "":
		c.systems = strings.Split(*systemsFlag, ",")
		var rows []row
		rows, err = runAll(c, os.Stderr)
		if err == nil {
			printTable(os.Stdout, c, rows)
		}
	default:
		err = fmt.Errorf("unknown -role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

// config is a comparison run's workload and timing.
type config struct {
	systems                      []string
	nodes, jobs                  int
	every, window, warmup, setup time.Duration
	drain                        time.Duration
	noFsync, spread              bool
}
