package logsink

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	// dropLogInterval is the least time between two log entries about
	// dropped records.
	dropLogInterval = time.Second
	// keepRing is the buffer allocation, in records, that an idle delivery
	// keeps; a larger one (left by a backlog, typically a sink outage) is
	// freed after idleRelease without records.
	keepRing    = 4096
	idleRelease = 5 * time.Second
)

// Delivery delivers records to one Sink asynchronously: [Delivery.Send]
// buffers, one background goroutine batches and writes, retrying failed
// batches with backoff. See the package documentation for the guarantees.
//
// Records reach the sink in the order they were sent. When the buffer is
// full (by records or by bytes), Send drops the new record (the newest),
// never one already buffered: the batch being retried stays intact and what
// is delivered is a gap-free prefix of what was sent during the outage.
// Send clips records to what every sink stores ([Record.Clip]), and a
// record the sink keeps refusing while it accepts others is dropped rather
// than retried forever (see "Poison records" in the package documentation).
//
// All methods are safe for concurrent use. The zero value is not usable;
// call [NewDelivery].
type Delivery struct {
	sink Sink
	cfg  deliveryConfig
	log  *zap.Logger

	mu          sync.Mutex
	q           ring
	inflight    int  // records taken from q for the current Write
	bytes       int  // Size of the records in q and in flight
	closed      bool // Stop was called; Send drops
	written     uint64
	dropped     uint64
	failures    uint64
	clipped     uint64
	rejected    uint64
	unreported  uint64    // drops not yet logged
	lastDropLog time.Time // when drops were last logged
	undelivered int       // records abandoned when Stop's ctx ended

	batch       []Record      // owned by the worker goroutine
	idleRelease time.Duration // idleRelease, shortened by tests

	notify   chan struct{} // capacity 1: the buffer became non-empty or reached a batch
	stopping chan struct{} // closed by the first Stop
	done     chan struct{} // closed when the worker exits

	// ctx is the worker's context: the parent of every Write context,
	// cancelled (with Stop's ctx error as cause) when Stop gives up.
	ctx    context.Context
	cancel context.CancelCauseFunc

	startOnce sync.Once
	stopOnce  sync.Once
}

// DeliveryStats is a snapshot of a Delivery's counters. Every record passed
// to Send is counted in exactly one of Buffered, Written and Dropped, and a
// snapshot is consistent: their sum is the number of Send calls so far.
type DeliveryStats struct {
	// Buffered is the number of records accepted but not yet written,
	// including the batch being written or retried.
	Buffered int64
	// Written is the number of records in successful Write calls.
	Written uint64
	// Dropped is the number of records lost: sent while the buffer was
	// full or after Stop, refused by the sink (Rejected), or still
	// undelivered when Stop gave up.
	Dropped uint64
	// Failures is the number of Write calls that returned an error (or
	// panicked, or timed out).
	Failures uint64
	// BufferedBytes is the [Record.Size] of the Buffered records, the
	// amount [WithBufferBytes] bounds.
	BufferedBytes int64
	// Clipped is the number of records Send clipped ([Record.Clip]),
	// whatever became of them.
	Clipped uint64
	// Rejected is the number of records dropped because the sink refused
	// them (see "Poison records" in the package documentation); they are
	// also counted in Dropped.
	Rejected uint64
}

// NewDelivery returns a stopped delivery that will write to s. It only
// validates: it starts no goroutine (see [Delivery.Start]). It returns an
// error wrapping [ErrInvalidOption] if s is nil or an option is out of range.
func NewDelivery(s Sink, opts ...DeliveryOption) (*Delivery, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil sink", ErrInvalidOption)
	}
	cfg := defaultDeliveryConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Delivery{
		sink:        s,
		cfg:         cfg,
		log:         cfg.logger.Named("logsink").With(zap.String("sink", fmt.Sprintf("%T", s))),
		notify:      make(chan struct{}, 1),
		stopping:    make(chan struct{}),
		done:        make(chan struct{}),
		ctx:         ctx,
		cancel:      cancel,
		idleRelease: idleRelease,
	}, nil
}

// Start starts the delivery's one background goroutine and returns at once.
// Records sent before Start are buffered and written once it runs. Calls
// after the first, and calls after Stop, do nothing.
func (p *Delivery) Start() {
	p.startOnce.Do(func() {
		p.batch = make([]Record, 0, p.cfg.batchSize)
		go p.run()
	})
}

// Send hands r to the delivery. It never blocks on the sink: it clips r
// ([Record.Clip]: a no-op for a record within the limits), takes a mutex,
// copies r into the buffer and returns. If the buffer is full (it holds
// the buffer size in records, or r would take it beyond the buffer bytes),
// or Stop has been called, r is dropped and counted; drops are logged at
// most once per second, from the goroutine that happens to report them.
func (p *Delivery) Send(r Record) {
	size, clipped := clipRecord(&r)
	p.mu.Lock()
	if clipped {
		p.clipped++
	}
	if p.closed || p.q.n+p.inflight >= p.cfg.bufferSize || p.bytes+size > p.cfg.bufferBytes {
		p.dropped++
		p.unreported++
		n, total := p.takeDropReportLocked(time.Now(), false)
		closed := p.closed
		p.mu.Unlock()
		if n > 0 {
			p.logDrops(n, total, closed)
		}
		return
	}
	p.q.push(&r, p.cfg.bufferSize)
	p.bytes += size
	n := p.q.n
	p.mu.Unlock()
	if n == 1 || n == p.cfg.batchSize {
		select {
		case p.notify <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Stop stops accepting records (later Sends are dropped) and blocks until
// every buffered record has been written, retrying failed writes with
// backoff, or until ctx is done. A delivery that was never started is
// started to drain.
//
// Stop returns nil if everything was delivered. If ctx ends first, Stop
// cancels the Write in progress, waits for it to return (sinks must honour
// their context), counts what is left as dropped and returns an error
// wrapping both [ErrUndelivered] and ctx.Err() that says how many records
// were lost. Stop may be called more than once and concurrently: every call
// waits for the same drain, bounded by its own ctx, and reports the same
// outcome.
func (p *Delivery) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.stopping)
	})
	p.Start()
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cancel(ctx.Err())
		<-p.done
	}
	p.cancel(nil) // release the context; a no-op if cancelled above
	p.mu.Lock()
	n := p.undelivered
	p.mu.Unlock()
	if n > 0 {
		return fmt.Errorf("%w: %d records lost at stop: %w", ErrUndelivered, n, context.Cause(p.ctx))
	}
	return nil
}

// Stats returns a consistent snapshot of the delivery's counters. It does
// not block on the sink.
func (p *Delivery) Stats() DeliveryStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return DeliveryStats{
		Buffered:      int64(p.q.n + p.inflight),
		Written:       p.written,
		Dropped:       p.dropped,
		Failures:      p.failures,
		BufferedBytes: int64(p.bytes),
		Clipped:       p.clipped,
		Rejected:      p.rejected,
	}
}

// run is the worker: wait for records, wait for a full batch or the flush
// interval, write, repeat; exit once stopped and drained, or aborted.
func (p *Delivery) run() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		p.mu.Lock()
		n, closed := p.q.n, p.closed
		p.mu.Unlock()
		switch {
		case n == 0 && closed:
			p.reportDrops(true)
			return
		case n == 0:
			p.idle(timer)
			continue
		case n < p.cfg.batchSize && !closed:
			p.waitForBatch(timer)
		}
		if !p.flush(timer) {
			p.abandon()
			return
		}
	}
}

// idle waits for a record or Stop. A buffer that grew large is freed if
// no record comes for a while.
func (p *Delivery) idle(timer *time.Timer) {
	p.mu.Lock()
	large := len(p.q.buf) > keepRing
	p.mu.Unlock()
	var release <-chan time.Time
	if large {
		timer.Reset(p.idleRelease)
		defer timer.Stop()
		release = timer.C
	}
	select {
	case <-p.notify:
	case <-p.stopping:
	case <-release:
		p.mu.Lock()
		p.q.release()
		p.mu.Unlock()
	}
}

// waitForBatch returns when the buffer holds a full batch, the flush
// interval has passed, or Stop was called.
func (p *Delivery) waitForBatch(timer *time.Timer) {
	timer.Reset(p.cfg.flushInterval)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return
		case <-p.stopping:
			return
		case <-p.notify:
			p.mu.Lock()
			n := p.q.n
			p.mu.Unlock()
			if n >= p.cfg.batchSize {
				return
			}
		}
	}
}

// abandon counts everything still held as dropped, after Stop gave up.
func (p *Delivery) abandon() {
	p.mu.Lock()
	n := p.q.n + p.inflight
	p.q.reset()
	p.inflight = 0
	p.bytes = 0
	p.dropped += uint64(n)
	p.undelivered = n
	p.mu.Unlock()
	clear(p.batch)
	p.log.Error("delivery stopped with undelivered records",
		zap.Int("undelivered", n),
		zap.NamedError("cause", context.Cause(p.ctx)))
	p.reportDrops(true)
}

// takeDropReportLocked returns the drops to log now (n == 0: nothing),
// rate-limited unless force. p.mu must be held.
func (p *Delivery) takeDropReportLocked(now time.Time, force bool) (n, total uint64) {
	if p.unreported == 0 || (!force && now.Sub(p.lastDropLog) < dropLogInterval) {
		return 0, 0
	}
	n, total = p.unreported, p.dropped
	p.unreported = 0
	p.lastDropLog = now
	return n, total
}

func (p *Delivery) reportDrops(force bool) {
	p.mu.Lock()
	n, total := p.takeDropReportLocked(time.Now(), force)
	closed := p.closed
	p.mu.Unlock()
	if n > 0 {
		p.logDrops(n, total, closed)
	}
}

func (p *Delivery) logDrops(n, total uint64, closed bool) {
	reason := "buffer full"
	if closed {
		reason = "delivery stopped"
	}
	p.log.Warn("run records dropped",
		zap.Uint64("dropped", n),
		zap.Uint64("dropped_total", total),
		zap.String("reason", reason),
		zap.Int("buffer_size", p.cfg.bufferSize),
		zap.Int("buffer_bytes", p.cfg.bufferBytes))
}
