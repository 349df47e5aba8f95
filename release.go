package distcron

import (
	"context"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// releaser deletes the running keys of finished runs. Deletes that pile up
// while a request is in flight go out together in the next one, so many
// runs ending at once cost one round trip per maxTxnOps keys.
type releaser struct {
	s       *Scheduler
	mu      sync.Mutex // guards pending
	sending sync.Mutex // one delete request at a time
	pending []string
	kick    chan struct{}
}

func (r *releaser) init(s *Scheduler) {
	r.s = s
	r.kick = make(chan struct{}, 1)
}

// add queues a running key for deletion; it never blocks.
func (r *releaser) add(key string) {
	r.mu.Lock()
	r.pending = append(r.pending, key)
	r.mu.Unlock()
	r.s.signal(r.kick)
}

// run deletes queued keys until the scheduler stops; Stop flushes the rest.
func (r *releaser) run() {
	for {
		select {
		case <-r.kick:
		case <-r.s.bgCtx.Done():
			return
		}
		ctx, cancel := context.WithTimeout(r.s.bgCtx, 5*time.Second)
		err := r.flush(ctx)
		cancel()
		if err != nil && r.s.bgCtx.Err() == nil {
			// The keys carry the session lease: if etcd stays away they
			// expire with it. Otherwise try again shortly.
			r.s.log.Warn("release running keys", zap.Error(err))
			select {
			case <-time.After(500 * time.Millisecond):
				r.s.signal(r.kick)
			case <-r.s.bgCtx.Done():
			}
		}
	}
}

// flush deletes every queued key, in transactions of maxTxnOps; what it
// could not delete stays queued.
func (r *releaser) flush(ctx context.Context) error {
	r.sending.Lock()
	defer r.sending.Unlock()
	r.mu.Lock()
	keys := r.pending
	r.pending = nil
	r.mu.Unlock()
	for len(keys) > 0 {
		n := min(len(keys), maxTxnOps)
		ops := make([]clientv3.Op, n)
		for i, k := range keys[:n] {
			ops[i] = clientv3.OpDelete(k)
		}
		if _, err := r.s.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			r.mu.Lock()
			r.pending = append(keys, r.pending...)
			r.mu.Unlock()
			return err
		}
		keys = keys[n:]
	}
	return nil
}
