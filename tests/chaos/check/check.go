package check

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Rules are the parameters of the miss explanations. RELIABILITY.md
// states the rules; RulesFor derives the parameters from the manifest.
type Rules struct {
	// ClaimLead is the longest the library claims a tick ahead of it (the
	// adaptive claim lead caps at 1s). A claimant lost within this much
	// before a tick may hold the claim without ever starting the run.
	ClaimLead time.Duration
	// BackupDelay is how late after a tick a claim may be sent: every tick
	// has a preferred claimer (which claims ClaimLead ahead); the other
	// instances back it up max(2*lead, 50ms) after the tick, so at most
	// 2*ClaimLead after it.
	BackupDelay time.Duration
	// StartSlack is how long after its claim a run may still not have
	// started (timer and goroutine scheduling).
	StartSlack time.Duration
	// RecordLoss is how long before a SIGKILL a run may have finished
	// without its record reaching stdout: the sink pipeline flushes every
	// RecordFlush, plus the run itself.
	RecordLoss time.Duration
	// QuorumBefore and QuorumAfter widen an etcd outage [start, end] to
	// [start-QuorumBefore, end+QuorumAfter]. A claim sent up to
	// QuorumBefore before the outage (the claim lead adapts to twice the
	// claim round trip, up to this much) may still be pending in it. After
	// it, an instance whose session ended during the outage needs a new
	// one, and cannot register its id again while its previous lease
	// lives: the new etcd leader extends every lease by the election
	// timeout, so the old lease expires at most TTL + election timeout
	// after quorum is back; the instance's next renewal attempt follows
	// within its retry backoff (at most SessionBackoffMax); then a few
	// round trips.
	QuorumBefore, QuorumAfter time.Duration
	// ResumeRecovery is how long a node resumed after a pause longer than
	// its TTL claims nothing: it must notice that its lease expired and
	// open a new session (the client declares the lease dead once no
	// keepalive has been answered for the TTL).
	ResumeRecovery time.Duration
	// Cover widens the span, from a node's firing instant of a tick to the
	// end of its attempt span, during which the node must be up, unpaused
	// and started to count as able to fire the tick.
	Cover time.Duration
	// StopOverhead is how much longer than its budget (Manifest.StopBudget)
	// a graceful stop may take to return, and the process, after its
	// AfterStop, to exit.
	StopOverhead time.Duration
	// LostRecordWindow: a lost record can itself be lost when the leader
	// that wrote it is SIGKILLed before its sink flushed (RecordFlush). A
	// run in progress at a SIGKILL may lack its lost record when another
	// node was SIGKILLed within this long after the victim's registration
	// vanished (or, if that was not seen, after the victim's kill plus
	// TTL plus the etcd election timeout).
	LostRecordWindow time.Duration
	// ForbidSlack is how long, past ResumeRecovery, a run whose lease
	// expired may go on beside the next run of its OverlapForbid job (its
	// runner must cancel it, and the job return).
	ForbidSlack time.Duration
	// MaxEvidence bounds how many failing ticks are printed in full.
	MaxEvidence int
}

// RulesFor returns the rules for a run described by m.
func RulesFor(m Manifest) Rules {
	return Rules{
		ClaimLead:      m.MaxClaimLead.D(),
		BackupDelay:    2 * m.MaxClaimLead.D(),
		StartSlack:     100 * time.Millisecond,
		RecordLoss:     m.RecordFlush.D() + 100*time.Millisecond,
		QuorumBefore:   m.MaxClaimLead.D(),
		QuorumAfter:    m.TTL.D() + m.EtcdElectionTimeout.D() + m.SessionBackoffMax.D() + 500*time.Millisecond,
		ResumeRecovery: m.TTL.D(),
		Cover:          100 * time.Millisecond,
		StopOverhead:   2 * time.Second, // Stop's doc: the stop grace plus at most 2s (leave etcd, flush) past ctx
		// A leader records a run lost within moments of the registration's
		// deletion; its sink flushes within RecordFlush after that.
		LostRecordWindow: m.RecordFlush.D() + time.Second,
		ForbidSlack:      500 * time.Millisecond,
		MaxEvidence:      20,
	}
}

// Reasons a missed tick can be explained by.
const (
	ReasonQuorum     = "quorum-loss"     // every able node's attempt met a (widened) etcd outage
	ReasonKilled     = "claimant-killed" // the claimant was SIGKILLed between claiming and starting, or before its record was written
	ReasonPaused     = "claimant-paused" // the claimant was SIGSTOPped between claiming and starting
	ReasonNoLiveNode = "no-live-node"    // no node process was up, unpaused and started around the tick
)

// Lateness summarises started-tick over a set of runs.
type Lateness struct {
	N                   int
	P50, P99, Max, Mean time.Duration
	Min                 time.Duration
	Over1s, OverGrace   int // runs started more than 1s / the misfire grace late
	values              []time.Duration
}

func (l *Lateness) add(d time.Duration) { l.values = append(l.values, d) }

func (l *Lateness) finish(grace time.Duration) {
	slices.Sort(l.values)
	l.N = len(l.values)
	if l.N == 0 {
		return
	}
	pct := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(l.N))) - 1
		return l.values[max(i, 0)]
	}
	l.P50, l.P99, l.Min, l.Max = pct(0.50), pct(0.99), l.values[0], l.values[l.N-1]
	var sum time.Duration
	for _, v := range l.values {
		sum += v
		if v > time.Second {
			l.Over1s++
		}
		if v > grace {
			l.OverGrace++
		}
	}
	l.Mean = sum / time.Duration(l.N)
}

func (l Lateness) String() string {
	if l.N == 0 {
		return "no runs"
	}
	return fmt.Sprintf("p50 %v  p99 %v  max %v  min %v  (n=%d, >1s: %d)", round(l.P50), round(l.P99), round(l.Max), round(l.Min), l.N, l.Over1s)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second || d <= -10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second || d <= -time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond || d <= -10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// JobReport is the outcome for one job (or, as Report.Total, all jobs).
type JobReport struct {
	Job         string
	Expected    int // multiples of the period in the window
	Run         int // expected ticks with a run record (any status but lost)
	Skipped     int // expected ticks whose record says skipped (claimed, deliberately not started)
	Duplicates  int // ticks (anywhere) with more than one run
	Missed      int
	Explained   int
	Unexplained int
	Late        Lateness // runs of expected ticks (not skipped or lost)
}

// Duplicate is a run (job, shard, tick, attempt) with more than one record
// other than lost.
type Duplicate struct {
	Job     string
	Shard   int
	Tick    time.Time
	Attempt int
	Records []Record // every record of the tick, all attempts
}

// Miss is an expected tick without any record.
type Miss struct {
	Job     string
	Tick    time.Time
	Reasons []string // empty: unexplained
	Claim   string   // claimant from the claim dump (its incarnation when known), "" if unclaimed or unknown
	Lost    bool     // the leader recorded the claimant's run as lost
}

// FaultSummary counts the faults of one kind.
type FaultSummary struct {
	Kind             string
	Count, Verified  int
	Total, Min, Max  time.Duration // of End-Start
	Skews            []time.Duration
	SkewMin, SkewMax time.Duration
}

// Report is the checker's verdict on one run.
type Report struct {
	Manifest    Manifest
	Rules       Rules
	ClaimsKnown bool // the claim dump holds one key per tick
	Jobs        []JobReport
	Total       JobReport
	Faults      []FaultSummary
	Reasons     map[string]int // explained misses by reason (a miss may have several)
	Duplicates  []Duplicate
	Misses      []Miss // every miss, explained or not
	// CalmLate is the lateness of runs whose tick is far from every fault
	// (outside [start-ClaimLead, end+QuorumAfter] of each).
	CalmLate Lateness
	// RealLate is the lateness by the true clock: started minus the
	// runner's skew, minus the tick. A node whose clock is ahead fires
	// early (negative), one whose clock is behind and that claims a tick
	// nobody else did fires late.
	RealLate Lateness
	// Bad lists records that cannot be right: a tick that is not a
	// multiple of the period, an unknown job, a run whose tick was claimed
	// by another instance or not at all.
	Bad []string
	// Notes are observations that do not fail the run: repeated record
	// lines, torn last lines of killed processes, fencing-token inversions.
	Notes []string
	// TokenInversions counts pairs of consecutive runs of a job whose
	// fencing tokens do not grow with the tick.
	TokenInversions int
	// LostTwice lists runs recorded lost more than once (or notified lost
	// more than once): a second leader replayed a loss already handled.
	LostTwice []LostTwice
	// Unrecorded lists runs in progress at a SIGKILL that no leader
	// recorded lost.
	Unrecorded []Unrecorded
	// Overlaps lists pairs of runs of an OverlapForbid job that ran at the
	// same time beyond what a lease expiry explains.
	Overlaps []Overlap
	// BadStops lists graceful stops that took longer than their budget,
	// panicked or did not exit cleanly.
	BadStops []BadStop

	in      *Input
	records []Record // in.Records without verbatim repeats
}

// Failed reports whether the run must fail.
func (r *Report) Failed() bool {
	return len(r.Duplicates) > 0 || r.Total.Unexplained > 0 || len(r.Bad) > 0 || len(r.Manifest.Problems) > 0 ||
		len(r.LostTwice) > 0 || len(r.Unrecorded) > 0 || len(r.Overlaps) > 0 || len(r.BadStops) > 0
}

// distinct returns recs without the records repeated verbatim (same
// instance, token, attempt, status and times: a sink retry can repeat a
// line), and how many it left out.
func distinct(recs []Record) ([]Record, int) {
	type verbatim struct {
		job, instance, status string
		shard, attempt        int
		token                 int64
		tick, started, ended  int64
	}
	seen := make(map[verbatim]bool, len(recs))
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		k := verbatim{r.Job, r.Instance, r.Status, r.Shard, r.Attempt, r.Token, r.Tick.UnixNano(), r.Started.UnixNano(), r.Finished.UnixNano()}
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out, len(recs) - len(out)
}

type tickKey struct {
	job   string
	shard int
	tick  int64 // UnixNano
}

// Check applies the rules to a run.
func Check(in *Input, rules Rules) *Report {
	m := in.Manifest
	rep := &Report{Manifest: m, Rules: rules, Reasons: map[string]int{}, in: in}
	period := m.Every.D()
	known := map[string]bool{}
	for _, j := range append(slices.Clone(m.Jobs), m.DrillJobs...) {
		known[j] = true
	}

	// Group records by tick; a record repeated verbatim (a sink retry can
	// repeat lines) is one run reported twice, not two runs.
	byTick := map[tickKey][]Record{}
	var repeated int
	rep.records, repeated = distinct(in.Records)
	for _, r := range rep.records {
		if r.Trigger == "manual" {
			continue
		}
		k := tickKey{r.Job, r.Shard, r.Tick.UnixNano()}
		byTick[k] = append(byTick[k], r)
		switch {
		case !known[r.Job]:
			rep.Bad = append(rep.Bad, "record of an unknown job: "+r.String())
		case period > 0 && r.Tick.UnixNano()%int64(period) != 0:
			rep.Bad = append(rep.Bad, "record whose tick is not a multiple of the period: "+r.String())
		}
	}
	if repeated > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d record lines repeated verbatim (counted once)", repeated))
	}
	for _, l := range in.PartialLines {
		rep.Notes = append(rep.Notes, "unparsable record line (torn write of a killed process?): "+l)
	}

	// Duplicates: one attempt of a tick run more than once. A "lost"
	// record is the leader's note that a run's lease expired with the run
	// pending; it is not a second record of a run, but it is a run
	// (claimed, maybe started) with the fencing token its runner got. So
	// an attempt ran twice when it has two records other than lost, or
	// records with two different tokens (a lost run and a new run of the
	// same attempt). A re-run of a lost attempt (RerunLost) is the next
	// attempt.
	keys := make([]tickKey, 0, len(byTick))
	for k := range byTick {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b tickKey) int {
		return cmp.Or(cmp.Compare(a.tick, b.tick), cmp.Compare(a.job, b.job), cmp.Compare(a.shard, b.shard))
	})
	dupJobs := map[string]int{}
	for _, k := range keys {
		runs := map[int]int{}              // attempt -> records other than lost
		tokens := map[int]map[int64]bool{} // attempt -> tokens of its records
		for _, r := range byTick[k] {
			a := max(r.Attempt, 1)
			if r.Status != "lost" {
				runs[a]++
			}
			if tokens[a] == nil {
				tokens[a] = map[int64]bool{}
			}
			tokens[a][r.Token] = true
		}
		var attempts []int
		for a, ts := range tokens {
			if runs[a] > 1 || len(ts) > 1 {
				attempts = append(attempts, a)
			}
		}
		slices.Sort(attempts)
		for _, a := range attempts {
			rep.Duplicates = append(rep.Duplicates, Duplicate{Job: k.job, Shard: k.shard, Tick: time.Unix(0, k.tick).UTC(), Attempt: a, Records: byTick[k]})
			dupJobs[k.job]++
		}
	}

	// Claims: with one key per tick, every run must be its claimant's.
	tl := newTimeline(in, rules)
	claims, claimsKnown := parseClaims(in.Claims)
	rep.ClaimsKnown = claimsKnown
	if claimsKnown {
		for _, k := range keys {
			for _, r := range byTick[k] {
				if r.Status == "lost" || r.Trigger != "schedule" {
					continue
				}
				c, ok := claims[claimKey{k.job, k.tick}]
				switch inc := tl.claimedBy(c); {
				case !ok:
					rep.Bad = append(rep.Bad, "run of a tick nobody claimed: "+r.String())
				case c.instance != r.Instance:
					rep.Bad = append(rep.Bad, fmt.Sprintf("run of a tick claimed by %s: %s", c.instance, r.String()))
				case inc != "" && inc != r.From:
					rep.Bad = append(rep.Bad, fmt.Sprintf("run of a tick claimed by %s's incarnation %s (revision %d): %s", c.instance, inc, c.rev, r.String()))
				}
			}
		}
	}

	// Token order: a job's fencing token should grow with its tick.
	rep.tokenOrder(byTick)

	// Expected ticks, misses and their explanations.
	var first, last int64
	if period > 0 && !m.To.Before(m.From) {
		first = ceilDiv(m.From.UnixNano(), int64(period)) * int64(period)
		last = floorDiv(m.To.UnixNano(), int64(period)) * int64(period)
	}
	jobs := slices.Clone(m.Jobs)
	slices.Sort(jobs)
	for _, job := range jobs {
		jr := JobReport{Job: job, Duplicates: dupJobs[job]}
		for t := first; period > 0 && t <= last; t += int64(period) {
			jr.Expected++
			var ran []Record
			lost := false
			for _, r := range byTick[tickKey{job, 0, t}] {
				if r.Status == "lost" {
					lost = true // the claimant's lease expired before the run ended: not a run
				} else {
					ran = append(ran, r)
				}
			}
			if len(ran) > 0 {
				jr.Run++
				for _, r := range ran {
					if r.Status == "skipped" {
						jr.Skipped++
						continue
					}
					jr.Late.add(r.Lateness())
					if tl.calm(time.Unix(0, t), r.From) {
						rep.CalmLate.add(r.Lateness())
					}
					rep.Total.Late.add(r.Lateness())
					if inc, ok := tl.byInc[r.From]; ok {
						rep.RealLate.add(r.Lateness() - inc.Skew.D())
					}
				}
				continue
			}
			jr.Missed++
			tick := time.Unix(0, t).UTC()
			c, claimed := claims[claimKey{job, t}]
			miss := Miss{Job: job, Tick: tick, Claim: c.instance, Lost: lost}
			if inc := tl.claimedBy(c); inc != "" {
				miss.Claim = inc
			}
			miss.Reasons = tl.explain(tick, claimsKnown, claimed, c)
			if len(miss.Reasons) > 0 {
				jr.Explained++
				for _, reason := range miss.Reasons {
					rep.Reasons[reason]++
				}
			} else {
				jr.Unexplained++
			}
			rep.Misses = append(rep.Misses, miss)
		}
		jr.Late.finish(m.MisfireGrace.D())
		rep.Jobs = append(rep.Jobs, jr)
		rep.Total.Expected += jr.Expected
		rep.Total.Run += jr.Run
		rep.Total.Skipped += jr.Skipped
		rep.Total.Duplicates += jr.Duplicates
		rep.Total.Missed += jr.Missed
		rep.Total.Explained += jr.Explained
		rep.Total.Unexplained += jr.Unexplained
	}
	rep.Total.Job = "TOTAL"
	rep.Total.Duplicates = len(rep.Duplicates) // including ticks outside the window
	rep.Total.Late.finish(m.MisfireGrace.D())
	rep.CalmLate.finish(m.MisfireGrace.D())
	rep.RealLate.finish(m.MisfireGrace.D())
	rep.Faults = summarizeFaults(in.Faults, m.Kinds)

	// The drills' rules (lost.go, forbid.go, stop.go).
	rep.checkLost(in, tl)
	rep.checkForbid(in, tl)
	rep.checkStops(in)
	return rep
}

// tokenOrder counts fencing-token inversions between consecutive runs of
// each job and notes the first few.
func (rep *Report) tokenOrder(byTick map[tickKey][]Record) {
	perJob := map[string][]Record{}
	for k, recs := range byTick {
		for _, r := range recs {
			if r.Status != "lost" && r.Trigger == "schedule" && r.Token > 0 {
				perJob[fmt.Sprintf("%s/%d", k.job, k.shard)] = append(perJob[fmt.Sprintf("%s/%d", k.job, k.shard)], r)
			}
		}
	}
	names := make([]string, 0, len(perJob))
	for n := range perJob {
		names = append(names, n)
	}
	slices.Sort(names)
	shown := 0
	for _, n := range names {
		runs := perJob[n]
		slices.SortFunc(runs, func(a, b Record) int { return a.Tick.Compare(b.Tick) })
		for i := 1; i < len(runs); i++ {
			if runs[i].Tick.Equal(runs[i-1].Tick) || runs[i].Token > runs[i-1].Token {
				continue
			}
			rep.TokenInversions++
			if shown < 5 {
				shown++
				rep.Notes = append(rep.Notes, fmt.Sprintf("fencing token does not grow with the tick:\n    %s\n    %s", runs[i-1], runs[i]))
			}
		}
	}
	if rep.TokenInversions > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d fencing-token inversions in all", rep.TokenInversions))
	}
}

// summarizeFaults counts the faults of each kind the run injected (kinds;
// empty: the classic kinds) or logged (a drill's kills and pauses), in
// the order of Kinds, and the measured outages.
func summarizeFaults(faults []Fault, kinds []string) []FaultSummary {
	if len(kinds) == 0 {
		kinds = ClassicKinds
	}
	var shown []string
	for _, k := range Kinds {
		if slices.Contains(kinds, k) || slices.ContainsFunc(faults, func(f Fault) bool { return f.Kind == k }) {
			shown = append(shown, k)
		}
	}
	var out []FaultSummary
	for _, kind := range append(shown, KindOutage) {
		s := FaultSummary{Kind: kind}
		for _, f := range faults {
			if f.Kind != kind {
				continue
			}
			d := f.End.Sub(f.Start)
			if s.Count == 0 || d < s.Min {
				s.Min = d
			}
			s.Max = max(s.Max, d)
			s.Count++
			s.Total += d
			if f.Verified {
				s.Verified++
			}
			if kind == KindKill {
				s.Skews = append(s.Skews, f.NewSkew.D())
				if len(s.Skews) == 1 || f.NewSkew.D() < s.SkewMin {
					s.SkewMin = f.NewSkew.D()
				}
				s.SkewMax = max(s.SkewMax, f.NewSkew.D())
			}
		}
		out = append(out, s)
	}
	return out
}

type claimKey struct {
	job  string
	tick int64
}

// claim is who claimed a tick, and at which etcd revision.
type claim struct {
	instance string
	rev      int64
}

// parseClaims reads claim keys of the form "claims/<tick>/<job>" (one key
// per tick). It reports false when the dump is missing or holds another
// layout, in which case claims cannot sharpen the explanations.
func parseClaims(cs []Claim) (map[claimKey]claim, bool) {
	if cs == nil {
		return nil, false
	}
	out := make(map[claimKey]claim, len(cs))
	for _, c := range cs {
		rest, ok := strings.CutPrefix(c.Key, "claims/")
		if !ok {
			continue
		}
		tick, job, ok := strings.Cut(rest, "/")
		if !ok || strings.Contains(job, "/") {
			return nil, false // another layout, or units (shards): not what the node runs
		}
		t, err := time.Parse(TickLayout, tick)
		if err != nil {
			return nil, false
		}
		instance, _, _ := strings.Cut(c.Value, " ") // "<instance> <lease hex>"
		out[claimKey{job, t.UnixNano()}] = claim{instance, c.CreateRevision}
	}
	return out, true
}

// TickLayout is how claim keys spell ticks (internal/keys.TickLayout).
const TickLayout = "2006-01-02T15:04:05.000000000Z"

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }
