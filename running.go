package distcron

import (
	"context"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/claim"
)

// runOwner is the one owner of this instance's running keys.
//
// A running key (running/<job>/[<unit>/]<run>) says that one run is in
// progress. It is created by the claim that wins the run (a tick's claim,
// or a run request's claim), on the session lease of the claimant, and its
// name is unique per run: job, unit (shard or broadcast instance), the run
// id (the tick, marked by trigger and lineage for runs off the schedule)
// and the attempt. No other instance ever creates a key of that name.
//
// Only this type deletes running keys, and only with a transaction
// conditioned on the key still being on the lease this instance put it on.
// So whatever this instance failed to learn about its own claims (an
// answer lost, a batch refused with ErrLeaseNotFound after a pause past the
// TTL), it can never delete another instance's key: that key is on another
// lease, and the delete does not apply. A key this instance did create and
// did not learn about goes either with its lease or with the conditional
// delete queued for it.
//
// After a session renewal the keys of runs still in progress are put again
// on the new lease (reattach), and the lease recorded for each is updated,
// so their later delete is conditioned on the right lease.
//
// It owns the in-flight keys of claim batches the same way (inflight.go):
// a run listed in one has no running key; its key below runs is the
// running key it would have had.
type runOwner struct {
	s       *Scheduler
	mu      sync.Mutex
	runs    map[string]*localRun      // in progress here, by running key
	pending []heldKey                 // to delete, each on the lease it was put on
	batches map[string]*inflightBatch // in-flight keys, by key
	dirty   []*inflightBatch          // in-flight keys to rewrite or delete
	// dirtySince is when the first of dirty was queued.
	dirtySince time.Time
	sending    sync.Mutex // one delete request at a time
	moving     sync.Mutex // one move to a new lease at a time (reattachOps..reattached)
	kick       chan struct{}
}

// localRun is one of this instance's runs in progress.
type localRun struct {
	job    string
	tick   time.Time
	value  string           // the running key's value, to re-attach it to a new lease
	lease  clientv3.LeaseID // the lease the key is on
	cancel context.CancelCauseFunc
	lost   bool           // its key went with an expired lease: cancelled, never put back
	batch  *inflightBatch // the in-flight key listing the run, or nil: it has a running key
}

// heldKey is a running key this instance put on lease.
type heldKey struct {
	key   string
	lease clientv3.LeaseID
}

func (r *runOwner) init(s *Scheduler) {
	r.s = s
	r.runs = make(map[string]*localRun)
	r.batches = make(map[string]*inflightBatch)
	r.kick = make(chan struct{}, 1)
}

// start records a run that has begun under key.
func (r *runOwner) start(key string, run *localRun) {
	r.mu.Lock()
	r.runs[key] = run
	if run.batch != nil && run.batch.lost {
		run.lost = true
		run.cancel(ErrLeaseLost) // its in-flight key went with the lease it was on
	}
	r.mu.Unlock()
}

// finish forgets a run that ended and queues the delete of its key.
func (r *runOwner) finish(key string) {
	r.mu.Lock()
	run := r.runs[key]
	delete(r.runs, key)
	switch {
	case run != nil && run.batch != nil:
		delete(run.batch.runs, key)
		r.markDirty(run.batch)
	case run != nil:
		r.pending = append(r.pending, heldKey{key, run.lease})
	}
	r.mu.Unlock()
	r.s.signal(r.kick)
}

// drop queues the delete of a key this instance may have put on lease for
// a run it did not start (skipped, or its claim unresolved). If the key is
// not there, or is another instance's, the delete changes nothing.
func (r *runOwner) drop(key string, lease clientv3.LeaseID) {
	r.mu.Lock()
	r.pending = append(r.pending, heldKey{key, lease})
	r.mu.Unlock()
	r.s.signal(r.kick)
}

// kill cancels the runs of job (of ticks before before, unless it is zero)
// with cause ErrKilled and reports how many.
func (r *runOwner) kill(job string, before time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, run := range r.runs {
		if run.job == job && (before.IsZero() || run.tick.Before(before)) {
			run.cancel(ErrKilled)
			n++
		}
	}
	return n
}

// has reports whether the run with this key is in progress here.
func (r *runOwner) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.runs[key]
	return ok
}

// count returns how many runs of job are in progress here.
func (r *runOwner) count(job string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, run := range r.runs {
		if run.job == job {
			n++
		}
	}
	return n
}

// reattachOps returns, for at most n runs in progress whose keys are not
// on lease yet, their keys and the operations that move each key onto
// lease if it is still on the lease it was put on; after they commit,
// reattached reads the outcome.
func (r *runOwner) reattachOps(lease clientv3.LeaseID, n int) ([]string, []clientv3.Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var moved []string
	var ops []clientv3.Op
	move := func(k, value string, from clientv3.LeaseID) {
		moved = append(moved, k)
		ops = append(ops, clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(k), "=", from)},
			[]clientv3.Op{clientv3.OpPut(k, value, clientv3.WithLease(lease))}, nil))
	}
	for k, run := range r.runs {
		if len(ops) == n {
			break
		}
		if run.batch == nil && run.lease != lease && !run.lost {
			move(k, run.value, run.lease)
		}
	}
	for k, fl := range r.batches {
		if len(ops) == n {
			break
		}
		if fl.lease != lease && !fl.lost && len(fl.runs) > 0 {
			runs := make([]inflightRun, 0, len(fl.runs))
			for _, e := range fl.runs {
				runs = append(runs, e)
			}
			move(k, fl.encode(runs), fl.lease)
		}
	}
	return moved, ops
}

// reattached records the outcome of reattachOps' operations (resps, in
// the order of keys). A key that was moved is now on lease; if its run
// ended meanwhile (its delete queued for the old lease matches nothing),
// it is queued again for the new one. A key that was no longer on its old
// lease went with that lease: the run was recorded lost and may have been
// re-run, so it is cancelled with cause ErrLeaseLost, and its key is not
// put back.
func (r *runOwner) reattached(keys []string, resps []*pb.ResponseOp, lease clientv3.LeaseID) {
	r.mu.Lock()
	for i, k := range keys {
		moved := i < len(resps) && resps[i].GetResponseTxn().GetSucceeded()
		if fl := r.batches[k]; fl != nil {
			r.reattachedBatch(fl, moved, lease)
			continue
		}
		run := r.runs[k]
		switch {
		case moved && run != nil:
			run.lease = lease
		case moved:
			r.pending = append(r.pending, heldKey{k, lease})
		case run != nil:
			run.lost = true
			run.cancel(ErrLeaseLost)
		}
	}
	r.mu.Unlock()
	r.s.signal(r.kick)
}

// reattachedBatch records the outcome of moving fl to lease: moved, it is
// rewritten once more, since a rewrite sent meanwhile was conditioned on
// the old lease; not moved, it went with the old lease, and its runs are
// cancelled like runs whose running key did. r.mu is held.
func (r *runOwner) reattachedBatch(fl *inflightBatch, moved bool, lease clientv3.LeaseID) {
	if moved {
		fl.lease = lease
		r.markDirty(fl)
		return
	}
	fl.lost = true
	for _, run := range r.runs {
		if run.batch == fl && !run.lost {
			run.lost = true
			run.cancel(ErrLeaseLost)
		}
	}
}

// reattach puts the keys of the runs in progress that are not on lease
// yet on it, in batches of maxTxnOps.
func (r *runOwner) reattach(ctx context.Context, lease clientv3.LeaseID) error {
	r.moving.Lock()
	defer r.moving.Unlock()
	for {
		keys, ops := r.reattachOps(lease, releaseBatch)
		if len(ops) == 0 {
			return nil
		}
		resp, err := r.s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return err
		}
		r.reattached(keys, resp.Responses, lease)
	}
}

// reattachLater moves, in the background, the keys of runs in progress
// that are not on lease (see reattach), retrying until it succeeds, the
// session is replaced again (the next renewal moves them) or the
// scheduler stops. Until then a crash would leave those runs on a lease
// without a registration, where lost-run detection cannot see them.
func (r *runOwner) reattachLater(lease clientv3.LeaseID) {
	r.s.goBG(func() {
		backoff := 50 * time.Millisecond
		for {
			ctx, cancel := context.WithTimeout(r.s.bgCtx, claimAttemptTimeout)
			err := r.reattach(ctx, lease)
			cancel()
			if err == nil || r.s.bgCtx.Err() != nil {
				return
			}
			if sess := r.s.sess.get(); sess == nil || sess.Lease() != lease {
				return
			}
			r.s.logLimited("reattach running keys", zap.Error(err))
			select {
			case <-time.After(backoff):
			case <-r.s.bgCtx.Done():
				return
			}
			backoff = min(2*backoff, time.Second)
		}
	})
}

// releaseBatch is how many conditional deletes go in one transaction: each
// is a nested transaction of one compare and one delete, and etcd leaves a
// nested transaction maxTxnOps minus its parent's operations.
const releaseBatch = maxTxnOps - 1

// run deletes queued keys until the scheduler stops; Stop flushes the rest.
func (r *runOwner) run() {
	check := time.NewTicker(inflightCheckAfter / 2)
	defer check.Stop()
	for {
		select {
		case <-r.kick:
		case now := <-check.C:
			r.checkOld(now)
			continue
		case <-r.s.bgCtx.Done():
			return
		}
		if !r.settled() {
			return
		}
		ctx, cancel := context.WithTimeout(r.s.bgCtx, 5*time.Second)
		err := r.flush(ctx)
		cancel()
		if err != nil && r.s.bgCtx.Err() == nil {
			// The keys carry the session lease: if etcd stays away they
			// expire with it. Otherwise try again shortly.
			r.s.logLimited("release running keys", zap.Error(err))
			select {
			case <-time.After(500 * time.Millisecond):
				r.s.signal(r.kick)
			case <-r.s.bgCtx.Done():
			}
		}
	}
}

// settled waits while the queued writes may wait (see settle). Each kick
// checks again, so a running key's delete queued meanwhile ends the wait.
// False at Stop.
func (r *runOwner) settled() bool {
	for d := r.settle(time.Now()); d > 0; d = r.settle(time.Now()) {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.kick:
			t.Stop()
		case <-r.s.bgCtx.Done():
			t.Stop()
			return false
		}
	}
	return true
}

// flush deletes every queued key that is still on the lease it was put
// on, and rewrites or deletes the in-flight keys that say more than the
// runs they stand for; what it could not send stays queued.
func (r *runOwner) flush(ctx context.Context) error {
	r.sending.Lock()
	defer r.sending.Unlock()
	r.mu.Lock()
	held := r.pending
	r.pending = nil
	writes := r.takeDirty()
	r.mu.Unlock()
	for len(writes) > 0 {
		n := min(len(writes), releaseBatch)
		ops := make([]clientv3.Op, n)
		for i, w := range writes[:n] {
			ops[i] = w.op()
		}
		_, err := r.s.cli.Txn(ctx).Then(ops...).Commit()
		r.wrote(writes[:n], err)
		if err != nil {
			r.wrote(writes[n:], err)
			r.mu.Lock()
			r.pending = append(held, r.pending...)
			r.mu.Unlock()
			return err
		}
		writes = writes[n:]
	}
	for len(held) > 0 {
		n := min(len(held), releaseBatch)
		ops := make([]clientv3.Op, n)
		for i, h := range held[:n] {
			ops[i] = claim.Release(h.key, h.lease)
		}
		if _, err := r.s.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			r.mu.Lock()
			r.pending = append(held, r.pending...)
			r.mu.Unlock()
			return err
		}
		held = held[n:]
	}
	return nil
}

// runGroup counts runs in progress and closes for new ones at Stop. Unlike
// a sync.WaitGroup it may be waited on while runs are still being added.
type runGroup struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{} // closed when n drops to 0
}

// add counts a new run; false once the group is closed.
func (g *runGroup) add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	if g.n == 0 {
		g.idle = make(chan struct{})
	}
	g.n++
	return true
}

// done ends a run counted by add.
func (g *runGroup) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n--; g.n == 0 {
		close(g.idle)
	}
}

// close refuses new runs.
func (g *runGroup) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// wait blocks until no run is in progress (true) or ctx ends (false).
func (g *runGroup) wait(ctx context.Context) bool {
	for {
		g.mu.Lock()
		if g.n == 0 {
			g.mu.Unlock()
			return true
		}
		idle := g.idle
		g.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return false
		}
	}
}
