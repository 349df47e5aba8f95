package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)

// at is t0 plus seconds.
func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

// world is a synthetic run: jobs a and b every second, ticks t0..t0+9s
// checked, nodes n0 and n1 up throughout, claims per tick.
type world struct{ in *Input }

func newWorld() *world {
	w := &world{in: &Input{
		Manifest: Manifest{
			Seed: 1, Nodes: []string{"n0", "n1"}, Jobs: []string{"a", "b"}, Every: Duration(time.Second),
			TTL: Duration(2 * time.Second), MisfireGrace: Duration(5 * time.Second), MaxClaimLead: Duration(time.Second),
			RecordFlush: Duration(200 * time.Millisecond), SessionBackoffMax: Duration(5 * time.Second),
			EtcdElectionTimeout: Duration(time.Second), From: at(0), To: at(9), Started: at(-10), Ended: at(20),
		},
		Incarnations: []Incarnation{
			{Node: "n0", N: 1, Started: at(-10), Ready: at(-9), Ended: at(19), End: "stopped"},
			{Node: "n1", N: 1, Started: at(-10), Ready: at(-9), Ended: at(19), End: "stopped"},
		},
		Claims: []Claim{},
	}}
	for sec := 0; sec <= 9; sec++ {
		for _, job := range []string{"a", "b"} {
			w.run(job, float64(sec), "n0", "succeeded")
		}
	}
	return w
}

// run adds a record of job at tick sec by node inst (and its claim).
func (w *world) run(job string, sec float64, inst, status string) *Record {
	tick := at(sec)
	w.in.Records = append(w.in.Records, Record{Job: job, Tick: tick, Instance: inst, Status: status, Trigger: "schedule",
		Attempt: 1, Token: int64(len(w.in.Records) + 100), Started: tick.Add(time.Millisecond), Finished: tick.Add(2 * time.Millisecond),
		From: inst + "#1", Line: len(w.in.Records) + 1})
	w.claim(job, sec, inst)
	return &w.in.Records[len(w.in.Records)-1]
}

func (w *world) claim(job string, sec float64, inst string) {
	key := "claims/" + at(sec).Format(TickLayout) + "/" + job
	for i, c := range w.in.Claims {
		if c.Key == key {
			w.in.Claims[i].Value = inst
			return
		}
	}
	w.in.Claims = append(w.in.Claims, Claim{Key: key, Value: inst})
}

// drop removes every record of job at tick sec; keepClaim leaves its claim.
func (w *world) drop(job string, sec float64, keepClaim bool) {
	var recs []Record
	for _, r := range w.in.Records {
		if !(r.Job == job && r.Tick.Equal(at(sec))) {
			recs = append(recs, r)
		}
	}
	w.in.Records = recs
	if !keepClaim {
		var cs []Claim
		for _, c := range w.in.Claims {
			if c.Key != "claims/"+at(sec).Format(TickLayout)+"/"+job {
				cs = append(cs, c)
			}
		}
		w.in.Claims = cs
	}
}

func (w *world) fault(f Fault) { f.Verified = true; w.in.Faults = append(w.in.Faults, f) }

func (w *world) check(t *testing.T) *Report {
	t.Helper()
	return Check(w.in, RulesFor(w.in.Manifest))
}

func (w *world) checkFailed(t *testing.T, wantFail bool) *Report {
	t.Helper()
	rep := w.check(t)
	if rep.Failed() != wantFail {
		var b strings.Builder
		rep.Write(&b)
		t.Fatalf("Failed() = %v, want %v\n%s", rep.Failed(), wantFail, b.String())
	}
	return rep
}

func TestCleanRunPasses(t *testing.T) {
	w := newWorld()
	rep := w.checkFailed(t, false)
	if rep.Total.Expected != 20 || rep.Total.Run != 20 || rep.Total.Missed != 0 || !rep.ClaimsKnown {
		t.Fatalf("total %+v, claims known %v", rep.Total, rep.ClaimsKnown)
	}
	if rep.Total.Late.N != 20 || rep.Total.Late.P50 != time.Millisecond || rep.Total.Late.Max != time.Millisecond {
		t.Fatalf("lateness %+v", rep.Total.Late)
	}
	var b strings.Builder
	rep.Write(&b)
	if !strings.Contains(b.String(), "PASS: 0 duplicates, 0 unexplained misses") {
		t.Fatalf("report:\n%s", b.String())
	}
}

func TestWindowBoundsAreInclusiveMultiples(t *testing.T) {
	w := newWorld()
	w.in.Manifest.From, w.in.Manifest.To = at(0.5), at(8.5) // ticks 1..8
	rep := w.checkFailed(t, false)
	if rep.Total.Expected != 16 {
		t.Fatalf("expected %d ticks, want 16", rep.Total.Expected)
	}
}

func TestDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		statuses  []string
		sameToken bool // the second record carries the first one's fencing token
		dup       bool
	}{
		{"two successful runs", []string{"succeeded", "succeeded"}, false, true},
		{"failed and succeeded", []string{"failed", "succeeded"}, false, true},
		{"run and skipped", []string{"succeeded", "skipped"}, false, true},
		{"skipped twice", []string{"skipped", "skipped"}, false, true},
		{"two records of one run", []string{"succeeded", "failed"}, true, true},
		{"run and its lost marker", []string{"succeeded", "lost"}, true, false},
		// A lost run and another run of the same attempt: the attempt ran
		// twice (a lost run re-run under its own attempt number).
		{"lost run and a new run of its attempt", []string{"succeeded", "lost"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.drop("a", 4, false)
			first := w.run("a", 4, "n0", tc.statuses[0]).Token
			r := w.run("a", 4, "n1", tc.statuses[1])
			w.claim("a", 4, "n0")
			if tc.statuses[1] == "lost" {
				r.Instance, r.From = "n0", "n0#1"
			}
			if tc.sameToken {
				r.Token = first
			}
			rep := w.check(t)
			if got := len(rep.Duplicates) > 0; got != tc.dup {
				t.Fatalf("duplicate = %v, want %v (%+v)", got, tc.dup, rep.Duplicates)
			}
			if tc.dup {
				if !rep.Failed() || rep.Total.Duplicates != 1 || len(rep.Duplicates[0].Records) != 2 {
					t.Fatalf("report %+v", rep.Total)
				}
				var b strings.Builder
				rep.Write(&b)
				if !strings.Contains(b.String(), "DUPLICATE a shard 0 tick") || !strings.Contains(b.String(), "status="+tc.statuses[1]) {
					t.Fatalf("no evidence in:\n%s", b.String())
				}
			}
		})
	}
}

func TestDuplicateOutsideTheWindowFails(t *testing.T) {
	w := newWorld()
	w.run("a", 15, "n0", "succeeded")
	w.run("a", 15, "n1", "succeeded")
	rep := w.checkFailed(t, true)
	if len(rep.Duplicates) != 1 {
		t.Fatalf("duplicates %+v", rep.Duplicates)
	}
}

func TestVerbatimRepeatedRecordIsOneRun(t *testing.T) {
	w := newWorld()
	w.in.Records = append(w.in.Records, w.in.Records[3])
	rep := w.checkFailed(t, false)
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "1 record lines repeated") {
		t.Fatalf("notes %q", rep.Notes)
	}
}

func TestUnexplainedMissFails(t *testing.T) {
	w := newWorld()
	w.drop("b", 6, false)
	rep := w.checkFailed(t, true)
	if rep.Total.Missed != 1 || rep.Total.Unexplained != 1 || rep.Misses[0].Job != "b" || !rep.Misses[0].Tick.Equal(at(6)) {
		t.Fatalf("total %+v misses %+v", rep.Total, rep.Misses)
	}
	var b strings.Builder
	rep.Write(&b)
	for _, want := range []string{"UNEXPLAINED MISS tick 03:04:06.000000", "b (unclaimed)", "previous run:", "next run:", "node: n0#1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("evidence lacks %q:\n%s", want, b.String())
		}
	}
}

func TestQuorumLossWindow(t *testing.T) {
	// A node's attempt span [tick - 1s, tick + 2s] must meet the outage
	// widened to [start - 1s, end + TTL 2s + election 1s + backoff 5s + 0.5s].
	for _, tc := range []struct {
		tick        float64
		start, end  float64
		explained   bool
		description string
	}{
		{3, 5.9, 6.5, true, "a backup's attempt meets the claim lead before the outage"},
		{3, 6.1, 7, false, "too long before"},
		{5, 4, 6, true, "inside"},
		{9, -1, -0.5, true, "a preferred claimer's attempt meets end + 8.5s"},
		{9, -1, -0.6, false, "just past it"},
	} {
		t.Run(tc.description, func(t *testing.T) {
			w := newWorld()
			w.drop("a", tc.tick, false)
			w.fault(Fault{Kind: KindQuorum, Target: "m0,m1", Start: at(tc.start), End: at(tc.end)})
			rep := w.checkFailed(t, !tc.explained)
			if tc.explained && rep.Reasons[ReasonQuorum] != 1 {
				t.Fatalf("reasons %v", rep.Reasons)
			}
		})
	}
}

func TestOutagesExplainMembersDoNot(t *testing.T) {
	for _, tc := range []struct {
		kind      string
		explained bool
	}{{KindOutage, true}, {KindQuorum, true}, {KindMember, false}} {
		w := newWorld()
		w.drop("a", 5, false)
		w.fault(Fault{Kind: tc.kind, Target: "m0", Start: at(4), End: at(6)})
		if rep := w.checkFailed(t, !tc.explained); tc.explained && rep.Reasons[ReasonQuorum] != 1 {
			t.Fatalf("%s: reasons %v", tc.kind, rep.Reasons)
		}
	}
}

func TestQuorumLossAtEachNodesFiringInstant(t *testing.T) {
	// Nodes fire a tick when their own clock reaches it: a quorum loss
	// explains a miss when it covers every able node's firing instant.
	for _, tc := range []struct {
		name      string
		skews     [2]time.Duration
		explained bool
	}{
		{"both clocks right: tick inside the window", [2]time.Duration{0, 0}, true},
		{"both clocks 3s slow: they fire tick 2 at 5, inside", [2]time.Duration{-3 * time.Second, -3 * time.Second}, true},
		{"one clock 4s fast: it fires tick 5 at 1, before the outage", [2]time.Duration{4 * time.Second, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.in.Manifest.To = at(30)
			for sec := 10; sec <= 30; sec++ {
				w.run("a", float64(sec), "n0", "succeeded")
				w.run("b", float64(sec), "n0", "succeeded")
			}
			for i, s := range tc.skews {
				w.in.Incarnations[i].Skew = Duration(s)
			}
			tick := 5.0
			if tc.skews[0] < 0 {
				tick = 2
			}
			w.drop("a", tick, false)
			// Outage 5..5.5 real: widened to [4, 14]; attempts span [-1s, +2s].
			w.fault(Fault{Kind: KindQuorum, Target: "m0,m1", Start: at(5), End: at(5.5)})
			w.checkFailed(t, !tc.explained)
		})
	}
}

func TestClaimantKilled(t *testing.T) {
	// A tick is explained by a kill of its claimant at k (its clock) when
	// tick is in [k - BackupDelay (2s) - RecordLoss (300ms), k + ClaimLead (1s)].
	for _, tc := range []struct {
		name      string
		kill      float64 // real time of the SIGKILL
		skew      time.Duration
		claimant  string // "" unclaimed
		target    string
		explained bool
	}{
		{"killed within the claim lead", 4.5, 0, "n1", "n1", true},
		{"killed just after the tick (record not flushed)", 5.25, 0, "n1", "n1", true},
		{"killed after a late backup claim (record not flushed)", 7.25, 0, "n1", "n1", true},
		{"killed too long after the tick", 7.4, 0, "n1", "n1", false},
		{"killed too long before the tick", 3.9, 0, "n1", "n1", false},
		{"another node killed", 4.5, 0, "n1", "n0", false},
		{"unclaimed tick", 4.5, 0, "", "n1", false},
		{"skewed claimant: its clock reads 4.5 at real 1.5", 1.5, 3 * time.Second, "n1", "n1", true},
		{"skewed claimant: real time alone does not count", 6.5, -3 * time.Second, "n1", "n1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.drop("a", 5, tc.claimant == "")
			if tc.claimant != "" {
				w.claim("a", 5, tc.claimant)
			}
			w.fault(Fault{Kind: KindKill, Target: tc.target, Start: at(tc.kill), End: at(tc.kill + 2), Skew: Duration(tc.skew)})
			rep := w.checkFailed(t, !tc.explained)
			if tc.explained && rep.Reasons[ReasonKilled] != 1 {
				t.Fatalf("reasons %v", rep.Reasons)
			}
		})
	}
}

func TestLostOnlyTickIsAMiss(t *testing.T) {
	w := newWorld()
	w.drop("a", 5, false)
	w.run("a", 5, "n1", "lost")
	rep := w.checkFailed(t, true) // lost, and nothing explains it
	if rep.Total.Missed != 1 || !rep.Misses[0].Lost || rep.Misses[0].Claim != "n1" {
		t.Fatalf("total %+v, misses %+v", rep.Total, rep.Misses)
	}
	w.fault(Fault{Kind: KindKill, Target: "n1", Start: at(5.1), End: at(7)})
	rep = w.checkFailed(t, false)
	if rep.Reasons[ReasonKilled] != 1 {
		t.Fatalf("reasons %v", rep.Reasons)
	}
}

func TestClaimAttributedToItsIncarnation(t *testing.T) {
	// n1#1 (started at revision 10) is killed at 6; n1#2 (revision 500)
	// starts at 7 with its clock 3s slow and is paused at its clock 5.5.
	setup := func() *world {
		w := newWorld()
		w.in.Incarnations[1].StartRev, w.in.Incarnations[1].Ended, w.in.Incarnations[1].End = 10, at(6), "killed"
		w.in.Incarnations = append(w.in.Incarnations, Incarnation{Node: "n1", N: 2, StartRev: 500, Skew: Duration(-3 * time.Second),
			Started: at(7), Ready: at(7.1), Ended: at(19), End: "stopped"})
		w.drop("a", 5, false)
		w.in.Claims = append(w.in.Claims, Claim{Key: "claims/" + at(5).Format(TickLayout) + "/a", Value: "n1", CreateRevision: 100})
		return w
	}
	w := setup()
	w.fault(Fault{Kind: KindPause, Target: "n1", Start: at(8.5), End: at(11), Skew: Duration(-3 * time.Second)})
	rep := w.checkFailed(t, true) // the pause of n1#2 does not explain n1#1's claim
	if rep.Misses[0].Claim != "n1#1" {
		t.Fatalf("miss %+v", rep.Misses[0])
	}
	w = setup()
	w.fault(Fault{Kind: KindKill, Target: "n1", Start: at(5.2), End: at(7.1)})
	w.checkFailed(t, false)

	// A run by n1#2 of a tick n1#1 claimed is not n1#2's to run.
	w = setup()
	r := w.run("a", 5, "n1", "succeeded")
	r.From = "n1#2"
	w.in.Claims = w.in.Claims[:len(w.in.Claims)-1] // run() re-added an unrevisioned claim: keep the revisioned one
	w.in.Claims = append(w.in.Claims, Claim{Key: "claims/" + at(5).Format(TickLayout) + "/a", Value: "n1", CreateRevision: 100})
	rep = w.checkFailed(t, true)
	if !strings.Contains(strings.Join(rep.Bad, "\n"), "incarnation n1#1") {
		t.Fatalf("bad %q", rep.Bad)
	}
}

func TestClaimantKilledWithoutClaimDump(t *testing.T) {
	w := newWorld()
	w.in.Claims = nil // not dumped: any node's kill counts
	w.drop("a", 5, false)
	w.fault(Fault{Kind: KindKill, Target: "n0", Start: at(4.5), End: at(6)})
	rep := w.checkFailed(t, false)
	if rep.ClaimsKnown || rep.Reasons[ReasonKilled] != 1 {
		t.Fatalf("claims known %v, reasons %v", rep.ClaimsKnown, rep.Reasons)
	}
}

func TestClaimantPaused(t *testing.T) {
	for _, tc := range []struct {
		pause     float64
		explained bool
	}{{4.2, true}, {5.05, true}, {7.05, true}, {7.2, false}, {3.9, false}} {
		w := newWorld()
		w.drop("a", 5, true)
		w.claim("a", 5, "n1")
		w.fault(Fault{Kind: KindPause, Target: "n1", Start: at(tc.pause), End: at(tc.pause + 3)})
		rep := w.checkFailed(t, !tc.explained)
		if tc.explained && rep.Reasons[ReasonPaused] != 1 {
			t.Fatalf("pause at %v: reasons %v", tc.pause, rep.Reasons)
		}
	}
}

func TestNoLiveNode(t *testing.T) {
	w := newWorld()
	// n0 is killed at 2 and restarted (ready) at 7.5; n1 is paused 1..3.5
	// and recovers its session until 3.5+TTL = 5.5. Ticks 2..5 have nobody
	// able to fire them; tick 6 is n1's again: it must run.
	w.in.Incarnations[0].Ended, w.in.Incarnations[0].End = at(2), "killed"
	w.in.Incarnations = append(w.in.Incarnations, Incarnation{Node: "n0", N: 2, Started: at(7), Ready: at(7.5), Ended: at(19), End: "stopped"})
	w.fault(Fault{Kind: KindPause, Target: "n1", Start: at(1), End: at(3.5)})
	for sec := 2.0; sec <= 6; sec++ {
		w.drop("a", sec, false)
	}
	rep := w.checkFailed(t, true)
	var unexplained []time.Time
	for _, m := range rep.Misses {
		if len(m.Reasons) == 0 {
			unexplained = append(unexplained, m.Tick)
		}
	}
	if len(unexplained) != 1 || !unexplained[0].Equal(at(6)) {
		t.Fatalf("unexplained %v, misses %+v", unexplained, rep.Misses)
	}
	if rep.Reasons[ReasonNoLiveNode] != 4 || rep.Reasons[ReasonKilled] != 0 { // unclaimed: not the kill's
		t.Fatalf("reasons %v", rep.Reasons)
	}
}

func TestBadRecords(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(w *world)
		want string
	}{
		{"tick off the period", func(w *world) { w.run("a", 4.5, "n0", "succeeded") }, "not a multiple of the period"},
		{"unknown job", func(w *world) { w.run("zzz", 4, "n0", "succeeded") }, "unknown job"},
		{"run by another than the claimant", func(w *world) { w.claim("a", 4, "n1") }, "claimed by n1"},
		{"run of an unclaimed tick", func(w *world) {
			w.in.Claims = w.in.Claims[1:]
		}, "nobody claimed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			tc.mod(w)
			rep := w.checkFailed(t, true)
			if !strings.Contains(strings.Join(rep.Bad, "\n"), tc.want) {
				t.Fatalf("bad %q, want %q", rep.Bad, tc.want)
			}
		})
	}
}

func TestOtherClaimLayoutIsIgnored(t *testing.T) {
	w := newWorld()
	w.in.Claims = []Claim{{Key: "claims/a", Value: at(9).Format(TickLayout) + " n0"}}
	rep := w.checkFailed(t, false)
	if rep.ClaimsKnown {
		t.Fatal("a high-water-mark claim taken for per-tick claims")
	}
}

func TestTokenInversionIsANote(t *testing.T) {
	w := newWorld()
	w.in.Records[0].Token = 10_000 // job a tick 0 gets a later token than tick 1
	rep := w.checkFailed(t, false)
	if rep.TokenInversions != 1 {
		t.Fatalf("inversions %d, notes %q", rep.TokenInversions, rep.Notes)
	}
}

func TestRealLatenessRemovesSkew(t *testing.T) {
	w := newWorld()
	w.in.Incarnations[0].Skew = Duration(-2 * time.Second) // runs by its clock at tick+1ms: really 2s late
	rep := w.checkFailed(t, false)
	if rep.RealLate.P50 != 2*time.Second+time.Millisecond || rep.Total.Late.P50 != time.Millisecond {
		t.Fatalf("real %v, by the runner's clock %v", rep.RealLate.P50, rep.Total.Late.P50)
	}
}

func TestLatenessPercentiles(t *testing.T) {
	var l Lateness
	for i := 100; i >= 1; i-- {
		l.add(time.Duration(i) * time.Millisecond)
	}
	l.finish(50 * time.Millisecond)
	if l.P50 != 50*time.Millisecond || l.P99 != 99*time.Millisecond || l.Max != 100*time.Millisecond || l.Min != time.Millisecond || l.OverGrace != 50 {
		t.Fatalf("%+v", l)
	}
}

func TestHarnessProblemFails(t *testing.T) {
	w := newWorld()
	w.in.Manifest.Problems = []string{"node n0#1 exited on its own"}
	w.checkFailed(t, true)
}

func TestLoadRoundTrip(t *testing.T) {
	w := newWorld()
	dir := t.TempDir()
	b, _ := json.Marshal(w.in.Manifest)
	must(t, os.WriteFile(filepath.Join(dir, ManifestFile), b, 0o644))
	w.fault(Fault{Kind: KindPause, Target: "n1", Start: at(20), End: at(23), Skew: Duration(1500 * time.Millisecond)})
	must(t, WriteJSONLines(filepath.Join(dir, FaultsFile), w.in.Faults))
	w.in.Incarnations[0].Records, w.in.Incarnations[1].Records = "n0.1.records.jsonl", "n1.1.records.jsonl"
	must(t, WriteJSONLines(filepath.Join(dir, NodesFile), w.in.Incarnations))
	must(t, WriteJSONLines(filepath.Join(dir, ClaimsFile), w.in.Claims))
	must(t, WriteJSONLines(filepath.Join(dir, "n0.1.records.jsonl"), w.in.Records))
	// n1 was killed in the middle of a write.
	must(t, os.WriteFile(filepath.Join(dir, "n1.1.records.jsonl"), []byte(`{"job":"a","tick":"2030-01-02T03:04:`), 0o644))

	in, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Records) != len(w.in.Records) || len(in.Faults) != 1 || in.Faults[0].Skew.D() != 1500*time.Millisecond ||
		len(in.Incarnations) != 2 || len(in.Claims) != len(w.in.Claims) || len(in.PartialLines) != 1 {
		t.Fatalf("loaded %d records, faults %+v, %d incarnations, %d claims, partial %q",
			len(in.Records), in.Faults, len(in.Incarnations), len(in.Claims), in.PartialLines)
	}
	if in.Records[0].From != "n0#1" || in.Records[0].Line != 1 || !in.Records[0].Tick.Equal(at(0)) {
		t.Fatalf("record %+v", in.Records[0])
	}
	if in.Manifest.Every.D() != time.Second || in.Manifest.To != at(9) {
		t.Fatalf("manifest %+v", in.Manifest)
	}
	rep := Check(in, RulesFor(in.Manifest))
	if rep.Failed() || len(rep.Notes) != 1 {
		t.Fatalf("failed %v, notes %q", rep.Failed(), rep.Notes)
	}

	// Without a claim dump, claims are unknown rather than empty.
	must(t, os.Remove(filepath.Join(dir, ClaimsFile)))
	if in, err = Load(dir); err != nil || in.Claims != nil {
		t.Fatalf("claims %v, err %v", in.Claims, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
