package schedule

import "time"

// This file maps matching wall-clock times to instants under the cronie DST
// rule (see the package doc). It walks the zone's periods of constant UTC
// offset, starting with the one holding from. Inside a period wall time and
// instant differ by a constant, so the first match there is firstMatch
// shifted by the offset. At a period's end:
//
//   - spring forward (offset grows): the wall times [end+o, end+o') never
//     happen. A fixed-time job matching one of them fires once, at end; a
//     wildcard job just continues in the next period.
//   - fall back (offset shrinks): the wall times [start+o, start+o') of the
//     new period already happened in the previous one. A wildcard job fires
//     in both; a fixed-time job skips them in the new period.
//
// cronexpr never sees any of this, and is never handed a zone's time.

// maxShift bounds the difference between any two UTC offsets a zone ever
// uses (real ones stay within 26 hours).
const maxShift = 2 * secondsPerDay

// Instants before minUnix have wall times before 1970 in every zone, and
// instants from maxUnix on have wall times from 2100 on: no match either way.
var (
	minUnix = minWall - maxShift
	maxUnix = endWall + maxShift
)

// maxPeriods bounds the zone periods one Next walks through; DST zones have
// two a year, so it only guards against pathological zone data.
const maxPeriods = 1000

// nextCron returns the first fire instant of a cron spec strictly after from.
func (s *Spec) nextCron(from time.Time) time.Time {
	loc := s.Location()
	t := from.Unix() // from rounded down to the second
	if t >= maxUnix {
		return time.Time{}
	}
	inclusive := false // may the result equal t? (only once t is past from)
	if t < minUnix {
		t, inclusive = minUnix, true
	}

	if s.fixedZone { // UTC or a fixed offset: wall time = instant + offset
		w := t + s.offset
		if !inclusive {
			w++
		}
		m, ok := s.firstMatch(w)
		if !ok {
			return time.Time{}
		}
		return time.Unix(m-s.offset, 0).In(loc)
	}

	for range maxPeriods {
		o := offsetAt(t, loc)
		start, end := zoneBounds(t, loc)

		lo := t + o // earliest wall time to consider in this period
		if !inclusive {
			lo++
		}
		if !s.wildcard && !start.IsZero() {
			// Fall back: a fixed-time job already ran at the wall times this
			// period repeats from the previous one.
			if st := start.Unix(); lo < st+o+maxShift {
				if prev := offsetAt(st-1, loc); prev > o {
					lo = max(lo, st+prev)
				}
			}
		}

		m, ok := s.firstMatch(lo)
		if end.IsZero() { // the last period: it never ends
			if !ok {
				return time.Time{}
			}
			return time.Unix(m-o, 0).In(loc)
		}
		e := end.Unix()
		if ok && m < e+o {
			return time.Unix(m-o, 0).In(loc)
		}
		if !ok {
			// Only a later period that turns the clock back could still
			// match, and only at wall times shortly before lo.
			if _, again := s.firstMatch(lo - maxShift); !again {
				return time.Time{}
			}
		}
		// Spring forward: a fixed-time job due in the gap fires once, at the
		// first instant after it (end), however many matches the gap held.
		if ok && !s.wildcard && m < e+offsetAt(e, loc) {
			return end
		}
		t, inclusive = e, true
	}
	return time.Time{}
}

// zoneBounds returns the bounds of the period of loc holding unix second
// t, as time.Time.ZoneBounds does, but with t < end always (end is zero
// when the period never ends). ZoneBounds reports, for the last day of a
// leap year in the years zone data extends by its rule (2040, 2044, ...),
// the period that ended a day before; that day keeps the offset of the
// days around it, so the period found a day later stands in for it, cut
// at its start, which is a boundary without a change of offset.
func zoneBounds(t int64, loc *time.Location) (start, end time.Time) {
	start, end = time.Unix(t, 0).In(loc).ZoneBounds()
	for probe := t; !end.IsZero() && end.Unix() <= t && probe-t < 7*secondsPerDay; {
		probe += secondsPerDay
		var s2 time.Time
		s2, end = time.Unix(probe, 0).In(loc).ZoneBounds()
		if s2.Unix() > t {
			end = s2
		}
	}
	if !end.IsZero() && end.Unix() <= t {
		end = time.Time{} // zone data this wrong: treat the offset as final
	}
	return start, end
}

// offsetAt returns the UTC offset in seconds of loc at unix second sec.
func offsetAt(sec int64, loc *time.Location) int64 {
	_, off := time.Unix(sec, 0).In(loc).Zone()
	return int64(off)
}

// zoneIsFixed reports whether loc keeps one UTC offset over every instant
// Next can return, and which. Zone data may hold transitions that change
// nothing (such as the 2038 end of a zoneinfo file), so it compares offsets
// rather than looking for transitions.
func zoneIsFixed(loc *time.Location) (bool, int64) {
	if loc == time.UTC {
		return true, 0
	}
	t := int64(minUnix)
	first := offsetAt(t, loc)
	for range maxPeriods * 2 {
		if offsetAt(t, loc) != first {
			return false, 0
		}
		_, end := zoneBounds(t, loc)
		if end.IsZero() || end.Unix() >= maxUnix {
			return true, first
		}
		t = end.Unix()
	}
	return false, 0
}
