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
type notifier struct {
	once  sync.Once
	queue chan logsink.Record
	done  chan struct{}
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
	s.notifier.once.Do(func() {
		s.notifier.queue = make(chan logsink.Record, 1024)
		s.notifier.done = make(chan struct{})
		go s.deliverNotifications()
	})
	select {
	case s.notifier.queue <- rec:
	default:
		s.logLimited("notification queue full: dropped", zap.String("job", rec.Job), zap.Time("tick", rec.Tick))
	}
}

func (s *Scheduler) deliverNotifications() {
	defer close(s.notifier.done)
	for rec := range s.notifier.queue {
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

// stopNotifier delivers what is queued, until ctx ends.
func (s *Scheduler) stopNotifier(ctx context.Context) {
	started := false
	s.notifier.once.Do(func() {}) // no notifier goroutine will start after this
	if s.notifier.queue != nil {
		started = true
		close(s.notifier.queue)
	}
	if !started {
		return
	}
	select {
	case <-s.notifier.done:
	case <-ctx.Done():
		s.log.Warn("stop: notifications still being delivered")
	}
}
