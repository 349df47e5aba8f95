package check

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Overlap is two runs of an OverlapForbid job that ran at the same time,
// in real time, beyond what the rule allows.
type Overlap struct {
	Job      string
	A, B     Record    // A started first
	From, To time.Time // the overlap, real time
	Why      string    // why it is not excused
}

// checkForbid applies the Forbid rule to every OverlapForbid job. Runs
// are the records other than skipped and lost; a run's span is [started,
// finished] by its runner's clock, made real time by removing the skew of
// the incarnation that wrote it. Two runs A and B (A started first) must
// not overlap, except when A's lease expired before B started (Forbid
// holds the running key on the runner's lease, so B may then start) and A
// ended soon after its runner could know it:
//
//   - A's lease expired before B started: A was recorded lost, or its
//     runner's registration was seen deleted between A's start and B's
//     start;
//   - and A finished within ResumeRecovery + ForbidSlack of its runner
//     being able to notice: the end of the pause of A's runner that B's
//     start falls into, else B's start. A resumed runner must not go on
//     with a run its lease no longer protects (nor put its running key
//     back): it cancels it.
func (rep *Report) checkForbid(in *Input, tl *timeline) {
	lost := lostByRun(rep.records)
	type span struct {
		rec        Record
		start, end time.Time
	}
	real := func(r Record, t time.Time) time.Time {
		if inc, ok := tl.byInc[r.From]; ok {
			return t.Add(-inc.Skew.D())
		}
		return t
	}
	for _, job := range rep.Manifest.ForbidJobs {
		var runs []span
		for _, r := range rep.records {
			if r.Job == job && r.Status != "lost" && r.Status != "skipped" {
				runs = append(runs, span{r, real(r, r.Started), real(r, r.Finished)})
			}
		}
		slices.SortFunc(runs, func(a, b span) int { return a.start.Compare(b.start) })
		for i, a := range runs {
			for _, b := range runs[i+1:] {
				if !b.start.Before(a.end) {
					break // sorted by start: no later run meets a
				}
				why := rep.forbidExcuse(tl, lost, a.rec, a.start, a.end, b.start)
				if why == "" {
					continue
				}
				rep.Overlaps = append(rep.Overlaps, Overlap{Job: job, A: a.rec, B: b.rec, From: b.start, To: minTime(a.end, b.end), Why: why})
			}
		}
	}
	slices.SortFunc(rep.Overlaps, func(a, b Overlap) int { return cmp.Or(a.From.Compare(b.From), cmp.Compare(a.Job, b.Job)) })
	for _, job := range rep.Manifest.ForbidJobs {
		n, skipped := 0, 0
		for _, r := range rep.records {
			switch {
			case r.Job != job:
			case r.Status == "skipped":
				skipped++
			case r.Status != "lost":
				n++
			}
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("%s (OverlapForbid): %d runs, %d ticks skipped", job, n, skipped))
	}
}

// forbidExcuse returns "" when run a (real span aStart..aEnd) may overlap
// a run that started at bStart, else why not.
func (rep *Report) forbidExcuse(tl *timeline, lost map[runID][]Record, a Record, aStart, aEnd, bStart time.Time) string {
	inc, known := tl.byInc[a.From]
	expired := len(lost[a.Ref().id()]) > 0
	if !expired && known {
		expired = slices.ContainsFunc(inc.Deregistered, func(d time.Time) bool { return within(d, aStart, bStart) })
	}
	if !expired {
		return "the earlier run still held its lease: neither recorded lost nor its runner's registration gone before the later one started"
	}
	noticed := bStart
	if known {
		for _, f := range tl.faults {
			if f.Kind == KindPause && f.Target == inc.Node && within(bStart, f.Start, f.End) &&
				!f.Start.Before(inc.Started) && (inc.Ended.IsZero() || f.Start.Before(inc.Ended)) {
				noticed = f.End // its runner was stopped: it could only notice on resume
			}
		}
	}
	limit := noticed.Add(rep.Rules.ResumeRecovery + rep.Rules.ForbidSlack)
	if aEnd.After(limit) {
		return fmt.Sprintf("the earlier run's lease expired (it was recorded lost), but it went on %v after its runner could notice (%s; allowed %v)",
			aEnd.Sub(noticed).Round(time.Millisecond), fmtTime(noticed), rep.Rules.ResumeRecovery+rep.Rules.ForbidSlack)
	}
	return ""
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
