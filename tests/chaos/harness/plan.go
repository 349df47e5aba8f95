package harness

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/distcron/distcron/tests/chaos/check"
)

// Step is one planned fault.
type Step struct {
	At      time.Duration // offset from the start of the fault phase
	Kind    string        // one of check.Kinds
	Hold    time.Duration // kill: down time before the restart; pause: time stopped; member, quorum: time down or stopped
	Node    int           // node faults: index of the target node
	Members []int         // etcd faults: indexes of the members to hit (see Leader)
	// Leader (etcd faults): the raft leader at the time is among the
	// members hit, in place of the last of Members; otherwise it is not
	// (another member replaces it). The leader is found when the fault
	// starts.
	Leader bool
	// Freeze (quorum faults): SIGSTOP the members and SIGCONT them after
	// Hold, instead of SIGKILL and a restart from their data directories.
	Freeze bool
	Skew   time.Duration // kill: clock skew of the restarted node
}

// Drill durations the plan reserves the whole cluster for (all nodes busy;
// the drill picks its targets when it starts): the drill itself, the
// restarts and the new sessions.
const (
	leaderDrillTime  = 14 * time.Second // victim killed, its lease expires, the leader killed, both restarted
	compactDrillTime = 15 * time.Second // the leader killed, a new one elected, another node killed, restarts
	forbidDrillTime  = forbidWork + 10*time.Second
	stopDrillTime    = stopWait + stopGrace + afterStop + 4*time.Second // one node: the stop, the restart, a new session
)

// clusterDrill reports whether kind reserves every node.
func clusterDrill(kind string) bool {
	return kind == check.KindLeader || kind == check.KindCompact || kind == check.KindForbid
}

func (s Step) String() string {
	switch s.Kind {
	case check.KindKill:
		return fmt.Sprintf("%7.2fs kill n%d, restart after %v with skew %v", s.At.Seconds(), s.Node, s.Hold, s.Skew)
	case check.KindPause:
		return fmt.Sprintf("%7.2fs pause n%d for %v", s.At.Seconds(), s.Node, s.Hold)
	case check.KindLeader:
		return fmt.Sprintf("%7.2fs leader drill: kill a node with rerun-0 in progress, then the leader as it records the lost runs; restarts after %v", s.At.Seconds(), s.Hold)
	case check.KindCompact:
		return fmt.Sprintf("%7.2fs compact drill: compact etcd around the SIGKILLs of the leader and of another node; restarts after %v", s.At.Seconds(), s.Hold)
	case check.KindForbid:
		return fmt.Sprintf("%7.2fs forbid drill: pause the node running forbid-0 for %v right after its run started", s.At.Seconds(), s.Hold)
	case check.KindStop:
		return fmt.Sprintf("%7.2fs stop n%d (SIGTERM) with stubborn runs in progress, restart", s.At.Seconds(), s.Node)
	default:
		how, again := "SIGKILL", "restart"
		if s.Freeze {
			how, again = "SIGSTOP", "SIGCONT"
		}
		lead := "without"
		if s.Leader {
			lead = "with"
		}
		return fmt.Sprintf("%7.2fs %s: %s etcd members %v %s the leader, %s after %v", s.At.Seconds(), s.Kind, how, s.Members, lead, again, s.Hold)
	}
}

// Plan is the deterministic fault schedule of a run: the same seed and
// configuration give the same steps (kinds, targets, timings, skews). The
// first steps inject each enabled kind once, in an order drawn from the
// seed; the rest are drawn with weights kill 3, pause 3, member 2, quorum 2.
// A member fault SIGKILLs one etcd member for 2-5s: the raft leader and a
// follower in turn (the seed says which first). A quorum fault hits two
// for 2-4s, by SIGKILL and by SIGSTOP in turn (the seed says which
// first), the leader among them or not by a coin toss. The drills weigh 1
// each: the leader, compaction and Forbid drills reserve every node (no
// other node fault meanwhile), the stop drill one node.
// At most Nodes-1 nodes are planned down at once, and etcd faults never
// overlap. Execution follows the plan as closely as the cluster allows (a
// restart can take longer than planned); the fault log records what
// actually happened.
func Plan(cfg Config) []Step {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15))
	between := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
	}
	first := slices.Clone(cfg.Kinds)
	rng.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	weights := map[string]int{check.KindKill: 3, check.KindPause: 3, check.KindMember: 2, check.KindQuorum: 2,
		check.KindLeader: 1, check.KindCompact: 1, check.KindForbid: 1, check.KindStop: 1}
	var bag []string
	for _, k := range cfg.Kinds {
		for range weights[k] {
			bag = append(bag, k)
		}
	}

	// Member faults alternate leader and follower, quorum faults SIGKILL
	// and SIGSTOP, so that a run with two of a kind has both.
	leaderNext, freezeNext := rng.IntN(2) == 0, rng.IntN(2) == 0
	nodeFree := make([]time.Duration, cfg.Nodes) // when each node is planned healthy again
	var etcdFree time.Duration
	var steps []Step
	t := time.Duration(0)
	for i := 0; len(bag) > 0 && (i < len(first) || t < cfg.Duration); i++ {
		kind := bag[rng.IntN(len(bag))]
		if i < len(first) {
			kind = first[i]
		}
		st := Step{At: t, Kind: kind}
		prevNodeFree, prevEtcdFree := time.Duration(0), etcdFree
		undoNodes := func() {}
		var busyUntil time.Duration
		switch kind {
		case check.KindLeader, check.KindCompact, check.KindForbid:
			st.At = max(st.At, slices.Max(nodeFree))
			switch kind {
			case check.KindLeader:
				st.Hold, busyUntil = between(200*time.Millisecond, 2*time.Second).Round(time.Millisecond), st.At+leaderDrillTime
			case check.KindCompact:
				st.Hold, busyUntil = between(200*time.Millisecond, 2*time.Second).Round(time.Millisecond), st.At+compactDrillTime
			default:
				st.Hold, busyUntil = cfg.TTL+1500*time.Millisecond, st.At+forbidDrillTime
			}
			prevNodes := slices.Clone(nodeFree)
			for n := range nodeFree {
				nodeFree[n] = busyUntil
			}
			undoNodes = func() { copy(nodeFree, prevNodes) }
		case check.KindKill, check.KindPause, check.KindStop:
			if kind == check.KindKill {
				st.Hold = between(200*time.Millisecond, 2*time.Second).Round(time.Millisecond)
				st.Skew = between(-cfg.MaxSkew, cfg.MaxSkew).Round(10 * time.Millisecond)
			} else if kind == check.KindPause {
				// Longer than the TTL, sometimes longer than the misfire grace.
				st.Hold = cfg.TTL + between(500*time.Millisecond, 4500*time.Millisecond).Round(time.Millisecond)
			}
			// A node is free when it is planned healthy; at least one
			// other node must stay healthy.
			for {
				var free []int
				down := 0
				for n, until := range nodeFree {
					if until <= st.At {
						free = append(free, n)
					} else {
						down++
					}
				}
				if len(free) >= 2 || (len(free) == 1 && down == 0 && cfg.Nodes == 1) {
					st.Node = free[rng.IntN(len(free))]
					break
				}
				st.At = slices.Min(slices.DeleteFunc(slices.Clone(nodeFree), func(d time.Duration) bool { return d <= st.At }))
			}
			prevNodeFree = nodeFree[st.Node]
			recovery := 3 * time.Second // restart and session; pause: a new session after SIGCONT
			busyUntil = st.At + st.Hold + recovery
			if kind == check.KindStop {
				busyUntil = st.At + stopDrillTime
			}
			nodeFree[st.Node] = busyUntil
		case check.KindMember, check.KindQuorum:
			st.At = max(st.At, etcdFree)
			n := 1
			if kind == check.KindQuorum {
				n = 2
				st.Hold = between(2*time.Second, 4*time.Second).Round(time.Millisecond)
				st.Leader = rng.IntN(2) == 0
			} else {
				st.Hold = between(2*time.Second, 5*time.Second).Round(time.Millisecond)
			}
			st.Members = rng.Perm(3)[:n]
			slices.Sort(st.Members)
			// The restart (a few seconds; the harness waits up to 10s
			// more for a write while one member is down), a settling
			// pause, and the nodes' new sessions.
			busyUntil = st.At + st.Hold + 8*time.Second
			etcdFree = busyUntil
		}
		// A fault that would not be over by the end of the phase is
		// dropped, unless it is the first of its kind: then the run is
		// just longer than planned.
		if busyUntil <= cfg.Duration || i < len(first) {
			switch kind {
			case check.KindMember:
				st.Leader, leaderNext = leaderNext, !leaderNext
			case check.KindQuorum:
				st.Freeze, freezeNext = freezeNext, !freezeNext
			}
			steps = append(steps, st)
			if kind != check.KindMember && kind != check.KindQuorum {
				t = st.At // etcd faults wait for each other, not node faults
			}
		} else {
			// Undo its bookkeeping.
			switch kind {
			case check.KindKill, check.KindPause, check.KindStop:
				nodeFree[st.Node] = prevNodeFree
			case check.KindMember, check.KindQuorum:
				etcdFree = prevEtcdFree
			default:
				undoNodes()
			}
		}
		t += between(cfg.MeanGap/2, cfg.MeanGap*3/2)
	}
	slices.SortStableFunc(steps, func(a, b Step) int { return cmp.Compare(a.At, b.At) })
	return steps
}
