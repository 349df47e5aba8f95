package executor

import (
	"context"
	"fmt"
	"time"

	"github.com/distcron/distcron/internal/errtext"
)

// Step is one named step of a [Pipeline].
type Step struct {
	// Name identifies the step in Result.Steps and in errors; it must be
	// non-empty and unique within its pipeline.
	Name string
	// Exec runs the step. It must not be nil.
	Exec Executor
}

// StepResult is the outcome of one step of a [Pipeline] that started.
type StepResult struct {
	// Name is the step's name.
	Name string
	// Result is what the step's Executor returned.
	Result Result
	// Started and Finished are when the step's Execute was called and
	// when it returned.
	Started, Finished time.Time
}

// StepError is the Result.Err of a [Pipeline] whose step failed. It wraps
// the step's error, so errors.Is sees through it (context.Canceled,
// [ErrTimeout], [ErrCommandFailed], ...), and errors.As finds the step.
type StepError struct {
	// Step is the name of the step that failed.
	Step string
	// Index is its position in the pipeline, from 0.
	Index int
	// Err is the step's Result.Err.
	Err error
}

// Error returns `distcron: pipeline step "<name>": <step error>`, the step
// error without its own "distcron: " prefix, as in `distcron: pipeline
// step "load": command failed: exit status 1`. A name longer than 64 bytes
// is cut short (the Step field holds all of it).
func (e *StepError) Error() string {
	return fmt.Sprintf("distcron: pipeline step %s: %s", errtext.Name(e.Step), errtext.Trim(e.Err))
}

// Unwrap returns the step's error.
func (e *StepError) Unwrap() error { return e.Err }

// validator is implemented by Executors that can check their definition
// before running, such as [*HTTP].
type validator interface {
	Validate() error
}

// NewPipeline returns an Executor that runs steps in order, as [Pipeline]
// does, after checking them: there must be at least one step, every step
// needs a non-empty name unique in the pipeline and a non-nil Exec, and a
// step whose Exec has a Validate() error method (such as [*HTTP]) must pass
// it. Every error matches [ErrInvalid]. NewPipeline does no I/O; the steps
// slice is copied.
func NewPipeline(steps ...Step) (Executor, error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("%w: pipeline has no steps", ErrInvalid)
	}
	seen := make(map[string]bool, len(steps))
	p := &pipeline{steps: make([]Step, len(steps))}
	for i, s := range steps {
		switch {
		case s.Name == "":
			return nil, fmt.Errorf("%w: pipeline step %d has no name", ErrInvalid, i+1)
		case seen[s.Name]:
			return nil, fmt.Errorf("%w: pipeline step name %s is used twice", ErrInvalid, errtext.Name(s.Name))
		case s.Exec == nil:
			return nil, fmt.Errorf("%w: pipeline step %s has a nil Exec", ErrInvalid, errtext.Name(s.Name))
		}
		if v, ok := s.Exec.(validator); ok {
			if err := v.Validate(); err != nil {
				// "invalid executor: pipeline step "x": <why>", whether
				// or not the step's error says "invalid executor".
				msg := fmt.Sprintf("%v: pipeline step %s: %s", ErrInvalid, errtext.Name(s.Name), errtext.Strip(err, errtext.Trim(ErrInvalid)))
				return nil, errtext.Wrap(msg, ErrInvalid, err)
			}
		}
		seen[s.Name] = true
		p.steps[i] = Step{Name: s.Name, Exec: Recover(s.Exec)}
	}
	return p, nil
}

// Pipeline returns an Executor that runs steps one after another on the
// run's context and stops at the first step that fails. The run succeeds
// only if every step does.
//
// Execute blocks until the last step that runs returns. Result.Steps holds
// a [StepResult] for each step that started, in order; steps after a
// failing one never start and are absent. Result.ExitCode and
// Result.Output are those of the last step that ran (-1 and nil when none
// did). When a step fails, Result.Err is a [*StepError] naming it and
// wrapping its error, so errors.Is(res.Err, context.Canceled) still tells
// a kill. When ctx is done between two steps, the next step does not start
// and Result.Err wraps ctx.Err(). A panic in a step is recovered (see
// [Recover]) and fails that step.
//
// The steps are checked as by [NewPipeline]; if they are invalid, every
// Execute returns that error without running anything. Use NewPipeline to
// get the error up front. The Executor is safe for concurrent use if the
// steps' Executors are.
func Pipeline(steps ...Step) Executor {
	p, err := NewPipeline(steps...)
	if err != nil {
		return &pipeline{err: err}
	}
	return p
}

type pipeline struct {
	steps []Step
	err   error // the steps are invalid
}

var _ Executor = (*pipeline)(nil)

func (p *pipeline) Execute(ctx context.Context) Result {
	if p.err != nil {
		return Result{Err: p.err, ExitCode: -1}
	}
	res := Result{ExitCode: -1, Steps: make([]StepResult, 0, len(p.steps))}
	for i, s := range p.steps {
		if err := contextError(ctx); err != nil {
			res.Err = errtext.Errorf("distcron: pipeline stopped before step %s: %w", errtext.Name(s.Name), err)
			return res
		}
		sr := StepResult{Name: s.Name, Started: time.Now()}
		sr.Result = s.Exec.Execute(ctx)
		sr.Finished = time.Now()
		res.Steps = append(res.Steps, sr)
		res.ExitCode, res.Output = sr.Result.ExitCode, sr.Result.Output
		if sr.Result.Err != nil {
			res.Err = &StepError{Step: s.Name, Index: i, Err: sr.Result.Err}
			return res
		}
	}
	return res
}
