package distcron

// Changing a job registered in code in place: Reschedule (its spec) and
// Reconfigure (its options). Both build the changed job and put it in
// place as a definition's change does (replaceJob).

import (
	"fmt"
)

// Reschedule changes the cron spec (see ParseSchedule) of a job
// registered in code on this instance, in place: the job keeps its name,
// executor, options, pause state, runs in progress and JobInfo.Last, and
// its next tick is computed from now on the new schedule. No tick runs
// twice and none this instance was claiming is given up: a tick claimed
// before the change (within the claim lead) runs as claimed, and the new
// schedule starts after it. An unchanged spec changes nothing.
//
// It fails, changing nothing, with an error matching ErrInvalidSpec for a
// bad spec, ErrUnknownJob when no such job is registered here, and
// ErrDefinedJob for a job defined in etcd (change its definition with
// Define). When a definition overrides the job's schedule, the
// definition's schedule stays in force; Reschedule changes the code job
// that deleting the definition restores.
//
// It changes this instance only. Every instance computes a job's ticks
// from its own schedule: call Reschedule on each instance that registers
// the job (until all have, each tick runs at most once, claimed by an
// instance whose schedule has it, perhaps a backup delay late), or change
// it cluster-wide with a definition without a kind. It is safe for
// concurrent use, before and after Start, and does not block.
func (s *Scheduler) Reschedule(name, spec string) error {
	return s.changeCodeJob(name, func(cur *job) (*job, error) {
		if spec == cur.spec && !cur.custom {
			return nil, nil
		}
		sched, err := ParseSchedule(spec, cur.cfg.location)
		if err != nil {
			return nil, fmt.Errorf("job %q: %w", name, err)
		}
		j := *cur
		j.index, j.spec, j.schedule, j.custom = -1, spec, sched, false
		return &j, nil
	})
}

// Reconfigure replaces the options of a job registered in code on this
// instance, in place, as if the job had been registered with opts: options
// not given take their defaults, as at Register. The spec is parsed again
// in the zone the options give (a schedule of the caller's own, from
// RegisterSchedule, is kept as it is). Like Reschedule, it keeps the job's
// name, executor, pause state, runs in progress and JobInfo.Last, computes
// the next tick from now without running a tick twice, affects this
// instance only, and fails without changing anything: ErrInvalidOption or
// ErrInvalidName for bad options, ErrUnknownJob, ErrDefinedJob. Runs in
// progress keep the options they started with. It is safe for concurrent
// use, before and after Start, and does not block.
func (s *Scheduler) Reconfigure(name string, opts ...JobOption) error {
	return s.changeCodeJob(name, func(cur *job) (*job, error) {
		cfg, err := s.jobConfig(name, opts)
		if err != nil {
			return nil, err
		}
		sched := cur.schedule
		if !cur.custom {
			if sched, err = ParseSchedule(cur.spec, cfg.location); err != nil {
				return nil, fmt.Errorf("job %q: %w", name, err)
			}
		}
		j := s.newJob(name, cur.spec, sched, cur.raw, cfg, cur.kind)
		j.custom = cur.custom
		return j, nil
	})
}

// changeCodeJob replaces the code job name with change(the current one),
// unless change returns nil or an error. When a definition overrides the
// job, the code job it overrides changes, and the override is built again
// on it. The definitions' lock is held throughout, so neither a change of
// the definition nor Unregister can come in between.
func (s *Scheduler) changeCodeJob(name string, change func(cur *job) (*job, error)) error {
	s.defs.mu.Lock()
	defer s.defs.mu.Unlock()
	s.mu.Lock()
	cur := s.jobs[name]
	var base job
	if cur != nil {
		if cur.source == sourceOverride && s.defs.code[name] != nil {
			cur = s.defs.code[name]
		}
		base = *cur // under s.mu: the loop moves the job in the queue
	}
	s.mu.Unlock()
	switch {
	case cur == nil:
		return fmt.Errorf("%w: %q is not registered on this instance", ErrUnknownJob, name)
	case cur.source == sourceDefinition:
		return fmt.Errorf("%w: %q: change its definition (Define)", ErrDefinedJob, name)
	case cur.source != sourceCode:
		return fmt.Errorf("%w: %q: its override has no job registered in code", ErrUnknownJob, name)
	}
	j, err := change(&base)
	if err != nil || j == nil {
		return err
	}
	raw, overridden := s.defs.applied[name]
	if !overridden || s.defs.code[name] == nil {
		s.replaceJob(j)
		return nil
	}
	d, err := ParseDefinition([]byte(raw))
	if err != nil { // it was applied, so it parsed
		return fmt.Errorf("distcron: job %q: its override: %w", name, err)
	}
	s.defs.code[name] = j
	o, err := s.jobFromDefinition(d)
	if err != nil {
		s.defs.code[name] = cur
		return fmt.Errorf("job %q: its override does not apply to the change: %w", name, err)
	}
	s.replaceJob(o)
	return nil
}
