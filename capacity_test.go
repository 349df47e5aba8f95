package distcron

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
)

// Issue 10: runs per instance are capped by default, and a tick that no
// instance had a free slot for leaves a skipped record saying so instead
// of vanishing.
func TestTicksNoInstanceHasRoomForAreRecordedSkipped(t *testing.T) {
	tc := newTestCluster(t)
	release := make(chan struct{})
	hog := func(ctx context.Context) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	for _, id := range []string{"n0", "n1"} {
		s, _ := tc.newScheduler(id, WithMaxConcurrentRuns(1))
		if err := s.RegisterFunc("hog", "@every 1s", hog); err != nil {
			t.Fatal(err)
		}
		if err := s.RegisterFunc("tick", "@every 500ms", func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		tc.start(s)
	}
	t.Cleanup(func() { close(release) }) // before the schedulers stop (cleanups run last first)
	waitFor(t, 15*time.Second, "a tick recorded skipped at capacity", func() bool {
		for _, r := range tc.sink.records() {
			if r.Status == logsink.StatusSkipped && strings.Contains(r.Error, "concurrency cap") {
				return true
			}
		}
		return false
	})
	assertNoDuplicates(t, tc.sink.records())
}

func TestConcurrentRunsAreCappedByDefault(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	if s.cfg.maxConcurrent != DefaultMaxConcurrentRuns || DefaultMaxConcurrentRuns <= 0 {
		t.Fatalf("default cap %d", s.cfg.maxConcurrent)
	}
}
