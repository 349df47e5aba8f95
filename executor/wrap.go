package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/distcron/distcron/internal/errtext"
)

// Wrapper decorates an Executor with cross-cutting behaviour, like
// robfig/cron's JobWrapper. [Recover] is one; [Timeout] returns one.
type Wrapper func(Executor) Executor

// Chain wraps e in ws. The first Wrapper is the outermost, so
//
//	Chain(e, Recover, Timeout(time.Minute))
//
// is Recover(Timeout(time.Minute)(e)). Chain with no wrappers returns e.
func Chain(e Executor, ws ...Wrapper) Executor {
	for i := len(ws) - 1; i >= 0; i-- {
		e = ws[i](e)
	}
	return e
}

// Timeout returns a Wrapper that runs an Executor with a context that ends
// d after Execute is called (or earlier, with the caller's context):
// Timeout(time.Minute)(e). A d of zero or less means no timeout, and the
// Executor is returned unchanged.
//
// Execute blocks like the wrapped Executor. When the timeout stops the
// run, Result.Err matches both [ErrTimeout] and context.DeadlineExceeded,
// even if the Executor returned an error that wraps neither; a nil Err (it
// finished its work) stays nil. The result is safe for concurrent use if
// the Executor is.
func Timeout(d time.Duration) Wrapper {
	return func(e Executor) Executor { return withTimeout(e, d) }
}

func withTimeout(e Executor, d time.Duration) Executor {
	if d <= 0 {
		return e
	}
	return &timeoutExecutor{e: e, d: d}
}

type timeoutExecutor struct {
	e Executor
	d time.Duration
}

func (t *timeoutExecutor) Execute(ctx context.Context) Result {
	cause := fmt.Errorf("%w after %v: %w", ErrTimeout, t.d, context.DeadlineExceeded)
	tctx, cancel := context.WithTimeoutCause(ctx, t.d, cause)
	defer cancel()
	res := t.e.Execute(tctx)
	if res.Err == nil || errors.Is(res.Err, ErrTimeout) || !errors.Is(context.Cause(tctx), ErrTimeout) {
		return res
	}
	// e ran out of time but did not say so (an Executor from elsewhere).
	if errors.Is(res.Err, context.DeadlineExceeded) {
		res.Err = errtext.Errorf("%w: %w after %v", res.Err, ErrTimeout, t.d)
	} else {
		res.Err = errtext.Errorf("%w: %w", res.Err, cause)
	}
	return res
}
