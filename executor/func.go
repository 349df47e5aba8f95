package executor

import (
	"context"
	"errors"
	"runtime/debug"

	"github.com/distcron/distcron/internal/errtext"
)

// Func returns an Executor that calls f with the run's context.
//
// Execute blocks until f returns; f must return promptly once ctx is done,
// since a goroutine cannot be stopped from outside. If ctx is already done,
// f is not called. A panic in f is recovered and returned as a
// [*PanicError] (matching [ErrPanic]) with the panic value and stack; it
// never crashes the process (a panic in a goroutine that f starts still
// does, as in any Go program). If f returns an error after ctx is done, the
// Result.Err keeps f's message and also wraps ctx.Err(), so errors.Is
// reports context.DeadlineExceeded or context.Canceled whatever f returned.
// Result.ExitCode is always 0 and Result.Output nil. The Executor is safe
// for concurrent use if f is.
func Func(f func(ctx context.Context) error) Executor {
	return &funcExecutor{f: f}
}

type funcExecutor struct {
	f func(ctx context.Context) error
}

func (e *funcExecutor) Execute(ctx context.Context) Result {
	if e.f == nil {
		return Result{Err: errors.New("distcron: executor.Func called with a nil func")}
	}
	if err := contextError(ctx); err != nil {
		return Result{Err: errtext.Errorf("distcron: not started: %w", err)}
	}
	err := callRecover(func() error { return e.f(ctx) })
	if err == nil || errors.Is(err, ErrPanic) {
		return Result{Err: err}
	}
	return Result{Err: withContext(ctx, err)}
}

// withContext makes err wrap ctx.Err() if ctx is done and err does not
// already, keeping err's message first. When err is, or wraps, the cause
// ctx was cancelled with (a func that returned context.Cause(ctx)), its
// message already says why and is kept as it is.
func withContext(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	if cause := context.Cause(ctx); cause != nil && errors.Is(err, cause) {
		return errtext.Also(err, cerr)
	}
	return errtext.Errorf("%w: %w", err, contextError(ctx))
}

// callRecover calls f and turns a panic into a *PanicError.
func callRecover(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f()
}

// Recover returns an Executor that runs e and turns a panic in e.Execute
// into a Result whose Err is a [*PanicError], instead of letting it unwind
// into the caller. It blocks like e. Use it for Executors written outside
// this package; the ones built here never panic.
func Recover(e Executor) Executor {
	switch e.(type) {
	case *funcExecutor, *recoverExecutor:
		return e
	}
	return &recoverExecutor{e: e}
}

type recoverExecutor struct {
	e Executor
}

func (r *recoverExecutor) Execute(ctx context.Context) (res Result) {
	defer func() {
		if v := recover(); v != nil {
			res = Result{Err: &PanicError{Value: v, Stack: debug.Stack()}}
		}
	}()
	return r.e.Execute(ctx)
}
