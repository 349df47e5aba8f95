package distcron

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// A lost session takes the keys of the runs in progress with it: those
// runs are cancelled with ErrLeaseLost (lost-run detection may re-run
// them elsewhere), and the scheduler goes on under a new session, where
// runs hold keys on the new lease and release them when they end. Under
// Forbid a run's key is a running key; under Allow, its batch's in-flight
// key.
func TestRunsAfterSessionLoss(t *testing.T) {
	for _, c := range []struct {
		name    string
		overlap OverlapPolicy
	}{{"running key", OverlapForbid}, {"in-flight key", OverlapAllow}} {
		t.Run(c.name, func(t *testing.T) { testRunsAfterSessionLoss(t, c.overlap) })
	}
}

func testRunsAfterSessionLoss(t *testing.T, overlap OverlapPolicy) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0")
	release := make(chan struct{})
	var starts atomic.Int64
	if err := s.RegisterFunc("long", "@every 100ms", func(ctx context.Context) error {
		starts.Add(1)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, Overlap(overlap)); err != nil {
		t.Fatal(err)
	}
	// held lists the leases of the keys holding the job's runs.
	held := func() ([]int64, error) {
		resp, err := cli.Txn(context.Background()).Then(clientv3.OpGet(s.keys.RunningJob("long"), clientv3.WithPrefix()),
			clientv3.OpGet(s.keys.Inflight(), clientv3.WithPrefix())).Commit()
		if err != nil {
			return nil, err
		}
		var leases []int64
		for _, r := range resp.Responses {
			for _, kv := range r.GetResponseRange().GetKvs() {
				leases = append(leases, kv.Lease)
			}
		}
		return leases, nil
	}
	tc.start(s)
	waitFor(t, 5*time.Second, "a run", func() bool { return starts.Load() > 0 })
	old := s.sess.get().Lease()
	// The lease goes under the scheduler's feet, with every key on it.
	if _, err := cli.Revoke(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "re-registration under a new session", func() bool {
		sess := s.sess.get()
		if sess == nil || sess.Lease() == old {
			return false
		}
		ins, err := s.Instances(context.Background())
		return err == nil && len(ins) == 1
	})
	n := starts.Load()
	waitFor(t, 5*time.Second, "a run under the new session, its key on the new lease", func() bool {
		leases, err := held()
		return starts.Load() > n && err == nil && len(leases) > 0 &&
			!slices.ContainsFunc(leases, func(l int64) bool { return l != int64(s.sess.get().Lease()) })
	})
	if err := s.Pause(context.Background(), "long"); err != nil {
		t.Fatal(err)
	}
	close(release)
	waitFor(t, 5*time.Second, "the runs to end and their keys to go", func() bool {
		leases, err := held()
		return err == nil && len(leases) == 0 && s.owner.count("long") == 0
	})
	waitFor(t, 5*time.Second, "a run's success recorded", func() bool {
		return slices.ContainsFunc(tc.sink.records(), func(r logsink.Record) bool { return r.Status == logsink.StatusSucceeded })
	})
	succeeded, lost := 0, 0
	for _, r := range tc.sink.records() {
		switch {
		case r.Job != "long" || r.Status == logsink.StatusSkipped:
		case r.Status == logsink.StatusSucceeded:
			succeeded++
		case r.Status == logsink.StatusKilled && strings.Contains(r.Error, ErrLeaseLost.Error()):
			lost++
		default:
			t.Errorf("run at %v: %s (%s); want it to succeed, or be cancelled for the lost lease", r.Tick, r.Status, r.Error)
		}
	}
	if succeeded == 0 || lost == 0 {
		t.Errorf("%d runs succeeded, %d cancelled for the lost lease; want both: the first run's key went with the lease", succeeded, lost)
	}
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
		ticks.Add(int64(claimsIn(tr)))
	})
}

// claimsIn counts the claims of a claim transaction (its in-flight key's
// put is not one).
func claimsIn(tr *pb.TxnRequest) int { return len(claimKeysIn(tr)) }

// claimKeysIn returns the claim keys a transaction asks for: one per
// nested transaction of a nested claim request, one per compare of a flat
// one (see claim.FlatTxn); none for any other transaction.
func claimKeysIn(tr *pb.TxnRequest) []string {
	var out []string
	if len(tr.Compare) == 0 {
		for _, op := range tr.Success {
			if c := op.GetRequestTxn().GetCompare(); len(c) > 0 && strings.Contains(string(c[0].Key), "/claims/") {
				out = append(out, string(c[0].Key))
			}
		}
		return out
	}
	for _, c := range tr.Compare {
		if c.Target == pb.Compare_CREATE && strings.Contains(string(c.Key), "/claims/") {
			out = append(out, string(c.Key))
		}
	}
	return out
}

// claimSpy calls f with every claim transaction sent through the client.
func claimSpy(f func(*pb.TxnRequest)) clientv3.Config {
	return clientv3.Config{DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if tr, ok := req.(*pb.TxnRequest); ok && strings.HasSuffix(method, "/Txn") && claimsIn(tr) > 0 {
				f(tr)
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		})}}
}

func TestJobsDueTogetherShareOneClaimRequest(t *testing.T) {
	tc := newTestCluster(t)
	var mu sync.Mutex
	perTick := map[string][2]int{} // tick -> {transactions, claims}
	sizes := map[string][]int{}    // tick -> claims per transaction, in order sent
	claimsPrefix := "/distcron/" + t.Name() + "/claims/"
	cfg := claimSpy(func(tr *pb.TxnRequest) {
		key := claimKeysIn(tr)[0]
		tick := strings.SplitN(strings.TrimPrefix(key, claimsPrefix), "/", 2)[0]
		mu.Lock()
		c := perTick[tick]
		perTick[tick] = [2]int{c[0] + 1, c[1] + claimsIn(tr)}
		sizes[tick] = append(sizes[tick], claimsIn(tr))
		mu.Unlock()
	})
	sink := newCollector()
	s, _ := tc.spiedScheduler(cfg, WithSinks(sink), WithDeliveryOptions(logsink.WithFlushInterval(20*time.Millisecond)))
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
	// Every tick's 300 claims went out in ceil(300/123) = 3 transactions,
	// one round trip each.
	for tick, c := range perTick {
		if c[1] == jobs && c[0] != 3 {
			t.Errorf("tick %s: %d claims in %d transactions (%v), want 3", tick, c[1], c[0], sizes[tick])
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
	out, _, err := s.resolveClaims(ctx, []claimReq{r}, lease, nil)
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
	out, _, err = s.resolveClaims(ctx, []claimReq{r}, lease, nil)
	if err != nil || out[0].State != claimSkipped || out[0].Reason == "" {
		t.Fatalf("own claim without run key: %+v, %v", out[0], err)
	}
	// The same for a run listed in its batch's in-flight key: our claim
	// without the key on our lease is a claim whose lease expired; with
	// it, the run is ours, and its token is the claim's revision.
	fl := s.newInflight([]claimReq{r}, lease)
	if !fl.lists(r) {
		t.Fatal("a scheduled run of an Allow job is not listed in its batch's in-flight key")
	}
	out, _, err = s.resolveClaims(ctx, []claimReq{r}, lease, fl)
	if err != nil || out[0].State != claimSkipped || out[0].Reason == "" {
		t.Fatalf("own claim without in-flight key: %+v, %v", out[0], err)
	}
	if _, err := cli.Put(ctx, fl.key, fl.asked, clientv3.WithLease(lease)); err != nil {
		t.Fatal(err)
	}
	claimed, err := cli.Get(ctx, s.claimKey(r))
	if err != nil {
		t.Fatal(err)
	}
	out, tokens, err := s.resolveClaims(ctx, []claimReq{r}, lease, fl)
	if err != nil || out[0].State != claimWon || tokens[0] != claimed.Kvs[0].CreateRevision {
		t.Fatalf("own claim with in-flight key: %+v token %v (claim created at %d), %v", out[0], tokens, claimed.Kvs[0].CreateRevision, err)
	}
	// A predecessor's claim stays lost, in-flight key or not.
	if _, err := cli.Put(ctx, s.claimKey(r), "n0 1234abcd"); err != nil {
		t.Fatal(err)
	}
	if out, _, err = s.resolveClaims(ctx, []claimReq{r}, lease, fl); err != nil || out[0].State != claimLost {
		t.Fatalf("a predecessor's claim with our in-flight key read back as %+v, %v; want lost", out[0], err)
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
	rec, ran := s.execute(context.Background(), r, 7, &startCheck{lease: lease, at: time.Now(), key: s.runKey(r)})
	if !ran || rec.Status != logsink.StatusSucceeded || calls.Load() != 1 {
		t.Fatalf("start right after its check: ran=%v record %s (%s), %d calls; want it run", ran, rec.Status, rec.Error, calls.Load())
	}
	// The check passed 3s ago; since then the lease expired (revoked here,
	// as etcd does at the TTL), taking the running key with it. Whether or
	// not the session has noticed yet, the start must not happen.
	if _, err := cli.Revoke(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
	rec, ran = s.execute(context.Background(), r, 7, &startCheck{lease: lease, at: now.Add(-3 * time.Second), key: s.runKey(r)})
	if ran || rec.Status != logsink.StatusSkipped || !strings.Contains(rec.Error, "lease expired") || calls.Load() != 1 {
		t.Fatalf("paused between check and start: ran=%v record %s (%s), %d calls; want skipped, not run", ran, rec.Status, rec.Error, calls.Load())
	}
}

// spreadSchedule fires once a period, offset into it.
type spreadSchedule struct{ period, offset time.Duration }

func (p spreadSchedule) Next(from time.Time) time.Time {
	next := from.Truncate(p.period).Add(p.offset)
	for !next.After(from) {
		next = next.Add(p.period)
	}
	return next
}

// Ticks spread over time share claim requests: once the earliest claim is
// due, the loop takes every claim due within the coalescing window (10 ms
// at the default 20 ms lead), and a wake in between claims nothing early.
// Each answered claim requeues its jobs, which wakes the loop; with claims
// answered 7 ms late, a wake that took the window would send the one tick
// due past the last window on its own. 200 jobs 5 ms apart come to three
// ticks a request (5 ms apart, the window's ends included), or about two
// when every such wake sends a request.
func TestSpreadTicksShareClaimRequests(t *testing.T) {
	tc := newTestCluster(t)
	claimsPrefix := "/distcron/" + t.Name() + "/claims/"
	var txns, claims atomic.Int64
	cfg := claimSpy(func(tr *pb.TxnRequest) {
		n := 0
		for _, k := range claimKeysIn(tr) {
			if strings.HasPrefix(k, claimsPrefix) {
				n++
			}
		}
		if n > 0 {
			txns.Add(1)
			claims.Add(int64(n))
			time.Sleep(7 * time.Millisecond)
		}
	})
	s, _ := tc.spiedScheduler(cfg)
	for i := range 200 {
		if err := s.RegisterSchedule(fmt.Sprintf("job-%d", i), spreadSchedule{time.Second, time.Duration(i) * 5 * time.Millisecond},
			executor.Func(func(context.Context) error { return nil })); err != nil {
			t.Fatal(err)
		}
	}
	tc.start(s)
	waitFor(t, 20*time.Second, "1,000 claims", func() bool { return claims.Load() >= 1000 })
	stopNow(t, s)
	if per := float64(claims.Load()) / float64(txns.Load()); per < 2.6 {
		t.Errorf("%d claims in %d requests: %.2f a request, want about 3", claims.Load(), txns.Load(), per)
	}
}
