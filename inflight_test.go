package distcron

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// inflightWrites counts, per in-flight key, the writes of it that a client
// sends outside claim transactions: rewrites (puts) and deletes, top level
// or nested.
type inflightWrites struct {
	mu      sync.Mutex
	puts    map[string]int
	deletes map[string]int
}

func (w *inflightWrites) config(prefix string) clientv3.Config {
	var count func(ops []*pb.RequestOp)
	count = func(ops []*pb.RequestOp) {
		for _, op := range ops {
			switch {
			case op.GetRequestPut() != nil && strings.HasPrefix(string(op.GetRequestPut().Key), prefix):
				w.puts[string(op.GetRequestPut().Key)]++
			case op.GetRequestDeleteRange() != nil && strings.HasPrefix(string(op.GetRequestDeleteRange().Key), prefix):
				w.deletes[string(op.GetRequestDeleteRange().Key)]++
			case op.GetRequestTxn() != nil:
				count(op.GetRequestTxn().Success)
			}
		}
	}
	return clientv3.Config{DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			tr, ok := req.(*pb.TxnRequest)
			if ok && claimsIn(tr) == 0 {
				w.mu.Lock()
				count(tr.Success)
				w.mu.Unlock()
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		})}}
}

// The runs of a claim batch that end together cost its in-flight key one
// delete and no rewrite: the writes wait inflightSettle to go together.
func TestBatchRunsEndingTogetherCostOneDelete(t *testing.T) {
	tc := newTestCluster(t)
	w := &inflightWrites{puts: map[string]int{}, deletes: map[string]int{}}
	cfg := w.config("/distcron/" + t.Name() + "/inflight/")
	s, cli := tc.spiedScheduler(cfg, WithSinks(tc.sink))
	const jobs = 20
	release := make(chan struct{})
	var started atomic.Int32
	var endMu sync.Mutex
	var ends []time.Time // the first tick's runs' ends
	for _, n := range jobNames(jobs) {
		if err := s.RegisterFunc(n, "@every 1s", func(ctx context.Context) error {
			started.Add(1)
			select { // the first tick's runs end together, once all have started
			case <-release:
			case <-ctx.Done():
			}
			endMu.Lock()
			if len(ends) < jobs {
				ends = append(ends, time.Now())
			}
			endMu.Unlock()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	tc.start(s)
	waitFor(t, 10*time.Second, "the first tick's runs", func() bool { return started.Load() == jobs })
	resp, err := cli.Get(context.Background(), s.keys.Inflight(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("in-flight keys %v (%v), want the first batch's alone", resp.Kvs, err)
	}
	key := string(resp.Kvs[0].Key)
	close(release)
	// The writes are counted as the key is seen gone: Stop may cancel the
	// delete's answer, and the delete sent again then finds no key.
	var puts, deletes int
	waitFor(t, 5*time.Second, "the batch's key deleted", func() bool {
		resp, err := cli.Get(context.Background(), key, clientv3.WithCountOnly())
		if err != nil || resp.Count != 0 {
			return false
		}
		w.mu.Lock()
		puts, deletes = w.puts[key], w.deletes[key]
		w.mu.Unlock()
		return true
	})
	stopNow(t, s)
	endMu.Lock()
	spread := slices.MaxFunc(ends, time.Time.Compare).Sub(slices.MinFunc(ends, time.Time.Compare))
	endMu.Unlock()
	if spread >= inflightSettle/2 {
		// A loaded machine woke the runs too far apart to end together:
		// then each end may cost a rewrite, but the key still gets one
		// delete.
		t.Logf("the runs ended %v apart, not within inflightSettle (%v)", spread, inflightSettle)
		if puts >= jobs || deletes != 1 {
			t.Errorf("the batch's key: %d rewrites and %d deletes after its claim, want fewer than %d and 1", puts, deletes, jobs)
		}
		return
	}
	if puts != 0 || deletes != 1 {
		t.Errorf("the batch's key: %d rewrites and %d deletes after its claim, want 0 and 1", puts, deletes)
	}
}
