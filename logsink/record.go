package logsink

import "time"

// Status is the outcome of one run attempt.
type Status string

// The statuses a Record can carry.
const (
	StatusSucceeded Status = "succeeded" // the job returned nil / exited 0
	StatusFailed    Status = "failed"    // the job returned an error, exited non-zero or panicked
	StatusTimeout   Status = "timeout"   // the job exceeded its timeout and was cancelled
	StatusKilled    Status = "killed"    // the job was cancelled (Stop past its deadline, or a kill request)
	StatusSkipped   Status = "skipped"   // the tick was claimed but not run: overlap policy Forbid, paused, or too late to start safely (see Error)
	StatusLost      Status = "lost"      // the runner vanished mid-run (its lease expired)
)

// Trigger says why a run started.
type Trigger string

// The triggers a Record can carry.
const (
	TriggerSchedule Trigger = "schedule" // a cron tick
	TriggerManual   Trigger = "manual"   // an explicit run-now request
	TriggerCatchup  Trigger = "catchup"  // a misfire catch-up run
	TriggerRetry    Trigger = "retry"    // a retry of a failed attempt, or the re-run of a lost one
	TriggerChain    Trigger = "chain"    // started by another job's success or failure
)

// Record describes one run attempt of one job. Every attempt produces
// exactly one Record; the scheduler hands it to every configured sink.
type Record struct {
	Job      string    `json:"job"`      // job name
	Tick     time.Time `json:"tick"`     // the scheduled instant (UTC), the run's identity
	Shard    int       `json:"shard"`    // shard index for sharded jobs, else 0
	Instance string    `json:"instance"` // id of the instance that ran it
	Trigger  Trigger   `json:"trigger"`  // why it ran
	Attempt  int       `json:"attempt"`  // 1 for the first attempt
	Token    int64     `json:"token"`    // fencing token: the etcd revision of the claim
	Started  time.Time `json:"started"`  // when the job started (equals Finished for skipped)
	Finished time.Time `json:"finished"` // when the job returned
	// Duration is Finished-Started, in nanoseconds when encoded as JSON.
	Duration time.Duration `json:"duration"`
	Status   Status        `json:"status"`
	Error    string        `json:"error,omitempty"`  // error text, with the stack for a panic
	ExitCode int           `json:"exit_code"`        // shell jobs: process exit code (-1 if signalled); 0 otherwise
	Output   string        `json:"output,omitempty"` // shell jobs: tail of combined stdout+stderr
	// Steps holds one entry per step of a delivery job, in order, up to the
	// step that failed; nil for other jobs.
	Steps []StepRecord `json:"steps,omitempty"`
}

// StepRecord is the outcome of one step of a delivery job.
type StepRecord struct {
	Name     string        `json:"name"`
	Status   Status        `json:"status"` // succeeded, failed, timeout or killed
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	Error    string        `json:"error,omitempty"`
	ExitCode int           `json:"exit_code"`
	Output   string        `json:"output,omitempty"`
}

// Lateness is how long after its scheduled instant the run started.
func (r Record) Lateness() time.Duration { return r.Started.Sub(r.Tick) }
