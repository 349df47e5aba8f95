package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/distcron/distcron/internal/errtext"
)

// DefaultGrace is the time a command's processes have between SIGTERM and
// SIGKILL when Command.Grace is zero.
const DefaultGrace = 5 * time.Second

// outputDrain bounds how long Execute waits for the output pipe to close
// once the command's process group is gone. Only a process that left the
// group (setsid) of an unsupervised run can hold it longer.
const outputDrain = time.Second

// Command is an Executor that runs a program. Create it as a literal or
// with [Shell]. Do not change its fields while an Execute is in flight;
// Execute itself only reads them, so one Command is safe for concurrent
// use and may run several times at once.
//
// Each run starts in a new process group, with stdin connected to
// /dev/null and stdout and stderr to one pipe whose last [MaxOutput] bytes
// become Result.Output. When ctx is done, the program and every process it
// started get SIGTERM, then SIGKILL after Grace. When the main process
// exits, anything it left running gets SIGTERM, then SIGKILL after Grace.
// On Linux a supervisor makes sure that this reaches processes that left
// the process group; see the package documentation.
//
// Result.ExitCode is the exit status, or -1 when the process was killed by
// a signal or did not start. Result.Err is nil on exit status 0; wraps
// [ErrCommandFailed] on a non-zero status or a signal the executor did not
// send; wraps ctx.Err() when the run was stopped because ctx was done; and
// wraps [ErrStart] when the program could not be started. A Command whose
// ctx is already done is not started.
type Command struct {
	// Path is the program to run. A name without a slash is looked up in
	// PATH when the run starts, as exec.LookPath does.
	Path string
	// Args are the arguments after the program name (argv[1:]).
	Args []string
	// Env is the environment, as "KEY=value" strings. If Env is nil the
	// command inherits the environment of the current process; an empty,
	// non-nil Env gives it none.
	Env []string
	// Dir is the working directory; empty means the current process's.
	Dir string
	// Grace is how long the process group may take to exit after SIGTERM
	// before it gets SIGKILL. Zero or less means DefaultGrace (5s).
	Grace time.Duration
	// Unsupervised starts the program as a direct child of this process.
	// By default, on Linux (amd64, arm64), it runs under a supervisor that
	// stops every descendant, even one that left the process group; see
	// the package documentation. Unsupervised runs stop only the process
	// group, as on other systems.
	Unsupervised bool
}

var _ Executor = (*Command)(nil)

// Shell returns a Command that runs cmdline with /bin/sh -c. Its Env, Dir
// and Grace are zero: inherited environment and working directory, and
// DefaultGrace; set them on the result if needed.
func Shell(cmdline string) *Command {
	return &Command{Path: "/bin/sh", Args: []string{"-c", cmdline}}
}

func (c *Command) grace() time.Duration {
	if c.Grace <= 0 {
		return DefaultGrace
	}
	return c.Grace
}

// Execute runs the command and blocks until it is over: the main process
// has exited and been reaped, no process it started is left, and its
// output has been read. Once ctx is done, it returns within Grace plus the
// time the kernel needs to kill the processes (unsupervised, plus at most
// a second if a process that left the group holds the output pipe).
func (c *Command) Execute(ctx context.Context) Result {
	if err := contextError(ctx); err != nil {
		return Result{Err: errtext.Errorf("%w: %w", ErrStart, err), ExitCode: -1}
	}
	cmd, err := c.command()
	if err != nil {
		return Result{Err: errtext.Errorf("%w: %w", ErrStart, err), ExitCode: -1}
	}
	path := cmd.Path
	var sv *supervision
	if !c.Unsupervised {
		sv = superviseCmd(cmd, c.grace())
	}
	if sv != nil {
		defer sv.close()
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return Result{Err: errtext.Errorf("%w: %w", ErrStart, err), ExitCode: -1}
	}
	defer pr.Close()
	cmd.Stdout, cmd.Stderr = pw, pw // an *os.File: exec starts no copying goroutine
	err = cmd.Start()
	pw.Close()
	if sv != nil {
		sv.started()
	}
	if err != nil {
		return Result{Err: errtext.Errorf("%w: %w", ErrStart, err), ExitCode: -1}
	}

	out := newTail(MaxOutput)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, pr) // out never fails; ends at EOF or when pr is closed
	}()

	waitErr, stopErr, startErr := c.wait(ctx, cmd, sv, path)

	drain := time.NewTimer(outputDrain)
	select {
	case <-copied:
	case <-drain.C:
		pr.Close() // a process outside the group holds the pipe; stop reading
		<-copied
	}
	drain.Stop()
	if startErr != nil {
		return Result{Err: errtext.Errorf("%w: %w", ErrStart, startErr), ExitCode: -1}
	}

	res := Result{ExitCode: -1, Output: out.Bytes()}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	var exitErr *exec.ExitError
	switch {
	case stopErr != nil:
		res.Err = stopErr
	case errors.As(waitErr, &exitErr):
		res.Err = errtext.Errorf("%w: %w", ErrCommandFailed, waitErr)
	case waitErr != nil:
		res.Err = errtext.Errorf("distcron: waiting for command: %w", waitErr)
	}
	return res
}

// wait waits for the started cmd to exit, stopping it when ctx is done,
// then stops what is left of its process group and reaps it. It returns
// cmd.Wait's error, the error for the Result when ctx ended the run, and,
// for a supervised run, the error that kept the program from starting.
func (c *Command) wait(ctx context.Context, cmd *exec.Cmd, sv *supervision, path string) (waitErr, stopErr, startErr error) {
	// Wait for the main process to exit without reaping it: while it is a
	// zombie its pid, the group id, cannot be reused, so signalling the
	// group cannot hit a stranger.
	p := cmd.Process
	var reaped bool
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		if waitExited(p) != nil {
			waitErr, reaped = cmd.Wait(), true // no waitid: reap instead
		}
	}()

	var (
		grace   *time.Timer // runs from the SIGTERM
		termed  bool        // the group got SIGTERM
		killed  bool        // the group, or a descendant, got SIGKILL
		termAll = func() {
			signalGroup(p, syscall.SIGTERM)
			termed = true
		}
	)
	select {
	case <-exited:
	case <-ctx.Done():
		select {
		case <-exited: // it finished on its own; ignore ctx
		default:
			stopErr = contextError(ctx)
			if sv != nil {
				// The supervisor stops every descendant, with the grace
				// period; the group is killed only if it does not exit.
				sv.stop(p)
				grace = time.NewTimer(c.grace() + sv.slack())
			} else {
				termAll()
				grace = time.NewTimer(c.grace())
			}
			select {
			case <-exited:
			case <-grace.C:
				signalGroup(p, syscall.SIGKILL)
				killed = true
				<-exited
			}
		}
	}
	// The main process is gone. The rest of its group (background jobs,
	// grandchildren) gets SIGTERM, if it has not yet, and what is left of the
	// grace period, then SIGKILL.
	if !killed && groupAlive(p) {
		if !termed {
			termAll()
		}
		if grace == nil {
			grace = time.NewTimer(c.grace())
		}
		if !waitGroupGone(p, grace.C) {
			signalGroup(p, syscall.SIGKILL)
			killed = true
		}
	}
	if grace != nil {
		grace.Stop()
	}
	if !reaped {
		waitErr = cmd.Wait()
	}
	if sv != nil {
		var svKilled bool
		startErr, svKilled = sv.report(path)
		killed = killed || svKilled
	}
	if stopErr != nil {
		how := "stopped with SIGTERM"
		if killed {
			how = fmt.Sprintf("killed with SIGKILL after a %v grace period", c.grace())
		}
		stopErr = fmt.Errorf("%w (command %s)", stopErr, how)
	}
	return waitErr, stopErr, startErr
}

// waitGroupGone polls until the group led by p has no live member, and
// reports whether that happened before deadline fired.
func waitGroupGone(p *os.Process, deadline <-chan time.Time) bool {
	interval := 5 * time.Millisecond
	t := time.NewTimer(interval)
	defer t.Stop()
	for groupAlive(p) {
		select {
		case <-deadline:
			return false
		case <-t.C:
		}
		interval = min(2*interval, 100*time.Millisecond)
		t.Reset(interval)
	}
	return true
}

// command validates c and builds the exec.Cmd for one run.
func (c *Command) command() (*exec.Cmd, error) {
	if c.Path == "" {
		return nil, errors.New("empty Path")
	}
	if c.Dir != "" {
		// os.StartProcess reports a bad Dir as "fork/exec <Path>: ..." when
		// SysProcAttr is set; name the directory instead.
		fi, err := os.Stat(c.Dir)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				pe.Op = "chdir"
			}
			return nil, err
		}
		if !fi.IsDir() {
			return nil, &fs.PathError{Op: "chdir", Path: c.Dir, Err: syscall.ENOTDIR}
		}
	}
	cmd := exec.Command(c.Path, c.Args...)
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	cmd.Env = c.Env
	cmd.Dir = c.Dir
	cmd.SysProcAttr = newProcessGroup()
	return cmd, nil
}
