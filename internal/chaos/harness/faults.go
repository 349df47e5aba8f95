package harness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/distcron/distcron/internal/chaos/check"
)

// inject carries out one planned fault and logs it.
func (h *harness) inject(ctx context.Context, st Step) {
	switch st.Kind {
	case check.KindKill:
		h.kill(ctx, st)
	case check.KindPause:
		h.pause(ctx, st)
	case check.KindMember, check.KindQuorum:
		h.stopMembers(ctx, st)
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
	h.mu.Lock()
	p := n.cur
	p.expected = true
	f := check.Fault{Kind: check.KindKill, Target: n.id, Skew: p.inc.Skew, NewSkew: check.Duration(st.Skew), Start: time.Now().UTC()}
	p.inc.Ended, p.inc.End = f.Start, "killed"
	h.mu.Unlock()
	err := p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
		ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
		f.Verified = err == nil && ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
		if !f.Verified {
			f.Note = fmt.Sprintf("exit: %v", p.cmd.ProcessState)
		}
	case <-time.After(10 * time.Second):
		f.Note = "process did not exit within 10s of SIGKILL"
	}
	if !f.Verified {
		h.problem("kill %s: not verified: %v %s", p.inc.Label(), err, f.Note)
	}
	sleepCtx(ctx, st.Hold)
	if ctx.Err() == nil {
		if err := h.startReady(ctx, n, st.Skew); err != nil && ctx.Err() == nil {
			h.problem("restart %s: %v", n.id, err)
		}
	}
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
	err := p.cmd.Process.Signal(syscall.SIGSTOP)
	for i := 0; err == nil && i < 200; i++ {
		if procState(p.inc.PID) == "T" {
			f.Verified = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !f.Verified {
		h.problem("pause %s: process not seen stopped (state %q, signal error %v)", p.inc.Label(), procState(p.inc.PID), err)
	}
	sleepCtx(ctx, time.Until(f.Start.Add(st.Hold)))
	p.cmd.Process.Signal(syscall.SIGCONT)
	f.End = time.Now().UTC()
	h.record(f)
	sleepCtx(ctx, h.cfg.TTL)
}

// stopMembers stops the etcd members of st, keeps them down for st.Hold
// and restarts them. A member fault is verified when the member was down
// while the cluster still took writes; a quorum fault when no write
// committed (see prober) for at least 3/4 of the hold, and its window is
// the longest run without a committed write: from the last write before
// the outage to the first one after. (embedetcd's Stop lets open client
// streams finish for up to etcd's request timeout, about 7s, before the
// member leaves the cluster, so when the harness began says little about
// when quorum was lost; Began records it.)
func (h *harness) stopMembers(ctx context.Context, st Step) {
	h.etcdMu.Lock()
	defer h.etcdMu.Unlock()
	var names []string
	for _, i := range st.Members {
		names = append(names, h.etcd.Members[i].Name)
	}
	f := check.Fault{Kind: st.Kind, Target: strings.Join(names, ",")}
	// A committed write before the fault, so that an outage has a start.
	before := time.Now()
	for deadline := before.Add(10 * time.Second); !h.prober.okSince(before) && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(10 * time.Millisecond)
	}

	stopping := time.Now()
	var wg sync.WaitGroup
	for _, i := range st.Members {
		wg.Add(1)
		go func() { defer wg.Done(); h.etcd.Members[i].Stop() }()
	}
	wg.Wait()
	down := time.Now()
	for _, i := range st.Members {
		if h.etcd.Members[i].Running() {
			f.Note = "member still running after Stop; "
		}
	}
	f.Verified = f.Note == ""
	if st.Kind == check.KindMember {
		// Quorum kept: a write must commit while the member is down.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := h.cli.Put(pctx, "/chaos-probe/member", down.String())
		cancel()
		if err != nil {
			f.Verified = false
			f.Note += fmt.Sprintf("no write with one member down: %v; ", err)
		}
	}
	sleepCtx(ctx, time.Until(down.Add(st.Hold)))

	// Members of a cluster without quorum only become ready together.
	restarting := time.Now()
	errs := make([]error, len(st.Members))
	for k, i := range st.Members {
		wg.Add(1)
		go func() { defer wg.Done(); errs[k] = h.etcd.Members[i].Restart() }()
	}
	wg.Wait()
	restarted := time.Now()
	for _, err := range errs {
		if err != nil {
			h.problem("%s %s: restart: %v", f.Kind, f.Target, err)
		}
	}
	// Wait for a write after the restart, to close the outage.
	for deadline := time.Now().Add(30 * time.Second); !h.prober.okSince(restarting) && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(20 * time.Millisecond)
	}
	gapFrom, gapTo := h.prober.longestGap(before, time.Now())
	gap := gapTo.Sub(gapFrom)
	f.Note += fmt.Sprintf("stop took %v, down %v, restart %v, longest write gap %v",
		down.Sub(stopping).Round(time.Millisecond), restarting.Sub(down).Round(time.Millisecond),
		restarted.Sub(restarting).Round(time.Millisecond), gap.Round(time.Millisecond))
	switch st.Kind {
	case check.KindQuorum:
		f.Start, f.End, f.Began = gapFrom.UTC(), gapTo.UTC(), stopping.UTC()
		if gap < st.Hold*3/4 || gapTo.IsZero() {
			f.Verified = false
			f.Note += fmt.Sprintf("; writes committed while quorum should have been lost (hold %v)", st.Hold)
		}
	default:
		f.Start, f.End = stopping.UTC(), restarted.UTC()
	}
	if !f.Verified && ctx.Err() == nil {
		h.problem("%s %s: not verified: %s", f.Kind, f.Target, f.Note)
	}
	h.record(f)
	// Let the cluster settle before the next etcd fault.
	sleepCtx(ctx, 2*time.Second)
}

// prober writes to etcd every 50ms for the whole run (each write with a
// 250ms timeout, so that one stuck connection costs little) and remembers
// which writes committed. Its gaps are the times when etcd could not
// commit anything: the quorum losses, and any other outage (a leader
// election after a member stop, say).
type prober struct {
	mu   sync.Mutex
	ok   [][2]time.Time // committed writes: when sent, when answered
	done chan struct{}
	wg   sync.WaitGroup
}

func startProber(probe func(time.Duration) error) *prober {
	p := &prober{done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			start := time.Now()
			if probe(250*time.Millisecond) == nil {
				p.mu.Lock()
				p.ok = append(p.ok, [2]time.Time{start, time.Now()})
				p.mu.Unlock()
			}
			select {
			case <-p.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return p
}

func (p *prober) stop() {
	close(p.done)
	p.wg.Wait()
}

func (p *prober) okSince(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ok) > 0 && !p.ok[len(p.ok)-1][0].Before(t)
}

// gaps returns the spans without a commit longer than min, between
// commits sent in [from, to], widened to be safe: a write commits between
// its sending and its answer, so a span runs from the sending of the last
// write before it to the answer of the first one after it.
func (p *prober) gaps(from, to time.Time, min time.Duration) [][2]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][2]time.Time
	for i := 1; i < len(p.ok); i++ {
		a, b := p.ok[i-1][0], p.ok[i][1]
		if a.Before(from) || p.ok[i][0].After(to) {
			continue
		}
		if b.Sub(a) > min {
			out = append(out, [2]time.Time{a, b})
		}
	}
	return out
}

// longestGap returns the longest span without a commit within [from, to].
func (p *prober) longestGap(from, to time.Time) (time.Time, time.Time) {
	var best [2]time.Time
	for _, g := range p.gaps(from, to, 0) {
		if g[1].Sub(g[0]) > best[1].Sub(best[0]) {
			best = g
		}
	}
	return best[0], best[1]
}
