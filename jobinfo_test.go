package distcron

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distcron/distcron/executor"
)

// stepSchedule fires every step from the Unix epoch until end.
type stepSchedule struct {
	step time.Duration
	end  time.Time
}

func (s stepSchedule) Next(from time.Time) time.Time {
	t := from.Truncate(s.step).Add(s.step)
	if t.After(s.end) {
		return time.Time{}
	}
	return t
}

// Issue 12: NextRuns lists a job's next fire instants after the
// scheduler's clock, for cron specs, schedules of the caller's own and
// overrides from definitions, bounded, with clear errors.
func TestNextRuns(t *testing.T) {
	tc := newTestCluster(t)
	const skew = 48 * time.Hour // NextRuns counts from the scheduler's clock
	s, _ := tc.newScheduler("n0", WithClock(SkewedClock(skew)))
	noop := executor.Func(func(context.Context) error { return nil })
	registerNoop(t, s, []string{"hourly"}, "0 * * * *")
	registerNoop(t, s, []string{"fast"}, "@every 10ms")
	registerNoop(t, s, []string{"ending"}, "0 0 0 1 1 * 2098-2099") // two fires left
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterFunc("zoned", "30 9 * * MON-FRI", func(context.Context) error { return nil }, InLocation(berlin)); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(skew).Truncate(3 * time.Hour).Add(9 * time.Hour) // three fires left
	if err := s.RegisterSchedule("custom", stepSchedule{step: 3 * time.Hour, end: end}, noop); err != nil {
		t.Fatal(err)
	}

	check := func(name string, n, want int, step time.Duration) []time.Time {
		t.Helper()
		before := time.Now().Add(skew)
		got, err := s.NextRuns(name, n)
		if err != nil || len(got) != want {
			t.Fatalf("NextRuns(%s, %d) = %d instants %v, %v; want %d", name, n, len(got), got, err, want)
		}
		if want > 0 && !got[0].After(before) {
			t.Fatalf("NextRuns(%s): first instant %v is not after the scheduler's now %v", name, got[0], before)
		}
		for i := 1; i < len(got); i++ {
			if step > 0 && got[i].Sub(got[i-1]) != step || !got[i].After(got[i-1]) {
				t.Fatalf("NextRuns(%s): %v then %v, want %v apart", name, got[i-1], got[i], step)
			}
		}
		return got
	}
	check("hourly", 5, 5, time.Hour)
	for _, tick := range check("hourly", 5, 5, time.Hour) {
		if tick.Minute() != 0 || tick.Second() != 0 {
			t.Fatalf("hourly fires at %v", tick)
		}
	}
	for _, tick := range check("zoned", 10, 10, 0) {
		if b := tick.In(berlin); b.Hour() != 9 || b.Minute() != 30 || b.Weekday() == time.Saturday || b.Weekday() == time.Sunday {
			t.Fatalf("zoned fires at %v (%v in Berlin)", tick, b)
		}
	}
	if got := check("ending", 5, 2, 0); got[0].Year() != 2098 || got[1].Year() != 2099 {
		t.Fatalf("ending fires %v", got)
	}
	if got := check("custom", 10, 3, 3*time.Hour); !got[2].Equal(end) {
		t.Fatalf("custom fires %v, want the last at %v", got, end)
	}
	check("fast", MaxNextRuns, MaxNextRuns, 10*time.Millisecond)
	s.Unregister("fast")
	if _, err := s.NextRuns("fast", 1); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("NextRuns of an unregistered job: %v", err)
	}

	// The first instant is JobInfo's Next (its clock is the same; retry
	// across a tick boundary).
	waitFor(t, 5*time.Second, "NextRuns to agree with JobInfo.Next", func() bool {
		got, _ := s.NextRuns("hourly", 1)
		info, _ := s.JobInfo("hourly")
		return len(got) == 1 && got[0].Equal(info.Next)
	})

	for _, n := range []int{0, -1, MaxNextRuns + 1} {
		if got, err := s.NextRuns("hourly", n); !errors.Is(err, ErrInvalidOption) || got != nil {
			t.Errorf("NextRuns(hourly, %d) = %v, %v; want ErrInvalidOption", n, got, err)
		}
	}
	if got, err := s.NextRuns("nope", 1); !errors.Is(err, ErrUnknownJob) || got != nil {
		t.Errorf("NextRuns(nope) = %v, %v; want ErrUnknownJob", got, err)
	}

	// A definition that overrides the schedule changes the instants; its
	// removal restores the code job's.
	tc.start(s)
	ctx := context.Background()
	if err := s.Define(ctx, Definition{Name: "hourly", Schedule: "0 */2 * * *"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the override", func() bool {
		got, err := s.NextRuns("hourly", 3)
		return err == nil && len(got) == 3 && got[1].Sub(got[0]) == 2*time.Hour && got[0].Hour()%2 == 0
	})
	if err := s.Delete(ctx, "hourly"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the code job's schedule back", func() bool {
		got, err := s.NextRuns("hourly", 3)
		return err == nil && len(got) == 3 && got[1].Sub(got[0]) == time.Hour
	})
}
