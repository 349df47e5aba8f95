package check

import (
	"strings"
	"testing"
	"time"
)

func TestForbidRuns(t *testing.T) {
	// Job r is OverlapForbid. n1 runs tick 2 from 2.0 (its clock); n0 runs
	// tick 5 from 5.0 to 8.0. TTL 2s: ResumeRecovery + ForbidSlack = 2.5s.
	for _, tc := range []struct {
		name    string
		aEnd    float64 // when n1's run ended (its clock)
		lost    bool    // the leader recorded n1's run lost
		gone    float64 // n1's registration seen deleted (0: not seen)
		pause   [2]float64
		skew    time.Duration // n1's clock skew
		overlap bool
	}{
		{"one after the other", 4.9, false, 0, [2]float64{}, 0, false},
		{"overlapping, both leases alive", 6, false, 0, [2]float64{}, 0, true},
		// n1 paused 3..6: its lease expired at 5, n0 started at 5.0; n1
		// resumed at 6 and cancelled its run at once.
		{"paused, recorded lost, ended on resume", 6.3, true, 0, [2]float64{3, 6}, 0, false},
		{"paused, registration gone, ended on resume", 6.3, false, 4.9, [2]float64{3, 6}, 0, false},
		{"paused, recorded lost, went on after resuming", 9, true, 0, [2]float64{3, 6}, 0, true},
		{"paused but its lease alive", 6.3, false, 0, [2]float64{3, 6}, 0, true},
		{"lease expired without a pause, ended soon after", 7, true, 0, [2]float64{}, 0, false},
		{"lease expired without a pause, went on", 8, true, 0, [2]float64{}, 0, true},
		// By n1's clock (2s fast) its run ends at 6, in real time at 4.
		{"skewed clock: apart in real time", 6, false, 0, [2]float64{}, 2 * time.Second, false},
		{"skewed clock: overlapping in real time", 4, false, 0, [2]float64{}, -2 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := drillWorld()
			w.in.Manifest.ForbidJobs = []string{"r"}
			w.in.Incarnations[1].Skew = Duration(tc.skew)
			if tc.gone > 0 {
				w.in.Incarnations[1].Deregistered = []time.Time{at(tc.gone)}
			}
			w.record(2, "n1", "succeeded", "schedule", 1, 100, 2, tc.aEnd)
			w.record(3, "n1", "skipped", "schedule", 1, 110, 3, 3) // skipped ticks are no runs
			w.record(5, "n0", "succeeded", "schedule", 1, 200, 5, 8)
			if tc.lost {
				w.lost(2, "n1", 1, 100, "n0#1", 5)
			}
			if tc.pause[1] > 0 {
				w.fault(Fault{Kind: KindPause, Target: "n1", Start: at(tc.pause[0]), End: at(tc.pause[1])})
			}
			rep := w.checkFailed(t, tc.overlap)
			if !tc.overlap {
				return
			}
			if len(rep.Overlaps) != 1 || rep.Overlaps[0].A.Instance != "n1" || rep.Overlaps[0].B.Instance != "n0" {
				t.Fatalf("overlaps %+v", rep.Overlaps)
			}
			var b strings.Builder
			rep.Write(&b)
			if !strings.Contains(b.String(), "FORBID OVERLAP r: 03:04:05.000000") {
				t.Fatalf("report:\n%s", b.String())
			}
		})
	}
}

func TestForbidRuleOnlyForForbidJobs(t *testing.T) {
	w := drillWorld()
	w.record(2, "n1", "succeeded", "schedule", 1, 100, 2, 6)
	w.record(5, "n0", "succeeded", "schedule", 1, 200, 5, 8)
	w.checkFailed(t, false)
}
