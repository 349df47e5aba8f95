package schedule

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// descriptors maps the @-descriptors to their 5-field form.
var descriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// minEvery is the shortest @every interval accepted.
const minEvery = 10 * time.Millisecond

// Parse parses spec. loc is the default zone (nil means UTC); a "CRON_TZ=Zone "
// or "TZ=Zone " prefix in spec overrides it. The result implements Schedule.
//
// Errors wrap ErrInvalidSpec and read like
//
//	distcron: invalid schedule "5-2 * * * *": minute range 5-2 is reversed
func Parse(spec string, loc *time.Location) (*Spec, error) {
	s := &Spec{spec: spec, loc: loc}
	if err := s.parse(spec); err != nil {
		return nil, fmt.Errorf("%w %q: %s", ErrInvalidSpec, spec, err.Error())
	}
	if s.every == 0 && s.Next(time.Unix(minUnix-1, 0)).IsZero() {
		return nil, fmt.Errorf("%w %q: it never fires: no date in 1970-2099 matches its fields", ErrInvalidSpec, spec)
	}
	return s, nil
}

func (s *Spec) parse(spec string) error {
	rest := strings.TrimSpace(spec)
	if rest == "" {
		return fmt.Errorf("spec is empty")
	}
	zone, rest, hasZone := cutZonePrefix(rest)
	if hasZone {
		loc, err := loadZone(zone)
		if err != nil {
			return err
		}
		s.loc = loc
		if _, _, again := cutZonePrefix(rest); again {
			return fmt.Errorf("more than one time zone prefix")
		}
		if rest == "" {
			return fmt.Errorf("nothing follows the time zone prefix")
		}
	}
	if s.loc == nil {
		s.loc = time.UTC
	}

	fields := strings.Fields(rest)
	if strings.HasPrefix(fields[0], "@") {
		return s.parseDescriptor(fields)
	}
	for _, f := range fields {
		if strings.HasPrefix(f, "@") {
			return fmt.Errorf("descriptor %s must be the whole spec", f)
		}
	}
	switch len(fields) {
	case 5: // minute first: no seconds, any year
		fields = append(append([]string{"0"}, fields...), "*")
	case 6: // seconds first (Quartz/robfig), not cronexpr's "with year"
		fields = append(fields, "*")
	case 7: // seconds ... year
	default:
		return fmt.Errorf("expected 5, 6 or 7 fields, got %d", len(fields))
	}
	return s.parseFields(fields)
}

// parseDescriptor parses @every and the named descriptors.
func (s *Spec) parseDescriptor(fields []string) error {
	name := strings.ToLower(fields[0])
	if name == "@every" {
		if len(fields) != 2 {
			return fmt.Errorf("@every needs exactly one duration, as in @every 1m30s")
		}
		d, err := time.ParseDuration(fields[1])
		if err != nil {
			return fmt.Errorf("@every duration %q is invalid: it must be a Go duration, as in 1m30s", fields[1])
		}
		if d < minEvery {
			return fmt.Errorf("@every duration %s is below the minimum of %s", d, minEvery)
		}
		s.every = d
		return nil
	}
	five, ok := descriptors[name]
	if !ok {
		return fmt.Errorf("unknown descriptor %s", fields[0])
	}
	if len(fields) != 1 {
		return fmt.Errorf("descriptor %s must be the whole spec", fields[0])
	}
	return s.parseFields(append(append([]string{"0"}, strings.Fields(five)...), "*"))
}

// parseFields parses the seven fields second, minute, hour, day of month,
// month, day of week and year.
func (s *Spec) parseFields(fields []string) error {
	var p [7]parsedField
	for f := fieldSecond; f <= fieldYear; f++ {
		var err error
		if p[f], err = parseField(f, fields[f]); err != nil {
			return err
		}
	}
	s.secs = p[fieldSecond].bits[0]
	s.mins = p[fieldMinute].bits[0]
	s.hours = uint32(p[fieldHour].bits[0])
	s.months = uint16(p[fieldMonth].bits[0])
	s.years = p[fieldYear].bits
	days, err := newDayRule(p[fieldDom], p[fieldDow])
	if err != nil {
		return err
	}
	s.days = days
	s.wildcard = p[fieldMinute].star || p[fieldHour].star
	s.fixedZone, s.offset = zoneIsFixed(s.loc)
	return nil
}

// cutZonePrefix splits "CRON_TZ=Zone rest" or "TZ=Zone rest".
func cutZonePrefix(spec string) (zone, rest string, ok bool) {
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if after, found := strings.CutPrefix(spec, prefix); found {
			zone, rest = after, ""
			if i := strings.IndexFunc(after, unicode.IsSpace); i >= 0 {
				zone, rest = after[:i], after[i:]
			}
			return zone, strings.TrimSpace(rest), true
		}
	}
	return "", spec, false
}

// loadZone loads an IANA zone for a prefix. "Local" is refused: instances on
// hosts in different zones would disagree on the ticks.
func loadZone(zone string) (*time.Location, error) {
	switch zone {
	case "":
		return nil, fmt.Errorf("time zone prefix has no zone")
	case "Local":
		return nil, fmt.Errorf("time zone Local is not allowed: all instances must agree on the zone")
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", zone)
	}
	return loc, nil
}
