package distcron

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
)

// KillRun from another instance cancels the one run it names, recorded
// killed; the job's other run (the other shard of the tick) goes on. Runs not in progress and ids that
// are not run ids are refused without a request.
func TestKillRunKillsOneRun(t *testing.T) {
	tc := newTestCluster(t)
	release := make(chan struct{})
	var nodes []*Scheduler
	for _, id := range []string{"a", "b"} {
		s, _ := tc.newScheduler(id)
		err := s.RegisterFunc("long", "@yearly", func(ctx context.Context) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}, Sharded(2))
		if err != nil {
			t.Fatal(err)
		}
		tc.start(s)
		nodes = append(nodes, s)
	}
	ctx := context.Background()
	if err := nodes[0].Trigger(ctx, "long"); err != nil {
		t.Fatal(err)
	}
	var runs []Run
	waitFor(t, 10*time.Second, "two runs in progress", func() bool {
		var err error
		runs, err = nodes[1].Running(ctx)
		return err == nil && len(runs) == 2
	})
	victim, other := runs[0], runs[1]
	if victim.ID == "" || victim.ID == other.ID {
		t.Fatalf("run ids %q, %q", victim.ID, other.ID)
	}
	if err := nodes[1].KillRun(ctx, victim.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the killed record", func() bool {
		rs := recordsOf(tc.sink, "long")
		return len(rs) == 1 && rs[0].Status == logsink.StatusKilled && rs[0].Shard == victim.Shard
	})
	if left, err := nodes[0].Running(ctx); err != nil || len(left) != 1 || left[0].ID != other.ID {
		t.Fatalf("after KillRun: running %+v, %v; want only %s", left, err, other.ID)
	}
	if err := nodes[0].KillRun(ctx, victim.ID); !errors.Is(err, ErrNoSuchRun) {
		t.Errorf("KillRun(ended run) = %v, want ErrNoSuchRun", err)
	}
	for _, id := range []string{"", "long", "long/", "bad name/x", "nope/2026-01-01T00:00:00Z"} {
		if err := nodes[0].KillRun(ctx, id); !errors.Is(err, ErrNoSuchRun) && !errors.Is(err, ErrInvalidName) {
			t.Errorf("KillRun(%q) = %v", id, err)
		}
	}
	close(release)
	waitFor(t, 10*time.Second, "the other run to succeed", func() bool {
		rs := recordsOf(tc.sink, "long")
		return len(rs) == 2 && rs[1].Status == logsink.StatusSucceeded && rs[1].Tick.Equal(other.Tick) && rs[1].Shard == other.Shard
	})
}
