package distcron

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/internal/claim"
	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// In-flight keys: one key per claim batch instead of one per run.
//
// A scheduled run of an OverlapAllow job has no running key of its own:
// nothing reads one for overlap, so it would cost etcd two writes per fire
// (its put and its delete) for what one key per batch can say. The claim
// transaction of a batch puts inflight/<instance>/<lease>.<seq> on the
// session lease, beside the claims, listing every such run the batch asks
// for. The key is this instance's alone: its name holds the instance id,
// the lease it was first put on and a sequence number, so no other
// instance, and no later process with the same id, ever writes it.
//
// What an entry means depends on Checked:
//   - Unchecked (the value the claim transaction put): the batch asked for
//     the run. It is in progress (or about to start) only if the run's claim
//     key holds the batch's claim value; else a peer won the tick.
//   - Checked (a later rewrite by the owner): every entry is a run this
//     instance won that has not ended, with its token.
//
// Only runOwner rewrites or deletes the key, always in a transaction
// conditioned on the key still being on the lease this instance last put it
// on (like running keys). Once the claims are resolved it rewrites the key
// with the won runs (Checked) if any was not won, removes each run as it
// ends (rewrite, or delete once none is left) and, for a batch whose runs
// outlast inflightCheckAfter, rewrites it Checked: its claim keys may then
// be deleted by the claims' retention (never sooner than the session TTL
// plus 11 s after the claim), after which an unchecked entry could no
// longer be told from a tick lost to a peer. The rewrites and deletes wait
// inflightSettle after the first of them is queued, and go together in
// one transaction, so a batch whose runs end within it costs one delete:
// 1 + 2/batch key writes per fire. So an ended run stays listed up to
// inflightSettle plus one request after its end, where a running key
// stays one request: an instance that dies in that window has the run
// recorded lost (and re-run under RerunLost, whose doc already warns that
// it can duplicate work), as it would had it died just before the end.
//
// Readers (lost-run detection, Running, KillRun, Kill) take an entry as a
// run in progress iff the key is on the registration's lease and the entry
// is Checked, or its claim key, read at the same revision, holds the
// batch's claim value. A paused or deposed instance cannot break this: its
// key goes with its lease, and its conditional rewrites do not apply to a
// key on another lease. An entry that a reader takes for a run that in
// fact ended is the same window running keys had between the end and the
// delete.
//
// Forbid and Replace read running keys to decide, so their runs, and every
// run off the schedule (run requests: Trigger, retries, chains, re-runs,
// catch-ups), keep running keys. A job whose policy changes from Allow to
// Forbid or Replace does not see the runs it started under Allow.

// inflightSettle is how long the rewrites and deletes of in-flight keys
// wait to be sent together (see above); a running key's delete never waits.
const inflightSettle = 10 * time.Millisecond

// inflightCheckAfter is how old a batch with runs in progress gets before
// its key is rewritten Checked (see above); it must stay well below the
// claim retention's floor (session TTL + misfire grace + 11 s).
const inflightCheckAfter = 5 * time.Second

// inflightValue is the value of an in-flight key.
type inflightValue struct {
	Instance string        `json:"instance"`
	Claim    string        `json:"claim"` // the batch's claim value
	Claimed  time.Time     `json:"claimed"`
	Checked  bool          `json:"checked,omitempty"`
	Runs     []inflightRun `json:"runs"`
}

// inflightRun is one entry of an in-flight key.
type inflightRun struct {
	ID        string          `json:"id"` // the run's Run.ID (a running key without the prefix)
	Token     int64           `json:"token,omitempty"`
	Tick      time.Time       `json:"tick"`
	Shard     int             `json:"shard,omitempty"`
	Unit      string          `json:"unit,omitempty"`
	Attempt   int             `json:"attempt,omitempty"`
	Trigger   logsink.Trigger `json:"trigger"`
	Run       string          `json:"run,omitempty"`
	RerunLost bool            `json:"rerun_lost,omitempty"`
}

// inflightBatch is this instance's record of one in-flight key.
type inflightBatch struct {
	key   string
	head  inflightValue // the value as asked: every run of the batch, unchecked
	asked string        // head, encoded
	// The rest is runOwner's, under its mutex.
	lease   clientv3.LeaseID       // the lease the key is on
	runs    map[string]inflightRun // won and not ended, by running key
	created time.Time
	checked bool // the key in etcd is Checked
	dirty   bool // the key in etcd says more than runs: rewrite or delete it
	lost    bool // the key went with an expired lease
}

// lists reports whether the in-flight key fl (nil: none) of r's batch
// lists r's run.
func (fl *inflightBatch) lists(r claimReq) bool {
	return fl != nil && inflightListed(r)
}

// inflightListed reports whether a claim request's run goes in its batch's
// in-flight key instead of a running key of its own.
func inflightListed(r claimReq) bool {
	return !r.noRun && r.job.cfg.overlap == OverlapAllow
}

// newInflight returns the in-flight key of a claim batch on lease, or nil
// when no run of the batch goes in one.
func (s *Scheduler) newInflight(batch []claimReq, lease clientv3.LeaseID) *inflightBatch {
	var fl *inflightBatch
	for _, r := range batch {
		if !inflightListed(r) {
			continue
		}
		if fl == nil {
			name := strconv.FormatInt(int64(lease), 16) + "." + strconv.FormatUint(s.inflightSeq.Add(1), 10)
			fl = &inflightBatch{key: s.keys.InflightBatch(s.cfg.instanceID, name), lease: lease,
				head: inflightValue{Instance: s.cfg.instanceID, Claim: s.claimValue(lease), Claimed: s.cfg.clock.Now().UTC()}}
		}
		fl.head.Runs = append(fl.head.Runs, s.inflightEntry(r))
	}
	if fl != nil {
		fl.asked = string(fl.head.appendJSON(make([]byte, 0, jsonSizeHint(len(fl.head.Runs)))))
	}
	return fl
}

// inflightEntry is the entry of r's run, as the claim asks for it (no
// token yet: track adds it to the runs won).
func (s *Scheduler) inflightEntry(r claimReq) inflightRun {
	e := inflightRun{ID: strings.TrimPrefix(s.runKey(r), s.keys.Running()), Tick: r.tick.UTC(), Shard: r.shard,
		Unit: r.unit, Trigger: r.trigger, Run: r.run, RerunLost: r.job.cfg.rerunLost}
	if r.attempt > 1 {
		e.Attempt = r.attempt
	}
	return e
}

// encode is the key's value listing runs, Checked.
func (fl *inflightBatch) encode(runs []inflightRun) string {
	v := fl.head
	v.Checked, v.Runs = true, runs
	return string(v.appendJSON(make([]byte, 0, jsonSizeHint(len(runs)))))
}

// runOf is the running value of entry e of a key holding v.
func (e inflightRun) runOf(v inflightValue) runningValue {
	return runningValue{Instance: v.Instance, Tick: e.Tick, Shard: e.Shard, Unit: e.Unit, Attempt: max(e.Attempt, 1),
		Trigger: e.Trigger, Run: e.Run, Claimed: v.Claimed, RerunLost: e.RerunLost}
}

// runInProgress is a run in progress as read from etcd: from its running
// key, or from the in-flight key listing it (see inflightRuns).
type runInProgress struct {
	key   string // its running key, had it one
	rv    runningValue
	token int64
	lease int64 // the lease its key is on
}

// job is the run's job.
func (r runInProgress) job(l keys.Layout) string { return keys.JobOf(l.Running(), r.key) }

// runsInProgress reads, at one revision, every run in progress in the
// cluster: the running keys and the runs that in-flight keys list.
func (s *Scheduler) runsInProgress(ctx context.Context) ([]runInProgress, error) {
	resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(s.keys.Running(), clientv3.WithPrefix()),
		clientv3.OpGet(s.keys.Inflight(), clientv3.WithPrefix())).Commit()
	if err != nil {
		return nil, err
	}
	var out []runInProgress
	for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
		var rv runningValue
		if json.Unmarshal(kv.Value, &rv) == nil {
			out = append(out, runInProgress{key: string(kv.Key), rv: rv, token: kv.CreateRevision, lease: kv.Lease})
		}
	}
	listed, err := s.inflightRuns(ctx, resp.Responses[1].GetResponseRange().GetKvs(), resp.Header.Revision)
	return append(out, listed...), err
}

// inflightRuns expands in-flight keys read at revision rev into the runs in
// progress they list: the Checked entries, and the unchecked ones whose
// claim key, read at rev, holds the batch's claim value (see the top of
// this file). An entry of a batch not rewritten yet whose claim key is gone
// is left out: the batch is younger than the claim retention's floor unless
// it was checked, so the claim was won by nobody yet, or by a peer.
func (s *Scheduler) inflightRuns(ctx context.Context, kvs []*mvccpb.KeyValue, rev int64) ([]runInProgress, error) {
	return inflightRuns(ctx, s.cli, s.keys, kvs, rev)
}

// inflightRuns is Scheduler.inflightRuns for any client and layout.
func inflightRuns(ctx context.Context, cli clientv3.KV, l keys.Layout, kvs []*mvccpb.KeyValue, rev int64) ([]runInProgress, error) {
	var out []runInProgress
	type unchecked struct {
		run   runInProgress
		claim string
	}
	var verify []unchecked
	for _, kv := range kvs {
		var v inflightValue
		if json.Unmarshal(kv.Value, &v) != nil {
			continue
		}
		for _, e := range v.Runs {
			run := runInProgress{key: l.Running() + e.ID, rv: e.runOf(v), token: e.Token, lease: kv.Lease}
			if v.Checked {
				out = append(out, run)
				continue
			}
			verify = append(verify, unchecked{run, v.Claim})
		}
	}
	for start := 0; start < len(verify); start += maxTxnOps {
		chunk := verify[start:min(start+maxTxnOps, len(verify))]
		ops := make([]clientv3.Op, len(chunk))
		for i, u := range chunk {
			job, _, _ := strings.Cut(strings.TrimPrefix(u.run.key, l.Running()), "/")
			ops[i] = clientv3.OpGet(l.Claim(keys.Tick(u.run.rv.Tick), job, u.run.rv.Unit), clientv3.WithRev(rev))
		}
		resp, err := cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, fmt.Errorf("read the claims of in-flight runs: %w", err)
		}
		for i, u := range chunk {
			kvs := resp.Responses[i].GetResponseRange().GetKvs()
			if len(kvs) == 1 && string(kvs[0].Value) == u.claim {
				u.run.token = kvs[0].CreateRevision
				out = append(out, u.run)
			}
		}
	}
	return out, nil
}

// track records the outcome of fl's claims (outcomes and tokens, in the
// order of batch): the key now stands for the runs won. If it lists any
// other, it is rewritten (or deleted, when nothing was won).
func (r *runOwner) track(fl *inflightBatch, batch []claimReq, outcomes []claimOutcome, tokens []int64) {
	if fl == nil {
		return
	}
	r.mu.Lock()
	fl.runs = make(map[string]inflightRun)
	fl.created = time.Now()
	k := 0 // head.Runs lists the batch's listed runs in batch order
	for i, q := range batch {
		if !fl.lists(q) {
			continue
		}
		if outcomes[i].State == claimWon {
			e := fl.head.Runs[k]
			e.Token = tokens[i]
			fl.runs[r.s.keys.Running()+e.ID] = e
		}
		k++
	}
	r.batches[fl.key] = fl
	if len(fl.runs) < len(fl.head.Runs) {
		r.markDirty(fl)
	}
	r.mu.Unlock()
	r.s.signal(r.kick)
}

// unstarted removes from fl a run it won that does not start.
func (r *runOwner) unstarted(fl *inflightBatch, key string) {
	r.mu.Lock()
	delete(fl.runs, key)
	r.markDirty(fl)
	r.mu.Unlock()
	r.s.signal(r.kick)
}

// markDirty queues fl's rewrite (or delete); r.mu is held.
func (r *runOwner) markDirty(fl *inflightBatch) {
	if !fl.dirty {
		fl.dirty = true
		if len(r.dirty) == 0 {
			r.dirtySince = time.Now()
		}
		r.dirty = append(r.dirty, fl)
	}
}

// checkOld queues the rewrite, Checked, of batches whose runs outlast
// inflightCheckAfter (see the top of this file).
func (r *runOwner) checkOld(now time.Time) {
	r.mu.Lock()
	for _, fl := range r.batches {
		if !fl.checked && !fl.lost && now.Sub(fl.created) > inflightCheckAfter {
			r.markDirty(fl)
		}
	}
	n := len(r.dirty)
	r.mu.Unlock()
	if n > 0 {
		r.s.signal(r.kick)
	}
}

// batchWrite is one queued rewrite or delete of an in-flight key.
type batchWrite struct {
	fl    *inflightBatch
	lease clientv3.LeaseID
	runs  []inflightRun // nil: delete the key
}

// settle is how long the queued writes may still wait at now: until
// inflightSettle after the first in-flight write was queued, and not at
// all while a running key's delete is queued.
func (r *runOwner) settle(now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) > 0 || len(r.dirty) == 0 {
		return 0
	}
	return r.dirtySince.Add(inflightSettle).Sub(now)
}

// takeDirty returns the queued rewrites and deletes of in-flight keys, each
// as of now; r.mu is held.
func (r *runOwner) takeDirty() []batchWrite {
	out := make([]batchWrite, 0, len(r.dirty))
	for _, fl := range r.dirty {
		fl.dirty = false
		if fl.lost {
			delete(r.batches, fl.key)
			continue
		}
		w := batchWrite{fl: fl, lease: fl.lease}
		for _, e := range fl.runs {
			w.runs = append(w.runs, e)
		}
		out = append(out, w)
	}
	r.dirty = nil
	return out
}

// op is the conditional transaction of w: the key is rewritten or deleted
// only while it is still on the lease this instance put it on.
func (w batchWrite) op() clientv3.Op {
	if len(w.runs) == 0 {
		return claim.Release(w.fl.key, w.lease)
	}
	return clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(w.fl.key), "=", w.lease)},
		[]clientv3.Op{clientv3.OpPut(w.fl.key, w.fl.encode(w.runs), clientv3.WithLease(w.lease))}, nil)
}

// wrote records that the writes ws applied (err nil) or failed.
func (r *runOwner) wrote(ws []batchWrite, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range ws {
		switch {
		case err != nil:
			r.markDirty(w.fl)
		case len(w.runs) == 0 && len(w.fl.runs) == 0:
			delete(r.batches, w.fl.key)
		default:
			w.fl.checked = true
		}
	}
}
