package distcron

import (
	"time"

	"github.com/distcron/distcron/internal/schedule"
)

// Schedule tells when a job fires. Next returns the first fire instant
// strictly after from, or the zero time when the schedule never fires again.
// Implementations must be safe for concurrent use and must return the same
// instants on every instance, since instants identify ticks cluster-wide.
type Schedule interface {
	Next(from time.Time) time.Time
}

// ParseSchedule parses a cron spec. loc is the zone for wall-clock fields
// when the spec has no CRON_TZ= or TZ= prefix; nil means UTC.
//
// Accepted forms: 5 fields (minute hour day-of-month month day-of-week),
// 6 fields (seconds first), 7 fields (seconds first, year last), the
// descriptors @yearly @annually @monthly @weekly @daily @midnight @hourly,
// and "@every <duration>" (at least 10ms; ticks fall on multiples of the
// duration since the Unix epoch, so every instance agrees). Daylight saving
// follows cronie: see the package documentation. Errors match
// ErrInvalidSpec; a spec that matches no date in 1970-2099 (cron's range),
// such as "0 0 31 2 *", is one.
func ParseSchedule(spec string, loc *time.Location) (Schedule, error) {
	s, err := schedule.Parse(spec, loc)
	if err != nil {
		return nil, err
	}
	return s, nil
}
