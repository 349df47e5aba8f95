package harness

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/distcron/distcron/tests/chaos/check"
)

// stopDrill stops a node gracefully (SIGTERM) while it has stubborn runs
// in progress (stubborn-0 ignores cancellation and outlasts the stop
// budget), waits for the process to exit, and starts it again with the
// same skew. Whether the stop kept its budget, exited cleanly and never
// panicked (the node stays alive afterStop after Stop returned, so runs
// abandoned by Stop end in a live process) is the checker's stop rule;
// the fault's note says what was seen. The fault ends when the new
// process is ready.
func (h *harness) stopDrill(ctx context.Context, st Step) {
	n := h.takeNode(st.Node)
	if n == nil {
		h.skip(st)
		return
	}
	defer h.release(n)
	h.waitRunning(ctx, n.id, "stubborn-0", 2*time.Second)
	runs, err := h.runningOf(ctx, n.id)
	stubborn := 0
	for _, r := range runs {
		if r.Job == "stubborn-0" {
			stubborn++
		}
	}
	h.mu.Lock()
	p := n.cur
	p.expected = true
	f := check.Fault{Kind: check.KindStop, Target: n.id, Skew: p.inc.Skew, NewSkew: p.inc.Skew, Start: time.Now().UTC()}
	p.inc.Ended, p.inc.End = f.Start, "stopped"
	h.mu.Unlock()
	p.cmd.Process.Signal(syscall.SIGTERM)
	limit := stopWait + stopGrace + afterStop + 10*time.Second
	select {
	case <-p.exited:
		f.Verified = stubborn > 0 && err == nil
	case <-time.After(limit):
		h.problem("stop %s: no exit within %v of SIGTERM; killed", p.inc.Label(), limit)
		p.cmd.Process.Kill()
		<-p.exited
	}
	h.mu.Lock()
	inc := p.inc
	h.mu.Unlock()
	f.Note = fmt.Sprintf("%d stubborn-0 runs in progress (read error: %v); Stop returned %s; %s %v after SIGTERM", stubborn, err,
		sinceOrNever(inc.StopReturned, f.Start), inc.Exit, inc.Exited.Sub(f.Start).Round(time.Millisecond))
	if inc.Panic != "" {
		f.Note += "; " + inc.Panic
	}
	h.restartAfter(ctx, n, 0, p.inc.Skew.D())
	f.End = time.Now().UTC()
	h.record(f)
}

// sinceOrNever says "after <t-from>", or "never" when t is zero.
func sinceOrNever(t, from time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return "after " + t.Sub(from).Round(time.Millisecond).String()
}
