package sqlsink

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/distcron/distcron/internal/clip"
	"github.com/distcron/distcron/logsink"
)

// Limits on what is stored. Values beyond them are cut, never refused: a
// record the database rejects would block its pipeline forever.
const (
	// MaxNameLen is the most characters kept of Job and Instance (distcron
	// itself allows 128).
	MaxNameLen = 255
	// MaxWordLen is the most characters kept of Status and Trigger.
	MaxWordLen = 32
	// MaxTextBytes is the most bytes kept of Output (its end is kept) and
	// of Error (its start is kept). Write clips records to
	// [logsink.MaxRecordBytes] first, which keeps every text below it.
	MaxTextBytes = 1 << 20
)

// tickNS returns the identity column value of a tick: its Unix time in
// nanoseconds, clamped to the int64 range (years 1677 to 2262).
func tickNS(t time.Time) int64 { return clip.TickNS(t) }

// storable reports whether a timestamp column stores t; other times (the
// zero time, years before 1000 or after 9999) are stored as NULL.
func storable(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	y := t.UTC().Year()
	return y >= 1000 && y <= 9999
}

// cleanName makes s storable: valid UTF-8 without NUL (each bad byte becomes
// U+FFFD), at most max characters.
func cleanName(s string, max int) string { return clip.Name(clip.Valid(s, true), max) }

// cleanText makes s storable, keeping at most MaxTextBytes of its end
// (tail) or its start.
func cleanText(s string, tail bool) string { return clip.Text(clip.Valid(s, true), tail, MaxTextBytes) }

// cleanID applies to an identity what Write applies to a record's.
func cleanID(id logsink.RecordID) logsink.RecordID {
	id.Job = cleanName(id.Job, MaxNameLen)
	id.Instance = cleanName(id.Instance, MaxNameLen)
	return id
}

// appendArgs appends the bind values of r, in column order.
func (d Dialect) appendArgs(args []any, r *logsink.Record) []any {
	return append(args,
		cleanName(r.Job, MaxNameLen),
		d.timeArg(r.Tick),
		tickNS(r.Tick),
		int64(r.Shard),
		int64(r.Attempt),
		cleanName(r.Instance, MaxNameLen),
		cleanName(string(r.Trigger), MaxWordLen),
		r.Token,
		d.timeArg(r.Started),
		d.timeArg(r.Finished),
		int64(r.Duration),
		cleanName(string(r.Status), MaxWordLen),
		cleanText(r.Error, false),
		int64(r.ExitCode),
		cleanText(r.Output, true),
		stepsJSON(r.Steps),
	)
}

// stepsJSON encodes the steps of a pipeline job as a JSON array, times in
// UTC and text cleaned like the record's; "" when there are none. HTML
// characters are not escaped (they would take six bytes each).
func stepsJSON(steps []logsink.StepRecord) string {
	if len(steps) == 0 {
		return ""
	}
	out := make([]logsink.StepRecord, len(steps))
	for i, st := range steps {
		st.Name = cleanName(st.Name, MaxNameLen)
		st.Status = logsink.Status(cleanName(string(st.Status), MaxWordLen))
		st.Started = st.Started.UTC()
		if y := st.Started.Year(); y < 0 || y > 9999 { // not encodable
			st.Started = time.Time{}
		}
		st.Error = cleanText(st.Error, false)
		st.Output = cleanText(st.Output, true)
		out[i] = st
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil { // cannot happen: every field is encodable
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// rowSize estimates the bytes r adds to a statement.
func rowSize(r *logsink.Record) int {
	n := 256 + len(r.Job) + len(r.Instance) + min(len(r.Error), MaxTextBytes) + min(len(r.Output), MaxTextBytes)
	for i := range r.Steps {
		n += 128 + len(r.Steps[i].Name) + min(len(r.Steps[i].Error), MaxTextBytes) + min(len(r.Steps[i].Output), MaxTextBytes)
	}
	return n
}

// scanner reads one row, in column order.
type scanner struct {
	rec                       logsink.Record
	tick, started, finished   timeValue
	tickNS, shard, attempt    int64
	token, duration, exitCode int64
	trigger, status, steps    string
}

func (s *scanner) dest(d Dialect) []any {
	s.tick.d, s.started.d, s.finished.d = d, d, d
	r := &s.rec
	return []any{
		&r.Job, &s.tick, &s.tickNS, &s.shard, &s.attempt, &r.Instance, &s.trigger, &s.token,
		&s.started, &s.finished, &s.duration, &s.status, &r.Error, &s.exitCode, &r.Output, &s.steps,
	}
}

func (s *scanner) record(omitOutput bool) (logsink.Record, error) {
	r := s.rec
	if s.steps != "" {
		if err := json.Unmarshal([]byte(s.steps), &r.Steps); err != nil {
			return r, fmt.Errorf("sqlsink: steps of job %q: %w", r.Job, err)
		}
		for i := range r.Steps {
			r.Steps[i].Started = r.Steps[i].Started.UTC()
			if omitOutput {
				r.Steps[i].Output = ""
			}
		}
	}
	switch s.tickNS {
	case math.MinInt64, math.MaxInt64: // clamped: the column has the rest
		r.Tick = s.tick.t
	default:
		r.Tick = time.Unix(0, s.tickNS).UTC()
	}
	r.Shard = int(s.shard)
	r.Attempt = int(s.attempt)
	r.Trigger = logsink.Trigger(s.trigger)
	r.Token = s.token
	r.Started = s.started.t
	r.Finished = s.finished.t
	r.Duration = time.Duration(s.duration)
	r.Status = logsink.Status(s.status)
	r.ExitCode = int(s.exitCode)
	return r, nil
}

// timeValue scans a timestamp column of any dialect and driver into UTC:
// a time.Time from the driver, or text in one of the forms the databases
// print, or NULL (the zero time).
type timeValue struct {
	d Dialect
	t time.Time
}

var textLayouts = []string{
	sqliteTimeLayout,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999-07",
}

func (v *timeValue) Scan(src any) error {
	switch x := src.(type) {
	case nil:
		v.t = time.Time{}
	case time.Time:
		if v.d == MySQL {
			// DATETIME has no zone: the sink wrote UTC wall clock, which a
			// driver with parseTime may have placed in its loc.
			v.t = time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC)
		} else {
			v.t = x.UTC()
		}
	case []byte:
		return v.parse(string(x))
	case string:
		return v.parse(x)
	default:
		return fmt.Errorf("sqlsink: cannot scan %T into a time", src)
	}
	return nil
}

func (v *timeValue) parse(s string) error {
	for _, l := range textLayouts {
		if t, err := time.Parse(l, s); err == nil {
			v.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("sqlsink: cannot parse time %q", s)
}
