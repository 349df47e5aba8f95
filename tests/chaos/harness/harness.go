// Package harness runs a chaos drill: a 3-member etcd cluster of
// etcdmember processes (one per member), several examples/node processes
// sharing it, and a seeded schedule of faults (SIGKILL and restart with
// clock skew, SIGSTOP past the session TTL, one etcd member SIGKILLed and
// restarted, two SIGKILLed or SIGSTOPped: quorum lost) and drills (the
// leader killed while it records lost runs, etcd compacted around
// crashes, the runner of an OverlapForbid job paused, a node with stubborn
// runs stopped). It leaves in its directory what the checker (package
// check) reads: the run manifest, the fault log, the node incarnations,
// every node's run records, the claim keys and the notifications; and
// every etcd member process's log.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/tests/chaos/check"
)

// Library parameters the checker's rules depend on. They are the library's
// defaults, which examples/node does not change.
const (
	misfireGrace      = 5 * time.Second        // WithMisfireGrace default
	maxClaimLead      = time.Second            // maxAdaptiveLead in lead.go
	recordFlush       = 200 * time.Millisecond // logsink.DefaultFlushInterval
	sessionBackoffMax = 5 * time.Second        // renewSession's backoff cap in session.go
	electionTimeout   = time.Second            // etcd's default; embedetcd keeps it
)

// The drills' jobs and stop budget (node flags; see drillArgs).
const (
	rerunWork    = 1500 * time.Millisecond             // -rerun-job: runs in progress when a node dies
	forbidWork   = 8 * time.Second                     // -forbid-job: far longer than the period and a pause
	stubbornWork = 3 * time.Second                     // -stubborn-job: longer than the stop budget
	stopWait     = time.Second                         // -stop-wait: Stop's context
	stopGrace    = 500 * time.Millisecond              // -stop-grace: WithStopGrace
	afterStop    = stubbornWork + 500*time.Millisecond // -after-stop: the abandoned runs end in a live process
	// defaultStopBudget is the stop budget of nodes without the stop
	// drill: examples/node's -stop-wait default plus the library's
	// default stop grace.
	defaultStopBudget = 20 * time.Second
)

// Config configures a run. Zero fields take the defaults noted.
type Config struct {
	Dir       string        // run directory, created if needed (required)
	Seed      int64         // seed of the fault plan
	Duration  time.Duration // length of the fault phase (default 60s)
	Nodes     int           // node processes (default 3)
	Jobs      int           // Go func jobs per node, job-0.. (default 12)
	Every     time.Duration // period of every job (default 250ms)
	Shell     string        // if set, also a shell job shell-0 running this command
	TTL       time.Duration // session TTL of the nodes (default 2s)
	MaxSkew   time.Duration // restarted nodes get a clock skew in [-MaxSkew, MaxSkew] (default 5s; negative: none)
	Kinds     []string      // fault kinds to inject, drills included (default all of check.Kinds)
	MeanGap   time.Duration // mean time between fault starts (default 5s)
	Warmup    time.Duration // healthy time before the first fault (default 3s)
	Cooldown  time.Duration // healthy time after the last fault (default 5s)
	NodeBin   string        // a built examples/node; empty: build it
	MemberBin string        // a built internal/embedetcd/cmd/etcdmember (one etcd member per process); empty: build it
	Log       io.Writer     // progress lines (default io.Discard)
}

func (c Config) withDefaults() Config {
	if c.Duration <= 0 {
		c.Duration = 60 * time.Second
	}
	if c.Nodes <= 0 {
		c.Nodes = 3
	}
	if c.Jobs <= 0 {
		c.Jobs = 12
	}
	if c.Every <= 0 {
		c.Every = 250 * time.Millisecond
	}
	if c.TTL <= 0 {
		c.TTL = 2 * time.Second
	}
	switch {
	case c.MaxSkew == 0:
		c.MaxSkew = 5 * time.Second
	case c.MaxSkew < 0:
		c.MaxSkew = 0
	}
	if len(c.Kinds) == 0 {
		c.Kinds = slices.Clone(check.Kinds)
	}
	if c.MeanGap <= 0 {
		c.MeanGap = 5 * time.Second
	}
	if c.Warmup <= 0 {
		c.Warmup = 3 * time.Second
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

func (c Config) validate() error {
	for _, k := range c.Kinds {
		if !slices.Contains(check.Kinds, k) {
			return fmt.Errorf("unknown fault kind %q (want %s)", k, strings.Join(check.Kinds, ", "))
		}
	}
	if c.Dir == "" {
		return errors.New("no run directory")
	}
	if c.Nodes < 2 && slices.ContainsFunc(c.Kinds, func(k string) bool { return k != check.KindMember && k != check.KindQuorum }) {
		return errors.New("node faults and drills need at least 2 nodes")
	}
	if c.Nodes < 3 && (c.injects(check.KindLeader) || c.injects(check.KindCompact)) {
		return errors.New("the leader and compaction drills kill two nodes: they need at least 3")
	}
	return nil
}

// outageMin is the shortest span without a committed write that is logged
// as an outage: the prober writes every 50ms, so shorter gaps are noise.
const outageMin = 500 * time.Millisecond

// namespace is the etcd prefix the nodes share.
const namespace = "/distcron/chaos/"

// Run performs a chaos run and writes its files into cfg.Dir. It returns an
// error when the run could not be set up or carried out (etcd would not
// start, the node would not build); trouble during the run (a node that
// exited on its own, a fault that did not take effect) is recorded in the
// manifest's Problems, which fail the check. Every process Run started is
// gone when it returns, and every temporary directory removed.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	h := &harness{cfg: cfg, t0: time.Now(), ctx: ctx, claims: map[string]check.Claim{},
		stopClaims: make(chan struct{}), claimsDone: make(chan struct{}), lostSubs: map[int]chan lostEvent{}}
	defer h.cleanup()

	scratch, err := os.MkdirTemp("", "distcron-chaos-")
	if err != nil {
		return err
	}
	h.scratch = scratch
	if h.bin, err = h.binary(ctx, cfg.NodeBin, "github.com/distcron/distcron/examples/node"); err != nil {
		return err
	}
	memberBin, err := h.binary(ctx, cfg.MemberBin, "github.com/distcron/distcron/internal/embedetcd/cmd/etcdmember")
	if err != nil {
		return err
	}
	h.logf("starting a 3-member etcd cluster, one process per member (fsync on)")
	h.etcd, err = startEtcd(memberBin, filepath.Join(scratch, "etcd"), cfg.Dir, 3, h.memberLost)
	if err != nil {
		return err
	}
	h.cli, err = clientv3.New(clientv3.Config{Endpoints: h.etcd.eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	h.prober = startProber(func(timeout time.Duration) error {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := h.cli.Put(pctx, "/chaos-probe/write", "x")
		return err
	})
	h.watchRegistrations()
	if cfg.injects(check.KindStop) || cfg.injects(check.KindLeader) {
		if h.notifications, err = startNotificationSink(filepath.Join(cfg.Dir, check.NotificationsFile)); err != nil {
			return err
		}
	}
	return h.run(ctx)
}

// injects reports whether the run injects fault kind (or drill) k.
func (c Config) injects(k string) bool { return slices.Contains(c.Kinds, k) }

type harness struct {
	ctx     context.Context
	cfg     Config
	t0      time.Time
	scratch string
	bin     string
	etcd    *etcdCluster
	cli     *clientv3.Client
	etcdMu  sync.Mutex // one etcd fault at a time
	prober  *prober

	mu       sync.Mutex
	nodes    []*node
	faults   []check.Fault
	incs     []*proc // every incarnation, in start order
	problems []string
	skipped  int
	stopping bool // finish has begun: no more restarts

	// The leader deletes claim keys older than the claim retention (1
	// minute by default): collectClaims reads them every claimsEvery and
	// keeps the union.
	claims     map[string]check.Claim
	stopClaims chan struct{}
	claimsDone chan struct{}

	regDone       chan struct{} // closed when watchRegistrations ends
	stopRegs      context.CancelFunc
	notifications *notificationSink // the nodes' webhook, when a drill needs it
	lostSubs      map[int]chan lostEvent
	lostNext      int
}

// claimsEvery is how often the claim keys are read: well within the
// library's claim retention (default 1m, by the leader's clock, which may
// be ahead by the maximum skew).
const claimsEvery = 10 * time.Second

func (h *harness) collectClaims() {
	defer close(h.claimsDone)
	t := time.NewTicker(claimsEvery)
	defer t.Stop()
	for {
		if err := h.snapshotClaims(); err != nil {
			h.logf("read the claim keys: %v (next try in %v)", err, claimsEvery)
		}
		select {
		case <-t.C:
		case <-h.stopClaims:
			return
		}
	}
}

// snapshotClaims adds the claim keys now in etcd to h.claims. Claim keys
// are created once and never changed, only deleted, so a union is exact.
func (h *harness) snapshotClaims() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := h.cli.Get(ctx, namespace+"claims/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		key := strings.TrimPrefix(string(kv.Key), namespace)
		if _, ok := h.claims[key]; !ok {
			h.claims[key] = check.Claim{Key: key, Value: string(kv.Value), CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision}
		}
	}
	return nil
}

// node is one cluster member id; it has one process (incarnation) at a time.
type node struct {
	id   string
	idx  int
	n    int   // incarnations so far
	cur  *proc // the current process
	busy bool  // a fault is in progress on it
}

// proc is one node process.
type proc struct {
	inc      check.Incarnation
	cmd      *exec.Cmd
	ready    chan struct{}
	exited   chan struct{}
	stdout   *os.File
	stderr   *os.File
	expected bool // the harness ended it (kill or stop): exiting is not a problem
}

// lostEvent is a lost record a node process wrote on stdout, as it came.
type lostEvent struct {
	from *proc
	rec  check.Record
	at   time.Time
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.cfg.Log, "%7.2fs "+format+"\n", append([]any{time.Since(h.t0).Seconds()}, args...)...)
}

func (h *harness) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.logf("PROBLEM: %s", msg)
	h.mu.Lock()
	h.problems = append(h.problems, msg)
	h.mu.Unlock()
}

func (h *harness) run(ctx context.Context) error {
	cfg := h.cfg
	man := check.Manifest{
		Seed: cfg.Seed, Namespace: namespace, Every: check.Duration(cfg.Every), TTL: check.Duration(cfg.TTL),
		MisfireGrace: check.Duration(misfireGrace), MaxClaimLead: check.Duration(maxClaimLead),
		RecordFlush: check.Duration(recordFlush), SessionBackoffMax: check.Duration(sessionBackoffMax),
		EtcdElectionTimeout: check.Duration(electionTimeout),
		NodeArgs:            h.commonArgs(), Started: time.Now().UTC(),
		Kinds: cfg.Kinds, StopBudget: check.Duration(defaultStopBudget),
	}
	for i := 0; i < cfg.Jobs; i++ {
		man.Jobs = append(man.Jobs, fmt.Sprintf("job-%d", i))
	}
	if cfg.Shell != "" {
		man.Jobs = append(man.Jobs, "shell-0")
	}
	if cfg.injects(check.KindLeader) || cfg.injects(check.KindCompact) {
		man.DrillJobs, man.RerunJobs = append(man.DrillJobs, "rerun-0"), []string{"rerun-0"}
	}
	if cfg.injects(check.KindForbid) {
		man.DrillJobs, man.ForbidJobs = append(man.DrillJobs, "forbid-0"), []string{"forbid-0"}
	}
	if cfg.injects(check.KindStop) {
		man.DrillJobs = append(man.DrillJobs, "stubborn-0")
		man.StopBudget, man.AfterStop = check.Duration(stopWait+stopGrace), check.Duration(afterStop)
	}
	for i := 0; i < cfg.Nodes; i++ {
		n := &node{id: fmt.Sprintf("n%d", i), idx: i}
		h.nodes = append(h.nodes, n)
		man.Nodes = append(man.Nodes, n.id)
	}
	h.logf("starting %d nodes: %d jobs @every %v, TTL %v (node args %q)", cfg.Nodes, len(man.Jobs), cfg.Every, cfg.TTL, man.NodeArgs)
	for _, n := range h.nodes {
		if err := h.start(n, 0); err != nil {
			return err
		}
	}
	for _, n := range h.nodes {
		if err := h.waitReady(ctx, n.cur, 60*time.Second); err != nil {
			return err
		}
	}
	man.From = time.Now().Add(time.Second).UTC()
	go h.collectClaims()

	plan := Plan(cfg)
	h.logf("warmup %v, then %d faults over %v (seed %d)", cfg.Warmup, len(plan), cfg.Duration, cfg.Seed)
	if !sleepCtx(ctx, cfg.Warmup) {
		return h.finish(ctx, man)
	}
	phase := time.Now()
	var wg sync.WaitGroup
	for _, st := range plan {
		if !sleepCtx(ctx, time.Until(phase.Add(st.At))) {
			break
		}
		h.logf("fault: %s", st)
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.inject(ctx, st)
		}()
	}
	wg.Wait()
	if ctx.Err() == nil {
		// The fault phase lasts at least Duration even if the plan ended early.
		sleepCtx(ctx, time.Until(phase.Add(cfg.Duration)))
		h.logf("faults done; cooldown %v", cfg.Cooldown)
		sleepCtx(ctx, cfg.Cooldown)
	}
	return h.finish(ctx, man)
}

// finish stops the nodes gracefully, dumps the claims and writes the files.
func (h *harness) finish(ctx context.Context, man check.Manifest) error {
	man.To = time.Now().UTC()
	if ctx.Err() != nil {
		h.problem("run interrupted: %v", ctx.Err())
	}
	h.logf("stopping the nodes (SIGTERM)")
	h.mu.Lock()
	h.stopping = true
	var live []*proc
	for _, n := range h.nodes {
		if n.cur != nil {
			live = append(live, n.cur)
		}
	}
	h.mu.Unlock()
	for _, p := range live {
		h.mu.Lock()
		p.expected = true
		p.inc.Ended, p.inc.End = time.Now().UTC(), "stopped"
		h.mu.Unlock()
		p.cmd.Process.Signal(syscall.SIGCONT)
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	// How each one stopped (in time, cleanly, without a panic) is the
	// checker's stop rule; one that does not exit at all is a problem.
	for _, p := range live {
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			h.problem("node %s did not stop within 30s of SIGTERM; killed", p.inc.Label())
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
	man.Ended = time.Now().UTC()
	h.stopRegs()
	<-h.regDone
	if h.notifications != nil {
		if err := h.notifications.close(); err != nil {
			h.problem("notifications: %v", err)
		}
	}

	// The claim keys tell who claimed each tick.
	close(h.stopClaims)
	<-h.claimsDone
	if err := h.snapshotClaims(); err != nil {
		h.problem("read the claim keys: %v", err)
	}
	claims := make([]check.Claim, 0, len(h.claims))
	for _, c := range h.claims {
		claims = append(claims, c)
	}
	slices.SortFunc(claims, func(a, b check.Claim) int { return strings.Compare(a.Key, b.Key) })
	if err := check.WriteJSONLines(filepath.Join(h.cfg.Dir, check.ClaimsFile), claims); err != nil {
		return err
	}

	// Outages: every span in the checked window when etcd committed no
	// write for over 500ms, other than the quorum losses already logged.
	h.prober.stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.prober.gaps(man.From.Add(-10*time.Second), man.To, outageMin) {
		dup := slices.ContainsFunc(h.faults, func(f check.Fault) bool {
			return f.Kind == check.KindQuorum && f.Start.Equal(g[0].UTC()) && f.End.Equal(g[1].UTC())
		})
		if !dup {
			h.faults = append(h.faults, check.Fault{Kind: check.KindOutage, Target: "etcd", Start: g[0].UTC(), End: g[1].UTC(),
				Verified: true, Note: "measured: no write committed"})
		}
	}
	man.Problems = h.problems
	var incs []check.Incarnation
	for _, p := range h.incs {
		incs = append(incs, p.inc)
	}
	if err := check.WriteJSONLines(filepath.Join(h.cfg.Dir, check.FaultsFile), h.faults); err != nil {
		return err
	}
	if err := check.WriteJSONLines(filepath.Join(h.cfg.Dir, check.NodesFile), incs); err != nil {
		return err
	}
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, f := range h.faults {
		counts[f.Kind]++
	}
	h.logf("done: faults %v, %d planned faults skipped, %d problems", counts, h.skipped, len(h.problems))
	return os.WriteFile(filepath.Join(h.cfg.Dir, check.ManifestFile), append(b, '\n'), 0o644)
}

// cleanup ends every process still running, stops etcd and removes the
// scratch directory. It is safe after a failed setup.
func (h *harness) cleanup() {
	h.mu.Lock()
	procs := slices.Clone(h.incs)
	for _, p := range procs {
		p.expected = true
	}
	h.mu.Unlock()
	for _, p := range procs {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.exited
		}
	}
	if h.prober != nil {
		select {
		case <-h.prober.done:
		default:
			h.prober.stop()
		}
	}
	if h.stopRegs != nil {
		h.stopRegs()
		<-h.regDone
	}
	if h.notifications != nil {
		h.notifications.close()
	}
	if h.cli != nil {
		h.cli.Close()
	}
	if h.etcd != nil {
		h.etcd.close()
	}
	if h.scratch != "" {
		os.RemoveAll(h.scratch)
	}
}

func (h *harness) commonArgs() []string {
	args := []string{"-etcd", strings.Join(h.etcd.eps, ","), "-ns", namespace,
		"-jobs", fmt.Sprint(h.cfg.Jobs), "-every", h.cfg.Every.String(), "-ttl", h.cfg.TTL.String(), "-log-level", "info"}
	if h.cfg.Shell != "" {
		args = append(args, "-shell", h.cfg.Shell)
	}
	return append(args, h.drillArgs()...)
}

// drillArgs are the node flags the run's drills need: the rerun-0 job
// (RerunLost) for the leader and compaction drills, forbid-0
// (OverlapForbid) for the Forbid drill, and for the stop drill the
// stubborn-0 job with a short stop budget and a notifier (a run that ends
// after Stop must not crash the host). The leader drill's notifier shows
// lost runs notified once.
func (h *harness) drillArgs() []string {
	var args []string
	c := h.cfg
	if c.injects(check.KindLeader) || c.injects(check.KindCompact) {
		args = append(args, "-rerun-job", rerunWork.String())
	}
	if c.injects(check.KindForbid) {
		args = append(args, "-forbid-job", forbidWork.String())
	}
	if c.injects(check.KindStop) {
		args = append(args, "-stubborn-job", stubbornWork.String(), "-stop-wait", stopWait.String(),
			"-stop-grace", stopGrace.String(), "-after-stop", afterStop.String())
	}
	if h.notifications != nil {
		args = append(args, "-notify-webhook", h.notifications.url)
	}
	return args
}

// start starts a new incarnation of n with the given clock skew.
func (h *harness) start(n *node, skew time.Duration) error {
	h.mu.Lock()
	n.n++
	num := n.n
	h.mu.Unlock()
	base := fmt.Sprintf("%s.%d", n.id, num)
	p := &proc{
		inc: check.Incarnation{Node: n.id, N: num, Skew: check.Duration(skew),
			Records: base + ".records.jsonl", Stderr: base + ".stderr.log"},
		ready: make(chan struct{}), exited: make(chan struct{}),
	}
	var err error
	if p.stdout, err = os.Create(filepath.Join(h.cfg.Dir, p.inc.Records)); err != nil {
		return err
	}
	if p.stderr, err = os.Create(filepath.Join(h.cfg.Dir, p.inc.Stderr)); err != nil {
		p.stdout.Close()
		return err
	}
	p.inc.StartRev = h.currentRev()
	args := append(h.commonArgs(), "-id", n.id, "-skew", skew.String())
	p.cmd = child(h.bin, args...)
	p.cmd.Stdout = &lineWriter{w: p.stdout, line: func(l []byte) {
		if bytes.Contains(l, []byte(`"status":"lost"`)) {
			h.publishLost(p, l)
		}
	}}
	var once sync.Once
	p.cmd.Stderr = &lineWriter{w: p.stderr, line: func(l []byte) {
		switch {
		case bytes.Contains(l, []byte(`"node running"`)):
			once.Do(func() {
				h.mu.Lock()
				p.inc.Ready = time.Now().UTC()
				h.mu.Unlock()
				close(p.ready)
			})
		case bytes.Contains(l, []byte(`"scheduler stopped"`)):
			h.mu.Lock()
			p.inc.StopReturned = time.Now().UTC()
			h.mu.Unlock()
		case bytes.HasPrefix(l, []byte("panic: ")) || bytes.HasPrefix(l, []byte("fatal error: ")):
			h.mu.Lock()
			if p.inc.Panic == "" {
				p.inc.Panic = string(l)
			}
			h.mu.Unlock()
		}
	}}
	p.inc.Started = time.Now().UTC()
	if err := p.cmd.Start(); err != nil {
		p.stdout.Close()
		p.stderr.Close()
		return fmt.Errorf("start node %s: %w", n.id, err)
	}
	p.inc.PID = p.cmd.Process.Pid
	h.mu.Lock()
	n.cur = p
	h.incs = append(h.incs, p)
	h.mu.Unlock()
	go h.reap(n, p)
	return nil
}

// currentRev reads etcd's current revision (a linearizable read), retrying
// for up to 30s while quorum is lost; 0 if it cannot.
func (h *harness) currentRev() int64 {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := h.cli.Get(ctx, "/chaos-probe/revision")
		cancel()
		if err == nil {
			return resp.Header.Revision
		}
	}
	return 0
}

// reap waits for a process to exit. A node that exits without the harness
// asking, after it was ready, is a problem; it is started again (as a
// supervisor would) so the run goes on. An exit before ready is the
// starter's business (see startReady).
func (h *harness) reap(n *node, p *proc) {
	err := p.cmd.Wait()
	p.stdout.Close()
	p.stderr.Close()
	h.mu.Lock()
	p.inc.Exited, p.inc.Exit = time.Now().UTC(), p.cmd.ProcessState.String()
	expected, ready := p.expected, !p.inc.Ready.IsZero()
	if !expected {
		p.inc.Ended, p.inc.End = time.Now().UTC(), fmt.Sprintf("crashed: %v", err)
	}
	h.mu.Unlock()
	close(p.exited)
	if expected || !ready {
		return
	}
	h.problem("node %s exited on its own: %v (see %s)", p.inc.Label(), err, p.inc.Stderr)
	h.mu.Lock()
	restart := n.cur == p && !h.stopping
	h.mu.Unlock()
	if restart {
		if err := h.startReady(h.ctx, n, p.inc.Skew.D()); err != nil {
			h.problem("restart node %s: %v", n.id, err)
		}
	}
}

// startReady starts a new incarnation of n and waits until it is ready.
// While the previous process's lease is alive the library refuses the
// instance id (ErrDuplicateInstance) and the process exits: like a
// supervisor, startReady tries again every 500ms, for up to 30s, and
// forgets the refused attempts.
func (h *harness) startReady(ctx context.Context, n *node, skew time.Duration) error {
	deadline := time.Now().Add(30 * time.Second)
	for refused := 0; ; refused++ {
		if err := h.start(n, skew); err != nil {
			return err
		}
		h.mu.Lock()
		p := n.cur
		h.mu.Unlock()
		err := h.waitReady(ctx, p, 60*time.Second)
		if err == nil {
			if refused > 0 {
				h.logf("%s: id refused %d times while the killed process's lease lived; started", p.inc.Label(), refused)
			}
			return nil
		}
		select {
		case <-p.exited:
		default:
			return err
		}
		stderr, _ := os.ReadFile(filepath.Join(h.cfg.Dir, p.inc.Stderr))
		if !bytes.Contains(stderr, []byte("instance id in use")) || time.Now().After(deadline) || !sleepCtx(ctx, 500*time.Millisecond) {
			return err
		}
		h.forget(n, p)
	}
}

// forget drops an incarnation that never became ready, and its files.
func (h *harness) forget(n *node, p *proc) {
	h.mu.Lock()
	h.incs = slices.DeleteFunc(h.incs, func(q *proc) bool { return q == p })
	n.n--
	h.mu.Unlock()
	os.Remove(filepath.Join(h.cfg.Dir, p.inc.Records))
	os.Remove(filepath.Join(h.cfg.Dir, p.inc.Stderr))
}

func (h *harness) waitReady(ctx context.Context, p *proc, timeout time.Duration) error {
	select {
	case <-p.ready:
		return nil
	case <-p.exited:
		return fmt.Errorf("node %s exited before it was ready (see %s)", p.inc.Label(), filepath.Join(h.cfg.Dir, p.inc.Stderr))
	case <-time.After(timeout):
		return fmt.Errorf("node %s not ready after %v (see %s)", p.inc.Label(), timeout, filepath.Join(h.cfg.Dir, p.inc.Stderr))
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lineWriter copies to w and calls line for every complete line.
type lineWriter struct {
	w    io.Writer
	buf  []byte
	line func([]byte)
}

func (l *lineWriter) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.line(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	return l.w.Write(b)
}

// binary returns bin if set, else builds pkg into the scratch directory.
func (h *harness) binary(ctx context.Context, bin, pkg string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	h.logf("building %s", pkg)
	return build(ctx, h.scratch, pkg)
}

// build builds the main package pkg of the module ("github.com/distcron/distcron/examples/node")
// into dir and returns the binary's path.
func build(ctx context.Context, dir, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the distcron module: run from its directory, or pass built binaries")
	}
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = filepath.Dir(gomod)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, stderr.Bytes())
	}
	return bin, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
