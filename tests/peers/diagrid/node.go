package main

import (
	"context"
	"fmt"
	"time"

	"github.com/diagridio/go-etcd-cron/api"
	"github.com/diagridio/go-etcd-cron/cron"
	"github.com/go-logr/zapr"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// diagridNode runs the jobs on diagridio/go-etcd-cron: jobs are stored in
// etcd (node 0 adds them once, each "@every <period>" from its first tick)
// and partitioned among the replicas, each of which triggers its share.
type diagridNode struct {
	cancel context.CancelFunc
	done   chan error
}

func (d *diagridNode) start(ctx context.Context, cli *clientv3.Client, n nodeConfig, fire func(job int)) error {
	c, err := cron.New(cron.Options{
		Log:       zapr.NewLogger(zap.NewNop()),
		Client:    cli,
		Namespace: n.namespace + "diagrid",
		ID:        n.id,
		TriggerFn: func(_ context.Context, req *api.TriggerRequest) *api.TriggerResponse {
			fire(jobIndex(req.GetName()))
			return &api.TriggerResponse{Result: api.TriggerResponseResult_SUCCESS}
		},
	})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan error, 1)
	go func() { d.done <- c.Run(runCtx) }()
	// The engine serves once the replicas agree on their partitions.
	for !c.IsElected() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("not elected: %w", ctx.Err())
		case err := <-d.done:
			d.done <- err
			return fmt.Errorf("run: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if n.index != 0 {
		return nil
	}
	schedule := "@every " + n.every.String()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for j := 0; j < n.jobs; j++ {
		g.Go(func() error {
			due := n.firstTick(j).UTC().Format(time.RFC3339Nano)
			err := c.Add(gctx, jobName(j), &api.Job{Schedule: &schedule, DueTime: &due})
			if err != nil {
				return fmt.Errorf("add %s: %w", jobName(j), err)
			}
			return nil
		})
	}
	return g.Wait()
}

func (d *diagridNode) stop(ctx context.Context) error {
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil && err != context.Canceled {
			return err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
