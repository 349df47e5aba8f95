package distcron

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TriggerAndWait says which instance claimed the manual run; it reports a
// request taken without a run, and a request nobody takes, as errors.
func TestTriggerAndWaitSaysWhoClaimed(t *testing.T) {
	tc := newTestCluster(t)
	release := make(chan struct{})
	defer close(release)
	block := func(ctx context.Context) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	register := func(s *Scheduler) {
		for name, spec := range map[string]string{"report": "@yearly", "exclusive": "@every 1s"} {
			if err := s.RegisterFunc(name, spec, block, RequireTags("batch"), Overlap(OverlapForbid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	worker, _ := tc.newScheduler("worker", WithTags("batch"))
	register(worker)
	tc.start(worker)
	api, _ := tc.newScheduler("api") // not eligible: no tags
	register(api)
	tc.start(api)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	run, err := api.TriggerAndWait(ctx, "report")
	if err != nil {
		t.Fatal(err)
	}
	if run.Instance != "worker" || run.Job != "report" || run.Token <= 0 || run.Trigger != "manual" {
		t.Fatalf("TriggerAndWait = %+v, want a manual run of report on worker with a token", run)
	}
	// A second call coalesces with the run in progress and returns it.
	again, err := api.TriggerAndWait(ctx, "report")
	if err != nil || again.ID != run.ID {
		t.Fatalf("second TriggerAndWait = %+v, %v; want the run in progress %s", again, err, run.ID)
	}

	// A Forbid job with a scheduled run in progress: the manual run is
	// taken and skipped.
	waitFor(t, 5*time.Second, "a scheduled run of exclusive", func() bool {
		runs, _ := api.Running(ctx)
		for _, r := range runs {
			if r.Job == "exclusive" && r.Trigger == "schedule" {
				return true
			}
		}
		return false
	})
	if run, err := api.TriggerAndWait(ctx, "exclusive"); !errors.Is(err, ErrNotRun) {
		t.Fatalf("TriggerAndWait on a busy Forbid job = %+v, %v; want ErrNotRun", run, err)
	}

	// Nobody eligible: the wait ends with ctx, saying so.
	if err := api.RegisterFunc("orphan", "@yearly", block, RequireTags("gpu")); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancelShort()
	if _, err := api.TriggerAndWait(short, "orphan"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("TriggerAndWait with no eligible instance: %v, want the deadline", err)
	}
}
