package distcron

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/logsink"
)

// startCheck is the lateStart check a scheduled tick passed before
// startRun: which lease holds its claim, and when the check was made.
type startCheck struct {
	lease clientv3.LeaseID
	at    time.Time
	key   string // the key holding the run on lease (see lateStart)
}

// startRun starts a claimed run on its own goroutine; its running key is
// on lease. The capacity slot was taken at dispatch and is returned when
// the run ends. replace lists
// running keys that OverlapReplace must see gone before the run starts.
// check, when not nil, is repeated at the moment of the start if that
// comes more than a second after it (the process was paused in between).
func (s *Scheduler) startRun(r claimReq, token int64, lease clientv3.LeaseID, replace []string, check *startCheck, fl *inflightBatch) {
	runKey := s.runKey(r)
	if !s.runs.add() {
		// Stop has given up waiting for runs: a claim that resolved after
		// that does not start (no other instance may run it either).
		s.occupied.Add(-1)
		s.releaseUnstarted(r, lease, fl)
		s.emitSkipped(r, token, "claimed, but the instance was stopping")
		return
	}
	ctx, cancel := context.WithCancelCause(s.runsCtx)
	run := &localRun{job: r.job.name, tick: r.tick, lease: lease, cancel: cancel}
	if fl.lists(r) {
		run.batch = fl
	} else {
		run.value = s.runningValue(r, s.cfg.clock.Now())
	}
	s.owner.start(runKey, run)
	if sess := s.sess.get(); sess != nil && sess.Lease() != lease {
		// Claimed on a session that has been replaced since: move the key
		// to the new lease, or learn that it went with the old one.
		s.owner.reattachLater(sess.Lease())
	}
	go func() {
		defer s.runs.done()
		defer s.occupied.Add(-1)
		defer cancel(nil)
		if len(replace) > 0 {
			s.replaceRuns(r, replace)
		}
		rec, ran := s.execute(ctx, r, token, check)
		s.owner.finish(runKey)
		s.emit(rec)
		if ran {
			s.afterRun(r, rec)
		} else {
			s.notify(rec)
		}
		s.signal(s.control.kick) // capacity freed: pending requests may fit now
	}()
}

// replaceWait bounds how long OverlapReplace waits for the runs it stops.
const replaceWait = 10 * time.Second

// replaceRuns stops the given runs of r's job (OverlapReplace) and waits,
// at most replaceWait, until their running keys are gone.
func (s *Scheduler) replaceRuns(r claimReq, keys []string) {
	ctx, cancel := context.WithTimeout(s.runsCtx, replaceWait)
	defer cancel()
	if err := s.putKill(ctx, r.job.name, r.tick); err != nil {
		s.log.Warn("replace: kill request", zap.String("job", r.job.name), zap.Error(err))
		return
	}
	ops := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		ops[i] = clientv3.OpGet(k, clientv3.WithCountOnly())
	}
	for ctx.Err() == nil {
		resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err == nil {
			left := 0
			for _, rr := range resp.Responses {
				left += int(rr.GetResponseRange().GetCount())
			}
			if left == 0 {
				return
			}
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	s.log.Warn("replace: runs still in progress; starting anyway", zap.String("job", r.job.name), zap.Time("tick", r.tick))
}

// execute runs one attempt and returns its record, or, when the start
// check (see startRun) fails at the moment of the start, a skipped record
// and false. The record's start time is read before that check, so a pause
// after it is a pause of a run that had started.
func (s *Scheduler) execute(ctx context.Context, r claimReq, token int64, check *startCheck) (logsink.Record, bool) {
	ri := RunInfo{Job: r.job.name, Tick: r.tick.UTC(), Instance: s.cfg.instanceID, Attempt: r.attempt,
		Trigger: r.trigger, Token: token, Shard: r.shard, Shards: r.job.cfg.shards}
	ctx = withRunInfo(ctx, ri)
	started := s.cfg.clock.Now()
	if check != nil && started.Sub(check.at) > time.Second {
		if reason := s.lateStart(r, check.lease, started, check.key); reason != "" {
			return s.skippedRecord(r, token, reason), false
		}
	}
	s.counters.runsStarted.Add(1)
	res := r.job.exec.Execute(ctx)
	finished := s.cfg.clock.Now()
	rec := logsink.Record{
		Job: ri.Job, Tick: ri.Tick, Shard: r.shard, Instance: ri.Instance, Trigger: r.trigger, Attempt: ri.Attempt,
		Token: token, Started: started.UTC(), Finished: finished.UTC(), Duration: finished.Sub(started),
		Status: logsink.StatusSucceeded, ExitCode: res.ExitCode, Output: string(res.Output), Steps: stepRecords(res.Steps),
	}
	if res.Err != nil {
		rec.Error = res.Err.Error()
		rec.Status = statusOf(res.Err, ctx)
		// Say why the run was cancelled, unless its error says it already.
		if cause := context.Cause(ctx); (errors.Is(cause, ErrKilled) || errors.Is(cause, ErrLeaseLost)) &&
			!errors.Is(res.Err, cause) && !strings.Contains(rec.Error, errtext.Trim(cause)) {
			rec.Error = fmt.Sprintf("%s (%v)", rec.Error, cause)
		}
	}
	if late := started.Sub(r.tick); late > time.Second && r.trigger == logsink.TriggerSchedule {
		// Limited: at saturation every run is late, and a line per run
		// would add to the load that made it late.
		s.logLimited("run started late", zap.String("job", ri.Job), zap.Time("tick", ri.Tick), zap.Duration("late", late))
	}
	return rec, true
}

// statusOf maps an attempt's error to a record status.
func statusOf(err error, ctx context.Context) logsink.Status {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return logsink.StatusTimeout
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return logsink.StatusKilled
	}
	return logsink.StatusFailed
}

// stepRecords maps a pipeline's step results onto the record.
func stepRecords(steps []executor.StepResult) []logsink.StepRecord {
	if len(steps) == 0 {
		return nil
	}
	out := make([]logsink.StepRecord, len(steps))
	for i, st := range steps {
		out[i] = logsink.StepRecord{Name: st.Name, Status: logsink.StatusSucceeded, Started: st.Started.UTC(),
			Duration: st.Finished.Sub(st.Started), ExitCode: st.Result.ExitCode, Output: string(st.Result.Output)}
		if st.Result.Err != nil {
			out[i].Error = st.Result.Err.Error()
			out[i].Status = logsink.StatusFailed
			switch {
			case errors.Is(st.Result.Err, context.DeadlineExceeded):
				out[i].Status = logsink.StatusTimeout
			case errors.Is(st.Result.Err, context.Canceled):
				out[i].Status = logsink.StatusKilled
			}
		}
	}
	return out
}

// afterRun applies the job's retry and chaining rules to a finished run
// and hands the record to the notifiers.
func (s *Scheduler) afterRun(r claimReq, rec logsink.Record) {
	failed := rec.Status == logsink.StatusFailed || rec.Status == logsink.StatusTimeout
	if rp := r.job.cfg.retry; failed && r.attempt < rp.maxAttempts {
		wait := rp.backoffFor(r.attempt)
		now := s.cfg.clock.Now().UTC()
		s.requestAsync(runRequest{Job: r.job.name, Tick: r.tick.UTC(), Shard: r.shard, Unit: r.unit, Run: r.run,
			Trigger: logsink.TriggerRetry, Attempt: r.attempt + 1, NotBefore: now.Add(wait), Requested: now, By: s.cfg.instanceID},
			retryID(r.unit, r.runID(), r.attempt+1))
	}
	var chain []string
	switch {
	case rec.Status == logsink.StatusSucceeded:
		chain = r.job.cfg.onSuccess
	case failed && r.attempt >= r.job.cfg.retry.maxAttempts:
		chain = r.job.cfg.onFailure // only once the last attempt failed
	}
	if len(chain) > 0 {
		// One chained run per parent run: its id names the parent run.
		parent := shortHash(s.runKey(r))
		for _, target := range chain {
			now := s.cfg.clock.Now().UTC()
			s.requestAsync(runRequest{Job: target, Tick: r.tick.UTC(), Run: "c" + r.tickKey() + "-" + parent,
				Trigger: logsink.TriggerChain, Attempt: 1, NotBefore: now, Requested: now, By: s.cfg.instanceID},
				"after-"+parent)
		}
	}
	s.notify(rec)
}

// retryID is the request id of attempt n of a run: one request per run
// and attempt, however often it is asked for.
func retryID(unit, run string, n int) string {
	return fmt.Sprintf("retry-%s-%s-%d", unit, run, n)
}

// shortHash is a 64-bit FNV-1a hash of s in hex, to name a run compactly.
func shortHash(s string) string {
	h := fnv.New64a()
	h.Write([]byte(s))
	return fmt.Sprintf("%016x", h.Sum64())
}

// emitSkipped records a tick this instance claimed but did not run.
func (s *Scheduler) emitSkipped(r claimReq, token int64, reason string) {
	rec := s.skippedRecord(r, token, reason)
	s.emit(rec)
	s.notify(rec)
}

// skippedRecord is the record of a tick this instance claimed but did not run.
func (s *Scheduler) skippedRecord(r claimReq, token int64, reason string) logsink.Record {
	now := s.cfg.clock.Now().UTC()
	return logsink.Record{
		Job: r.job.name, Tick: r.tick.UTC(), Shard: r.shard, Instance: s.cfg.instanceID, Trigger: r.trigger,
		Attempt: r.attempt, Token: token, Started: now, Finished: now, Status: logsink.StatusSkipped, Error: reason,
	}
}

// emit hands a record to every sink's pipeline and notes it for
// JobInfo.Last; it never blocks.
func (s *Scheduler) emit(rec logsink.Record) {
	s.observe(rec)
	for _, p := range s.deliveries {
		p.Send(rec)
	}
}
