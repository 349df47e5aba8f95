package distcron

import (
	"errors"

	"github.com/distcron/distcron/internal/errtext"
	"github.com/distcron/distcron/internal/schedule"
)

// Errors returned by distcron. Each may be wrapped with detail; test with
// errors.Is.
var (
	// ErrInvalidSpec reports a cron spec that does not parse or validate.
	ErrInvalidSpec = schedule.ErrInvalidSpec
	// ErrInvalidName reports an empty or malformed job name.
	ErrInvalidName = errors.New("distcron: invalid job name")
	// ErrDuplicateJob reports a second registration of a job name.
	ErrDuplicateJob = errors.New("distcron: duplicate job")
	// ErrInvalidOption reports an option or argument value that New,
	// Register or another call rejects.
	ErrInvalidOption = errors.New("distcron: invalid option")
	// ErrNilClient reports a nil *clientv3.Client passed to New.
	ErrNilClient = errors.New("distcron: nil etcd client")
	// ErrStarted reports Start called twice, or while a Start is in
	// progress. Start after Stop returns ErrStopped, which matches
	// ErrStarted too (Start returned ErrStarted then before ErrStopped
	// existed).
	ErrStarted = errors.New("distcron: scheduler already started")
	// ErrStopped reports Start after Stop: a Scheduler runs once, and a
	// stopped one cannot be started again; create a new one with New.
	// The error Start returns then matches both ErrStopped and
	// ErrStarted, and reads as ErrStopped.
	ErrStopped = errors.New("distcron: scheduler stopped; it cannot be started again (create a new one with New)")
	// ErrNotStarted reports Stop, or a call that needs a running scheduler,
	// before Start.
	ErrNotStarted = errors.New("distcron: scheduler not started")
	// ErrUnreachable reports that etcd could not be reached in time.
	ErrUnreachable = errors.New("distcron: etcd unreachable")
	// ErrDuplicateInstance reports that a live instance already uses this
	// instance id (see WithInstanceID).
	ErrDuplicateInstance = errors.New("distcron: instance id in use by a live instance")
	// ErrUnknownJob reports a job name that is neither registered on this
	// instance nor defined in etcd.
	ErrUnknownJob = errors.New("distcron: unknown job")
	// ErrRunsCancelled reports that Stop's ctx ended before the runs in
	// progress did, so they were cancelled (and recorded as killed).
	ErrRunsCancelled = errors.New("distcron: runs in progress cancelled at stop")
	// ErrPaused reports a Trigger of a job that is paused (by Pause or by
	// its definition); Resume it first.
	ErrPaused = errors.New("distcron: job is paused")
	// ErrKilled is the cancellation cause of a run stopped by Kill,
	// KillRun or OverlapReplace; such runs are recorded as killed.
	ErrKilled = errors.New("distcron: run killed")
	// ErrNoSuchRun reports a KillRun of a run that is not in progress
	// (it ended, or the id is not one that Running returned).
	ErrNoSuchRun = errors.New("distcron: no such run in progress")
	// ErrLeaseLost is the cancellation cause of a run whose instance's etcd
	// lease expired while it ran (the instance was paused or cut off past
	// its session TTL): the leader has recorded the run lost, peers no
	// longer see it (overlap policy) and it may have been re-run
	// (RerunLost), so the instance cancels it as soon as it is back.
	ErrLeaseLost = errors.New("distcron: the instance's etcd lease expired during the run")
	// ErrInvalidDefinition reports a job definition that does not validate.
	ErrInvalidDefinition = errors.New("distcron: invalid job definition")
	// ErrCodeJob reports a definition with a kind whose name is a job
	// registered in code (here or on a live instance): a definition may
	// only override such a job's schedule-level fields (no kind). It is
	// returned wrapped together with ErrInvalidDefinition.
	ErrCodeJob = errors.New("distcron: a job registered in code has this name")
	// ErrDefinedJob reports Reschedule or Reconfigure of a job defined in
	// etcd: such a job is changed through its definition (Define).
	ErrDefinedJob = errors.New("distcron: the job is defined in etcd")
	// ErrRefused reports a remotely defined job kind this instance does not
	// run (see WithRemoteShell and WithRemoteHTTP).
	ErrRefused = errors.New("distcron: job kind not enabled on this instance")
)

// errStartAfterStop is what Start returns after Stop: ErrStopped's
// message, matching ErrStopped and ErrStarted.
var errStartAfterStop = errtext.Also(ErrStopped, ErrStarted)
