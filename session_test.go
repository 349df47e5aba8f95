package distcron

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

func TestRunSurvivesSessionLoss(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0")
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	if err := s.RegisterFunc("long", "@every 100ms", func(ctx context.Context) error {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, Overlap(OverlapForbid)); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	<-started
	old := s.sess.get().Lease()
	// The lease blinks: revoke it under the scheduler's feet.
	if _, err := cli.Revoke(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a new session with the running key re-attached", func() bool {
		sess := s.sess.get()
		if sess == nil || sess.Lease() == old {
			return false
		}
		resp, err := cli.Get(context.Background(), s.keys.RunningJob("long"), clientv3.WithPrefix())
		return err == nil && len(resp.Kvs) == 1 && clientv3.LeaseID(resp.Kvs[0].Lease) == sess.Lease()
	})
	waitFor(t, 5*time.Second, "re-registration", func() bool {
		ins, err := s.Instances(context.Background())
		return err == nil && len(ins) == 1
	})
	close(release)
	waitFor(t, 5*time.Second, "the run to succeed", func() bool {
		for _, r := range tc.sink.records() {
			if r.Job == "long" && r.Status == logsink.StatusSucceeded {
				return true
			}
		}
		return false
	})
	waitFor(t, 5*time.Second, "running key released", func() bool {
		resp, err := cli.Get(context.Background(), s.keys.RunningJob("long"), clientv3.WithPrefix())
		return err == nil && len(resp.Kvs) == 0
	})
}

func TestLeaderDeletesOldClaimsInOneRange(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0", WithClaimRetention(20*time.Second))
	ctx := context.Background()
	old := keys.Tick(time.Now().Add(-time.Hour))
	recent := keys.Tick(time.Now().Add(-5 * time.Second))
	for i := 0; i < 1200; i++ {
		if _, err := cli.Put(ctx, s.keys.Claim(old, fmt.Sprintf("job-%04d", i), ""), "gone"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Put(ctx, s.keys.Claim(recent, "fresh", "s1"), "someone"); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	waitFor(t, 10*time.Second, "old claims deleted", func() bool {
		resp, err := cli.Get(ctx, s.keys.Claims(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 1
	})
	resp, err := cli.Get(ctx, s.keys.Claim(recent, "fresh", "s1"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("a claim within the retention was deleted: %v", err)
	}
}

// claimCounter counts claim transactions (an outer Txn of nested claim
// Txns) made through a client, and the ticks they carry.
func claimCounter(txns, ticks *atomic.Int64) clientv3.Config {
	return claimSpy(func(tr *pb.TxnRequest) {
		txns.Add(1)
		ticks.Add(int64(len(tr.Success)))
	})
}

// claimSpy calls f with every claim transaction sent through the client.
func claimSpy(f func(*pb.TxnRequest)) clientv3.Config {
	return clientv3.Config{DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if tr, ok := req.(*pb.TxnRequest); ok && strings.HasSuffix(method, "/Txn") &&
				len(tr.Compare) == 0 && len(tr.Success) > 0 && tr.Success[0].GetRequestTxn() != nil {
				f(tr)
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		})}}
}

func TestJobsDueTogetherShareOneClaimRequest(t *testing.T) {
	tc := newTestCluster(t)
	var mu sync.Mutex
	perTick := map[string][2]int{} // tick -> {transactions, claims}
	claimsPrefix := "/distcron/" + t.Name() + "/claims/"
	cfg := claimSpy(func(tr *pb.TxnRequest) {
		key := string(tr.Success[0].GetRequestTxn().Compare[0].Key)
		tick := strings.SplitN(strings.TrimPrefix(key, claimsPrefix), "/", 2)[0]
		mu.Lock()
		c := perTick[tick]
		perTick[tick] = [2]int{c[0] + 1, c[1] + len(tr.Success)}
		mu.Unlock()
	})
	cfg.Endpoints = tc.etcd.Endpoints()
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	sink := newCollector()
	s, err := New(cli, WithNamespace(tc.ns), WithInstanceID("n0"), WithSinks(sink),
		WithDeliveryOptions(logsink.WithFlushInterval(20*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	const jobs = 300
	registerNoop(t, s, jobNames(jobs), "@every 500ms")
	tc.start(s)
	waitFor(t, 10*time.Second, "four full ticks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		full := 0
		for _, c := range perTick {
			if c[1] == jobs {
				full++
			}
		}
		return full >= 4
	})
	stopNow(t, s)
	mu.Lock()
	defer mu.Unlock()
	// Every tick's 300 claims went out in ceil(300/125) = 3 transactions,
	// one round trip each.
	for tick, c := range perTick {
		if c[1] == jobs && c[0] != 3 {
			t.Errorf("tick %s: %d claims in %d transactions, want 3", tick, c[1], c[0])
		}
	}
	assertNoDuplicates(t, sink.records())
}

func TestFullClaimBatchOfForbidJobsFitsEtcdLimits(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	names := jobNames(maxClaimBatch)
	for _, n := range names {
		if err := s.RegisterFunc(n, "@every 200ms", func(context.Context) error { return nil }, Overlap(OverlapForbid)); err != nil {
			t.Fatal(err)
		}
	}
	tc.start(s)
	waitFor(t, 10*time.Second, "every job to run twice", func() bool {
		return len(tc.sink.records()) >= 2*len(names)
	})
	assertNoDuplicates(t, tc.sink.records())
}

func TestReadBackNeverTakesAPredecessorsClaim(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0")
	registerNoop(t, s, []string{"j"}, "@every 1s")
	tc.start(s)
	ctx := context.Background()
	tick := time.Now().Truncate(time.Second).Add(-time.Second)
	r := claimReq{job: s.jobs["j"], tick: tick, trigger: logsink.TriggerSchedule, attempt: 1}
	// A previous process with the same id claimed this tick on its own lease.
	if _, err := cli.Put(ctx, s.claimKey(r), "n0 1234abcd"); err != nil {
		t.Fatal(err)
	}
	lease := s.sess.get().Lease()
	out, _, err := s.resolveClaims(ctx, []claimReq{r}, lease)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].State != claimLost {
		t.Fatalf("a predecessor's claim read back as %v, want lost", out[0].State)
	}
	// Our own claim without its running key is a claim whose lease expired.
	if _, err := cli.Put(ctx, s.claimKey(r), s.claimValue(lease)); err != nil {
		t.Fatal(err)
	}
	out, _, err = s.resolveClaims(ctx, []claimReq{r}, lease)
	if err != nil || out[0].State != claimSkipped || out[0].Reason == "" {
		t.Fatalf("own claim without run key: %+v, %v", out[0], err)
	}
}

// A process paused after its tick passed the start check, and resumed
// after its lease expired, checks again at the moment of the start and
// does not run the tick (the leader may have recorded it lost meanwhile).
func TestStartRechecksLeaseAfterAPauseBeforeTheStart(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0")
	var calls atomic.Int32
	if err := s.RegisterFunc("j", "@every 1h", func(context.Context) error { calls.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	now := time.Now()
	r := claimReq{job: s.jobs["j"], tick: now.Add(-3 * time.Second), trigger: logsink.TriggerSchedule, attempt: 1}
	lease := s.sess.get().Lease()
	// A start right after its check runs without asking etcd again.
	rec, ran := s.execute(context.Background(), r, 7, &startCheck{lease: lease, at: time.Now()})
	if !ran || rec.Status != logsink.StatusSucceeded || calls.Load() != 1 {
		t.Fatalf("start right after its check: ran=%v record %s (%s), %d calls; want it run", ran, rec.Status, rec.Error, calls.Load())
	}
	// The check passed 3s ago; since then the lease expired (revoked here,
	// as etcd does at the TTL), taking the running key with it. Whether or
	// not the session has noticed yet, the start must not happen.
	if _, err := cli.Revoke(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
	rec, ran = s.execute(context.Background(), r, 7, &startCheck{lease: lease, at: now.Add(-3 * time.Second)})
	if ran || rec.Status != logsink.StatusSkipped || !strings.Contains(rec.Error, "lease expired") || calls.Load() != 1 {
		t.Fatalf("paused between check and start: ran=%v record %s (%s), %d calls; want skipped, not run", ran, rec.Status, rec.Error, calls.Load())
	}
}
