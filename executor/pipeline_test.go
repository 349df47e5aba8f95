package executor

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// resultStep returns a Step whose Executor counts its runs and returns res.
func resultStep(name string, res Result, runs *atomic.Int64) Step {
	return Step{Name: name, Exec: execFunc(func(context.Context) Result {
		runs.Add(1)
		return res
	})}
}

func stepNames(steps []StepResult) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.Name
	}
	return strings.Join(names, ",")
}

func TestPipelineAllSucceed(t *testing.T) {
	t.Parallel()
	var a, b, c atomic.Int64
	p, err := NewPipeline(
		resultStep("a", Result{ExitCode: 0, Output: []byte("out a")}, &a),
		resultStep("b", Result{ExitCode: 0}, &b),
		resultStep("c", Result{ExitCode: 0, Output: []byte("out c")}, &c),
	)
	if err != nil {
		t.Fatal(err)
	}
	res := p.Execute(context.Background())
	if res.Err != nil || res.ExitCode != 0 || string(res.Output) != "out c" {
		t.Fatalf("Result = %v, %d, %q; want nil, 0, the last step's output", res.Err, res.ExitCode, res.Output)
	}
	if stepNames(res.Steps) != "a,b,c" || a.Load() != 1 || b.Load() != 1 || c.Load() != 1 {
		t.Fatalf("Steps = %s, runs %d,%d,%d; want a,b,c once each", stepNames(res.Steps), a.Load(), b.Load(), c.Load())
	}
	if string(res.Steps[0].Result.Output) != "out a" {
		t.Errorf("Steps[0].Output = %q", res.Steps[0].Result.Output)
	}
	for i, s := range res.Steps {
		if s.Started.IsZero() || s.Finished.Before(s.Started) {
			t.Errorf("step %s: Started %v, Finished %v", s.Name, s.Started, s.Finished)
		}
		if i > 0 && s.Started.Before(res.Steps[i-1].Finished) {
			t.Errorf("step %s started before step %s finished", s.Name, res.Steps[i-1].Name)
		}
	}
}

func TestPipelineStopsAtFailure(t *testing.T) {
	t.Parallel()
	var first, third atomic.Int64
	p := Pipeline(
		resultStep("fetch", Result{Output: []byte("fetched")}, &first),
		Step{Name: "load", Exec: Func(func(context.Context) error { return errBoom })},
		resultStep("report", Result{}, &third),
	)
	res := p.Execute(context.Background())
	if third.Load() != 0 {
		t.Errorf("the step after the failing one ran %d times", third.Load())
	}
	if len(res.Steps) != 2 || stepNames(res.Steps) != "fetch,load" {
		t.Fatalf("Steps = %s, want fetch,load", stepNames(res.Steps))
	}
	if res.Steps[0].Result.Err != nil || !errors.Is(res.Steps[1].Result.Err, errBoom) {
		t.Errorf("step errors = %v, %v; want nil, boom", res.Steps[0].Result.Err, res.Steps[1].Result.Err)
	}
	var se *StepError
	if !errors.As(res.Err, &se) || se.Step != "load" || se.Index != 1 || !errors.Is(res.Err, errBoom) {
		t.Fatalf("Err = %v, want a *StepError for load (index 1) wrapping boom", res.Err)
	}
	if want := `distcron: pipeline step "load": boom`; res.Err.Error() != want {
		t.Errorf("Err = %q, want %q", res.Err, want)
	}
	if res.ExitCode != 0 || res.Output != nil {
		t.Errorf("ExitCode, Output = %d, %q; want the failing step's 0, nil", res.ExitCode, res.Output)
	}
}

func TestPipelineCancelMidStep(t *testing.T) {
	t.Parallel()
	var after atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inStep := make(chan struct{})
	p := Pipeline(
		Step{Name: "quick", Exec: Func(func(context.Context) error { return nil })},
		Step{Name: "wait", Exec: Func(func(ctx context.Context) error {
			close(inStep)
			<-ctx.Done()
			return errors.New("interrupted")
		})},
		resultStep("after", Result{}, &after),
	)
	go func() { <-inStep; cancel() }()
	res := p.Execute(ctx)
	if !errors.Is(res.Err, context.Canceled) || after.Load() != 0 {
		t.Fatalf("Err = %v, after ran %d times; want Canceled, 0", res.Err, after.Load())
	}
	var se *StepError
	if !errors.As(res.Err, &se) || se.Step != "wait" {
		t.Errorf("Err = %v, want a *StepError for wait", res.Err)
	}
	if stepNames(res.Steps) != "quick,wait" {
		t.Errorf("Steps = %s, want quick,wait", stepNames(res.Steps))
	}
}

func TestPipelineContextDoneBetweenSteps(t *testing.T) {
	t.Parallel()
	var second atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	p := Pipeline(
		Step{Name: "first", Exec: execFunc(func(context.Context) Result {
			cancel() // the run is killed just as the step ends
			return Result{ExitCode: 4, Output: []byte("x")}
		})},
		resultStep("second", Result{}, &second),
	)
	res := p.Execute(ctx)
	if !errors.Is(res.Err, context.Canceled) || second.Load() != 0 || stepNames(res.Steps) != "first" {
		t.Fatalf("Result = %v, Steps %s, second ran %d; want Canceled, first, 0", res.Err, stepNames(res.Steps), second.Load())
	}
	if want := `distcron: pipeline stopped before step "second": context canceled`; res.Err.Error() != want {
		t.Errorf("Err = %q, want %q", res.Err, want)
	}
	if res.ExitCode != 4 || string(res.Output) != "x" {
		t.Errorf("ExitCode, Output = %d, %q; want the first step's", res.ExitCode, res.Output)
	}

	// Already done: nothing starts.
	var first atomic.Int64
	res = Pipeline(resultStep("first", Result{}, &first)).Execute(ctx)
	if !errors.Is(res.Err, context.Canceled) || first.Load() != 0 || len(res.Steps) != 0 || res.ExitCode != -1 {
		t.Errorf("Result = %v, %d, Steps %s, ran %d; want Canceled, -1, none, 0",
			res.Err, res.ExitCode, stepNames(res.Steps), first.Load())
	}
}

func TestPipelinePanicInStep(t *testing.T) {
	t.Parallel()
	res := Pipeline(Step{Name: "bad", Exec: execFunc(func(context.Context) Result { panic("oops") })}).
		Execute(context.Background())
	var se *StepError
	if !errors.Is(res.Err, ErrPanic) || !errors.As(res.Err, &se) || se.Step != "bad" || len(res.Steps) != 1 {
		t.Errorf("Err = %v, Steps %s; want a panic in step bad", res.Err, stepNames(res.Steps))
	}
}

func TestPipelineValidation(t *testing.T) {
	t.Parallel()
	ok := Func(func(context.Context) error { return nil })
	tests := []struct {
		name  string
		steps []Step
		msg   string
	}{
		{name: "none", msg: "pipeline has no steps"},
		{name: "no name", steps: []Step{{Name: "a", Exec: ok}, {Exec: ok}}, msg: "pipeline step 2 has no name"},
		{name: "duplicate", steps: []Step{{Name: "a", Exec: ok}, {Name: "a", Exec: ok}}, msg: `step name "a" is used twice`},
		{name: "nil exec", steps: []Step{{Name: "a"}}, msg: `step "a" has a nil Exec`},
		{name: "invalid HTTP", steps: []Step{{Name: "call", Exec: &HTTP{URL: "ftp://x/"}}},
			msg: `distcron: invalid executor: pipeline step "call": HTTP: URL scheme "ftp"`},
		{name: "foreign validator", steps: []Step{{Name: "v", Exec: validatingExec{errBoom}}},
			msg: `distcron: invalid executor: pipeline step "v": boom`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPipeline(tt.steps...)
			if p != nil || err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("NewPipeline = %v, %v; want nil and ErrInvalid containing %q", p, err, tt.msg)
			}
			res := Pipeline(tt.steps...).Execute(context.Background())
			if res.Err == nil || res.Err.Error() != err.Error() || res.ExitCode != -1 || len(res.Steps) != 0 {
				t.Errorf("Pipeline.Execute = %v, %d, %d steps; want the NewPipeline error, -1, none",
					res.Err, res.ExitCode, len(res.Steps))
			}
		})
	}

	// The steps slice is copied.
	steps := []Step{{Name: "a", Exec: ok}}
	p := Pipeline(steps...)
	steps[0] = Step{}
	if res := p.Execute(context.Background()); res.Err != nil || stepNames(res.Steps) != "a" {
		t.Errorf("after changing the caller's slice: %v, %s", res.Err, stepNames(res.Steps))
	}
}

type validatingExec struct{ err error }

func (v validatingExec) Validate() error                { return v.err }
func (v validatingExec) Execute(context.Context) Result { return Result{} }

func TestPipelineHTTPStep(t *testing.T) {
	t.Parallel()
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusBadGateway)
		}
		io.WriteString(w, "from "+r.URL.Path)
	})
	var last atomic.Int64
	res := Pipeline(
		Step{Name: "ping", Exec: &HTTP{URL: srv.URL + "/ping"}},
		Step{Name: "notify", Exec: &HTTP{Method: "POST", URL: srv.URL + "/fail"}},
		resultStep("never", Result{}, &last),
	).Execute(context.Background())
	if !errors.Is(res.Err, ErrHTTPStatus) || res.ExitCode != http.StatusBadGateway || string(res.Output) != "from /fail" {
		t.Errorf("Result = %v, %d, %q; want ErrHTTPStatus, 502, the body", res.Err, res.ExitCode, res.Output)
	}
	if hits.Load() != 2 || last.Load() != 0 || stepNames(res.Steps) != "ping,notify" || res.Steps[0].Result.ExitCode != 200 {
		t.Errorf("hits %d, last ran %d, Steps %s", hits.Load(), last.Load(), stepNames(res.Steps))
	}
}

func TestPipelineConcurrent(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	p := Pipeline(resultStep("a", Result{}, &n), resultStep("b", Result{}, &n))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if res := p.Execute(context.Background()); res.Err != nil || len(res.Steps) != 2 {
				t.Errorf("Result = %v, %d steps", res.Err, len(res.Steps))
			}
		})
	}
	wg.Wait()
	if n.Load() != 16 {
		t.Errorf("%d step runs, want 16", n.Load())
	}
}
