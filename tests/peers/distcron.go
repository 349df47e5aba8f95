package main

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/executor"
)

// distcronNode runs the jobs on a distcron Scheduler: every node registers
// every job; one claim per tick in etcd decides which node fires it. The
// job reads its tick from the run's RunInfo.
type distcronNode struct{ s *distcron.Scheduler }

func (d *distcronNode) start(ctx context.Context, cli *clientv3.Client, n nodeConfig, fire fireFunc) error {
	// No cap on concurrent runs: thousands of jobs are due at one instant
	// (the option's documentation says to raise it or pass 0 then).
	s, err := distcron.New(cli, distcron.WithNamespace(n.namespace+"distcron/"), distcron.WithInstanceID(n.id),
		distcron.WithMaxConcurrentRuns(0))
	if err != nil {
		return err
	}
	spec := "@every " + n.every.String()
	for j := 0; j < n.jobs; j++ {
		job := executor.Func(func(ctx context.Context) error {
			ri, _ := distcron.RunInfoFrom(ctx)
			fire(j, ri.Tick)
			return nil
		})
		var err error
		if n.spread {
			err = s.RegisterSchedule(jobName(j), gridSchedule{n.every, offset(true, n.every, j, n.jobs)}, job)
		} else {
			err = s.Register(jobName(j), spec, job)
		}
		if err != nil {
			return err
		}
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	d.s = s
	return nil
}

func (d *distcronNode) stop(ctx context.Context) error { return d.s.Stop(ctx) }

// gridSchedule fires every period at a fixed offset from the Unix epoch's
// grid of periods.
type gridSchedule struct{ every, offset time.Duration }

func (g gridSchedule) Next(from time.Time) time.Time {
	e := g.every.Nanoseconds()
	n := from.UnixNano() - g.offset.Nanoseconds()
	return time.Unix(0, (n/e+1)*e+g.offset.Nanoseconds()).UTC()
}
