package executor

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

var errBoom = errors.New("boom")

func TestFunc(t *testing.T) {
	tests := []struct {
		name      string
		f         func(context.Context) error
		wantIs    error // nil: want success
		wantInMsg []string
	}{
		{name: "success", f: func(context.Context) error { return nil }},
		{name: "error", f: func(context.Context) error { return errBoom }, wantIs: errBoom, wantInMsg: []string{"boom"}},
		{
			name:      "panic",
			f:         func(context.Context) error { panic("kaboom") },
			wantIs:    ErrPanic,
			wantInMsg: []string{"distcron: panic: kaboom", "goroutine ", "executor.TestFunc", "func_test.go"},
		},
		{
			name: "runtime panic",
			f: func(context.Context) error {
				var m map[string]int
				//lint:ignore SA5000 the panic is the point of the test
				m["x"] = 1
				return nil
			},
			wantIs:    ErrPanic,
			wantInMsg: []string{"assignment to entry in nil map"},
		},
		{name: "panic nil", f: func(context.Context) error { panic(nil) }, wantIs: ErrPanic},
		{name: "nil func", wantIs: nil, wantInMsg: []string{"nil func"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Func(tt.f).Execute(context.Background())
			if res.ExitCode != 0 || res.Output != nil {
				t.Errorf("ExitCode, Output = %d, %q; want 0, nil", res.ExitCode, res.Output)
			}
			if tt.wantIs == nil && len(tt.wantInMsg) == 0 {
				if res.Err != nil {
					t.Fatalf("Err = %v, want nil", res.Err)
				}
				return
			}
			if res.Err == nil {
				t.Fatal("Err = nil, want an error")
			}
			if tt.wantIs != nil && !errors.Is(res.Err, tt.wantIs) {
				t.Errorf("Err = %v, want it to match %v", res.Err, tt.wantIs)
			}
			for _, s := range tt.wantInMsg {
				if !strings.Contains(res.Err.Error(), s) {
					t.Errorf("Err = %q, want it to contain %q", res.Err, s)
				}
			}
		})
	}
}

func TestFuncPanicError(t *testing.T) {
	res := Func(func(context.Context) error { panic(errBoom) }).Execute(context.Background())
	var pe *PanicError
	if !errors.As(res.Err, &pe) {
		t.Fatalf("Err = %T %v, want *PanicError", res.Err, res.Err)
	}
	if pe.Value != errBoom {
		t.Errorf("Value = %v, want %v", pe.Value, errBoom)
	}
	if !strings.Contains(string(pe.Stack), "TestFuncPanicError") {
		t.Errorf("Stack does not name the panicking function:\n%s", pe.Stack)
	}

	var re runtime.Error
	res = Func(func(context.Context) error {
		var p *PanicError
		_ = p.Value
		return nil
	}).Execute(context.Background())
	if !errors.As(res.Err, &pe) || !errors.As(pe.Value.(error), &re) {
		t.Errorf("nil dereference: Err = %v, want a *PanicError holding a runtime.Error", res.Err)
	}
}

func TestFuncContext(t *testing.T) {
	gaveUp := func(ctx context.Context) error {
		<-ctx.Done()
		return errors.New("gave up")
	}
	cause := errors.New("replaced by a newer run")
	tests := []struct {
		name    string
		f       func(context.Context) error
		timeout time.Duration                              // for WithTimeout
		ctx     func(*testing.T) (context.Context, func()) // the func is called once f runs
		wantIs  []error
		wantNot []error
		wantMsg []string // substrings
		wantNil bool
	}{
		{
			name:    "cancel",
			f:       gaveUp,
			ctx:     cancelCtx,
			wantIs:  []error{context.Canceled},
			wantNot: []error{context.DeadlineExceeded},
			wantMsg: []string{"gave up: context canceled"},
		},
		{
			name: "cancel cause",
			f:    gaveUp,
			ctx: func(t *testing.T) (context.Context, func()) {
				ctx, cancel := context.WithCancelCause(context.Background())
				t.Cleanup(func() { cancel(nil) })
				return ctx, func() { cancel(cause) }
			},
			wantIs:  []error{context.Canceled, cause},
			wantMsg: []string{"gave up: context canceled: replaced by a newer run"},
		},
		{
			name:    "returns ctx.Err",
			f:       func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
			ctx:     cancelCtx,
			wantIs:  []error{context.Canceled},
			wantMsg: []string{"context canceled"},
		},
		{
			name:    "timeout",
			f:       gaveUp,
			timeout: 20 * time.Millisecond,
			ctx:     backgroundCtx,
			wantIs:  []error{context.DeadlineExceeded, ErrTimeout},
			wantNot: []error{context.Canceled},
			wantMsg: []string{"gave up: run timed out after 20ms: context deadline exceeded"},
		},
		{
			name:    "parent deadline",
			f:       gaveUp,
			timeout: time.Hour,
			ctx: func(t *testing.T) (context.Context, func()) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				t.Cleanup(cancel)
				return ctx, func() {}
			},
			wantIs:  []error{context.DeadlineExceeded},
			wantNot: []error{ErrTimeout},
		},
		{
			name:    "success after cancel",
			f:       func(ctx context.Context) error { <-ctx.Done(); return nil },
			ctx:     cancelCtx,
			wantNil: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, stop := tt.ctx(t)
			started := make(chan struct{})
			e := withTimeout(Func(func(ctx context.Context) error {
				close(started)
				return tt.f(ctx)
			}), tt.timeout)
			done := make(chan Result)
			go func() { done <- e.Execute(ctx) }()
			<-started
			stop()
			res := <-done
			if tt.wantNil {
				if res.Err != nil {
					t.Fatalf("Err = %v, want nil", res.Err)
				}
				return
			}
			if res.Err == nil {
				t.Fatal("Err = nil")
			}
			for _, target := range tt.wantIs {
				if !errors.Is(res.Err, target) {
					t.Errorf("Err = %q, want it to match %q", res.Err, target)
				}
			}
			for _, target := range tt.wantNot {
				if errors.Is(res.Err, target) {
					t.Errorf("Err = %q, want it not to match %q", res.Err, target)
				}
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(res.Err.Error(), s) {
					t.Errorf("Err = %q, want it to contain %q", res.Err, s)
				}
			}
		})
	}
}

func cancelCtx(t *testing.T) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}

// backgroundCtx is not canceled by the test: a wrapper's timeout ends the run.
func backgroundCtx(*testing.T) (context.Context, func()) { return context.Background(), func() {} }

func TestFuncNotStartedWhenDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	res := Func(func(context.Context) error { called = true; return nil }).Execute(ctx)
	if called {
		t.Error("f was called with a done context")
	}
	if !errors.Is(res.Err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", res.Err)
	}
}
