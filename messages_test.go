package distcron

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/logsink"
)

// sentinels are the errors whose text a message must not repeat.
var sentinels = []error{
	ErrInvalidSpec, ErrInvalidName, ErrDuplicateJob, ErrInvalidOption, ErrNilClient, ErrStarted, ErrStopped,
	ErrNotStarted, ErrUnreachable, ErrDuplicateInstance, ErrUnknownJob, ErrRunsCancelled, ErrPaused, ErrKilled,
	ErrLeaseLost, ErrInvalidDefinition, ErrCodeJob, ErrRefused,
	executor.ErrTimeout, executor.ErrStart, executor.ErrCommandFailed, executor.ErrInvalid, executor.ErrHostNotAllowed,
	executor.ErrAddressNotAllowed, executor.ErrHTTPStatus, executor.ErrPanic,
	logsink.ErrInvalidOption, logsink.ErrUndelivered, logsink.ErrNotFound, logsink.ErrBadCursor,
}

// assertReadsOnce fails when msg says "distcron: " more than once, or the
// text of a sentinel error more than once (issue 12).
func assertReadsOnce(t *testing.T, msg string) {
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

// Issue 12: errors of registrations and definitions said "distcron: "
// and the job's name twice, and wrapped sentinels with their own text.
func TestValidationMessagesReadOnce(t *testing.T) {
	s, err := New(&clientv3.Client{})
	if err != nil {
		t.Fatal(err)
	}
	noop := func(context.Context) error { return nil }
	shell := &ShellSpec{Command: "true"}
	tests := []struct {
		name string
		err  error
		want string
		is   []error
	}{
		{name: "bad spec", err: s.RegisterFunc("x", "bad", noop),
			want: `distcron: job "x": invalid schedule "bad": expected 5, 6 or 7 fields, got 1`, is: []error{ErrInvalidSpec}},
		{name: "definition: bad spec", err: Definition{Name: "d", Kind: "shell", Schedule: "bad", Shell: shell}.Validate(),
			want: `distcron: invalid job definition: job "d": invalid schedule "bad": expected 5, 6 or 7 fields, got 1`,
			is:   []error{ErrInvalidDefinition, ErrInvalidSpec}},
		{name: "definition: shards", err: Definition{Name: "d", Kind: "shell", Schedule: "@hourly", Shards: -1, Shell: shell}.Validate(),
			want: `distcron: invalid job definition: job "d": shards -1 must be within [1, 100]`, is: []error{ErrInvalidDefinition}},
		{name: "definition: HTTP", err: Definition{Name: "d", Kind: "http", Schedule: "@hourly", HTTP: &HTTPSpec{URL: "ftp://x"}}.Validate(),
			want: `distcron: invalid job definition: job "d": HTTP: URL scheme "ftp" is not http or https`,
			is:   []error{ErrInvalidDefinition, executor.ErrInvalid}},
		{name: "definition: pipeline step", err: Definition{Name: "d", Kind: "pipeline", Schedule: "@hourly",
			Steps: []StepSpec{{Name: "a", Kind: "http", HTTP: &HTTPSpec{URL: "ftp://x"}}}}.Validate(),
			want: `distcron: invalid job definition: job "d": step 0: HTTP: URL scheme "ftp" is not http or https`,
			is:   []error{ErrInvalidDefinition, executor.ErrInvalid}},
		{name: "definition: steps named twice", err: Definition{Name: "d", Kind: "pipeline", Schedule: "@hourly",
			Steps: []StepSpec{{Name: "a", Kind: "shell", Shell: shell}, {Name: "a", Kind: "shell", Shell: shell}}}.Validate(),
			want: `distcron: invalid job definition: job "d": pipeline step name "a" is used twice`,
			is:   []error{ErrInvalidDefinition, executor.ErrInvalid}},
		{name: "definition: env entry", err: Definition{Name: "d", Kind: "shell", Schedule: "@hourly",
			Shell: &ShellSpec{Command: "true", Env: []string{"A=\x00"}}}.Validate(),
			want: `distcron: invalid job definition: job "d": env entry "A=\x00" holds a NUL byte`, is: []error{ErrInvalidDefinition}},
		{name: "definition: chained job", err: Definition{Name: "d", Kind: "shell", Schedule: "@hourly", OnSuccess: []string{"a b"}, Shell: shell}.Validate(),
			want: `distcron: invalid job definition: job "d": chained job "a b": use 1-128 letters, digits and ._:@-, starting with a letter or digit`,
			is:   []error{ErrInvalidDefinition, ErrInvalidName}},
		{name: "delivery option", err: func() error {
			_, err := New(&clientv3.Client{}, WithSinks(&logsink.Discard{}), WithDeliveryOptions(logsink.WithBatchSize(0)))
			return err
		}(), want: "distcron: invalid delivery option: batch size 0, want > 0", is: []error{ErrInvalidOption, logsink.ErrInvalidOption}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("no error")
			}
			if tt.err.Error() != tt.want {
				t.Errorf("error %q\n      want %q", tt.err, tt.want)
			}
			assertReadsOnce(t, tt.err.Error())
			for _, s := range tt.is {
				if !errors.Is(tt.err, s) {
					t.Errorf("%q does not match %v", tt.err, s)
				}
			}
		})
	}
}

// Issue 12: a killed run's record read "distcron: run killed: context
// canceled: distcron: run killed", a failed pipeline step `distcron:
// pipeline step "load" failed: distcron: command failed`.
func TestRecordMessagesReadOnce(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("a")
	started := make(chan string, 4)
	block := func(name string, ret func(context.Context) error) {
		t.Helper()
		if err := s.RegisterFunc(name, "@yearly", func(ctx context.Context) error {
			started <- name
			<-ctx.Done()
			return ret(ctx)
		}); err != nil {
			t.Fatal(err)
		}
	}
	block("returns-cause", context.Cause)
	block("returns-ctx-err", func(ctx context.Context) error { return ctx.Err() })
	if err := s.RegisterShell("shell", "@yearly", "echo started; sleep 30"); err != nil {
		t.Fatal(err)
	}
	if err := s.Register("pipeline", "@yearly", executor.Pipeline(executor.Step{Name: "load", Exec: executor.Shell("exit 3")})); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	ctx := context.Background()
	for _, j := range []string{"returns-cause", "returns-ctx-err", "shell", "pipeline"} {
		if err := s.Trigger(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := s.Kill(ctx, <-started); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the shell job to run", func() bool {
		runs, err := s.Running(ctx)
		for _, r := range runs {
			if r.Job == "shell" {
				return err == nil
			}
		}
		return false
	})
	if err := s.Kill(ctx, "shell"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"returns-cause":   "distcron: run killed",
		"returns-ctx-err": "context canceled (distcron: run killed)",
		"shell":           "context canceled: run killed (command stopped with SIGTERM)",
		"pipeline":        `distcron: pipeline step "load": command failed: exit status 3`,
	}
	waitFor(t, 15*time.Second, "4 records", func() bool { return len(tc.sink.records()) >= len(want) })
	for _, r := range tc.sink.records() {
		if r.Error != want[r.Job] {
			t.Errorf("job %s: record %s %q, want %q", r.Job, r.Status, r.Error, want[r.Job])
		}
		assertReadsOnce(t, r.Error)
		for _, st := range r.Steps {
			assertReadsOnce(t, st.Error)
		}
	}
}

// Issue 12: a definition with a kind on a code job, and one refused by
// an instance's host list.
func TestDefinitionRefusalsReadOnce(t *testing.T) {
	tc := newTestCluster(t)
	a, _ := tc.newScheduler("a")
	registerNoop(t, a, []string{"code"}, "@yearly")
	b, _ := tc.newScheduler("b", WithRemoteHTTP("example.com"))
	tc.start(a)
	tc.start(b)
	ctx := context.Background()
	err := a.Define(ctx, Definition{Name: "code", Kind: "shell", Schedule: "@hourly", Shell: &ShellSpec{Command: "true"}})
	if want := `distcron: invalid job definition: job "code": a job registered in code has this name; a definition may override only its schedule, zone and pause (no kind)`; err == nil || err.Error() != want {
		t.Errorf("Define on a code job = %v\n                   want %s", err, want)
	}
	if !errors.Is(err, ErrInvalidDefinition) || !errors.Is(err, ErrCodeJob) {
		t.Errorf("Define on a code job = %v, want ErrInvalidDefinition and ErrCodeJob", err)
	}
	if err := a.Define(ctx, Definition{Name: "hook", Kind: "http", Schedule: "@hourly", HTTP: &HTTPSpec{URL: "https://other.example.org/"}}); err != nil {
		t.Fatal(err)
	}
	var refused error
	waitFor(t, 5*time.Second, "b to refuse the job", func() bool {
		info, ok := b.JobInfo("hook")
		refused = info.Refused
		return ok && refused != nil
	})
	if want := "distcron: job kind not enabled on this instance: host not allowed: other.example.org is not in the allow-list (HTTP URL)"; refused.Error() != want {
		t.Errorf("Refused = %q\n   want %q", refused, want)
	}
	if !errors.Is(refused, ErrRefused) || !errors.Is(refused, executor.ErrHostNotAllowed) {
		t.Errorf("Refused = %v, want ErrRefused and executor.ErrHostNotAllowed", refused)
	}
	assertReadsOnce(t, refused.Error())
}

// Issue 12: an invalid name of 300 bytes was echoed whole in errors. It
// is quoted up to 64 bytes, with an ellipsis and its length.
func TestInvalidNamesAreCutShort(t *testing.T) {
	long := strings.Repeat("x/", 150)
	cut := `"` + long[:64] + `"… (300 bytes)`
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("a")
	tc.start(s)
	ctx := context.Background()
	noop := func(context.Context) error { return nil }
	// A definition stored under a long key, written into etcd directly.
	if _, err := cli.Put(ctx, s.keys.Def(long), `{"name":"other","kind":"shell","schedule":"@hourly","shell":{"command":"true"}}`); err != nil {
		t.Fatal(err)
	}
	_, newErr := New(cli, WithInstanceID(long))
	tests := []struct {
		name string
		err  func() error
		is   error
	}{
		{"New", func() error { return newErr }, ErrInvalidOption},
		{"RegisterFunc", func() error { return s.RegisterFunc(long, "@hourly", noop) }, ErrInvalidName},
		{"RegisterFunc with a nil func", func() error { return s.RegisterFunc(long, "@hourly", nil) }, ErrInvalidOption},
		{"chained job", func() error { return s.RegisterFunc("j", "@hourly", noop, OnFailure(long)) }, ErrInvalidName},
		{"Validate", func() error { return Definition{Name: long, Kind: "shell", Schedule: "@hourly"}.Validate() }, ErrInvalidDefinition},
		{"Define", func() error { return s.Define(ctx, Definition{Name: long}) }, ErrInvalidDefinition},
		{"Pause", func() error { return s.Pause(ctx, long) }, ErrInvalidName},
		{"Resume", func() error { return s.Resume(ctx, long) }, ErrInvalidName},
		{"Kill", func() error { return s.Kill(ctx, long) }, ErrInvalidName},
		{"Trigger", func() error { return s.Trigger(ctx, long) }, ErrInvalidName},
		{"Delete", func() error { return s.Delete(ctx, long+"x") }, ErrUnknownJob},
		{"Definition", func() error { _, err := s.Definition(ctx, long+"x"); return err }, ErrUnknownJob},
		{"InvalidDefinitions", func() error {
			waitFor(t, 5*time.Second, "the definition under the long key to be skipped", func() bool { return s.InvalidDefinitions()[long] != nil })
			return s.InvalidDefinitions()[long]
		}, ErrInvalidDefinition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %v", err, tt.is)
			}
			msg := err.Error()
			if strings.Contains(msg, long[:65]) || len(msg) > 300 {
				t.Errorf("error says more than 64 bytes of the name: %q", msg)
			}
			if !strings.Contains(msg, cut) && !strings.Contains(msg, `"`+long[:64]+`"… (301 bytes)`) {
				t.Errorf("error %q, want it to quote the name as %s", msg, cut)
			}
			assertReadsOnce(t, msg)
		})
	}
}

// Issue 12: Start after Stop said "scheduler already started".
func TestStartAfterStopSaysStopped(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("a")
	tc.start(s)
	if err := s.Start(context.Background()); !errors.Is(err, ErrStarted) || errors.Is(err, ErrStopped) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := s.Start(context.Background())
	if !errors.Is(err, ErrStopped) || !errors.Is(err, ErrStarted) {
		t.Fatalf("Start after Stop = %v, want ErrStopped, matching ErrStarted too", err)
	}
	if err.Error() != ErrStopped.Error() || strings.Contains(err.Error(), "already started") {
		t.Errorf("Start after Stop says %q, want %q", err, ErrStopped)
	}
	assertReadsOnce(t, err.Error())
}
