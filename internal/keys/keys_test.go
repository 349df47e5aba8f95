package keys

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestTickOrderIsTimeOrder(t *testing.T) {
	base := time.Date(2026, 3, 8, 6, 59, 59, 999999999, time.UTC)
	prev := Tick(base)
	for _, d := range []time.Duration{1, time.Microsecond, time.Second, time.Hour, 24 * 365 * time.Hour} {
		next := Tick(base.Add(d))
		if len(next) != len(prev) || !(next > prev) {
			t.Fatalf("Tick(%v)=%q not after %q with equal width", base.Add(d), next, prev)
		}
	}
	got, err := ParseTick(prev)
	if err != nil || !got.Equal(base) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	loc, _ := time.LoadLocation("America/New_York")
	if Tick(base.In(loc)) != prev {
		t.Fatal("Tick must not depend on the zone of its argument")
	}
}

func TestClaimsSortByTickThenJob(t *testing.T) {
	l := New("/p/")
	t1, t2 := Tick(time.Unix(100, 0)), Tick(time.Unix(101, 0))
	old := l.Claim(t1, "zzz", "s9")
	cutoff := l.ClaimsBefore(t2)
	if !(l.Claims() <= old && old < cutoff) {
		t.Fatalf("%q not in [%q, %q)", old, l.Claims(), cutoff)
	}
	if fresh := l.Claim(t2, "a", ""); fresh < cutoff {
		t.Fatalf("claim %q of the cutoff tick is inside the deleted range", fresh)
	}
}

func TestLayout(t *testing.T) {
	l := New("/distcron/app")
	if l.Claim("T", "j", "") != "/distcron/app/claims/T/j" || l.Claim("T", "j", "s1") != "/distcron/app/claims/T/j/s1" || l.RunningRun("j", "T") != "/distcron/app/running/j/T" ||
		l.Instance("i") != "/distcron/app/instances/i" || l.Leader() != "/distcron/app/leader/" {
		t.Fatalf("unexpected layout: %+v", l)
	}
}

// Tick formats by hand; it must agree with time.Format of TickLayout for
// every instant, in any zone, at the edges of the years it handles itself
// and beyond them.
func TestTickIsTheLayoutsFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	zones := []*time.Location{time.UTC, time.FixedZone("x", 13*3600+2700), time.FixedZone("y", -11*3600)}
	instants := []time.Time{
		{}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 1, time.UTC),
		time.Date(2024, 2, 29, 12, 0, 0, 5, time.UTC), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for range 20000 {
		instants = append(instants, time.Unix(rng.Int64N(400_000_000_000)-62_000_000_000, rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))]))
	}
	for _, at := range instants {
		if got, want := Tick(at), at.UTC().Format(TickLayout); got != want {
			t.Fatalf("Tick(%v) = %q, want %q", at, got, want)
		}
	}
}
