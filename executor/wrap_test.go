package executor

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// execFunc is an Executor from outside the package's conventions.
type execFunc func(context.Context) Result

func (f execFunc) Execute(ctx context.Context) Result { return f(ctx) }

func TestRecover(t *testing.T) {
	e := Recover(execFunc(func(context.Context) Result { panic("in Execute") }))
	res := e.Execute(context.Background())
	var pe *PanicError
	if !errors.As(res.Err, &pe) || pe.Value != "in Execute" || !errors.Is(res.Err, ErrPanic) {
		t.Fatalf("Err = %v, want a *PanicError for %q", res.Err, "in Execute")
	}
	if !strings.Contains(string(pe.Stack), "TestRecover") {
		t.Errorf("stack does not name the panicking function:\n%s", pe.Stack)
	}
	if Recover(e) != e {
		t.Error("Recover(Recover(e)) wraps twice")
	}
	ok := Recover(execFunc(func(context.Context) Result { return Result{ExitCode: 7} })).Execute(context.Background())
	if ok.Err != nil || ok.ExitCode != 7 {
		t.Errorf("no panic: Result = %+v, want it passed through", ok)
	}
}

func TestChainOrder(t *testing.T) {
	var (
		mu    sync.Mutex
		order []string
	)
	record := func(name string) Wrapper {
		return func(e Executor) Executor {
			return execFunc(func(ctx context.Context) Result {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				return e.Execute(ctx)
			})
		}
	}
	inner := Func(func(context.Context) error {
		mu.Lock()
		order = append(order, "job")
		mu.Unlock()
		return nil
	})
	if Chain(inner) != inner {
		t.Error("Chain without wrappers does not return e")
	}
	Chain(inner, record("outer"), Recover, Timeout(time.Minute), record("inner")).Execute(context.Background())
	if got := strings.Join(order, ","); got != "outer,inner,job" {
		t.Errorf("order = %s, want outer,inner,job", got)
	}
}

func TestWithTimeout(t *testing.T) {
	e := Func(func(context.Context) error { return nil })
	for _, d := range []time.Duration{0, -time.Second} {
		if withTimeout(e, d) != e {
			t.Errorf("withTimeout(e, %v) wraps e", d)
		}
	}

	tests := []struct {
		name    string
		inner   func(ctx context.Context) Result
		wantMsg string
		wantNil bool
	}{
		{
			name:    "inner returns ctx.Err",
			inner:   func(ctx context.Context) Result { <-ctx.Done(); return Result{Err: ctx.Err(), ExitCode: 9} },
			wantMsg: "context deadline exceeded: run timed out after 10ms",
		},
		{
			name:    "inner returns its own error",
			inner:   func(ctx context.Context) Result { <-ctx.Done(); return Result{Err: errBoom, ExitCode: 9} },
			wantMsg: "boom: run timed out after 10ms: context deadline exceeded",
		},
		{
			name:    "inner succeeds late",
			inner:   func(ctx context.Context) Result { <-ctx.Done(); return Result{ExitCode: 9} },
			wantNil: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := withTimeout(execFunc(tt.inner), 10*time.Millisecond).Execute(context.Background())
			if res.ExitCode != 9 {
				t.Errorf("ExitCode = %d, want the inner 9", res.ExitCode)
			}
			if tt.wantNil {
				if res.Err != nil {
					t.Errorf("Err = %v, want nil", res.Err)
				}
				return
			}
			if !errors.Is(res.Err, context.DeadlineExceeded) || !errors.Is(res.Err, ErrTimeout) {
				t.Errorf("Err = %v, want DeadlineExceeded and ErrTimeout", res.Err)
			}
			if res.Err.Error() != tt.wantMsg {
				t.Errorf("Err = %q, want %q", res.Err, tt.wantMsg)
			}
		})
	}
}
