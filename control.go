package distcron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/internal/keys"
)

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
	// unresolved holds requests whose claim answer was lost, by key, until
	// a read tells whether the run is ours (see claimRequest).
	unresolved map[string]*runRequest
	kick       chan struct{}
}

func (c *controlState) init() {
	c.paused = make(map[string]bool)
	c.requests = make(map[string]*runRequest)
	c.unresolved = make(map[string]*runRequest)
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
		return fmt.Errorf("%w: %s: %s", ErrInvalidName, errtext.Name(name), nameRule)
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
// run requests (retries, chained runs, catch-ups) of a paused job are
// recorded skipped, and Trigger returns ErrPaused. It blocks for one etcd
// write.
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
	// Ticks missed while paused are not misfires: move the last tick of a
	// MisfireRunOnce job (when it has one) to now, so no catch-up replays them.
	last := s.keys.LastTick(name)
	_, err := s.cli.Txn(ctx).Then(
		clientv3.OpDelete(s.keys.PausedJob(name)),
		clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(last), ">", 0)},
			[]clientv3.Op{clientv3.OpPut(last, keys.Tick(s.cfg.clock.Now()))}, nil),
	).Commit()
	if err != nil {
		return fmt.Errorf("distcron: resume %q: %w", name, err)
	}
	return nil
}

// Kill cancels every run of the job in progress anywhere in the cluster:
// Go funcs see their ctx cancelled (cause ErrKilled), shell commands get
// SIGTERM, then SIGKILL for their process group after the grace period.
// The runs are recorded as killed. Kill returns once the request is stored.
func (s *Scheduler) Kill(ctx context.Context, name string) error {
	if err := s.knownJob(ctx, name); err != nil {
		if !errors.Is(err, ErrUnknownJob) {
			return err
		}
		// A job deleted (or unregistered everywhere) while it runs: its
		// runs are still in progress, and Kill must reach them.
		runs, rerr := s.runsInProgress(ctx)
		if rerr != nil {
			return fmt.Errorf("distcron: kill %q: %w", name, rerr)
		}
		if !slices.ContainsFunc(runs, func(r runInProgress) bool { return r.job(s.keys) == name }) {
			return err
		}
	}
	return s.putKill(ctx, name, time.Time{})
}

func (s *Scheduler) putKill(ctx context.Context, name string, before time.Time) error {
	v, _ := json.Marshal(killRequest{Before: before, By: s.cfg.instanceID})
	if err := s.putOnKillLease(ctx, s.keys.Kill(name, randomSuffix()), v); err != nil {
		return fmt.Errorf("distcron: kill %q: %w", name, err)
	}
	return nil
}

// putOnKillLease puts a kill request on the shared short kill lease, with
// a fresh lease once if the one kept has expired meanwhile.
func (s *Scheduler) putOnKillLease(ctx context.Context, key string, value []byte) error {
	for attempt := 0; ; attempt++ {
		lease, err := s.kills.lease(ctx, s.cli, attempt > 0)
		if err == nil {
			_, err = s.cli.Put(ctx, key, string(value), clientv3.WithLease(lease))
		}
		if err == nil || attempt > 0 || !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return err
		}
	}
}

// Kill requests live under a short lease shared by this instance's kills:
// watchers act on the put, and the key vanishes within killTTL.
const (
	killTTL      = 30 * time.Second
	killLeaseUse = 20 * time.Second // a kill lease is reused this long after its grant
)

// killLeases hands out the lease for kill requests, granting a new one
// only when the current one is older than killLeaseUse, so a burst of
// kills costs one lease.
type killLeases struct {
	mu      sync.Mutex
	id      clientv3.LeaseID
	granted time.Time
}

func (k *killLeases) lease(ctx context.Context, cli *clientv3.Client, fresh bool) (clientv3.LeaseID, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !fresh && k.id != 0 && time.Since(k.granted) < killLeaseUse {
		return k.id, nil
	}
	g, err := cli.Grant(ctx, int64(killTTL/time.Second))
	if err != nil {
		return 0, err
	}
	k.id, k.granted = g.ID, time.Now()
	return k.id, nil
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
	// The members first: whether a definition applies depends on the
	// live instances' code jobs (see recheckDefinitions).
	s.members.reset()
	for _, kv := range resp.Responses[3].GetResponseRange().GetKvs() {
		s.members.set(string(kv.Key), kv, s.keys.Instances())
	}
	s.syncDefinitions(resp.Responses[2].GetResponseRange().GetKvs())
	s.recheckDefinitions()
	s.syncDepartures(resp.Responses[3].GetResponseRange().GetKvs())
	s.reassign()
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
	if req.TakenBy != "" {
		delete(s.control.requests, key) // a tombstone: taken already
		return
	}
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
		members := s.cli.Watch(ctx, s.keys.Instances(), clientv3.WithPrefix(), clientv3.WithRev(s.controlRev+1), clientv3.WithPrevKV())
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
			codeChanged := false
			for _, ev := range resp.Events {
				kv := ev.Kv
				if ev.Type == clientv3.EventTypeDelete {
					kv = nil
				}
				codeChanged = s.members.set(string(ev.Kv.Key), kv, s.keys.Instances()) || codeChanged
				s.observeDeparture(ev)
			}
			if codeChanged {
				s.recheckDefinitions()
			}
			s.reassign()
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
		if n := s.owner.kill(job, kr.Before); n > 0 {
			s.log.Info("killing runs", zap.String("job", job), zap.Int("runs", n), zap.String("by", kr.By))
		}
	case strings.HasPrefix(key, s.keys.KillRuns()) && put:
		s.applyKillRun(key, ev.Kv.Value)
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

// PausedJobs reads the names of the jobs paused cluster-wide (by Pause),
// sorted. It blocks for one etcd read and works on a Scheduler that was
// never started, as a command-line tool uses it.
func (s *Scheduler) PausedJobs(ctx context.Context) ([]string, error) {
	resp, err := s.cli.Get(ctx, s.keys.Paused(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("distcron: read paused jobs: %w", err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), s.keys.Paused()))
	}
	return out, nil
}
