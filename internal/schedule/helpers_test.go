package schedule

import (
	"testing"
	"time"
	_ "time/tzdata" // hermetic zone data for the DST tests
)

// zone loads an IANA zone or fails the test.
func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

// mustParse parses spec or fails the test.
func mustParse(t testing.TB, spec string, loc *time.Location) *Spec {
	t.Helper()
	s, err := Parse(spec, loc)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	return s
}

// at parses an RFC 3339 time (nanoseconds allowed) or fails the test.
func at(t testing.TB, v string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		t.Fatalf("time.Parse(%q): %v", v, err)
	}
	return ts
}

// fires returns the next n fire instants after from, formatted as RFC 3339
// in the schedule's zone, checking that each is strictly after the last.
// It is safe to call from any goroutine.
func fires(t testing.TB, s Schedule, from time.Time, n int) []string {
	t.Helper()
	var out []string
	for range n {
		next := s.Next(from)
		if next.IsZero() {
			out = append(out, "never")
			break
		}
		if !next.After(from) {
			t.Errorf("Next(%s) = %s, not after its input", from, next)
			break
		}
		out = append(out, next.Format(time.RFC3339Nano))
		from = next
	}
	return out
}

// equal compares two sequences, reporting both in full on a difference.
func equal(t testing.TB, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got  %q\nwant %q", got, want)
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("fire %d: got %s, want %s\ngot  %q\nwant %q", i, got[i], want[i], got, want)
			return
		}
	}
}
