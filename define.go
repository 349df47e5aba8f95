package distcron

// The definitions API: Define, Delete and reading what etcd holds. How
// instances apply definitions is in defwatch.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/distcron/distcron/internal/errtext"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// MaxDefinitionSize is the largest definition Define stores, in bytes of
// JSON: well below etcd's default request limit (1.5 MiB).
const MaxDefinitionSize = 1 << 20

// Define validates d and stores it in etcd; every instance picks it up
// within moments (see Definition). Invalid definitions are refused with an
// error wrapping ErrInvalidDefinition and change nothing. It blocks for one
// etcd write.
//
// HTTP jobs are also checked against this instance's WithRemoteHTTP host
// list, when it has one.
func (s *Scheduler) Define(ctx context.Context, d Definition) error {
	v, err := s.encodeDefinition(ctx, d)
	if err != nil {
		return err
	}
	if _, err := s.cli.Put(ctx, s.keys.Def(d.Name), string(v)); err != nil {
		return fmt.Errorf("distcron: define %q: %w", d.Name, err)
	}
	return nil
}

// encodeDefinition checks d as Define does and returns the JSON to store.
func (s *Scheduler) encodeDefinition(ctx context.Context, d Definition) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if d.Kind != "" {
		if err := s.refuseCodeJob(ctx, d.Name); err != nil {
			return nil, err
		}
	}
	if d.Schedule != "" {
		loc := s.cfg.location
		if d.Location != "" {
			loc, _ = time.LoadLocation(d.Location) // validated above
		}
		sched, err := ParseSchedule(d.Schedule, loc)
		if err != nil {
			return nil, d.invalid("%w", err)
		}
		if err := s.checkFloor(d, sched); err != nil {
			return nil, err
		}
	}
	if s.cfg.remoteHTTP {
		if _, _, err := d.compile(s.remotePolicy()); err != nil {
			return nil, err
		}
	}
	if d.Misfire == MisfireRunOnce && (d.Deadline <= 0 || Duration(s.cfg.claimRetention/2) < d.Deadline) {
		return nil, d.invalid("starting deadline %v must be within (0, %v] (half the claim retention, WithClaimRetention)", time.Duration(d.Deadline), s.cfg.claimRetention/2)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" stays one byte, not six
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	v := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(v) > MaxDefinitionSize {
		return nil, d.invalid("the definition is %d bytes of JSON, above the limit of %d", len(v), MaxDefinitionSize)
	}
	return v, nil
}

// remotePolicy is this instance's policy for jobs from definitions.
func (s *Scheduler) remotePolicy() *remotePolicy {
	return &remotePolicy{allow: s.cfg.httpAllow, passthrough: s.cfg.shellEnv}
}

// floorSamples is how many consecutive fires checkFloor looks at.
const floorSamples = 64

// checkFloor refuses a schedule from the network whose fires come closer
// together than WithRemoteScheduleFloor, judged on its next fires.
func (s *Scheduler) checkFloor(d Definition, sched Schedule) error {
	if gap, below := s.belowFloor(sched); below {
		return d.invalid("schedule %q fires %v apart, below the floor of %v for schedules from the network (WithRemoteScheduleFloor)", d.Schedule, gap, s.cfg.remoteFloor)
	}
	return nil
}

// belowFloor reports whether two of the schedule's next fires come closer
// together than WithRemoteScheduleFloor, and the first such gap.
func (s *Scheduler) belowFloor(sched Schedule) (time.Duration, bool) {
	floor := s.cfg.remoteFloor
	if floor <= 0 {
		return 0, false
	}
	prev := sched.Next(s.cfg.clock.Now())
	for i := 0; i < floorSamples && !prev.IsZero(); i++ {
		next := sched.Next(prev)
		if next.IsZero() {
			return 0, false
		}
		if gap := next.Sub(prev); gap < floor {
			return gap, true
		}
		prev = next
	}
	return 0, false
}

// codeJobError is the error for a definition with a kind whose name is a
// job registered in code; it wraps ErrInvalidDefinition and ErrCodeJob.
func codeJobError(name string) error {
	return errtext.Errorf("%w: job %s: %w; a definition may override only its schedule, zone and pause (no kind)",
		ErrInvalidDefinition, errtext.Name(name), ErrCodeJob)
}

// refuseCodeJob returns an error wrapping ErrCodeJob when name is a job
// registered in code here or on a live instance.
func (s *Scheduler) refuseCodeJob(ctx context.Context, name string) error {
	if names, _ := s.codeJobs(); slices.Contains(names, name) {
		return codeJobError(name)
	}
	resp, err := s.cli.Get(ctx, s.keys.Instances(), clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("distcron: define %q: %w", name, err)
	}
	for _, kv := range resp.Kvs {
		var in Instance
		if json.Unmarshal(kv.Value, &in) == nil && slices.Contains(in.CodeJobs, name) {
			return codeJobError(name)
		}
	}
	return nil
}

// Delete removes a job definition from etcd; every instance drops the job
// (runs in progress finish), or restores the code job it overrode. It
// returns ErrUnknownJob when there is no such definition.
func (s *Scheduler) Delete(ctx context.Context, name string) error {
	resp, err := s.cli.Delete(ctx, s.keys.Def(name))
	if err != nil {
		return fmt.Errorf("distcron: delete %s: %w", errtext.Name(name), err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("%w: no definition %s", ErrUnknownJob, errtext.Name(name))
	}
	return nil
}

// Definitions reads every job definition stored in etcd, including ones
// that do not validate (those are listed by InvalidDefinitions).
func (s *Scheduler) Definitions(ctx context.Context) ([]Definition, error) {
	resp, err := s.cli.Get(ctx, s.keys.Defs(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("distcron: read definitions: %w", err)
	}
	var out []Definition
	for _, kv := range resp.Kvs {
		var d Definition
		if json.Unmarshal(kv.Value, &d) == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// Definition reads one job definition from etcd; ErrUnknownJob when there
// is none. A stored definition that does not validate is returned with an
// error wrapping ErrInvalidDefinition.
func (s *Scheduler) Definition(ctx context.Context, name string) (Definition, error) {
	resp, err := s.cli.Get(ctx, s.keys.Def(name))
	if err != nil {
		return Definition{}, fmt.Errorf("distcron: read definition %s: %w", errtext.Name(name), err)
	}
	if len(resp.Kvs) == 0 {
		return Definition{}, fmt.Errorf("%w: no definition %s", ErrUnknownJob, errtext.Name(name))
	}
	return ParseDefinition(resp.Kvs[0].Value)
}

// InvalidDefinitions returns the definitions in etcd that this instance
// skipped, by job name, with the reason. Such a definition never stops the
// watch; a previously valid version of the job keeps running.
func (s *Scheduler) InvalidDefinitions() map[string]error {
	s.defs.mu.Lock()
	defer s.defs.mu.Unlock()
	return maps.Clone(s.defs.invalid)
}
