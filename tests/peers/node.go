package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// A node is one process of a system's cluster. It speaks to the
// coordinator over its stdio:
//
//	stdout: "ready"                  its system is started and its jobs registered
//	stdout: "f <job> <tick> <start>" a fire (tick 0 when the system does not say)
//	stdin:  "stop"                   stop the system, then print "done" and exit
//
// Times are Unix nanoseconds. stderr is the node's log.

// nodeConfig is what a node is told on its command line.
type nodeConfig struct {
	system, id, endpoint, namespace string
	index, nodes, jobs              int
	every                           time.Duration
	t0                              int64 // the jobs' first tick
	spread                          bool
}

// firstTick is when job j first fires; it then fires every period. The
// jobs are due together at t0, or with spread at offset(j) after it.
func (n nodeConfig) firstTick(j int) time.Time {
	return time.Unix(0, n.t0).Add(offset(n.spread, n.every, j, n.jobs))
}

// offset is where job j of jobs fires within each period: 0, or with
// spread j/jobs of the period, so that the fires are spread evenly.
func offset(spread bool, every time.Duration, j, jobs int) time.Duration {
	if !spread {
		return 0
	}
	return every * time.Duration(j) / time.Duration(jobs)
}

// jobName is the name of job j in every system.
func jobName(j int) string { return "job-" + strconv.Itoa(j) }

// fireFunc reports that job j started now, for tick (zero when unknown).
type fireFunc func(job int, tick time.Time)

// system is one scheduler under test, as one node runs it.
type system interface {
	// start registers n.jobs jobs that call fire when they run and starts
	// scheduling; it returns once the node is ready to fire.
	start(ctx context.Context, cli *clientv3.Client, n nodeConfig, fire fireFunc) error
	// stop stops scheduling and waits for the node's runs.
	stop(ctx context.Context) error
}

// systemNames lists the systems in their default order; newSystem makes
// the node of each but diagrid, which is a binary of its own (external.go).
var systemNames = []string{"distcron", "gocron", "diagrid", "scalingo"}

func newSystem(name string) (system, error) {
	switch name {
	case "distcron":
		return &distcronNode{}, nil
	case "gocron":
		return &gocronNode{}, nil
	case "scalingo":
		return &scalingoNode{}, nil
	}
	return nil, fmt.Errorf("unknown system %q (have %v)", name, systemNames)
}

// reporter writes fire lines to stdout through a buffer flushed every
// 50ms, so that reporting costs every system the same small amount.
type reporter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (r *reporter) fire(job int, tick time.Time) {
	now := time.Now().UnixNano()
	var t int64
	if !tick.IsZero() {
		t = tick.UnixNano()
	}
	r.mu.Lock()
	var b [64]byte
	line := append(b[:0], 'f', ' ')
	line = strconv.AppendInt(line, int64(job), 10)
	line = append(line, ' ')
	line = strconv.AppendInt(line, t, 10)
	line = append(line, ' ')
	line = strconv.AppendInt(line, now, 10)
	line = append(line, '\n')
	r.w.Write(line)
	r.mu.Unlock()
}

func (r *reporter) println(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w.WriteString(s + "\n")
	r.w.Flush()
}

func (r *reporter) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w.Flush()
}

// runNode is the node role.
func runNode(n nodeConfig) error {
	sys, err := newSystem(n.system)
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	rep := &reporter{w: bufio.NewWriterSize(os.Stdout, 1<<20)}
	stopFlush := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				rep.flush()
			case <-stopFlush:
				return
			}
		}
	}()
	defer func() { close(stopFlush); <-flushed }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	err = sys.start(ctx, cli, n, rep.fire)
	cancel()
	if err != nil {
		return fmt.Errorf("%s %s: start: %w", n.system, n.id, err)
	}
	rep.println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() && sc.Text() != "stop" {
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sys.stop(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "peers: %s %s: stop: %v\n", n.system, n.id, err)
	}
	rep.println("done")
	return nil
}
