package distcron

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// requestExpiry is how long a run request may wait for an eligible
// instance before the leader deletes it.
const requestExpiry = 10 * time.Minute

// goLeader starts the leader's event-driven duties for this term: lost-run
// detection from fromRev on, the misfire catch-up, and request expiry.
func (s *Scheduler) goLeader(ctx context.Context, sess *concurrency.Session, fromRev int64) {
	s.goBG(func() { s.detectLostRuns(ctx, fromRev) })
	s.goBG(func() {
		s.catchUpMisfires(ctx)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			s.expireRequests(ctx)
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			case <-sess.Done():
				return
			}
		}
	})
}

// detectLostRuns watches registrations vanish. A registration deleted by a
// clean Stop goes after the instance released its running keys; one
// deleted by lease expiry goes with them, in the same revision. So the runs
// an instance had in progress at the revision before its registration was
// deleted are exactly the runs it lost. Each becomes a lost record (and,
// with RerunLost, a re-run request). Watching from the revision at which
// this instance started to campaign covers a predecessor's own death.
func (s *Scheduler) detectLostRuns(ctx context.Context, fromRev int64) {
	wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.keys.Instances(), clientv3.WithPrefix(),
		clientv3.WithRev(fromRev), clientv3.WithFilterPut(), clientv3.WithPrevKV())
	for resp := range wch {
		if resp.Err() != nil {
			if ctx.Err() == nil {
				s.log.Warn("lost-run watch", zap.Error(resp.Err()))
			}
			return
		}
		for _, ev := range resp.Events {
			id := strings.TrimPrefix(string(ev.Kv.Key), s.keys.Instances())
			if id == s.cfg.instanceID {
				continue
			}
			if err := s.recordLostRuns(ctx, id, ev.Kv.ModRevision); err != nil && ctx.Err() == nil {
				s.log.Warn("lost-run check", zap.String("instance", id), zap.Error(err))
			}
		}
	}
}

func (s *Scheduler) recordLostRuns(ctx context.Context, id string, deletedAt int64) error {
	resp, err := s.cli.Get(ctx, s.keys.Running(), clientv3.WithPrefix(), clientv3.WithRev(deletedAt-1))
	if err != nil {
		return err
	}
	now := s.cfg.clock.Now().UTC()
	for _, kv := range resp.Kvs {
		var rv runningValue
		if json.Unmarshal(kv.Value, &rv) != nil || rv.Instance != id {
			continue
		}
		job := keys.JobOf(s.keys.Running(), string(kv.Key))
		rec := logsink.Record{Job: job, Tick: rv.Tick.UTC(), Shard: rv.Shard, Instance: id, Trigger: rv.Trigger,
			Attempt: max(rv.Attempt, 1), Token: kv.CreateRevision, Started: rv.Claimed, Finished: now,
			Duration: now.Sub(rv.Claimed), Status: logsink.StatusLost,
			Error: fmt.Sprintf("instance %s lost its etcd lease while running (crashed, paused or cut off)", id)}
		s.log.Warn("run lost", zap.String("job", job), zap.Time("tick", rec.Tick), zap.String("runner", id))
		s.emit(rec)
		s.notify(rec)
		s.mu.Lock()
		j := s.jobs[job]
		s.mu.Unlock()
		if j != nil && j.cfg.rerunLost {
			unit := rv.Unit
			s.requestAsync(runRequest{Job: job, Tick: rv.Tick.UTC(), Shard: rv.Shard, Unit: unit, Trigger: logsink.TriggerRetry,
				Attempt: rec.Attempt + 1, NotBefore: now, Requested: now, By: s.cfg.instanceID},
				fmt.Sprintf("lost-%s-%s-%d", keys.Tick(rv.Tick), unit, rec.Attempt+1))
		}
	}
	return nil
}

// catchUpMisfires applies MisfireRunOnce when this instance takes office
// (after a cluster-wide outage the first leader is the first instance back).
// For each such job it lists the job's recent ticks (within the claim
// retention, at most misfireScan of them) and reads their claims in one
// request. If the newest tick is unclaimed, within the starting deadline,
// and an earlier tick was claimed (the job ran before the outage; claims
// outlive it by the retention), one catch-up run is requested. The request
// takes the tick's claim key, so it can never run beside a scheduled claim;
// a backlog is never replayed.
func (s *Scheduler) catchUpMisfires(ctx context.Context) {
	now := s.cfg.clock.Now()
	s.mu.Lock()
	var jobs []*job
	for _, j := range s.jobs {
		if j.cfg.misfire == MisfireRunOnce && j.cfg.shards == 0 && !j.cfg.broadcast {
			jobs = append(jobs, j)
		}
	}
	s.mu.Unlock()
	for _, j := range jobs {
		ticks := recentTicks(j.schedule, now.Add(-s.cfg.claimRetention), now, misfireScan)
		if len(ticks) < 2 || now.Sub(ticks[len(ticks)-1]) > j.cfg.startDeadline {
			continue
		}
		claimed, err := s.claimedTicks(ctx, j, ticks)
		if err != nil {
			s.log.Warn("misfire check", zap.String("job", j.name), zap.Error(err))
			continue
		}
		last := ticks[len(ticks)-1]
		ranBefore := false
		for _, c := range claimed[:len(claimed)-1] {
			ranBefore = ranBefore || c
		}
		if claimed[len(claimed)-1] || !ranBefore {
			continue
		}
		s.log.Info("misfire: requesting one catch-up run", zap.String("job", j.name), zap.Time("tick", last))
		s.requestAsync(runRequest{Job: j.name, Tick: last.UTC(), Trigger: logsink.TriggerCatchup, Attempt: 1,
			NotBefore: now.UTC(), Requested: now.UTC(), By: s.cfg.instanceID, Claim: true}, "catchup-"+keys.Tick(last))
	}
}

// misfireScan bounds how many recent ticks the misfire check reads.
const misfireScan = 250

// recentTicks returns the last n ticks of sched in (from, to], in order.
func recentTicks(sched Schedule, from, to time.Time, n int) []time.Time {
	var ring []time.Time
	for t, i := sched.Next(from), 0; !t.IsZero() && !t.After(to) && i < 10_000_000; t, i = sched.Next(t), i+1 {
		if len(ring) == n {
			ring = ring[1:]
		}
		ring = append(ring, t)
	}
	return ring
}

// claimedTicks reports for each tick whether its claim key exists.
func (s *Scheduler) claimedTicks(ctx context.Context, j *job, ticks []time.Time) ([]bool, error) {
	out := make([]bool, len(ticks))
	for start := 0; start < len(ticks); start += maxTxnOps {
		end := min(start+maxTxnOps, len(ticks))
		ops := make([]clientv3.Op, 0, end-start)
		for _, t := range ticks[start:end] {
			ops = append(ops, clientv3.OpGet(s.claimKey(claimReq{job: j, tick: t}), clientv3.WithCountOnly()))
		}
		resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, err
		}
		for i, r := range resp.Responses {
			out[start+i] = r.GetResponseRange().GetCount() > 0
		}
	}
	return out, nil
}

// expireRequests deletes run requests nobody could take for requestExpiry
// (their job is registered nowhere, or no instance is eligible).
func (s *Scheduler) expireRequests(ctx context.Context) {
	resp, err := s.cli.Get(ctx, s.keys.Requests(), clientv3.WithPrefix())
	if err != nil {
		return
	}
	cutoff := s.cfg.clock.Now().Add(-requestExpiry)
	for _, kv := range resp.Kvs {
		var req runRequest
		if json.Unmarshal(kv.Value, &req) == nil && req.NotBefore.Before(cutoff) {
			if _, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
				Then(clientv3.OpDelete(string(kv.Key))).Commit(); err == nil {
				s.log.Warn("run request expired untaken", zap.String("job", req.Job), zap.String("key", string(kv.Key)))
			}
		}
	}
}
