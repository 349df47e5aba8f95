package distcron

// How an instance applies the definitions in etcd (defs/) as they change:
// the watch's events become jobs, overrides of code jobs and removals.

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/internal/errtext"
)

// definitions is this instance's view of defs/.
type definitions struct {
	mu      sync.Mutex
	applied map[string]string // name -> JSON currently applied
	invalid map[string]error  // name -> why its definition was skipped
	code    map[string]*job   // jobs registered in code, while a definition overrides them
	pending map[string][]byte // name -> an invalid definition, applied again when its code job registers
}

// syncDefinitions applies a full listing of defs/ (at Start and after the
// watch was lost): applies each and drops jobs whose definition is gone.
func (s *Scheduler) syncDefinitions(kvs []*mvccpb.KeyValue) {
	seen := make(map[string]bool, len(kvs))
	for _, kv := range kvs {
		name := strings.TrimPrefix(string(kv.Key), s.keys.Defs())
		seen[name] = true
		s.applyDefinition(name, kv.Value)
	}
	s.defs.mu.Lock()
	var gone []string
	for name := range s.defs.applied {
		if !seen[name] {
			gone = append(gone, name)
		}
	}
	for name := range s.defs.invalid {
		if !seen[name] {
			delete(s.defs.invalid, name)
			delete(s.defs.pending, name)
		}
	}
	s.defs.mu.Unlock()
	for _, name := range gone {
		s.removeDefinition(name)
	}
}

func (s *Scheduler) applyDefinitionEvent(ev *clientv3.Event) {
	name := strings.TrimPrefix(string(ev.Kv.Key), s.keys.Defs())
	if ev.Type == clientv3.EventTypeDelete {
		s.removeDefinition(name)
		return
	}
	s.applyDefinition(name, ev.Kv.Value)
}

// applyDefinition adds, replaces or overrides a job from its definition.
// An unchanged definition changes nothing, so its next tick is kept.
func (s *Scheduler) applyDefinition(name string, value []byte) {
	s.defs.mu.Lock()
	defer s.defs.mu.Unlock()
	if s.defs.applied == nil {
		s.defs.applied, s.defs.invalid, s.defs.code, s.defs.pending = map[string]string{}, map[string]error{}, map[string]*job{}, map[string][]byte{}
	}
	if s.defs.applied[name] == string(value) {
		delete(s.defs.invalid, name)
		return
	}
	d, err := ParseDefinition(value)
	if err == nil && d.Name != name {
		err = fmt.Errorf("%w: key says %s, definition says %s", ErrInvalidDefinition, errtext.Name(name), errtext.Name(d.Name))
	}
	var j *job
	if err == nil {
		j, err = s.jobFromDefinition(d)
	}
	if err == nil && !s.replaceJob(j) {
		err = codeJobError(name) // registered in code since jobFromDefinition looked
	}
	if err != nil {
		s.defs.invalid[name] = err
		s.defs.pending[name] = value
		s.log.Warn("skipping invalid job definition", zap.String("job", name), zap.Error(err))
		return
	}
	delete(s.defs.invalid, name)
	delete(s.defs.pending, name)
	s.defs.applied[name] = string(value)
	s.log.Info("job definition applied", zap.String("job", name), zap.String("kind", j.kind), zap.Bool("refused", j.refused != nil))
}

// jobFromDefinition builds the job a definition describes; for an override
// it copies the code job and changes its schedule and pause state. Kinds
// this instance does not run become refused jobs: listed, never claimed.
func (s *Scheduler) jobFromDefinition(d Definition) (*job, error) {
	opts, exec, err := d.compile(s.remotePolicy())
	var hostRefused error
	if errors.Is(err, executor.ErrHostNotAllowed) {
		// Valid, but not for this instance's host list: refuse it here only.
		// Its message is the host check's, without "invalid job
		// definition": the definition is valid.
		hostRefused = errtext.Wrap(fmt.Sprintf("%v: %s", ErrRefused, d.strip(err)), ErrRefused, err)
		opts, exec, err = d.compile(&remotePolicy{passthrough: s.cfg.shellEnv})
	}
	if err != nil {
		return nil, err
	}
	if d.Kind == "" {
		s.mu.Lock()
		base := s.defs.code[d.Name]
		if base == nil {
			if cur := s.jobs[d.Name]; cur != nil && cur.source == sourceCode {
				base = cur
			}
		}
		var j job
		if base != nil {
			j = *base // under s.mu: the loop moves the code job in the queue
		}
		s.mu.Unlock()
		if base == nil {
			return nil, fmt.Errorf("%w: job %q: an override (no kind) needs a job registered in code with that name", ErrInvalidDefinition, d.Name)
		}
		s.defs.code[d.Name] = base
		j.index, j.source, j.defPaused = -1, sourceOverride, d.Paused
		if d.Schedule != "" || d.Location != "" {
			// A new schedule, a new zone, or both: the code job's spec
			// in the definition's zone when only the zone is given.
			cfg := base.cfg
			for _, o := range opts {
				o(&cfg)
			}
			spec := d.Schedule
			if spec == "" {
				if base.custom {
					return nil, fmt.Errorf("%w: job %s: a zone without a schedule overrides nothing: the job's schedule was registered with RegisterSchedule, which has no spec to move to another zone",
						ErrInvalidDefinition, errtext.Name(d.Name))
				}
				spec = base.spec
			}
			if j.schedule, err = ParseSchedule(spec, cfg.location); err != nil {
				return nil, err
			}
			if d.Schedule != "" {
				if err := s.checkFloor(d, j.schedule); err != nil {
					return nil, err
				}
			}
			j.spec, j.custom, j.cfg.location = spec, false, cfg.location
		}
		return &j, nil
	}
	if s.codeJobHere(d.Name) || s.members.codeElsewhere(s.cfg.instanceID, d.Name) {
		// Code wins: a definition never replaces a job registered in
		// code, here or on a live instance (see recheckDefinitions).
		return nil, codeJobError(d.Name)
	}
	cfg, err := s.jobConfig(d.Name, opts)
	if err != nil {
		return nil, d.invalidFrom(err)
	}
	sched, err := ParseSchedule(d.Schedule, cfg.location)
	if err != nil {
		return nil, err
	}
	if err := s.checkFloor(d, sched); err != nil {
		return nil, err
	}
	j := s.newJob(d.Name, d.Schedule, sched, exec, cfg, d.Kind)
	j.source, j.defPaused = sourceDefinition, d.Paused
	switch {
	case d.Kind == "shell" && !s.cfg.remoteShell, d.Kind == "pipeline" && !s.cfg.remoteShell && hasShellStep(d):
		j.refused = fmt.Errorf("%w: shell jobs from definitions need WithRemoteShell(true)", ErrRefused)
	case (d.Kind == "http" || d.Kind == "pipeline" && hasHTTPStep(d)) && !s.cfg.remoteHTTP:
		j.refused = fmt.Errorf("%w: HTTP jobs from definitions need WithRemoteHTTP", ErrRefused)
	}
	if j.refused == nil {
		j.refused = hostRefused
	}
	if j.refused != nil {
		j.eligible = false
	}
	return j, nil
}

func hasShellStep(d Definition) bool { return hasStepKind(d, "shell") }
func hasHTTPStep(d Definition) bool  { return hasStepKind(d, "http") }
func hasStepKind(d Definition, kind string) bool {
	for _, st := range d.Steps {
		if st.Kind == kind {
			return true
		}
	}
	return false
}

// codeJobHere reports whether name is a job registered in code on this
// instance, overridden by a definition or not; s.defs.mu is held.
func (s *Scheduler) codeJobHere(name string) bool {
	s.mu.Lock()
	cur := s.jobs[name]
	s.mu.Unlock()
	return s.defs.code[name] != nil || cur != nil && (cur.source == sourceCode || cur.source == sourceOverride)
}

// definedJobHere reports whether this instance runs name as the job of a
// definition with a kind.
func (s *Scheduler) definedJobHere(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[name]
	return j != nil && j.source == sourceDefinition
}

// recheckDefinitions applies what a change of the live instances' code
// jobs changes. A definition with a kind is skipped while any live instance
// registers its name in code, so that an instance without that code job
// never runs the definition in its place: one applied here whose name
// another instance now registers is withdrawn (its job dropped, the
// definition listed by InvalidDefinitions), and one skipped for that
// reason whose name no live instance registers any more is applied. The
// state so follows from the definitions and the registrations alone, as
// Define's own check does.
func (s *Scheduler) recheckDefinitions() {
	s.defs.mu.Lock()
	var withdraw []string
	retry := map[string][]byte{}
	for name := range s.defs.applied {
		if s.definedJobHere(name) && s.members.codeElsewhere(s.cfg.instanceID, name) {
			withdraw = append(withdraw, name)
		}
	}
	for name, err := range s.defs.invalid {
		if raw := s.defs.pending[name]; errors.Is(err, ErrCodeJob) && raw != nil &&
			!s.codeJobHere(name) && !s.members.codeElsewhere(s.cfg.instanceID, name) {
			retry[name] = raw
		}
	}
	for _, name := range withdraw {
		s.defs.pending[name] = []byte(s.defs.applied[name])
		s.defs.invalid[name] = codeJobError(name)
		delete(s.defs.applied, name)
	}
	s.defs.mu.Unlock()
	for _, name := range withdraw {
		s.dropDefinedJob(name)
		s.log.Warn("skipping job definition: another instance registers its name in code", zap.String("job", name))
	}
	for name, raw := range retry {
		s.applyDefinition(name, raw)
	}
}

// removeDefinition drops a defined job, or restores the code job that a
// definition overrode.
func (s *Scheduler) removeDefinition(name string) {
	s.defs.mu.Lock()
	_, was := s.defs.applied[name]
	delete(s.defs.applied, name)
	delete(s.defs.invalid, name)
	delete(s.defs.pending, name)
	base := s.defs.code[name]
	delete(s.defs.code, name)
	s.defs.mu.Unlock()
	if !was {
		return
	}
	if base != nil {
		j := *base
		j.index = -1
		s.replaceJob(&j)
		s.log.Info("job definition removed: code job restored", zap.String("job", name))
		return
	}
	s.dropDefinedJob(name)
	s.log.Info("job definition removed", zap.String("job", name))
}

// dropDefinedJob removes the job a definition with a kind made, if any.
func (s *Scheduler) dropDefinedJob(name string) {
	s.mu.Lock()
	if j := s.jobs[name]; j != nil && j.source == sourceDefinition {
		s.deleteJob(name)
		s.queue.remove(j)
	}
	s.mu.Unlock()
	s.signal(s.reregister)
}

// replaceJob puts j in place of the job with its name, if any, and queues
// it from now (see takeOver). It refuses, reporting false, to put a job of
// a definition with a kind in place of a job registered in code.
func (s *Scheduler) replaceJob(j *job) bool {
	s.mu.Lock()
	from := s.cfg.clock.Now()
	if old := s.jobs[j.name]; old != nil {
		if j.source == sourceDefinition && (old.source == sourceCode || old.source == sourceOverride) {
			s.mu.Unlock()
			return false
		}
		from = takeOver(old, j, from)
		s.queue.remove(old)
	}
	s.setJob(j)
	if s.state == stateStarted {
		s.enqueue(j, from, s.lead())
	}
	s.mu.Unlock()
	s.signal(s.wake)
	s.signal(s.reregister)
	return true
}

// takeOver returns where j, replacing old, starts its schedule: now, so
// that no tick before the change fires under the new schedule, except
// that around the change no tick is claimed twice and none is given up by
// this instance. j inherits old's floor (the last tick old, or a job old
// replaced, took from the queue to claim; it may be due after now, since
// claims are sent ahead of the tick), and starts after it. A past tick
// that old was still to back up (old is queued with its next tick at or
// before now) is backed up by j when j's schedule has it too. s.mu is held.
func takeOver(old, j *job, now time.Time) time.Time {
	j.floor = old.floor
	if old.index >= 0 && !old.next.After(now) && old.next.After(j.floor) &&
		j.schedule.Next(old.next.Add(-time.Nanosecond)).Equal(old.next) {
		return old.next.Add(-time.Nanosecond)
	}
	return later(now, j.floor)
}
