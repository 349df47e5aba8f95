// Package schedule turns cron specs into fire instants for distcron.
//
// It wraps github.com/gorhill/cronexpr and owns every defect of that library
// (see CRONEXPR.md): specs are validated strictly before cronexpr sees them,
// cronexpr only ever evaluates calendar specials (L, W, #) on UTC dates,
// expressions are never shared between goroutines, and the day-of-month /
// day-of-week rule and the DST rule follow cronie.
//
// Accepted specs, optionally preceded by "CRON_TZ=Zone " or "TZ=Zone ":
//
//	m h dom mon dow          5 fields, minute first
//	s m h dom mon dow        6 fields, seconds first (Quartz, robfig)
//	s m h dom mon dow year   7 fields, year 1970-2099
//	@yearly @annually @monthly @weekly @daily @midnight @hourly
//	@every <Go duration>     d >= 10ms, ticks at multiples of d since the Unix epoch
//
// Fields take values, names (JAN-DEC, SUN-SAT, case-insensitive), ranges
// (a-b, never reversed), steps (*/n, a/n, a-b/n) and lists (a,b). The day
// of month also takes L, LW and nW; the day of week takes nL and n#k, and
// 7 means Sunday, including at the end of a range (5-7, MON-SUN).
//
// Day rule (cronie): if the day-of-month or the day-of-week field starts
// with '*' (including "*/n") or is "?", a day must match both fields;
// if both are restricted, a day matching either one fires.
//
// DST rule (cronie): fields match the wall clock of the spec's zone. A job is
// a wildcard job if its minute or hour field starts with '*' (so @hourly is
// one); every other job is a fixed-time job. A fixed-time job whose wall time
// falls into a spring-forward gap fires once at the first instant after the
// gap; a wildcard job skips the gap. In a repeated (fall-back) hour a
// fixed-time job fires only at the first occurrence, a wildcard job at both.
// @every ignores zones: it is plain arithmetic on absolute time.
package schedule

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/gorhill/cronexpr"
)

// ErrInvalidSpec is wrapped by every error Parse returns; test for it with
// errors.Is. The wrapping error names the spec and what is wrong with it.
var ErrInvalidSpec = errors.New("distcron: invalid schedule")

// Schedule computes fire instants. Next(from) returns the first fire instant
// strictly after from, or the zero time if it never fires again. Safe for
// concurrent use.
type Schedule interface {
	Next(from time.Time) time.Time
}

// Spec is a parsed schedule. It is immutable after Parse (apart from an
// internal lock-free cache) and safe for concurrent use. Create it with
// Parse; do not copy a Spec after first use.
type Spec struct {
	spec  string
	loc   *time.Location
	every time.Duration // @every interval; 0 for cron specs

	// Cron fields as bit sets, bit i set when value i matches.
	secs   uint64    // 0-59
	mins   uint64    // 0-59
	hours  uint32    // 0-23
	months uint16    // 1-12
	years  [3]uint64 // bit i: year 1970+i, 1970-2099
	days   dayRule

	// wildcard is true for cronie "wildcard" jobs (minute or hour field
	// starts with '*'); false for fixed-time jobs. See dst.go.
	wildcard bool

	// fixedZone is true when loc has no transitions in 1970-2099; the
	// DST machinery is then skipped and offset (seconds east of UTC) used.
	fixedZone bool
	offset    int64

	// cache holds day masks of months that involve cronexpr (L, W, #).
	cache [dayCacheSize]atomic.Uint64
}

// dayRule is the parsed day-of-month and day-of-week fields.
type dayRule struct {
	dom     uint32 // plain days of month, bits 1-31
	dow     uint8  // plain days of week, bits 0-6 (0 = Sunday)
	domStar bool   // field starts with '*' or is '?': unrestricted (cronie)
	dowStar bool
	all     bool // every day of every month matches: skip all day logic

	// byFirst[w] is the mask of days of a month whose weekday is in dow,
	// for a month whose first day has weekday w.
	byFirst [7]uint32

	// Calendar specials, evaluated by cronexpr on UTC dates; nil if none.
	// Each is never used directly: Next works on a copy (CRONEXPR.md #4).
	domSpecial *cronexpr.Expression // L, LW, nW
	dowSpecial *cronexpr.Expression // nL, n#k
}

// Next returns the first fire instant strictly after from, in the spec's
// location, or the zero time if the spec never fires again (cron specs do
// not fire after 2099). It never panics and is safe for concurrent use.
func (s *Spec) Next(from time.Time) time.Time {
	if s.every > 0 {
		return nextEvery(from, s.every, s.Location())
	}
	return s.nextCron(from)
}

// String returns the spec exactly as it was given to Parse.
func (s *Spec) String() string { return s.spec }

// Location returns the zone the spec is evaluated in: the CRON_TZ= or TZ=
// prefix if present, else the default passed to Parse, else UTC.
func (s *Spec) Location() *time.Location {
	if s.loc == nil {
		return time.UTC
	}
	return s.loc
}

// Every returns the interval of an @every spec, and 0 for cron specs.
func (s *Spec) Every() time.Duration { return s.every }

var _ Schedule = (*Spec)(nil)
