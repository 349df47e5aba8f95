package schedule

import "math/bits"

// This file finds matching wall-clock times. It knows nothing of zones:
// its input and output are wall-clock seconds (see civil.go), and dst.go
// maps them to instants.

var (
	minWall = daysFromCivil(minYear, 1, 1) * secondsPerDay   // 1970-01-01T00:00:00
	endWall = daysFromCivil(maxYear+1, 1, 1) * secondsPerDay // 2100-01-01T00:00:00
)

// firstMatch returns the first wall time at or after w whose fields all
// match the spec, or false if there is none before 2100.
func (s *Spec) firstMatch(w int64) (int64, bool) {
	if w >= endWall {
		return 0, false
	}
	w = max(w, minWall)
	z := floorDiv(w, secondsPerDay)
	sod := int(w - z*secondsPerDay)
	y, mo, d := civilFromDays(z)
	h, mi, sec := sod/3600, sod/60%60, sod%60

	maskY, maskM, days := 0, 0, uint32(0)
	for y <= maxYear {
		if i := y - minYear; s.years[i/64]&(1<<(i%64)) == 0 {
			y, mo, d, h, mi, sec = y+1, 1, 1, 0, 0, 0
			continue
		}
		m2, ok := nextBit(uint64(s.months), mo)
		if !ok {
			y, mo, d, h, mi, sec = y+1, 1, 1, 0, 0, 0
			continue
		}
		if m2 != mo {
			mo, d, h, mi, sec = m2, 1, 0, 0, 0
		}
		if maskY != y || maskM != mo {
			maskY, maskM, days = y, mo, s.dayMask(y, mo)
		}
		d2, ok := nextBit(uint64(days), d)
		if !ok {
			mo, d, h, mi, sec = mo+1, 1, 0, 0, 0
			if mo > 12 {
				y, mo = y+1, 1
			}
			continue
		}
		if d2 != d {
			d, h, mi, sec = d2, 0, 0, 0
		}
		h2, ok := nextBit(uint64(s.hours), h)
		if !ok {
			d, h, mi, sec = d+1, 0, 0, 0
			continue
		}
		if h2 != h {
			h, mi, sec = h2, 0, 0
		}
		mi2, ok := nextBit(s.mins, mi)
		if !ok {
			h, mi, sec = h+1, 0, 0
			continue
		}
		if mi2 != mi {
			mi, sec = mi2, 0
		}
		sec2, ok := nextBit(s.secs, sec)
		if !ok {
			mi, sec = mi+1, 0
			continue
		}
		return daysFromCivil(y, mo, d)*secondsPerDay + int64(h*3600+mi*60+sec2), true
	}
	return 0, false
}

// nextBit returns the lowest set bit of mask at or above i.
func nextBit(mask uint64, i int) (int, bool) {
	if i >= 64 {
		return 0, false
	}
	m := mask >> uint(i)
	if m == 0 {
		return 0, false
	}
	return i + bits.TrailingZeros64(m), true
}
