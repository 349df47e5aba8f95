package schedule

import (
	"testing"
	"time"
)

func TestEvery(t *testing.T) {
	tests := []struct {
		name, spec, from string
		want             []string
	}{
		{"250ms aligned", "@every 250ms", "2026-01-01T12:00:00.1Z",
			[]string{"2026-01-01T12:00:00.25Z", "2026-01-01T12:00:00.5Z", "2026-01-01T12:00:00.75Z", "2026-01-01T12:00:01Z"}},
		{"from a tick", "@every 250ms", "2026-01-01T12:00:00.25Z", []string{"2026-01-01T12:00:00.5Z"}},
		{"from a nanosecond before a tick", "@every 1s", "2026-01-01T12:00:00.999999999Z", []string{"2026-01-01T12:00:01Z"}},
		{"minute", "@every 1m", "2026-01-01T12:00:30Z", []string{"2026-01-01T12:01:00Z", "2026-01-01T12:02:00Z"}},
		// 7 minutes do not divide a day: ticks are multiples since the epoch.
		// 2026-01-01T00:00Z is minute 29,453,760 since it, a multiple of 7.
		{"7m from the epoch", "@every 7m", "2026-01-01T00:03:00Z", []string{"2026-01-01T00:07:00Z", "2026-01-01T00:14:00Z"}},
		{"37s", "@every 37s", "1970-01-01T00:00:00Z", []string{"1970-01-01T00:00:37Z", "1970-01-01T00:01:14Z"}},
		{"before the epoch", "@every 1h", "1969-12-31T22:30:00Z", []string{"1969-12-31T23:00:00Z", "1970-01-01T00:00:00Z"}},
		{"far past", "@every 1h", "1066-10-14T09:10:00Z", []string{"1066-10-14T10:00:00Z"}},
		{"far future", "@every 3h", "3000-01-01T01:00:00Z", []string{"3000-01-01T03:00:00Z"}},
		// 2026-01-01T00:00Z is hour 490,896; the next multiple of 10000 is 500,000.
		{"long", "@every 10000h", "2026-01-01T00:00:00Z", []string{"2027-01-15T08:00:00Z"}},
		{"odd nanoseconds", "@every 1.5s", "2026-01-01T00:00:00.123456789Z", []string{"2026-01-01T00:00:01.5Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, fires(t, mustParse(t, tt.spec, nil), at(t, tt.from), len(tt.want)), tt.want)
		})
	}
}

// TestEveryIgnoresDST: @every steps absolute time, so across New York's
// spring-forward a 30-minute job keeps its 30-minute pace.
func TestEveryIgnoresDST(t *testing.T) {
	s := mustParse(t, "@every 30m", zone(t, "America/New_York"))
	equal(t, fires(t, s, at(t, "2026-03-08T01:10:00-05:00"), 4), []string{
		"2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00", "2026-03-08T04:00:00-04:00",
	})
	equal(t, fires(t, s, at(t, "2026-11-01T01:10:00-04:00"), 4), []string{
		"2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00",
	})
}

// TestEveryAgrees: instances started at different times get the same ticks.
func TestEveryAgrees(t *testing.T) {
	s := mustParse(t, "@every 13s", nil)
	a := s.Next(at(t, "2026-05-01T10:00:00.3Z"))
	b := s.Next(at(t, "2026-05-01T10:00:05.7Z"))
	if !a.Equal(b) || a.UnixNano()%int64(13*time.Second) != 0 {
		t.Errorf("ticks %s and %s differ or are not multiples of 13s", a, b)
	}
}

// TestEveryExtremes: never a panic, never a result at or before from.
func TestEveryExtremes(t *testing.T) {
	s := mustParse(t, "@every 2562047h", nil) // the largest whole hour a Duration holds
	for _, from := range []time.Time{
		{}, time.Unix(-1<<62, 0), time.Unix(1<<62, 0), time.Unix(1<<63-1, 999999999), time.Unix(-1<<63, 0),
	} {
		if got := s.Next(from); !got.IsZero() && !got.After(from) {
			t.Errorf("Next(%v) = %v, not after it", from, got)
		}
	}
}
