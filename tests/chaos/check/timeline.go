package check

import (
	"fmt"
	"slices"
	"time"
)

// timeline answers questions about faults and node availability at an
// instant of real time.
type timeline struct {
	rules  Rules
	faults []Fault
	incs   []Incarnation
	byInc  map[string]Incarnation
}

func newTimeline(in *Input, rules Rules) *timeline {
	tl := &timeline{rules: rules, faults: in.Faults, incs: in.Incarnations, byInc: map[string]Incarnation{}}
	for _, inc := range in.Incarnations {
		tl.byInc[inc.Label()] = inc
	}
	return tl
}

func within(t, lo, hi time.Time) bool { return !t.Before(lo) && !t.After(hi) }

// explain returns the reasons why tick may legitimately have no run. Every
// instance tries a tick when its own clock reaches it: node X with clock
// skew s fires tick T at real time T-s, its firing instant; it sends its
// claim from ClaimLead before that (as the tick's preferred claimer) to
// BackupDelay after it (as a backup), its attempt span.
//
//   - no-live-node: no node incarnation was ready and unpaused (nor
//     recovering from a pause, for ResumeRecovery) throughout its attempt
//     span, widened by Cover.
//   - quorum-loss: some were, but each one's attempt span meets an etcd
//     outage (a quorum loss, or any measured span without a committed
//     write) widened to [start-QuorumBefore, end+QuorumAfter].
//   - claimant-killed / claimant-paused: a node was SIGKILLed or SIGSTOPped
//     at an instant k (by its own clock) between its claim of the tick
//     (from ClaimLead before the tick to BackupDelay after it) and the
//     start of the run, or (kill) before the run's record was written:
//     tick in [k-BackupDelay-RecordLoss, k+ClaimLead] for a kill,
//     [k-BackupDelay-StartSlack, k+ClaimLead] for a pause. When the claim
//     keys are known, only the claimant's incarnation counts, and an
//     unclaimed tick cannot be explained this way (a claim that never
//     committed leaves the tick to the other instances).
func (tl *timeline) explain(tick time.Time, claimsKnown, claimed bool, c claim) []string {
	var reasons []string
	r := tl.rules
	able := tl.able(tick)
	switch {
	case len(able) == 0:
		reasons = append(reasons, ReasonNoLiveNode)
	case !slices.ContainsFunc(able, func(inc Incarnation) bool { return !tl.blocked(inc, tick) }):
		reasons = append(reasons, ReasonQuorum)
	}
	if !claimsKnown || claimed {
		killed, paused := false, false
		inc, incKnown := tl.byInc[tl.claimedBy(c)]
		for _, f := range tl.faults {
			if claimsKnown && f.Target != c.instance {
				continue
			}
			if incKnown && (f.Start.Before(inc.Started) || (!inc.Ended.IsZero() && f.Start.After(inc.Ended))) {
				continue // a fault of another incarnation of the claimant
			}
			at := f.Start.Add(f.Skew.D()) // the signal's instant by the victim's clock
			switch {
			case f.Kind == KindKill && within(tick, at.Add(-r.BackupDelay-r.RecordLoss), at.Add(r.ClaimLead)):
				killed = true
			case f.Kind == KindPause && within(tick, at.Add(-r.BackupDelay-r.StartSlack), at.Add(r.ClaimLead)):
				paused = true
			}
		}
		if killed {
			reasons = append(reasons, ReasonKilled)
		}
		if paused {
			reasons = append(reasons, ReasonPaused)
		}
	}
	return reasons
}

// claimedBy returns the label of the incarnation that made claim c: the
// last incarnation of the claiming node started before the claim's
// revision. It returns "" when that is not known (no revisions recorded).
func (tl *timeline) claimedBy(c claim) string {
	var best Incarnation
	for _, inc := range tl.incs {
		if inc.Node != c.instance || inc.StartRev <= 0 {
			continue
		}
		if inc.StartRev < c.rev && inc.StartRev > best.StartRev {
			best = inc
		}
	}
	if best.StartRev == 0 {
		return ""
	}
	return best.Label()
}

// attempt returns the real-time span in which inc may send its claim of
// tick: from ClaimLead before its firing instant to BackupDelay after it.
func (tl *timeline) attempt(inc Incarnation, tick time.Time) (time.Time, time.Time) {
	at := tick.Add(-inc.Skew.D())
	return at.Add(-tl.rules.ClaimLead), at.Add(tl.rules.BackupDelay)
}

// blocked reports whether inc's attempt span for tick meets a widened etcd
// outage.
func (tl *timeline) blocked(inc Incarnation, tick time.Time) bool {
	lo, hi := tl.attempt(inc, tick)
	for _, f := range tl.faults {
		if (f.Kind == KindQuorum || f.Kind == KindOutage) &&
			!hi.Before(f.Start.Add(-tl.rules.QuorumBefore)) && !lo.After(f.End.Add(tl.rules.QuorumAfter)) {
			return true
		}
	}
	return false
}

// able returns the incarnations that could have fired tick: up, ready and
// not paused (nor recovering from a pause) from Cover before its firing
// instant to Cover after its attempt span.
func (tl *timeline) able(tick time.Time) []Incarnation {
	var out []Incarnation
	for _, inc := range tl.incs {
		if tl.availableFor(inc, tick) {
			out = append(out, inc)
		}
	}
	return out
}

func (tl *timeline) availableFor(inc Incarnation, tick time.Time) bool {
	lo, hi := tl.attempt(inc, tick)
	lo, hi = lo.Add(tl.rules.ClaimLead-tl.rules.Cover), hi.Add(tl.rules.Cover) // from the firing instant on
	if inc.Ready.IsZero() || inc.Ready.After(lo) || (!inc.Ended.IsZero() && !inc.Ended.After(hi)) {
		return false
	}
	for _, f := range tl.faults {
		if f.Kind == KindPause && f.Target == inc.Node && f.Start.Before(hi) && f.End.Add(tl.rules.ResumeRecovery).After(lo) &&
			!f.Start.Before(inc.Started) && (inc.Ended.IsZero() || f.Start.Before(inc.Ended)) {
			return false
		}
	}
	return true
}

// calm reports whether a run of tick by the incarnation labelled from took
// place far from every fault: outside [start-ClaimLead, end+QuorumAfter]
// of each, in real time.
func (tl *timeline) calm(tick time.Time, from string) bool {
	at := tick
	if inc, ok := tl.byInc[from]; ok {
		at = tick.Add(-inc.Skew.D())
	}
	for _, f := range tl.faults {
		if within(at, f.began().Add(-tl.rules.ClaimLead), f.End.Add(tl.rules.QuorumAfter)) {
			return false
		}
	}
	return true
}

// began is when the harness began to inject f.
func (f Fault) began() time.Time {
	if !f.Began.IsZero() && f.Began.Before(f.Start) {
		return f.Began
	}
	return f.Start
}

// describe lists, for evidence, every incarnation alive around tick's
// firing instants: its firing instant (real time), and whether it was able
// to fire the tick and not blocked by a quorum loss.
func (tl *timeline) describe(tick time.Time) []string {
	var out []string
	for _, inc := range tl.incs {
		at := tick.Add(-inc.Skew.D())
		if inc.Started.After(at.Add(2*time.Second)) || (!inc.Ended.IsZero() && inc.Ended.Before(at.Add(-2*time.Second))) {
			continue
		}
		state := "able to fire it"
		switch {
		case !tl.availableFor(inc, tick):
			state = "NOT able (not ready, ended, or paused)"
		case tl.blocked(inc, tick):
			state = "blocked by an etcd outage"
		}
		out = append(out, fmt.Sprintf("%s skew=%v fires it at %s; started=%s ready=%s ended=%s (%s): %s",
			inc.Label(), inc.Skew.D(), fmtTime(at), fmtTime(inc.Started), fmtTime(inc.Ready), fmtTime(inc.Ended), inc.End, state))
	}
	return out
}

// near returns the faults overlapping [t-d, t+d].
func (tl *timeline) near(t time.Time, d time.Duration) []Fault {
	var out []Fault
	for _, f := range tl.faults {
		if f.began().Before(t.Add(d)) && f.End.After(t.Add(-d)) {
			out = append(out, f)
		}
	}
	return out
}

func (f Fault) String() string {
	s := fmt.Sprintf("%s %s %s..%s (%v)", f.Kind, f.Target, fmtTime(f.Start), fmtTime(f.End), f.End.Sub(f.Start).Round(time.Millisecond))
	if b := f.began(); b.Before(f.Start) {
		s += fmt.Sprintf(" injection began %s", fmtTime(b))
	}
	if f.Skew != 0 {
		s += fmt.Sprintf(" skew=%v", f.Skew.D())
	}
	if f.Kind == KindKill {
		s += fmt.Sprintf(" restarted-skew=%v", f.NewSkew.D())
	}
	if !f.Verified {
		s += " UNVERIFIED"
	}
	if f.Note != "" {
		s += " (" + f.Note + ")"
	}
	return s
}
