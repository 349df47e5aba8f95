package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/logsink"
)

// params are the settings every instance of a run shares.
type params struct {
	endpoints []string
	namespace string
	jobs      int
	every     time.Duration
	lead      time.Duration
	spread    bool
}

// offsetEvery fires every period at a fixed offset from the epoch grid, so
// that jobs with different offsets spread their ticks over the period.
type offsetEvery struct{ every, offset time.Duration }

func (o offsetEvery) Next(from time.Time) time.Time {
	base := from.Add(-o.offset).Truncate(o.every).Add(o.every)
	return base.Add(o.offset)
}

// txnCounter counts the etcd transactions a client sends, and among them
// the claim transactions (a Txn without compares whose ops are nested claim
// Txns, or a flat one comparing claim keys, as lock.go builds them) and
// their claim operations.
type txnCounter struct{ txns, claimTxns, claimOps atomic.Int64 }

func (c *txnCounter) interceptor() grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if tr, ok := req.(*pb.TxnRequest); ok {
			c.txns.Add(1)
			switch {
			case len(tr.Compare) == 0 && len(tr.Success) > 0 && isClaim(tr.Success[0].GetRequestTxn()):
				c.claimTxns.Add(1)
				for _, op := range tr.Success {
					if isClaim(op.GetRequestTxn()) {
						c.claimOps.Add(1)
					}
				}
			case len(tr.Compare) > 0 && isClaim(tr):
				c.claimTxns.Add(1) // flat: a compare per claim
				c.claimOps.Add(int64(len(tr.Compare)))
			}
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
}

// isClaim reports whether a nested transaction is a claim: its first
// compare is on a claim key (a conditional delete or rewrite of a running
// or in-flight key compares on that key instead).
func isClaim(t *pb.TxnRequest) bool {
	return t != nil && len(t.Compare) > 0 && strings.Contains(string(t.Compare[0].Key), "/claims/")
}

// counts is a snapshot of a txnCounter.
type counts struct{ Txns, ClaimTxns, ClaimOps int64 }

func (c *txnCounter) snapshot() counts {
	return counts{c.txns.Load(), c.claimTxns.Load(), c.claimOps.Load()}
}

func (a counts) minus(b counts) counts {
	return counts{a.Txns - b.Txns, a.ClaimTxns - b.ClaimTxns, a.ClaimOps - b.ClaimOps}
}

// startInstance connects a client, registers p.jobs no-op jobs on a new
// scheduler with id and starts it. The caller stops the scheduler, then
// closes the client.
func startInstance(p params, id string, rec *recorder, counter *txnCounter) (*distcron.Scheduler, *clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: p.endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{counter.interceptor()}})
	if err != nil {
		return nil, nil, err
	}
	s, err := distcron.New(cli, distcron.WithNamespace(p.namespace), distcron.WithInstanceID(id),
		distcron.WithSinks(rec), distcron.WithClaimLead(p.lead), distcron.WithMaxConcurrentRuns(0), // measure etcd, not the cap
		distcron.WithDeliveryOptions(logsink.WithBatchSize(4096), logsink.WithBufferSize(1<<20), logsink.WithBufferBytes(1<<30)))
	if err != nil {
		cli.Close()
		return nil, nil, err
	}
	spec := "@every " + p.every.String()
	noop := executor.Func(func(context.Context) error { return nil })
	for j := 0; j < p.jobs; j++ {
		name := fmt.Sprintf("job-%d", j)
		if p.spread {
			err = s.RegisterSchedule(name, offsetEvery{p.every, p.every * time.Duration(j) / time.Duration(p.jobs)}, noop)
		} else {
			err = s.Register(name, spec, noop)
		}
		if err != nil {
			cli.Close()
			return nil, nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		cli.Close()
		return nil, nil, err
	}
	return s, cli, nil
}
