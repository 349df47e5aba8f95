package main

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	etcdcron "github.com/Scalingo/go-etcd-cron"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// scalingoNode runs the jobs on Scalingo/go-etcd-cron: every node
// schedules every job and, at each tick, takes a concurrency.Mutex named
// after the job and tick, on a new session (lease) per attempt; the node
// that gets it runs the job, the others give up after one second.
type scalingoNode struct {
	c      *etcdcron.Cron
	cancel context.CancelFunc
	errs   atomic.Int64
	id     string
}

// periodic fires every period from first, on a grid (the library's own
// "@every" counts from the start).
type periodic struct {
	first time.Time
	every time.Duration
}

func (p periodic) Next(t time.Time) time.Time {
	if t.Before(p.first) {
		return p.first
	}
	return p.first.Add((t.Sub(p.first)/p.every + 1) * p.every)
}

func (s *scalingoNode) start(_ context.Context, cli *clientv3.Client, n nodeConfig, fire fireFunc) error {
	mb, err := etcdcron.NewEtcdMutexBuilderFromClient(cli)
	if err != nil {
		return err
	}
	count := func(context.Context, etcdcron.Job, error) { s.errs.Add(1) }
	c, err := etcdcron.New(etcdcron.WithEtcdMutexBuilder(mb), etcdcron.WithEtcdErrorsHandler(count), etcdcron.WithErrorsHandler(count))
	if err != nil {
		return err
	}
	for j := 0; j < n.jobs; j++ {
		sched := periodic{first: n.firstTick(j), every: n.every}
		// Its mutex keys are "etcd_cron/<job>/<tick>" at the root of the
		// key space: a fresh etcd per system keeps them apart.
		c.Schedule(sched, etcdcron.Job{Name: jobName(j), Func: func(context.Context) error {
			fire(j, time.Time{})
			return nil
		}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.c, s.cancel, s.id = c, cancel, n.id
	c.Start(ctx)
	return nil
}

func (s *scalingoNode) stop(context.Context) error {
	s.c.Stop()
	s.cancel()
	if n := s.errs.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "peers: scalingo %s: %d errors reported by the library\n", s.id, n)
	}
	return nil
}
