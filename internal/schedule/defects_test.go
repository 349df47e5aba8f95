package schedule

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gorhill/cronexpr"
)

// TestCronexprDefects has one subtest per defect listed in CRONEXPR.md,
// each showing distcron's behaviour where cronexpr's is wrong.
func TestCronexprDefects(t *testing.T) {
	ny := zone(t, "America/New_York")
	london := zone(t, "Europe/London")
	lordHowe := zone(t, "Australia/Lord_Howe")

	t.Run("1 spring forward west of UTC", func(t *testing.T) {
		// cronexpr returns its own input for 01:00 EST, and 01:30 for 02:30.
		hourly := mustParse(t, "0 * * * *", ny)
		equal(t, fires(t, hourly, at(t, "2026-03-08T01:00:00-05:00"), 2),
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"})
		fixed := mustParse(t, "30 2 * * *", ny)
		equal(t, fires(t, fixed, at(t, "2026-03-08T00:00:00-05:00"), 2),
			[]string{"2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"})
		// A loop t = Next(t) gets past 02:00 with no spin and no storm.
		every := mustParse(t, "* * * * *", ny)
		from := at(t, "2026-03-08T01:58:00-05:00")
		equal(t, fires(t, every, from, 3),
			[]string{"2026-03-08T01:59:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:01:00-04:00"})
	})

	t.Run("2 spring forward east of UTC", func(t *testing.T) {
		// cronexpr fires an hourly job at 02:30+11, which does not match.
		hourly := mustParse(t, "0 * * * *", lordHowe)
		equal(t, fires(t, hourly, at(t, "2026-10-04T01:30:00+10:30"), 2),
			[]string{"2026-10-04T03:00:00+11:00", "2026-10-04T04:00:00+11:00"})
	})

	t.Run("3 fall back in both zone signs", func(t *testing.T) {
		// cronexpr drops New York's second 01:00 ...
		hourly := mustParse(t, "0 * * * *", ny)
		equal(t, fires(t, hourly, at(t, "2026-11-01T00:30:00-04:00"), 3),
			[]string{"2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"})
		// ... and jumps London from 01:20 BST to 01:21 GMT, an hour late.
		minutely := mustParse(t, "* * * * *", london)
		equal(t, fires(t, minutely, at(t, "2026-10-25T01:20:00+01:00"), 1),
			[]string{"2026-10-25T01:21:00+01:00"})
		// Next never goes backwards over a whole fall-back night.
		for _, loc := range []*time.Location{ny, london, lordHowe} {
			from := time.Date(2026, 10, 24, 0, 0, 0, 0, loc)
			if loc == lordHowe {
				from = time.Date(2026, 4, 4, 0, 0, 0, 0, loc)
			}
			fires(t, minutely, from, 3*24*60) // fails on a non-increasing step
		}
	})

	t.Run("4 data race on the shared expression", func(t *testing.T) {
		// Run with -race: specials make every Next go through cronexpr.
		s := mustParse(t, "0 0 L,15W * 5L,MON#2", ny)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				from := time.Date(2026+g, 1, 1, 0, 0, 0, 0, time.UTC)
				fires(t, s, from, 50)
			})
		}
		wg.Wait()
	})

	t.Run("5 reversed ranges", func(t *testing.T) {
		for _, spec := range []string{"5-2 * * * *", "0 23-1/1 * * *", "0 0 * 12-1 *", "0 0 1 * SAT-MON"} {
			if _, err := Parse(spec, nil); !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("Parse(%q) error = %v, want ErrInvalidSpec", spec, err)
			}
		}
		// And cronexpr's panic is recovered anyway, should one get through.
		bad, err := cronexpr.Parse("5-2 * * * *")
		if err != nil {
			t.Fatalf("cronexpr now rejects reversed ranges: %v", err)
		}
		if got := specialDays(bad, 2026, 1); got != 0 {
			t.Errorf("specialDays on a panicking expression = %b, want 0", got)
		}
	})

	t.Run("6 leading-zero month", func(t *testing.T) {
		s := mustParse(t, "5 9 1 02 *", nil)
		equal(t, fires(t, s, at(t, "2026-01-15T00:00:00Z"), 2),
			[]string{"2026-02-01T09:05:00Z", "2027-02-01T09:05:00Z"})
	})

	t.Run("7 leading-zero day of week", func(t *testing.T) {
		s := mustParse(t, "0 9 * * 01", nil)
		equal(t, fires(t, s, at(t, "2026-01-01T00:00:00Z"), 2), // a Thursday
			[]string{"2026-01-05T09:00:00Z", "2026-01-12T09:00:00Z"}) // Mondays
	})

	t.Run("8 day-of-week ranges ending in 7 or SUN", func(t *testing.T) {
		from := at(t, "2026-01-01T00:00:00Z") // a Thursday
		friToSun := []string{"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"}
		satSun := []string{"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-10T00:00:00Z"}
		monToSun := []string{"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z"}
		for spec, want := range map[string][]string{
			"0 0 * * 5-7":     friToSun,
			"0 0 * * FRI-SUN": friToSun,
			"0 0 * * SAT-SUN": satSun,
			"0 0 * * 6-7":     satSun,
			"0 0 * * MON-SUN": monToSun,
			"0 0 * * 1-7":     monToSun,
			"0 0 * * 0-7":     monToSun,
			"0 0 * * 7":       {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"},
			"0 0 * * 1-7/3":   {"2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-05T00:00:00Z"},
		} {
			t.Run(spec, func(t *testing.T) {
				equal(t, fires(t, mustParse(t, spec, nil), from.Add(-time.Second), len(want)), want)
			})
		}
	})

	t.Run("9 six fields are seconds first", func(t *testing.T) {
		s := mustParse(t, "0 30 2 * * *", nil)
		equal(t, fires(t, s, at(t, "2026-01-01T00:00:00Z"), 2),
			[]string{"2026-01-01T02:30:00Z", "2026-01-02T02:30:00Z"})
		s = mustParse(t, "15 * * * * *", nil)
		equal(t, fires(t, s, at(t, "2026-01-01T00:00:00Z"), 2),
			[]string{"2026-01-01T00:00:15Z", "2026-01-01T00:01:15Z"})
	})

	t.Run("10 day of month */n is ANDed with day of week", func(t *testing.T) {
		// cronie: dom starts with '*', so it is ANDed: odd-day Mondays only.
		and := mustParse(t, "0 0 */2 * MON", nil)
		equal(t, fires(t, and, at(t, "2026-01-01T00:00:00Z"), 4),
			[]string{"2026-01-05T00:00:00Z", "2026-01-19T00:00:00Z", "2026-02-09T00:00:00Z", "2026-02-23T00:00:00Z"})
		// Both restricted (no leading '*'): ORed, odd days or Mondays.
		or := mustParse(t, "0 0 1-31/2 * MON", nil)
		equal(t, fires(t, or, at(t, "2026-01-01T00:00:00Z"), 4),
			[]string{"2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-07T00:00:00Z", "2026-01-09T00:00:00Z"})
		// Day of week */n with a restricted day of month: ANDed too.
		and2 := mustParse(t, "0 0 13 * */5", nil) // the 13th, on Sunday or Friday
		equal(t, fires(t, and2, at(t, "2026-01-01T00:00:00Z"), 2),
			[]string{"2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"})
	})

	t.Run("11 lax parsing", func(t *testing.T) {
		for _, spec := range []string{"0 @hourly", "@hourly *", "0 0 0 1 1 * 2026 junk", "* * * * * * * *", "@bogus"} {
			if _, err := Parse(spec, nil); !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("Parse(%q) error = %v, want ErrInvalidSpec", spec, err)
			}
		}
	})

	t.Run("12 @every, @midnight and the end of 2099", func(t *testing.T) {
		equal(t, fires(t, mustParse(t, "@every 90m", nil), at(t, "2026-01-01T00:10:00Z"), 2),
			[]string{"2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z"})
		equal(t, fires(t, mustParse(t, "@midnight", nil), at(t, "2026-01-01T00:10:00Z"), 1),
			[]string{"2026-01-02T00:00:00Z"})
		for _, spec := range []string{"* * * * *", "0 0 1 1 *", "@hourly"} {
			for _, loc := range []*time.Location{time.UTC, ny, lordHowe} {
				s := mustParse(t, spec, loc)
				last := s.Next(time.Date(2099, 12, 31, 22, 0, 0, 0, loc).Add(-time.Nanosecond))
				if spec != "0 0 1 1 *" && last.Year() != 2099 {
					t.Errorf("%s in %s: Next late in 2099 = %v, want a 2099 fire", spec, loc, last)
				}
				for _, from := range []time.Time{
					time.Date(2099, 12, 31, 23, 59, 0, 0, loc),
					time.Date(2100, 6, 1, 0, 0, 0, 0, loc),
					time.Date(9999, 1, 1, 0, 0, 0, 0, loc),
				} {
					if got := s.Next(from); !got.IsZero() {
						t.Errorf("%s in %s: Next(%v) = %v, want zero (never again)", spec, loc, from, got)
					}
				}
			}
		}
		// And before 1970 it starts in 1970.
		if got := mustParse(t, "0 0 1 1 *", ny).Next(time.Time{}); !got.Equal(time.Date(1970, 1, 1, 0, 0, 0, 0, ny)) {
			t.Errorf("Next(zero time) = %v, want 1970-01-01 in New York", got)
		}
	})
}
