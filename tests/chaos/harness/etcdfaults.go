package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/distcron/distcron/tests/chaos/check"
)

// etcdFault injects a member or quorum fault, abruptly: the member
// processes are SIGKILLed (and, after st.Hold, restarted from their data
// directories) or, for a quorum fault with st.Freeze, SIGSTOPped (and
// SIGCONTed after st.Hold). Which members are hit is decided now, from
// the raft leader (see etcdTargets).
//
// A member fault is verified when the process died of SIGKILL and a
// write committed while it was down (after a new leader was elected, when
// the leader was killed): the member stays down until one has, for up to
// 10s past the hold. Its window runs from the kill to the restarted
// member's readiness. A quorum fault is verified when every process died
// of SIGKILL or was seen stopped, and no write committed (see prober) for
// at least 3/4 of the hold; its window is the longest span without a
// committed write, from the sending of the last write before it to the
// answer of the first one after it.
func (h *harness) etcdFault(ctx context.Context, st Step) {
	h.etcdMu.Lock()
	defer h.etcdMu.Unlock()
	targets, note := h.etcdTargets(ctx, st)
	var names []string
	for _, m := range targets {
		names = append(names, m.Name)
	}
	freeze := st.Kind == check.KindQuorum && st.Freeze
	f := check.Fault{Kind: st.Kind, Target: strings.Join(names, ","), Verified: true}
	// A committed write before the fault, so that an outage has a start.
	before := time.Now()
	h.waitCommit(ctx, before, 10*time.Second)

	began := time.Now()
	hitf, how := (*member).kill, "SIGKILL"
	if freeze {
		hitf, how = (*member).freeze, "SIGSTOP"
	}
	err := each(targets, hitf)
	hit := time.Now()
	if err != nil {
		f.Verified = false
		note += fmt.Sprintf("%s not verified: %v; ", how, err)
	}
	sleepCtx(ctx, time.Until(began.Add(st.Hold)))
	// Quorum kept: a write must commit while the member is down.
	if st.Kind == check.KindMember && !h.waitCommit(ctx, hit, 10*time.Second) {
		f.Verified = false
		note += "no write committed with one member down; "
	}

	// Members of a cluster without quorum only become ready together.
	restarting := time.Now()
	err = each(targets, func(m *member) error {
		if freeze {
			return m.thaw()
		}
		return m.startReady(ctx, true)
	})
	restarted := time.Now()
	if err != nil && ctx.Err() == nil {
		h.problem("%s %s: restart: %v", f.Kind, f.Target, err)
	}
	// Wait for a write after the restart, to close the outage.
	h.waitCommit(ctx, restarting, 30*time.Second)
	gapFrom, gapTo := h.prober.longestGap(before, time.Now())
	gap := gapTo.Sub(gapFrom)
	back := "restart (ready)"
	if freeze {
		back = "SIGCONT"
	}
	f.Note = note + fmt.Sprintf("%s, down %v, %s took %v, longest write gap %v", how,
		restarting.Sub(began).Round(time.Millisecond), back, restarted.Sub(restarting).Round(time.Millisecond), gap.Round(time.Millisecond))
	switch st.Kind {
	case check.KindQuorum:
		f.Start, f.End, f.Began = gapFrom.UTC(), gapTo.UTC(), began.UTC()
		if gap < st.Hold*3/4 || gapTo.IsZero() {
			f.Verified = false
			f.Note += fmt.Sprintf("; writes committed while quorum should have been lost (hold %v)", st.Hold)
		}
	default:
		f.Start, f.End = began.UTC(), restarted.UTC()
	}
	if !f.Verified && ctx.Err() == nil {
		h.problem("%s %s: not verified: %s", f.Kind, f.Target, f.Note)
	}
	h.record(f)
	// Let the cluster settle before the next etcd fault.
	sleepCtx(ctx, 2*time.Second)
}

// etcdTargets returns the members st hits, and a note on the leader. The
// plan names st.Members; with st.Leader the raft leader must be among
// them (it replaces the last one), without it the leader must not be (a
// member the plan did not name replaces it). When the leader cannot be
// found the plan's members are hit as they are.
func (h *harness) etcdTargets(ctx context.Context, st Step) ([]*member, string) {
	targets := slices.Clone(st.Members)
	lead, err := h.etcd.leader(ctx, h.cli)
	note := fmt.Sprintf("leader unknown (%v); ", err)
	switch i := slices.Index(targets, lead); {
	case err != nil:
	case st.Leader && i < 0:
		targets[len(targets)-1] = lead
	case !st.Leader && i >= 0:
		for m := range h.etcd.members {
			if m != lead && !slices.Contains(targets, m) {
				targets[i] = m
				break
			}
		}
	}
	slices.Sort(targets)
	if err == nil {
		hit := "spared"
		if slices.Contains(targets, lead) {
			hit = "hit"
		}
		note = fmt.Sprintf("raft leader %s %s; ", h.etcd.members[lead].Name, hit)
	}
	ms := make([]*member, len(targets))
	for k, i := range targets {
		ms[k] = h.etcd.members[i]
	}
	return ms, note
}

// waitCommit waits until the prober has committed a write sent at or
// after t, for up to timeout; it reports whether one did.
func (h *harness) waitCommit(ctx context.Context, t time.Time, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); !h.prober.okSince(t); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
	}
	return true
}

// memberLost handles an etcd member process that exited without the
// harness asking: a problem; it is started again (as a supervisor would)
// so the run goes on.
func (h *harness) memberLost(m *member, err error) {
	h.problem("etcd member %s exited on its own: %v", m.Name, err)
	h.mu.Lock()
	stopping := h.stopping
	h.mu.Unlock()
	if stopping {
		return
	}
	go func() {
		h.etcdMu.Lock()
		defer h.etcdMu.Unlock()
		if err := m.startReady(h.ctx, true); err != nil && h.ctx.Err() == nil {
			h.problem("restart etcd member %s: %v", m.Name, err)
		}
	}()
}
