package schedule

import (
	"math/bits"
	"time"
)

// nextEvery returns the first multiple of d since the Unix epoch strictly
// after from, in loc. Every instance computes the same ticks, whatever its
// start time; zones and DST play no part. It works for any from, far past
// or future, without overflowing; if the tick is not representable it
// returns the zero time.
func nextEvery(from time.Time, d time.Duration, loc *time.Location) time.Time {
	n := int64(d)
	// r = (from - epoch) mod d, in nanoseconds, without computing from-epoch
	// (which overflows int64 outside 1678-2262).
	sm := from.Unix() % n
	if sm < 0 {
		sm += n
	}
	hi, lo := bits.Mul64(uint64(sm), uint64(time.Second))
	r := bits.Rem64(hi, lo, uint64(n))
	r = (r + uint64(from.Nanosecond())) % uint64(n)
	next := from.Add(time.Duration(n - int64(r)))
	if !next.After(from) {
		return time.Time{}
	}
	return next.In(loc)
}
