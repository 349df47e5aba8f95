package distcron

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/distcron/distcron/logsink"
)

// Notifier is told about finished runs, for example by webhook or mail
// (see package notify). Notify must honor ctx.
type Notifier interface {
	Notify(ctx context.Context, rec logsink.Record) error
}

// failed reports whether a record is a failure worth a notification:
// failed, timeout, killed or lost (as notify.Failed).
func failed(rec logsink.Record) bool {
	switch rec.Status {
	case logsink.StatusFailed, logsink.StatusTimeout, logsink.StatusKilled, logsink.StatusLost:
		return true
	}
	return false
}

// WithNotifier sends the records for which when returns true (nil: the
// failures: failed, timeout, killed, lost; see also package notify's filters)
// to n, from the instance that ran the job (the leader for lost runs). It
// is asynchronous: a queue of 1024 records, each Notify call bounded by
// 10s; records beyond the queue are dropped and logged. Default none.
func WithNotifier(n Notifier, when func(logsink.Record) bool) Option {
	return func(c *config) {
		if when == nil {
			when = failed
		}
		c.notifiers = append(c.notifiers, notifierEntry{n, when})
	}
}

type notifierEntry struct {
	n    Notifier
	when func(logsink.Record) bool
}

// notifier delivers notifications on one goroutine, started on first use.
// Its queue is closed at Stop under mu, and every send checks closed under
// mu first: a run abandoned at Stop that ends later finds the notifier
// closed and its notification dropped, never a send on a closed channel.
type notifier struct {
	mu      sync.Mutex
	queue   chan logsink.Record
	done    chan struct{}
	closed  bool
	dropped uint64
}

func (s *Scheduler) notify(rec logsink.Record) {
	if len(s.cfg.notifiers) == 0 {
		return
	}
	want := false
	for _, e := range s.cfg.notifiers {
		want = want || e.when(rec)
	}
	if !want {
		return
	}
	n := &s.notifier
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.dropped++
		s.logLimited("notification after stop: dropped", zap.String("job", rec.Job), zap.Time("tick", rec.Tick))
		return
	}
	if n.queue == nil {
		n.queue = make(chan logsink.Record, 1024)
		n.done = make(chan struct{})
		go s.deliverNotifications(n.queue, n.done)
	}
	select {
	case n.queue <- rec:
	default:
		n.dropped++
		s.logLimited("notification queue full: dropped", zap.String("job", rec.Job), zap.Time("tick", rec.Tick))
	}
}

func (s *Scheduler) deliverNotifications(queue <-chan logsink.Record, done chan<- struct{}) {
	defer close(done)
	for rec := range queue {
		for _, e := range s.cfg.notifiers {
			if !e.when(rec) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := e.n.Notify(ctx, rec); err != nil {
				s.log.Warn("notify", zap.String("job", rec.Job), zap.Time("tick", rec.Tick), zap.Error(err))
			}
			cancel()
		}
	}
}

// stop closes the notifier for good and delivers what is queued, until
// ctx ends.
func (n *notifier) stop(ctx context.Context, log *zap.Logger) {
	n.mu.Lock()
	wasClosed := n.closed
	n.closed = true
	queue, done := n.queue, n.done
	n.mu.Unlock()
	if wasClosed || queue == nil {
		return
	}
	close(queue)
	select {
	case <-done:
	case <-ctx.Done():
		log.Warn("stop: notifications still being delivered")
	}
}
