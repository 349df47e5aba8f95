package distcron

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// sessionHolder holds the instance's current etcd session, or nil while
// it has none (then the instance claims nothing).
type sessionHolder struct {
	p      atomic.Pointer[concurrency.Session]
	mu     sync.Mutex // orders publish against take
	closed bool       // taken by Stop: nothing is published any more
}

func (h *sessionHolder) get() *concurrency.Session  { return h.p.Load() }
func (h *sessionHolder) set(s *concurrency.Session) { h.p.Store(s) }

// publish makes s the current session, unless Stop has taken the holder
// (false: the caller must close s).
func (h *sessionHolder) publish(s *concurrency.Session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.p.Store(s)
	return true
}

// take returns the current session for Stop to revoke and publishes
// nothing from then on.
func (h *sessionHolder) take() *concurrency.Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	return h.p.Swap(nil)
}

// ttlSeconds is the session TTL rounded up to whole seconds.
func (s *Scheduler) ttlSeconds() int {
	return int((s.cfg.sessionTTL + time.Second - 1) / time.Second)
}

// newSession grants a lease (bounded by ctx), keeps it alive, and registers
// the instance on it, with the running keys of runs still in progress when
// it replaces a lost session (reattach). One session serves registration,
// election and running keys; there is never a lease per tick. The caller
// publishes it.
func (s *Scheduler) newSession(ctx context.Context, reattach bool) (*concurrency.Session, error) {
	lease, err := s.cli.Grant(ctx, int64(s.ttlSeconds()))
	if err != nil {
		return nil, fmt.Errorf("%w: grant lease: %w", ErrUnreachable, err)
	}
	sess, err := concurrency.NewSession(s.cli, concurrency.WithLease(lease.ID),
		concurrency.WithTTL(s.ttlSeconds()), concurrency.WithContext(context.Background()))
	if err != nil {
		return nil, fmt.Errorf("%w: session: %w", ErrUnreachable, err)
	}
	var moved []string
	var extra []clientv3.Op
	if reattach {
		s.owner.moving.Lock()
		moved, extra = s.owner.reattachOps(sess.Lease(), maxRegisterExtra)
	}
	resps, err := s.register(ctx, sess, extra...)
	if reattach {
		if err == nil {
			s.owner.reattached(moved, resps, sess.Lease())
		}
		s.owner.moving.Unlock()
	}
	if err != nil {
		s.closeSession(sess)
		return nil, err
	}
	if reattach {
		if err := s.owner.reattach(ctx, sess.Lease()); err != nil { // the rest, beyond the registration's room
			s.prevLease.Store(int64(sess.Lease())) // our registration sits on this lease if the revoke fails
			s.closeSession(sess)
			return nil, fmt.Errorf("reattach running keys: %w", err)
		}
	}
	return sess, nil
}

// keepSession owns the session for the scheduler's life: it refreshes the
// registration when jobs change, campaigns for leadership, and when the
// session ends (lease expired, etcd unreachable past the TTL) it stops
// claiming, creates a new session, re-registers, re-attaches the running
// keys of runs still in progress (a run is not killed because the lease
// blinked) and campaigns again. On Stop it resigns; Stop revokes the lease.
func (s *Scheduler) keepSession(sess *concurrency.Session) {
	for {
		campaignCtx, stopCampaign := context.WithCancel(s.bgCtx)
		campaignDone := make(chan struct{})
		go func() { defer close(campaignDone); s.campaign(campaignCtx, sess) }()

		lost := s.watchSession(sess)
		if lost {
			s.sess.set(nil) // claim nothing on this session any more
		} // at Stop the session stays published: Stop's leave revokes it
		stopCampaign()
		// Campaign's own cleanup (Resign) waits for etcd without a deadline;
		// do not let an unreachable etcd hang the scheduler here.
		select {
		case <-campaignDone:
		case <-time.After(s.cfg.stopGrace):
			s.log.Warn("campaign did not end in time; leaving it to finish with the client")
		}
		if !lost {
			return // Stop revokes the lease (see Scheduler.leave)
		}
		s.log.Error("etcd session lost: not claiming until a new session is up", zap.Int64("lease", int64(sess.Lease())))
		s.prevLease.Store(int64(sess.Lease()))
		if sess = s.renewSession(); sess == nil {
			return
		}
		s.log.Info("etcd session restored", zap.Int64("lease", int64(sess.Lease())))
	}
}

// watchSession waits until the session ends (true) or the scheduler stops
// (false), refreshing the registration on request meanwhile.
func (s *Scheduler) watchSession(sess *concurrency.Session) bool {
	for {
		select {
		case <-sess.Done():
			return true
		case <-s.bgCtx.Done():
			return false
		case <-s.reregister:
			ctx, cancel := context.WithTimeout(s.bgCtx, s.cfg.sessionTTL)
			if _, err := s.register(ctx, sess); err != nil && ctx.Err() == nil {
				s.log.Warn("refresh registration", zap.Error(err))
			}
			cancel()
		}
	}
}

// renewSession retries until a new session is up with the running keys
// re-attached (then publishes and returns it) or the scheduler stops (nil).
func (s *Scheduler) renewSession() *concurrency.Session {
	backoff := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(s.bgCtx, s.cfg.sessionTTL)
		sess, err := s.newSession(ctx, true)
		cancel()
		if err == nil && !s.sess.publish(sess) {
			s.closeSession(sess) // Stop has left etcd meanwhile
			return nil
		}
		if err == nil {
			// A run that started on the old lease after the move above
			// (its claim was in flight) moves now; one that starts later
			// sees the new session (see startRun).
			s.owner.reattachLater(sess.Lease())
			return sess
		}
		if s.bgCtx.Err() != nil {
			return nil
		}
		s.log.Error("etcd session: retrying", zap.Error(err), zap.Duration("backoff", backoff))
		select {
		case <-time.After(backoff):
		case <-s.bgCtx.Done():
			return nil
		}
		backoff = min(2*backoff, time.Second)
	}
}

// closeSession ends a session for good: the lease is revoked, so the
// registration, election key and running keys vanish at once.
func (s *Scheduler) closeSession(sess *concurrency.Session) {
	if s.sess.get() == sess {
		s.sess.set(nil)
	}
	if err := sess.Close(); err != nil {
		s.log.Warn("revoke lease", zap.Error(err))
	}
}
