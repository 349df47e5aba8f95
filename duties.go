package distcron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// duties are the leader's housekeeping for one term: claim GC, lost-run
// detection, the misfire catch-up and request expiry. Firing never waits
// for them.
//
// Fencing. Every write of the duties is a transaction conditioned on the
// leadership this instance holds: its election key still exists with the
// create revision it campaigned with. A deposed leader (its lease expired
// while it was paused or cut off; a successor holds the election) finds
// that compare false, writes nothing, and ends its duties.
//
// Lost runs, once. The leaders share a cursor, duties/lost-cursor: the
// revision up to which registration deletes have been handled. A term
// watches registration deletes from the cursor on; for each it finds the
// runs the instance had in progress and, in one fenced transaction that
// also requires the cursor unchanged, moves the cursor past the delete and
// stores the re-run requests (RerunLost). Only when that transaction
// commits are the runs recorded lost. So a leader change neither replays a
// delete already handled (the cursor is past it) nor skips one (the cursor
// is not moved until the delete is handled); two leaders cannot both
// handle one delete (the cursor compare fails for the second).
//
// Restartable. Any watch error (compaction, no raft leader, a lost stream)
// ends the watch; the duties read the cursor again and watch again from
// it. When the history from the cursor on was compacted, the deletes in
// the compacted range cannot be examined: that is logged as an error and
// counted, and detection resumes at the compaction revision. The cursor is
// moved forward on watch progress notifications as well, so an idle
// cluster does not leave it behind the compaction.
type duties struct {
	s     *Scheduler
	sess  *concurrency.Session
	fence clientv3.Cmp
	// fromRev is where lost-run detection starts when there is no cursor
	// yet (the first leader of a namespace): the revision this instance
	// began to campaign at, so a predecessor's own death is covered.
	fromRev int64
	// cursor is the handled revision and cursorMod the cursor key's
	// ModRevision as this term last wrote or read it (0: no key).
	cursor, cursorMod int64
	// caught remembers the tick each MisfireRunOnce job was last checked
	// for, so each missed tick costs one transaction.
	caught map[string]time.Time
}

// dutyCallTimeout bounds each etcd call of the duties, so one hung call
// does not stall them for the rest of the term.
const dutyCallTimeout = 5 * time.Second

// errDeposed reports that a fenced write found this instance no longer
// leader.
var errDeposed = errors.New("distcron: no longer leader")

func newDuties(s *Scheduler, sess *concurrency.Session, e *concurrency.Election, fromRev int64) *duties {
	return &duties{
		s: s, sess: sess, fromRev: fromRev, caught: make(map[string]time.Time),
		fence: clientv3.Compare(clientv3.CreateRevision(e.Key()), "=", e.Rev()),
	}
}

// run does the duties until ctx ends, the session ends or the instance is
// found deposed.
func (d *duties) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-d.sess.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	lostDone := make(chan struct{})
	go func() {
		defer close(lostDone)
		if d.watchLostRuns(ctx) == errDeposed {
			cancel()
		}
	}()
	defer func() { <-lostDone }()

	s := d.s
	sweep := time.NewTicker(s.sweepInterval())
	defer sweep.Stop()
	second := time.NewTicker(time.Second)
	defer second.Stop()
	for {
		if err := d.catchUp(ctx); err == errDeposed {
			return
		}
		select {
		case <-sweep.C:
			if err := d.expireRequests(ctx); err == errDeposed {
				return
			}
		case <-second.C:
			// Claims go every second, a second's worth at a time: one range
			// delete of a longer stretch (6 s at the default retention,
			// 120,000 keys at 20,000 fires/s) holds etcd's apply loop,
			// and every claim behind it, for hundreds of milliseconds.
			n, err := d.gcClaims(ctx)
			switch {
			case err == errDeposed:
				return
			case err != nil && ctx.Err() == nil:
				s.logLimited("claim GC", zap.Error(err))
			case n > 0:
				s.log.Debug("claim GC", zap.Int64("deleted", n))
			}
		case <-ctx.Done():
			return
		}
	}
}

// fenced commits then as one transaction if this instance still leads;
// errDeposed if it does not.
func (d *duties) fenced(ctx context.Context, then ...clientv3.Op) (*clientv3.TxnResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, dutyCallTimeout)
	defer cancel()
	resp, err := d.s.cli.Txn(ctx).If(d.fence).Then(then...).Commit()
	if err != nil {
		return nil, err
	}
	if !resp.Succeeded {
		return nil, errDeposed
	}
	return resp, nil
}

// sweepInterval is how often the leader expires run requests and asks for
// progress on its watch of deletes (claims go every second).
func (s *Scheduler) sweepInterval() time.Duration {
	return min(max(s.cfg.claimRetention/10, time.Second), 30*time.Second)
}

// gcClaims deletes the claims of ticks older than the claim retention (by
// the leader's clock) in one range delete: claim keys start with the tick.
func (d *duties) gcClaims(ctx context.Context) (int64, error) {
	s := d.s
	cutoff := keys.Tick(s.cfg.clock.Now().Add(-s.cfg.claimRetention))
	resp, err := d.fenced(ctx, clientv3.OpDelete(s.keys.Claims(), clientv3.WithRange(s.keys.ClaimsBefore(cutoff))))
	if err != nil {
		return 0, err
	}
	return resp.Responses[0].GetResponseDeleteRange().GetDeleted(), nil
}

// requestExpiry is how long a run request may wait for an eligible
// instance before the leader deletes it.
const requestExpiry = 10 * time.Minute

// expireRequests deletes run requests nobody could take for requestExpiry
// (their job is registered nowhere, or no instance is eligible), and
// records each as skipped, so the request does not vanish unseen.
func (d *duties) expireRequests(ctx context.Context) error {
	s := d.s
	gctx, cancel := context.WithTimeout(ctx, dutyCallTimeout)
	resp, err := s.cli.Get(gctx, s.keys.Requests(), clientv3.WithPrefix())
	cancel()
	if err != nil {
		return err
	}
	now := s.cfg.clock.Now()
	cutoff := now.Add(-requestExpiry)
	for _, kv := range resp.Kvs {
		var req runRequest
		if json.Unmarshal(kv.Value, &req) != nil {
			continue
		}
		key := string(kv.Key)
		unchanged := clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)
		if req.TakenBy != "" {
			if req.Taken.Before(now.Add(-tombstoneTTL)) {
				if _, err := d.fenced(ctx, clientv3.OpTxn([]clientv3.Cmp{unchanged}, []clientv3.Op{clientv3.OpDelete(key)}, nil)); err != nil {
					return err
				}
			}
			continue
		}
		if req.NotBefore.Before(cutoff) {
			resp, err := d.fenced(ctx, clientv3.OpTxn([]clientv3.Cmp{unchanged}, []clientv3.Op{clientv3.OpDelete(key)}, nil))
			if err != nil {
				return err
			}
			if !resp.Responses[0].GetResponseTxn().GetSucceeded() {
				continue // taken meanwhile
			}
			s.log.Warn("run request expired untaken", zap.String("job", req.Job), zap.String("key", key))
			now := now.UTC()
			s.emit(logsink.Record{Job: req.Job, Tick: req.Tick.UTC(), Shard: req.Shard, Instance: s.cfg.instanceID,
				Trigger: req.Trigger, Attempt: max(req.Attempt, 1), Token: resp.Header.Revision, Started: now, Finished: now,
				Status: logsink.StatusSkipped, Error: fmt.Sprintf("run request expired: no eligible instance took it within %v", requestExpiry)})
		}
	}
	return nil
}

// catchUp applies MisfireRunOnce: for each such job registered here (not
// sharded, not broadcast, not paused), the newest tick whose age is within
// [catchUpAfter, starting deadline] gets one catch-up run if it is still
// unclaimed and the job ran before it (last/<job>, written by every claim of
// the job, holds an earlier tick). The checks and the request are one
// fenced transaction; the request takes the tick's claim when it runs, so
// it never runs beside a scheduled claim of that tick, and a backlog is
// never replayed. It works for any period: nothing depends on the claim
// retention.
func (d *duties) catchUp(ctx context.Context) error {
	s := d.s
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
		tick := newestTick(j.schedule, now.Add(-j.cfg.startDeadline), now.Add(-s.catchUpAfter()))
		if tick.IsZero() || d.caught[j.name].Equal(tick) || s.paused(j) {
			continue
		}
		r := claimReq{job: j, tick: tick}
		req := runRequest{Job: j.name, Tick: tick.UTC(), Trigger: logsink.TriggerCatchup, Attempt: 1,
			NotBefore: now.UTC(), Requested: now.UTC(), By: s.cfg.instanceID, Claim: true}
		v, _ := json.Marshal(req)
		reqKey := s.keys.Request(j.name, "catchup-"+r.tickKey())
		missed := []clientv3.Cmp{
			clientv3.Compare(clientv3.Value(s.keys.LastTick(j.name)), "<", r.tickKey()),
			clientv3.Compare(clientv3.CreateRevision(s.claimKey(r)), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(reqKey), "=", 0),
		}
		resp, err := d.fenced(ctx, clientv3.OpTxn(missed, []clientv3.Op{clientv3.OpPut(reqKey, string(v))}, nil))
		if err != nil {
			return err
		}
		d.caught[j.name] = tick
		if resp.Responses[0].GetResponseTxn().GetSucceeded() {
			s.log.Info("misfire: requesting one catch-up run", zap.String("job", j.name), zap.Time("tick", tick))
		}
	}
	return nil
}

// catchUpAfter is how old an unclaimed tick must be before the catch-up
// takes it: past the backups' claims, so a tick in flight is not taken.
func (s *Scheduler) catchUpAfter() time.Duration {
	return max(time.Second, 2*s.backupDelay())
}

// newestTick returns the last tick of sched in (from, to], or zero.
func newestTick(sched Schedule, from, to time.Time) time.Time {
	var last time.Time
	for t, i := sched.Next(from), 0; !t.IsZero() && !t.After(to) && i < 1_000_000; t, i = sched.Next(t), i+1 {
		last = t
	}
	return last
}

// cursorValue formats a revision for the cursor key.
func cursorValue(rev int64) string { return fmt.Sprintf("%020d", rev) }

// loadCursor reads the lost-run cursor (fenced: a deposed leader stops).
func (d *duties) loadCursor(ctx context.Context) error {
	resp, err := d.fenced(ctx, clientv3.OpGet(d.s.keys.LostCursor()))
	if err != nil {
		return err
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		// The first term of a namespace: store the cursor now, so a
		// successor starts here even if this term ends before its first
		// event (it might otherwise start after this leader's own death).
		d.cursor, d.cursorMod = d.fromRev-1, 0
		return d.advance(ctx, d.fromRev-1)
	}
	rev, err := strconv.ParseInt(string(kvs[0].Value), 10, 64)
	if err != nil {
		return fmt.Errorf("distcron: malformed lost-run cursor %q: %w", kvs[0].Value, err)
	}
	d.cursor, d.cursorMod = rev, kvs[0].ModRevision
	return nil
}

// advance moves the cursor to rev, with ops in the same transaction; it
// fails unless this instance leads and the cursor is as it last saw it.
func (d *duties) advance(ctx context.Context, rev int64, ops ...clientv3.Op) error {
	key := d.s.keys.LostCursor()
	unchanged := clientv3.Compare(clientv3.ModRevision(key), "=", d.cursorMod)
	then := append([]clientv3.Op{clientv3.OpPut(key, cursorValue(rev))}, ops...)
	ctx, cancel := context.WithTimeout(ctx, dutyCallTimeout)
	defer cancel()
	resp, err := d.s.cli.Txn(ctx).If(d.fence, unchanged).Then(then...).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return errDeposed // another leader moved the cursor, or we lost the election
	}
	d.cursor, d.cursorMod = rev, resp.Header.Revision
	return nil
}

// lostWatchBackoff spaces re-watches after errors.
const lostWatchBackoff = 500 * time.Millisecond

// watchLostRuns follows registration deletes from the cursor until ctx
// ends or the instance is deposed (errDeposed), re-reading the cursor and
// watching again after any error.
func (d *duties) watchLostRuns(ctx context.Context) error {
	s := d.s
	for ctx.Err() == nil {
		err := d.loadCursor(ctx)
		if err == nil {
			s.log.Debug("lost-run watch", zap.Int64("from_revision", d.cursor+1))
			wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
			wch := s.cli.Watch(wctx, s.keys.Instances(), clientv3.WithPrefix(), clientv3.WithRev(d.cursor+1),
				clientv3.WithFilterPut(), clientv3.WithPrevKV())
			err = d.followDeletes(wctx, wch)
			cancel()
		}
		if err == errDeposed {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		s.logLimited("lost-run watch ended; watching again from the cursor", zap.Error(err), zap.Int64("cursor", d.cursor))
		select {
		case <-time.After(lostWatchBackoff):
		case <-ctx.Done():
		}
	}
	return nil
}

// followDeletes handles the deletes wch delivers, asks for progress
// notifications now and then to move the cursor while nothing happens,
// and returns the error that ended the watch.
func (d *duties) followDeletes(wctx context.Context, wch clientv3.WatchChan) error {
	s := d.s
	progress := time.NewTicker(s.sweepInterval())
	defer progress.Stop()
	for {
		select {
		case resp, ok := <-wch:
			if !ok {
				return errors.New("watch closed")
			}
			if resp.CompactRevision != 0 {
				if !d.compacted(wctx) {
					return errors.New("watch ended as compacted, but etcd still has the history: watching again")
				}
				return d.skipCompacted(wctx, resp.CompactRevision)
			}
			if err := resp.Err(); err != nil {
				return err
			}
			if resp.IsProgressNotify() {
				if rev := resp.Header.Revision; rev > d.cursor {
					if err := d.advance(wctx, rev); err != nil {
						return err
					}
				}
				continue
			}
			for _, ev := range resp.Events {
				if err := d.handleDelete(wctx, ev); err != nil {
					return err
				}
			}
		case <-progress.C:
			_ = s.cli.RequestProgress(wctx) // answered on wch
		case <-wctx.Done():
			return wctx.Err()
		}
	}
}

// compacted reports whether etcd has really compacted the revision after
// the cursor: a watch can end compacted when the history is still there
// (a member that answered from an older state, a fault). When unsure (the
// read failed otherwise) it says no: the watch is tried again, and ends
// compacted again if it is.
func (d *duties) compacted(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, dutyCallTimeout)
	defer cancel()
	_, err := d.s.cli.Get(ctx, d.s.keys.Instances(), clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithRev(d.cursor+1))
	return errors.Is(err, rpctypes.ErrCompacted)
}

// skipCompacted moves the cursor over history that was compacted before
// it was examined, and says so loudly.
func (d *duties) skipCompacted(ctx context.Context, compactRev int64) error {
	s := d.s
	s.counters.lostUnchecked.Add(1)
	s.log.Error("lost-run detection: etcd history compacted before it was examined; instances that died in this range are not checked for lost runs",
		zap.Int64("from_revision", d.cursor+1), zap.Int64("to_revision", compactRev-1))
	if err := d.advance(ctx, compactRev-1); err != nil {
		return err
	}
	return rpctypes.ErrCompacted
}

// handleDelete handles one registration delete: the runs the instance had
// in progress just before it (on the registration's lease) are lost. They
// are recorded lost, and re-run with RerunLost, once the cursor moved past
// the delete (see duties).
func (d *duties) handleDelete(ctx context.Context, ev *clientv3.Event) error {
	s := d.s
	id := strings.TrimPrefix(string(ev.Kv.Key), s.keys.Instances())
	at := ev.Kv.ModRevision
	if id == s.cfg.instanceID {
		return d.advance(ctx, at) // our own registration: our runs go on
	}
	gctx, cancel := context.WithTimeout(ctx, dutyCallTimeout)
	defer cancel()
	resp, err := s.cli.Txn(gctx).Then(clientv3.OpGet(s.keys.Running(), clientv3.WithPrefix(), clientv3.WithRev(at-1)),
		clientv3.OpGet(s.keys.InflightOf(id), clientv3.WithPrefix(), clientv3.WithRev(at-1))).Commit()
	if err != nil {
		return d.unchecked(ctx, id, at, err)
	}
	var lease int64
	if ev.PrevKv != nil {
		lease = ev.PrevKv.Lease
	}
	onLease := func(kv *mvccpb.KeyValue) bool { return lease == 0 || kv.Lease == lease }
	var runs []runInProgress
	running := resp.Responses[0].GetResponseRange().GetKvs()
	for _, kv := range running {
		var rv runningValue
		if json.Unmarshal(kv.Value, &rv) == nil && rv.Instance == id && onLease(kv) {
			runs = append(runs, runInProgress{key: string(kv.Key), rv: rv, token: kv.CreateRevision})
		}
	}
	var batches []*mvccpb.KeyValue
	for _, kv := range resp.Responses[1].GetResponseRange().GetKvs() {
		if onLease(kv) {
			batches = append(batches, kv)
		}
	}
	listed, err := s.inflightRuns(gctx, batches, at-1)
	if err != nil {
		return d.unchecked(ctx, id, at, err)
	}
	runs = append(runs, listed...)
	now := s.cfg.clock.Now().UTC()
	var recs []logsink.Record
	var ops []clientv3.Op
	seen := make(map[string]bool)
	for _, run := range runs {
		rec, rerun := s.lostRun(run, id, now)
		recs = append(recs, rec)
		if rerun != nil {
			v, _ := json.Marshal(rerun)
			key := s.keys.Request(rerun.Job, retryID(rerun.Unit, rerun.claimReq(nil).runID(), rerun.Attempt))
			if seen[key] {
				continue // one transaction may not put a key twice
			}
			seen[key] = true
			ops = append(ops, clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)},
				[]clientv3.Op{clientv3.OpPut(key, string(v))}, nil))
		}
	}
	// Re-run requests beyond one transaction's room go in advances of
	// their own (rare: a crash with hundreds of RerunLost runs).
	for len(ops) > maxTxnOps-1 {
		if err := d.commitLost(ctx, at-1, ops[:maxTxnOps-1]); err != nil {
			return err
		}
		ops = ops[maxTxnOps-1:]
	}
	if err := d.commitLost(ctx, at, ops); err != nil {
		return err
	}
	s.log.Debug("registration deleted", zap.String("runner", id), zap.Int64("revision", at),
		zap.Int64("lease", lease), zap.Int("running_keys", len(running)), zap.Int("inflight_keys", len(batches)), zap.Int("lost", len(recs)))
	for _, rec := range recs {
		s.log.Warn("run lost", zap.String("job", rec.Job), zap.Time("tick", rec.Tick), zap.String("runner", id))
		s.emit(rec)
		s.notify(rec)
	}
	return nil
}

// unchecked handles a read of a deleted registration's runs that failed
// with err: history compacted before it was examined is skipped, loudly;
// any other error is returned (the delete is handled again).
func (d *duties) unchecked(ctx context.Context, id string, at int64, err error) error {
	if !errors.Is(err, rpctypes.ErrCompacted) {
		return err
	}
	d.s.counters.lostUnchecked.Add(1)
	d.s.log.Error("lost-run detection: history compacted before it was examined; not checking this instance's runs",
		zap.String("runner", id), zap.Int64("revision", at))
	return d.advance(ctx, at)
}

// commitLost moves the cursor to rev with ops. An ambiguous failure is
// read back: the cursor at rev (or beyond) under our leadership means it
// committed.
func (d *duties) commitLost(ctx context.Context, rev int64, ops []clientv3.Op) error {
	err := d.advance(ctx, rev, ops...)
	if err == nil || err == errDeposed || ctx.Err() != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimAttemptTimeout)
	defer cancel()
	resp, rerr := d.fenced(rctx, clientv3.OpGet(d.s.keys.LostCursor()))
	if rerr != nil {
		return errors.Join(err, rerr)
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 1 && string(kvs[0].Value) >= cursorValue(rev) {
		d.cursor, d.cursorMod = rev, kvs[0].ModRevision
		return nil
	}
	return err // not applied: the watch restarts from the cursor and sees the delete again
}

// lostRun is the record of a run of a deleted registration (id) and, for
// RerunLost jobs, the request of its next attempt.
func (s *Scheduler) lostRun(run runInProgress, id string, now time.Time) (logsink.Record, *runRequest) {
	rv := run.rv
	job := keys.JobOf(s.keys.Running(), run.key)
	attempt := max(rv.Attempt, 1)
	rec := logsink.Record{Job: job, Tick: rv.Tick.UTC(), Shard: rv.Shard, Instance: id, Trigger: rv.Trigger,
		Attempt: attempt, Token: run.token, Started: rv.Claimed, Finished: now,
		Duration: now.Sub(rv.Claimed), Status: logsink.StatusLost,
		Error: fmt.Sprintf("instance %s lost its etcd lease while running (crashed, paused or cut off)", id)}
	rerun := rv.RerunLost
	if !rerun {
		s.mu.Lock()
		j := s.jobs[job]
		s.mu.Unlock()
		rerun = j != nil && j.cfg.rerunLost
	}
	if !rerun {
		return rec, nil
	}
	return rec, &runRequest{Job: job, Tick: rv.Tick.UTC(), Shard: rv.Shard, Unit: rv.Unit, Run: rv.Run,
		Trigger: logsink.TriggerRetry, Attempt: attempt + 1, NotBefore: now, Requested: now, By: s.cfg.instanceID}
}
