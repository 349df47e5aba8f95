package errtext

import (
	"context"
	"errors"
	"strings"
	"testing"
)

var (
	errA = errors.New("distcron: a failed")
	errB = errors.New("distcron: b failed")
)

func TestErrorf(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
		is   []error
	}{
		{Errorf("%w: %w", errA, errB), "distcron: a failed: b failed", []error{errA, errB}},
		{Errorf("%w: job %q", errA, "x"), `distcron: a failed: job "x"`, []error{errA}},
		{Errorf("distcron: step %q: %w", "s", errA), `distcron: step "s": a failed`, []error{errA}},
		{Errorf("%w: %w", context.Canceled, errB), "context canceled: b failed", []error{context.Canceled, errB}},
		{Errorf("%v then %w", errA, errB), "distcron: a failed then b failed", []error{errB}},
		{Errorf("100%% %w", errA), "100% a failed", []error{errA}},
		{Errorf("plain %d", 1), "plain 1", nil},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("message %q, want %q", got, tt.want)
		}
		for _, e := range tt.is {
			if !errors.Is(tt.err, e) {
				t.Errorf("%q does not match %v", tt.err, e)
			}
		}
	}
	if errors.Is(Errorf("%v then %w", errA, errB), errA) {
		t.Errorf("a %%v operand is wrapped")
	}
	if errors.Unwrap(Errorf("x: %w", errA)) != errA {
		t.Error("one wrapped operand: errors.Unwrap does not return it")
	}
}

func TestWrapAlsoNested(t *testing.T) {
	w := Wrap("custom", errA, errB)
	if w.Error() != "custom" || !errors.Is(w, errA) || !errors.Is(w, errB) {
		t.Errorf("Wrap = %q", w)
	}
	a := Also(errA, context.Canceled)
	if a.Error() != errA.Error() || !errors.Is(a, errA) || !errors.Is(a, context.Canceled) {
		t.Errorf("Also = %q", a)
	}
	n := Nested(errA)
	if n.Error() != "a failed" || !errors.Is(n, errA) {
		t.Errorf("Nested = %q", n)
	}
}

func TestStrip(t *testing.T) {
	err := errors.New(`distcron: invalid option: job "x": shards 0`)
	for _, tt := range []struct {
		leads []string
		want  string
	}{
		{nil, `invalid option: job "x": shards 0`},
		{[]string{"invalid option"}, `job "x": shards 0`},
		{[]string{`job "x"`, "invalid option"}, "shards 0"},
		{[]string{"shards 0"}, `invalid option: job "x": shards 0`}, // only parts followed by ": "
	} {
		if got := Strip(err, tt.leads...); got != tt.want {
			t.Errorf("Strip(%q) = %q, want %q", tt.leads, got, tt.want)
		}
	}
}

func TestName(t *testing.T) {
	if got := Name("job-1"); got != `"job-1"` {
		t.Errorf("short: %s", got)
	}
	exact := strings.Repeat("a", MaxName)
	if got := Name(exact); got != `"`+exact+`"` {
		t.Errorf("MaxName bytes: %s", got)
	}
	long := strings.Repeat("x/", 150)
	if got, want := Name(long), `"`+long[:MaxName]+`"… (300 bytes)`; got != want {
		t.Errorf("long: %s, want %s", got, want)
	}
	// A cut never splits a character: 63 bytes, then a 2-byte é at 63-64.
	accent := strings.Repeat("a", MaxName-1) + strings.Repeat("é", 10)
	if got, want := Name(accent), `"`+strings.Repeat("a", MaxName-1)+`"… (83 bytes)`; got != want {
		t.Errorf("UTF-8: %s, want %s", got, want)
	}
	if got := Name("a\x00\n"); got != `"a\x00\n"` {
		t.Errorf("control bytes: %s", got)
	}
}
