package distcron

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// ErrNotRun reports that a run request was taken by an instance that did
// not run it: the job's overlap policy is Forbid and a run was in
// progress, or the job was paused meanwhile. The run record (skipped)
// says which.
var ErrNotRun = fmt.Errorf("distcron: run request taken but not run")

// TriggerAndWait is Trigger, then waits until an instance claims the run
// and returns it: Run.Instance says where it runs, Run.Token is its fencing
// token. For a Sharded or Broadcast job it returns the first run claimed.
// When Trigger coalesced with a manual run already in progress, it returns
// that run. It returns ErrNotRun when the request was taken without a run
// (Forbid with a run in progress, or a pause), and ctx's error when no
// instance claimed it before ctx ended; the request then stays, to be
// taken or to expire, as with Trigger.
func (s *Scheduler) TriggerAndWait(ctx context.Context, name string) (Run, error) {
	rev, err := s.trigger(ctx, name)
	if err != nil {
		return Run{}, err
	}
	prefix := s.keys.RunningJob(name)
	reqKey := s.keys.Request(name, "manual")
	// A manual run in progress when the request was stored (Trigger
	// coalesced with it: plain jobs only), or one claimed already.
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return Run{}, fmt.Errorf("distcron: trigger %q: read runs: %w", name, err)
	}
	fansOut := s.fansOut(name)
	for _, kv := range resp.Kvs {
		if r, ok := s.manualRun(kv); ok && (!fansOut || kv.CreateRevision > rev) {
			return r, nil
		}
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	runs := s.cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	reqs := s.cli.Watch(wctx, reqKey, clientv3.WithRev(rev+1))
	taken := int64(0) // revision at which the request was deleted, if seen
	for {
		select {
		case wr, ok := <-runs:
			if !ok || wr.Err() != nil {
				return Run{}, s.waitErr(ctx, name, wr.Err())
			}
			for _, ev := range wr.Events {
				if ev.Type != clientv3.EventTypePut || ev.Kv.CreateRevision != ev.Kv.ModRevision {
					continue
				}
				if r, ok := s.manualRun(ev.Kv); ok {
					return r, nil
				}
			}
			if taken != 0 && wr.Header.Revision >= taken {
				return Run{}, fmt.Errorf("%w: %q", ErrNotRun, name)
			}
		case wr, ok := <-reqs:
			if !ok || wr.Err() != nil {
				return Run{}, s.waitErr(ctx, name, wr.Err())
			}
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypeDelete {
					taken = ev.Kv.ModRevision
				}
			}
			if taken != 0 {
				// The claim that took it created its running keys in the
				// same revision: read them there.
				resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(taken))
				if err != nil {
					return Run{}, s.waitErr(ctx, name, err)
				}
				for _, kv := range resp.Kvs {
					if r, ok := s.manualRun(kv); ok && kv.CreateRevision == taken {
						return r, nil
					}
				}
				if !fansOut {
					return Run{}, fmt.Errorf("%w: %q", ErrNotRun, name)
				}
				// Sharded and broadcast requests fan out into further
				// requests: wait for their runs.
				taken = 0
			}
		}
	}
}

// manualRun decodes kv as a running key of a manual run.
func (s *Scheduler) manualRun(kv *mvccpb.KeyValue) (Run, bool) {
	var rv runningValue
	if json.Unmarshal(kv.Value, &rv) != nil || rv.Trigger != logsink.TriggerManual {
		return Run{}, false
	}
	return Run{ID: strings.TrimPrefix(string(kv.Key), s.keys.Running()), Job: keys.JobOf(s.keys.Running(), string(kv.Key)), Tick: rv.Tick, Shard: rv.Shard,
		Attempt: max(rv.Attempt, 1), Trigger: rv.Trigger, Instance: rv.Instance, Claimed: rv.Claimed, Token: kv.CreateRevision}, true
}

// fansOut reports whether a manual request of the job is split into one
// request per shard or instance, as far as this instance knows the job.
func (s *Scheduler) fansOut(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[name]
	return j == nil || j.cfg.shards > 1 || j.cfg.broadcast
}

func (s *Scheduler) waitErr(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("distcron: trigger %q: no instance claimed the run: %w", name, ctx.Err())
	}
	return fmt.Errorf("distcron: trigger %q: watch: %w", name, err)
}
