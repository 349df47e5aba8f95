package distcron

import (
	"sync"
	"time"

	"github.com/distcron/distcron/logsink"
)

// LastRun is the newest run of a job that this instance knows of, from the
// run records it wrote itself (see JobInfo.Last).
type LastRun struct {
	Tick     time.Time       `json:"tick"`     // the run's tick (UTC), its identity
	Status   logsink.Status  `json:"status"`   // succeeded, failed, timeout, killed, skipped or lost
	Instance string          `json:"instance"` // the instance that ran it (for lost: the one that lost it)
	Trigger  logsink.Trigger `json:"trigger"`
	Attempt  int             `json:"attempt"`
	Finished time.Time       `json:"finished"` // when the attempt ended, or was recorded skipped or lost
}

// lastRuns keeps, per job known here, the newest record this instance
// wrote: the one with the latest tick, and of those the last written (a
// retry of the same tick replaces its earlier attempt).
type lastRuns struct {
	mu   sync.Mutex
	jobs map[string]LastRun
}

// observe notes a record this instance writes. Records of jobs not known
// here (a leader records lost runs of any job) are not kept, so the map
// holds at most the names of jobs this instance has had.
func (s *Scheduler) observe(rec logsink.Record) {
	s.mu.Lock()
	_, known := s.jobs[rec.Job]
	s.mu.Unlock()
	if !known {
		return
	}
	s.last.mu.Lock()
	defer s.last.mu.Unlock()
	if cur, ok := s.last.jobs[rec.Job]; ok && rec.Tick.Before(cur.Tick) {
		return
	}
	if s.last.jobs == nil {
		s.last.jobs = make(map[string]LastRun)
	}
	s.last.jobs[rec.Job] = LastRun{Tick: rec.Tick, Status: rec.Status, Instance: rec.Instance,
		Trigger: rec.Trigger, Attempt: rec.Attempt, Finished: rec.Finished}
}

// lastRun returns the newest run of job known here, or nil.
func (s *Scheduler) lastRun(job string) *LastRun {
	s.last.mu.Lock()
	defer s.last.mu.Unlock()
	lr, ok := s.last.jobs[job]
	if !ok {
		return nil
	}
	return &lr
}
