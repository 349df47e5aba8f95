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
	claimSem  chan struct{}
	claimWG   sync.WaitGroup
	runsWG    sync.WaitGroup
	runsCtx   context.Context
	stopRuns  context.CancelFunc
	inflight  atomic.Int64 // pending claims + runs in progress (capacity)
	runsLocal runningSet
	leadStats leadTracker
	lastWarn  atomic.Int64
	counters  counters

	// Background goroutines tied to the scheduler's life.
	bgCtx     context.Context
	stopBG    context.CancelFunc
	bgWG      sync.WaitGroup
	sess      sessionHolder
	prevLease atomic.Int64 // lease of the session being replaced, during renewal
	leader    atomic.Bool
	release   releaser
	control   controlState
	pipelines []*logsink.Pipeline
	notifier  notifier
	startedAt time.Time

	controlRev int64 // revision up to which control/ and defs/ are applied
	defs       definitions
	members    membership
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
	s.bgCtx, s.stopBG = context.WithCancel(context.Background())
	s.runsCtx, s.stopRuns = context.WithCancel(context.Background())
	for _, sink := range cfg.sinks {
		p, err := logsink.NewPipeline(sink, append([]logsink.PipelineOption{logsink.WithLogger(s.log)}, cfg.pipelineOpts...)...)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
		s.pipelines = append(s.pipelines, p)
	}
	s.release.init(s)
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
// answer before ctx ends, ErrDuplicateInstance when a live instance has the
// same id, and ErrStarted when called twice or after Stop.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateNew {
		s.mu.Unlock()
		return ErrStarted
	}
	s.state = stateStarting
	s.mu.Unlock()

	s.startedAt = s.cfg.clock.Now()
	sess, err := s.newSession(ctx)
	if err == nil {
		err = s.loadControl(ctx)
		if err != nil {
			s.closeSession(sess)
		}
	}
	if err != nil {
		s.mu.Lock()
		s.state = stateNew
		s.mu.Unlock()
		return err
	}
	s.sess.set(sess)
	for _, p := range s.pipelines {
		p.Start()
	}
	s.mu.Lock()
	s.state = stateStarted
	for _, j := range s.jobs {
		s.enqueue(j, s.startedAt)
	}
	n := len(s.jobs)
	s.mu.Unlock()

	s.goBG(s.release.run)
	s.goBG(s.watchControl)
	s.goBG(func() { s.keepSession(sess) })
	go s.loop()
	s.log.Info("started", zap.Int("jobs", n), zap.Int64("lease", int64(sess.Lease())))
	return nil
}

// Stop shuts the scheduler down gracefully, like http.Server.Shutdown: it
// stops claiming ticks, waits for runs in progress until ctx ends, then
// cancels the rest and waits for them (at most the stop grace), flushes the
// sinks, deletes the instance's registration and running keys, resigns
// leadership and revokes the lease (so peers see the instance leave at
// once). When runs had to be cancelled it returns an error that matches
// both ErrRunsCancelled and ctx.Err(); when records could not be
// delivered, a sink error. Stop before Start, or a second
// Stop, returns ErrNotStarted.
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
	// Claims in flight (of ticks and of run requests) may still start runs,
	// bounded by their own timeouts; no new one starts after this.
	s.claimWG.Wait()

	var errs []error
	if !waitCtx(ctx, &s.runsWG) {
		n := s.inflight.Load()
		errs = append(errs, fmt.Errorf("%w (%d): %w", ErrRunsCancelled, n, ctx.Err()))
		s.log.Warn("stop deadline reached: cancelling runs in progress", zap.Int64("runs", n))
		s.stopRuns()
		graceCtx, cancel := context.WithTimeout(context.Background(), s.cfg.stopGrace)
		if !waitCtx(graceCtx, &s.runsWG) {
			s.log.Error("runs ignored cancellation; abandoning them", zap.Duration("grace", s.cfg.stopGrace))
		}
		cancel()
	}
	s.stopRuns()

	// Cleanup runs with the caller's ctx, or a fresh bounded one when it
	// has already ended: the final record write must not be skipped.
	cleanCtx, cancel := ctx, context.CancelFunc(func() {})
	if ctx.Err() != nil {
		cleanCtx, cancel = context.WithTimeout(context.Background(), s.cfg.stopGrace)
	}
	defer cancel()
	for _, p := range s.pipelines {
		if err := p.Stop(cleanCtx); err != nil {
			errs = append(errs, err)
		}
	}
	s.stopNotifier(cleanCtx)
	// Leave cleanly: finished runs' keys first, then the registration, so
	// the leader can tell a clean exit from a crash (see lost-run detection).
	if err := s.release.flush(cleanCtx); err != nil {
		s.log.Warn("release running keys at stop", zap.Error(err))
	}
	if sess := s.sess.get(); sess != nil {
		if _, err := s.cli.Delete(cleanCtx, s.keys.Instance(s.cfg.instanceID)); err != nil {
			s.log.Warn("deregister", zap.Error(err))
		}
	}

	s.stopBG() // ends keepSession: resigns and revokes the lease
	if !waitCtx(cleanCtx, &s.bgWG) {
		s.log.Error("background work did not end in time (etcd unreachable?)")
		errs = append(errs, fmt.Errorf("distcron: stop: %w", context.DeadlineExceeded))
	}
	s.log.Info("stopped")
	return errors.Join(errs...)
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
