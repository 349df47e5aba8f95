package check

import (
	"strings"
	"testing"
	"time"
)

func TestStops(t *testing.T) {
	// Budget 1.5s (stop-wait + stop-grace), after-stop 3.5s, overhead 2s;
	// n1 gets SIGTERM at 10.
	for _, tc := range []struct {
		name             string
		returned, exited float64 // 0: never
		exit, panic      string
		why              string // "" for a good stop
	}{
		{"in budget, clean", 11.6, 15.2, "exit status 0", "", ""},
		{"Stop at its overhead's end", 13.5, 19.0, "exit status 0", "", ""},
		{"Stop too slow", 14, 17.6, "exit status 0", "", "Stop returned 4s after SIGTERM"},
		{"exit too slow after Stop", 11.6, 17.2, "exit status 0", "", "past its deadline"},
		{"panic after Stop", 11.6, 12, "exit status 2", "panic: send on closed channel", "panicked: panic: send on closed channel"},
		{"unclean exit", 11.6, 15.2, "exit status 1", "", "exit: exit status 1"},
		{"Stop never returned", 0, 15, "exit status 0", "", "Stop never returned"},
		{"Stop never returned, exit too late", 0, 17.1, "exit status 0", "", "past its deadline"},
		{"not judged without an exit status", 0, 0, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.in.Manifest.StopBudget, w.in.Manifest.AfterStop = Duration(1500*time.Millisecond), Duration(3500*time.Millisecond)
			inc := &w.in.Incarnations[1]
			inc.Ended, inc.End, inc.Exit, inc.Panic = at(10), "stopped", tc.exit, tc.panic
			if tc.returned > 0 {
				inc.StopReturned = at(tc.returned)
			}
			if tc.exited > 0 {
				inc.Exited = at(tc.exited)
			}
			rep := w.checkFailed(t, tc.why != "")
			if tc.why == "" {
				return
			}
			var b strings.Builder
			rep.Write(&b)
			if len(rep.BadStops) != 1 || !strings.Contains(b.String(), "BAD STOP n1#1: SIGTERM at 03:04:10.000000") || !strings.Contains(b.String(), tc.why) {
				t.Fatalf("bad stops %+v\n%s", rep.BadStops, b.String())
			}
		})
	}
}
