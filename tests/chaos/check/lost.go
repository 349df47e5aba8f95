package check

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// LostTwice is a run recorded lost more than once: a second leader (or the
// same one) handled a loss that was already handled. With RerunLost each
// such record may come with a second re-run.
type LostTwice struct {
	Run    RunRef
	Source string   // "records", or "notifications" (the webhook's posts)
	Lost   []Record // the lost records (or notifications) of the run
	Reruns []Record // the records of its next attempt
}

// Unrecorded is a run in progress at a SIGKILL that no leader recorded
// lost.
type Unrecorded struct {
	Run    RunRef
	Victim string    // the killed incarnation
	Killed time.Time // the SIGKILL
	Gone   time.Time // when its registration was seen deleted (zero: not seen)
	Reruns []Record  // records of its next attempt, if any
}

// checkLost applies the lost-run rules:
//
//   - lost once: no run (job, shard, tick, attempt) has two lost records,
//     nor two lost notifications;
//   - lost recorded: every run in progress at a SIGKILL (Fault.Running)
//     has a lost record, unless the leader (another node, leading when it
//     was SIGKILLed, or not known not to) was SIGKILLed within
//     LostRecordWindow after the victim's registration vanished: it may
//     have recorded the loss and died before its sink flushed.
//
// Re-runs (RerunLost) are checked by the duplicate rule: each attempt of a
// tick runs at most once. A re-run with no lost record of the attempt
// before it is noted.
func (rep *Report) checkLost(in *Input, tl *timeline) {
	lost := lostByRun(rep.records)
	runs := map[runID][]Record{}
	for _, r := range rep.records {
		if r.Status != "lost" {
			runs[r.Ref().id()] = append(runs[r.Ref().id()], r)
		}
	}
	next := func(ref RunRef) []Record {
		ref.Attempt++
		return runs[ref.id()]
	}
	twice := func(source string, byRun map[runID][]Record) {
		for _, recs := range byRun {
			if len(recs) > 1 {
				rep.LostTwice = append(rep.LostTwice, LostTwice{Run: recs[0].Ref(), Source: source, Lost: recs, Reruns: next(recs[0].Ref())})
			}
		}
	}
	twice("records", lost)
	notified, _ := distinct(in.Notifications)
	twice("notifications", lostByRun(notified))
	slices.SortFunc(rep.LostTwice, func(a, b LostTwice) int {
		return cmp.Or(a.Run.Tick.Compare(b.Run.Tick), cmp.Compare(a.Run.Job, b.Run.Job), cmp.Compare(a.Source, b.Source))
	})

	r := rep.Rules
	m := rep.Manifest
	for _, f := range in.Faults {
		if f.Kind != KindKill || f.Running == nil {
			continue
		}
		victim, ok := tl.killedAt(f)
		var gone time.Time
		if ok {
			for _, d := range victim.Deregistered {
				if !d.Before(f.Start) {
					gone = d
					break
				}
			}
		}
		// When the recorder could have died with the record in its sink.
		from, to := gone.Add(-100*time.Millisecond), gone.Add(r.LostRecordWindow)
		if gone.IsZero() {
			from, to = f.Start, f.Start.Add(m.TTL.D()+m.EtcdElectionTimeout.D()+r.LostRecordWindow)
		}
		recorderMayHaveDied := slices.ContainsFunc(in.Faults, func(o Fault) bool {
			return o.Kind == KindKill && o.Target != f.Target && (o.Leader == "" || o.Leader == o.Target) && within(o.Start, from, to)
		})
		for _, run := range f.Running {
			n := 0
			for _, l := range lost[run.id()] {
				if l.Instance == f.Target {
					n++
				}
			}
			if n > 0 {
				continue
			}
			if recorderMayHaveDied {
				rep.Notes = append(rep.Notes, fmt.Sprintf("run in progress at the SIGKILL of %s has no lost record, but the leader was SIGKILLed right after its registration vanished (its sink may not have flushed it): %s", f.Target, run))
				continue
			}
			u := Unrecorded{Run: run, Victim: f.Target, Killed: f.Start, Gone: gone, Reruns: next(run)}
			if ok {
				u.Victim = victim.Label()
			}
			rep.Unrecorded = append(rep.Unrecorded, u)
		}
	}

	// Re-runs without a lost attempt before them, and the re-run figures.
	for _, job := range m.RerunJobs {
		nLost, rerun := 0, 0
		for id, recs := range lost {
			if id.job == job {
				nLost++
				if len(next(recs[0].Ref())) > 0 {
					rerun++
				}
			}
		}
		orphans := 0
		for _, rec := range rep.records {
			if rec.Job == job && rec.Trigger == "retry" && rec.Status != "lost" {
				prev := rec.Ref()
				prev.Attempt--
				if len(lost[prev.id()]) == 0 {
					orphans++
					if orphans <= 3 {
						rep.Notes = append(rep.Notes, "re-run with no lost record of the attempt before it (its recorder killed before its sink flushed?): "+rec.String())
					}
				}
			}
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s (RerunLost): %d runs recorded lost, %d of them re-run; %d re-runs without a lost record", job, nLost, rerun, orphans))
	}
}

// lostByRun groups the lost records by run.
func lostByRun(recs []Record) map[runID][]Record {
	out := map[runID][]Record{}
	for _, r := range recs {
		if r.Status == "lost" {
			out[r.Ref().id()] = append(out[r.Ref().id()], r)
		}
	}
	return out
}

// killedAt returns the incarnation that kill fault f ended.
func (tl *timeline) killedAt(f Fault) (Incarnation, bool) {
	for _, inc := range tl.incs {
		if inc.Node == f.Target && strings.HasPrefix(inc.End, "killed") && inc.Ended.Sub(f.Start).Abs() < time.Millisecond {
			return inc, true
		}
	}
	return Incarnation{}, false
}
