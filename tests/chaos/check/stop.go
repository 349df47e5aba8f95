package check

import (
	"fmt"
	"strings"
	"time"
)

// BadStop is a graceful stop (SIGTERM) that broke its promise.
type BadStop struct {
	Incarnation string
	Sent        time.Time // the SIGTERM
	Returned    time.Time // Stop returned (zero: never logged)
	Exited      time.Time
	Exit        string
	Panic       string
	Why         []string
}

func (b BadStop) String() string {
	return fmt.Sprintf("%s: SIGTERM at %s: %s", b.Incarnation, fmtTime(b.Sent), strings.Join(b.Why, "; "))
}

// checkStops applies the stop rule to every incarnation the harness
// stopped with SIGTERM: Stop returns within the budget (Manifest.StopBudget)
// plus StopOverhead; the process exits within AfterStop plus StopOverhead
// after that (after the SIGTERM plus the budget, AfterStop and
// StopOverhead, if Stop never returned), with status 0; and its stderr
// shows no panic, however late its abandoned runs end. Incarnations
// without an exit status (runs of an older harness) are not judged.
func (rep *Report) checkStops(in *Input) {
	m, r := rep.Manifest, rep.Rules
	budget := m.StopBudget.D()
	for _, inc := range in.Incarnations {
		if inc.End != "stopped" || inc.Exit == "" {
			continue
		}
		b := BadStop{Incarnation: inc.Label(), Sent: inc.Ended, Returned: inc.StopReturned, Exited: inc.Exited, Exit: inc.Exit, Panic: inc.Panic}
		if inc.Panic != "" {
			b.Why = append(b.Why, "panicked: "+inc.Panic)
		}
		if inc.Exit != "exit status 0" {
			b.Why = append(b.Why, "exit: "+inc.Exit)
		}
		exitBy := inc.Ended.Add(budget + m.AfterStop.D() + r.StopOverhead)
		switch took := inc.StopReturned.Sub(inc.Ended); {
		case inc.StopReturned.IsZero():
			b.Why = append(b.Why, "Stop never returned (no \"scheduler stopped\" line)")
		case budget > 0 && took > budget+r.StopOverhead:
			b.Why = append(b.Why, fmt.Sprintf("Stop returned %v after SIGTERM: budget %v + %v", took.Round(time.Millisecond), budget, r.StopOverhead))
		default:
			exitBy = inc.StopReturned.Add(m.AfterStop.D() + r.StopOverhead)
		}
		if budget > 0 && inc.Exited.After(exitBy) {
			b.Why = append(b.Why, fmt.Sprintf("exited %v after SIGTERM, %v past its deadline (Stop's return, or SIGTERM + budget, + after-stop %v + %v)",
				inc.Exited.Sub(inc.Ended).Round(time.Millisecond), inc.Exited.Sub(exitBy).Round(time.Millisecond), m.AfterStop.D(), r.StopOverhead))
		}
		if len(b.Why) > 0 {
			rep.BadStops = append(rep.BadStops, b)
		}
	}
}
