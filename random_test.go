package distcron

// TestRandomizedControlPlane: a seeded randomized test of the control
// plane (issue 9, "Proof"). Three schedulers share one embedded etcd, each
// with its own client wrapped by internal/etcdfault, all registering the
// same jobs of every kind (randJobs). A fault plan drawn from the seed
// injects, over -random.duration, lost answers on claims and on request
// claims, ErrLeaseNotFound, hangs and delays, compacted and cancelled
// watches, keep-alive loss, instances cut off past their TTL, leader kills
// (Stop or crash), crashes, etcd compaction, Stop of instances running a
// job that ignores cancellation, Trigger calls and a Pause. Invariants are
// checked while it runs (running keys) and at the end over the run records
// and the journal that the job funcs keep themselves (see checkInvariants
// for the precise definitions):
//
//   - no (job, tick, shard, attempt, lineage) runs twice (records, journal);
//   - a run is recorded (and notified) lost at most once, and only after its
//     instance lost its lease; every run lost to a crash is recorded lost
//     exactly once, unless a leader reported that history as unchecked;
//   - attempt N+1 only after attempt N failed (Retry) or was recorded lost,
//     and beside N only if N was lost on an instance only cut off;
//   - two runs of a Forbid job never overlap (same exception);
//   - every running key is on a lease, none outlives its run on a live
//     instance, and none is left once every instance stopped;
//   - Stop returns by its deadline + stop grace + 2s (+1s scheduling slack);
//   - the paused job never runs (nor is a Trigger of it accepted), and
//     paused-later not 3s after its Pause; the host never panics (a panic
//     in any goroutine ends the test binary).
//
// CI runs two seeds (one with -short). A long run:
//
//	go test -race -run TestRandomizedControlPlane -count=1 . -args -random.duration=5m -random.seeds=1,2,3
//
// DISTCRON_SEED=7 (or a list, 7,8) picks seeds too; the flag wins.

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/etcdfault"
	"github.com/distcron/distcron/logsink"
)

var (
	randomSeeds    = flag.String("random.seeds", "", "comma-separated seeds of TestRandomizedControlPlane (default $DISTCRON_SEED, else 1,2; -short: the first)")
	randomDuration = flag.Duration("random.duration", 20*time.Second, "length of the fault schedule of each seed of TestRandomizedControlPlane")
	randomSkip     = flag.String("random.skip", "", "comma-separated fault kinds TestRandomizedControlPlane leaves out, to bisect a failure (e.g. lose-request-claim,crash)")
)

// skippedFaults parses -random.skip.
func skippedFaults(t *testing.T) map[faultKind]bool {
	skip := map[faultKind]bool{}
	for _, name := range strings.Split(*randomSkip, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		k := slices.Index(faultNames[:], name)
		if k < 0 {
			t.Fatalf("-random.skip: unknown fault kind %q (kinds: %v)", name, faultNames)
		}
		skip[faultKind(k)] = true
	}
	return skip
}

// defaultRandomSeeds run in CI.
var defaultRandomSeeds = []uint64{1, 2}

func randomSeedList(t *testing.T) []uint64 {
	src := *randomSeeds
	if src == "" {
		src = os.Getenv("DISTCRON_SEED")
	}
	seeds := defaultRandomSeeds
	if src != "" {
		seeds = nil
		for _, f := range strings.Split(src, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("bad seed %q: %v", f, err)
			}
			seeds = append(seeds, v)
		}
	}
	if testing.Short() && len(seeds) > 1 {
		seeds = seeds[:1]
	}
	return seeds
}

func TestRandomizedControlPlane(t *testing.T) {
	for _, seed := range randomSeedList(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("seed %d (rerun: go test -race -run 'TestRandomizedControlPlane/seed=%d$' -count=1 . -args -random.seeds=%d -random.duration=%v -random.skip=%q)",
				seed, seed, seed, *randomDuration, *randomSkip)
			runRandomized(t, seed, *randomDuration)
		})
	}
}

// faultKind is one kind of event of the fault plan.
type faultKind int

const (
	faultLoseClaim        faultKind = iota // claim Txns commit, their answers are lost
	faultLoseRequestClaim                  // Txns on control/requests/ commit, their answers are lost
	faultLeaseNotFound                     // a claim batch fails with ErrLeaseNotFound
	faultHang                              // the next Txn or Get calls hang until their ctx ends
	faultDelay                             // every Txn of one instance is slow for a while
	faultSlowRelease                       // the release of one instance's running keys is slow
	faultClaimOutage                       // no instance can claim for a while (misfires, catch-up)
	faultCompactWatch                      // open watches end compacted, and the next one too
	faultCancelWatch                       // open watches end (no raft leader), and the next one too
	faultSessionBlink                      // one instance's keep-alives stop (it renews at once)
	faultCutOff                            // one instance is cut off from etcd past its TTL; its process lives
	faultLeaderKill                        // the leader is stopped or crashes; a fresh instance replaces it
	faultCrash                             // a non-leader crashes (client closed); a fresh instance replaces it
	faultCompact                           // etcd is compacted to its current revision
	faultStopStubborn                      // an instance running a job that ignores cancellation is stopped
	faultTrigger                           // Trigger of a job from a random instance
	faultPause                             // Pause of paused-later (once)
	numFaultKinds
)

var faultNames = [numFaultKinds]string{"lose-claim", "lose-request-claim", "lease-not-found", "hang", "delay",
	"slow-release", "claim-outage", "compact-watch", "cancel-watch", "session-blink", "cut-off", "leader-kill",
	"crash", "compact", "stop-stubborn", "trigger", "pause"}

func (k faultKind) String() string { return faultNames[k] }

// faultWeights are the odds of each kind of fault (triggers and the pause
// are scheduled apart).
var faultWeights = map[faultKind]int{
	faultLoseClaim: 4, faultLoseRequestClaim: 4, faultLeaseNotFound: 2, faultHang: 2, faultDelay: 1,
	faultSlowRelease: 1, faultClaimOutage: 1, faultCompactWatch: 2, faultCancelWatch: 1, faultSessionBlink: 2,
	faultCutOff: 2, faultLeaderKill: 2, faultCrash: 2, faultCompact: 2, faultStopStubborn: 1,
}

// disruptive faults take an instance away for seconds: they are spaced.
func (k faultKind) disruptive() bool {
	switch k {
	case faultCutOff, faultLeaderKill, faultCrash, faultStopStubborn:
		return true
	}
	return false
}

// fault is one event of the plan.
type fault struct {
	at    time.Duration // since the start of the schedule
	kind  faultKind
	slot  int           // target instance (another live one if it is not)
	n     int           // how many calls a rule acts on
	d     time.Duration // how long it lasts; the deadline of a Stop
	delay time.Duration // Delay rules
	crash bool          // leader-kill: crash rather than Stop
	get   bool          // hang: Get calls rather than Txn
	blink bool          // crash: lose the session first, crash d later
	job   string        // trigger
}

func (f fault) String() string {
	s := fmt.Sprintf("%6.2fs %s slot=%d", f.at.Seconds(), f.kind, f.slot)
	switch f.kind {
	case faultLoseClaim, faultLoseRequestClaim, faultLeaseNotFound:
		s += fmt.Sprintf(" n=%d", f.n)
	case faultHang:
		s += fmt.Sprintf(" n=%d get=%v", f.n, f.get)
	case faultDelay, faultSlowRelease:
		s += fmt.Sprintf(" for=%v delay=%v", f.d, f.delay)
	case faultClaimOutage, faultCutOff:
		s += fmt.Sprintf(" for=%v", f.d)
	case faultLeaderKill:
		s += fmt.Sprintf(" crash=%v stop-deadline=%v", f.crash, f.d)
	case faultStopStubborn:
		s += fmt.Sprintf(" stop-deadline=%v", f.d)
	case faultCrash:
		if f.blink {
			s += fmt.Sprintf(" after-blink=%v txn-delay=%v", f.d, f.delay)
		}
	case faultTrigger:
		s += " job=" + f.job
	}
	return s
}

// faultPlan is the seeded schedule of one run.
type faultPlan struct {
	seed   uint64
	faults []fault
}

// triggerJobs are the jobs Trigger is called on.
var triggerJobs = []string{"manual", "manual", "forbid", "sharded", "paused", "paused-later"}

// newFaultPlan draws the schedule of seed over dur: a fault every 0.2-0.9s
// (disruptive ones at least 3s apart, none in the first 2s), a Trigger
// every 0.15-0.5s, and the Pause of paused-later at about a quarter.
func newFaultPlan(seed uint64, dur time.Duration) faultPlan {
	rng := rand.New(rand.NewPCG(seed, 0xd15c0))
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)) }
	var kinds []faultKind
	for k := range numFaultKinds {
		for range faultWeights[k] {
			kinds = append(kinds, k)
		}
	}
	p := faultPlan{seed: seed}
	lastDisruptive := time.Duration(-time.Hour)
	for at := between(500*time.Millisecond, time.Second); at < dur; at += between(200*time.Millisecond, 900*time.Millisecond) {
		k := kinds[rng.IntN(len(kinds))]
		for k.disruptive() && (at < 2*time.Second || at-lastDisruptive < 3*time.Second) {
			k = kinds[rng.IntN(len(kinds))]
		}
		if k.disruptive() {
			lastDisruptive = at
		}
		f := fault{at: at, kind: k, slot: rng.IntN(randSlots), n: 1 + rng.IntN(3)}
		switch k {
		case faultHang:
			f.get = rng.IntN(3) == 0
		case faultDelay:
			f.d, f.delay = between(time.Second, 2*time.Second), between(100*time.Millisecond, 400*time.Millisecond)
		case faultSlowRelease:
			f.d, f.delay = 3*time.Second, between(500*time.Millisecond, 1500*time.Millisecond)
		case faultClaimOutage:
			f.d = between(2*time.Second, 3500*time.Millisecond)
		case faultCutOff:
			f.d = between(randTTL+500*time.Millisecond, 2*randTTL)
		case faultLeaderKill:
			f.crash, f.d = rng.IntN(2) == 0, between(200*time.Millisecond, 2*time.Second)
		case faultStopStubborn:
			f.d = between(200*time.Millisecond, 800*time.Millisecond)
		case faultCrash:
			if f.blink = rng.IntN(2) == 0; f.blink {
				f.d, f.delay = between(200*time.Millisecond, time.Second), between(200*time.Millisecond, 500*time.Millisecond)
			}
		}
		p.faults = append(p.faults, f)
	}
	for at := between(time.Second, 2*time.Second); at < dur; at += between(150*time.Millisecond, 500*time.Millisecond) {
		p.faults = append(p.faults, fault{at: at, kind: faultTrigger, slot: rng.IntN(randSlots), job: triggerJobs[rng.IntN(len(triggerJobs))]})
	}
	p.faults = append(p.faults, fault{at: dur/4 + between(0, time.Second), kind: faultPause, slot: rng.IntN(randSlots)})
	slices.SortStableFunc(p.faults, func(a, b fault) int { return cmp.Compare(a.at, b.at) })
	return p
}

// runRandomized runs one seed: start the world, play the plan, settle,
// stop everything, check.
func runRandomized(t *testing.T, seed uint64, dur time.Duration) {
	w := newWorld(t, seed)
	defer w.over.Store(true)
	plan := newFaultPlan(seed, dur)
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			for _, f := range plan.faults {
				if f.kind != faultTrigger {
					fmt.Fprintf(&b, "\n  %v", f)
				}
			}
			t.Logf("fault plan of seed %d (triggers left out):%s", seed, b.String())
		}
	})

	// "paused" is paused before any instance starts: it must never run.
	w.t0 = time.Now()
	first := w.buildNode()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := first.s.Pause(ctx, "paused"); err != nil {
		t.Fatalf("Pause(paused): %v", err)
	}
	cancel()
	w.startNode(first, 0)
	for slot := 1; slot < randSlots; slot++ {
		w.newNode(slot)
	}
	wctx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go w.watchDeletes(wctx, watchDone)
	w.bg.Add(1)
	go w.sample()

	w.t0 = time.Now()
	skip := skippedFaults(t)
	for _, f := range plan.faults {
		time.Sleep(time.Until(w.t0.Add(f.at)))
		if !skip[f.kind] {
			w.apply(f)
		}
	}

	// Quiet: no new faults; pending ones run out, lost runs are recorded
	// and re-run, crashed instances are stopped.
	time.Sleep(randTTL + 3*time.Second)
	close(w.stopc)
	w.mu.Lock()
	for _, tm := range w.timers {
		tm.Stop()
	}
	w.mu.Unlock()
	for _, n := range w.liveNodes() {
		n.inj.Clear()
	}
	for _, n := range w.liveNodes() {
		w.stopNode(n, 3*time.Second, "end", false)
	}
	waitDone := make(chan struct{})
	go func() { w.bg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(30 * time.Second):
		t.Errorf("seed %d: stops and background checks did not end within 30s", seed)
	}
	if !w.jr.waitIdle(10 * time.Second) {
		t.Errorf("seed %d: job funcs still running 10s after every instance stopped", seed)
	}
	w.checkKeysGone()
	stopWatch()
	<-watchDone
	w.checkInvariants()
	w.report(plan)
	// Let the library's own tail (retries of requests abandoned at Stop,
	// bounded by the session TTL) end before goleak looks.
	time.Sleep(randTTL)
}

// apply plays one event of the plan.
func (w *world) apply(f fault) {
	n := w.live(f.slot)
	if n == nil {
		return
	}
	ns := w.ns
	if f.kind != faultTrigger {
		w.log.Info("test: fault", zap.String("fault", f.String()), zap.String("instance", n.id))
	}
	switch f.kind {
	case faultLoseClaim:
		w.addRule(n, etcdfault.Rule{Kind: etcdfault.Txn, Key: ns + "claims/", Action: etcdfault.LoseAnswer, Times: f.n}, 5*time.Second)
	case faultLoseRequestClaim:
		w.addRule(n, etcdfault.Rule{Kind: etcdfault.Txn, Key: ns + "control/requests/", Action: etcdfault.LoseAnswer, Times: f.n}, 5*time.Second)
	case faultLeaseNotFound:
		w.addRule(n, etcdfault.Rule{Kind: etcdfault.Txn, Key: ns + "claims/", Action: etcdfault.Fail, Err: rpctypes.ErrLeaseNotFound, Times: f.n}, 5*time.Second)
	case faultHang:
		kind := etcdfault.Txn
		if f.get {
			kind = etcdfault.Get
		}
		w.addRule(n, etcdfault.Rule{Kind: kind, Key: ns, Action: etcdfault.Hang, Times: f.n}, 5*time.Second)
	case faultDelay:
		w.addRule(n, etcdfault.Rule{Kind: etcdfault.Txn, Action: etcdfault.Delay, Delay: f.delay}, f.d)
	case faultSlowRelease:
		// The owner's releases: deletes of running keys, rewrites and
		// deletes of in-flight keys.
		onlyReleases := func(c etcdfault.Call) bool {
			return len(c.Keys) > 0 && !slices.ContainsFunc(c.Keys, func(k string) bool {
				return !strings.HasPrefix(k, ns+"running/") && !strings.HasPrefix(k, ns+"inflight/")
			})
		}
		w.addRule(n, etcdfault.Rule{Kind: etcdfault.Txn, Key: ns, Action: etcdfault.Delay, Delay: f.delay, Match: onlyReleases}, f.d)
	case faultClaimOutage:
		for _, m := range w.liveNodes() {
			w.addRule(m, etcdfault.Rule{Kind: etcdfault.Txn, Key: ns + "claims/", Action: etcdfault.Delay, Delay: f.d}, f.d)
		}
	case faultCompactWatch:
		n.inj.FailWatches("", true)
		w.addRule(n, etcdfault.Rule{Kind: etcdfault.Watch, Action: etcdfault.CompactWatch, Times: 1}, 5*time.Second)
	case faultCancelWatch:
		n.inj.FailWatches("", false)
		w.addRule(n, etcdfault.Rule{Kind: etcdfault.Watch, Action: etcdfault.CancelWatch, Err: rpctypes.ErrNoLeader, Times: 1}, 5*time.Second)
	case faultSessionBlink:
		now := time.Now()
		w.leaseLoss(n, now, now.Add(randTTL))
		n.inj.FailKeepAlives(clientv3.NoLease)
	case faultCutOff:
		now := time.Now()
		w.leaseLoss(n, now, now.Add(f.d+randTTL))
		for _, k := range []etcdfault.Kind{etcdfault.Txn, etcdfault.Get, etcdfault.Put, etcdfault.Delete, etcdfault.Grant, etcdfault.KeepAlive} {
			w.addRule(n, etcdfault.Rule{Kind: k, Action: etcdfault.Fail}, f.d)
		}
		w.addRule(n, etcdfault.Rule{Kind: etcdfault.Watch, Action: etcdfault.CancelWatch, Err: rpctypes.ErrNoLeader}, f.d)
		n.inj.FailKeepAlives(clientv3.NoLease)
		n.inj.FailWatches("", false)
	case faultLeaderKill:
		leader := n
		for _, m := range w.liveNodes() {
			if m.s.IsLeader() {
				leader = m
			}
		}
		if f.crash {
			w.crashNode(leader, "leader-kill")
		} else {
			w.stopNode(leader, f.d, "leader-kill", true)
		}
	case faultCrash:
		for _, m := range w.liveNodes() {
			if !m.s.IsLeader() {
				n = m
				break
			}
		}
		if f.blink {
			// A network blip, then the crash while the session is being
			// renewed (etcd slow): the runs' keys may still be on the old lease.
			now := time.Now()
			w.leaseLoss(n, now, now.Add(randTTL))
			w.addRule(n, etcdfault.Rule{Kind: etcdfault.Txn, Action: etcdfault.Delay, Delay: f.delay}, 5*time.Second)
			n.inj.FailKeepAlives(clientv3.NoLease)
			time.Sleep(f.d)
		}
		w.crashNode(n, "crash")
	case faultCompact:
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if resp, err := w.obs.Get(ctx, "compact-probe"); err == nil {
			if _, err := w.obs.Compact(ctx, resp.Header.Revision); err == nil {
				w.mu.Lock()
				w.compacts++
				w.mu.Unlock()
			}
		}
		cancel()
	case faultStopStubborn:
		for _, m := range w.liveNodes() {
			if w.jr.running(m, "stubborn") {
				n = m
				break
			}
		}
		w.stopNode(n, f.d, "stop-stubborn", true)
	case faultTrigger:
		w.mu.Lock()
		paused := !w.pausedAt.IsZero()
		w.mu.Unlock()
		if f.job == "paused-later" && !paused {
			return // its manual runs would share the lineage of its re-runs (see ident)
		}
		w.trigger(n, f.job)
	case faultPause:
		w.pause(n)
	}
	w.mu.Lock()
	w.faults[f.kind]++
	w.mu.Unlock()
}

// trigger calls Trigger and checks what it may answer: a paused job
// refuses (ErrPaused or an etcd error), never accepts.
func (w *world) trigger(n *node, job string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	began := time.Now()
	err := n.s.Trigger(ctx, job)
	outcome := "ok"
	switch {
	case errors.Is(err, ErrPaused):
		outcome = "paused"
	case err != nil:
		outcome = "error"
	}
	w.mu.Lock()
	w.triggers[job+" "+outcome]++
	pausedAt := w.pausedAt
	w.mu.Unlock()
	if job == "paused" || job == "paused-later" && !pausedAt.IsZero() && began.After(pausedAt) {
		w.check("a paused job never runs", err != nil, "Trigger(%s) on %s accepted", job, n.id)
	}
}

// pause pauses paused-later (retrying through faults, on the other live
// instances too: this one may be cut off) and notes when.
func (w *world) pause(n *node) {
	for i := 0; i < 10; i++ {
		if i > 0 {
			w.mu.Lock()
			if other := w.slots[i%randSlots]; other != nil {
				n = other
			}
			w.mu.Unlock()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := n.s.Pause(ctx, "paused-later")
		cancel()
		if err == nil {
			w.mu.Lock()
			w.pausedAt = time.Now()
			w.mu.Unlock()
			return
		}
	}
	w.t.Errorf("seed %d: Pause(paused-later) failed 10 times", w.seed)
}

// checkKeysGone waits until every lease of a stopped or crashed instance
// has expired, then requires running/, inflight/, instances/ and leader/ empty.
func (w *world) checkKeysGone() {
	deadline := time.Now().Add(randTTL + 3*time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := w.obs.Txn(ctx).Then(
			clientv3.OpGet(w.kl.Running(), clientv3.WithPrefix()),
			clientv3.OpGet(w.kl.Inflight(), clientv3.WithPrefix()),
			clientv3.OpGet(w.kl.Instances(), clientv3.WithPrefix(), clientv3.WithKeysOnly()),
			clientv3.OpGet(w.kl.Leader(), clientv3.WithPrefix(), clientv3.WithKeysOnly()),
		).Commit()
		cancel()
		left := 0
		var what []string
		if err == nil {
			for _, r := range resp.Responses {
				for _, kv := range r.GetResponseRange().GetKvs() {
					left++
					what = append(what, fmt.Sprintf("%s (lease %x) = %s", kv.Key, kv.Lease, kv.Value))
				}
			}
		}
		if err == nil && left == 0 {
			w.check("no running key outlives its run and its lease", true, "")
			return
		}
		if time.Now().After(deadline) {
			w.check("no running key outlives its run and its lease", false,
				"%d keys left %v after every instance stopped: %v (err %v)", left, randTTL+3*time.Second, what, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkInvariants checks, at the end, what the records, the journal and
// the notes of the run must show. Definitions:
//
//   - A run is a record whose status is not lost or skipped, or an
//     execution in the journal (a call of the job func) that is not a
//     zombie (one that started after its instance crashed: a simulation
//     artefact, since the process would be gone). An execution its
//     instance's crash ended ends at the crash.
//   - Its identity is (job, tick, shard, attempt, lineage): see ident.
//   - A lease loss of an instance is a cut-off, a keep-alive failure, a
//     crash or a Stop: afterwards the leader may record its runs lost.
//   - An instance only cut off (its process lives) may run on a run the
//     leader recorded lost: then attempt N+1 (RerunLost) and another
//     Forbid run may overlap attempt N, and only then.
func (w *world) checkInvariants() {
	w.mu.Lock()
	recs := slices.Clone(w.recs)
	dropped := slices.Clone(w.dropped)
	notes := slices.Clone(w.notes)
	stops := slices.Clone(w.stops)
	nodes := slices.Clone(w.all)
	pausedAt := w.pausedAt
	w.mu.Unlock()
	execs := w.jr.snapshot()
	all := append(slices.Clone(recs), dropped...)

	type who struct {
		id   ident
		inst string
	}
	lost := map[who][]logsink.Record{}
	lostAny := map[ident]bool{}
	failed := map[ident]bool{}
	for _, r := range all {
		id := w.identOfRecord(r)
		switch r.Status {
		case logsink.StatusLost:
			lost[who{id, r.Instance}] = append(lost[who{id, r.Instance}], r)
			lostAny[id] = true
		case logsink.StatusFailed, logsink.StatusTimeout:
			failed[id] = true
		}
	}
	byNode := map[string]*node{}
	for _, n := range nodes {
		byNode[n.id] = n
	}
	// cutOffDuring: n's lease could expire while its process lived, around [from, to].
	cutOffDuring := func(n *node, from, to time.Time) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return slices.ContainsFunc(n.leaseLoss, func(iv interval) bool {
			return (n.crashedAt.IsZero() || iv.from.Before(n.crashedAt)) && iv.covers(from.Add(-randTTL-time.Second), to)
		})
	}

	// 1. No identity runs twice: in the records ...
	runsByID := map[ident][]logsink.Record{}
	for _, r := range recs {
		if r.Status != logsink.StatusLost && r.Status != logsink.StatusSkipped {
			runsByID[w.identOfRecord(r)] = append(runsByID[w.identOfRecord(r)], r)
		}
	}
	for id, rs := range runsByID {
		w.check("no run twice (records)", len(rs) == 1, "%v ran %d times: %s", id, len(rs), fmtRecs(rs))
	}
	// ... and in the journal.
	execByID := map[ident][]execution{}
	for _, ex := range execs {
		if !ex.zombie {
			execByID[ex.id] = append(execByID[ex.id], ex)
		}
	}
	for id, es := range execByID {
		w.check("no run twice (journal)", len(es) == 1, "%v executed %d times: %s", id, len(es), fmtExecs(es))
	}

	// 2. A run is recorded lost at most once (records and notifications).
	for k, rs := range lost {
		w.check("lost at most once", len(rs) == 1, "%v of %s recorded lost %d times: %s", k.id, k.inst, len(rs), fmtRecs(rs))
	}
	noted := map[who]int{}
	for _, r := range notes {
		noted[who{w.identOfRecord(r), r.Instance}]++
	}
	for k, c := range noted {
		w.check("lost at most once", c == 1, "%v of %s notified lost %d times", k.id, k.inst, c)
	}
	// A lost record is about an instance that lost its lease around then.
	for k, rs := range lost {
		n := byNode[k.inst]
		ok := n != nil && func() bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			return slices.ContainsFunc(n.leaseLoss, func(iv interval) bool { return iv.covers(rs[0].Started.Add(-randTTL-time.Second), rs[0].Finished) })
		}()
		w.check("lost only after a lease loss", ok, "%v recorded lost on %s, which lost no lease then: %s", k.id, k.inst, fmtRecs(rs))
	}

	// 3. Every run lost to a crash is recorded lost exactly once, unless
	// the leaders reported the history of the crash as unchecked.
	w.hooks.mu.Lock()
	unchecked := slices.Clone(w.hooks.unchecked)
	w.hooks.mu.Unlock()
	for _, n := range nodes {
		if n.crashedAt.IsZero() {
			continue
		}
		expect := map[ident]string{}
		w.mu.Lock()
		for id, why := range n.expectLost {
			expect[id] = why
		}
		regDeletes := slices.Clone(w.regDeletes[n.id])
		w.mu.Unlock()
		for _, ex := range execs {
			if _, ok := expect[ex.id]; !ok && ex.node == n && (ex.crashed || ex.zombie) {
				expect[ex.id] = fmt.Sprintf("execution ended by the crash (crashed=%v zombie=%v)", ex.crashed, ex.zombie)
			}
		}
		excused := func() bool {
			for _, d := range regDeletes {
				for _, u := range unchecked {
					if u.from <= d.rev && d.rev <= u.to {
						return true
					}
				}
			}
			return false
		}
		for id, why := range expect {
			c := len(lost[who{id, n.id}])
			if c == 0 && excused() {
				w.mu.Lock()
				w.checks["crash lost: excused (history reported unchecked)"]++
				w.mu.Unlock()
				continue
			}
			w.mu.Lock()
			keyDeletes := w.keyDeletes[n.id+" "+id.String()]
			w.mu.Unlock()
			w.check("every run lost to a crash is recorded lost once", c == 1,
				"%v on %s (crashed at %v; %s): %d lost records; its running key deleted at %v; its registration deleted at %v",
				id, n.id, n.crashedAt.Sub(w.t0).Round(time.Millisecond), why, c, keyDeletes, regDeletes)
		}
	}

	// 4. Attempt N+1 happens only after attempt N failed (Retry) or was
	// recorded lost; it overlaps N only if N was lost on an instance only
	// cut off.
	for _, ex := range execs {
		if ex.zombie {
			continue
		}
		j := w.jobs[ex.ri.Job]
		if ex.ri.Attempt <= 1 {
			continue
		}
		if !w.check("attempts follow the rules", j.retries, "%v: an attempt > 1 of a job with neither Retry nor RerunLost (%s)", ex.id, fmtExecs([]execution{ex})) {
			continue
		}
		p := ex.id.prev()
		if !w.check("attempts follow the rules", lostAny[p] || failed[p], "%v ran, but %v was neither recorded lost nor failed", ex.id, p) {
			continue
		}
		for _, pe := range execByID[p] {
			if pe.end.After(ex.start) {
				ok := lostAny[p] && cutOffDuring(pe.node, pe.start, pe.end)
				w.check("attempts follow the rules", ok, "%v started while %v still ran (lost=%v, failed=%v): %s",
					ex.id, p, lostAny[p], failed[p], fmtExecs([]execution{pe, ex}))
			}
		}
	}

	// 5. Forbid never overlaps, in the journal and in the records.
	var fe []execution
	for _, ex := range execs {
		if !ex.zombie && w.jobs[ex.ri.Job].forbid {
			fe = append(fe, ex)
		}
	}
	slices.SortFunc(fe, func(a, b execution) int { return a.start.Compare(b.start) })
	for i := range fe {
		for k := i + 1; k < len(fe) && fe[k].start.Before(fe[i].end); k++ {
			a := fe[i]
			ok := len(lost[who{a.id, a.node.id}]) > 0 && cutOffDuring(a.node, a.start, a.end)
			w.check("Forbid never overlaps", ok, "executions overlap: %s", fmtExecs([]execution{a, fe[k]}))
		}
		w.check("Forbid never overlaps", true, "")
	}
	var fr []logsink.Record
	for _, r := range recs {
		if w.jobs[r.Job].forbid && r.Status != logsink.StatusLost && r.Status != logsink.StatusSkipped {
			fr = append(fr, r)
		}
	}
	slices.SortFunc(fr, func(a, b logsink.Record) int { return a.Started.Compare(b.Started) })
	for i := range fr {
		for k := i + 1; k < len(fr) && fr[k].Started.Before(fr[i].Finished); k++ {
			a := fr[i]
			n := byNode[a.Instance]
			ok := n != nil && len(lost[who{w.identOfRecord(a), a.Instance}]) > 0 && cutOffDuring(n, a.Started, a.Finished)
			w.check("Forbid never overlaps", ok, "records overlap: %s", fmtRecs([]logsink.Record{a, fr[k]}))
		}
	}

	// 6. The paused job never runs; paused-later not after its Pause
	// (3s for every instance to see the flag), nor a manual run asked later.
	for _, ex := range execs {
		switch {
		case w.jobs[ex.ri.Job].paused:
			w.check("a paused job never runs", false, "%s", fmtExecs([]execution{ex}))
		case w.jobs[ex.ri.Job].pausedAt && !pausedAt.IsZero():
			w.check("a paused job never runs", ex.start.Before(pausedAt.Add(3*time.Second)),
				"%s started %v after the Pause", fmtExecs([]execution{ex}), ex.start.Sub(pausedAt).Round(time.Millisecond))
			if ex.ri.Trigger == logsink.TriggerManual {
				w.check("a paused job never runs", !ex.ri.Tick.After(pausedAt), "manual run asked after the Pause: %s", fmtExecs([]execution{ex}))
			}
		}
	}
	for _, r := range all {
		if w.jobs[r.Job].paused {
			w.check("a paused job never runs", false, "record %s", fmtRecs([]logsink.Record{r}))
		}
	}
	w.check("a paused job never runs", true, "")

	// 7. Stop returns within its budget.
	for _, st := range stops {
		budget := st.deadline.Add(randStopGrace + 2*time.Second + randStopSlack)
		w.check("Stop keeps its budget", !st.returned.After(budget), "Stop(%s, %s) with deadline %v returned %v after it (promise: grace %v + 2s): %v",
			st.id, st.why, st.deadline.Sub(st.began).Round(time.Millisecond), st.returned.Sub(st.deadline).Round(time.Millisecond), randStopGrace, st.err)
	}
}

// report logs the figures of the run.
func (w *world) report(plan faultPlan) {
	w.mu.Lock()
	defer w.mu.Unlock()
	execs := w.jr.snapshot()
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, %v of faults, %d instances in all, leaders seen %d, compactions %d\n", w.seed, *randomDuration, len(w.all), len(w.leaders), w.compacts)
	b.WriteString("faults:")
	for k := range numFaultKinds {
		if w.faults[k] > 0 {
			fmt.Fprintf(&b, " %s=%d", k, w.faults[k])
		}
	}
	hits := 0
	for _, n := range w.all {
		hits += n.inj.Hits()
	}
	fmt.Fprintf(&b, " (rule hits %d)\n", hits)
	status := map[logsink.Status]int{}
	trig := map[logsink.Trigger]int{}
	reruns, retries := 0, 0
	lostIDs := map[ident]bool{}
	for _, r := range append(slices.Clone(w.recs), w.dropped...) {
		if r.Status == logsink.StatusLost {
			lostIDs[w.identOfRecord(r)] = true
		}
	}
	for _, r := range w.recs {
		status[r.Status]++
		if r.Status != logsink.StatusLost && r.Status != logsink.StatusSkipped {
			trig[r.Trigger]++
			if r.Attempt > 1 {
				if lostIDs[w.identOfRecord(r).prev()] {
					reruns++
				} else {
					retries++
				}
			}
		}
	}
	zombies, crashed := 0, 0
	for _, ex := range execs {
		if ex.zombie {
			zombies++
		}
		if ex.crashed {
			crashed++
		}
	}
	fmt.Fprintf(&b, "records %d (+%d dropped by crashes): %v; runs by trigger %v; re-runs of lost %d, retries of failed %d\n",
		len(w.recs), len(w.dropped), status, trig, reruns, retries)
	fmt.Fprintf(&b, "executions %d (ended by a crash %d, zombies %d); lost notifications %d\n", len(execs), crashed, zombies, len(w.notes))
	fmt.Fprintf(&b, "triggers %v\n", w.triggers)
	var worst time.Duration = -time.Hour
	for _, st := range w.stops {
		worst = max(worst, st.returned.Sub(st.deadline))
	}
	fmt.Fprintf(&b, "stops %d, latest return after the deadline %v (budget %v)\n", len(w.stops), worst.Round(time.Millisecond), randStopGrace+2*time.Second)
	w.hooks.mu.Lock()
	fmt.Fprintf(&b, "unchecked lost-run ranges reported %d\n", len(w.hooks.unchecked))
	type mc struct {
		m string
		c int
	}
	var msgs []mc
	for m, c := range w.hooks.msgs {
		msgs = append(msgs, mc{m, c})
	}
	w.hooks.mu.Unlock()
	slices.SortFunc(msgs, func(a, b mc) int { return cmp.Compare(b.c, a.c) })
	b.WriteString("top warnings:")
	for i, m := range msgs {
		if i == 8 {
			break
		}
		fmt.Fprintf(&b, " [%d] %q", m.c, m.m)
	}
	b.WriteString("\ninvariant checks:")
	var names []string
	for name := range w.checks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&b, "\n  %-55s %6d checks, %d failed", name, w.checks[name], w.errCount[name])
	}
	w.t.Log(b.String())
}

func fmtRecs(rs []logsink.Record) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("{%s %s s%d #%d %s on %s token %d %s started %s finished %s %q}",
			r.Job, r.Tick.Format("15:04:05.000"), r.Shard, r.Attempt, r.Trigger, r.Instance, r.Token, r.Status,
			r.Started.Format("15:04:05.000"), r.Finished.Format("15:04:05.000"), clipErr(r.Error)))
	}
	return strings.Join(parts, ", ")
}

func fmtExecs(es []execution) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("{%s %s s%d #%d %s on %s token %d ran %s-%s crashed=%v zombie=%v}",
			e.ri.Job, e.ri.Tick.Format("15:04:05.000"), e.ri.Shard, e.ri.Attempt, e.ri.Trigger, e.node.id, e.ri.Token,
			e.start.Format("15:04:05.000"), e.end.Format("15:04:05.000"), e.crashed, e.zombie))
	}
	return strings.Join(parts, ", ")
}

func clipErr(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
