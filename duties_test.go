package distcron

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
)

// Issue 9, defect 2: a leader change must not replay lost runs its
// predecessor already handled. Worker X crashes while running a RerunLost
// job; the leader records the run lost once and re-runs it (attempt 2) on
// the other worker. Then the leader stops; the new leader, which began
// campaigning before the crash, must not record the same run lost again nor
// re-run it again (on main it watches registration deletes from the
// revision at which it began campaigning, so it replays the crash).
func TestLeaderChangeDoesNotReplayLostRuns(t *testing.T) {
	tc := newTestCluster(t)
	type start struct {
		instance string
		attempt  int
	}
	started := make(chan start, 10)
	job := func(ctx context.Context) error {
		ri, _ := RunInfoFrom(ctx)
		started <- start{ri.Instance, ri.Attempt}
		if ri.Attempt > 1 {
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	}
	clients := map[string]interface{ Close() error }{}
	scheds := map[string]*Scheduler{}
	// n0 leads and runs nothing (it lacks the tag); n1 and n2 are workers.
	for i, tags := range [][]string{nil, {"w"}, {"w"}} {
		id := fmt.Sprintf("n%d", i)
		s, cli := tc.newScheduler(id, WithTags(tags...))
		clients[id], scheds[id] = cli, s
		if err := s.RegisterFunc("long", "@yearly", job, RerunLost(), RequireTags("w")); err != nil {
			t.Fatal(err)
		}
		tc.start(s)
		if i == 0 {
			waitFor(t, 5*time.Second, "n0 to lead", s.IsLeader)
		}
	}
	if err := scheds["n0"].Trigger(context.Background(), "long"); err != nil {
		t.Fatal(err)
	}
	var first start
	select {
	case first = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not start")
	}
	victim := first.instance
	survivor := map[string]string{"n1": "n2", "n2": "n1"}[victim]
	clients[victim].Close() // crash: the victim's lease expires
	// The crashed instance's run never ends by itself: stop it quickly,
	// before the helpers' Stop (cleanups run last-in first-out).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = scheds[victim].Stop(ctx)
	})
	select {
	case second := <-started:
		if second.instance != survivor || second.attempt != 2 {
			t.Fatalf("re-run %+v; want attempt 2 on %s", second, survivor)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the lost run was not re-run")
	}
	counts := func() (lost, reruns int) {
		for _, r := range recordsOf(tc.sink, "long") {
			switch {
			case r.Status == logsink.StatusLost:
				lost++
			case r.Attempt == 2:
				reruns++
			}
		}
		return lost, reruns
	}
	waitFor(t, 5*time.Second, "the lost record and the re-run's record", func() bool {
		lost, reruns := counts()
		return lost >= 1 && reruns >= 1
	})
	// The leader changes: n0 leaves, the survivor takes over.
	stopNow(t, scheds["n0"])
	waitFor(t, 10*time.Second, survivor+" to lead", scheds[survivor].IsLeader)
	if happensWithin(3*time.Second, func() bool { lost, reruns := counts(); return lost > 1 || reruns > 1 }) {
		// Give a replayed re-run the moment it needs to be recorded.
		time.Sleep(500 * time.Millisecond)
	}
	lost, reruns := counts()
	if lost != 1 || reruns != 1 {
		t.Fatalf("after the leader change: %d lost records and %d re-runs (attempt 2) of the one crashed run; want 1 and 1", lost, reruns)
	}
	select {
	case extra := <-started:
		t.Fatalf("the crashed run was started again after the leader change: %+v", extra)
	default:
	}
}

// Issue 9, defect 5: a paused job with MisfireRunOnce must not get a
// catch-up run when the leader changes (on main the new leader sees the
// paused, unclaimed ticks as misfires and requests a run; neither catch-up
// nor request claiming checks pause).
func TestPausedJobGetsNoCatchUpOnALeaderChange(t *testing.T) {
	tc := newTestCluster(t)
	var mu sync.Mutex
	var afterPause []RunInfo
	paused := false
	job := func(ctx context.Context) error {
		ri, _ := RunInfoFrom(ctx)
		mu.Lock()
		if paused {
			afterPause = append(afterPause, ri)
		}
		mu.Unlock()
		return nil
	}
	var ss []*Scheduler
	for i := 0; i < 2; i++ {
		s, _ := tc.newScheduler(fmt.Sprintf("n%d", i))
		if err := s.RegisterFunc("catch", "@every 1s", job, Misfire(MisfireRunOnce, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
		tc.start(s)
		if i == 0 {
			waitFor(t, 5*time.Second, "n0 to lead", s.IsLeader)
		}
		ss = append(ss, s)
	}
	waitFor(t, 10*time.Second, "scheduled runs", func() bool { return len(recordsOf(tc.sink, "catch")) >= 2 })
	if err := ss[0].Pause(context.Background(), "catch"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "both instances to see the pause", func() bool {
		for _, s := range ss {
			if ji, _ := s.JobInfo("catch"); !ji.Paused {
				return false
			}
		}
		return true
	})
	// A run claimed just before the pause may still be starting.
	time.Sleep(1100 * time.Millisecond)
	mu.Lock()
	paused = true
	mu.Unlock()
	pausedRecords := len(recordsOf(tc.sink, "catch"))
	// Ticks pass unclaimed while paused: to catch-up they look like misfires.
	time.Sleep(2 * time.Second)
	stopNow(t, ss[0])
	waitFor(t, 10*time.Second, "n1 to lead", ss[1].IsLeader)
	happensWithin(3*time.Second, func() bool { return len(recordsOf(tc.sink, "catch")) > pausedRecords })
	extra := recordsOf(tc.sink, "catch")[pausedRecords:]
	mu.Lock()
	defer mu.Unlock()
	if len(extra) > 0 || len(afterPause) > 0 {
		t.Fatalf("the paused job ran after the leader change: records %+v, runs %+v", extra, afterPause)
	}
}

// Issue 9, defect 6: MisfireRunOnce must catch up a job whose period
// exceeds the claim retention (on main catch-up only looks at ticks within
// the retention, and needs two of them, so such a job is never caught up).
// Retention 14s (its minimum with a 2s TTL and 1s misfire grace), period
// 15s, starting deadline 7s: the cluster runs one tick, is down across the
// next and is back within the deadline: exactly one catch-up run.
func TestMisfireRunOnceCatchesUpAJobWhosePeriodExceedsTheRetention(t *testing.T) {
	tc := newTestCluster(t)
	const period = 15 * time.Second
	opts := []Option{WithClaimRetention(14 * time.Second), WithMisfireGrace(time.Second)}
	// Shift every instance's clock by the same offset (no skew between
	// them), so that the first tick falls 2.5s from now.
	now := time.Now()
	offset := now.Truncate(period).Add(period).Sub(now.Add(2500 * time.Millisecond))
	opts = append(opts, WithClock(skewedClock{offset}))
	register := func(s *Scheduler) {
		if err := s.RegisterFunc("daily", fmt.Sprintf("@every %v", period), func(context.Context) error { return nil },
			Misfire(MisfireRunOnce, 7*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := tc.newScheduler("n0", opts...)
	register(first)
	tc.start(first)
	waitFor(t, period+5*time.Second, "the first tick's run", func() bool { return len(recordsOf(tc.sink, "daily")) >= 1 })
	ran := recordsOf(tc.sink, "daily")[0]
	if ran.Trigger != logsink.TriggerSchedule {
		t.Fatalf("first run %+v, want a scheduled one", ran)
	}
	stopNow(t, first)
	missed := ran.Tick.Add(period)
	// The whole cluster is down across the next tick; it comes back 1s after it.
	if d := time.Until(missed.Add(-offset).Add(time.Second)); d > 0 {
		time.Sleep(d)
	}
	back, _ := tc.newScheduler("n1", opts...)
	register(back)
	tc.start(back)
	waitFor(t, 10*time.Second, "n1 to lead", back.IsLeader)
	catchups := func() []logsink.Record {
		var out []logsink.Record
		for _, r := range recordsOf(tc.sink, "daily") {
			if r.Trigger == logsink.TriggerCatchup {
				out = append(out, r)
			}
		}
		return out
	}
	if !happensWithin(5*time.Second, func() bool { return len(catchups()) > 0 }) {
		t.Fatalf("no catch-up run for the missed tick %v of a job whose period (%v) exceeds the claim retention (14s); records %+v",
			missed, period, recordsOf(tc.sink, "daily"))
	}
	happensWithin(time.Second, func() bool { return len(catchups()) > 1 })
	if c := catchups(); len(c) != 1 || !c[0].Tick.Equal(missed) {
		t.Fatalf("catch-up runs %+v; want exactly one, for tick %v", c, missed)
	}
}
