package distcron

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// lifecycle states of a Scheduler.
const (
	stateNew = iota
	stateStarting
	stateStarted
	stateStopped
)

// Scheduler fires registered jobs on their schedules, each tick on exactly
// one instance of the cluster that shares its etcd namespace.
//
// Create it with New, register jobs, then Start it. Register, Unregister and
// the read accessors are safe for concurrent use at any time, including
// after Start.
type Scheduler struct {
	cli  *clientv3.Client
	cfg  config
	log  *zap.Logger
	keys keys.Layout

	mu    sync.Mutex
	jobs  map[string]*job
	queue tickQueue
	state int

	wake       chan struct{} // the queue changed: recompute the timer
	reregister chan struct{} // the job list changed: refresh the registration
	stopLoop   chan struct{} // closed by Stop: claim nothing more
	loopDone   chan struct{}

	// Claims and runs in flight.
	claimSem     chan struct{}
	claimWG      sync.WaitGroup
	runs         runGroup
	runsCtx      context.Context
	stopRuns     context.CancelFunc
	occupied     atomic.Int64  // pending claims + runs in progress (capacity)
	owner        runOwner      // this instance's running keys
	inflightSeq  atomic.Uint64 // names this process's in-flight keys
	kills        killLeases
	departed     departures // instances seen leaving (Departed)
	leadStats    leadTracker
	leaseChecked leaseCheck // late starts' shared confirmation of the session lease
	last         lastRuns   // the newest record per job, for JobInfo.Last
	warned       sync.Map   // log message -> *warnLimit (logLimited)
	counters     counters

	// Background goroutines tied to the scheduler's life.
	bgCtx      context.Context
	stopBG     context.CancelFunc
	bgWG       sync.WaitGroup
	sess       sessionHolder
	prevLease  atomic.Int64 // lease of the session being replaced, during renewal
	leader     atomic.Bool
	control    controlState
	deliveries []*logsink.Delivery
	notifier   notifier
	startedAt  time.Time

	controlRev int64 // revision up to which control/ and defs/ are applied
	defs       definitions
	members    membership
	view       memberSet // the view ticks are assigned under (see reassign); guarded by mu
	progress   progress

	rawClock      Clock         // the configured clock; cfg.clock adds the skew correction to it
	clocks        clockSync     // clock-offset estimation
	clockInterval time.Duration // how often the clock key is published (clockInterval; tests shorten it)
}

// stopping reports whether Stop has begun.
func (s *Scheduler) stopping() bool {
	select {
	case <-s.stopLoop:
		return true
	default:
		return false
	}
}

// New returns a Scheduler that uses cli, which the caller keeps owning and
// must close after Stop. New only validates its options; it starts no
// goroutine and does not touch the network.
func New(cli *clientv3.Client, opts ...Option) (*Scheduler, error) {
	if cli == nil {
		return nil, ErrNilClient
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Scheduler{
		cli:        cli,
		cfg:        cfg,
		log:        cfg.logger.Named("distcron").With(zap.String("instance", cfg.instanceID)),
		keys:       keys.New(cfg.namespace),
		jobs:       make(map[string]*job),
		wake:       make(chan struct{}, 1),
		reregister: make(chan struct{}, 1),
		stopLoop:   make(chan struct{}),
		loopDone:   make(chan struct{}),
		claimSem:   make(chan struct{}, 16),
	}
	s.rawClock, s.clockInterval = cfg.clock, clockInterval
	s.cfg.clock = clusterClock{base: cfg.clock, sync: &s.clocks}
	s.bgCtx, s.stopBG = context.WithCancel(context.Background())
	s.runsCtx, s.stopRuns = context.WithCancel(context.Background())
	for _, sink := range cfg.sinks {
		p, err := logsink.NewDelivery(sink, append([]logsink.DeliveryOption{logsink.WithLogger(s.log)}, cfg.deliveryOpts...)...)
		if err != nil {
			return nil, errtext.Also(err, ErrInvalidOption) // "distcron: invalid delivery option: ..."
		}
		s.deliveries = append(s.deliveries, p)
	}
	s.owner.init(s)
	s.control.init()
	return s, nil
}

// InstanceID returns this instance's id.
func (s *Scheduler) InstanceID() string { return s.cfg.instanceID }

// IsLeader reports whether this instance currently holds leadership. The
// leader does housekeeping only; any instance fires ticks.
func (s *Scheduler) IsLeader() bool { return s.leader.Load() }

// Start connects to etcd and starts firing. It creates the instance's
// session and registration (bounded by ctx), loads pause flags and job
// definitions, joins the election and returns; the work goes on in the
// background until Stop. It fails with ErrUnreachable when etcd does not
// answer before ctx ends or the start timeout passes (WithStartTimeout,
// default 15s); the error names each endpoint and what it did (refused the
// connection, did not answer, accepted it but etcd did not respond).
// It fails with ErrDuplicateInstance when a live instance has the same id,
// ErrStarted when called twice, and ErrStopped (which matches ErrStarted
// too) after Stop: a stopped Scheduler cannot be started again.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	switch s.state {
	case stateNew:
	case stateStopped:
		s.mu.Unlock()
		return errStartAfterStop
	default:
		s.mu.Unlock()
		return ErrStarted
	}
	s.state = stateStarting
	s.mu.Unlock()

	s.startedAt = s.cfg.clock.Now()
	startCtx, cancel := context.WithTimeout(ctx, s.cfg.startTimeout)
	defer cancel()
	sess, err := s.newSession(startCtx, false)
	if err == nil {
		err = s.loadControl(startCtx)
		if err != nil {
			s.closeSession(sess)
		}
	}
	if err != nil {
		s.mu.Lock()
		s.state = stateNew
		s.mu.Unlock()
		if errors.Is(err, ErrUnreachable) {
			err = fmt.Errorf("%w (%s)", err, diagnoseEndpoints(s.cli.Endpoints()))
		}
		return err
	}
	s.sess.set(sess)
	for _, p := range s.deliveries {
		p.Start()
	}
	s.mu.Lock()
	s.state = stateStarted
	lead := s.lead()
	for _, j := range s.jobs {
		s.enqueue(j, s.startedAt, lead)
	}
	n := len(s.jobs)
	s.mu.Unlock()

	s.goBG(s.owner.run)
	s.goBG(s.watchControl)
	s.goBG(s.syncClocks)
	s.goBG(s.publishProgress)
	s.goBG(s.followProgress)
	s.goBG(func() { s.keepSession(sess) })
	go s.loop()
	s.log.Info("started", zap.Int("jobs", n), zap.Int64("lease", int64(sess.Lease())))
	return nil
}

// Stop shuts the scheduler down gracefully, like http.Server.Shutdown:
// it stops claiming ticks and waits for runs in progress until ctx ends.
// If ctx ends first, it cancels the runs (recorded as killed) and waits for
// them at most the stop grace (WithStopGrace), then abandons the rest. It
// then leaves etcd, which takes at most stopLeaveTimeout: deletes the keys
// of finished runs and revokes the lease, so the registration, leadership
// and the keys of abandoned runs vanish at once and peers see the instance
// leave. Last it flushes the sinks, until ctx ends (at least
// stopFlushTimeout, and at most that long when ctx has no deadline).
//
// So Stop returns at most the stop grace plus 2s after ctx ends, in every
// failure mode (etcd unreachable, sinks down, runs that ignore
// cancellation), and within 1s plus the time runs take when ctx has no
// deadline. Nothing it leaves behind can panic the host: a run abandoned
// here may end any time later; its record is then dropped.
//
// When runs had to be cancelled it returns an error that matches both
// ErrRunsCancelled and ctx.Err(); when records could not be delivered, an
// error matching logsink.ErrUndelivered that says how many. Stop before
// Start, or a second Stop, returns ErrNotStarted.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateStarted {
		s.mu.Unlock()
		return ErrNotStarted
	}
	s.state = stateStopped
	s.mu.Unlock()

	close(s.stopLoop)
	<-s.loopDone
	var errs []error
	// Claims in flight (of ticks and of run requests) may still start
	// runs; both waits end with ctx.
	if !waitCtx(ctx, &s.claimWG) || !s.runs.wait(ctx) {
		n := s.occupied.Load()
		errs = append(errs, fmt.Errorf("%w (%d): %w", ErrRunsCancelled, n, ctx.Err()))
		s.log.Warn("stop deadline reached: cancelling runs in progress", zap.Int64("runs", n))
		s.runs.close() // a claim resolving from now on is recorded skipped, not run
		s.stopRuns()
		graceCtx, cancel := context.WithTimeout(context.Background(), s.cfg.stopGrace)
		if !s.runs.wait(graceCtx) {
			s.log.Error("runs ignored cancellation; abandoning them", zap.Duration("grace", s.cfg.stopGrace))
		}
		cancel()
	}
	s.runs.close()
	s.stopRuns()
	s.stopBG() // background work ends; none of it is needed to leave

	if err := s.leave(); err != nil {
		s.log.Warn("leave etcd at stop (peers see the instance leave when its lease expires)", zap.Error(err))
	}

	flushCtx, cancel := stopFlushContext(ctx)
	defer cancel()
	for _, p := range s.deliveries {
		if err := p.Stop(flushCtx); err != nil {
			errs = append(errs, err)
		}
	}
	s.notifier.stop(flushCtx, s.log)
	if !waitCtx(flushCtx, &s.bgWG) {
		s.log.Warn("background work still ending after stop")
	}
	s.log.Info("stopped")
	return errors.Join(errs...)
}

// How long Stop may spend leaving etcd, and flushing sinks past ctx.
const (
	stopLeaveTimeout = time.Second
	stopFlushTimeout = time.Second
)

// stopFlushContext bounds the sink flush at Stop: ctx, but at least
// stopFlushTimeout from now, and exactly that when ctx has no deadline.
func stopFlushContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) > stopFlushTimeout {
		return context.WithDeadline(context.WithoutCancel(ctx), d)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), stopFlushTimeout)
}

// leave deletes the keys of finished runs, marks the leave (see
// Departed), then revokes the lease (the
// registration, the election key and the keys of runs abandoned at Stop go
// with it), all within stopLeaveTimeout. The order lets the leader tell a
// clean exit from a crash (see lost-run detection).
func (s *Scheduler) leave() error {
	ctx, cancel := context.WithTimeout(context.Background(), stopLeaveTimeout)
	defer cancel()
	sess := s.sess.take()
	relCtx, relCancel := context.WithTimeout(ctx, stopLeaveTimeout/2)
	err := s.owner.flush(relCtx)
	relCancel()
	if sess == nil {
		return err
	}
	sess.Orphan()                  // stop its keep-alive; revoke with our own deadline
	s.markLeave(ctx, sess.Lease()) // peers tell this stop from a crash (Departed)
	if _, rerr := s.cli.Revoke(ctx, sess.Lease()); rerr != nil {
		err = errors.Join(err, fmt.Errorf("revoke lease: %w", rerr))
	}
	return err
}

// goBG runs f on a background goroutine that Stop waits for.
func (s *Scheduler) goBG(f func()) {
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		f()
	}()
}

// signal wakes a goroutine waiting on ch without blocking.
func (s *Scheduler) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// waitCtx waits for wg until ctx ends; it reports whether wg finished.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}
