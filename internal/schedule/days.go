package schedule

import (
	"strings"
	"time"

	"github.com/gorhill/cronexpr"
)

// This file decides which days of a month fire. The plain parts of the
// day-of-month and day-of-week fields are bit sets; the calendar specials
// (L, LW, nW, nL, n#k) are evaluated by cronexpr, which gets them right,
// on UTC dates, one month at a time, cached per spec. The two fields are
// combined by the cronie rule, not cronexpr's (CRONEXPR.md #10): if either
// field starts with '*' (including "*/n") a day must match both, otherwise
// a day matching either fires.

// dayCacheSize is the number of months whose day masks a spec with
// specials keeps, direct-mapped by month; a power of two above 12.
const dayCacheSize = 16

const allDom = uint32(1<<32 - 2) // bits 1-31

// newDayRule builds the day rule from the day-of-month and day-of-week
// fields, compiling any specials with cronexpr.
func newDayRule(dom, dow parsedField) (dayRule, error) {
	r := dayRule{
		dom:     uint32(dom.bits[0]),
		dow:     uint8(dow.bits[0]),
		domStar: dom.star,
		dowStar: dow.star,
	}
	for w := range 7 {
		for d := 1; d <= 31; d++ {
			if r.dow&(1<<((w+d-1)%7)) != 0 {
				r.byFirst[w] |= 1 << d
			}
		}
	}
	var err error
	if len(dom.specials) > 0 {
		// The day of week is '*', so cronexpr looks at the day of month only.
		if r.domSpecial, err = cronexpr.Parse("0 0 0 " + strings.Join(dom.specials, ",") + " * * *"); err != nil {
			return r, err
		}
	}
	if len(dow.specials) > 0 {
		// The day of month is '*', so cronexpr looks at the day of week only.
		if r.dowSpecial, err = cronexpr.Parse("0 0 0 * * " + strings.Join(dow.specials, ",") + " *"); err != nil {
			return r, err
		}
	}
	r.all = r.domSpecial == nil && r.dowSpecial == nil &&
		r.dom == allDom && r.dow == 0x7f
	return r, nil
}

// dayMask returns the days of month m of year y that fire, as bits 1-31.
func (s *Spec) dayMask(y, m int) uint32 {
	r := &s.days
	lenMask := uint32(1)<<(daysIn(y, m)+1) - 2
	if r.all {
		return lenMask
	}
	if r.domSpecial == nil && r.dowSpecial == nil {
		return r.combine(r.dom, r.byFirst[weekday(daysFromCivil(y, m, 1))]) & lenMask
	}
	key := uint64((y-minYear)*12 + m) // >= 1, so 0 is an empty slot
	slot := &s.cache[key%dayCacheSize]
	if v := slot.Load(); v>>32 == key {
		return uint32(v)
	}
	domSet := r.dom | specialDays(r.domSpecial, y, m)
	dowSet := r.byFirst[weekday(daysFromCivil(y, m, 1))] | specialDays(r.dowSpecial, y, m)
	mask := r.combine(domSet, dowSet) & lenMask
	slot.Store(key<<32 | uint64(mask))
	return mask
}

// combine applies the cronie day rule.
func (r *dayRule) combine(domSet, dowSet uint32) uint32 {
	if r.domStar || r.dowStar {
		return domSet & dowSet
	}
	return domSet | dowSet
}

// specialDays lists the days of month m of year y matched by e (nil: none).
// It works on a copy of e, because cronexpr's Next writes into the
// expression (CRONEXPR.md #4), and recovers from a panic in cronexpr,
// keeping the days found so far.
func specialDays(e *cronexpr.Expression, y, m int) (mask uint32) {
	if e == nil {
		return 0
	}
	defer func() { _ = recover() }()
	cp := *e
	t := time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC).Add(-time.Second)
	for range 32 {
		t = cp.Next(t)
		if t.IsZero() || t.Year() != y || int(t.Month()) != m {
			break
		}
		mask |= 1 << t.Day()
	}
	return mask
}
