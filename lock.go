package distcron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// maxTxnOps is etcd's default --max-txn-ops: the most operations one level
// of a transaction may hold. etcd also charges nested transactions against
// it: a nested Txn may hold at most maxTxnOps minus the operations of the
// levels above it.
const maxTxnOps = 128

// claimDepthOps is the most operations on any path through one nested claim
// (Allow: 2; Forbid: 1 then 2; Replace: 3; one more for MisfireRunOnce jobs,
// which also record their last claimed tick).
const claimDepthOps = 4

// maxClaimBatch is how many ticks one claim transaction carries.
const maxClaimBatch = maxTxnOps - claimDepthOps

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

// claimState is what the claim transaction decided for one request.
type claimState int

const (
	claimLost    claimState = iota // another instance claimed this tick
	claimWon                       // this instance runs the tick
	claimSkipped                   // won, but overlap Forbid found a run in progress
	claimOpen                      // (read back after a failed request) nobody holds the tick yet
)

// claimOutcome is the decision for one request; for OverlapReplace it also
// lists the running keys of the job that the new run must replace.
type claimOutcome struct {
	state   claimState
	replace []string
	reason  string // why a skipped claim was not run, when not overlap Forbid
}

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

// claimOp builds the nested transaction that claims one tick: create
// claims/<tick>/<job> if it does not exist, and with it the running key,
// attached to the session lease. An instance whose lease has expired cannot
// claim at all, so a process paused past its TTL cannot slip a late claim
// through; claims are kept (WithClaimRetention) far longer than the TTL plus
// the misfire grace plus any clock skew, so a claim sent late always finds
// the key and loses.
func (s *Scheduler) claimOp(r claimReq, lease clientv3.LeaseID, now time.Time) clientv3.Op {
	claimKey := s.claimKey(r)
	claimed := []clientv3.Op{clientv3.OpPut(claimKey, s.claimValue(lease))}
	if r.job.cfg.misfire == MisfireRunOnce && r.unit == "" {
		// The catch-up after an outage needs to know the job ran before.
		claimed = append(claimed, clientv3.OpPut(s.keys.LastTick(r.job.name), r.tickKey()))
	}
	putRun := clientv3.OpPut(s.runKey(r), s.runningValue(r, now), clientv3.WithLease(lease))
	win := append(claimed[:len(claimed):len(claimed)], putRun)
	switch r.job.cfg.overlap {
	case OverlapForbid:
		// Claim either way; start only if no run of the job is in progress.
		idle := clientv3.Compare(clientv3.CreateRevision(s.keys.RunningJob(r.job.name, r.unit)), "=", 0).WithPrefix()
		win = []clientv3.Op{clientv3.OpTxn([]clientv3.Cmp{idle}, win, claimed)}
	case OverlapReplace:
		// Learn which runs are in progress, to stop them before starting.
		win = append([]clientv3.Op{clientv3.OpGet(s.keys.RunningJob(r.job.name, r.unit), clientv3.WithPrefix(), clientv3.WithKeysOnly())}, win...)
	}
	return clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(claimKey), "=", 0)}, win, nil)
}

// claim sends one transaction for up to maxClaimBatch requests and reports
// the outcome of each, plus the revision of the transaction: the fencing
// token of every run it claimed.
func (s *Scheduler) claim(ctx context.Context, reqs []claimReq, lease clientv3.LeaseID) ([]claimOutcome, int64, error) {
	if len(reqs) > maxClaimBatch {
		return nil, 0, fmt.Errorf("distcron: claim batch of %d exceeds %d", len(reqs), maxClaimBatch)
	}
	now := s.cfg.clock.Now()
	ops := make([]clientv3.Op, len(reqs))
	for i, r := range reqs {
		ops[i] = s.claimOp(r, lease, now)
	}
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, 0, err
	}
	out := make([]claimOutcome, len(reqs))
	for i, r := range resp.Responses {
		out[i] = claimResult(r.GetResponseTxn(), reqs[i].job.cfg.overlap)
	}
	return out, resp.Header.Revision, nil
}

// claimResult reads one nested claim transaction's response.
func claimResult(t *pb.TxnResponse, overlap OverlapPolicy) claimOutcome {
	if t == nil || !t.Succeeded {
		return claimOutcome{state: claimLost}
	}
	switch overlap {
	case OverlapForbid:
		if len(t.Responses) == 0 || !t.Responses[0].GetResponseTxn().GetSucceeded() {
			return claimOutcome{state: claimSkipped}
		}
	case OverlapReplace:
		var running []string
		if len(t.Responses) > 0 {
			for _, kv := range t.Responses[0].GetResponseRange().GetKvs() {
				running = append(running, string(kv.Key))
			}
		}
		return claimOutcome{state: claimWon, replace: running}
	}
	return claimOutcome{state: claimWon}
}

// resolveClaims reads back the keys of a batch whose claim request failed
// in a way that leaves its fate unknown (the transaction may have committed
// with its answer lost). A tick is ours iff its running key exists on our
// lease (its create revision is the token); a tick whose claim names this
// session but has no run key on our lease was skipped (Forbid) or lost its
// lease before the start; a tick whose claim key is absent is still open
// and may be claimed again.
func (s *Scheduler) resolveClaims(ctx context.Context, batch []claimReq, lease clientv3.LeaseID) ([]claimOutcome, []int64, error) {
	ops := make([]clientv3.Op, 0, 2*len(batch))
	for _, r := range batch {
		ops = append(ops, clientv3.OpGet(s.runKey(r)), clientv3.OpGet(s.claimKey(r)))
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
			run := resp.Responses[k].GetResponseRange().GetKvs()
			claim := resp.Responses[k+1].GetResponseRange().GetKvs()
			switch {
			case len(run) == 1 && clientv3.LeaseID(run[0].Lease) == lease:
				out[i], tokens[i] = claimOutcome{state: claimWon}, run[0].CreateRevision
			case len(claim) == 0:
				out[i] = claimOutcome{state: claimOpen}
			case string(claim[0].Value) == s.claimValue(lease) && batch[i].job.cfg.overlap == OverlapForbid && len(run) == 0:
				out[i], tokens[i] = claimOutcome{state: claimSkipped}, claim[0].CreateRevision
			case string(claim[0].Value) == s.claimValue(lease):
				// Ours, but the running key is gone with our lease: the tick
				// is claimed and nobody else may run it; record why it did not run.
				out[i], tokens[i] = claimOutcome{state: claimSkipped, reason: "claimed, but the instance's lease expired before the start"}, claim[0].CreateRevision
			}
		}
	}
	// A won Replace claim must still stop the runs it replaces.
	for i, r := range batch {
		if out[i].state == claimWon && r.job.cfg.overlap == OverlapReplace {
			resp, err := s.cli.Get(ctx, s.keys.RunningJob(r.job.name, r.unit), clientv3.WithPrefix(), clientv3.WithKeysOnly())
			if err != nil {
				return nil, nil, err
			}
			for _, kv := range resp.Kvs {
				if k := string(kv.Key); k != s.runKey(r) {
					out[i].replace = append(out[i].replace, k)
				}
			}
		}
	}
	return out, tokens, nil
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
func (s *Scheduler) claimRetrying(batch []claimReq, lease clientv3.LeaseID, deadline time.Time) ([]claimOutcome, []int64, error) {
	out := make([]claimOutcome, len(batch))
	tokens := make([]int64, len(batch))
	pending := make([]int, len(batch))
	for i := range pending {
		pending[i] = i
		out[i] = claimOutcome{state: claimOpen}
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
		res, token, err := s.claim(ctx, reqs, lease)
		cancel()
		if err == nil {
			var lostRetry []int // a retry may lose to our own earlier attempt, committed late
			for k, i := range pending {
				out[i], tokens[i] = res[k], token
				if attempt > 1 && res[k].state == claimLost {
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
		res, toks, rerr := s.resolveClaims(rctx, reqs, lease)
		rcancel()
		if rerr == nil {
			var open []int
			for k, i := range pending {
				out[i], tokens[i] = res[k], toks[k]
				if res[k].state == claimOpen {
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
