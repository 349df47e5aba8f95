package schedule

import (
	"testing"
	"time"
)

// TestPropertyYear iterates t = Next(t) for a year over many specs and
// zones and checks that the sequence is strictly increasing, never stalls,
// and that every fire matches the spec on the zone's wall clock, except a
// fixed-time fire moved to the end of a spring-forward gap that holds a
// match. A fixed-time job never fires twice at the same wall time.
func TestPropertyYear(t *testing.T) {
	specs := []string{
		"0 * * * *", "*/15 * * * *", "@hourly", "0 */2 * * *", "*/20 1-3 * * *",
		"30 2 * * *", "0 1 * * *", "30 1 * * *", "0 2 * * *", "0,30 0-3 * * *", "@daily", "@weekly", "@monthly",
		"0 9 * * MON-FRI", "0 0 */2 * MON", "0 12 1,15 * 5", "0 0 L * *", "0 3 LW * *", "0 2 * * 0L", "0 1 ? * SUN#1",
		"0 30 2 * * *", "*/20 30 1 * * *", "*/30 */20 1-3 * * *",
		"0 0 0 29 2 * *", "0 0 3 * * * 2026-2027", // not every year
	}
	sparse := map[string]bool{"0 0 0 29 2 * *": true, "0 0 3 * * * 2026-2027": true}
	zones := []string{
		"UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu",
		"Pacific/Chatham", "America/Santiago", "Antarctica/Troll", "Africa/Casablanca", "Asia/Kolkata",
	}
	year := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if testing.Short() {
		zones = zones[:4]
	}
	for _, name := range append(zones, "Pacific/Apia@2011") {
		start := year
		if name == "Pacific/Apia@2011" {
			name, start = "Pacific/Apia", time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		loc := zone(t, name)
		for _, spec := range specs {
			t.Run(name+"/"+spec, func(t *testing.T) {
				checkYear(t, mustParse(t, spec, loc), start, !sparse[spec])
			})
		}
	}
}

// checkYear checks the fires in the year from start; yearly specs must fire
// in it and never return the zero time.
func checkYear(t *testing.T, s *Spec, start time.Time, yearly bool) {
	loc := s.Location()
	utc, err := Parse(s.String(), time.UTC) // the same fields on a clock without DST
	if err != nil {
		t.Fatal(err)
	}
	matches := func(wall time.Time) bool { return utc.Next(wall.Add(-time.Second)).Equal(wall) }
	end := start.AddDate(1, 0, 0)
	firedWalls := map[time.Time]bool{}
	n := 0
	for from := start; ; n++ {
		next := s.Next(from)
		if next.IsZero() {
			if yearly {
				t.Fatalf("Next(%s) = zero time", from)
			}
			break
		}
		if !next.After(from) {
			t.Fatalf("Next(%s) = %s: not after its input", from, next)
		}
		if n > 200000 {
			t.Fatalf("more than %d fires in a year: stalled?", n)
		}
		if next.After(end) {
			break
		}
		wall := wallOf(next, loc)
		if !matches(wall) && !gapFire(s, utc, next) {
			t.Fatalf("Next(%s) = %s: wall time %s does not match and is no gap fire",
				from.In(loc).Format(time.RFC3339), next.Format(time.RFC3339), wall.Format(time.DateTime))
		}
		if !s.wildcard {
			if firedWalls[wall] {
				t.Fatalf("fixed-time job fired twice at wall time %s (second at %s)", wall.Format(time.DateTime), next.Format(time.RFC3339))
			}
			firedWalls[wall] = true
		}
		from = next
	}
	if n == 0 && yearly {
		t.Fatalf("no fire in a year")
	}
}

// gapFire reports whether next is a legitimate fixed-time fire moved to the
// end of a spring-forward gap: the offset grows at next, and some wall time
// skipped by the gap matches.
func gapFire(s, utc *Spec, next time.Time) bool {
	if s.wildcard {
		return false
	}
	_, before := next.Add(-time.Second).In(s.Location()).Zone()
	_, after := next.In(s.Location()).Zone()
	if after <= before {
		return false
	}
	gapStart := wallOf(next, time.UTC).Add(time.Duration(before) * time.Second)
	gapEnd := wallOf(next, time.UTC).Add(time.Duration(after) * time.Second)
	m := utc.Next(gapStart.Add(-time.Nanosecond))
	return !m.IsZero() && m.Before(gapEnd)
}
