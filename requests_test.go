package distcron

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/logsink"
)

// manualRecords returns the records of job with trigger manual.
func manualRecords(c *collector, job string) []logsink.Record {
	var out []logsink.Record
	for _, r := range recordsOf(c, job) {
		if r.Trigger == logsink.TriggerManual {
			out = append(out, r)
		}
	}
	return out
}

// Issue 9, defect 10: Trigger on a Sharded job runs every shard once (on
// main it runs shard 0 once).
func TestTriggerRunsEveryShardOfAShardedJob(t *testing.T) {
	tc := newTestCluster(t)
	const shards = 3
	ss := threeNodes(t, tc, func(s *Scheduler) {
		if err := s.RegisterFunc("sharded", "@yearly", func(context.Context) error { return nil }, Sharded(shards)); err != nil {
			t.Fatal(err)
		}
	})
	if err := ss[0].Trigger(context.Background(), "sharded"); err != nil {
		t.Fatal(err)
	}
	shardsRun := func() []int {
		var out []int
		for _, r := range manualRecords(tc.sink, "sharded") {
			out = append(out, r.Shard)
		}
		slices.Sort(out)
		return out
	}
	if !happensWithin(5*time.Second, func() bool { return len(shardsRun()) >= shards }) {
		t.Fatalf("Trigger on a Sharded(%d) job ran shards %v; want each of 0..%d once", shards, shardsRun(), shards-1)
	}
	happensWithin(time.Second, func() bool { return len(shardsRun()) > shards })
	if got := shardsRun(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("Trigger on a Sharded(%d) job ran shards %v; want each of 0..%d once", shards, got, shards-1)
	}
}

// Issue 9, defect 10: Trigger on a Broadcast job runs it once on every
// eligible instance (on main it runs once, on one instance).
func TestTriggerRunsABroadcastJobOnEveryEligibleInstance(t *testing.T) {
	tc := newTestCluster(t)
	ss := threeNodes(t, tc, func(s *Scheduler) {
		if err := s.RegisterFunc("everywhere", "@yearly", func(context.Context) error { return nil }, Broadcast()); err != nil {
			t.Fatal(err)
		}
	})
	if err := ss[0].Trigger(context.Background(), "everywhere"); err != nil {
		t.Fatal(err)
	}
	instances := func() []string {
		var out []string
		for _, r := range manualRecords(tc.sink, "everywhere") {
			out = append(out, r.Instance)
		}
		slices.Sort(out)
		return out
	}
	if !happensWithin(5*time.Second, func() bool { return len(instances()) >= len(ss) }) {
		t.Fatalf("Trigger on a Broadcast job ran on %v; want once on each of n0, n1, n2", instances())
	}
	happensWithin(time.Second, func() bool { return len(instances()) > len(ss) })
	if got := instances(); !slices.Equal(got, []string{"n0", "n1", "n2"}) {
		t.Fatalf("Trigger on a Broadcast job ran on %v; want once on each of n0, n1, n2", got)
	}
}

// Issue 9, defect 10: Trigger honours OverlapForbid: while a run of the job
// is in progress, the triggered run is skipped, with a skipped record (on
// main it starts beside the run in progress).
func TestTriggerHonoursOverlapForbid(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	var mu sync.Mutex
	inProgress, most := 0, 0
	release := make(chan struct{})
	at := time.Now().Add(2 * time.Second).Truncate(100 * time.Millisecond)
	if err := s.RegisterSchedule("forbid", onceAt{at}, executor.Func(func(ctx context.Context) error {
		mu.Lock()
		inProgress++
		most = max(most, inProgress)
		mu.Unlock()
		defer func() { mu.Lock(); inProgress--; mu.Unlock() }()
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}), Overlap(OverlapForbid)); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	t.Cleanup(func() { close(release) })
	concurrent := func() (now, peak int) { mu.Lock(); defer mu.Unlock(); return inProgress, most }
	waitFor(t, 10*time.Second, "the scheduled run to be in progress", func() bool { n, _ := concurrent(); return n == 1 })
	if err := s.Trigger(context.Background(), "forbid"); err != nil {
		t.Fatal(err)
	}
	happensWithin(10*time.Second, func() bool {
		_, peak := concurrent()
		return peak > 1 || len(manualRecords(tc.sink, "forbid")) > 0
	})
	if _, peak := concurrent(); peak > 1 {
		t.Fatalf("Trigger started a run of an OverlapForbid job beside the one in progress (%d at once)", peak)
	}
	recs := manualRecords(tc.sink, "forbid")
	if len(recs) != 1 || recs[0].Status != logsink.StatusSkipped {
		t.Fatalf("manual records %+v; want one, skipped", recs)
	}
}

// Issue 9, defect 10: Kill reaches the runs of a job whose definition was
// deleted while they run (on main Kill answers ErrUnknownJob once the
// definition is gone, and the runs go on).
func TestKillReachesRunsOfADeletedDefinition(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0", WithRemoteShell(true))
	tc.start(s)
	ctx := context.Background()
	def := Definition{Name: "defined", Kind: "shell", Schedule: "@every 1s", Overlap: OverlapForbid,
		Shell: &ShellSpec{Command: "sleep 30"}}
	if err := s.Define(ctx, def); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the defined job's run in progress", func() bool {
		runs, err := s.Running(ctx)
		return err == nil && len(runs) == 1 && runs[0].Job == "defined"
	})
	if err := s.Delete(ctx, "defined"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the definition to be dropped", func() bool { _, ok := s.JobInfo("defined"); return !ok })
	if runs, err := s.Running(ctx); err != nil || len(runs) != 1 {
		t.Fatalf("the run should still be in progress: %+v, %v", runs, err)
	}
	if err := s.Kill(ctx, "defined"); err != nil {
		t.Fatalf("Kill of a running job whose definition was deleted: %v; want the run killed", err)
	}
	waitFor(t, 10*time.Second, "the run's killed record", func() bool {
		for _, r := range recordsOf(tc.sink, "defined") {
			if r.Status == logsink.StatusKilled {
				return true
			}
		}
		return false
	})
}
