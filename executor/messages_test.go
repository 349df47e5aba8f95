package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// errKilled stands for the root package's ErrKilled, a cancellation cause.
var errKilled = errors.New("distcron: run killed")

// assertReadsOnce fails when msg says "distcron: " more than once, or the
// text of one of the sentinels more than once (issue 12).
func assertReadsOnce(t *testing.T, msg string, sentinels ...error) {
	t.Helper()
	if n := strings.Count(msg, "distcron: "); n > 1 {
		t.Errorf("%q says \"distcron: \" %d times", msg, n)
	}
	for _, s := range sentinels {
		text := strings.TrimPrefix(s.Error(), "distcron: ")
		if n := strings.Count(msg, text); n > 1 {
			t.Errorf("%q says %q %d times", msg, text, n)
		}
	}
}

var messageSentinels = []error{errKilled, ErrTimeout, ErrStart, ErrCommandFailed, ErrInvalid, ErrHostNotAllowed, ErrAddressNotAllowed, ErrHTTPStatus, ErrPanic}

// killedCtx returns a context cancelled with errKilled once started is
// closed, as the scheduler cancels a run that Kill stops.
func killedCtx(t *testing.T, started <-chan struct{}) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	t.Cleanup(func() { cancel(nil) })
	go func() {
		<-started
		cancel(errKilled)
	}()
	return ctx
}

// startedShell returns a command that creates a file, then sleeps, and a
// channel closed once the file exists (the command is running).
func startedShell(t *testing.T) (*Command, <-chan struct{}) {
	f := filepath.Join(t.TempDir(), "started")
	c := Shell(`: > "$1"; sleep 30`)
	c.Args = append(c.Args, "sh", f)
	c.Grace = time.Second
	started := make(chan struct{})
	go func() {
		defer close(started)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := os.Stat(f); err == nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return c, started
}

// Issue 12: a killed run read "distcron: run killed: context canceled:
// distcron: run killed", a failed pipeline step `distcron: pipeline step
// "load" failed: distcron: command failed`.
func TestMessagesReadOnce(t *testing.T) {
	t.Parallel()
	block := func(ret func(ctx context.Context) error) (Executor, <-chan struct{}) {
		started := make(chan struct{})
		return Func(func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return ret(ctx)
		}), started
	}
	tests := []struct {
		name string
		run  func(t *testing.T) Result
		want string
		is   []error
	}{
		{name: "func returns the kill cause", want: "distcron: run killed", is: []error{errKilled, context.Canceled},
			run: func(t *testing.T) Result {
				e, started := block(context.Cause)
				return e.Execute(killedCtx(t, started))
			}},
		{name: "func returns its own error when killed", want: "boom: context canceled: run killed", is: []error{errKilled, context.Canceled},
			run: func(t *testing.T) Result {
				e, started := block(func(context.Context) error { return errors.New("boom") })
				return e.Execute(killedCtx(t, started))
			}},
		{name: "func returns its own error at the timeout", want: "boom: run timed out after 20ms: context deadline exceeded",
			is: []error{ErrTimeout, context.DeadlineExceeded},
			run: func(t *testing.T) Result {
				e, _ := block(func(context.Context) error { return errors.New("boom") })
				return withTimeout(e, 20*time.Millisecond).Execute(context.Background())
			}},
		{name: "func not started after a timeout", want: "distcron: not started: run timed out after 1ns: context deadline exceeded",
			is: []error{ErrTimeout, context.DeadlineExceeded},
			run: func(t *testing.T) Result {
				e := Func(func(context.Context) error { return nil })
				return withTimeout(execFunc(func(ctx context.Context) Result { <-ctx.Done(); return e.Execute(ctx) }), time.Nanosecond).Execute(context.Background())
			}},
		{name: "command killed", want: "context canceled: run killed (command stopped with SIGTERM)", is: []error{errKilled, context.Canceled},
			run: func(t *testing.T) Result {
				c, started := startedShell(t)
				return c.Execute(killedCtx(t, started))
			}},
		{name: "command not started after a timeout", want: "distcron: command did not start: run timed out after 1ns: context deadline exceeded",
			is: []error{ErrStart, ErrTimeout, context.DeadlineExceeded},
			run: func(t *testing.T) Result {
				c := Shell("true")
				return withTimeout(execFunc(func(ctx context.Context) Result { <-ctx.Done(); return c.Execute(ctx) }), time.Nanosecond).Execute(context.Background())
			}},
		{name: "pipeline step fails", want: `distcron: pipeline step "load": command failed: exit status 3`, is: []error{ErrCommandFailed},
			run: func(t *testing.T) Result {
				return Pipeline(Step{Name: "load", Exec: Shell("exit 3")}).Execute(context.Background())
			}},
		{name: "pipeline step killed", want: `distcron: pipeline step "load": context canceled: run killed (command stopped with SIGTERM)`,
			is: []error{errKilled, context.Canceled},
			run: func(t *testing.T) Result {
				c, started := startedShell(t)
				return Pipeline(Step{Name: "load", Exec: c}).Execute(killedCtx(t, started))
			}},
		{name: "pipeline step times out", want: `distcron: pipeline step "load": run timed out after 20ms: context deadline exceeded`,
			is: []error{ErrTimeout, context.DeadlineExceeded},
			run: func(t *testing.T) Result {
				e, _ := block(context.Cause)
				return Pipeline(Step{Name: "load", Exec: withTimeout(e, 20*time.Millisecond)}).Execute(context.Background())
			}},
		{name: "pipeline stopped between steps", want: `distcron: pipeline stopped before step "next": context canceled: run killed`,
			is: []error{errKilled, context.Canceled},
			run: func(t *testing.T) Result {
				ctx, cancel := context.WithCancelCause(context.Background())
				defer cancel(nil)
				first := Func(func(context.Context) error { cancel(errKilled); return nil })
				return Pipeline(Step{Name: "first", Exec: first}, Step{Name: "next", Exec: Shell("true")}).Execute(ctx)
			}},
		{name: "invalid HTTP step", want: `distcron: invalid executor: pipeline step "call": HTTP: URL scheme "ftp" is not http or https`,
			is: []error{ErrInvalid},
			run: func(t *testing.T) Result {
				return Pipeline(Step{Name: "call", Exec: &HTTP{URL: "ftp://x/"}}).Execute(context.Background())
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.run(t).Err
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != tt.want {
				t.Errorf("Err = %q\n         want %q", err, tt.want)
			}
			assertReadsOnce(t, err.Error(), messageSentinels...)
			for _, s := range tt.is {
				if !errors.Is(err, s) {
					t.Errorf("Err = %q does not match %v", err, s)
				}
			}
		})
	}
}

// Errors that net/http puts inside its own (*url.Error, *net.OpError)
// do not say "distcron: " a second time.
func TestHTTPRefusalsReadOnce(t *testing.T) {
	t.Parallel()
	srv, otherPort, _, allow := redirectingServers(t)
	for _, tt := range []struct {
		name string
		h    *HTTP
		want []string // parts of the message, in order
		is   error
	}{
		{name: "redirect to a host not in AllowedHosts", h: &HTTP{URL: srv.URL + "/by-name", AllowedHosts: []string{hostOf(t, srv)}},
			want: []string{"distcron: HTTP request failed: ", ": host not allowed: redirect to localhost:" + otherPort}, is: ErrHostNotAllowed},
		{name: "redirect to an address not in the allow-list", h: &HTTP{URL: srv.URL + "/by-address", Allow: allow},
			want: []string{"distcron: HTTP request failed: ", ": redirect refused: host not allowed: 127.0.0.1:" + otherPort + " is not in the allow-list"}, is: ErrHostNotAllowed},
		{name: "connection to a refused address", h: &HTTP{URL: "http://localhost:" + otherPort + "/", Allow: mustAllow(t, "localhost")},
			want: []string{"distcron: HTTP request failed: ", ": address not allowed: ", " is loopback"}, is: ErrAddressNotAllowed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Execute(context.Background()).Err
			if !errors.Is(err, tt.is) {
				t.Fatalf("Err = %v, want %v", err, tt.is)
			}
			msg, rest := err.Error(), err.Error()
			for _, part := range tt.want {
				i := strings.Index(rest, part)
				if i < 0 {
					t.Errorf("Err = %q, want it to say %q (in this order: %q)", msg, part, tt.want)
					break
				}
				rest = rest[i+len(part):]
			}
			assertReadsOnce(t, msg, messageSentinels...)
		})
	}
}

// Names in errors are quoted, and cut short when long (issue 12).
func TestLongStepNamesAreCut(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("step/", 60)
	ok := Func(func(context.Context) error { return nil })
	_, err := NewPipeline(Step{Name: long, Exec: ok}, Step{Name: long, Exec: ok})
	want := `distcron: invalid executor: pipeline step name "` + long[:64] + `"… (300 bytes) is used twice`
	if err == nil || err.Error() != want {
		t.Errorf("NewPipeline = %v\n          want %s", err, want)
	}
	res := Pipeline(Step{Name: long, Exec: Func(func(context.Context) error { return errors.New("boom") })}).Execute(context.Background())
	var se *StepError
	if !errors.As(res.Err, &se) || se.Step != long {
		t.Fatalf("Err = %v, want a *StepError with the whole name", res.Err)
	}
	if want := `distcron: pipeline step "` + long[:64] + `"… (300 bytes): boom`; res.Err.Error() != want {
		t.Errorf("Err = %q\n    want %q", res.Err, want)
	}
}
