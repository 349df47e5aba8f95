package schedule

import (
	"slices"
	"testing"
	"time"
)

// Issue 12: in zones with DST every cron schedule stopped after 2040 (Go's
// ZoneBounds misreports the last day of leap years that zone data extends
// by rule). TestNextOverTheWholeRange follows Next from 1970 to 2099 in DST
// zones and compares every fire with a brute-force reference: each day,
// each wall time the spec matches (as the same spec in UTC says), mapped
// to the instants that show that wall time in the zone, found by probing
// offsets, not by walking zone periods, then the cronie DST rule.
func TestNextOverTheWholeRange(t *testing.T) {
	zones := []string{"America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago", "Pacific/Chatham", "Asia/Tokyo"}
	specs := []struct {
		spec  string
		times [][2]int // hour, minute of each wall time the spec can match in a day
	}{
		{"0 0 29 2 *", [][2]int{{0, 0}}},
		{"0 12 1 1 *", [][2]int{{12, 0}}},
		{"30 2 * * *", [][2]int{{2, 30}}},
		{"0 1 * * 0", [][2]int{{1, 0}}},
		{"0 0 * * *", [][2]int{{0, 0}}},
		{"0 */6 1,15 * *", [][2]int{{0, 0}, {6, 0}, {12, 0}, {18, 0}}},
	}
	if testing.Short() {
		zones, specs = zones[:2], specs[:3]
	}
	first := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay
	last := time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay
	for _, name := range zones {
		loc := zone(t, name)
		for _, sp := range specs {
			s := mustParse(t, sp.spec, loc)
			utc := mustParse(t, sp.spec, time.UTC)
			var want []int64
			for day := first; day <= last; day++ {
				for _, hm := range sp.times {
					w := day*secondsPerDay + int64(hm[0])*3600 + int64(hm[1])*60
					if utc.Next(time.Unix(w-1, 0)).Unix() != w {
						continue
					}
					instants := instantsShowing(w, loc)
					switch {
					case len(instants) == 0 && !s.wildcard:
						want = append(want, firstInstantAfterWall(w, loc)) // in a gap: once, after it
					case len(instants) > 0 && !s.wildcard:
						want = append(want, instants[0]) // repeated: the first only
					default:
						want = append(want, instants...)
					}
				}
			}
			slices.Sort(want)
			want = slices.Compact(want)

			from := time.Date(1969, 12, 31, 0, 0, 0, 0, loc)
			var got []int64
			for next := s.Next(from); !next.IsZero(); next = s.Next(next) {
				got = append(got, next.Unix())
				if len(got) > len(want)+1 {
					break
				}
			}
			if !slices.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				show := func(v []int64) string {
					if i < len(v) {
						return time.Unix(v[i], 0).In(loc).Format(time.RFC3339)
					}
					return "(none)"
				}
				t.Errorf("%s %q: %d fires, want %d; first difference at fire %d: got %s, want %s",
					name, sp.spec, len(got), len(want), i, show(got), show(want))
			} else if len(got) == 0 {
				t.Errorf("%s %q: no fires at all", name, sp.spec)
			}
		}
	}
}

// instantsShowing returns, sorted, the unix seconds at which loc's clock
// shows wall time w (seconds of a clock without zone): none in a gap, two
// in a repeated hour. It tries every offset loc uses within two days.
func instantsShowing(w int64, loc *time.Location) []int64 {
	var out []int64
	for d := int64(-2); d <= 2; d++ {
		o := offsetAt(w+d*secondsPerDay, loc)
		if i := w - o; offsetAt(i, loc) == o && !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// firstInstantAfterWall returns the first instant at which loc's clock
// shows a wall time after w, found by bisection on instants.
func firstInstantAfterWall(w int64, loc *time.Location) int64 {
	wallAt := func(i int64) int64 { return i + offsetAt(i, loc) }
	lo, hi := w-maxShift, w+maxShift // wallAt(lo) <= w < wallAt(hi)
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if wallAt(mid) > w {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}
