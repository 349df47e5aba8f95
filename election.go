package distcron

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/keys"
)

// campaign runs for leadership over sess until ctx ends or the session is
// lost. The leader does housekeeping only: firing never waits for it.
func (s *Scheduler) campaign(ctx context.Context, sess *concurrency.Session) {
	// Leader duties replay registration deletes from here on.
	head, err := s.cli.Get(ctx, s.keys.Leader(), clientv3.WithCountOnly())
	if err != nil {
		return
	}
	e := concurrency.NewElection(sess, s.keys.Leader())
	if err := e.Campaign(ctx, s.cfg.instanceID); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("campaign", zap.Error(err))
		}
		return
	}
	s.leader.Store(true)
	s.log.Info("became leader")
	defer func() {
		s.leader.Store(false)
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := e.Resign(rctx); err != nil {
			s.log.Debug("resign", zap.Error(err))
		}
		s.log.Info("leadership ended")
	}()
	s.leaderDuties(ctx, sess, head.Header.Revision+1)
}

// leaderDuties runs while this instance leads: claim GC on a ticker,
// lost-run detection and the misfire policy (see leader.go), until ctx
// ends or the session is lost.
func (s *Scheduler) leaderDuties(ctx context.Context, sess *concurrency.Session, fromRev int64) {
	s.goLeader(ctx, sess, fromRev)
	t := time.NewTicker(s.claimGCInterval())
	defer t.Stop()
	for {
		if n, err := s.gcClaims(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("claim GC", zap.Error(err))
		} else if n > 0 {
			s.log.Debug("claim GC", zap.Int64("deleted", n))
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		case <-sess.Done():
			return
		}
	}
}

func (s *Scheduler) claimGCInterval() time.Duration {
	return min(max(s.cfg.claimRetention/10, time.Second), 30*time.Second)
}

// gcClaims deletes the claims of ticks older than the claim retention (by
// the leader's clock) in one range delete: claim keys start with the tick.
func (s *Scheduler) gcClaims(ctx context.Context) (int64, error) {
	cutoff := keys.Tick(s.cfg.clock.Now().Add(-s.cfg.claimRetention))
	resp, err := s.cli.Delete(ctx, s.keys.Claims(), clientv3.WithRange(s.keys.ClaimsBefore(cutoff)))
	if err != nil {
		return 0, err
	}
	return resp.Deleted, nil
}
