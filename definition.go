package distcron

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/distcron/distcron/executor"
	"github.com/distcron/distcron/internal/errtext"
)

// Definition is a job defined in etcd (defs/<name>, as JSON) rather than in
// code: every instance watches the definitions and adds, changes or removes
// such jobs live. Kind is "shell", "http" or "pipeline"; an empty Kind
// overrides a job registered in code with the same name: only Schedule,
// Location and Paused apply then.
type Definition struct {
	Name     string `json:"name"`
	Schedule string `json:"schedule,omitempty"`
	// Location is an IANA zone name for the schedule; empty: the instance's
	// default zone (WithLocation).
	Location string     `json:"location,omitempty"`
	Kind     string     `json:"kind,omitempty"`
	Shell    *ShellSpec `json:"shell,omitempty"`
	HTTP     *HTTPSpec  `json:"http,omitempty"`
	Steps    []StepSpec `json:"steps,omitempty"` // for kind "pipeline"
	Timeout  Duration   `json:"timeout,omitempty"`
	// Overlap and Misfire are written in JSON by name: "allow" (the
	// default, also when empty), "forbid", "replace"; "skip" (the
	// default), "run_once". Deadline is the starting deadline of run_once.
	Overlap   OverlapPolicy `json:"overlap,omitempty"`
	Misfire   MisfirePolicy `json:"misfire,omitempty"`
	Deadline  Duration      `json:"starting_deadline,omitempty"`
	Retry     *RetrySpec    `json:"retry,omitempty"`
	Tags      []string      `json:"tags,omitempty"`
	Paused    bool          `json:"paused,omitempty"`
	Shards    int           `json:"shards,omitempty"`
	Broadcast bool          `json:"broadcast,omitempty"`
	OnSuccess []string      `json:"on_success,omitempty"`
	OnFailure []string      `json:"on_failure,omitempty"`
	RerunLost bool          `json:"rerun_lost,omitempty"`
}

// ShellSpec is a shell job: Command runs with /bin/sh -c; Args become its
// positional parameters $1, $2, ...; Env adds KEY=VALUE entries to the
// instance's environment; Dir is the working directory.
type ShellSpec struct {
	Command string   `json:"command"`
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"`
	Dir     string   `json:"dir,omitempty"`
}

// HTTPSpec is an HTTP job: the request, and the status that means success
// (0: any 2xx).
type HTTPSpec struct {
	Method       string            `json:"method,omitempty"`
	URL          string            `json:"url"`
	Headers      map[string]string `json:"headers,omitempty"`
	Body         string            `json:"body,omitempty"`
	ExpectStatus int               `json:"expect_status,omitempty"`
}

// StepSpec is one step of a pipeline job: a shell command or an HTTP request.
type StepSpec struct {
	Name  string     `json:"name"`
	Kind  string     `json:"kind"`
	Shell *ShellSpec `json:"shell,omitempty"`
	HTTP  *HTTPSpec  `json:"http,omitempty"`
}

// RetrySpec is the JSON form of Retry.
type RetrySpec struct {
	MaxAttempts int      `json:"max_attempts"`
	Backoff     Duration `json:"backoff"`
	MaxBackoff  Duration `json:"max_backoff"`
}

// Duration is a time.Duration written in JSON as a Go duration string ("90s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"90s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDefinition decodes a definition strictly (unknown fields are
// errors) and validates it. Errors wrap ErrInvalidDefinition.
func ParseDefinition(data []byte) (Definition, error) {
	var d Definition
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("%w: %w", ErrInvalidDefinition, err)
	}
	if dec.More() {
		return d, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidDefinition)
	}
	return d, d.Validate()
}

// Validate checks the definition without running anything: the name, the
// schedule, the zone, the kind and its fields, the policies. Errors wrap
// ErrInvalidDefinition and name the field.
func (d Definition) Validate() error {
	_, _, err := d.compile(nil)
	return err
}

// remotePolicy is how an instance runs jobs from definitions: HTTP jobs
// only to the addresses its allow-list permits (checked on the resolved
// address at dial time), shell jobs with a minimal environment.
type remotePolicy struct {
	allow       *executor.AllowList // nil: no HTTP check (validation only)
	passthrough []string            // host environment variables passed to shell jobs
}

// invalid returns an error wrapping ErrInvalidDefinition that names the
// job and says format; error operands (%w) lose their "distcron: ".
func (d Definition) invalid(format string, args ...any) error {
	return errtext.Errorf("%w: job %s: "+format, append([]any{ErrInvalidDefinition, errtext.Name(d.Name)}, args...)...)
}

// invalidFrom wraps err, an error about the job's options or executor, as
// an invalid definition. Its message leaves out what the definition's
// message says already, or what does not apply to a definition: the job's
// name and the sentinels of the options and executors.
func (d Definition) invalidFrom(err error) error {
	return errtext.Wrap(fmt.Sprintf("%v: job %s: %s", ErrInvalidDefinition, errtext.Name(d.Name), d.strip(err)), ErrInvalidDefinition, err)
}

// strip returns err's message without the parts invalidFrom leaves out.
func (d Definition) strip(err error) string {
	return errtext.Strip(err, errtext.Trim(ErrInvalidDefinition), errtext.Trim(ErrInvalidOption), errtext.Trim(ErrInvalidName),
		errtext.Trim(executor.ErrInvalid), "job "+errtext.Name(d.Name))
}

// compile turns a valid definition into job options and an executor (nil
// for an override). allowedHosts restricts HTTP jobs when not nil.
func (d Definition) compile(p *remotePolicy) ([]JobOption, executor.Executor, error) {
	if !validName(d.Name) {
		return nil, nil, fmt.Errorf("%w: name %s: %s", ErrInvalidDefinition, errtext.Name(d.Name), nameRule)
	}
	var opts []JobOption
	if d.Location != "" {
		loc, err := time.LoadLocation(d.Location)
		if err != nil || d.Location == "Local" {
			return nil, nil, d.invalid("location %s is not an IANA zone", errtext.Name(d.Location))
		}
		opts = append(opts, InLocation(loc))
	}
	if d.Kind == "" { // override of a job registered in code
		if d.Schedule != "" {
			if _, err := ParseSchedule(d.Schedule, nil); err != nil {
				return nil, nil, d.invalid("%w", err)
			}
		}
		if d.Shell != nil || d.HTTP != nil || len(d.Steps) > 0 {
			return nil, nil, d.invalid("shell, http and steps need a kind")
		}
		return opts, nil, nil
	}
	if d.Schedule == "" {
		return nil, nil, d.invalid("schedule is required")
	}
	if _, err := ParseSchedule(d.Schedule, nil); err != nil {
		return nil, nil, d.invalid("%w", err)
	}
	var exec executor.Executor
	var err error
	switch d.Kind {
	case "shell", "http":
		exec, err = compileStep(StepSpec{Name: d.Name, Kind: d.Kind, Shell: d.Shell, HTTP: d.HTTP}, p)
		if err != nil {
			return nil, nil, d.invalidFrom(err)
		}
		if len(d.Steps) > 0 {
			return nil, nil, d.invalid("steps belong to kind pipeline")
		}
	case "pipeline":
		if d.Shell != nil || d.HTTP != nil {
			return nil, nil, d.invalid("a pipeline has steps, not shell or http")
		}
		steps := make([]executor.Step, len(d.Steps))
		for i, st := range d.Steps {
			e, err := compileStep(st, p)
			if err != nil {
				return nil, nil, d.invalidFrom(errtext.Wrap(fmt.Sprintf("step %d: %s", i, d.strip(err)), err))
			}
			steps[i] = executor.Step{Name: st.Name, Exec: e}
		}
		if exec, err = executor.NewPipeline(steps...); err != nil {
			return nil, nil, d.invalidFrom(err)
		}
	default:
		return nil, nil, d.invalid("unknown kind %s (want shell, http or pipeline)", errtext.Name(d.Kind))
	}
	if d.Timeout < 0 {
		return nil, nil, d.invalid("negative timeout")
	}
	opts = append(opts, Timeout(time.Duration(d.Timeout)))
	if _, err := d.Overlap.MarshalText(); err != nil {
		return nil, nil, d.invalid("%w", err)
	}
	opts = append(opts, Overlap(d.Overlap))
	switch _, err := d.Misfire.MarshalText(); {
	case err != nil:
		return nil, nil, d.invalid("%w", err)
	case d.Misfire == MisfireRunOnce:
		opts = append(opts, Misfire(MisfireRunOnce, time.Duration(d.Deadline)))
	}
	if d.Retry != nil {
		opts = append(opts, Retry(d.Retry.MaxAttempts, time.Duration(d.Retry.Backoff), time.Duration(d.Retry.MaxBackoff)))
	}
	if len(d.Tags) > 0 {
		opts = append(opts, RequireTags(d.Tags...))
	}
	if d.Shards != 0 {
		opts = append(opts, Sharded(d.Shards))
	}
	if d.Broadcast {
		opts = append(opts, Broadcast())
	}
	opts = append(opts, OnSuccess(d.OnSuccess...), OnFailure(d.OnFailure...))
	if d.RerunLost {
		opts = append(opts, RerunLost())
	}
	// The retention bound of a starting deadline depends on the instance;
	// it is checked again when the job is added there.
	if _, err := newJobConfig(d.Name, opts, time.UTC, time.Duration(math.MaxInt64)); err != nil {
		return nil, nil, d.invalidFrom(err)
	}
	return opts, exec, nil
}

// compileStep builds the executor of one shell or HTTP step. Shell steps
// get a minimal environment (executor.MinimalEnv: PATH, HOME, LANG, TZ,
// the passthrough names, then their own entries), never the instance's
// whole environment; HTTP steps get p's allow-list.
func compileStep(st StepSpec, p *remotePolicy) (executor.Executor, error) {
	switch st.Kind {
	case "shell":
		if st.HTTP != nil {
			return nil, errors.New("a shell step has no http")
		}
		if st.Shell == nil || st.Shell.Command == "" {
			return nil, errors.New("shell.command is required")
		}
		c := executor.Shell(st.Shell.Command)
		c.Args = append(c.Args, append([]string{"sh"}, st.Shell.Args...)...)
		c.Dir = st.Shell.Dir
		for i, kv := range st.Shell.Env {
			if !bytes.ContainsRune([]byte(kv), '=') {
				return nil, fmt.Errorf("shell.env entry %d is not KEY=VALUE", i) // its value may be a secret
			}
		}
		var passthrough []string
		if p != nil {
			passthrough = p.passthrough
		}
		env, err := executor.MinimalEnv(passthrough, st.Shell.Env...)
		if err != nil {
			return nil, err
		}
		c.Env = env
		return c, nil
	case "http":
		if st.Shell != nil {
			return nil, errors.New("an http step has no shell")
		}
		if st.HTTP == nil {
			return nil, errors.New("http is required")
		}
		h := &executor.HTTP{Method: st.HTTP.Method, URL: st.HTTP.URL, Body: st.HTTP.Body,
			ExpectStatus: st.HTTP.ExpectStatus, Header: http.Header{}}
		if p != nil {
			h.Allow = p.allow
		}
		for k, v := range st.HTTP.Headers {
			h.Header.Set(k, v)
		}
		if err := h.Validate(); err != nil {
			return nil, err
		}
		return h, nil
	}
	return nil, fmt.Errorf("unknown step kind %s (want shell or http)", errtext.Name(st.Kind))
}
