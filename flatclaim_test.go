package distcron

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/internal/claim"
	"github.com/distcron/distcron/logsink"
)

// A preferred claimer's batch of plain ticks goes as one flat transaction.
// When one of its ticks is claimed already, the flat transaction writes
// nothing and the batch goes again with a nested transaction per tick: the
// taken tick is lost, every other won, and the batch's in-flight key is on
// the lease. A batch of backups goes nested from the start.
func TestFlatClaimFallsBackWhenATickIsTaken(t *testing.T) {
	tc := newTestCluster(t)
	var mu sync.Mutex
	var shapes []string // "flat" or "nested", per claim transaction sent
	cfg := claimSpy(func(tr *pb.TxnRequest) {
		mu.Lock()
		defer mu.Unlock()
		if len(tr.Compare) > 0 {
			shapes = append(shapes, "flat")
		} else {
			shapes = append(shapes, "nested")
		}
	})
	s, cli := tc.spiedScheduler(cfg)
	names := []string{"a", "b", "c"}
	for _, n := range names {
		if err := s.Register(n, "@every 1s", executor.Func(func(context.Context) error { return nil })); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(30))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	lease := sess.Lease()
	ctx := context.Background()
	batch := func(tick time.Time, backup bool) []claimReq {
		var reqs []claimReq
		for _, n := range names {
			reqs = append(reqs, claimReq{job: s.jobs[n], tick: tick, trigger: logsink.TriggerSchedule, attempt: 1, backup: backup})
		}
		return reqs
	}
	claimBatch := func(reqs []claimReq) ([]claim.State, []string) {
		t.Helper()
		mu.Lock()
		shapes = nil
		mu.Unlock()
		fl := s.newInflight(reqs, lease)
		out, rev, err := s.claim(ctx, reqs, lease, fl)
		if err != nil {
			t.Fatal(err)
		}
		var states []claim.State
		for _, o := range out {
			states = append(states, o.State)
		}
		if got, err := cli.Get(ctx, fl.key); err != nil || len(got.Kvs) != 1 || clientv3.LeaseID(got.Kvs[0].Lease) != lease || got.Kvs[0].ModRevision != rev {
			t.Fatalf("in-flight key %s after the claim: %v %v, want it on lease %x at revision %d", fl.key, got, err, lease, rev)
		}
		mu.Lock()
		defer mu.Unlock()
		return states, append([]string(nil), shapes...)
	}
	won := []claim.State{claimWon, claimWon, claimWon}

	tick := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	if states, sent := claimBatch(batch(tick, false)); !slices.Equal(states, won) || len(sent) != 1 || sent[0] != "flat" {
		t.Fatalf("free ticks: outcomes %v in transactions %v, want all won in one flat transaction", states, sent)
	}
	if n := s.Stats().FlatClaimsFailed; n != 0 {
		t.Fatalf("FlatClaimsFailed = %d after a batch of free ticks", n)
	}

	tick = tick.Add(time.Second)
	taken := s.claimKey(claimReq{job: s.jobs["b"], tick: tick})
	if _, err := cli.Put(ctx, taken, "other 1"); err != nil {
		t.Fatal(err)
	}
	states, sent := claimBatch(batch(tick, false))
	if want := []claim.State{claimWon, claimLost, claimWon}; !slices.Equal(states, want) || len(sent) != 2 || sent[0] != "flat" || sent[1] != "nested" {
		t.Fatalf("one tick taken: outcomes %v in transactions %v, want %v in a flat then a nested transaction", states, sent, want)
	}
	if n := s.Stats().FlatClaimsFailed; n != 1 {
		t.Fatalf("FlatClaimsFailed = %d, want 1", n)
	}
	for _, n := range names {
		key := s.claimKey(claimReq{job: s.jobs[n], tick: tick})
		want := s.claimValue(lease)
		if key == taken {
			want = "other 1"
		}
		if got, err := cli.Get(ctx, key); err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != want {
			t.Fatalf("claim %s: %v %v, want value %q", key, got, err, want)
		}
	}

	if states, sent := claimBatch(batch(tick.Add(time.Second), true)); !slices.Equal(states, won) || len(sent) != 1 || sent[0] != "nested" {
		t.Fatalf("backups: outcomes %v in transactions %v, want all won in one nested transaction", states, sent)
	}
}
