package distcron

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// runRequest asks for one run outside the schedule: a manual trigger, a
// retry, a chained run, a misfire catch-up or the re-run of a lost run. It
// is stored at control/requests/<job>/<id>, where id is deterministic (a
// retry's run and attempt, a chained run's parent), so a request is made
// at most once however often it is asked for.
//
// A request is claimed like a tick: one transaction deletes it (compared on
// the ModRevision the claimant saw) and creates the run's running key on
// the claimant's lease; exactly one instance can do that. An ambiguous
// answer is read back: the run is this instance's iff its running key is
// on this instance's lease. Pause and the overlap policy apply as to
// scheduled ticks.
type runRequest struct {
	Job     string          `json:"job"`
	Tick    time.Time       `json:"tick"`
	Shard   int             `json:"shard"`
	Unit    string          `json:"unit,omitempty"`
	Run     string          `json:"run,omitempty"` // the run id (see claimReq.runID); "" means the tick
	Trigger logsink.Trigger `json:"trigger"`
	Attempt int             `json:"attempt"`
	// NotBefore is when the request comes due (a retry's backoff).
	NotBefore time.Time `json:"not_before"`
	Requested time.Time `json:"requested"`
	By        string    `json:"by"`
	// Claim makes the run also take the tick's claim key (catch-up runs),
	// so it can never run beside a scheduled claim of the same tick.
	Claim bool `json:"claim,omitempty"`
	// TakenBy and Taken mark a tombstone: the request was claimed by that
	// claimant ("<instance> <lease hex>") at that time (see tombstone).
	TakenBy string    `json:"taken_by,omitempty"`
	Taken   time.Time `json:"taken,omitempty"`

	key    string
	modRev int64
}

// tombstoneTTL is how long a claimed request's tombstone is kept before
// the leader deletes it: far longer than any retry of the put that made it.
const tombstoneTTL = 10 * time.Minute

// tombstone reports whether claiming q leaves a tombstone in its place
// instead of deleting it. Requests stored by requestAsync (retries and
// chained runs, under deterministic ids) do: a put retried after a lost
// answer must find the request taken, not absent, or it would make it
// again. Manual and catch-up requests are deleted: Trigger coalesces on
// their absence, and a catch-up's own claim key excludes a second run.
func (q *runRequest) tombstone() bool {
	return q.Trigger != logsink.TriggerManual && q.Trigger != logsink.TriggerCatchup
}

// consumeOp is the operation that takes q for the claimant claimedBy.
func (q *runRequest) consumeOp(claimedBy string, now time.Time) clientv3.Op {
	if !q.tombstone() {
		return clientv3.OpDelete(q.key)
	}
	t := *q
	t.TakenBy, t.Taken = claimedBy, now.UTC()
	v, _ := json.Marshal(t)
	return clientv3.OpPut(q.key, string(v))
}

// takenBy reads who took the request whose current value is kvs (empty:
// absent, or not taken).
func takenBy(kvs []*mvccpb.KeyValue) string {
	if len(kvs) != 1 {
		return ""
	}
	var q runRequest
	if json.Unmarshal(kvs[0].Value, &q) != nil {
		return ""
	}
	return q.TakenBy
}

// claimReq is the run the request asks for, of job j.
func (q *runRequest) claimReq(j *job) claimReq {
	r := claimReq{job: j, tick: q.Tick, unit: q.Unit, shard: q.Shard, trigger: q.Trigger, attempt: max(q.Attempt, 1), run: q.Run}
	if r.run == "" && r.trigger == logsink.TriggerManual {
		r.run = manualMark + r.tickKey() // requests stored before run ids existed
	}
	return r
}

// manualMark starts the run id of manual runs, so Trigger can tell one in
// progress from the running keys.
const manualMark = "m"

// Trigger asks the cluster to run the job once, now; the record says
// trigger=manual and its tick is the request time. A plain job runs on
// exactly one eligible instance; a Sharded job runs every shard once, each
// on one instance; a Broadcast job runs once on every eligible instance.
// Pause and the overlap policy apply as to scheduled ticks: Trigger on a
// paused job returns ErrPaused, a Forbid job with a run in progress
// records the manual run as skipped, and Replace stops the runs in
// progress first.
//
// A Trigger coalesces with a manual request of the job that is still
// pending, and, for jobs that are neither sharded nor broadcast, with a
// manual run still in progress, so concurrent calls from several instances
// cause one run. It returns once the request is stored, not when the run
// happens; a request no instance can take expires after ten minutes.
func (s *Scheduler) Trigger(ctx context.Context, name string) error {
	_, err := s.trigger(ctx, name)
	return err
}

// trigger is Trigger; it returns the revision at which the request was
// stored (or found coalesced).
func (s *Scheduler) trigger(ctx context.Context, name string) (int64, error) {
	if err := s.knownJob(ctx, name); err != nil {
		return 0, err
	}
	s.mu.Lock()
	j := s.jobs[name]
	s.mu.Unlock()
	if j != nil && j.defPaused {
		return 0, fmt.Errorf("%w: %q (by its definition)", ErrPaused, name)
	}
	now := s.cfg.clock.Now().UTC().Truncate(time.Millisecond)
	req := runRequest{Job: name, Tick: now, Run: manualMark + keys.Tick(now), Trigger: logsink.TriggerManual, Attempt: 1,
		NotBefore: now, Requested: now, By: s.cfg.instanceID}
	v, _ := json.Marshal(req)
	pausedKey := s.keys.PausedJob(name)
	resp, err := s.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(s.keys.Request(name, "manual")), "=", 0).WithPrefix(),
		clientv3.Compare(clientv3.CreateRevision(s.keys.RunningJob(name)+manualMark), "=", 0).WithPrefix(),
		clientv3.Compare(clientv3.CreateRevision(pausedKey), "=", 0),
	).Then(clientv3.OpPut(s.keys.Request(name, "manual"), string(v))).
		Else(clientv3.OpGet(pausedKey, clientv3.WithCountOnly())).Commit()
	if err != nil {
		return 0, fmt.Errorf("distcron: trigger %q: %w", name, err)
	}
	if !resp.Succeeded && resp.Responses[0].GetResponseRange().GetCount() > 0 {
		return 0, fmt.Errorf("%w: %q", ErrPaused, name)
	}
	return resp.Header.Revision, nil
}

// putRequest stores a run request under id unless one with that id exists.
func (s *Scheduler) putRequest(ctx context.Context, req runRequest, id string) error {
	v, err := json.Marshal(req)
	if err != nil {
		return err
	}
	key := s.keys.Request(req.Job, id)
	_, err = s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(v))).Commit()
	return err
}

// requestAsync stores a request from a run's goroutine, bounded in time.
// The request is idempotent, so an ambiguous failure is retried.
func (s *Scheduler) requestAsync(req runRequest, id string) {
	deadline := time.Now().Add(s.cfg.sessionTTL)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), min(time.Until(deadline), claimAttemptTimeout))
		err := s.putRequest(ctx, req, id)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.log.Error("store run request: giving up", zap.String("job", req.Job), zap.String("request", id), zap.Error(err))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serveRequests claims and runs pending run requests this instance can
// take: the job is registered and eligible here, the request is due, there
// is a session and spare capacity. It wakes on new requests, on runs ending
// (capacity) and when the next request comes due.
func (s *Scheduler) serveRequests() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-s.control.kick:
		case <-timer.C:
		case <-s.bgCtx.Done():
			return
		}
		next := s.claimRequests()
		timer.Reset(max(next, time.Millisecond))
	}
}

// claimRequests tries every due request once and returns how long until
// the next one comes due (or until a failed one is tried again).
func (s *Scheduler) claimRequests() time.Duration {
	now := s.cfg.clock.Now()
	wait := time.Hour
	s.control.mu.Lock()
	var due []*runRequest
	for key, r := range s.control.requests {
		if d := r.NotBefore.Sub(now); d > 0 {
			wait = min(wait, d)
			continue
		}
		if _, ok := s.control.unresolved[key]; !ok {
			due = append(due, r)
		}
	}
	for _, r := range s.control.unresolved {
		due = append(due, r)
	}
	s.control.mu.Unlock()
	slices.SortFunc(due, func(a, b *runRequest) int { return a.NotBefore.Compare(b.NotBefore) })
	sess := s.sess.get()
	if sess == nil || s.stopping() {
		return min(wait, time.Second)
	}
	for _, r := range due {
		s.mu.Lock()
		j := s.jobs[r.Job]
		s.mu.Unlock()
		if j == nil || !j.eligible || j.refused != nil {
			s.control.mu.Lock()
			delete(s.control.unresolved, r.key) // not ours to run any more; a key of ours goes with the lease
			s.control.mu.Unlock()
			continue // another instance may take it; the leader expires stale ones
		}
		if strings.HasPrefix(r.Unit, "i") && r.Unit != "i"+s.cfg.instanceID {
			continue // one instance's run of a broadcast job
		}
		if limit := s.cfg.maxConcurrent; limit > 0 && s.occupied.Load() >= int64(limit) {
			return min(wait, time.Second) // a run ending kicks us again
		}
		resolved := s.claimRequest(sess.Lease(), j, r)
		s.control.mu.Lock()
		if resolved {
			delete(s.control.unresolved, r.key)
		} else {
			// Keep it even if the watch reports it gone: it may be gone
			// because our own claim committed, and then the run is ours.
			s.control.unresolved[r.key] = r
			wait = min(wait, 200*time.Millisecond)
		}
		s.control.mu.Unlock()
	}
	return wait
}

// claimRequest takes one request and starts its run if this instance won
// it. It reports false when it could not learn the outcome: the request is
// then kept among the unresolved ones and tried again, and the retry's
// transaction finds our running key if an earlier attempt did commit.
func (s *Scheduler) claimRequest(lease clientv3.LeaseID, j *job, req *runRequest) bool {
	// Stop waits for claimWG before it gives up on runs: a request claimed
	// here either starts its run before that or is recorded as skipped.
	s.mu.Lock()
	if s.state != stateStarted {
		s.mu.Unlock()
		return true
	}
	s.claimWG.Add(1)
	s.mu.Unlock()
	defer s.claimWG.Done()

	if req.Unit == "" && (j.cfg.shards > 0 || j.cfg.broadcast) {
		return s.fanOutRequest(j, req)
	}
	r := req.claimReq(j)
	ctx, cancel := context.WithTimeout(s.bgCtx, claimAttemptTimeout)
	defer cancel()
	if s.paused(j) {
		// Consumed, not run: like a paused tick, but recorded, since someone asked.
		resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(req.key), "=", req.modRev)).
			Then(req.consumeOp(s.claimValue(lease), s.cfg.clock.Now())).Commit()
		if err != nil {
			return false
		}
		if resp.Succeeded {
			s.forgetRequest(req)
			s.emitSkipped(r, resp.Header.Revision, "requested run of a paused job")
		}
		return true
	}
	// Only a request whose earlier claim was ambiguous may be found won on
	// a later look: a copy read before our own claim committed (a reload
	// of control/) must not start the run a second time.
	s.control.mu.Lock()
	_, retrying := s.control.unresolved[req.key]
	s.control.mu.Unlock()
	s.occupied.Add(1)
	out, token, err := s.claimRequestTxn(ctx, lease, r, req, retrying)
	if err != nil {
		// Ambiguous: the claim may have committed with its answer lost.
		out, token, err = s.readBackRequest(ctx, lease, r, req)
	}
	if err == nil && out.State == claimWon && s.owner.has(s.runKey(r)) {
		out = claimOutcome{State: claimLost} // already running here
	}
	if err != nil {
		s.occupied.Add(-1)
		s.counters.claimErrors.Add(1)
		s.logLimited("claim run request: outcome unknown, will read back again", zap.String("job", req.Job), zap.Error(err))
		return false
	}
	switch out.State {
	case claimWon:
		s.forgetRequest(req)
		s.counters.claimsWon.Add(1)
		s.startRun(r, token, lease, out.Replace, nil, nil)
		return true
	case claimSkipped:
		s.forgetRequest(req)
		s.occupied.Add(-1)
		s.emitSkipped(r, token, out.Reason)
	case claimOpen:
		s.occupied.Add(-1)
		return false // not applied: try again
	default:
		s.occupied.Add(-1)
	}
	return true
}

// claimRequestTxn sends the claim of one request: delete it if it is the
// version we saw, and create the run's running key on lease; for catch-up
// runs also create the tick's claim key. Forbid runs only if no run of the
// job (unit) is in progress; Replace learns the runs it must stop.
func (s *Scheduler) claimRequestTxn(ctx context.Context, lease clientv3.LeaseID, r claimReq, req *runRequest, retrying bool) (claimOutcome, int64, error) {
	runKey := s.runKey(r)
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(req.key), "=", req.modRev)}
	then := []clientv3.Op{req.consumeOp(s.claimValue(lease), s.cfg.clock.Now())}
	if req.Claim {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(s.claimKey(r)), "=", 0))
		then = append(then, clientv3.OpPut(s.claimKey(r), s.claimValue(lease)))
		if r.job.cfg.misfire == MisfireRunOnce && r.unit == "" {
			then = append(then, clientv3.OpPut(s.keys.LastTick(r.job.name), r.tickKey()))
		}
	}
	putRun := clientv3.OpPut(runKey, s.runningValue(r, s.cfg.clock.Now()), clientv3.WithLease(lease))
	jobRuns := s.keys.RunningJob(r.job.name, r.unit)
	switch r.job.cfg.overlap {
	case OverlapForbid:
		idle := clientv3.Compare(clientv3.CreateRevision(jobRuns), "=", 0).WithPrefix()
		then = append(then, clientv3.OpTxn([]clientv3.Cmp{idle}, []clientv3.Op{putRun}, nil))
	case OverlapReplace:
		then = append([]clientv3.Op{clientv3.OpGet(jobRuns, clientv3.WithPrefix(), clientv3.WithKeysOnly())}, append(then, putRun)...)
	default:
		then = append(then, putRun)
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(then...).Else(
		clientv3.OpGet(runKey),
		clientv3.OpGet(req.key),
	).Commit()
	if err != nil {
		return claimOutcome{}, 0, err
	}
	if !resp.Succeeded {
		run, cur := resp.Responses[0].GetResponseRange().GetKvs(), resp.Responses[1].GetResponseRange().GetKvs()
		if retrying {
			if out, token, known := s.ownOutcome(ctx, lease, r, run, cur); known {
				return out, token, nil
			}
		}
		if req.Claim && len(cur) == 1 && cur[0].ModRevision == req.modRev {
			// The tick was claimed by the schedule meanwhile: drop the catch-up.
			_, _ = s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(req.key), "=", req.modRev)).
				Then(clientv3.OpDelete(req.key)).Commit()
		}
		return claimOutcome{State: claimLost}, 0, nil
	}
	out := claimOutcome{State: claimWon}
	switch r.job.cfg.overlap {
	case OverlapForbid:
		if !resp.Responses[len(resp.Responses)-1].GetResponseTxn().GetSucceeded() {
			out = claimOutcome{State: claimSkipped, Reason: "overlap forbid: a run of this job is in progress"}
		}
	case OverlapReplace:
		for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
			out.Replace = append(out.Replace, string(kv.Key))
		}
	}
	return out, resp.Header.Revision, nil
}

// readBackRequest learns the outcome of a request claim whose answer was
// lost: won iff the run's key is on our lease; not applied iff the request
// is still there, unchanged (claimOpen); otherwise taken (claimLost; this
// includes our own Forbid skip, which leaves nothing to find).
func (s *Scheduler) readBackRequest(ctx context.Context, lease clientv3.LeaseID, r claimReq, req *runRequest) (claimOutcome, int64, error) {
	rctx, cancel := context.WithTimeout(context.Background(), claimAttemptTimeout)
	defer cancel()
	resp, err := s.cli.Txn(rctx).Then(clientv3.OpGet(s.runKey(r)), clientv3.OpGet(req.key)).Commit()
	if err != nil {
		return claimOutcome{}, 0, err
	}
	run, cur := resp.Responses[0].GetResponseRange().GetKvs(), resp.Responses[1].GetResponseRange().GetKvs()
	if out, token, known := s.ownOutcome(rctx, lease, r, run, cur); known {
		return out, token, nil
	}
	if len(cur) == 1 && cur[0].ModRevision == req.modRev {
		return claimOutcome{State: claimOpen}, 0, nil
	}
	return claimOutcome{State: claimLost}, 0, nil
}

// ownOutcome tells from the run's key and the request's current value
// whether this instance's own claim of the request committed: won if the
// running key is on our lease, skipped if the request's tombstone names us
// but no run key does (Forbid, or paused).
func (s *Scheduler) ownOutcome(ctx context.Context, lease clientv3.LeaseID, r claimReq, run, cur []*mvccpb.KeyValue) (claimOutcome, int64, bool) {
	if len(run) == 1 && clientv3.LeaseID(run[0].Lease) == lease {
		out, token, err := s.wonRequest(ctx, r, run[0].CreateRevision)
		return out, token, err == nil
	}
	if takenBy(cur) == s.claimValue(lease) {
		return claimOutcome{State: claimSkipped, Reason: "claimed by this instance but not run (overlap forbid: a run of this job was in progress)"}, cur[0].ModRevision, true
	}
	return claimOutcome{}, 0, false
}

// wonRequest is the outcome of a request found won on read-back: for
// Replace it lists the other runs of the job (unit) to stop.
func (s *Scheduler) wonRequest(ctx context.Context, r claimReq, token int64) (claimOutcome, int64, error) {
	out := claimOutcome{State: claimWon}
	if r.job.cfg.overlap == OverlapReplace {
		replace, err := s.runsToReplace(ctx, r)
		if err != nil {
			return claimOutcome{}, 0, err
		}
		out.Replace = replace
	}
	return out, token, nil
}

// fanOutRequest replaces a request for a sharded or broadcast job by one
// request per unit (each shard; each eligible instance), in one
// transaction conditioned on the request being unchanged, so it fans out
// once. It reports false when etcd did not answer.
//
// A broadcast fans out to the instances registered when it fans out, read
// from etcd, not to this instance's watched view, which can lag an
// instance that has just started.
func (s *Scheduler) fanOutRequest(j *job, req *runRequest) bool {
	ctx, cancel := context.WithTimeout(s.bgCtx, claimAttemptTimeout)
	defer cancel()
	var units []string
	if j.cfg.broadcast {
		resp, err := s.cli.Get(ctx, s.keys.Instances(), clientv3.WithPrefix())
		if err != nil {
			return false
		}
		var now membership
		for _, kv := range resp.Kvs {
			now.set(string(kv.Key), kv, s.keys.Instances())
		}
		for _, id := range now.eligible(s.cfg.instanceID, j) {
			units = append(units, "i"+id)
		}
	} else {
		for i := range j.cfg.shards {
			units = append(units, fmt.Sprintf("s%d", i))
		}
	}
	id := strings.TrimPrefix(req.key, s.keys.Requests()+j.name+"/")
	ops := []clientv3.Op{clientv3.OpDelete(req.key)}
	for i, u := range units {
		q := *req
		q.Unit = u
		if !j.cfg.broadcast {
			q.Shard = i
		}
		v, _ := json.Marshal(q)
		ops = append(ops, clientv3.OpPut(s.keys.Request(j.name, id+"-"+u), string(v)))
	}
	_, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(req.key), "=", req.modRev)).Then(ops...).Commit()
	if err != nil {
		return false // applied or not, the watch tells: the request is gone or still there
	}
	return true
}

// forgetRequest drops a request this instance took from its pending view
// (the watch would too, a moment later).
func (s *Scheduler) forgetRequest(req *runRequest) {
	s.control.mu.Lock()
	if cur := s.control.requests[req.key]; cur == req {
		delete(s.control.requests, req.key)
	}
	s.control.mu.Unlock()
}
