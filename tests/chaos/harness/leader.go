package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/distcron/distcron/tests/chaos/check"
)

// leaderDrill kills the leader while it records lost runs. A node other
// than the leader, with a run of rerun-0 (RerunLost) in progress, is
// SIGKILLed; once its lease is gone the leader records its runs lost and
// requests their re-runs, and as soon as the first of those lost records
// comes out of the leader's stdout, the leader is SIGKILLed too. The next
// leader must not record those runs lost again, nor re-run them again
// (check: the lost-run and duplicate rules); it must record the dead
// leader's own runs lost. Both nodes restart after st.Hold (the victim's
// clock skew is kept, the leader's too).
//
// The drill's entry (kind leader) names both nodes; the two SIGKILLs are
// logged as kill faults of their own. It is verified when both kills are
// and the leader was identified before each.
func (h *harness) leaderDrill(ctx context.Context, st Step) {
	f := check.Fault{Kind: check.KindLeader, Start: time.Now().UTC()}
	lead, err := h.waitLeader(ctx, 5*time.Second)
	if err != nil {
		h.skipDrill(st, "no leader: "+err.Error())
		return
	}
	// A victim with a re-runnable run in progress.
	var victim, leader *node
	for _, n := range h.nodes {
		if n.id != lead && h.waitRunning(ctx, n.id, "rerun-0", 2*time.Second) {
			if taken := h.takeNodes(n.id, lead); taken != nil {
				victim, leader = taken[0], taken[1]
				break
			}
		}
	}
	if victim == nil {
		h.skipDrill(st, "no healthy victim with rerun-0 in progress beside the leader "+lead)
		return
	}
	defer h.release(victim)
	defer h.release(leader)

	lost, unsubscribe := h.subscribeLost()
	defer unsubscribe()
	kv := h.sigkillNode(ctx, victim, fmt.Sprintf("leader drill: the victim (leader %s)", lead))
	victimSkew := kv.Skew.D()
	kv.NewSkew = kv.Skew
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		h.restartAfter(ctx, victim, st.Hold, victimSkew)
		kv.End = time.Now().UTC()
		h.record(kv)
	}()

	// The victim's lease expires after the TTL; the leader records its
	// runs lost at once. Kill whoever writes the first of them.
	var first lostEvent
	deadline := time.NewTimer(h.cfg.TTL + 8*time.Second)
	defer deadline.Stop()
wait:
	for {
		select {
		case ev := <-lost:
			if ev.rec.Instance == victim.id && ev.at.After(kv.Start) {
				first = ev
				break wait
			}
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			<-restarted
			return
		}
	}
	f.Verified = kv.Verified
	note := "no lost record of the victim's runs within TTL+8s; killing the leader anyway"
	if first.from != nil {
		note = fmt.Sprintf("%s recorded %s lost %v after the victim's SIGKILL", first.from.inc.Label(), first.rec.Ref(), first.at.Sub(kv.Start).Round(time.Millisecond))
		if first.from.inc.Node != lead {
			note += fmt.Sprintf(" (not %s: leadership moved)", lead)
		}
	}
	now, err := h.leaderID(ctx)
	if err != nil || now != lead {
		f.Verified = false
		note += fmt.Sprintf("; %s no longer leads (leader %q, %v)", lead, now, err)
	}
	kl := h.sigkillNode(ctx, leader, "leader drill: the leader, right after "+note)
	kl.NewSkew = kl.Skew
	f.Verified = f.Verified && kl.Verified
	h.restartAfter(ctx, leader, st.Hold, kl.Skew.D())
	kl.End = time.Now().UTC()
	h.record(kl)
	<-restarted
	f.Target = victim.id + "," + lead
	f.End = time.Now().UTC()
	f.Note = note
	h.record(f)
}

// skipDrill logs a drill that could not start.
func (h *harness) skipDrill(st Step, why string) {
	h.mu.Lock()
	h.skipped++
	h.mu.Unlock()
	h.logf("skipped: %s: %s", st, why)
}
