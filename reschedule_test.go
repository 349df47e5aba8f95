package distcron

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/logsink"
)

// Issue 12: a job rescheduled over and over while it fires runs each tick
// at most once, and every tick that all its schedules share exactly once:
// no tick is lost or doubled around a change. With one instance nothing
// is ever claimed twice (no claim is lost); with two, each changing its
// own schedule at its own pace, the preferred claims and the backups both
// cross the changes.
func TestRescheduleNeverLosesOrDoublesATick(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d instances", n), func(t *testing.T) {
			tc := newTestCluster(t)
			var ss []*Scheduler
			for i := range n {
				s, _ := tc.newScheduler(fmt.Sprintf("n%d", i))
				registerNoop(t, s, []string{"moving"}, "@every 100ms")
				tc.start(s)
				ss = append(ss, s)
			}
			waitFor(t, 10*time.Second, "the first run", func() bool { return len(recordsOf(tc.sink, "moving")) > 0 })
			from := time.Now()
			// Every 100ms tick is in both schedules; changes land at every
			// phase of the claim (queued, being claimed, claimed, backed up).
			specs := []string{"@every 50ms", "@every 100ms"}
			var wg sync.WaitGroup
			changes := make([]int, n)
			for i, s := range ss {
				wg.Go(func() {
					for time.Since(from) < 2500*time.Millisecond {
						if err := s.Reschedule("moving", specs[changes[i]%2]); err != nil {
							t.Error(err)
							return
						}
						changes[i]++
						time.Sleep(time.Duration(17+6*i) * time.Millisecond) // the pace of the changes, not an assertion
					}
				})
			}
			wg.Wait()
			to := time.Now()
			for _, s := range ss {
				stopNow(t, s)
			}
			recs := recordsOf(tc.sink, "moving")
			assertNoDuplicates(t, recs)
			checked := assertEveryTick(t, recs, []string{"moving"}, 100*time.Millisecond, from.Add(100*time.Millisecond), to.Add(-100*time.Millisecond))
			for _, r := range recs {
				if r.Status != logsink.StatusSucceeded {
					t.Errorf("record %+v", r)
				}
			}
			if st := ss[0].Stats(); n == 1 && (st.ClaimsLost != 0 || st.Misfired != 0) {
				t.Errorf("stats after %d changes: %d claims lost (claimed twice), %d misfired", changes[0], st.ClaimsLost, st.Misfired)
			}
			t.Logf("changes %v, %d shared ticks checked, %d runs", changes, checked, len(recs))
		})
	}
}

// Issue 12: Reschedule and Reconfigure refuse bad input with clear errors
// and change nothing.
func TestRescheduleAndReconfigureRefuseBadInput(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0", WithRemoteShell(true))
	registerNoop(t, s, []string{"daily"}, "0 3 * * *")
	tc.start(s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Define(ctx, Definition{Name: "defined", Kind: "shell", Schedule: "@yearly", Shell: &ShellSpec{Command: "true"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the definition applied", func() bool { _, ok := s.JobInfo("defined"); return ok })
	before, _ := s.JobInfo("daily")
	s.mu.Lock()
	orig := s.jobs["daily"]
	s.mu.Unlock()

	for what, err := range map[string]error{
		"bad spec":        s.Reschedule("daily", "61 * * * *"),
		"no date":         s.Reschedule("daily", "0 0 31 2 *"),
		"empty spec":      s.Reschedule("daily", ""),
		"bad option":      s.Reconfigure("daily", Sharded(1000)),
		"bad chain":       s.Reconfigure("daily", OnSuccess("a/b")),
		"nil zone":        s.Reconfigure("daily", InLocation(nil)),
		"unknown":         s.Reschedule("nope", "@daily"),
		"unknown options": s.Reconfigure("nope"),
		"defined":         s.Reschedule("defined", "@daily"),
		"defined options": s.Reconfigure("defined", Timeout(time.Second)),
	} {
		want := map[string]error{
			"bad spec": ErrInvalidSpec, "no date": ErrInvalidSpec, "empty spec": ErrInvalidSpec,
			"bad option": ErrInvalidOption, "bad chain": ErrInvalidName, "nil zone": ErrInvalidOption,
			"unknown": ErrUnknownJob, "unknown options": ErrUnknownJob, "defined": ErrDefinedJob, "defined options": ErrDefinedJob,
		}[what]
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}
	// An unchanged spec changes nothing either.
	if err := s.Reschedule("daily", "0 3 * * *"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	same := s.jobs["daily"] == orig
	s.mu.Unlock()
	after, _ := s.JobInfo("daily")
	if !same || after.Schedule != before.Schedule || !after.Next.Equal(before.Next) {
		t.Fatalf("the job changed: %+v, was %+v (same job: %v)", after, before, same)
	}
	if d, _ := s.JobInfo("defined"); d.Schedule != "@yearly" || d.Source != sourceDefinition {
		t.Fatalf("the defined job changed: %+v", d)
	}
	if len(s.InvalidDefinitions()) != 0 {
		t.Fatalf("invalid definitions: %v", s.InvalidDefinitions())
	}
}

// Issue 12: a changed job keeps its identity: its pause, its last run and
// its runs in progress; Reconfigure's options take effect on the next run.
func TestRescheduleKeepsTheJobsIdentity(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	var started atomic.Int32
	release := make(chan struct{})
	err := s.RegisterFunc("job", "@yearly", func(ctx context.Context) error {
		if started.Add(1) == 1 {
			select { // the first run is held until released
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}
		<-ctx.Done() // later runs wait for their timeout
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Trigger(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the first run", func() bool { info, _ := s.JobInfo("job"); return info.Running == 1 })

	// Changed while it runs: the run goes on, counted as the job's, with
	// the options it started with (no timeout).
	if err := s.Reschedule("job", "@every 100ms"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reconfigure("job", Timeout(150*time.Millisecond), Overlap(OverlapForbid)); err != nil {
		t.Fatal(err)
	}
	info, _ := s.JobInfo("job")
	if info.Running != 1 || info.Schedule != "@every 100ms" || info.Overlap != OverlapForbid || info.Kind != "func" || info.Source != sourceCode {
		t.Fatalf("after the changes: %+v", info)
	}
	if runs, err := s.Running(ctx); err != nil || len(runs) != 1 {
		t.Fatalf("running %v %v", runs, err)
	}
	// OverlapForbid applies at once: the new schedule's ticks are skipped
	// while the first run goes on.
	waitFor(t, 5*time.Second, "a tick skipped under OverlapForbid", func() bool {
		info, _ := s.JobInfo("job")
		return info.Last != nil && info.Last.Status == logsink.StatusSkipped && info.Last.Trigger == logsink.TriggerSchedule
	})
	if happensWithin(300*time.Millisecond, func() bool { info, _ := s.JobInfo("job"); return info.Running == 0 }) {
		t.Fatal("the run in progress was cut short by the new options")
	}

	// The pause survives a change; so does the last run.
	if err := s.Pause(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "paused", func() bool { info, _ := s.JobInfo("job"); return info.Paused })
	close(release)
	waitFor(t, 5*time.Second, "the first run to succeed", func() bool {
		for _, r := range recordsOf(tc.sink, "job") {
			if r.Trigger == logsink.TriggerManual && r.Status == logsink.StatusSucceeded {
				return true
			}
		}
		return false
	})
	last, _ := s.JobInfo("job")
	if err := s.Reschedule("job", "@every 50ms"); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.JobInfo("job"); !info.Paused || info.Last == nil || *info.Last != *last.Last {
		t.Fatalf("after a change: paused %v, last %+v (was %+v)", info.Paused, info.Last, last.Last)
	}
	if happensWithin(300*time.Millisecond, func() bool { return started.Load() > 1 }) {
		t.Fatal("a paused job ran after Reschedule")
	}
	// Resumed, it fires on the new schedule with the new timeout.
	if err := s.Resume(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a scheduled run that timed out", func() bool {
		for _, r := range recordsOf(tc.sink, "job") {
			if r.Trigger == logsink.TriggerSchedule && r.Status == logsink.StatusTimeout && r.Tick.UnixMilli()%50 == 0 {
				return true
			}
		}
		return false
	})
}

// Issue 12: Reschedule and Reconfigure of a job that a definition
// overrides change the code job beneath: the definition's schedule stays
// in force, a pause-only override follows the new spec, and deleting the
// definition restores the changed code job.
func TestRescheduleUnderAnOverride(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	registerNoop(t, s, []string{"sched", "pause"}, "@yearly")
	tc.start(s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Define(ctx, Definition{Name: "sched", Schedule: "@every 1h"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Define(ctx, Definition{Name: "pause", Paused: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the overrides", func() bool {
		a, _ := s.JobInfo("sched")
		b, _ := s.JobInfo("pause")
		return a.Source == sourceOverride && a.Schedule == "@every 1h" && b.Source == sourceOverride && b.Paused
	})
	for _, name := range []string{"sched", "pause"} {
		if err := s.Reschedule(name, "@monthly"); err != nil {
			t.Fatal(err)
		}
		if err := s.Reconfigure(name, Overlap(OverlapReplace)); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := s.JobInfo("sched")
	b, _ := s.JobInfo("pause")
	if a.Source != sourceOverride || a.Schedule != "@every 1h" || a.Overlap != OverlapReplace {
		t.Fatalf("schedule override after the change: %+v", a)
	}
	if b.Source != sourceOverride || b.Schedule != "@monthly" || !b.Paused || b.Overlap != OverlapReplace {
		t.Fatalf("pause override after the change: %+v", b)
	}
	for _, name := range []string{"sched", "pause"} {
		if err := s.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the changed code jobs back", func() bool {
		a, _ := s.JobInfo("sched")
		b, _ := s.JobInfo("pause")
		return a.Source == sourceCode && a.Schedule == "@monthly" && a.Overlap == OverlapReplace &&
			b.Source == sourceCode && b.Schedule == "@monthly" && !b.Paused
	})
	// Unregistered, the job is gone for Reschedule too, and its override
	// does not bring it back.
	if !s.Unregister("sched") {
		t.Fatal("Unregister")
	}
	if err := s.Reschedule("sched", "@daily"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("Reschedule after Unregister: %v", err)
	}
}

// Issue 12: a schedule of the caller's own is kept by Reconfigure and
// replaced by Reschedule; before Start both work too.
func TestRescheduleCustomScheduleAndBeforeStart(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	far := time.Now().Add(10 * 365 * 24 * time.Hour)
	var runs atomic.Int32
	noop := executor.Func(func(context.Context) error { runs.Add(1); return nil })
	if err := s.RegisterSchedule("custom", stepSchedule{step: 7 * time.Hour, end: far}, noop); err != nil {
		t.Fatal(err)
	}
	if err := s.Reconfigure("custom", Timeout(time.Minute)); err != nil {
		t.Fatal(err)
	}
	next, _ := s.NextRuns("custom", 2)
	if len(next) != 2 || next[1].Sub(next[0]) != 7*time.Hour {
		t.Fatalf("the custom schedule after Reconfigure: %v", next)
	}
	if err := s.Reschedule("custom", "@every 100ms"); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.JobInfo("custom"); info.Schedule != "@every 100ms" || info.Kind != "executor" {
		t.Fatalf("after Reschedule: %+v", info)
	}
	tc.start(s)
	waitFor(t, 5*time.Second, "runs on the new schedule", func() bool { return runs.Load() >= 3 })
	for _, r := range recordsOf(tc.sink, "custom") {
		if r.Tick.UnixMilli()%100 != 0 {
			t.Fatalf("a run off the new schedule: %+v", r)
		}
	}
}
