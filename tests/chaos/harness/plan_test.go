package harness

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/distcron/distcron/tests/chaos/check"
)

func TestPlanIsDeterministicAndCoversEveryKind(t *testing.T) {
	for _, seed := range []int64{1, 2, 3, 42} {
		cfg := Config{Seed: seed, Duration: 50 * time.Second}
		a, b := Plan(cfg), Plan(cfg)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two plans differ:\n%v\n%v", seed, a, b)
		}
		kinds := map[string]int{}
		for _, st := range a {
			kinds[st.Kind]++
		}
		for _, k := range check.Kinds {
			if kinds[k] == 0 {
				t.Errorf("seed %d: no %s fault in %v", seed, k, a)
			}
		}
		if other := Plan(Config{Seed: seed + 1000, Duration: 50 * time.Second}); reflect.DeepEqual(a, other) {
			t.Errorf("seeds %d and %d give the same plan", seed, seed+1000)
		}
	}
}

func TestPlanRespectsItsConstraints(t *testing.T) {
	cfg := Config{Seed: 7, Duration: 10 * time.Minute}.withDefaults()
	steps := Plan(cfg)
	if len(steps) < 50 {
		t.Fatalf("only %d faults in 10 minutes", len(steps))
	}
	if !slices.IsSortedFunc(steps, func(a, b Step) int { return int(a.At - b.At) }) {
		t.Fatal("steps not in time order")
	}
	var etcdFree time.Duration
	variants := map[string]int{}
	for _, st := range steps {
		switch st.Kind {
		case check.KindKill:
			if st.Skew < -cfg.MaxSkew || st.Skew > cfg.MaxSkew || st.Hold <= 0 {
				t.Errorf("bad kill %v", st)
			}
		case check.KindPause:
			if st.Hold <= cfg.TTL {
				t.Errorf("pause not longer than the TTL: %v", st)
			}
		case check.KindMember, check.KindQuorum:
			want := map[string]int{check.KindMember: 1, check.KindQuorum: 2}[st.Kind]
			if len(st.Members) != want || st.At < etcdFree {
				t.Errorf("bad or overlapping etcd fault %v (etcd free at %v)", st, etcdFree)
			}
			etcdFree = st.At + st.Hold
			variants[fmt.Sprintf("%s leader=%v freeze=%v", st.Kind, st.Leader, st.Freeze)]++
			if st.Kind == check.KindMember && st.Freeze {
				t.Errorf("member fault planned as a freeze: %v", st)
			}
		}
		if st.At+st.Hold > cfg.Duration {
			t.Errorf("fault past the end of the phase: %v", st)
		}
	}
	// Member faults hit the leader and a follower, quorum faults kill and
	// freeze, with and without the leader.
	for _, v := range []string{"member leader=true freeze=false", "member leader=false freeze=false",
		"quorum leader=true freeze=true", "quorum leader=false freeze=true",
		"quorum leader=true freeze=false", "quorum leader=false freeze=false"} {
		if variants[v] == 0 {
			t.Errorf("no etcd fault %q in %v", v, variants)
		}
	}
	// At most Nodes-1 node faults planned at once.
	for _, st := range steps {
		down := 0
		for _, o := range steps {
			if (o.Kind == check.KindKill || o.Kind == check.KindPause) && o.At <= st.At && st.At < o.At+o.Hold {
				down++
			}
		}
		if down >= cfg.Nodes {
			t.Errorf("%d nodes planned down at %v", down, st.At)
		}
	}
}

func TestPlanReservesTheClusterForDrills(t *testing.T) {
	cfg := Config{Seed: 3, Duration: 5 * time.Minute}.withDefaults()
	steps := Plan(cfg)
	kinds := map[string]int{}
	for _, st := range steps {
		kinds[st.Kind]++
	}
	for _, k := range check.DrillKinds {
		if kinds[k] < 2 {
			t.Errorf("%d %s drills in 5 minutes: %v", kinds[k], k, kinds)
		}
	}
	// While a leader, compaction or Forbid drill runs, no other node fault
	// starts or is in progress.
	busy := func(st Step) time.Duration {
		switch st.Kind {
		case check.KindLeader:
			return leaderDrillTime
		case check.KindCompact:
			return compactDrillTime
		case check.KindForbid:
			return forbidDrillTime
		case check.KindStop:
			return stopDrillTime
		case check.KindKill, check.KindPause:
			return st.Hold + 3*time.Second
		}
		return 0
	}
	for i, d := range steps {
		if !clusterDrill(d.Kind) {
			continue
		}
		for j, o := range steps {
			if i == j || busy(o) == 0 {
				continue
			}
			if o.At < d.At+busy(d) && d.At < o.At+busy(o) {
				t.Errorf("%v overlaps the drill %v", o, d)
			}
		}
	}
	// Drills only, seed 1 (TestChaosDrills): one of each, the leader drill
	// before the compaction drill (a compaction first would hide a new
	// leader's replay of old losses behind a failed watch).
	steps = Plan(Config{Seed: 1, Duration: 45 * time.Second, Kinds: check.DrillKinds})
	var order []string
	for _, st := range steps {
		order = append(order, st.Kind)
	}
	if fmt.Sprint(order) != fmt.Sprint([]string{check.KindLeader, check.KindCompact, check.KindForbid, check.KindStop}) {
		t.Errorf("seed 1 drills: %v", order)
	}
}
