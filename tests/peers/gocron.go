package main

import (
	"context"
	"time"

	"github.com/go-co-op/gocron/v2"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// gocronNode runs the jobs on a go-co-op/gocron v2 scheduler with an etcd
// elector (elector.go): every node schedules every job, and gocron asks
// the elector before each run, so the leader alone fires them all and
// etcd sees no traffic per fire.
type gocronNode struct {
	s  gocron.Scheduler
	el *etcdElector
}

func (g *gocronNode) start(ctx context.Context, cli *clientv3.Client, n nodeConfig, fire fireFunc) error {
	prefix := n.namespace + "gocron/leader"
	g.el = newEtcdElector(cli, prefix, n.id, 10)
	s, err := gocron.NewScheduler(gocron.WithDistributedElector(g.el))
	if err != nil {
		return err
	}
	g.s = s
	for j := 0; j < n.jobs; j++ {
		_, err := s.NewJob(gocron.DurationJob(n.every), gocron.NewTask(func() { fire(j, time.Time{}) }),
			gocron.WithName(jobName(j)), gocron.WithStartAt(gocron.WithStartDateTime(n.firstTick(j))))
		if err != nil {
			return err
		}
	}
	g.el.start()
	s.Start()
	return waitLeader(ctx, cli, prefix)
}

func (g *gocronNode) stop(context.Context) error {
	err := g.s.Shutdown()
	g.el.stop()
	return err
}
