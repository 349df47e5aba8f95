package main

import (
	"context"

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
		err := s.Register(jobName(j), spec, executor.Func(func(ctx context.Context) error {
			ri, _ := distcron.RunInfoFrom(ctx)
			fire(j, ri.Tick)
			return nil
		}))
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
