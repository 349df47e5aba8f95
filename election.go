package distcron

import (
	"context"
	"errors"
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

// campaignCheck is how often a campaign checks that it is not stuck.
const campaignCheck = 2 * time.Second

// campaignWatched is e.Campaign, abandoned (and so retried by the caller)
// when this instance's election key has been the first for two checks in
// a row but Campaign has not returned: one hung call inside the election
// would otherwise leave the cluster without a leader doing its duties.
func (s *Scheduler) campaignWatched(ctx context.Context, e *concurrency.Election, sess *concurrency.Session) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Campaign(cctx, s.cfg.instanceID) }()
	t := time.NewTicker(campaignCheck)
	defer t.Stop()
	first := 0
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
			if s.firstInElection(ctx, sess) {
				first++
			} else {
				first = 0
			}
			if first < 2 {
				continue
			}
			cancel()
			select {
			case <-done:
			case <-time.After(time.Second): // its cleanup may hang too; leave it to the client
			}
			return errors.New("campaign stuck while first in the election; campaigning again")
		}
	}
}

// firstInElection reports whether the oldest election key is on sess's
// lease, read with a bounded request.
func (s *Scheduler) firstInElection(ctx context.Context, sess *concurrency.Session) bool {
	ctx, cancel := context.WithTimeout(ctx, claimAttemptTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.keys.Leader(), clientv3.WithFirstCreate()...)
	return err == nil && len(resp.Kvs) == 1 && clientv3.LeaseID(resp.Kvs[0].Lease) == sess.Lease()
}

// leadOnce campaigns, and does the duties for one term.
func (s *Scheduler) leadOnce(ctx context.Context, sess *concurrency.Session, fromRev int64) {
	e := concurrency.NewElection(sess, s.keys.Leader())
	if err := s.campaignWatched(ctx, e, sess); err != nil {
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
