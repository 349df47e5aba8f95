package harness

import (
	"context"
	"syscall"
	"time"

	"github.com/distcron/distcron/tests/chaos/check"
)

// inject carries out one planned fault and logs it.
func (h *harness) inject(ctx context.Context, st Step) {
	switch st.Kind {
	case check.KindKill:
		h.kill(ctx, st)
	case check.KindPause:
		h.pause(ctx, st)
	case check.KindMember, check.KindQuorum:
		h.etcdFault(ctx, st)
	case check.KindLeader:
		h.leaderDrill(ctx, st)
	case check.KindCompact:
		h.compactDrill(ctx, st)
	case check.KindForbid:
		h.forbidDrill(ctx, st)
	case check.KindStop:
		h.stopDrill(ctx, st)
	}
}

func (h *harness) record(f check.Fault) {
	h.mu.Lock()
	h.faults = append(h.faults, f)
	h.mu.Unlock()
	h.logf("fault over: %s", f)
}

// takeNode marks a node busy for a fault: the planned one if it is
// healthy (ready, no fault in progress), else the next healthy one. It
// returns nil when that would leave no healthy node.
func (h *harness) takeNode(want int) *node {
	h.mu.Lock()
	defer h.mu.Unlock()
	healthy := func(n *node) bool {
		return !n.busy && n.cur != nil && !n.cur.inc.Ready.IsZero() && n.cur.inc.End == ""
	}
	count := 0
	for _, n := range h.nodes {
		if healthy(n) {
			count++
		}
	}
	if count < 2 {
		return nil
	}
	for i := range h.nodes {
		if n := h.nodes[(want+i)%len(h.nodes)]; healthy(n) {
			n.busy = true
			return n
		}
	}
	return nil
}

func (h *harness) release(n *node) {
	h.mu.Lock()
	n.busy = false
	h.mu.Unlock()
}

func (h *harness) skip(st Step) {
	h.mu.Lock()
	h.skipped++
	h.mu.Unlock()
	h.logf("skipped (it would leave no healthy node): %s", st)
}

// kill SIGKILLs a node, waits st.Hold, and starts its next incarnation with
// clock skew st.Skew. The fault ends when the new process is ready.
func (h *harness) kill(ctx context.Context, st Step) {
	n := h.takeNode(st.Node)
	if n == nil {
		h.skip(st)
		return
	}
	defer h.release(n)
	f := h.sigkillNode(ctx, n, "")
	f.NewSkew = check.Duration(st.Skew)
	h.restartAfter(ctx, n, st.Hold, st.Skew)
	f.End = time.Now().UTC()
	h.record(f)
}

// pause SIGSTOPs a node for st.Hold, then SIGCONTs it. The node stays
// marked busy for a TTL more, while it replaces its expired session.
func (h *harness) pause(ctx context.Context, st Step) {
	n := h.takeNode(st.Node)
	if n == nil {
		h.skip(st)
		return
	}
	defer h.release(n)
	h.mu.Lock()
	p := n.cur
	f := check.Fault{Kind: check.KindPause, Target: n.id, Skew: p.inc.Skew, Start: time.Now().UTC()}
	h.mu.Unlock()
	if err := sigstop(p.cmd.Process); err != nil {
		f.Note = err.Error()
		h.problem("pause %s: %v", p.inc.Label(), err)
	} else {
		f.Verified = true
	}
	sleepCtx(ctx, time.Until(f.Start.Add(st.Hold)))
	p.cmd.Process.Signal(syscall.SIGCONT)
	f.End = time.Now().UTC()
	h.record(f)
	sleepCtx(ctx, h.cfg.TTL)
}
