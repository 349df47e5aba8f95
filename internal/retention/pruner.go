// Package retention is what the durable sinks (logsink/sqlsink,
// logsink/mongosink) share to expire old run records: when to prune
// after a write, within which budget, and what to log.
package retention

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

const (
	// Budget bounds the time a write spends pruning after it committed.
	Budget = time.Second
	// MaxInterval is the longest pause between two prunes.
	MaxInterval = 10 * time.Minute
)

// Pruner prunes after writes: at most once per min(Retention/10,
// MaxInterval), never two at once, each within Budget. A prune that runs
// out of budget (a backlog) goes on after the next write; a failure is
// logged as a warning and retried after the interval.
type Pruner struct {
	Retention time.Duration
	Log       *zap.Logger
	// Prune deletes the records whose tick is before before and returns
	// how many it deleted.
	Prune func(ctx context.Context, before time.Time) (int64, error)

	mu      sync.Mutex
	next    time.Time // zero: prune after the next write
	running bool
}

// AfterWrite prunes if a prune is due; ctx is the write's.
func (p *Pruner) AfterWrite(ctx context.Context) {
	now := time.Now()
	p.mu.Lock()
	if p.running || now.Before(p.next) {
		p.mu.Unlock()
		return
	}
	p.running = true
	p.mu.Unlock()

	pctx, cancel := context.WithTimeout(ctx, Budget)
	defer cancel()
	n, err := p.Prune(pctx, now.Add(-p.Retention))
	next := now.Add(min(p.Retention/10, MaxInterval))
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		next = time.Time{} // out of budget: go on after the next write
	case err != nil:
		p.Log.Warn("deleting expired run records failed", zap.Error(err), zap.Int64("deleted", n))
	}
	if n > 0 {
		p.Log.Debug("deleted expired run records", zap.Int64("deleted", n))
	}
	p.mu.Lock()
	p.running = false
	p.next = next
	p.mu.Unlock()
}
