package schedule

import (
	"os"
	"strings"
	"testing"
	"time"
)

// oracleZones are zones with unusual transitions: 30-minute and 2-hour
// shifts, transitions at midnight, negative DST, a skipped day (Apia 2011),
// Ramadan suspensions (Casablanca), and no DST at all.
var oracleZones = []string{
	"America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kathmandu",
	"America/Santiago", "Pacific/Chatham", "America/St_Johns", "Pacific/Apia",
	"Africa/Casablanca", "Europe/Dublin", "America/Havana", "Antarctica/Troll",
	"Australia/Sydney",
}

// oracleSpecs are 5-field specs: fixed-time first, then wildcard.
var oracleSpecs = []string{
	"30 2 * * *", "0 1 * * *", "30 1 * * *", "0 0 * * *", "45 23 * * *",
	"0,30 0-3 * * *", "15 3 * * 0", "0 2 * * *",
	"0 * * * *", "*/15 * * * *", "*/7 * * * *", "30 * * * *", "0 */3 * * *", "*/10 1-3 * * *", "@hourly",
}

// TestDSTOracle checks Next against a brute-force model of cronie: step a
// real clock minute by minute around every transition and apply the DST
// rule literally. The model matches fields with the same spec in UTC
// (checked against cronexpr by TestNextMatchesCronexpr).
func TestDSTOracle(t *testing.T) {
	windows := 0
	for _, name := range oracleZones {
		loc := zone(t, name)
		for _, tr := range transitions(loc, time.Date(2011, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2012, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)) {
			windows++
			from, to := tr.Add(-3*time.Hour), tr.Add(3*time.Hour)
			for _, spec := range oracleSpecs {
				s := mustParse(t, spec, loc)
				want := oracle(t, spec, s.wildcard, loc, from, to)
				var got []string
				for next := s.Next(from); !next.IsZero() && !next.After(to); next = s.Next(next) {
					got = append(got, next.Format(time.RFC3339))
				}
				if !sameStrings(got, want) {
					t.Errorf("%s %q from %s:\n got %q\nwant %q", name, spec, from.In(loc).Format(time.RFC3339), got, want)
				}
			}
		}
	}
	t.Logf("%d transitions", windows)
	if windows < 40 {
		t.Fatalf("only %d transitions found: zone data missing?", windows)
	}
}

// oracle lists the fires of spec in (from, to] by the cronie rule, stepping
// minute by minute. from must be on a whole minute.
func oracle(t *testing.T, spec string, wildcard bool, loc *time.Location, from, to time.Time) []string {
	utc := mustParse(t, spec, time.UTC)
	match := func(wall time.Time) bool { return utc.Next(wall.Add(-time.Second)).Equal(wall) }
	seen := map[time.Time]bool{}
	prev := wallOf(from, loc)
	seen[prev] = true
	var out []string
	for x := from.Add(time.Minute); !x.After(to); x = x.Add(time.Minute) {
		cur := wallOf(x, loc)
		fire := match(cur) && (wildcard || !seen[cur]) // fixed-time: first occurrence only
		if !wildcard && cur.Sub(prev) > time.Minute {  // a gap: fixed-time jobs fire once after it
			for w := prev.Add(time.Minute); w.Before(cur) && !fire; w = w.Add(time.Minute) {
				fire = match(w)
			}
		}
		seen[cur] = true
		if fire {
			out = append(out, x.In(loc).Format(time.RFC3339))
		}
		prev = cur
	}
	return out
}

// wallOf returns the wall-clock reading of x in loc as a UTC time.
func wallOf(x time.Time, loc *time.Location) time.Time {
	l := x.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// transitions lists the instants in the given [from, to) ranges where loc
// changes its UTC offset.
func transitions(loc *time.Location, ranges ...time.Time) []time.Time {
	var out []time.Time
	for i := 0; i+1 < len(ranges); i += 2 {
		for t := ranges[i].In(loc); t.Before(ranges[i+1]); {
			_, end := t.ZoneBounds()
			if end.IsZero() || !end.Before(ranges[i+1]) {
				break
			}
			_, before := end.Add(-time.Second).Zone()
			if _, after := end.Zone(); after != before {
				out = append(out, end)
			}
			t = end
		}
	}
	return out
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDSTOracleAllZones runs the oracle over every zone in the system's
// zone1970.tab, around each offset change in 2020-2030, with one
// fixed-time and one wildcard spec at each hour and half hour a transition
// can touch.
func TestDSTOracleAllZones(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	tab, err := os.ReadFile("/usr/share/zoneinfo/zone1970.tab")
	if err != nil {
		t.Skipf("no zone list: %v", err)
	}
	specs := []string{"0,30 * * * *", "0,30 0-3,22-23 * * *", "*/20 * * * *"}
	count := 0
	for line := range strings.Lines(string(tab)) {
		cols := strings.Fields(line)
		if len(cols) < 3 || strings.HasPrefix(cols[0], "#") {
			continue
		}
		loc, err := time.LoadLocation(cols[2])
		if err != nil {
			continue
		}
		for _, tr := range transitions(loc, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)) {
			count++
			from, to := tr.Add(-3*time.Hour), tr.Add(3*time.Hour)
			for _, spec := range specs {
				s := mustParse(t, spec, loc)
				want := oracle(t, spec, s.wildcard, loc, from, to)
				var got []string
				for next := s.Next(from); !next.IsZero() && !next.After(to); next = s.Next(next) {
					got = append(got, next.Format(time.RFC3339))
				}
				if !sameStrings(got, want) {
					t.Errorf("%s %q from %s:\n got %q\nwant %q", cols[2], spec, from.In(loc).Format(time.RFC3339), got, want)
				}
			}
		}
	}
	t.Logf("%d transitions", count)
}
