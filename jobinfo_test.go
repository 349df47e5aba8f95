package distcron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/logsink"
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
	s, _ := tc.newScheduler("n0", WithClock(skewedClock{skew}))
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

// newestOf returns the record of job by instance with the latest tick (of
// equal ticks, the last written), and whether there is one.
func newestOf(recs []logsink.Record, job, instance string) (logsink.Record, bool) {
	var out logsink.Record
	found := false
	for _, r := range recs {
		if r.Job == job && r.Instance == instance && (!found || !r.Tick.Before(out.Tick)) {
			out, found = r, true
		}
	}
	return out, found
}

// Issue 12: JobInfo.Last is the newest run of the job among the records
// the instance wrote: its own runs, whatever their status, never a peer's.
func TestJobInfoLastIsTheNewestRunRecordedHere(t *testing.T) {
	tc := newTestCluster(t)
	var ss []*Scheduler
	for _, id := range []string{"n0", "n1"} {
		s, _ := tc.newScheduler(id)
		// Every third tick fails, so the statuses differ from tick to tick.
		err := s.RegisterFunc("mixed", "@every 100ms", func(ctx context.Context) error {
			if ri, _ := RunInfoFrom(ctx); ri.Tick.UnixMilli()/100%3 == 0 {
				return errors.New("every third tick fails")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		registerNoop(t, s, []string{"idle"}, "@yearly")
		if info, _ := s.JobInfo("mixed"); info.Last != nil {
			t.Fatalf("%s: a last run before any run: %+v", id, info.Last)
		}
		tc.start(s)
		ss = append(ss, s)
	}
	waitFor(t, 15*time.Second, "runs on both instances, failed and succeeded", func() bool {
		recs := recordsOf(tc.sink, "mixed")
		per := map[string]int{}
		statuses := map[logsink.Status]bool{}
		for _, r := range recs {
			per[r.Instance]++
			statuses[r.Status] = true
		}
		return per["n0"] >= 3 && per["n1"] >= 3 && statuses[logsink.StatusFailed] && statuses[logsink.StatusSucceeded]
	})
	// While running, Last moves on to newer ticks.
	first, _ := ss[0].JobInfo("mixed")
	waitFor(t, 10*time.Second, "n0's last run to move on", func() bool {
		now, _ := ss[0].JobInfo("mixed")
		return first.Last != nil && now.Last != nil && now.Last.Tick.After(first.Last.Tick)
	})
	for _, s := range ss {
		stopNow(t, s) // flushes the sinks: every record is in the collector
	}
	recs := tc.sink.records()
	for _, s := range ss {
		id := s.InstanceID()
		want, ok := newestOf(recs, "mixed", id)
		info, _ := s.JobInfo("mixed")
		if !ok || info.Last == nil {
			t.Fatalf("%s: last %+v, newest record %+v (%v)", id, info.Last, want, ok)
		}
		got := *info.Last
		if !got.Tick.Equal(want.Tick) || got.Status != want.Status || got.Instance != id || got.Trigger != want.Trigger ||
			got.Attempt != want.Attempt || !got.Finished.Equal(want.Finished) {
			t.Errorf("%s: last %+v, want the newest record written here %+v", id, got, want)
		}
		if idle, _ := s.JobInfo("idle"); idle.Last != nil {
			t.Errorf("%s: a job that never ran has a last run %+v", id, idle.Last)
		}
	}
}

// Issue 12: a retried run's last attempt replaces its earlier ones, and
// JobInfo's JSON carries the last run.
func TestJobInfoLastFollowsRetries(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	err := s.RegisterFunc("retried", "@yearly", func(ctx context.Context) error {
		if ri, _ := RunInfoFrom(ctx); ri.Attempt < 3 {
			return fmt.Errorf("attempt %d fails", ri.Attempt)
		}
		return nil
	}, Retry(3, 20*time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	if err := s.Trigger(context.Background(), "retried"); err != nil {
		t.Fatal(err)
	}
	var seen []string // the statuses Last went through
	waitFor(t, 10*time.Second, "the third attempt as the last run", func() bool {
		info, _ := s.JobInfo("retried")
		if l := info.Last; l != nil {
			if st := fmt.Sprintf("%d:%s", l.Attempt, l.Status); len(seen) == 0 || seen[len(seen)-1] != st {
				seen = append(seen, st)
			}
			return l.Attempt == 3
		}
		return false
	})
	info, _ := s.JobInfo("retried")
	l := info.Last
	if l.Status != logsink.StatusSucceeded || l.Trigger != logsink.TriggerRetry || l.Instance != "n0" {
		t.Fatalf("last %+v (went through %v)", l, seen)
	}
	recs := recordsOf(tc.sink, "retried")
	waitFor(t, 5*time.Second, "three records", func() bool { recs = recordsOf(tc.sink, "retried"); return len(recs) == 3 })
	for _, r := range recs {
		if !r.Tick.Equal(l.Tick) {
			t.Fatalf("attempts of one run with different ticks: %+v", recs)
		}
	}
	b, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Last struct {
			Status  string `json:"status"`
			Attempt int    `json:"attempt"`
		} `json:"last"`
		Overlap string `json:"overlap"`
	}
	if err := json.Unmarshal(b, &back); err != nil || back.Last.Status != "succeeded" || back.Last.Attempt != 3 || back.Overlap != "allow" {
		t.Fatalf("JSON %s: %+v %v", b, back, err)
	}
}
