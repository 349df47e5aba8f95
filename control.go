package distcron

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

// runRequest asks for one run outside the schedule: a manual trigger, a
// retry, a chained run, a misfire catch-up or the re-run of a lost run. It
// is stored at control/requests/<job>/<id>; the instance that deletes it
// (compare on its ModRevision) runs it, so it runs exactly once.
type runRequest struct {
	Job       string          `json:"job"`
	Tick      time.Time       `json:"tick"`
	Shard     int             `json:"shard"`
	Unit      string          `json:"unit,omitempty"`
	Trigger   logsink.Trigger `json:"trigger"`
	Attempt   int             `json:"attempt"`
	NotBefore time.Time       `json:"not_before"`
	Requested time.Time       `json:"requested"`
	By        string          `json:"by"`
	// Claim makes the run also take the tick's claim key (catch-up runs),
	// so it can never run beside a scheduled claim of the same tick.
	Claim bool `json:"claim,omitempty"`

	key    string
	modRev int64
}

// killRequest cancels runs of a job: all of them, or those of ticks before
// Before (OverlapReplace). It lives under a short lease.
type killRequest struct {
	Before time.Time `json:"before"`
	By     string    `json:"by"`
}

// controlState is this instance's view of control/ (pause flags, pending
// run requests) kept current by watchControl.
type controlState struct {
	mu       sync.Mutex
	paused   map[string]bool
	requests map[string]*runRequest // by key
	kick     chan struct{}
}

func (c *controlState) init() {
	c.paused = make(map[string]bool)
	c.requests = make(map[string]*runRequest)
	c.kick = make(chan struct{}, 1)
}

// paused reports whether the job is paused cluster-wide (Pause) or by its
// definition.
func (s *Scheduler) paused(j *job) bool {
	if j.defPaused {
		return true
	}
	s.control.mu.Lock()
	defer s.control.mu.Unlock()
	return s.control.paused[j.name]
}

// knownJob returns nil when name is registered here, defined in etcd, or
// registered in code by a live instance (as its registration lists it).
func (s *Scheduler) knownJob(ctx context.Context, name string) error {
	if !validName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	s.mu.Lock()
	_, ok := s.jobs[name]
	s.mu.Unlock()
	if ok {
		return nil
	}
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(s.keys.Def(name), clientv3.WithCountOnly()),
		clientv3.OpGet(s.keys.Instances(), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return fmt.Errorf("distcron: look up job %q: %w", name, err)
	}
	if resp.Responses[0].GetResponseRange().GetCount() > 0 {
		return nil
	}
	for _, kv := range resp.Responses[1].GetResponseRange().GetKvs() {
		var in Instance
		if json.Unmarshal(kv.Value, &in) == nil && slices.Contains(in.Jobs, name) {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownJob, name)
}

// Pause stops the job's scheduled ticks on every instance until Resume.
// Paused ticks are not claimed and leave no record; runs in progress go on;
// Trigger still runs a paused job. It blocks for one etcd write.
func (s *Scheduler) Pause(ctx context.Context, name string) error {
	if err := s.knownJob(ctx, name); err != nil {
		return err
	}
	v, _ := json.Marshal(map[string]any{"by": s.cfg.instanceID, "at": s.cfg.clock.Now().UTC()})
	if _, err := s.cli.Put(ctx, s.keys.PausedJob(name), string(v)); err != nil {
		return fmt.Errorf("distcron: pause %q: %w", name, err)
	}
	return nil
}

// Resume undoes Pause. A job paused by its definition stays paused until
// the definition changes. It blocks for one etcd write.
func (s *Scheduler) Resume(ctx context.Context, name string) error {
	if err := s.knownJob(ctx, name); err != nil {
		return err
	}
	if _, err := s.cli.Delete(ctx, s.keys.PausedJob(name)); err != nil {
		return fmt.Errorf("distcron: resume %q: %w", name, err)
	}
	return nil
}

// Trigger asks the cluster to run the job once, now, on exactly one
// eligible instance; the record says trigger=manual and its tick is the
// request time. A Trigger coalesces with a manual run of the job that is
// still pending or running, so concurrent calls from several instances cause
// one run. It returns once the request is stored, not when the run happens.
func (s *Scheduler) Trigger(ctx context.Context, name string) error {
	if err := s.knownJob(ctx, name); err != nil {
		return err
	}
	now := s.cfg.clock.Now().UTC().Truncate(time.Millisecond)
	req := runRequest{Job: name, Tick: now, Trigger: logsink.TriggerManual, Attempt: 1, NotBefore: now, Requested: now, By: s.cfg.instanceID}
	v, _ := json.Marshal(req)
	key := s.keys.Request(name, "manual")
	manualRuns := s.keys.RunningJob(name) + manualMark
	_, err := s.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(key), "=", 0),
		clientv3.Compare(clientv3.CreateRevision(manualRuns), "=", 0).WithPrefix(),
	).Then(clientv3.OpPut(key, string(v))).Commit()
	if err != nil {
		return fmt.Errorf("distcron: trigger %q: %w", name, err)
	}
	return nil
}

// Kill cancels every run of the job in progress anywhere in the cluster:
// Go funcs see their ctx cancelled (cause ErrKilled), shell commands get
// SIGTERM, then SIGKILL for their process group after the grace period.
// The runs are recorded as killed. Kill returns once the request is stored.
func (s *Scheduler) Kill(ctx context.Context, name string) error {
	if err := s.knownJob(ctx, name); err != nil {
		return err
	}
	return s.putKill(ctx, name, time.Time{})
}

func (s *Scheduler) putKill(ctx context.Context, name string, before time.Time) error {
	lease, err := s.cli.Grant(ctx, 30)
	if err != nil {
		return fmt.Errorf("distcron: kill %q: %w", name, err)
	}
	v, _ := json.Marshal(killRequest{Before: before, By: s.cfg.instanceID})
	if _, err := s.cli.Put(ctx, s.keys.Kill(name, randomSuffix()), string(v), clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("distcron: kill %q: %w", name, err)
	}
	return nil
}

// putRequest stores a run request under id unless one with that id exists:
// ids are deterministic (a retry's attempt, a chained run's parent tick), so
// a request is made at most once however often it is asked for.
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
func (s *Scheduler) requestAsync(req runRequest, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.sessionTTL)
	defer cancel()
	if err := s.putRequest(ctx, req, id); err != nil {
		s.log.Error("store run request", zap.String("job", req.Job), zap.String("request", id), zap.Error(err))
	}
}

// loadControl reads pause flags, run requests and definitions before the
// first tick, so a paused job never fires on start.
func (s *Scheduler) loadControl(ctx context.Context) error {
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(s.keys.Paused(), clientv3.WithPrefix()),
		clientv3.OpGet(s.keys.Requests(), clientv3.WithPrefix()),
		clientv3.OpGet(s.keys.Defs(), clientv3.WithPrefix()),
		clientv3.OpGet(s.keys.Instances(), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return fmt.Errorf("%w: load control state: %w", ErrUnreachable, err)
	}
	s.control.mu.Lock()
	clear(s.control.paused)
	for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
		s.control.paused[strings.TrimPrefix(string(kv.Key), s.keys.Paused())] = true
	}
	clear(s.control.requests)
	for _, kv := range resp.Responses[1].GetResponseRange().GetKvs() {
		s.addRequestLocked(string(kv.Key), kv.Value, kv.ModRevision)
	}
	s.control.mu.Unlock()
	s.syncDefinitions(resp.Responses[2].GetResponseRange().GetKvs())
	s.members.reset()
	for _, kv := range resp.Responses[3].GetResponseRange().GetKvs() {
		s.members.set(string(kv.Key), kv, s.keys.Instances())
	}
	s.controlRev = resp.Header.Revision
	s.signal(s.control.kick)
	return nil
}

func (s *Scheduler) addRequestLocked(key string, value []byte, modRev int64) {
	var req runRequest
	if err := json.Unmarshal(value, &req); err != nil || req.Job == "" {
		s.log.Warn("ignoring malformed run request", zap.String("key", key), zap.Error(err))
		return
	}
	req.key, req.modRev = key, modRev
	s.control.requests[key] = &req
}

// watchControl follows control/, defs/ and instances/ until Stop. On a watch error
// (compaction, etcd away) it reloads the state and watches again.
func (s *Scheduler) watchControl() {
	s.goBG(s.serveRequests)
	for s.bgCtx.Err() == nil {
		ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(s.bgCtx))
		ctl := s.cli.Watch(ctx, s.keys.Control(), clientv3.WithPrefix(), clientv3.WithRev(s.controlRev+1))
		defs := s.cli.Watch(ctx, s.keys.Defs(), clientv3.WithPrefix(), clientv3.WithRev(s.controlRev+1))
		members := s.cli.Watch(ctx, s.keys.Instances(), clientv3.WithPrefix(), clientv3.WithRev(s.controlRev+1))
		err := s.followControl(ctl, defs, members)
		cancel()
		if s.bgCtx.Err() != nil {
			return
		}
		s.log.Warn("control watch ended; reloading", zap.Error(err))
		for s.bgCtx.Err() == nil {
			lctx, lcancel := context.WithTimeout(s.bgCtx, s.cfg.sessionTTL)
			err := s.loadControl(lctx)
			lcancel()
			if err == nil {
				break
			}
			select {
			case <-time.After(time.Second):
			case <-s.bgCtx.Done():
			}
		}
	}
}

func (s *Scheduler) followControl(ctl, defs, members clientv3.WatchChan) error {
	for {
		select {
		case resp, ok := <-members:
			if !ok || resp.Err() != nil || resp.Canceled {
				return fmt.Errorf("instances watch: %v", resp.Err())
			}
			for _, ev := range resp.Events {
				kv := ev.Kv
				if ev.Type == clientv3.EventTypeDelete {
					kv = nil
				}
				s.members.set(string(ev.Kv.Key), kv, s.keys.Instances())
			}
		case resp, ok := <-ctl:
			if !ok || resp.Err() != nil || resp.Canceled {
				return fmt.Errorf("control watch: %v", resp.Err())
			}
			for _, ev := range resp.Events {
				s.applyControlEvent(ev)
			}
			s.controlRev = max(s.controlRev, resp.Header.Revision)
		case resp, ok := <-defs:
			if !ok || resp.Err() != nil || resp.Canceled {
				return fmt.Errorf("definitions watch: %v", resp.Err())
			}
			for _, ev := range resp.Events {
				s.applyDefinitionEvent(ev)
			}
		}
	}
}

func (s *Scheduler) applyControlEvent(ev *clientv3.Event) {
	key := string(ev.Kv.Key)
	put := ev.Type == clientv3.EventTypePut
	switch {
	case strings.HasPrefix(key, s.keys.Paused()):
		name := strings.TrimPrefix(key, s.keys.Paused())
		s.control.mu.Lock()
		if put {
			s.control.paused[name] = true
		} else {
			delete(s.control.paused, name)
		}
		s.control.mu.Unlock()
		s.log.Info("pause flag changed", zap.String("job", name), zap.Bool("paused", put))
	case strings.HasPrefix(key, s.keys.Kills()) && put:
		var kr killRequest
		if err := json.Unmarshal(ev.Kv.Value, &kr); err != nil {
			s.log.Warn("ignoring malformed kill request", zap.String("key", key), zap.Error(err))
			return
		}
		job := keys.JobOf(s.keys.Kills(), key)
		if n := s.runsLocal.kill(job, kr.Before); n > 0 {
			s.log.Info("killing runs", zap.String("job", job), zap.Int("runs", n), zap.String("by", kr.By))
		}
	case strings.HasPrefix(key, s.keys.Requests()):
		s.control.mu.Lock()
		if put {
			s.addRequestLocked(key, ev.Kv.Value, ev.Kv.ModRevision)
		} else {
			delete(s.control.requests, key)
		}
		s.control.mu.Unlock()
		if put {
			s.signal(s.control.kick)
		}
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
// the next one comes due.
func (s *Scheduler) claimRequests() time.Duration {
	now := s.cfg.clock.Now()
	wait := time.Hour
	s.control.mu.Lock()
	var due []*runRequest
	for _, r := range s.control.requests {
		if d := r.NotBefore.Sub(now); d > 0 {
			wait = min(wait, d)
			continue
		}
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
			continue // another instance may take it; the leader expires stale ones
		}
		if limit := s.cfg.maxConcurrent; limit > 0 && s.inflight.Load() >= int64(limit) {
			return min(wait, time.Second) // a run ending kicks us again
		}
		s.claimRequest(sess.Lease(), j, r)
	}
	return wait
}

// claimRequest takes one request in one transaction: delete it (if it is
// still the version we saw) and put the running key; for catch-up runs
// also create the tick's claim key. The deleter runs it.
func (s *Scheduler) claimRequest(lease clientv3.LeaseID, j *job, req *runRequest) {
	// Stop waits for claimWG before it waits for runs: a request claimed
	// here either starts its run before that wait or is not claimed.
	s.mu.Lock()
	if s.state != stateStarted {
		s.mu.Unlock()
		return
	}
	s.claimWG.Add(1)
	s.mu.Unlock()
	defer s.claimWG.Done()
	r := claimReq{job: j, tick: req.Tick, unit: req.Unit, shard: req.Shard, trigger: req.Trigger, attempt: max(req.Attempt, 1)}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(req.key), "=", req.modRev)}
	ops := []clientv3.Op{clientv3.OpDelete(req.key), clientv3.OpPut(s.runKey(r), s.runningValue(r, s.cfg.clock.Now()), clientv3.WithLease(lease))}
	if req.Claim {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(s.claimKey(r)), "=", 0))
		ops = append(ops, clientv3.OpPut(s.claimKey(r), s.claimValue(lease)))
	}
	ctx, cancel := context.WithTimeout(s.bgCtx, s.cfg.sessionTTL)
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(req.key, clientv3.WithCountOnly())).Commit()
	cancel()
	if err != nil {
		s.log.Warn("claim run request", zap.String("job", req.Job), zap.Error(err))
		return
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().GetCount() > 0 && req.Claim {
			// The tick was claimed by the schedule meanwhile: drop the catch-up.
			_, _ = s.cli.Delete(s.bgCtx, req.key)
		}
		return // another instance took it
	}
	s.control.mu.Lock()
	delete(s.control.requests, req.key)
	s.control.mu.Unlock()
	s.inflight.Add(1)
	s.startRun(r, resp.Header.Revision, nil, nil)
}
