package distcron

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
)

func TestMisfireRunOnceCatchesUpOnceAfterAnOutage(t *testing.T) {
	tc := newTestCluster(t)
	opts := []JobOption{Misfire(MisfireRunOnce, 20*time.Second)}
	ss := threeNodes(t, tc, func(s *Scheduler) {
		if err := s.RegisterFunc("catch", "@every 1s", func(context.Context) error { return nil }, opts...); err != nil {
			t.Fatal(err)
		}
	})
	waitFor(t, 5*time.Second, "scheduled runs", func() bool { return len(recordsOf(tc.sink, "catch")) >= 2 })
	for _, s := range ss {
		stopNow(t, s)
	}
	down := time.Now()
	time.Sleep(3500 * time.Millisecond) // three ticks pass with the whole cluster down
	back, _ := tc.newScheduler("n3")
	if err := back.RegisterFunc("catch", "@every 1s", func(context.Context) error { return nil }, opts...); err != nil {
		t.Fatal(err)
	}
	tc.start(back)
	waitFor(t, 10*time.Second, "one catch-up run", func() bool {
		for _, r := range recordsOf(tc.sink, "catch") {
			if r.Trigger == logsink.TriggerCatchup {
				return true
			}
		}
		return false
	})
	time.Sleep(1500 * time.Millisecond) // room for wrong extra catch-ups
	var catchups []logsink.Record
	for _, r := range recordsOf(tc.sink, "catch") {
		if r.Trigger == logsink.TriggerCatchup {
			catchups = append(catchups, r)
		}
	}
	if len(catchups) != 1 {
		t.Fatalf("%d catch-up runs, want exactly 1: %+v", len(catchups), catchups)
	}
	if c := catchups[0]; c.Tick.Before(down) || c.Tick.After(time.Now()) || c.Instance != "n3" {
		t.Fatalf("catch-up %+v should be for the newest missed tick", c)
	}
	assertNoDuplicates(t, tc.sink.records())
}

func TestMisfireSkipIsTheDefault(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	registerNoop(t, s, []string{"skip"}, "@every 1s")
	tc.start(s)
	waitFor(t, 5*time.Second, "a run", func() bool { return len(recordsOf(tc.sink, "skip")) >= 1 })
	stopNow(t, s)
	time.Sleep(2500 * time.Millisecond)
	back, _ := tc.newScheduler("n1")
	registerNoop(t, back, []string{"skip"}, "@every 1s")
	tc.start(back)
	waitFor(t, 5*time.Second, "leadership", back.IsLeader)
	time.Sleep(1500 * time.Millisecond)
	for _, r := range recordsOf(tc.sink, "skip") {
		if r.Trigger != logsink.TriggerSchedule {
			t.Fatalf("skip policy ran %+v", r)
		}
	}
}

func TestLostRunIsRecordedAndRerunElsewhere(t *testing.T) {
	tc := newTestCluster(t)
	started := make(chan string, 10)
	var clients = map[string]interface{ Close() error }{}
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("n%d", i)
		s, cli := tc.newScheduler(id)
		clients[id] = cli
		if err := s.RegisterFunc("long", "@yearly", func(ctx context.Context) error {
			ri, _ := RunInfoFrom(ctx)
			started <- fmt.Sprintf("%s/%d", ri.Instance, ri.Attempt)
			if ri.Attempt > 1 {
				return nil
			}
			<-ctx.Done()
			return ctx.Err()
		}, RerunLost()); err != nil {
			t.Fatal(err)
		}
		tc.start(s)
		if i == 0 {
			waitFor(t, 5*time.Second, "n0 to lead", s.IsLeader)
			if err := s.Trigger(context.Background(), "long"); err != nil {
				t.Fatal(err)
			}
		}
	}
	first := <-started
	victim := first[:2]
	// Crash the runner: its connection to etcd goes away; its lease expires.
	clients[victim].Close()
	waitFor(t, 15*time.Second, "a lost record for the victim", func() bool {
		for _, r := range recordsOf(tc.sink, "long") {
			if r.Status == logsink.StatusLost && r.Instance == victim && r.Attempt == 1 {
				return true
			}
		}
		return false
	})
	select {
	case second := <-started:
		if second[:2] == victim || second[3:] != "2" {
			t.Fatalf("re-run %s; want attempt 2 on another instance than %s", second, victim)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the lost run was not re-run")
	}
	waitFor(t, 5*time.Second, "the re-run's record", func() bool {
		for _, r := range recordsOf(tc.sink, "long") {
			if r.Status == logsink.StatusSucceeded && r.Attempt == 2 && r.Trigger == logsink.TriggerRetry {
				return true
			}
		}
		return false
	})
	lost := 0
	for _, r := range recordsOf(tc.sink, "long") {
		if r.Status == logsink.StatusLost {
			lost++
		}
	}
	if lost != 1 {
		t.Fatalf("%d lost records, want 1", lost)
	}
}
