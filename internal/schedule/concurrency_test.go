package schedule

import (
	"sync"
	"testing"
	"time"
)

// TestConcurrentNext calls Next from many goroutines on one Spec (run it
// with -race). The specs cover the plain path, the DST walk, @every and
// the cronexpr path with its shared month cache, whose slots the
// goroutines keep evicting by asking for different months.
func TestConcurrentNext(t *testing.T) {
	for _, spec := range []string{
		"CRON_TZ=America/New_York */15 * * * *",
		"CRON_TZ=Europe/London 0 0 L,15W * 5L,MON#2",
		"0 0 LW * *",
		"@every 1h",
	} {
		t.Run(spec, func(t *testing.T) {
			s := mustParse(t, spec, nil)
			// Reference results, computed on one goroutine.
			starts := make([]time.Time, 64)
			want := make([][]string, len(starts))
			for i := range starts {
				starts[i] = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, i*5, i)
				want[i] = fires(t, s, starts[i], 20)
			}
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Go(func() {
					for round := range 8 {
						i := (g*7 + round*13) % len(starts)
						got := fires(t, s, starts[i], 20)
						if !sameStrings(got, want[i]) {
							t.Errorf("goroutine %d from %s:\n got %q\nwant %q", g, starts[i], got, want[i])
							return
						}
					}
				})
			}
			wg.Wait()
		})
	}
}
