package distcron

import (
	"fmt"
	"strings"
	"time"

	"github.com/distcron/distcron/internal/errtext"
)

// MaxPreview is the most fire instants PreviewSchedule returns.
const MaxPreview = 100

// SchedulePreview is what PreviewSchedule tells of a spec.
type SchedulePreview struct {
	// Location is the zone the spec's wall-clock fields are read in: its
	// CRON_TZ= (or TZ=) prefix, else the zone asked for, else this
	// instance's default (WithLocation).
	Location *time.Location
	// Next are the next fire instants after now, soonest first, in
	// Location; fewer than asked (or none) when the schedule ends.
	Next []time.Time
}

// PreviewSchedule checks spec as a definition with that schedule and zone
// would be checked on this instance, without storing anything, and returns
// its next n fire instants (n is clamped to [1, MaxPreview]). zone is an
// IANA zone name, or empty for this instance's default zone. Errors match
// ErrInvalidSpec for a spec that does not parse, and ErrInvalidDefinition
// for a zone that is not an IANA zone or a schedule that fires more often
// than WithRemoteScheduleFloor allows; their text says which. It does not
// block and is safe for concurrent use.
func (s *Scheduler) PreviewSchedule(spec, zone string, n int) (SchedulePreview, error) {
	n = min(max(n, 1), MaxPreview)
	loc := s.cfg.location
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil || zone == "Local" {
			return SchedulePreview{}, fmt.Errorf("%w: location %s is not an IANA zone", ErrInvalidDefinition, errtext.Name(zone))
		}
		loc = l
	}
	sched, err := ParseSchedule(spec, loc)
	if err != nil {
		return SchedulePreview{}, err
	}
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(spec), prefix); ok {
			name, _, _ := strings.Cut(rest, " ")
			if l, err := time.LoadLocation(name); err == nil {
				loc = l
			}
		}
	}
	if gap, below := s.belowFloor(sched); below {
		return SchedulePreview{}, fmt.Errorf("%w: schedule %q fires %v apart, below the floor of %v for schedules from the network (WithRemoteScheduleFloor)",
			ErrInvalidDefinition, spec, gap, s.cfg.remoteFloor)
	}
	p := SchedulePreview{Location: loc, Next: make([]time.Time, 0, n)}
	for t := s.cfg.clock.Now(); len(p.Next) < n; {
		if t = sched.Next(t); t.IsZero() {
			break
		}
		p.Next = append(p.Next, t.In(loc))
	}
	return p, nil
}
