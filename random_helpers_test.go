package distcron

// Helpers of TestRandomizedControlPlane (random_test.go): the cluster of
// fault-injected instances ("world"), the journal of executions kept by the
// job funcs themselves, per-instance sinks and notifiers, and a log hook
// that captures what the library says about history it could not examine.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/internal/etcdfault"
	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// Settings shared by every instance of the randomized test.
const (
	randTTL          = 2 * time.Second // session TTL
	randStopGrace    = time.Second     // WithStopGrace
	randMisfireGrace = 1500 * time.Millisecond
	randStopSlack    = time.Second // scheduling slack on a loaded 2-core box, beyond Stop's promise
	randSlots        = 3           // instances alive at once
)

// randJob is one job of the randomized test, registered on every instance.
type randJob struct {
	name           string
	spec           string // "" never fires on schedule (triggered or chained only)
	opts           []JobOption
	minRun, maxRun time.Duration
	stubborn       bool    // ignores cancellation (returns only when its instance dies)
	failP, panicP  float64 // per attempt
	// lineage is the trigger that starts the job's first attempts (schedule,
	// manual or chain); retries and re-runs keep it.
	lineage  logsink.Trigger
	retries  bool // Retry or RerunLost: attempts > 1 are expected
	forbid   bool
	paused   bool // paused before any instance starts: must never run
	pausedAt bool // paused during the run (faultPause)
}

// randJobs are the jobs of the randomized test.
func randJobs() []randJob {
	ms := time.Millisecond
	return []randJob{
		{name: "plain", spec: "@every 200ms", minRun: 10 * ms, maxRun: 50 * ms},
		{name: "forbid", spec: "@every 200ms", opts: []JobOption{Overlap(OverlapForbid)}, minRun: 250 * ms, maxRun: 600 * ms, forbid: true},
		{name: "replace", spec: "@every 300ms", opts: []JobOption{Overlap(OverlapReplace)}, minRun: 200 * ms, maxRun: 700 * ms},
		{name: "rerun", spec: "@every 500ms", opts: []JobOption{RerunLost()}, minRun: 200 * ms, maxRun: 1500 * ms, retries: true},
		{name: "rerun-long", spec: "@every 2s", opts: []JobOption{RerunLost()}, minRun: 3 * time.Second, maxRun: 6 * time.Second, retries: true},
		{name: "misfire", spec: "@every 500ms", opts: []JobOption{Misfire(MisfireRunOnce, 5*time.Second)}, minRun: 10 * ms, maxRun: 100 * ms},
		{name: "paused", spec: "@every 200ms", opts: []JobOption{Misfire(MisfireRunOnce, 5*time.Second), RerunLost()}, minRun: 10 * ms, maxRun: 50 * ms, paused: true, retries: true},
		{name: "paused-later", spec: "@every 300ms", opts: []JobOption{Misfire(MisfireRunOnce, 5*time.Second), RerunLost()}, minRun: 10 * ms, maxRun: 200 * ms, pausedAt: true, retries: true},
		{name: "sharded", spec: "@every 300ms", opts: []JobOption{Sharded(3)}, minRun: 20 * ms, maxRun: 200 * ms},
		{name: "retry", spec: "@every 400ms", opts: []JobOption{Retry(3, 20*ms, 80*ms)}, minRun: 10 * ms, maxRun: 50 * ms, failP: 0.5, panicP: 0.1, retries: true},
		{name: "parent", spec: "@every 400ms", opts: []JobOption{OnSuccess("child")}, minRun: 10 * ms, maxRun: 50 * ms},
		{name: "child", opts: []JobOption{RerunLost()}, minRun: 20 * ms, maxRun: 300 * ms, lineage: logsink.TriggerChain, retries: true},
		{name: "manual", opts: []JobOption{Retry(2, 50*ms, 50*ms), RerunLost()}, minRun: 50 * ms, maxRun: 500 * ms, failP: 0.3, lineage: logsink.TriggerManual, retries: true},
		{name: "stubborn", spec: "@every 1s", minRun: 1500 * ms, maxRun: 3 * time.Second, stubborn: true},
	}
}

// neverSchedule never fires: jobs that only run when triggered or chained.
type neverSchedule struct{}

func (neverSchedule) Next(time.Time) time.Time { return time.Time{} }
func (neverSchedule) String() string           { return "never" }

var (
	errPlanned = errors.New("random test: planned failure")
	errCrashed = errors.New("random test: the instance crashed")
)

// ident names one run attempt cluster-wide: job, tick, shard, attempt and
// lineage (the trigger of its first attempt; a catch-up takes the tick's
// claim, so it is the tick's scheduled run).
type ident struct {
	job     string
	tick    int64 // UnixNano, UTC
	shard   int
	attempt int
	lineage logsink.Trigger
}

func (id ident) String() string {
	return fmt.Sprintf("%s@%s/s%d/#%d/%s", id.job, keys.Tick(time.Unix(0, id.tick)), id.shard, id.attempt, id.lineage)
}

// prev is the attempt before id.
func (id ident) prev() ident { id.attempt--; return id }

// nodeState is the life of one instance.
type nodeState int32

const (
	nodeLive nodeState = iota
	nodeStopping
	nodeStopped
	nodeCrashed
)

// interval is a span of wall time; end is zero while open.
type interval struct{ from, to time.Time }

func (iv interval) covers(from, to time.Time) bool {
	end := iv.to
	if end.IsZero() {
		end = time.Now().Add(time.Hour)
	}
	return !iv.from.After(to) && !end.Before(from)
}

// node is one scheduler of the world, with its own fault-injected client.
type node struct {
	id    string
	s     *Scheduler
	cli   *clientv3.Client
	inj   *etcdfault.Injector
	dead  chan struct{} // closed when it crashes
	state atomic.Int32
	crash atomic.Bool // its records are dropped from now on (set at the crash)

	// Under world.mu.
	crashedAt  time.Time
	expectLost map[ident]string // runs lost to its crash (see world.crashNode), with the leases seen
	leaseLoss  []interval       // cut-offs, keep-alive failures, crash and Stop: its lease may expire
}

func (n *node) getState() nodeState { return nodeState(n.state.Load()) }

// execution is one call of a job func, as the func saw it.
type execution struct {
	node       *node
	ri         RunInfo
	id         ident
	start, end time.Time
	done       bool
	crashed    bool // ended by its instance's crash
	zombie     bool // started after its instance crashed: a real process would not have
}

// journal holds every execution of every job func.
type journal struct {
	mu        sync.Mutex
	execs     []*execution
	executing int
}

func (jr *journal) begin(w *world, n *node, ri RunInfo) *execution {
	ex := &execution{node: n, ri: ri, id: w.identOf(ri.Job, ri.Tick, ri.Shard, ri.Attempt, ri.Trigger), start: time.Now(), zombie: n.crash.Load()}
	jr.mu.Lock()
	jr.execs = append(jr.execs, ex)
	jr.executing++
	jr.mu.Unlock()
	return ex
}

func (jr *journal) end(ex *execution, crashed bool) {
	jr.mu.Lock()
	ex.end, ex.done, ex.crashed = time.Now(), true, crashed
	jr.executing--
	jr.mu.Unlock()
}

// snapshot returns copies of the executions (open ones end now).
func (jr *journal) snapshot() []execution {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	out := make([]execution, len(jr.execs))
	for i, ex := range jr.execs {
		out[i] = *ex
		if !ex.done {
			out[i].end = time.Now()
		}
	}
	return out
}

// running reports whether an execution of job is in progress on n.
func (jr *journal) running(n *node, job string) bool {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	for _, ex := range jr.execs {
		if !ex.done && ex.node == n && ex.ri.Job == job {
			return true
		}
	}
	return false
}

func (jr *journal) waitIdle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		jr.mu.Lock()
		n := jr.executing
		jr.mu.Unlock()
		if n == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runRand is the randomness of one run attempt: derived from the seed and
// the run's identity, so it does not depend on which instance runs it.
func runRand(seed uint64, ri RunInfo) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s|%d|%d|%d|%s", ri.Job, ri.Tick.UnixNano(), ri.Shard, ri.Attempt, ri.Trigger)
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// nodeSink delivers an instance's records, or drops them once it crashed
// (a crashed process sends nothing); dropped ones are kept apart.
type nodeSink struct {
	w *world
	n *node
}

func (k nodeSink) Write(_ context.Context, batch []logsink.Record) error {
	k.w.mu.Lock()
	if k.n.crash.Load() {
		k.w.dropped = append(k.w.dropped, batch...)
	} else {
		k.w.recs = append(k.w.recs, batch...)
	}
	k.w.mu.Unlock()
	return nil
}

// nodeNotifier keeps the lost-run notifications of live instances.
type nodeNotifier struct {
	w *world
	n *node
}

func (k nodeNotifier) Notify(_ context.Context, rec logsink.Record) error {
	if !k.n.crash.Load() {
		k.w.mu.Lock()
		k.w.notes = append(k.w.notes, rec)
		k.w.mu.Unlock()
	}
	return nil
}

// revRange is a range of revisions the leaders reported they could not
// examine for lost runs (compacted history).
type revRange struct{ from, to int64 }

// logHook is a zapcore.Core in front of the file log: it counts warnings
// and errors by message and keeps the revision ranges lost-run detection
// reports as unchecked.
type logHook struct {
	zapcore.Core
	st *hookState
}

type hookState struct {
	mu        sync.Mutex
	msgs      map[string]int
	unchecked []revRange
}

func (h logHook) With(fs []zapcore.Field) zapcore.Core {
	return logHook{Core: h.Core.With(fs), st: h.st}
}

func (h logHook) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if h.Enabled(e.Level) {
		return ce.AddCore(e, h)
	}
	return ce
}

func (h logHook) Write(e zapcore.Entry, fs []zapcore.Field) error {
	if e.Level >= zapcore.WarnLevel {
		h.st.mu.Lock()
		h.st.msgs[e.Message]++
		if strings.HasPrefix(e.Message, "lost-run detection:") {
			enc := zapcore.NewMapObjectEncoder()
			for _, f := range fs {
				f.AddTo(enc)
			}
			num := func(k string) int64 { v, _ := enc.Fields[k].(int64); return v }
			if from, to := num("from_revision"), num("to_revision"); from != 0 || to != 0 {
				h.st.unchecked = append(h.st.unchecked, revRange{from, to})
			} else if rev := num("revision"); rev != 0 {
				h.st.unchecked = append(h.st.unchecked, revRange{rev, rev})
			}
		}
		h.st.mu.Unlock()
	}
	return h.Core.Write(e, fs)
}

// newRandLogger logs every instance, at Info, to a file kept if the test fails.
func newRandLogger(t *testing.T, seed uint64) (*zap.Logger, *hookState) {
	f, err := os.CreateTemp("", fmt.Sprintf("distcron-random-seed%d-*.log", seed))
	if err != nil {
		t.Fatal(err)
	}
	st := &hookState{msgs: map[string]int{}}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(ec)
	core := logHook{Core: zapcore.NewCore(enc, zapcore.Lock(f), zapcore.DebugLevel), st: st}
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			t.Logf("instance logs (seed %d): %s", seed, f.Name())
		} else {
			os.Remove(f.Name())
		}
	})
	return zap.New(core), st
}

// stopResult is one Stop call and when it returned.
type stopResult struct {
	id       string
	why      string
	began    time.Time
	deadline time.Time
	returned time.Time
	err      error
}

// world is the randomized test's cluster: randSlots live instances on one
// etcd, plus the ones that were stopped or crashed, and everything observed.
type world struct {
	t     *testing.T
	seed  uint64
	tc    *testCluster
	ns    string
	kl    keys.Layout
	obs   *clientv3.Client // observer: no faults
	log   *zap.Logger
	hooks *hookState
	jobs  map[string]randJob
	t0    time.Time
	jr    journal
	bg    sync.WaitGroup
	stopc chan struct{} // closed when the fault schedule is over
	over  atomic.Bool   // the seed's test has ended

	mu         sync.Mutex
	slots      [randSlots]*node
	all        []*node
	nextID     int
	recs       []logsink.Record // delivered to the sinks
	dropped    []logsink.Record // written by crashed instances' pipelines after the crash
	notes      []logsink.Record // lost-run notifications of live instances
	stops      []stopResult
	faults     [numFaultKinds]int
	triggers   map[string]int         // "job outcome" -> count
	pausedAt   time.Time              // when Pause of paused-later returned
	regDeletes map[string][]keyDelete // instance -> its registration deletes
	keyDeletes map[string][]keyDelete // "instance ident" -> deletes of that run's key
	leaders    map[string]bool
	timers     []*time.Timer
	errCount   map[string]int // t.Errorf calls per invariant
	checks     map[string]int
	compacts   int
}

func newWorld(t *testing.T, seed uint64) *world {
	tc := newTestCluster(t)
	w := &world{t: t, seed: seed, tc: tc, ns: tc.ns, kl: keys.New(tc.ns), obs: tc.observer(),
		jobs: map[string]randJob{}, stopc: make(chan struct{}), triggers: map[string]int{},
		regDeletes: map[string][]keyDelete{}, keyDeletes: map[string][]keyDelete{}, leaders: map[string]bool{}, errCount: map[string]int{}, checks: map[string]int{}}
	w.log, w.hooks = newRandLogger(t, seed)
	t.Cleanup(func() { // after a t.Fatal mid-run: leave nothing running
		w.mu.Lock()
		nodes := slices.Clone(w.all)
		w.mu.Unlock()
		for _, n := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = n.s.Stop(ctx)
			cancel()
			n.cli.Close()
		}
	})
	for _, j := range randJobs() {
		if j.lineage == "" {
			j.lineage = logsink.TriggerSchedule
		}
		w.jobs[j.name] = j
	}
	return w
}

// observer returns a plain client of the test's etcd.
func (tc *testCluster) observer() *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: tc.etcd.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.t.Cleanup(func() { cli.Close() })
	return cli
}

// check counts one check of invariant name and reports it when it fails
// (at most 10 messages per invariant). Safe for concurrent use.
func (w *world) check(name string, ok bool, format string, args ...any) bool {
	w.mu.Lock()
	w.checks[name]++
	n := 0
	if !ok {
		w.errCount[name]++
		n = w.errCount[name]
	}
	w.mu.Unlock()
	switch {
	case ok:
	case w.over.Load(): // a straggler after the seed ended: t may not be used any more
		fmt.Fprintf(os.Stderr, "seed %d: invariant %q violated after the end: %s\n", w.seed, name, fmt.Sprintf(format, args...))
	case n <= 10:
		w.t.Errorf("seed %d: invariant %q violated: %s", w.seed, name, fmt.Sprintf(format, args...))
	case n == 11:
		w.t.Errorf("seed %d: invariant %q: more violations not shown", w.seed, name)
	}
	return ok
}

// identOf is the identity of a run attempt of job.
func (w *world) identOf(job string, tick time.Time, shard, attempt int, trig logsink.Trigger) ident {
	lineage := trig
	switch trig {
	case logsink.TriggerCatchup:
		lineage = logsink.TriggerSchedule
	case logsink.TriggerRetry:
		lineage = w.jobs[job].lineage
	}
	return ident{job: job, tick: tick.UTC().UnixNano(), shard: shard, attempt: max(attempt, 1), lineage: lineage}
}

func (w *world) identOfRecord(r logsink.Record) ident {
	return w.identOf(r.Job, r.Tick, r.Shard, r.Attempt, r.Trigger)
}

// newNode makes, registers and starts a fresh instance in slot.
func (w *world) newNode(slot int) *node { return w.startNode(w.buildNode(), slot) }

// buildNode makes a fresh instance with its own fault-injected client and
// registers every job on it.
func (w *world) buildNode() *node {
	w.mu.Lock()
	id := fmt.Sprintf("n%d", w.nextID)
	w.nextID++
	w.mu.Unlock()
	cli, err := clientv3.New(clientv3.Config{Endpoints: w.tc.etcd.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		w.t.Fatalf("client for %s: %v", id, err)
	}
	n := &node{id: id, cli: cli, inj: etcdfault.Wrap(cli), dead: make(chan struct{})}
	s, err := New(cli,
		WithNamespace(w.ns), WithInstanceID(id), WithLogger(w.log.Named(id)),
		WithSinks(nodeSink{w, n}), WithNotifier(nodeNotifier{w, n}, func(r logsink.Record) bool { return r.Status == logsink.StatusLost }),
		WithSessionTTL(randTTL), WithStopGrace(randStopGrace), WithMisfireGrace(randMisfireGrace),
		WithDeliveryOptions(logsink.WithFlushInterval(20*time.Millisecond)))
	if err != nil {
		w.t.Fatalf("New(%s): %v", id, err)
	}
	n.s = s
	for _, j := range randJobs() {
		var err error
		if j.spec == "" {
			err = s.RegisterSchedule(j.name, neverSchedule{}, executor.Func(w.jobFunc(n, w.jobs[j.name])), j.opts...)
		} else {
			err = s.RegisterFunc(j.name, j.spec, w.jobFunc(n, w.jobs[j.name]), j.opts...)
		}
		if err != nil {
			w.t.Fatalf("register %s on %s: %v", j.name, id, err)
		}
	}
	return n
}

// startNode starts n in slot.
func (w *world) startNode(n *node, slot int) *node {
	s, id := n.s, n.id
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		w.t.Fatalf("Start(%s): %v", id, err)
	}
	w.mu.Lock()
	w.slots[slot] = n
	w.all = append(w.all, n)
	w.mu.Unlock()
	w.log.Info("test: instance started", zap.String("instance", id), zap.Int("slot", slot))
	return n
}

// jobFunc is the func of job j on instance n: it journals the execution,
// runs for a duration drawn from the run's randomness, honours
// cancellation unless stubborn, dies with its instance, and fails or
// panics as planned.
func (w *world) jobFunc(n *node, j randJob) func(context.Context) error {
	return func(ctx context.Context) error {
		ri, _ := RunInfoFrom(ctx)
		ex := w.jr.begin(w, n, ri)
		crashed := false
		defer func() { w.jr.end(ex, crashed) }()
		if ex.zombie {
			return errCrashed
		}
		r := runRand(w.seed, ri)
		timer := time.NewTimer(j.minRun + time.Duration(r.Int64N(int64(j.maxRun-j.minRun)+1)))
		defer timer.Stop()
		cancelled := ctx.Done()
		if j.stubborn {
			cancelled = nil
		}
		select {
		case <-timer.C:
		case <-n.dead:
			crashed = true
			return errCrashed
		case <-cancelled:
			return ctx.Err()
		}
		if r.Float64() < j.panicP {
			panic("random test: planned panic")
		}
		if r.Float64() < j.failP {
			return errPlanned
		}
		return nil
	}
}

// live returns the instance in slot if it is live, else another live one
// (nil if none).
func (w *world) live(slot int) *node {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range randSlots {
		if n := w.slots[(slot+i)%randSlots]; n != nil && n.getState() == nodeLive {
			return n
		}
	}
	return nil
}

// liveNodes returns the live instances.
func (w *world) liveNodes() []*node {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*node
	for _, n := range w.slots {
		if n != nil && n.getState() == nodeLive {
			out = append(out, n)
		}
	}
	return out
}

func (w *world) slotOf(n *node) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Index(w.slots[:], n)
}

// addRule adds a fault rule to n for d. The calls it may act on are
// logged (the first few), to tie a violation to its fault.
func (w *world) addRule(n *node, r etcdfault.Rule, d time.Duration) {
	var logged atomic.Int32
	match := r.Match
	r.Match = func(c etcdfault.Call) bool {
		if match != nil && !match(c) {
			return false
		}
		if logged.Add(1) <= 3 && r.Action != etcdfault.Delay {
			w.log.Info("test: fault rule matches a call", zap.String("instance", n.id), zap.Stringer("kind", c.Kind),
				zap.Int("action", int(r.Action)), zap.Strings("keys", c.Keys))
		}
		return true
	}
	remove := n.inj.Add(r)
	w.mu.Lock()
	w.timers = append(w.timers, time.AfterFunc(d, remove))
	w.mu.Unlock()
}

// leaseLoss notes that n's lease may expire from now (to end, or open).
func (w *world) leaseLoss(n *node, from, to time.Time) {
	w.mu.Lock()
	n.leaseLoss = append(n.leaseLoss, interval{from, to})
	w.mu.Unlock()
}

// stopNode stops n with a ctx of deadline d, in the background, records
// how long it took, closes its client and, if replace, starts a fresh
// instance in its slot at once.
func (w *world) stopNode(n *node, d time.Duration, why string, replace bool) {
	crashed := n.getState() == nodeCrashed
	if !crashed && !n.state.CompareAndSwap(int32(nodeLive), int32(nodeStopping)) {
		return
	}
	began := time.Now()
	w.leaseLoss(n, began, time.Time{})
	w.bg.Add(1)
	go func() {
		defer w.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), d)
		deadline, _ := ctx.Deadline()
		err := n.s.Stop(ctx)
		returned := time.Now()
		cancel()
		if !crashed {
			n.state.Store(int32(nodeStopped))
			n.cli.Close() // the caller owns the client, and closes it after Stop
		}
		w.log.Info("test: Stop returned", zap.String("instance", n.id), zap.String("why", why),
			zap.Duration("after_deadline", returned.Sub(deadline)), zap.Error(err))
		w.mu.Lock()
		w.stops = append(w.stops, stopResult{id: n.id, why: why, began: began, deadline: deadline, returned: returned, err: err})
		w.mu.Unlock()
	}()
	if replace {
		if slot := w.slotOf(n); slot >= 0 {
			w.newNode(slot)
		}
	}
}

// crashNode simulates a crash of n: its client is closed (its lease
// expires within the TTL), then its job funcs return at once and its
// records are dropped. A fresh instance takes its slot. The runs lost to
// the crash are the running keys of n left in etcd, plus the executions
// the crash ended or that would have started after it; each must be
// recorded lost exactly once. Once its lease expired, n's Scheduler is
// stopped (etcd unreachable: Stop must still keep its budget).
func (w *world) crashNode(n *node, why string) {
	if !n.state.CompareAndSwap(int32(nodeLive), int32(nodeCrashed)) {
		return
	}
	n.cli.Close()
	at := time.Now()
	w.log.Info("test: crash (client closed)", zap.String("instance", n.id), zap.String("why", why))
	n.crash.Store(true)
	close(n.dead)
	w.mu.Lock()
	n.crashedAt = at
	n.expectLost = map[ident]string{}
	n.leaseLoss = append(n.leaseLoss, interval{at, time.Time{}})
	w.mu.Unlock()
	if slot := w.slotOf(n); slot >= 0 {
		w.newNode(slot)
	}
	w.bg.Add(1)
	go func() {
		defer w.bg.Done()
		time.Sleep(300 * time.Millisecond) // calls in flight at the close have ended
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := w.obs.Txn(ctx).Then(clientv3.OpGet(w.kl.Running(), clientv3.WithPrefix()), clientv3.OpGet(w.kl.Instance(n.id)),
			clientv3.OpGet(w.kl.InflightOf(n.id), clientv3.WithPrefix())).Commit()
		var listed []runInProgress
		if err == nil {
			listed, err = inflightRuns(ctx, w.obs, w.kl, resp.Responses[2].GetResponseRange().GetKvs(), resp.Header.Revision)
		}
		cancel()
		if err != nil {
			w.t.Errorf("seed %d: read running keys after the crash of %s: %v", w.seed, n.id, err)
			return
		}
		reg := "no registration"
		if kvs := resp.Responses[1].GetResponseRange().GetKvs(); len(kvs) == 1 {
			reg = fmt.Sprintf("registration on lease %x", kvs[0].Lease)
		}
		w.mu.Lock()
		for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
			var rv runningValue
			if json.Unmarshal(kv.Value, &rv) == nil && rv.Instance == n.id {
				job := keys.JobOf(w.kl.Running(), string(kv.Key))
				n.expectLost[w.identOf(job, rv.Tick, rv.Shard, rv.Attempt, rv.Trigger)] = fmt.Sprintf("running key left in etcd on lease %x, %s", kv.Lease, reg)
			}
		}
		for _, r := range listed {
			if r.rv.Instance == n.id {
				rv := r.rv
				n.expectLost[w.identOf(r.job(w.kl), rv.Tick, rv.Shard, rv.Attempt, rv.Trigger)] = fmt.Sprintf("listed in an in-flight key left in etcd on lease %x, %s", r.lease, reg)
			}
		}
		w.mu.Unlock()
		select {
		case <-time.After(randTTL + 1500*time.Millisecond):
		case <-w.stopc:
		}
		w.stopNode(n, time.Second, "crashed", false)
	}()
}

// keyDelete is a delete seen by the observer.
type keyDelete struct {
	rev   int64
	lease int64 // the lease the key was on
}

func (d keyDelete) String() string { return fmt.Sprintf("rev %d lease %x", d.rev, d.lease) }

// watchDeletes follows registration and running-key deletes, to learn the
// revision at which each instance's lease expired and which lease each
// running key was on when it went.
func (w *world) watchDeletes(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	rev := int64(0)
	for ctx.Err() == nil {
		opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithPrevKV()}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev+1))
		}
		for resp := range w.obs.Watch(ctx, w.ns, opts...) {
			if resp.CompactRevision != 0 {
				rev = resp.CompactRevision - 1
				break
			}
			for _, ev := range resp.Events {
				key := string(ev.Kv.Key)
				var lease int64
				var rv runningValue
				if ev.PrevKv != nil {
					lease = ev.PrevKv.Lease
					_ = json.Unmarshal(ev.PrevKv.Value, &rv)
				}
				w.mu.Lock()
				switch {
				case strings.HasPrefix(key, w.kl.Instances()):
					id := strings.TrimPrefix(key, w.kl.Instances())
					w.regDeletes[id] = append(w.regDeletes[id], keyDelete{ev.Kv.ModRevision, lease})
				case strings.HasPrefix(key, w.kl.Running()) && rv.Instance != "":
					id := w.identOf(keys.JobOf(w.kl.Running(), key), rv.Tick, rv.Shard, rv.Attempt, rv.Trigger)
					w.keyDeletes[rv.Instance+" "+id.String()] = append(w.keyDeletes[rv.Instance+" "+id.String()], keyDelete{ev.Kv.ModRevision, lease})
				}
				w.mu.Unlock()
				rev = ev.Kv.ModRevision
			}
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// staleKeyAfter is how long after its run a running key of a live
// instance may stay: the owner's delete may wait out a hung request (5s),
// then a retry (0.5s), plus a sampling period and slack.
const staleKeyAfter = 8 * time.Second

// sampleKeys checks the running keys now: every one is on a lease, and
// none outlives its run on a live instance that kept its lease (a run that
// ended staleKeyAfter ago, or a key 15s old whose run never started; the
// longest legitimate wait before a start is Replace's 10s). seen keeps when
// each key (by create revision) was first seen.
func (w *world) sampleKeys(seen map[string]time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := w.obs.Txn(ctx).Then(clientv3.OpGet(w.kl.Running(), clientv3.WithPrefix()), clientv3.OpGet(w.kl.Inflight(), clientv3.WithPrefix())).Commit()
	if err != nil {
		return
	}
	var runs []runInProgress
	for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
		w.check("running key on a lease", kv.Lease != 0, "%s has no lease (value %s)", kv.Key, kv.Value)
		var rv runningValue
		if json.Unmarshal(kv.Value, &rv) != nil {
			w.check("running key readable", false, "%s: %q", kv.Key, kv.Value)
			continue
		}
		runs = append(runs, runInProgress{key: string(kv.Key), rv: rv, token: kv.CreateRevision, lease: kv.Lease})
	}
	batches := resp.Responses[1].GetResponseRange().GetKvs()
	for _, kv := range batches {
		w.check("in-flight key on a lease", kv.Lease != 0, "%s has no lease (value %s)", kv.Key, kv.Value)
		w.check("in-flight key readable", json.Unmarshal(kv.Value, new(inflightValue)) == nil, "%s: %q", kv.Key, kv.Value)
	}
	listed, err := inflightRuns(ctx, w.obs, w.kl, batches, resp.Header.Revision)
	if err != nil {
		return
	}
	runs = append(runs, listed...)
	now := time.Now()
	execs := w.jr.snapshot()
	w.mu.Lock()
	byID := map[string]*node{}
	for _, n := range w.all {
		byID[n.id] = n
	}
	w.mu.Unlock()
	for _, run := range runs {
		k := run.key + "@" + strconv.FormatInt(run.token, 10)
		first, ok := seen[k]
		if !ok {
			seen[k] = now
			first = now
		}
		rv := run.rv
		n := byID[rv.Instance]
		if n == nil || n.getState() != nodeLive {
			continue // its lease goes with its instance
		}
		w.mu.Lock()
		blinked := slices.ContainsFunc(n.leaseLoss, func(iv interval) bool { return iv.covers(now.Add(-6*time.Second), now) })
		w.mu.Unlock()
		if blinked {
			continue
		}
		id := w.identOf(run.job(w.kl), rv.Tick, rv.Shard, rv.Attempt, rv.Trigger)
		var lastEnd time.Time
		inProgress, found := false, false
		for _, ex := range execs {
			if ex.node == n && ex.id == id {
				found = true
				if !ex.done {
					inProgress = true
				}
				lastEnd = later(lastEnd, ex.end)
			}
		}
		switch {
		case inProgress:
		case found:
			w.check("no running key outlives its run", now.Sub(lastEnd) < staleKeyAfter,
				"%s (instance %s, live) still there %v after its run ended", run.key, n.id, now.Sub(lastEnd).Round(time.Millisecond))
		default:
			w.check("no running key outlives its run", now.Sub(first) < 15*time.Second,
				"%s (instance %s, live) seen for %v and its run never started", run.key, n.id, now.Sub(first).Round(time.Millisecond))
		}
	}
}

// sample runs sampleKeys and notes the leaders every 500ms until the
// fault schedule ends.
func (w *world) sample() {
	defer w.bg.Done()
	seen := map[string]time.Time{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-tick.C:
		case <-w.stopc:
			return
		}
		for _, n := range w.liveNodes() {
			if n.s.IsLeader() {
				w.mu.Lock()
				w.leaders[n.id] = true
				w.mu.Unlock()
			}
		}
		if i%2 == 1 {
			w.sampleKeys(seen)
		}
	}
}
