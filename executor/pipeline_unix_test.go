//go:build unix

package executor

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPipelineShellSteps(t *testing.T) {
	t.Parallel()
	var funcRan atomic.Int64
	res := Pipeline(
		Step{Name: "prepare", Exec: Shell("echo preparing")},
		Step{Name: "go", Exec: Func(func(context.Context) error { funcRan.Add(1); return nil })},
		Step{Name: "finish", Exec: Shell("echo done; exit 0")},
	).Execute(context.Background())
	if res.Err != nil || res.ExitCode != 0 || string(res.Output) != "done\n" || funcRan.Load() != 1 {
		t.Fatalf("Result = %v, %d, %q; func ran %d", res.Err, res.ExitCode, res.Output, funcRan.Load())
	}
	if got := string(res.Steps[0].Result.Output); got != "preparing\n" {
		t.Errorf("prepare output = %q", got)
	}

	var never atomic.Int64
	res = Pipeline(
		Step{Name: "prepare", Exec: Shell("echo preparing")},
		Step{Name: "load", Exec: Shell("echo loading; exit 3")},
		Step{Name: "never", Exec: Func(func(context.Context) error { never.Add(1); return nil })},
	).Execute(context.Background())
	var se *StepError
	if !errors.As(res.Err, &se) || se.Step != "load" || !errors.Is(res.Err, ErrCommandFailed) {
		t.Fatalf("Err = %v, want step load failed with ErrCommandFailed", res.Err)
	}
	if res.ExitCode != 3 || string(res.Output) != "loading\n" || never.Load() != 0 || len(res.Steps) != 2 {
		t.Errorf("ExitCode, Output = %d, %q; never ran %d; %d steps", res.ExitCode, res.Output, never.Load(), len(res.Steps))
	}
}

func TestPipelineWithTimeout(t *testing.T) {
	t.Parallel()
	// A timeout on one step.
	var never atomic.Int64
	res := Pipeline(
		Step{Name: "quick", Exec: Shell("echo quick")},
		Step{Name: "slow", Exec: withTimeout(&Command{Path: "/bin/sh", Args: []string{"-c", "sleep 30"}, Grace: time.Second}, 100*time.Millisecond)},
		Step{Name: "never", Exec: Func(func(context.Context) error { never.Add(1); return nil })},
	).Execute(context.Background())
	if !errors.Is(res.Err, ErrTimeout) || !errors.Is(res.Err, context.DeadlineExceeded) || never.Load() != 0 {
		t.Fatalf("Err = %v, never ran %d; want a timeout of step slow", res.Err, never.Load())
	}
	if !strings.Contains(res.Err.Error(), `step "slow"`) || res.ExitCode != -1 || stepNames(res.Steps) != "quick,slow" {
		t.Errorf("Err = %v, ExitCode %d, Steps %s", res.Err, res.ExitCode, stepNames(res.Steps))
	}

	// A timeout on the whole pipeline: long enough for the quick step to
	// finish on a loaded machine (a supervised command takes several ms,
	// tens under -race; CI once took more than 100ms).
	res = withTimeout(Pipeline(
		Step{Name: "quick", Exec: Shell("echo quick")},
		Step{Name: "slow", Exec: &Command{Path: "/bin/sh", Args: []string{"-c", "sleep 30"}, Grace: time.Second}},
	), 2*time.Second).Execute(context.Background())
	var se *StepError
	if !errors.Is(res.Err, ErrTimeout) || !errors.As(res.Err, &se) || se.Step != "slow" || len(res.Steps) != 2 {
		t.Errorf("Err = %v, Steps %s; want the timeout in step slow", res.Err, stepNames(res.Steps))
	}
}
