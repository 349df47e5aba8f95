package distcron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/internal/etcdfault"
	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// blockUntilDone is a job body that runs until its run is cancelled.
func blockUntilDone(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// Issue 9, defect 3: lost-run detection must survive watch errors. The
// leader's watch of registrations ends compacted, or cancelled (as when the
// member has no raft leader); a run lost by a crash afterwards must still
// be recorded lost.
func TestLostRunDetectionSurvivesWatchErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		compact bool
	}{{"compacted", true}, {"cancelled", false}} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestCluster(t)
			leader, lcli := tc.newScheduler("leader")
			faults := etcdfault.Wrap(lcli)
			tc.start(leader)
			waitFor(t, 10*time.Second, "leadership", leader.IsLeader)
			runner, rcli := tc.newScheduler("runner")
			if err := runner.RegisterFunc("long", "@every 1s", blockUntilDone); err != nil {
				t.Fatal(err)
			}
			tc.start(runner)
			waitFor(t, 5*time.Second, "a run in progress", func() bool {
				runs, err := leader.Running(context.Background())
				return err == nil && len(runs) > 0
			})
			if n := faults.FailWatches(tc.ns+"instances/", tt.compact); n == 0 {
				t.Fatal("no watch of registrations to break")
			}
			rcli.Close() // the runner crashes: its lease expires with its runs
			waitFor(t, 15*time.Second, "the crashed runner's run recorded lost", func() bool {
				for _, r := range recordsOf(tc.sink, "long") {
					if r.Status == logsink.StatusLost && r.Instance == "runner" {
						return true
					}
				}
				return false
			})
		})
	}
}

// Issue 9, defect 4: an instance whose claims stay unresolved (here every
// claim request fails with ErrLeaseNotFound, as after a pause past its TTL)
// must never delete another instance's running key, nor the in-flight key
// that lists a scheduled run of an Allow job. The winner's runs take 3s, so
// a key deleted well before that was deleted by the loser.
func TestUnresolvedClaimsNeverDeleteAPeersRunningKey(t *testing.T) {
	for _, c := range []struct {
		name    string
		overlap OverlapPolicy
		prefix  string // below the namespace: where the winner's keys are
	}{
		{"running key (Forbid)", OverlapForbid, "running/hold/"},
		{"in-flight key (Allow)", OverlapAllow, "inflight/winner/"},
	} {
		t.Run(c.name, func(t *testing.T) { testUnresolvedClaimsKeepPeersKeys(t, c.overlap, c.prefix) })
	}
}

func testUnresolvedClaimsKeepPeersKeys(t *testing.T, overlap OverlapPolicy, prefix string) {
	tc := newTestCluster(t)
	const work = 3 * time.Second
	job := func(ctx context.Context) error {
		select {
		case <-time.After(work):
		case <-ctx.Done():
		}
		return nil
	}
	winner, _ := tc.newScheduler("winner")
	loser, lcli := tc.newScheduler("loser")
	for _, s := range []*Scheduler{winner, loser} {
		if err := s.RegisterFunc("hold", "@every 1s", job, Overlap(overlap)); err != nil {
			t.Fatal(err)
		}
	}
	faults := etcdfault.Wrap(lcli)
	faults.Add(etcdfault.Rule{Kind: etcdfault.Txn, Key: tc.ns + "claims/", Action: etcdfault.Fail, Err: rpctypes.ErrLeaseNotFound})

	watchCli, _ := tc.newScheduler("watcher") // only for its client
	wctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var early atomic.Int64
	var deletes atomic.Int64
	// tickOf is the (earliest) tick of the run(s) a deleted key held.
	tickOf := func(ev *clientv3.Event) (time.Time, error) {
		if overlap != OverlapAllow {
			return keys.ParseTick(strings.TrimPrefix(string(ev.Kv.Key), tc.ns+prefix))
		}
		var v inflightValue
		if ev.PrevKv == nil || json.Unmarshal(ev.PrevKv.Value, &v) != nil || len(v.Runs) == 0 {
			return time.Time{}, fmt.Errorf("in-flight key %s deleted without a readable value", ev.Kv.Key)
		}
		return v.Runs[0].Tick, nil
	}
	wch := watchCli.cli.Watch(wctx, tc.ns+prefix, clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithPrevKV())
	go func() {
		for resp := range wch {
			for _, ev := range resp.Events {
				deletes.Add(1)
				tick, err := tickOf(ev)
				if err != nil {
					t.Error(err)
					continue
				}
				if time.Since(tick) < work-500*time.Millisecond {
					early.Add(1)
					t.Logf("key %s deleted %v after its tick", ev.Kv.Key, time.Since(tick))
				}
			}
		}
	}()
	tc.start(winner)
	tc.start(loser)
	waitFor(t, 30*time.Second, "the loser's failed claims and the winner's finished runs", func() bool {
		return faults.Hits() >= 6 && deletes.Load() >= 3
	})
	if n := early.Load(); n > 0 {
		t.Fatalf("%d keys of the winner were deleted while its runs were in progress", n)
	}
	for _, r := range recordsOf(tc.sink, "hold") {
		if r.Instance == "loser" && r.Status != logsink.StatusSkipped {
			t.Fatalf("the loser ran %+v without a claim", r)
		}
	}
}

// Issue 9, defect 7: a run request whose claim committed with its answer
// lost must still run, once, and must not leave a running key behind that
// makes later Triggers silent no-ops.
func TestRequestClaimWithLostAnswerStillRunsOnce(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0")
	var runs atomic.Int64
	if err := s.RegisterFunc("manual", "@yearly", func(context.Context) error { runs.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	faults := etcdfault.Wrap(cli)
	tc.start(s)
	caller, _ := tc.newScheduler("caller") // not started: triggers through its own client
	// The first request claim (a Txn that deletes the request) commits, and its answer is lost.
	faults.Add(etcdfault.Rule{Kind: etcdfault.Txn, Key: tc.ns + "control/requests/manual/", Action: etcdfault.LoseAnswer, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := caller.Trigger(ctx, "manual"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the triggered run", func() bool { return len(recordsOf(tc.sink, "manual")) >= 1 })
	if faults.Hits() != 1 {
		t.Fatalf("the fault hit %d times, want 1", faults.Hits())
	}
	// A later Trigger runs again: nothing stray blocks it.
	waitFor(t, 5*time.Second, "no manual run in progress", func() bool {
		runs, err := s.Running(ctx)
		return err == nil && len(runs) == 0
	})
	if err := caller.Trigger(ctx, "manual"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the second triggered run", func() bool { return len(recordsOf(tc.sink, "manual")) >= 2 })
	assertNoDuplicates(t, tc.sink.records())
	if n := runs.Load(); n != 2 {
		t.Fatalf("%d runs, want 2", n)
	}
}

// A run survives a session blink (its lease still alive: its key moves to
// the new lease), but a run whose lease expired while its instance was cut
// off has been recorded lost: the instance cancels it (ErrLeaseLost) when
// it is back, and does not put its key back, so a Forbid peer never runs
// beside it and a re-run never runs beside the original.
func TestRunOfAnExpiredLeaseIsCancelledNotReattached(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("a")
	faults := etcdfault.Wrap(cli)
	causes := make(chan error, 4)
	if err := s.RegisterFunc("long", "@every 1s", func(ctx context.Context) error {
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return ctx.Err()
	}, Overlap(OverlapForbid)); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	observer, _ := tc.newScheduler("observer") // not started: its client reads etcd
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runLease := func() (int64, bool) {
		resp, err := observer.cli.Get(ctx, tc.ns+"running/long/", clientv3.WithPrefix())
		if err != nil || len(resp.Kvs) != 1 {
			return 0, false
		}
		return resp.Kvs[0].Lease, true
	}
	var first int64
	waitFor(t, 5*time.Second, "a run in progress", func() bool {
		var ok bool
		first, ok = runLease()
		return ok
	})

	// A blink: keep-alives stop, the lease lives on; the run goes on.
	faults.FailKeepAlives(0)
	waitFor(t, 10*time.Second, "the running key on a new lease", func() bool {
		l, ok := runLease()
		return ok && l != first
	})
	select {
	case err := <-causes:
		t.Fatalf("a blink cancelled the run: %v", err)
	default:
	}

	// Cut off past the TTL: keep-alives and new leases fail until the old
	// lease has expired.
	second, _ := runLease()
	remove := faults.Add(etcdfault.Rule{Kind: etcdfault.Grant, Action: etcdfault.Fail})
	faults.FailKeepAlives(0)
	waitFor(t, 10*time.Second, "the lease to expire", func() bool {
		ttl, err := observer.cli.TimeToLive(ctx, clientv3.LeaseID(second))
		return err == nil && ttl.TTL == -1
	})
	remove()
	select {
	case err := <-causes:
		if !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("the run ended with cause %v, want ErrLeaseLost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the run of the expired lease was not cancelled")
	}
	waitFor(t, 5*time.Second, "a killed record naming the lease", func() bool {
		for _, r := range recordsOf(tc.sink, "long") {
			if r.Status == logsink.StatusKilled && strings.Contains(r.Error, "lease expired") {
				return true
			}
		}
		return false
	})
}

// Issue 9, item 10: a Replace claim found won on read-back (its answer was
// lost) must still stop the run it replaces, not run beside it until the
// next tick's claim does.
func TestReplaceAfterAReadBackStillReplaces(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0")
	faults := etcdfault.Wrap(cli)
	type ended struct {
		tick  time.Time
		cause error
		at    time.Time
	}
	ends := make(chan ended, 8)
	if err := s.RegisterFunc("rep", "@every 1s", func(ctx context.Context) error {
		<-ctx.Done()
		ri, _ := RunInfoFrom(ctx)
		ends <- ended{ri.Tick, context.Cause(ctx), time.Now()}
		return nil
	}, Overlap(OverlapReplace)); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	waitFor(t, 5*time.Second, "a run in progress", func() bool { ji, _ := s.JobInfo("rep"); return ji.Running == 1 })
	faults.Add(etcdfault.Rule{Kind: etcdfault.Txn, Key: tc.ns + "claims/", Action: etcdfault.LoseAnswer, Times: 1})
	select {
	case e := <-ends:
		if !errors.Is(e.cause, ErrKilled) {
			t.Fatalf("the replaced run ended with %v, want ErrKilled", e.cause)
		}
		// The next tick (read back) replaces it; the one after would be too late.
		if late := e.at.Sub(e.tick); late > 1900*time.Millisecond {
			t.Fatalf("the run of %v was replaced only %v after its tick: by a later claim, not the read-back one", e.tick, late)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run was not replaced")
	}
	if faults.Hits() != 1 {
		t.Fatalf("the fault hit %d times", faults.Hits())
	}
}
