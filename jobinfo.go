package distcron

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/distcron/distcron/logsink"
)

// JobInfo describes a job as this instance sees it.
type JobInfo struct {
	Name     string `json:"name"`
	Schedule string `json:"schedule"`
	Location string `json:"location"`
	// Kind is func, shell or executor for jobs registered in code; shell,
	// http or pipeline for jobs from definitions.
	Kind string `json:"kind"`
	// Source is "code", "definition", or "override" (a code job whose
	// schedule or pause state a definition overrides).
	Source    string        `json:"source"`
	Paused    bool          `json:"paused"`
	Eligible  bool          `json:"eligible"`         // this instance may run it (tags, refusal)
	Refused   error         `json:"-"`                // why a remote definition does not run here (ErrRefused)
	Next      time.Time     `json:"next,omitempty"`   // the next tick (zero: never, or not queued here)
	Overlap   OverlapPolicy `json:"overlap"`          // written in JSON as allow, forbid or replace
	Shards    int           `json:"shards,omitempty"` // for Sharded jobs
	Broadcast bool          `json:"broadcast"`        // for Broadcast jobs
	Tags      []string      `json:"tags,omitempty"`   // required instance tags
	Running   int           `json:"running_here"`     // runs in progress on this instance
	// Last is the newest run of the job this instance knows of (latest
	// tick; of a tick's attempts, the last recorded), or nil. It comes
	// from the run records this instance wrote itself, as they are handed
	// to its sinks (with or without sinks): every attempt it ran, ticks
	// and run requests it claimed but recorded skipped, and, while it
	// leads, runs it recorded lost and run requests that expired. Runs on
	// other instances are not included (query a sink's history for those;
	// see logsink.Querier), nor runs still in progress (see Running). It
	// is kept in memory from New on, by job name, so it survives
	// Reschedule, Reconfigure, a definition's override and Unregister
	// followed by Register; it starts empty when the process does.
	Last *LastRun `json:"last,omitempty"`
}

// JobInfos returns every job this instance knows (registered in code or
// defined in etcd), sorted by name. It does not touch the network.
func (s *Scheduler) JobInfos() []JobInfo {
	s.mu.Lock()
	jobs := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	out := make([]JobInfo, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, s.jobInfo(j))
	}
	slices.SortFunc(out, func(a, b JobInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// JobInfo returns one job as JobInfos does, and whether it exists.
func (s *Scheduler) JobInfo(name string) (JobInfo, bool) {
	s.mu.Lock()
	j := s.jobs[name]
	s.mu.Unlock()
	if j == nil {
		return JobInfo{}, false
	}
	return s.jobInfo(j), true
}

// location is the zone the job's schedule runs in: a CRON_TZ= prefix's,
// else the job's.
func (j *job) location() string {
	if l, ok := j.schedule.(interface{ Location() *time.Location }); ok {
		return l.Location().String()
	}
	return j.cfg.location.String()
}

func (s *Scheduler) jobInfo(j *job) JobInfo {
	s.mu.Lock()
	next := j.next
	if !j.eligible || s.state != stateStarted {
		next = j.schedule.Next(s.cfg.clock.Now())
	}
	s.mu.Unlock()
	return JobInfo{Name: j.name, Schedule: j.spec, Location: j.location(), Kind: j.kind, Source: j.source,
		Paused: s.paused(j), Eligible: j.eligible, Refused: j.refused, Next: next, Overlap: j.cfg.overlap,
		Shards: j.cfg.shards, Broadcast: j.cfg.broadcast, Tags: j.cfg.tags, Running: s.owner.count(j.name), Last: s.lastRun(j.name)}
}

// MaxNextRuns is the most fire instants NextRuns returns at once.
const MaxNextRuns = 1000

// NextRuns returns the job's next n fire instants strictly after now (the
// scheduler's clock), soonest first; fewer when its schedule ends. They
// come from the schedule this instance holds for the job (a definition's
// when it overrides a code job), whether or not the job is paused or may
// run here. It fails with ErrUnknownJob when the job is not known here,
// and with ErrInvalidOption when n is not within [1, MaxNextRuns]. It does
// not touch the network and is safe for concurrent use.
func (s *Scheduler) NextRuns(name string, n int) ([]time.Time, error) {
	if n < 1 || n > MaxNextRuns {
		return nil, fmt.Errorf("%w: next runs of %q: n %d must be within [1, %d]", ErrInvalidOption, name, n, MaxNextRuns)
	}
	s.mu.Lock()
	j := s.jobs[name]
	s.mu.Unlock()
	if j == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownJob, name)
	}
	out := make([]time.Time, 0, min(n, 16))
	for t := s.cfg.clock.Now(); len(out) < n; {
		if t = j.schedule.Next(t); t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out, nil
}

// Run is a run in progress somewhere in the cluster.
type Run struct {
	// ID identifies the run cluster-wide while it is in progress (its
	// running key below the namespace's running/ prefix: the job name, a
	// slash, then the run's unit, tick and attempt; a scheduled run of an
	// OverlapAllow job has no such key, but its ID has the same form);
	// pass it to KillRun.
	ID       string          `json:"id"`
	Job      string          `json:"job"`
	Tick     time.Time       `json:"tick"`
	Shard    int             `json:"shard"`
	Attempt  int             `json:"attempt"`
	Trigger  logsink.Trigger `json:"trigger"`
	Instance string          `json:"instance"`
	Claimed  time.Time       `json:"claimed"`
	Token    int64           `json:"token"`
}

// Running lists the runs in progress across the cluster, read from their
// running keys and the in-flight keys of claim batches, oldest tick first.
// It blocks for one etcd read, and one more when a batch's claims are not
// resolved yet.
func (s *Scheduler) Running(ctx context.Context) ([]Run, error) {
	runs, err := s.runsInProgress(ctx)
	if err != nil {
		return nil, fmt.Errorf("distcron: list running: %w", err)
	}
	out := make([]Run, 0, len(runs))
	for _, r := range runs {
		rv := r.rv
		out = append(out, Run{ID: strings.TrimPrefix(r.key, s.keys.Running()), Job: r.job(s.keys), Tick: rv.Tick, Shard: rv.Shard,
			Attempt: max(rv.Attempt, 1), Trigger: rv.Trigger, Instance: rv.Instance, Claimed: rv.Claimed, Token: r.token})
	}
	slices.SortFunc(out, func(a, b Run) int { return a.Tick.Compare(b.Tick) })
	return out, nil
}
