// Command diagrid is the diagridio/go-etcd-cron node of the peers
// comparison (../): the coordinator builds it and runs it as each node of
// the "diagrid" system, with the node flags and stdio protocol of
// ../node.go.
//
// It is a module of its own, outside the workspace, because
// go-etcd-cron v0.10.0 builds only against the etcd v3.5 packages it
// requires (it uses etcdserver error values that etcd v3.6 moved and a
// mirror.Syncer signature that v3.7 changed), while distcron needs v3.7. The
// coordinator builds it with GOWORK=off; its etcd client speaks the same
// gRPC API to the v3.7 member.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func main() {
	var n nodeConfig
	flag.String("role", "node", "the coordinator's: always node")
	flag.String("system", "diagrid", "the coordinator's: always diagrid")
	flag.StringVar(&n.id, "id", "", "the node's id")
	flag.IntVar(&n.index, "index", 0, "the node's index (node 0 adds the jobs)")
	flag.IntVar(&n.nodes, "nodes", 3, "nodes of the cluster")
	flag.StringVar(&n.endpoint, "etcd", "", "etcd client URL")
	flag.StringVar(&n.namespace, "ns", "", "key prefix")
	flag.IntVar(&n.jobs, "jobs", 1000, "jobs")
	flag.DurationVar(&n.every, "every", time.Second, "period of every job")
	flag.Int64Var(&n.t0, "t0", 0, "the jobs' first tick (Unix nanoseconds)")
	flag.BoolVar(&n.spread, "spread", false, "spread the jobs' ticks evenly over the period")
	flag.Parse()
	if err := run(n); err != nil {
		fmt.Fprintln(os.Stderr, "peers: diagrid:", err)
		os.Exit(1)
	}
}

// nodeConfig is what a node is told on its command line.
type nodeConfig struct {
	id, endpoint, namespace string
	index, nodes, jobs      int
	every                   time.Duration
	t0                      int64
	spread                  bool
}

// firstTick is when job j first fires (see ../node.go).
func (n nodeConfig) firstTick(j int) time.Time {
	t := time.Unix(0, n.t0)
	if n.spread {
		t = t.Add(n.every * time.Duration(j) / time.Duration(n.jobs))
	}
	return t
}

func jobName(j int) string { return "job-" + strconv.Itoa(j) }

func jobIndex(name string) int {
	if len(name) < 5 || name[:4] != "job-" {
		return -1
	}
	j, err := strconv.Atoi(name[4:])
	if err != nil {
		return -1
	}
	return j
}

// reporter writes "f <job> 0 <start>" lines (this system does not say
// which tick it runs) through a buffer flushed every 50ms.
type reporter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (r *reporter) fire(job int) {
	now := time.Now().UnixNano()
	r.mu.Lock()
	var b [64]byte
	line := append(b[:0], 'f', ' ')
	line = strconv.AppendInt(line, int64(job), 10)
	line = append(line, " 0 "...)
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

func run(n nodeConfig) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	rep := &reporter{w: bufio.NewWriterSize(os.Stdout, 1<<20)}
	stopFlush, flushed := make(chan struct{}), make(chan struct{})
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
	var d diagridNode
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	err = d.start(ctx, cli, n, rep.fire)
	cancel()
	if err != nil {
		return fmt.Errorf("%s: start: %w", n.id, err)
	}
	rep.println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() && sc.Text() != "stop" {
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.stop(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "peers: diagrid %s: stop: %v\n", n.id, err)
	}
	rep.println("done")
	return nil
}
