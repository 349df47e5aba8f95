package distcron

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/internal/etcdfault"
	"github.com/distcron/distcron/logsink"
)

// startLate makes s start a claimed tick of job late, as after a process
// pause between the claim and the start: the tick's running key is on the
// session's lease (the claim holds), its start check passed checkedAgo ago
// and the start happens now. It reports whether the job ran and the
// record. Internal: the lead's rename of claimReq / startCheck / execute /
// runKey / runningValue lands here only.
func startLate(t *testing.T, s *Scheduler, job string, tick time.Time, checkedAgo time.Duration) (bool, logsink.Record) {
	t.Helper()
	s.mu.Lock()
	j := s.jobs[job]
	s.mu.Unlock()
	r := claimReq{job: j, tick: tick, trigger: logsink.TriggerSchedule, attempt: 1}
	lease := s.sess.get().Lease()
	if _, err := s.cli.Put(context.Background(), s.runKey(r), s.runningValue(r, time.Now()), clientv3.WithLease(lease)); err != nil {
		t.Fatal(err)
	}
	rec, ran := s.execute(context.Background(), r, 7, &startCheck{lease: lease, at: time.Now().Add(-checkedAgo), key: s.runKey(r)})
	return ran, rec
}

// Issue 9, defect 10: a late start re-checks pause: a job paused between
// its claim and its (late) start does not run; the tick is recorded as
// skipped (on main the late start re-checks the lease only, so the paused
// job runs).
func TestLateStartRechecksPause(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	var calls atomic.Int32
	if err := s.RegisterFunc("j", "@yearly", func(context.Context) error { calls.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	// Not paused: a start 3s after its check runs (the claim still holds).
	ran, rec := startLate(t, s, "j", time.Now().Add(-3*time.Second), 3*time.Second)
	if !ran || rec.Status != logsink.StatusSucceeded || calls.Load() != 1 {
		t.Fatalf("late start of an unpaused job: ran=%v record %s (%s); want it run", ran, rec.Status, rec.Error)
	}
	if err := s.Pause(context.Background(), "j"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the pause to be seen", func() bool { ji, _ := s.JobInfo("j"); return ji.Paused })
	ran, rec = startLate(t, s, "j", time.Now().Add(-2*time.Second), 3*time.Second)
	if ran || calls.Load() != 1 {
		t.Fatalf("a job paused before its late start ran (record %s %q); want it not run", rec.Status, rec.Error)
	}
	if rec.Status != logsink.StatusSkipped || !strings.Contains(strings.ToLower(rec.Error), "pause") {
		t.Fatalf("record %s %q; want skipped, saying the job is paused", rec.Status, rec.Error)
	}
}

// Late starts at saturation share one confirmation that the session's
// lease is alive instead of reading each run's running key: one read per
// late start doubled the requests just when etcd was the bottleneck (at
// 20,000 jobs due together, 84% of ticks were skipped). A lease that
// expired still fails every late start (TestLateStartRechecksPause and
// the paused-node test cover that).
func TestLateStartsShareOneLeaseCheck(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0")
	if err := s.RegisterFunc("j", "@yearly", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var runKeyReads atomic.Int32
	faults := etcdfault.Wrap(cli)
	faults.Add(etcdfault.Rule{Kind: etcdfault.Get, Key: tc.ns + "running/", Action: etcdfault.Delay,
		Match: func(etcdfault.Call) bool { runKeyReads.Add(1); return false }})
	tc.start(s)
	tick := time.Now().Add(-3 * time.Second).Truncate(time.Millisecond)
	for i := 0; i < 20; i++ {
		ran, rec := startLate(t, s, "j", tick.Add(time.Duration(i)*time.Millisecond), 3*time.Second)
		if !ran {
			t.Fatalf("late start %d did not run: %s %q", i, rec.Status, rec.Error)
		}
	}
	if n := runKeyReads.Load(); n != 0 {
		t.Errorf("20 late starts read running keys %d times; want the shared lease confirmation", n)
	}
}

// When the shared lease confirmation cannot vouch for the lease (here: it
// is not the session's), a late start reads the key holding the run: the
// key still on the lease means the claim holds and the run starts; a key
// on another lease, or gone, means it does not. (CI once skipped a late
// run whose in-flight key was on its lease: the read was keys-only, and
// etcd leaves the lease out of a keys-only answer.)
func TestLateStartReadsTheHeldKeysLease(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0")
	if err := s.RegisterFunc("j", "@yearly", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	ctx := context.Background()
	grant := func() clientv3.LeaseID {
		g, err := cli.Grant(ctx, 30)
		if err != nil {
			t.Fatal(err)
		}
		return g.ID
	}
	held, other := grant(), grant()
	s.mu.Lock()
	j := s.jobs["j"]
	s.mu.Unlock()
	tick := time.Now().Add(-2 * time.Second).Truncate(time.Millisecond)
	r := claimReq{job: j, tick: tick, trigger: logsink.TriggerSchedule, attempt: 1}
	for _, c := range []struct {
		name  string
		key   string
		lease clientv3.LeaseID // the key's; none: no key
		start bool
	}{
		{"running key on the lease", s.runKey(r), held, true},
		{"in-flight key on the lease", s.keys.InflightBatch("n0", "test.1"), held, true},
		{"in-flight key on another lease", s.keys.InflightBatch("n0", "test.2"), other, false},
		{"in-flight key gone", s.keys.InflightBatch("n0", "test.3"), 0, false},
	} {
		if c.lease != 0 {
			if _, err := cli.Put(ctx, c.key, `{"runs":[]}`, clientv3.WithLease(c.lease)); err != nil {
				t.Fatal(err)
			}
		}
		reason := s.lateStart(r, held, time.Now(), c.key)
		if (reason == "") != c.start {
			t.Errorf("%s: lateStart says %q; want start %v", c.name, reason, c.start)
		}
	}
}
