package mongosink

import (
	"math"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/distcron/distcron/internal/clip"
	"github.com/distcron/distcron/logsink"
)

// Limits on what is stored. Values beyond them are cut, never refused: a
// record the server rejects would block its pipeline forever.
const (
	// MaxNameLen is the most characters kept of Job, Instance and step
	// names (distcron itself allows 128).
	MaxNameLen = 255
	// MaxWordLen is the most characters kept of Status and Trigger.
	MaxWordLen = 32
	// MaxTextBytes is the most bytes kept of Output (its end is kept) and
	// of Error (its start is kept), for the record and for each step.
	// Write clips records to [logsink.MaxRecordBytes] first, which keeps
	// every text below it.
	MaxTextBytes = 1 << 20
)

// tickNS returns the identity field value of a tick: its Unix time in
// nanoseconds, clamped to the int64 range (years 1677 to 2262).
func tickNS(t time.Time) int64 { return clip.TickNS(t) }

func cleanName(s string, max int) string { return clip.Name(clip.Valid(s, false), max) }

// cleanText makes s valid UTF-8 (BSON strings must be), keeping at most
// MaxTextBytes of its end (tail) or its start.
func cleanText(s string, tail bool) string {
	return clip.Text(clip.Valid(s, false), tail, MaxTextBytes)
}

// identity is the filter that selects the record with identity id.
func identity(id logsink.RecordID) bson.D {
	return bson.D{
		{Key: "job", Value: cleanName(id.Job, MaxNameLen)},
		{Key: "tick_ns", Value: tickNS(id.Tick)},
		{Key: "shard", Value: int64(id.Shard)},
		{Key: "attempt", Value: int64(id.Attempt)},
		{Key: "instance", Value: cleanName(id.Instance, MaxNameLen)},
	}
}

// document returns the stored form of r (see the package documentation).
func document(r *logsink.Record) bson.D {
	d := make(bson.D, 0, 17)
	d = append(d, identity(r.ID())...)
	d = append(d,
		bson.E{Key: "tick", Value: bson.NewDateTimeFromTime(r.Tick)},
		bson.E{Key: "trigger", Value: cleanName(string(r.Trigger), MaxWordLen)},
		bson.E{Key: "token", Value: r.Token},
		bson.E{Key: "started", Value: bson.NewDateTimeFromTime(r.Started)},
		bson.E{Key: "finished", Value: bson.NewDateTimeFromTime(r.Finished)},
		bson.E{Key: "duration_ns", Value: int64(r.Duration)},
		bson.E{Key: "status", Value: cleanName(string(r.Status), MaxWordLen)},
		bson.E{Key: "exit_code", Value: int64(r.ExitCode)},
	)
	if r.Error != "" {
		d = append(d, bson.E{Key: "error", Value: cleanText(r.Error, false)})
	}
	if r.Output != "" {
		d = append(d, bson.E{Key: "output", Value: cleanText(r.Output, true)})
	}
	if len(r.Steps) > 0 {
		steps := make(bson.A, len(r.Steps))
		for i, st := range r.Steps {
			sd := bson.D{
				{Key: "name", Value: cleanName(st.Name, MaxNameLen)},
				{Key: "status", Value: cleanName(string(st.Status), MaxWordLen)},
				{Key: "started", Value: bson.NewDateTimeFromTime(st.Started)},
				{Key: "duration_ns", Value: int64(st.Duration)},
				{Key: "exit_code", Value: int64(st.ExitCode)},
			}
			if st.Error != "" {
				sd = append(sd, bson.E{Key: "error", Value: cleanText(st.Error, false)})
			}
			if st.Output != "" {
				sd = append(sd, bson.E{Key: "output", Value: cleanText(st.Output, true)})
			}
			steps[i] = sd
		}
		d = append(d, bson.E{Key: "steps", Value: steps})
	}
	return d
}

// stored is a document as read back.
type stored struct {
	Job        string        `bson:"job"`
	TickNS     int64         `bson:"tick_ns"`
	Shard      int64         `bson:"shard"`
	Attempt    int64         `bson:"attempt"`
	Instance   string        `bson:"instance"`
	Tick       bson.DateTime `bson:"tick"`
	Trigger    string        `bson:"trigger"`
	Token      int64         `bson:"token"`
	Started    bson.DateTime `bson:"started"`
	Finished   bson.DateTime `bson:"finished"`
	DurationNS int64         `bson:"duration_ns"`
	Status     string        `bson:"status"`
	ExitCode   int64         `bson:"exit_code"`
	Error      string        `bson:"error"`
	Output     string        `bson:"output"`
	Steps      []storedStep  `bson:"steps"`
}

type storedStep struct {
	Name       string        `bson:"name"`
	Status     string        `bson:"status"`
	Started    bson.DateTime `bson:"started"`
	DurationNS int64         `bson:"duration_ns"`
	ExitCode   int64         `bson:"exit_code"`
	Error      string        `bson:"error"`
	Output     string        `bson:"output"`
}

func (s *stored) record(omitOutput bool) logsink.Record {
	r := logsink.Record{
		Job:      s.Job,
		Shard:    int(s.Shard),
		Instance: s.Instance,
		Trigger:  logsink.Trigger(s.Trigger),
		Attempt:  int(s.Attempt),
		Token:    s.Token,
		Started:  s.Started.Time().UTC(),
		Finished: s.Finished.Time().UTC(),
		Duration: time.Duration(s.DurationNS),
		Status:   logsink.Status(s.Status),
		Error:    s.Error,
		ExitCode: int(s.ExitCode),
		Output:   s.Output,
	}
	switch s.TickNS {
	case math.MinInt64, math.MaxInt64: // clamped: the date has the rest
		r.Tick = s.Tick.Time().UTC()
	default:
		r.Tick = time.Unix(0, s.TickNS).UTC()
	}
	if omitOutput {
		r.Output = ""
	}
	for _, st := range s.Steps {
		step := logsink.StepRecord{
			Name:     st.Name,
			Status:   logsink.Status(st.Status),
			Started:  st.Started.Time().UTC(),
			Duration: time.Duration(st.DurationNS),
			Error:    st.Error,
			ExitCode: int(st.ExitCode),
			Output:   st.Output,
		}
		if omitOutput {
			step.Output = ""
		}
		r.Steps = append(r.Steps, step)
	}
	return r
}
