package distcron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/claim"
	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// maxTxnOps is etcd's default --max-txn-ops: the most operations one level
// of a transaction may hold. etcd also charges nested transactions against
// it: a nested Txn may hold at most maxTxnOps minus the operations of the
// levels above it.
const maxTxnOps = 128

// maxClaimBatch is how many ticks one claim transaction carries: one
// operation each, and the batch's in-flight key, at the top level.
const maxClaimBatch = maxTxnOps - claim.DepthOps - 1

// claimReq asks for one tick (or one unit of a tick) of one job.
type claimReq struct {
	job     *job
	tick    time.Time
	unit    string // "" for plain jobs, "s<n>" for shard n, "i<id>" for a broadcast run
	shard   int
	trigger logsink.Trigger
	attempt int
	// run is the run's id within its job and unit, without the attempt;
	// "" means the tick (scheduled runs, and catch-ups, which take the
	// tick's claim). See runID.
	run string
	// backup: another instance is the preferred claimer; claim only if a
	// read shows the tick still unclaimed.
	backup bool
	// noRun: claim the tick only to record it skipped (this instance is at
	// its concurrency cap and no peer took the tick).
	noRun bool
	// again: a second chance given by retryAtCapacity; its job is queued
	// for later ticks already, so handling it must not requeue the job.
	again bool
}

func (r claimReq) tickKey() string              { return keys.Tick(r.tick) }
func (s *Scheduler) claimKey(r claimReq) string { return s.keys.Claim(r.tickKey(), r.job.name, r.unit) }

// runID is the run's identity within its job and unit, without the
// attempt: the tick for scheduled runs and catch-ups (both hold the tick's
// claim, so at most one of them exists), "m<tick>" for manual runs (the
// tick is the request time) and "c<tick>-<parent>" for chained runs (the
// parent's tick and a hash of the parent run's key). Retries and re-runs
// of a lost run keep the id of the run they repeat.
func (r claimReq) runID() string {
	if r.run != "" {
		return r.run
	}
	return r.tickKey()
}

// runKey is the running key of a run: unique per job, unit, run id and
// attempt, so no two runs ever share one (see runOwner).
func (s *Scheduler) runKey(r claimReq) string {
	id := r.runID()
	if r.attempt > 1 {
		id = fmt.Sprintf("%s#%d", id, r.attempt)
	}
	return s.keys.RunningRun(r.job.name, id, r.unit)
}

// claimValue is what a claim key holds: the instance id and the lease of
// the session that claimed, so that a restarted process with the same id
// never mistakes its predecessor's claim for its own.
func (s *Scheduler) claimValue(lease clientv3.LeaseID) string {
	return fmt.Sprintf("%s %x", s.cfg.instanceID, int64(lease))
}

// A claim's outcome, as decided by package claim.
type claimOutcome = claim.Outcome

const (
	claimLost    = claim.Lost
	claimWon     = claim.Won
	claimSkipped = claim.Skipped
	claimOpen    = claim.Open
)

// runningValue is stored at the running key while a run is in progress.
type runningValue struct {
	Instance string          `json:"instance"`
	Tick     time.Time       `json:"tick"`
	Shard    int             `json:"shard"`
	Unit     string          `json:"unit,omitempty"`
	Attempt  int             `json:"attempt"`
	Trigger  logsink.Trigger `json:"trigger"`
	Run      string          `json:"run,omitempty"` // claimReq.run
	Claimed  time.Time       `json:"claimed"`
	// RerunLost tells the leader to re-run the run if it is lost, even
	// when the job is not registered on the leader.
	RerunLost bool `json:"rerun_lost,omitempty"`
}

func (s *Scheduler) runningValue(r claimReq, now time.Time) string {
	v, _ := json.Marshal(runningValue{Instance: s.cfg.instanceID, Tick: r.tick.UTC(), Shard: r.shard, Unit: r.unit,
		Attempt: r.attempt, Trigger: r.trigger, Run: r.run, Claimed: now.UTC(), RerunLost: r.job.cfg.rerunLost})
	return string(v)
}

// claimSpec describes the claim of r for package claim; a run that fl
// (the batch's in-flight key, or nil) lists gets no running key.
func (s *Scheduler) claimSpec(r claimReq, lease clientv3.LeaseID, now time.Time, fl *inflightBatch) claim.Spec {
	sp := claim.Spec{ClaimKey: s.claimKey(r), ClaimValue: s.claimValue(lease),
		Overlap: claim.Overlap(r.job.cfg.overlap), NoRun: r.noRun}
	if sp.Overlap != claim.Allow {
		sp.JobRuns = s.keys.RunningJob(r.job.name, r.unit) // only Forbid and Replace look there
	}
	if fl.lists(r) {
		sp.Inflight = fl.key
	} else {
		sp.RunKey, sp.RunValue = s.runKey(r), s.runningValue(r, now)
	}
	if r.noRun {
		sp.Overlap = claim.Allow
	}
	if r.job.cfg.misfire == MisfireRunOnce && r.unit == "" {
		// The catch-up after an outage needs to know the job ran before.
		sp.LastKey, sp.LastValue = s.keys.LastTick(r.job.name), r.tickKey()
	}
	return sp
}

// claim sends one transaction for up to maxClaimBatch requests, with the
// in-flight key fl of their batch (nil: none), and reports the outcome of
// each, plus the revision of the transaction: the fencing token of every
// run it claimed. A preferred claimer's batch of bare claims goes flat
// first (claim.FlatTxn) and nested only if that fails: a second request,
// with a nested transaction per tick.
func (s *Scheduler) claim(ctx context.Context, reqs []claimReq, lease clientv3.LeaseID, fl *inflightBatch) ([]claimOutcome, int64, error) {
	if len(reqs) > maxClaimBatch {
		return nil, 0, fmt.Errorf("distcron: claim batch of %d exceeds %d", len(reqs), maxClaimBatch)
	}
	now := s.cfg.clock.Now()
	specs := make([]claim.Spec, len(reqs))
	flat := true
	for i, r := range reqs {
		specs[i] = s.claimSpec(r, lease, now, fl)
		flat = flat && !r.backup && r.job.cfg.shards == 0 && claim.Flat(specs[i])
	}
	if flat {
		// Another instance claims a preferred claimer's tick only as its
		// backup, once it is late (shards, which every instance claims,
		// are not flat): try them all at once, and decide one by one only
		// if that fails.
		cmps, ops := claim.FlatTxn(specs)
		if fl != nil {
			ops = append(ops, s.inflightPut(fl, lease))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return nil, 0, err
		}
		if resp.Succeeded {
			out := make([]claimOutcome, len(reqs))
			for i := range out {
				out[i] = claimOutcome{State: claimWon}
			}
			return out, resp.Header.Revision, nil
		}
		s.counters.flatClaimsFailed.Add(1)
	}
	ops := make([]clientv3.Op, len(reqs), len(reqs)+1)
	for i := range reqs {
		ops[i] = claim.Op(specs[i], lease)
	}
	if fl != nil {
		ops = append(ops, s.inflightPut(fl, lease))
	}
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, 0, err
	}
	out := make([]claimOutcome, len(reqs))
	for i := range reqs {
		out[i] = claim.Result(resp.Responses[i].GetResponseTxn(), claim.Overlap(reqs[i].job.cfg.overlap))
	}
	return out, resp.Header.Revision, nil
}

// inflightPut puts the in-flight key of a batch on lease. Every attempt
// puts the same value: the runs the whole batch asks for.
func (s *Scheduler) inflightPut(fl *inflightBatch, lease clientv3.LeaseID) clientv3.Op {
	return clientv3.OpPut(fl.key, fl.asked, clientv3.WithLease(lease))
}

// resolveClaims reads back the claims of a batch whose request failed in a
// way that leaves its fate unknown (the transaction may have committed with
// its answer lost); see claim.Resolve. A won Replace claim also reads the
// runs it must stop.
func (s *Scheduler) resolveClaims(ctx context.Context, batch []claimReq, lease clientv3.LeaseID, fl *inflightBatch) ([]claimOutcome, []int64, error) {
	specs := make([]claim.Spec, len(batch))
	ops := make([]clientv3.Op, 0, 2*len(batch))
	for i, r := range batch {
		specs[i] = s.claimSpec(r, lease, time.Time{}, fl)
		ops = append(ops, claim.ReadBack(specs[i])...)
	}
	out := make([]claimOutcome, len(batch))
	tokens := make([]int64, len(batch))
	for start := 0; start < len(ops); start += maxTxnOps {
		end := min(start+maxTxnOps, len(ops))
		resp, err := s.cli.Txn(ctx).Then(ops[start:end]...).Commit()
		if err != nil {
			return nil, nil, err
		}
		for k := 0; k+1 < len(resp.Responses); k += 2 {
			i := (start + k) / 2
			out[i], tokens[i] = claim.Resolve(specs[i], resp.Responses[k].GetResponseRange().GetKvs(),
				resp.Responses[k+1].GetResponseRange().GetKvs(), lease)
		}
	}
	for i, r := range batch {
		if out[i].State == claimWon && r.job.cfg.overlap == OverlapReplace {
			replace, err := s.runsToReplace(ctx, r)
			if err != nil {
				return nil, nil, err
			}
			out[i].Replace = replace
		}
	}
	return out, tokens, nil
}

// runsToReplace lists the running keys of r's job (unit) other than r's.
func (s *Scheduler) runsToReplace(ctx context.Context, r claimReq) ([]string, error) {
	resp, err := s.cli.Get(ctx, s.keys.RunningJob(r.job.name, r.unit), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, kv := range resp.Kvs {
		if k := string(kv.Key); k != s.runKey(r) {
			out = append(out, k)
		}
	}
	return out, nil
}

// claimAttemptTimeout bounds one claim request, so that a stuck connection
// (say, to an etcd member that is shutting down) costs a retry, not the
// tick.
const claimAttemptTimeout = time.Second

// claimRetrying claims a batch, retrying until deadline when a request
// fails: after each failure it reads back which ticks it holds and which
// are still open, and claims only the open ones again. Create-if-absent
// makes every retry safe. It returns each request's outcome and token; an
// error means some requests stayed unresolved (their state is claimOpen).
// fl is the batch's in-flight key (nil: none), put by every attempt.
func (s *Scheduler) claimRetrying(batch []claimReq, lease clientv3.LeaseID, deadline time.Time, fl *inflightBatch) ([]claimOutcome, []int64, error) {
	out := make([]claimOutcome, len(batch))
	tokens := make([]int64, len(batch))
	pending := make([]int, len(batch))
	for i := range pending {
		pending[i] = i
		out[i] = claimOutcome{State: claimOpen}
	}
	// The deadline is on the scheduler's clock; wait on the machine's.
	wallDeadline := time.Now().Add(deadline.Sub(s.cfg.clock.Now()))
	backoff := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		reqs := make([]claimReq, len(pending))
		for k, i := range pending {
			reqs[k] = batch[i]
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(claimAttemptTimeout, max(time.Until(wallDeadline), time.Millisecond)))
		res, token, err := s.claim(ctx, reqs, lease, fl)
		cancel()
		if err == nil {
			var lostRetry []int // a retry may lose to our own earlier attempt, committed late
			for k, i := range pending {
				out[i], tokens[i] = res[k], token
				if attempt > 1 && res[k].State == claimLost {
					lostRetry = append(lostRetry, i)
				}
			}
			if len(lostRetry) == 0 {
				return out, tokens, nil
			}
			err = fmt.Errorf("retried claims lost: reading back whether to our own earlier attempt")
			pending = lostRetry
			reqs = reqs[:0]
			for _, i := range pending {
				reqs = append(reqs, batch[i])
			}
		} else {
			s.counters.claimErrors.Add(1)
			s.log.Warn("claim request failed; reading back which ticks are ours", zap.Int("ticks", len(reqs)),
				zap.String("job", reqs[0].job.name), zap.Time("tick", reqs[0].tick), zap.Error(err))
			if errors.Is(err, rpctypes.ErrLeaseNotFound) {
				return out, tokens, err // the session is gone: nothing can be claimed on it
			}
		}
		rctx, rcancel := context.WithTimeout(context.Background(), claimAttemptTimeout)
		res, toks, rerr := s.resolveClaims(rctx, reqs, lease, fl)
		rcancel()
		if rerr == nil {
			var open []int
			for k, i := range pending {
				out[i], tokens[i] = res[k], toks[k]
				if res[k].State == claimOpen {
					open = append(open, i)
				}
			}
			if pending = open; len(pending) == 0 {
				return out, tokens, nil
			}
		}
		if time.Now().Add(backoff).After(wallDeadline) || s.stopping() {
			return out, tokens, fmt.Errorf("%d ticks unresolved: %w", len(pending), err)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}
