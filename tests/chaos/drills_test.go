package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distcron/distcron/tests/chaos/check"
)

// TestChaosDrills is the CI run of the drills, on a cluster of its own
// (three node processes, a 3-member etcd cluster of processes): the plan
// for seed 1 runs each once, in this order: the leader SIGKILLed right as
// it records the lost runs of a node SIGKILLed before it (with RerunLost);
// etcd compacted around the SIGKILLs of the leader and of another node;
// the runner of an OverlapForbid job SIGSTOPped past its TTL right after
// its run started; a node with stubborn runs stopped gracefully. Then
// the checker: every rule (no run twice, every miss explained) and the
// drills' rules: each run lost to a crash recorded lost exactly once and
// re-run at most once, Forbid runs never overlapping beyond a lease
// expiry, every stop within its budget, clean and without a panic. The
// test also fails when a drill did not test its subject: no lost record
// seen before the leader's SIGKILL, no runs in progress at the compaction
// drill's second SIGKILL, no other node taking over the Forbid job during
// the pause, no stubborn run in progress at the stop.
func TestChaosDrills(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run takes about 90s")
	}
	t.Parallel()
	cfg, in, rep := runChaos(t, 45*time.Second, check.DrillKinds, 170*time.Second)

	for _, f := range rep.Faults {
		if f.Kind != check.KindOutage && (f.Count == 0 || f.Verified < f.Count) {
			t.Errorf("fault kind %s: %d injected, %d verified: the harness could not inject it", f.Kind, f.Count, f.Verified)
		}
	}
	subject := func(what string, ok func(check.Fault) bool) {
		t.Helper()
		if !slices.ContainsFunc(in.Faults, ok) {
			t.Errorf("the drills did not test their subject: %s", what)
		}
	}
	subject("a leader drill whose leader was killed right after it recorded a lost run", func(f check.Fault) bool {
		return f.Kind == check.KindLeader && f.Verified && strings.Contains(f.Note, " lost ") && !strings.HasPrefix(f.Note, "no lost record")
	})
	subject("a compaction drill SIGKILL of a node with runs in progress", func(f check.Fault) bool {
		return f.Kind == check.KindKill && strings.HasPrefix(f.Note, "compaction drill: a node with runs") && len(f.Running) > 0
	})
	subject("a Forbid drill where another node started the job during the pause", func(f check.Fault) bool {
		return f.Kind == check.KindForbid && f.Verified && strings.Contains(f.Note, "another node started forbid-0")
	})
	subject("a stop drill with stubborn runs in progress", func(f check.Fault) bool {
		return f.Kind == check.KindStop && f.Verified
	})
	if rep.Total.Expected < 1000 || rep.Total.Run < rep.Total.Expected/2 {
		t.Errorf("only %d ticks expected and %d run: the cluster did not work", rep.Total.Expected, rep.Total.Run)
	}
	failIfFailed(t, rep, cfg, strings.Join(cfg.Kinds, ","))
}
