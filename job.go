package distcron

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/internal/errtext"
)

// JobOption configures one job at registration.
type JobOption func(*jobConfig)

type jobConfig struct {
	location      *time.Location
	timeout       time.Duration
	overlap       OverlapPolicy
	tags          []string
	shards        int
	sharded       bool
	broadcast     bool
	retry         retryPolicy
	onSuccess     []string
	onFailure     []string
	misfire       MisfirePolicy
	startDeadline time.Duration
	rerunLost     bool
}

// retryPolicy retries failed attempts with exponential backoff.
type retryPolicy struct {
	maxAttempts         int // 1: no retry
	backoff, maxBackoff time.Duration
}

// backoffFor is the wait before the attempt after attempt n (n >= 1).
func (p retryPolicy) backoffFor(n int) time.Duration {
	d := p.backoff
	for i := 1; i < n && d < p.maxBackoff; i++ {
		d *= 2
	}
	return min(d, p.maxBackoff)
}

// Retry re-runs a failed or timed-out attempt until maxAttempts attempts
// were made, waiting backoff, then twice as long each time, at most
// maxBackoff. Each attempt is its own record with its attempt number and
// may run on another instance. Default: no retry.
func Retry(maxAttempts int, backoff, maxBackoff time.Duration) JobOption {
	return func(c *jobConfig) { c.retry = retryPolicy{maxAttempts, backoff, maxBackoff} }
}

// OnSuccess triggers the named jobs once each time a run of this job
// succeeds; OnFailure when its last attempt fails. Each chained run happens
// exactly once cluster-wide, with trigger chain and the parent's tick.
func OnSuccess(jobs ...string) JobOption {
	return func(c *jobConfig) { c.onSuccess = append(c.onSuccess, jobs...) }
}

// OnFailure: see OnSuccess.
func OnFailure(jobs ...string) JobOption {
	return func(c *jobConfig) { c.onFailure = append(c.onFailure, jobs...) }
}

// Misfire sets the misfire policy and, for MisfireRunOnce, the starting
// deadline: how old the newest missed tick may be and still be caught up.
// The deadline must be at most half the claim retention. Default MisfireSkip.
func Misfire(p MisfirePolicy, startingDeadline time.Duration) JobOption {
	return func(c *jobConfig) { c.misfire, c.startDeadline = p, startingDeadline }
}

// RerunLost makes the leader re-run (trigger retry, next attempt) a run
// recorded as lost, once however often the leader changes. Beware: a run
// is lost when its instance's lease expired, which also happens to an
// instance that was only cut off from etcd: that instance cancels the run
// (cause ErrLeaseLost) as soon as it reaches etcd again, but until then
// the original and the re-run may overlap, so this can duplicate work.
func RerunLost() JobOption { return func(c *jobConfig) { c.rerunLost = true } }

// InLocation sets the time zone for the job's cron fields, overriding the
// scheduler's WithLocation. A CRON_TZ= prefix in the spec wins over both.
func InLocation(loc *time.Location) JobOption { return func(c *jobConfig) { c.location = loc } }

// Timeout cancels a run that takes longer than d and records it as timeout.
// Default 0: no timeout.
func Timeout(d time.Duration) JobOption { return func(c *jobConfig) { c.timeout = d } }

// Overlap sets the overlap policy. Default OverlapAllow.
func Overlap(p OverlapPolicy) JobOption { return func(c *jobConfig) { c.overlap = p } }

// RequireTags limits the job to instances that carry every one of tags
// (see WithTags). Other instances never claim it. Default none.
func RequireTags(tags ...string) JobOption {
	return func(c *jobConfig) { c.tags = append([]string(nil), tags...) }
}

// Sharded makes each tick of the job run n times, once per shard, each
// shard on exactly one instance (possibly the same one). The job's RunInfo
// carries Shard (0..n-1) and Shards (n). n must be within [1, 100].
func Sharded(n int) JobOption { return func(c *jobConfig) { c.shards, c.sharded = n, true } }

// Broadcast makes every eligible instance run each tick of the job once.
func Broadcast() JobOption { return func(c *jobConfig) { c.broadcast = true } }

// job is one registered job and its place in the tick queue.
type job struct {
	name     string
	spec     string
	schedule Schedule
	custom   bool              // schedule is the caller's own (RegisterSchedule), not parsed from spec
	exec     executor.Executor // raw, wrapped in Recover and the timeout
	raw      executor.Executor // as registered, for Reconfigure
	cfg      jobConfig
	eligible bool // this instance carries the required tags

	kind      string // func, shell, executor; http, pipeline for definitions
	defPaused bool   // paused by its definition in etcd
	refused   error  // a remote definition of a kind this instance does not run
	source    string

	next    time.Time // next tick to claim; zero when it never fires again
	floor   time.Time // the last tick taken from the queue to claim, by this job or one it replaced (takeOver)
	claimAt time.Time // when to send the claim for next
	index   int       // position in the queue, -1 when not queued
	prefer  string    // the preferred claimer of next, in Scheduler.view
	flight  *flight   // while a popped tick of the job is being claimed (see progress.go)
}

// RegisterFunc registers a Go func to run on the cron spec. The func gets a
// context carrying RunInfo that is cancelled on timeout, kill or Stop.
// A panic is recorded as a failed run with its stack.
func (s *Scheduler) RegisterFunc(name, spec string, fn func(ctx context.Context) error, opts ...JobOption) error {
	if fn == nil {
		return fmt.Errorf("%w: job %s: nil func", ErrInvalidOption, errtext.Name(name))
	}
	return s.registerJob(name, spec, nil, executor.Func(fn), "func", opts)
}

// RegisterShell registers a shell command (run with /bin/sh -c) on the cron
// spec. It runs in its own process group; on timeout, kill or Stop the whole
// group gets SIGTERM, then SIGKILL after a grace period. The record keeps
// the exit code and the last 64 KiB of combined output.
func (s *Scheduler) RegisterShell(name, spec, command string, opts ...JobOption) error {
	if command == "" {
		return fmt.Errorf("%w: job %s: empty command", ErrInvalidOption, errtext.Name(name))
	}
	return s.registerJob(name, spec, nil, executor.Shell(command), "shell", opts)
}

// Register registers any executor on the cron spec (see ParseSchedule).
// It is safe for concurrent use, before and after Start; it does not block.
func (s *Scheduler) Register(name, spec string, e executor.Executor, opts ...JobOption) error {
	return s.registerJob(name, spec, nil, e, "executor", opts)
}

// RegisterSchedule registers an executor on a Schedule of the caller's own.
// Every instance must compute the same instants for the job.
func (s *Scheduler) RegisterSchedule(name string, sched Schedule, e executor.Executor, opts ...JobOption) error {
	if sched == nil {
		return fmt.Errorf("%w: job %s: nil schedule", ErrInvalidOption, errtext.Name(name))
	}
	return s.registerJob(name, fmt.Sprintf("%v", sched), sched, e, "executor", opts)
}

func (s *Scheduler) registerJob(name, spec string, sched Schedule, e executor.Executor, kind string, opts []JobOption) error {
	cfg, err := s.jobConfig(name, opts)
	if err != nil {
		return err
	}
	custom := sched != nil
	if !custom {
		if sched, err = ParseSchedule(spec, cfg.location); err != nil {
			return errtext.Errorf("distcron: job %s: %w", errtext.Name(name), err)
		}
	}
	if e == nil {
		return fmt.Errorf("%w: job %s: nil executor", ErrInvalidOption, errtext.Name(name))
	}
	j := s.newJob(name, spec, sched, e, cfg, kind)
	j.custom = custom
	return s.add(j)
}

func (s *Scheduler) jobConfig(name string, opts []JobOption) (jobConfig, error) {
	return newJobConfig(name, opts, s.cfg.location, s.cfg.claimRetention)
}

// newJobConfig applies and validates job options.
func newJobConfig(name string, opts []JobOption, loc *time.Location, retention time.Duration) (jobConfig, error) {
	if !validName(name) {
		return jobConfig{}, fmt.Errorf("%w: %s: %s", ErrInvalidName, errtext.Name(name), nameRule)
	}
	cfg := jobConfig{location: loc, retry: retryPolicy{maxAttempts: 1}}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case cfg.location == nil:
		return cfg, fmt.Errorf("%w: job %s: nil location", ErrInvalidOption, errtext.Name(name))
	case cfg.timeout < 0:
		return cfg, fmt.Errorf("%w: job %s: negative timeout %v", ErrInvalidOption, errtext.Name(name), cfg.timeout)
	case cfg.overlap < OverlapAllow || cfg.overlap > OverlapReplace:
		return cfg, fmt.Errorf("%w: job %s: unknown overlap policy %v", ErrInvalidOption, errtext.Name(name), cfg.overlap)
	case cfg.sharded && (cfg.shards < 1 || cfg.shards > maxShards):
		return cfg, fmt.Errorf("%w: job %s: shards %d must be within [1, %d]", ErrInvalidOption, errtext.Name(name), cfg.shards, maxShards)
	case cfg.shards > 0 && cfg.broadcast:
		return cfg, fmt.Errorf("%w: job %s: a job is sharded or broadcast, not both", ErrInvalidOption, errtext.Name(name))
	case cfg.retry.maxAttempts < 1 || cfg.retry.maxAttempts > 100 || (cfg.retry.maxAttempts > 1 && (cfg.retry.backoff <= 0 || cfg.retry.maxBackoff < cfg.retry.backoff)):
		return cfg, fmt.Errorf("%w: job %s: retry needs 1-100 attempts, a positive backoff and max backoff >= backoff", ErrInvalidOption, errtext.Name(name))
	case cfg.misfire != MisfireSkip && cfg.misfire != MisfireRunOnce:
		return cfg, fmt.Errorf("%w: job %s: unknown misfire policy %v", ErrInvalidOption, errtext.Name(name), cfg.misfire)
	case cfg.misfire == MisfireRunOnce && (cfg.startDeadline <= 0 || cfg.startDeadline > retention/2):
		return cfg, fmt.Errorf("%w: job %s: starting deadline %v must be within (0, claim retention/2 = %v]", ErrInvalidOption, errtext.Name(name), cfg.startDeadline, retention/2)
	}
	for _, t := range append(slices.Clone(cfg.onSuccess), cfg.onFailure...) {
		if !validName(t) {
			return cfg, fmt.Errorf("%w: job %s: chained job %s: %s", ErrInvalidName, errtext.Name(name), errtext.Name(t), nameRule)
		}
	}
	return cfg, nil
}

// Where a job comes from.
const (
	sourceCode       = "code"
	sourceDefinition = "definition"
	sourceOverride   = "override" // a code job whose schedule or pause a definition overrides
)

// newJob wraps e (panics become failed runs; the timeout) and decides
// whether this instance may claim the job.
func (s *Scheduler) newJob(name, spec string, sched Schedule, raw executor.Executor, cfg jobConfig, kind string) *job {
	e := executor.Recover(raw)
	if cfg.timeout > 0 {
		e = executor.Timeout(cfg.timeout)(e)
	}
	return &job{name: name, spec: spec, schedule: sched, exec: e, raw: raw, cfg: cfg, index: -1, kind: kind,
		source: sourceCode, eligible: hasAll(s.cfg.tags, cfg.tags)}
}

func (s *Scheduler) add(j *job) error {
	s.mu.Lock()
	replaced := false
	if old, dup := s.jobs[j.name]; dup {
		if old.source != sourceDefinition {
			s.mu.Unlock()
			return fmt.Errorf("%w: %s", ErrDuplicateJob, errtext.Name(j.name))
		}
		// Code wins over a definition of the same name (see ErrCodeJob).
		s.queue.remove(old)
		replaced = true
	}
	s.setJob(j)
	if s.state == stateStarted {
		s.enqueue(j, s.cfg.clock.Now(), s.lead())
		s.signal(s.wake)
		s.signal(s.reregister)
	}
	s.mu.Unlock()
	// An override stored before this job was registered applies now.
	s.defs.mu.Lock()
	raw, pending := s.defs.pending[j.name]
	if replaced && s.defs.applied != nil {
		// Kept, so that it applies again if the code job is unregistered
		// and no live instance registers the name (recheckDefinitions).
		s.defs.pending[j.name] = []byte(s.defs.applied[j.name])
		delete(s.defs.applied, j.name)
		s.defs.invalid[j.name] = codeJobError(j.name)
	}
	s.defs.mu.Unlock()
	if pending {
		s.applyDefinition(j.name, raw)
	}
	return nil
}

// Unregister removes a job. Runs in progress finish, and a tick already
// claimed (within the claim lead) still runs; no further tick of it is
// claimed by this instance. A definition that overrides the job's schedule
// stays in etcd but no longer applies here. It reports whether the job
// existed.
func (s *Scheduler) Unregister(name string) bool {
	// An override of the job has nothing left to override: a change of
	// its definition must not bring the job back.
	s.defs.mu.Lock()
	delete(s.defs.code, name)
	s.defs.mu.Unlock()
	s.mu.Lock()
	j, ok := s.jobs[name]
	if !ok {
		s.mu.Unlock()
		return false
	}
	s.deleteJob(name)
	s.queue.remove(j)
	if s.state == stateStarted {
		s.signal(s.reregister)
	}
	s.mu.Unlock()
	// A definition with a kind skipped for this code job may apply now.
	s.recheckDefinitions()
	return true
}

// Jobs returns the names of the registered jobs, sorted.
func (s *Scheduler) Jobs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.jobs))
	for n := range s.jobs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// maxShards bounds Sharded(n): all shards of a tick go in one claim batch.
const maxShards = 100

// enqueue puts j in the queue at its first tick after from, to be claimed
// lead ahead of it (Forbid jobs: at the tick). s.mu is held. Callers that
// enqueue several jobs read the lead (Scheduler.lead) once for all of them:
// the lead moves with every claim answered, and jobs of one tick queued
// with two leads would get two claim instants, and split one claim
// request in two.
func (s *Scheduler) enqueue(j *job, from time.Time, lead time.Duration) {
	if !j.eligible || j.index >= 0 {
		return
	}
	j.next = j.schedule.Next(from)
	if j.next.IsZero() {
		return
	}
	s.place(j, lead)
	s.queue.push(j)
}

// place sets when to claim j.next: lead ahead of it (Forbid jobs: at the
// tick), or, when a peer is the preferred claimer in s.view, the backup
// instant after it. s.mu is held.
func (s *Scheduler) place(j *job, lead time.Duration) {
	j.claimAt, j.prefer = j.next, s.cfg.instanceID
	if j.cfg.shards == 0 && !j.cfg.broadcast {
		j.prefer = s.view.preferred(s.cfg.instanceID, j, j.next)
	}
	switch {
	case j.prefer != s.cfg.instanceID:
		s.checkAt(j, s.backupAt(j.next)) // a peer is preferred: back it up
	case j.cfg.overlap != OverlapForbid:
		j.claimAt = j.next.Add(-lead)
	}
}

// checkAt sets when to check the backup tick j.next: at, or the job's next
// tick if that comes first. A queued backup thus never hides a later tick
// of its job behind its claim instant, which progress statements rely on
// (see progress.go). s.mu is held.
func (s *Scheduler) checkAt(j *job, at time.Time) {
	j.claimAt = at
	if after := j.schedule.Next(j.next); !after.IsZero() && after.Before(at) {
		j.claimAt = after
	}
}

// appendUnits appends to out one claim per unit of a due tick: one per
// shard for a sharded job, this instance's own unit for a broadcast job,
// the tick itself for any other.
func (s *Scheduler) appendUnits(out []claimReq, r claimReq) []claimReq {
	switch {
	case r.job.cfg.broadcast:
		r.unit = "i" + s.cfg.instanceID
	case r.job.cfg.shards > 0:
		for i := range r.job.cfg.shards {
			u := r
			u.shard, u.unit = i, fmt.Sprintf("s%d", i)
			out = append(out, u)
		}
		return out
	}
	return append(out, r)
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func nameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '.' || r == '_' || r == ':' || r == '@' || r == '-'
}

// nameRule says what validName accepts, for errors.
const nameRule = "use 1-128 letters, digits and ._:@-, starting with a letter or digit"

// validName reports whether s can name a job or instance: it becomes part
// of etcd keys, so "/" and spaces are refused.
func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	if c := s[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
		return false
	}
	for _, r := range s {
		if !nameRune(r) {
			return false
		}
	}
	return true
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
