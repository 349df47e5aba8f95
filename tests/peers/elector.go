package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// etcdElector is a gocron.Elector on etcd's concurrency.Election: it
// campaigns in the background over a session of its own and answers
// IsLeader from what it last learned, without a round trip, as gocron asks
// before every run. When its session ends it stops being leader and
// campaigns again on a new one. A node that lost its session keeps firing
// until it learns so (up to the session TTL), as with any lease-based
// leader without fencing.
type etcdElector struct {
	cli    *clientv3.Client
	prefix string
	id     string
	ttl    int // seconds

	leader atomic.Bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ gocron.Elector = (*etcdElector)(nil)

var errNotLeader = errors.New("not the leader")

func newEtcdElector(cli *clientv3.Client, prefix, id string, ttl int) *etcdElector {
	return &etcdElector{cli: cli, prefix: prefix, id: id, ttl: ttl}
}

// IsLeader returns nil when this node holds the election. It does not
// block and is safe for concurrent use.
func (e *etcdElector) IsLeader(context.Context) error {
	if e.leader.Load() {
		return nil
	}
	return errNotLeader
}

// start campaigns until stop.
func (e *etcdElector) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for ctx.Err() == nil {
			if err := e.campaign(ctx); err != nil && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
}

// campaign runs one session: campaign, lead until the session ends or ctx
// is cancelled, resign.
func (e *etcdElector) campaign(ctx context.Context) error {
	s, err := concurrency.NewSession(e.cli, concurrency.WithTTL(e.ttl), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer s.Close()
	el := concurrency.NewElection(s, e.prefix)
	if err := el.Campaign(ctx, e.id); err != nil {
		return err
	}
	e.leader.Store(true)
	select {
	case <-s.Done():
	case <-ctx.Done():
	}
	e.leader.Store(false)
	rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return el.Resign(rctx)
}

// stop stops campaigning and resigns.
func (e *etcdElector) stop() {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
}

// waitLeader waits until some node of the cluster holds the election.
func waitLeader(ctx context.Context, cli *clientv3.Client, prefix string) error {
	for {
		resp, err := cli.Get(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil && resp.Count > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
