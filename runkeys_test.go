package distcron

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/distcron/distcron/executor"
)

// onceAt is a Schedule that fires once, at one instant.
type onceAt struct{ at time.Time }

func (o onceAt) Next(from time.Time) time.Time {
	if from.Before(o.at) {
		return o.at
	}
	return time.Time{}
}

func (o onceAt) String() string { return "once at " + o.at.Format(time.RFC3339Nano) }

// blockingRuns is a job func whose runs block until released or cancelled;
// it counts the runs in progress and remembers why each one ended.
type blockingRuns struct {
	mu      sync.Mutex
	running int
	causes  []error
	release chan struct{}
}

func newBlockingRuns() *blockingRuns { return &blockingRuns{release: make(chan struct{})} }

// releaseAtEnd releases the runs when the test ends; call it after
// tc.start, so that they are released before the helpers' Stop.
func (b *blockingRuns) releaseAtEnd(t *testing.T) { t.Cleanup(func() { close(b.release) }) }

func (b *blockingRuns) run(ctx context.Context) error {
	b.mu.Lock()
	b.running++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.running--
		b.causes = append(b.causes, context.Cause(ctx))
		b.mu.Unlock()
	}()
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *blockingRuns) state() (running int, killed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.causes {
		if errors.Is(c, ErrKilled) {
			killed++
		}
	}
	return b.running, killed
}

// Issue 9, defect 8: every run in progress has its own running key. A
// Sharded(2) parent chains (OnSuccess) to a target whose own schedule fires
// at the same instant: the target's scheduled run and the two chained runs
// (one per parent shard) are three runs in progress. On main the chained
// runs use the parent's tick and attempt 1, so all three share one key,
// running/target/<tick>; Kill then reaches only one of them (the local run
// set is keyed by running key too) and the first to finish deletes the
// others' key.
func TestEveryRunInProgressHasItsOwnRunningKey(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	at := time.Now().Add(2 * time.Second).Truncate(100 * time.Millisecond)
	parent := executor.Func(func(context.Context) error { return nil })
	if err := s.RegisterSchedule("parent", onceAt{at}, parent, Sharded(2), OnSuccess("target")); err != nil {
		t.Fatal(err)
	}
	target := newBlockingRuns()
	if err := s.RegisterSchedule("target", onceAt{at}, executor.Func(target.run)); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	target.releaseAtEnd(t)
	const want = 3 // the target's own tick, and one chained run per parent shard
	waitFor(t, 15*time.Second, fmt.Sprintf("%d runs of target in progress", want), func() bool {
		n, _ := target.state()
		return n >= want
	})
	running, _ := target.state()
	runs, err := s.Running(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range runs {
		if r.Job == "target" {
			ids[r.ID] = true
		}
	}
	if len(ids) != running {
		t.Errorf("%d runs of target in progress but %d run IDs %v; want one per run", running, len(ids), ids)
	}
	if err := s.Kill(context.Background(), "target"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left, killed := target.state()
		if left == 0 && killed == running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Kill reached %d of %d runs in progress (%d still running); want all", killed, running, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
