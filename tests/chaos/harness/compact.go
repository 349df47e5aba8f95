package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/tests/chaos/check"
)

// compactDrill compacts etcd to its current revision right around two
// crashes: compact; SIGKILL the leader; compact again at once (before its
// lease expires); wait for the next leader, which began campaigning before
// the compactions, so a watch from the revision it campaigned at is
// compacted away; wait until it recorded the dead leader's runs lost;
// compact; then compact right before and right after the SIGKILL of
// another node with runs in progress, and wait until its runs are
// recorded lost. Every run in progress at either SIGKILL must be recorded
// lost, once (the lost-run rules), and no tick may run twice.
//
// The drill never compacts past a lease expiry whose lost runs are not
// recorded yet (the history before it is what a leader reads them from),
// unless they do not come within TTL+8s. The killed nodes restart after
// st.Hold with their skews. Each compaction is logged as a compact fault,
// each SIGKILL as a kill fault; the notes of the latter say when their
// lost records came.
func (h *harness) compactDrill(ctx context.Context, st Step) {
	h.compact(ctx, "drill: before the leader's SIGKILL")
	lead, err := h.waitLeader(ctx, 5*time.Second)
	if err != nil {
		h.skipDrill(st, "no leader: "+err.Error())
		return
	}
	taken := h.takeNodes(lead)
	if taken == nil {
		h.skipDrill(st, "the leader "+lead+" is not healthy, or no other node is")
		return
	}
	leader := taken[0]
	lost, unsubscribe := h.subscribeLost()
	defer unsubscribe()
	kl := h.sigkillNode(ctx, leader, "compaction drill: the leader, right after a compaction")
	kl.NewSkew = kl.Skew
	h.compact(ctx, "drill: right after the leader's SIGKILL")
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		defer h.release(leader)
		h.restartAfter(ctx, leader, st.Hold, kl.Skew.D())
	}()
	defer func() {
		<-restarted
		kl.End = time.Now().UTC()
		h.record(kl)
	}()

	next, err := h.waitLeader(ctx, h.cfg.TTL+10*time.Second, lead)
	if err != nil {
		h.logf("compaction drill: no new leader after %s's SIGKILL: %v", lead, err)
		return
	}
	kl.Note += "; " + h.waitLostOf(ctx, lost, kl, next)
	h.compact(ctx, "drill: after "+next+" took office")
	var victim *node
	for _, n := range h.nodes {
		if n.id != next && n.id != lead && h.waitRunning(ctx, n.id, "", 2*time.Second) {
			if t := h.takeNodes(n.id); t != nil {
				victim = t[0]
				break
			}
		}
	}
	if victim == nil {
		h.logf("compaction drill: no healthy node with runs in progress beside the leader %s", next)
		return
	}
	defer h.release(victim)
	h.compact(ctx, "drill: right before "+victim.id+"'s SIGKILL")
	kv := h.sigkillNode(ctx, victim, fmt.Sprintf("compaction drill: a node with runs in progress, leader %s", next))
	kv.NewSkew = kv.Skew
	h.compact(ctx, "drill: right after "+victim.id+"'s SIGKILL")
	kv.Note += "; " + h.waitLostOf(ctx, lost, kv, next)
	h.restartAfter(ctx, victim, st.Hold, kv.Skew.D())
	kv.End = time.Now().UTC()
	h.record(kv)
}

// waitLostOf waits until every run that kill fault f found in progress
// has a lost record in some node's output, for at most 3s after the
// victim's registration vanished (at most 30s after the kill), and says
// how that went.
func (h *harness) waitLostOf(ctx context.Context, lost <-chan lostEvent, f check.Fault, leader string) string {
	want := map[string]bool{}
	for _, r := range f.Running {
		want[r.String()] = true
	}
	if len(want) == 0 {
		return "no runs in progress to be recorded lost"
	}
	n := len(want)
	deadline := f.Start.Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for gone := false; time.Now().Before(deadline); {
		select {
		case ev := <-lost:
			if ev.rec.Instance == f.Target && want[ev.rec.Ref().String()] {
				delete(want, ev.rec.Ref().String())
				if len(want) == 0 {
					return fmt.Sprintf("its %d runs in progress recorded lost %v after the SIGKILL (leader %s)", n, ev.at.Sub(f.Start).Round(time.Millisecond), leader)
				}
			}
		case <-tick.C:
			if at := h.deregisteredAfter(f.Target, f.Start); !gone && !at.IsZero() {
				gone, deadline = true, at.Add(3*time.Second)
			}
		case <-ctx.Done():
			return "interrupted"
		}
	}
	return fmt.Sprintf("%d of its %d runs in progress not recorded lost within 3s of its registration's deletion (leader %s)", len(want), n, leader)
}

// deregisteredAfter returns when node id's registration was first seen
// deleted after t, or zero.
func (h *harness) deregisteredAfter(id string, t time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.incs {
		if p.inc.Node != id {
			continue
		}
		for _, d := range p.inc.Deregistered {
			if d.After(t) {
				return d
			}
		}
	}
	return time.Time{}
}

// compact compacts etcd to its current revision, retrying for up to 10s
// (a quorum loss may be in progress), and logs it as a compact fault:
// verified when a read at the revision before it is refused as compacted.
func (h *harness) compact(ctx context.Context, why string) {
	f := check.Fault{Kind: check.KindCompact, Target: "etcd"}
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		var rev int64
		if rev, err = h.compactOnce(ctx); err == nil {
			f.Verified = true
			f.Note = fmt.Sprintf("compacted to revision %d (%s)", rev, why)
			break
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			break
		}
	}
	f.Start = time.Now().UTC()
	f.End = f.Start
	if !f.Verified {
		f.Note = fmt.Sprintf("compaction failed (%s): %v", why, err)
		if ctx.Err() == nil {
			h.problem("compact: %v", err)
		}
	}
	h.record(f)
}

// compactOnce compacts to the current revision and checks that a read at
// the revision before is refused.
func (h *harness) compactOnce(ctx context.Context) (int64, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := h.cli.Get(cctx, "/chaos-probe/compact")
	if err != nil {
		return 0, err
	}
	rev := resp.Header.Revision
	if _, err := h.cli.Compact(cctx, rev); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return 0, err
	}
	if _, err := h.cli.Get(cctx, "/chaos-probe/compact", clientv3.WithRev(rev-1)); !errors.Is(err, rpctypes.ErrCompacted) {
		return 0, fmt.Errorf("a read at revision %d after compacting to %d: %v, want %v", rev-1, rev, err, rpctypes.ErrCompacted)
	}
	return rev, nil
}
