// Package executor runs one attempt of a job: a Go func or a shell command,
// with timeouts, cancellation, panic recovery and output capture.
//
// The package imports nothing of distcron; the scheduler wraps every job in
// an Executor and maps the Result onto a run record.
//
// # Executors
//
// [Func] runs a Go function and turns a panic into a [*PanicError]. A
// [*Command] runs a program (or, through [Shell], a /bin/sh command line) in
// its own process group and keeps the last [MaxOutput] bytes of its combined
// stdout and stderr. [HTTP] sends one request and checks its status.
// [Pipeline] runs named steps in order, stops at the first failure, and
// reports each step in Result.Steps.
//
// # Wrappers
//
// Cross-cutting behaviour is added by wrapping, in the style of
// robfig/cron's JobWrapper chain: [Timeout] bounds one run, [Recover] turns a panic of any Executor into a
// [*PanicError], and [Chain] applies several wrappers at once:
//
//	e := executor.Chain(executor.Shell("backup.sh"),
//		executor.Recover,
//		executor.Timeout(10*time.Minute))
//
// # Errors and cancellation
//
// When a run ends because its context is done, Result.Err wraps ctx.Err(),
// so errors.Is(res.Err, context.DeadlineExceeded) tells a timeout and
// errors.Is(res.Err, context.Canceled) a kill. A run stopped by
// [Timeout] also matches [ErrTimeout]. A Go func that ignores its
// context cannot be stopped: Execute returns when the func does.
//
// # Processes
//
// A command's run ends with every process it started, as a systemd
// service ends with its control group. When the context is done the
// command and its descendants get SIGTERM, and SIGKILL once the command's
// Grace period (default [DefaultGrace]) has passed. When the main process
// exits first, by itself or on SIGTERM, whatever it left running
// (background jobs, grandchildren, daemons) gets SIGTERM too, and SIGKILL
// when the grace period is over. Execute blocks at most Grace longer than
// the main process.
//
// On Linux (amd64, arm64) a command runs under a supervisor, a second
// copy of the running binary started through /proc/self/exe, which this
// package's init recognizes and runs before main. The supervisor is a
// child subreaper (PR_SET_CHILD_SUBREAPER): a descendant that calls
// setsid(1) or double-forks cannot leave its tree, so none survives the
// run, none holds the output pipe after it, and none outlives this
// process: when this process dies, even by SIGKILL, the supervisor stops
// the tree. The supervisor costs 6-8ms of start-up per run (see
// BENCHMARKS.md). It runs no code of the host but package initializers:
// a binary whose init functions must not run twice, or that cannot
// execute itself, sets [Command.Unsupervised].
//
// Unsupervised, and on other Unix systems, a command runs in a new
// process group and only the group is stopped: a process that left the
// group survives the run, and Execute waits at most one second for it to
// release the output pipe (what it writes later is lost). Without process
// groups (Windows) only the main process is killed.
//
// Everything in the package is safe for concurrent use.
package executor

import (
	"context"
	"errors"

	"github.com/distcron/distcron/internal/errtext"
)

// MaxOutput is the number of bytes of command output kept in
// Result.Output: the last MaxOutput bytes of the combined stdout and
// stderr. Earlier output is discarded as it arrives, so a run never holds
// more than MaxOutput bytes of output in memory.
const MaxOutput = 64 << 10

// Executor runs one attempt of a job. Execute blocks until the attempt is
// over and must return promptly once ctx is done. Implementations must be
// safe for concurrent use: overlapping ticks may run the same Executor at once.
type Executor interface {
	Execute(ctx context.Context) Result
}

// Result is the outcome of one Execute call.
type Result struct {
	// Err is nil on success. When the attempt ended because ctx was done,
	// Err wraps ctx.Err() (context.DeadlineExceeded or context.Canceled) so
	// callers can tell a timeout from a kill with errors.Is.
	Err error
	// ExitCode is the process exit code for commands (-1 when killed by a
	// signal or not started); 0 for Go funcs; the HTTP status code of the
	// final response for [HTTP] (-1 when no response was received); that of
	// the last step that ran for a [Pipeline].
	ExitCode int
	// Output is the tail of the combined stdout and stderr of a command
	// (at most MaxOutput bytes); nil for Go funcs; the tail of the response
	// body for [HTTP]; that of the last step that ran for a [Pipeline].
	Output []byte
	// Steps holds one entry per step of a [Pipeline] that started, in
	// order, the failing one last; steps that never started are absent.
	// It is nil for every other Executor.
	Steps []StepResult
}

// contextError returns why ctx is done: ctx.Err(), joined with the cause
// given to context.WithCancelCause or WithTimeoutCause when that says more.
// It returns nil while ctx is not done.
func contextError(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	cause := context.Cause(ctx)
	switch {
	case cause == nil || cause == err:
		return err
	case errors.Is(cause, err):
		return cause
	default:
		return errtext.Errorf("%w: %w", err, cause)
	}
}
