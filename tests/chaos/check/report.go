package check

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Write prints the report: the fault summary, the per-job table, lateness,
// notes, the verdict and, when the run failed, the evidence.
func (r *Report) Write(w io.Writer) {
	m := r.Manifest
	fmt.Fprintf(w, "distcron chaos check: seed %d, %d nodes, %d jobs @every %v, session TTL %v\n",
		m.Seed, len(m.Nodes), len(m.Jobs), m.Every.D(), m.TTL.D())
	fmt.Fprintf(w, "run %s..%s (%v), checked window %s..%s (%v)\n", fmtTime(m.Started), fmtTime(m.Ended),
		m.Ended.Sub(m.Started).Round(time.Second), fmtTime(m.From), fmtTime(m.To), m.To.Sub(m.From).Round(time.Second))
	if r.ClaimsKnown {
		fmt.Fprintln(w, "claim keys: one per tick; every run checked against its claim")
	} else {
		fmt.Fprintln(w, "claim keys: not one per tick (or not dumped); explanations use fault timing only")
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\tcount\tverified\ttotal\tmin\tmax\t")
	for _, f := range r.Faults {
		extra := ""
		if f.Kind == KindKill && f.Count > 0 {
			extra = fmt.Sprintf("restart skew %v..%v", f.SkewMin, f.SkewMax)
		}
		if f.Kind == KindOutage {
			extra = "measured, not injected: no write committed for over 500ms, outside the quorum losses"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%v\t%v\t%v\t%s\n", f.Kind, f.Count, f.Verified,
			f.Total.Round(100*time.Millisecond), f.Min.Round(100*time.Millisecond), f.Max.Round(100*time.Millisecond), extra)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "job\texpected\trun\tskipped\tduplicates\tmissed\texplained\tunexplained\tlate p50\tp99\tmax\t")
	row := func(j JobReport) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%v\t%v\t%v\t\n", j.Job, j.Expected, j.Run, j.Skipped, j.Duplicates,
			j.Missed, j.Explained, j.Unexplained, round(j.Late.P50), round(j.Late.P99), round(j.Late.Max))
	}
	for _, j := range r.Jobs {
		row(j)
	}
	row(r.Total)
	tw.Flush()

	fmt.Fprintln(w)
	var reasons []string
	for _, k := range []string{ReasonQuorum, ReasonKilled, ReasonPaused, ReasonNoLiveNode} {
		reasons = append(reasons, fmt.Sprintf("%s %d", k, r.Reasons[k]))
	}
	fmt.Fprintf(w, "explained misses by reason (a miss may have several): %s\n", strings.Join(reasons, ", "))
	fmt.Fprintf(w, "lateness, all runs in the window:  %v\n", r.Total.Late)
	fmt.Fprintf(w, "lateness, runs far from any fault: %v\n", r.CalmLate)
	fmt.Fprintf(w, "lateness by the true clock (skew removed), all runs: %v\n", r.RealLate)
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "notes:")
		for _, n := range r.Notes {
			fmt.Fprintln(w, "  "+n)
		}
	}

	fmt.Fprintln(w)
	verdict := "PASS"
	if r.Failed() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "%s: %d duplicates, %d unexplained misses, %d bad records, %d harness problems (%d ticks checked)\n",
		verdict, len(r.Duplicates), r.Total.Unexplained, len(r.Bad), len(m.Problems), r.Total.Expected)
	fmt.Fprintf(w, "drill rules: %d runs recorded lost twice, %d runs lost to a SIGKILL never recorded lost, %d Forbid overlaps, %d bad stops\n",
		len(r.LostTwice), len(r.Unrecorded), len(r.Overlaps), len(r.BadStops))
	if r.Failed() {
		r.writeEvidence(w)
		r.writeDrillEvidence(w)
	}
}

// writeDrillEvidence prints the failures of the drills' rules.
func (r *Report) writeDrillEvidence(w io.Writer) {
	limit := r.Rules.MaxEvidence
	for i, l := range r.LostTwice {
		if i == limit {
			fmt.Fprintf(w, "... and %d more runs recorded lost twice\n", len(r.LostTwice)-i)
			break
		}
		fmt.Fprintf(w, "\nLOST TWICE (%s): %s, %d times:\n", l.Source, l.Run, len(l.Lost))
		for _, rec := range l.Lost {
			fmt.Fprintln(w, "  lost:   "+rec.String())
		}
		for _, rec := range l.Reruns {
			fmt.Fprintln(w, "  re-run: "+rec.String())
		}
	}
	for i, u := range r.Unrecorded {
		if i == limit {
			fmt.Fprintf(w, "... and %d more runs never recorded lost\n", len(r.Unrecorded)-i)
			break
		}
		gone := "its registration's deletion was not seen"
		if !u.Gone.IsZero() {
			gone = fmt.Sprintf("its registration vanished at %s, %v after", fmtTime(u.Gone), u.Gone.Sub(u.Killed).Round(time.Millisecond))
		}
		fmt.Fprintf(w, "\nNEVER RECORDED LOST: %s, in progress on %s at its SIGKILL (%s); %s\n", u.Run, u.Victim, fmtTime(u.Killed), gone)
		for _, rec := range u.Reruns {
			fmt.Fprintln(w, "  re-run: "+rec.String())
		}
	}
	for i, o := range r.Overlaps {
		if i == limit {
			fmt.Fprintf(w, "... and %d more Forbid overlaps\n", len(r.Overlaps)-i)
			break
		}
		fmt.Fprintf(w, "\nFORBID OVERLAP %s: %s..%s (%v, real time): %s\n  earlier: %s\n  later:   %s\n", o.Job,
			fmtTime(o.From), fmtTime(o.To), o.To.Sub(o.From).Round(time.Millisecond), o.Why, o.A, o.B)
	}
	for _, b := range r.BadStops {
		fmt.Fprintf(w, "\nBAD STOP %s\n", b)
	}
}

// writeEvidence prints what a reader needs to judge each failure: the
// records, instances and tokens, the faults around, the node states.
func (r *Report) writeEvidence(w io.Writer) {
	tl := newTimeline(r.in, r.Rules)
	for _, p := range r.Manifest.Problems {
		fmt.Fprintln(w, "harness problem: "+p)
	}
	for i, b := range r.Bad {
		if i == r.Rules.MaxEvidence {
			fmt.Fprintf(w, "... and %d more bad records\n", len(r.Bad)-i)
			break
		}
		fmt.Fprintln(w, "bad record: "+b)
	}
	for i, d := range r.Duplicates {
		if i == r.Rules.MaxEvidence {
			fmt.Fprintf(w, "... and %d more duplicates\n", len(r.Duplicates)-i)
			break
		}
		fmt.Fprintf(w, "\nDUPLICATE %s shard %d tick %s (%s) attempt %d ran more than once; the tick's records:\n", d.Job, d.Shard, fmtTime(d.Tick), d.Tick.Format(time.RFC3339Nano), d.Attempt)
		for _, rec := range d.Records {
			fmt.Fprintln(w, "  record: "+rec.String())
		}
		r.writeContext(w, tl, d.Tick)
	}

	// Unexplained misses, grouped by tick.
	byTick := map[time.Time][]Miss{}
	for _, m := range r.Misses {
		if len(m.Reasons) == 0 {
			byTick[m.Tick] = append(byTick[m.Tick], m)
		}
	}
	ticks := make([]time.Time, 0, len(byTick))
	for t := range byTick {
		ticks = append(ticks, t)
	}
	slices.SortFunc(ticks, func(a, b time.Time) int { return a.Compare(b) })
	if len(ticks) > 0 {
		fmt.Fprintf(w, "\nunexplained misses at %d ticks, %s .. %s\n", len(ticks), fmtTime(ticks[0]), fmtTime(ticks[len(ticks)-1]))
	}
	for i, t := range ticks {
		if i == r.Rules.MaxEvidence {
			fmt.Fprintf(w, "... and %d more ticks with unexplained misses\n", len(ticks)-i)
			break
		}
		ms := byTick[t]
		slices.SortFunc(ms, func(a, b Miss) int { return cmp.Compare(a.Job, b.Job) })
		var jobs []string
		for _, m := range ms {
			c := "unclaimed"
			if m.Claim != "" {
				c = "claimed by " + m.Claim
			} else if !r.ClaimsKnown {
				c = "claim unknown"
			}
			if m.Lost {
				c += ", recorded lost"
			}
			jobs = append(jobs, fmt.Sprintf("%s (%s)", m.Job, c))
		}
		fmt.Fprintf(w, "\nUNEXPLAINED MISS tick %s (%s): %d of %d jobs: %s\n", fmtTime(t), t.Format(time.RFC3339Nano),
			len(ms), len(r.Jobs), strings.Join(jobs, ", "))
		prev, next := r.neighbours(ms[0].Job, t)
		if prev != nil {
			fmt.Fprintln(w, "  previous run: "+prev.String())
		}
		if next != nil {
			fmt.Fprintln(w, "  next run:     "+next.String())
		}
		r.writeContext(w, tl, t)
	}
}

func (r *Report) writeContext(w io.Writer, tl *timeline, t time.Time) {
	for _, f := range tl.near(t, 15*time.Second) {
		fmt.Fprintf(w, "  fault within 15s: %s (tick %+v from its start)\n", f, t.Sub(f.Start).Round(time.Millisecond))
	}
	for _, s := range tl.describe(t) {
		fmt.Fprintln(w, "  node: "+s)
	}
}

// neighbours returns the runs of job just before and after tick.
func (r *Report) neighbours(job string, tick time.Time) (prev, next *Record) {
	for i := range r.in.Records {
		rec := &r.in.Records[i]
		if rec.Job != job {
			continue
		}
		if rec.Tick.Before(tick) && (prev == nil || rec.Tick.After(prev.Tick)) {
			prev = rec
		}
		if rec.Tick.After(tick) && (next == nil || rec.Tick.Before(next.Tick)) {
			next = rec
		}
	}
	return prev, next
}

// Summary is the machine-readable outcome of a run (report.json).
type Summary struct {
	Seed            int64           `json:"seed"`
	From            time.Time       `json:"from"`
	To              time.Time       `json:"to"`
	Pass            bool            `json:"pass"`
	TicksExpected   int             `json:"ticks_expected"`
	TicksRun        int             `json:"ticks_run"`
	Skipped         int             `json:"skipped"`
	Duplicates      int             `json:"duplicates"`
	Missed          int             `json:"missed"`
	Explained       int             `json:"explained"`
	Unexplained     int             `json:"unexplained"`
	BadRecords      int             `json:"bad_records"`
	Problems        []string        `json:"problems,omitempty"`
	Reasons         map[string]int  `json:"explained_by_reason"`
	Faults          map[string]int  `json:"faults"`
	FaultsVerified  map[string]int  `json:"faults_verified"`
	Late            LatenessSummary `json:"lateness"`
	CalmLate        LatenessSummary `json:"lateness_far_from_faults"`
	RealLate        LatenessSummary `json:"lateness_true_clock"`
	TokenInversions int             `json:"token_inversions"`
	ClaimsKnown     bool            `json:"claims_known"`
	LostTwice       int             `json:"lost_twice"`
	Unrecorded      int             `json:"lost_unrecorded"`
	ForbidOverlaps  int             `json:"forbid_overlaps"`
	BadStops        int             `json:"bad_stops"`
}

// LatenessSummary is Lateness for JSON.
type LatenessSummary struct {
	N      int      `json:"n"`
	P50    Duration `json:"p50"`
	P99    Duration `json:"p99"`
	Max    Duration `json:"max"`
	Min    Duration `json:"min"`
	Over1s int      `json:"over_1s"`
}

// Summary returns the report's figures.
func (r *Report) Summary() Summary {
	ls := func(l Lateness) LatenessSummary {
		return LatenessSummary{N: l.N, P50: Duration(l.P50), P99: Duration(l.P99), Max: Duration(l.Max), Min: Duration(l.Min), Over1s: l.Over1s}
	}
	s := Summary{
		Seed: r.Manifest.Seed, From: r.Manifest.From, To: r.Manifest.To, Pass: !r.Failed(),
		TicksExpected: r.Total.Expected, TicksRun: r.Total.Run, Skipped: r.Total.Skipped,
		Duplicates: len(r.Duplicates), Missed: r.Total.Missed, Explained: r.Total.Explained,
		Unexplained: r.Total.Unexplained, BadRecords: len(r.Bad), Problems: r.Manifest.Problems,
		Reasons: r.Reasons, Faults: map[string]int{}, FaultsVerified: map[string]int{},
		Late: ls(r.Total.Late), CalmLate: ls(r.CalmLate), RealLate: ls(r.RealLate), TokenInversions: r.TokenInversions, ClaimsKnown: r.ClaimsKnown,
		LostTwice: len(r.LostTwice), Unrecorded: len(r.Unrecorded), ForbidOverlaps: len(r.Overlaps), BadStops: len(r.BadStops),
	}
	for _, f := range r.Faults {
		s.Faults[f.Kind] = f.Count
		s.FaultsVerified[f.Kind] = f.Verified
	}
	return s
}
