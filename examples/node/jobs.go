package main

import (
	"context"
	"fmt"
	"time"

	"github.com/distcron/distcron"
)

// registerJobs registers the node's jobs, all on spec: -jobs Go funcs
// job-0..job-N-1 working -work each (RerunLost with -rerun-lost), the shell
// job shell-0 (-shell), and the optional jobs below.
//
//   - rerun-0 (-rerun-job d): RerunLost; each run works d, so a crash
//     leaves runs in progress for the leader to record lost and re-run
//     elsewhere (attempt+1, trigger retry).
//   - forbid-0 (-forbid-job d): OverlapForbid; each run works d, longer
//     than the period, so most ticks find a run in progress and are
//     recorded skipped.
//   - stubborn-0 (-stubborn-job d): each run works d whatever its context
//     says, then fails; a Stop cannot cut it short, only abandon it.
func registerJobs(sched *distcron.Scheduler, spec string, f flags) error {
	var jobOpts []distcron.JobOption
	if f.rerunLost {
		jobOpts = append(jobOpts, distcron.RerunLost())
	}
	for i := 0; i < f.jobs; i++ {
		if err := sched.RegisterFunc(fmt.Sprintf("job-%d", i), spec, worker(f.work), jobOpts...); err != nil {
			return err
		}
	}
	if f.shell != "" {
		if err := sched.RegisterShell("shell-0", spec, f.shell); err != nil {
			return err
		}
	}
	if f.rerunJob > 0 {
		if err := sched.RegisterFunc("rerun-0", spec, worker(f.rerunJob), distcron.RerunLost()); err != nil {
			return err
		}
	}
	if f.forbidJob > 0 {
		if err := sched.RegisterFunc("forbid-0", spec, worker(f.forbidJob), distcron.Overlap(distcron.OverlapForbid)); err != nil {
			return err
		}
	}
	if f.stubbornJob > 0 {
		if err := sched.RegisterFunc("stubborn-0", spec, stubborn(f.stubbornJob)); err != nil {
			return err
		}
	}
	return nil
}

// worker returns a job that works d, or less if its context ends first.
func worker(d time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		if d == 0 {
			return nil
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stubborn returns a job that works d ignoring its context, then fails,
// saying whether it was asked to stop.
func stubborn(d time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		time.Sleep(d)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stubborn-0 worked %v, ignoring cancellation: %w", d, err)
		}
		return fmt.Errorf("stubborn-0 worked %v and failed, as it always does", d)
	}
}
