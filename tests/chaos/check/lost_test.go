package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// drillWorld is newWorld plus the drill job r (RerunLost, OverlapForbid in
// the Forbid tests), whose ticks are not counted.
func drillWorld() *world {
	w := newWorld()
	w.in.Manifest.DrillJobs = []string{"r"}
	w.in.Manifest.RerunJobs = []string{"r"}
	return w
}

// record adds a record of job r at tick sec by inst, of attempt and
// trigger, with token, running from start to end (seconds, inst's clock).
func (w *world) record(sec float64, inst, status, trigger string, attempt int, token int64, start, end float64) *Record {
	w.in.Records = append(w.in.Records, Record{Job: "r", Tick: at(sec), Instance: inst, Status: status, Trigger: trigger,
		Attempt: attempt, Token: token, Started: at(start), Finished: at(end), From: inst + "#1", Line: len(w.in.Records) + 1})
	if trigger == "schedule" && status != "lost" {
		w.claim("r", sec, inst)
	}
	return &w.in.Records[len(w.in.Records)-1]
}

// lost adds the leader's lost record of victim's run (job r, tick sec,
// attempt, token), written by the incarnation from at finished.
func (w *world) lost(sec float64, victim string, attempt int, token int64, from string, finished float64) {
	trigger := "schedule"
	if attempt > 1 {
		trigger = "retry"
	}
	r := w.record(sec, victim, "lost", trigger, attempt, token, sec, finished)
	r.From = from
	w.claim("r", sec, victim)
}

// killWithRuns SIGKILLs n1 at real time k with runs in progress and
// restarts it 3s later; its registration vanishes at gone (0: not seen).
// leader is who led just before the kill.
func (w *world) killWithRuns(node string, k, gone float64, leader string, runs ...RunRef) {
	for i := range w.in.Incarnations {
		if inc := &w.in.Incarnations[i]; inc.Node == node && inc.N == 1 {
			inc.Ended, inc.End = at(k), "killed"
			if gone > 0 {
				inc.Deregistered = []time.Time{at(gone)}
			}
		}
	}
	w.in.Incarnations = append(w.in.Incarnations, Incarnation{Node: node, N: 2, Started: at(k + 2), Ready: at(k + 3), Ended: at(19), End: "stopped"})
	w.fault(Fault{Kind: KindKill, Target: node, Start: at(k), End: at(k + 3), Running: runs, Leader: leader})
}

func ref(sec float64, attempt int) RunRef {
	trigger := "schedule"
	if attempt > 1 {
		trigger = "retry"
	}
	return RunRef{Job: "r", Tick: at(sec), Attempt: attempt, Trigger: trigger}
}

func TestLostOnceAndRerunOnce(t *testing.T) {
	// n1 is killed at 4.2 running r's tick 4; its lease goes at 6.2; the
	// leader n0 records the run lost and n0 re-runs it (attempt 2).
	w := drillWorld()
	w.killWithRuns("n1", 4.2, 6.2, "n0", ref(4, 1))
	w.lost(4, "n1", 1, 500, "n0#1", 6.25)
	w.record(4, "n0", "succeeded", "retry", 2, 600, 6.3, 7.8)
	rep := w.checkFailed(t, false)
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "r (RerunLost): 1 runs recorded lost, 1 of them re-run; 0 re-runs without a lost record") {
		t.Fatalf("notes %q", rep.Notes)
	}
}

func TestLostTwiceFails(t *testing.T) {
	// A second leader records the same loss again (and re-runs it again).
	w := drillWorld()
	w.killWithRuns("n1", 4.2, 6.2, "n0", ref(4, 1))
	w.lost(4, "n1", 1, 500, "n0#1", 6.25)
	w.lost(4, "n1", 1, 500, "n1#2", 9.5)
	rep := w.checkFailed(t, true)
	if len(rep.LostTwice) != 1 || rep.LostTwice[0].Source != "records" || len(rep.LostTwice[0].Lost) != 2 {
		t.Fatalf("lost twice %+v", rep.LostTwice)
	}
	var b strings.Builder
	rep.Write(&b)
	if !strings.Contains(b.String(), "LOST TWICE (records): r shard=0 tick=03:04:04.000000 attempt=1") {
		t.Fatalf("report:\n%s", b.String())
	}

	// The same record repeated verbatim is one record.
	w = drillWorld()
	w.lost(4, "n1", 1, 500, "n0#1", 6.25)
	w.in.Records = append(w.in.Records, w.in.Records[len(w.in.Records)-1])
	w.checkFailed(t, false)
}

func TestLostNotifiedTwiceFails(t *testing.T) {
	w := drillWorld()
	w.lost(4, "n1", 1, 500, "n0#1", 6.25)
	n := w.in.Records[len(w.in.Records)-1]
	n.From = "notification"
	second := n
	second.Finished = at(9.5)
	w.in.Notifications = []Record{n}
	w.checkFailed(t, false)
	w.in.Notifications = append(w.in.Notifications, second)
	rep := w.checkFailed(t, true)
	if len(rep.LostTwice) != 1 || rep.LostTwice[0].Source != "notifications" {
		t.Fatalf("lost twice %+v", rep.LostTwice)
	}
}

func TestRerunTwiceIsADuplicate(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  func(w *world)
	}{
		// Two leaders each request the re-run, and each is run.
		{"two runs of the next attempt", func(w *world) {
			w.record(4, "n0", "succeeded", "retry", 2, 600, 6.3, 7.8)
			w.record(4, "n1", "succeeded", "retry", 2, 700, 9.6, 11.1)
		}},
		// The re-run's runner dies; the next leader records that lost and
		// requests attempt 3, but also replays the first loss and runs
		// attempt 2 again.
		{"a lost re-run run again under its attempt", func(w *world) {
			w.lost(4, "n0", 2, 600, "n1#2", 9)
			w.record(4, "n1", "succeeded", "retry", 2, 700, 9.1, 10.6)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := drillWorld()
			w.lost(4, "n1", 1, 500, "n0#1", 6.25)
			tc.add(w)
			rep := w.checkFailed(t, true)
			if len(rep.Duplicates) != 1 || rep.Duplicates[0].Job != "r" || rep.Duplicates[0].Attempt != 2 {
				t.Fatalf("duplicates %+v", rep.Duplicates)
			}
		})
	}
}

func TestRunInProgressAtAKillMustBeRecordedLost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		gone   float64 // when the victim's registration vanished; 0: not seen
		leader string  // who led just before the second kill
		kill   float64 // real time of the second kill (0: none)
		target string  // its target
		fail   bool
	}{
		{"nobody recorded it", 6.2, "", 0, "", true},
		// The leader died just after the victim's lease expired: it may
		// have recorded the loss with the record still in its sink.
		{"the leader killed right after the lease expired", 6.2, "n0", 6.5, "n0", false},
		{"leadership unknown", 6.2, "", 6.5, "n0", false},
		{"the killed node was not the leader", 6.2, "n1", 6.5, "n0", true},
		{"the leader killed long after", 6.2, "n0", 8, "n0", true},
		{"the leader killed before the lease expired", 6.2, "n0", 5.5, "n0", true},
		{"expiry not seen: the window follows the kill", 0, "n0", 7, "n0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := drillWorld()
			w.killWithRuns("n1", 4.2, tc.gone, "n0", ref(4, 1))
			if tc.kill > 0 {
				w.fault(Fault{Kind: KindKill, Target: tc.target, Start: at(tc.kill), End: at(tc.kill + 3), Leader: tc.leader})
			}
			rep := w.checkFailed(t, tc.fail)
			if tc.fail {
				if len(rep.Unrecorded) != 1 || rep.Unrecorded[0].Victim != "n1#1" || rep.Unrecorded[0].Run != ref(4, 1) {
					t.Fatalf("unrecorded %+v", rep.Unrecorded)
				}
				var b strings.Builder
				rep.Write(&b)
				if !strings.Contains(b.String(), "NEVER RECORDED LOST: r shard=0 tick=03:04:04.000000 attempt=1 trigger=schedule, in progress on n1#1") {
					t.Fatalf("report:\n%s", b.String())
				}
			}
			// Recorded (by whoever leads), it passes; another instance's
			// lost record of the tick does not count.
			w.lost(4, "n0", 1, 500, "n0#1", 6.3)
			w.checkFailed(t, tc.fail)
			w.in.Records = w.in.Records[:len(w.in.Records)-1]
			w.lost(4, "n1", 1, 500, "n0#1", 6.3)
			w.checkFailed(t, false)
		})
	}
}

func TestLoadDrillFields(t *testing.T) {
	w := drillWorld()
	w.killWithRuns("n1", 4.2, 6.2, "n0", ref(4, 1))
	w.lost(4, "n1", 1, 500, "n0#1", 6.25)
	dir := t.TempDir()
	w.in.Manifest.Kinds = []string{KindLeader}
	b, _ := json.Marshal(w.in.Manifest)
	must(t, os.WriteFile(filepath.Join(dir, ManifestFile), b, 0o644))
	must(t, WriteJSONLines(filepath.Join(dir, FaultsFile), w.in.Faults))
	w.in.Incarnations[0].Records = "n0.1.records.jsonl"
	must(t, WriteJSONLines(filepath.Join(dir, NodesFile), w.in.Incarnations))
	must(t, WriteJSONLines(filepath.Join(dir, ClaimsFile), w.in.Claims))
	must(t, WriteJSONLines(filepath.Join(dir, "n0.1.records.jsonl"), w.in.Records))
	lost := w.in.Records[len(w.in.Records)-1]
	must(t, WriteJSONLines(filepath.Join(dir, NotificationsFile), []Record{lost, lost}))

	in, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Faults) != 1 || len(in.Faults[0].Running) != 1 || in.Faults[0].Running[0] != ref(4, 1) || in.Faults[0].Leader != "n0" ||
		len(in.Incarnations[1].Deregistered) != 1 || !in.Incarnations[1].Deregistered[0].Equal(at(6.2)) ||
		len(in.Notifications) != 2 || in.Notifications[1].From != "notification" || in.Notifications[1].Line != 2 {
		t.Fatalf("faults %+v, incarnations %+v, notifications %+v", in.Faults, in.Incarnations, in.Notifications)
	}
	// The same notification twice, verbatim, is one.
	rep := Check(in, RulesFor(in.Manifest))
	if rep.Failed() || len(rep.Faults) != 3 || rep.Faults[0].Kind != KindKill || rep.Faults[0].Count != 1 || rep.Faults[1].Kind != KindLeader {
		var b strings.Builder
		rep.Write(&b)
		t.Fatalf("faults summarized %+v\n%s", rep.Faults, b.String())
	}
}
