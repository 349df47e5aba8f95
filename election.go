package distcron

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// campaign runs for leadership over sess until ctx ends or the session is
// lost, and does the leader's duties (duties.go) while it leads. The
// leader does housekeeping only: firing never waits for it. A leader found
// deposed by a fenced write campaigns again.
func (s *Scheduler) campaign(ctx context.Context, sess *concurrency.Session) {
	// Without a lost-run cursor yet, detection starts where this session
	// first campaigned (kept across failed campaigns, so a predecessor's
	// death after that is covered).
	var fromRev int64
	for ctx.Err() == nil {
		select {
		case <-sess.Done():
			return
		default:
		}
		if fromRev == 0 {
			if head, err := s.cli.Get(ctx, s.keys.Leader(), clientv3.WithCountOnly()); err == nil {
				fromRev = head.Header.Revision + 1
			}
		}
		if fromRev != 0 {
			s.leadOnce(ctx, sess, fromRev)
		}
		select {
		case <-time.After(lostWatchBackoff):
		case <-ctx.Done():
		}
	}
}

// leadOnce campaigns, and does the duties for one term.
func (s *Scheduler) leadOnce(ctx context.Context, sess *concurrency.Session, fromRev int64) {
	e := concurrency.NewElection(sess, s.keys.Leader())
	if err := e.Campaign(ctx, s.cfg.instanceID); err != nil {
		if ctx.Err() == nil {
			s.logLimited("campaign", zap.Error(err))
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
	newDuties(s, sess, e, fromRev).run(ctx)
}
