package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/internal/errtext"
)

// nextRunsShown is how many upcoming fire times a job lists.
const nextRunsShown = 5

// jobView is a job as the API shows it: the serving instance's JobInfo,
// plus what the cluster knows (runs in progress, registrations).
type jobView struct {
	Name string `json:"name"`
	// Local: the serving instance knows the job (registered here in code,
	// or defined in etcd). A job registered in code only on other
	// instances is listed with Local false, its schedule, zone, kind and
	// tags as their registrations describe it (distcron.Instance.Code),
	// its next runs computed from that, and Paused from the cluster's
	// pause flags.
	Local     bool     `json:"local"`
	Schedule  string   `json:"schedule,omitempty"`
	Location  string   `json:"location,omitempty"`
	Kind      string   `json:"kind,omitempty"`
	Source    string   `json:"source,omitempty"`
	Paused    bool     `json:"paused"`
	Eligible  bool     `json:"eligible"`
	Refused   string   `json:"refused,omitempty"`
	Overlap   string   `json:"overlap,omitempty"`
	Shards    int      `json:"shards,omitempty"`
	Broadcast bool     `json:"broadcast,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	// NextRuns are the next fire instants (at most 5), soonest first;
	// empty when the job never fires again.
	NextRuns []time.Time `json:"next_runs"`
	// Last is the newest run of the job that the serving instance
	// recorded itself (distcron.JobInfo.Last), if any.
	Last *distcron.LastRun `json:"last,omitempty"`
	// Running are the job's runs in progress anywhere in the cluster.
	Running []distcron.Run `json:"running"`
	// Instances are the live instances whose registration lists the job.
	Instances []string `json:"instances"`
	// Definition is the job's definition in etcd, if it has one (only in
	// GET /api/jobs/{name}).
	Definition *distcron.Definition `json:"definition,omitempty"`
}

// invalidDef is a definition in etcd that the serving instance skipped.
type invalidDef struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}

type jobsBody struct {
	Jobs    []jobView    `json:"jobs"`
	Invalid []invalidDef `json:"invalid"`
	Time    time.Time    `json:"time"`
}

// viewOf is the view of a job the serving instance knows.
func (h *handler) viewOf(info distcron.JobInfo) jobView {
	next, err := h.s.NextRuns(info.Name, nextRunsShown)
	if err != nil {
		next = []time.Time{} // unregistered meanwhile
	}
	v := jobView{
		Name: info.Name, Local: true, Schedule: info.Schedule, Location: info.Location, Kind: info.Kind,
		Source: info.Source, Paused: info.Paused, Eligible: info.Eligible, Overlap: info.Overlap.String(),
		Shards: info.Shards, Broadcast: info.Broadcast, Tags: info.Tags,
		NextRuns: next, Last: info.Last, Running: []distcron.Run{}, Instances: []string{},
	}
	if info.Refused != nil {
		v.Refused = info.Refused.Error()
	}
	return v
}

// clusterState is what every job view needs from etcd.
type clusterState struct {
	running   []distcron.Run
	instances []distcron.Instance
	paused    map[string]bool // paused cluster-wide (Pause)
}

// cluster reads runs in progress, registrations and pause flags (three
// reads).
func (h *handler) cluster(ctx context.Context) (clusterState, error) {
	var c clusterState
	var err error
	if c.running, err = h.s.Running(ctx); err != nil {
		return c, err
	}
	if c.instances, err = h.s.Instances(ctx); err != nil {
		return c, err
	}
	paused, err := h.s.PausedJobs(ctx)
	if err != nil {
		return c, err
	}
	c.paused = make(map[string]bool, len(paused))
	for _, name := range paused {
		c.paused[name] = true
	}
	return c, nil
}

// jobViews combines the local job list with the cluster's runs and
// registrations; jobs known only from registrations or running keys are
// added with Local false.
func (h *handler) jobViews(infos []distcron.JobInfo, c clusterState) []jobView {
	views := make([]jobView, 0, len(infos))
	idx := make(map[string]int, len(infos))
	for _, info := range infos {
		idx[info.Name] = len(views)
		views = append(views, h.viewOf(info))
	}
	get := func(name string) *jobView {
		i, ok := idx[name]
		if !ok {
			i = len(views)
			idx[name] = i
			views = append(views, jobView{Name: name, NextRuns: []time.Time{}, Running: []distcron.Run{}, Instances: []string{}})
		}
		return &views[i]
	}
	for _, in := range c.instances {
		for _, name := range in.Jobs {
			v := get(name)
			v.Instances = append(v.Instances, in.ID)
		}
		// Code jobs of other instances, described by the first (by id)
		// instance that registers them.
		for _, name := range in.CodeJobs {
			v := get(name)
			if v.Local || v.Source != "" {
				continue
			}
			if cj, ok := in.Code[name]; ok {
				describeRemote(v, cj)
			}
			v.Source = "code"
		}
	}
	for _, r := range c.running {
		v := get(r.Job)
		v.Running = append(v.Running, r)
	}
	for i := range views {
		if !views[i].Local {
			views[i].Paused = c.paused[views[i].Name]
		}
	}
	slices.SortFunc(views, func(a, b jobView) int { return strings.Compare(a.Name, b.Name) })
	return views
}

// describeRemote fills in the view of a job registered in code on another
// instance from that instance's description of it.
func describeRemote(v *jobView, cj distcron.CodeJob) {
	v.Schedule, v.Location, v.Kind, v.Tags = cj.Schedule, cj.Location, cj.Kind, cj.Tags
	if cj.Schedule == "" {
		return // a schedule of its own (RegisterSchedule): no text form
	}
	loc, err := time.LoadLocation(cj.Location)
	if err != nil {
		loc = time.UTC
	}
	// A CRON_TZ= (or TZ=) prefix is the zone the spec fires in.
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(cj.Schedule, prefix); ok {
			if name, _, _ := strings.Cut(rest, " "); name != "" {
				if _, err := time.LoadLocation(name); err == nil {
					v.Location = name
				}
			}
		}
	}
	sched, err := distcron.ParseSchedule(cj.Schedule, loc)
	if err != nil {
		return // a spec of a newer version, perhaps; shown as it is
	}
	for t := time.Now(); len(v.NextRuns) < nextRunsShown; {
		if t = sched.Next(t); t.IsZero() {
			break
		}
		v.NextRuns = append(v.NextRuns, t.UTC())
	}
}

func (h *handler) invalid() []invalidDef {
	out := []invalidDef{}
	for name, err := range h.s.InvalidDefinitions() {
		out = append(out, invalidDef{Name: name, Error: err.Error()})
	}
	slices.SortFunc(out, func(a, b invalidDef) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (h *handler) listJobs(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	c, err := h.cluster(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, jobsBody{
		Jobs: h.jobViews(h.s.JobInfos(), c), Invalid: h.invalid(), Time: time.Now().UTC(),
	})
}

func (h *handler) getJob(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	c, err := h.cluster(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var infos []distcron.JobInfo
	if info, ok := h.s.JobInfo(name); ok {
		infos = append(infos, info)
	}
	var v *jobView
	for _, jv := range h.jobViews(infos, c) {
		if jv.Name == name {
			v = &jv
			break
		}
	}
	def, err := h.definition(ctx, name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	invalid, isInvalid := h.s.InvalidDefinitions()[name]
	if v == nil {
		if def == nil && !isInvalid {
			writeError(w, http.StatusNotFound, "unknown job %s", errtext.Name(name))
			return
		}
		// Defined in etcd, not applied here yet (or invalid).
		v = &jobView{Name: name, Source: "definition", NextRuns: []time.Time{}, Running: []distcron.Run{}, Instances: []string{}}
		if def != nil {
			v.Schedule, v.Kind, v.Paused = def.Schedule, def.Kind, def.Paused
		}
		if isInvalid {
			v.Refused = invalid.Error()
		}
	}
	if def != nil {
		rd := redact(*def)
		v.Definition = &rd
	}
	writeJSON(w, http.StatusOK, v)
}

// definition reads the job's definition from etcd (one key), or nil when
// there is none. A stored definition that does not validate is returned
// as far as it decodes (InvalidDefinitions says why).
func (h *handler) definition(ctx context.Context, name string) (*distcron.Definition, error) {
	d, err := h.s.Definition(ctx, name)
	switch {
	case err == nil:
		return &d, nil
	case errors.Is(err, distcron.ErrUnknownJob):
		return nil, nil
	case errors.Is(err, distcron.ErrInvalidDefinition):
		if d.Name == "" {
			return nil, nil // not even JSON
		}
		return &d, nil
	}
	return nil, err
}

type definitionsBody struct {
	Definitions []distcron.Definition `json:"definitions"`
	Invalid     []invalidDef          `json:"invalid"`
}

func (h *handler) listDefinitions(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	defs, err := h.s.Definitions(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]distcron.Definition, len(defs))
	for i, d := range defs {
		out[i] = redact(d)
	}
	writeJSON(w, http.StatusOK, definitionsBody{Definitions: out, Invalid: h.invalid()})
}

// instanceView is a live instance as GET api/instances shows it: its
// registration (with its clock estimate, Instance.Clock) and how many runs
// it has in progress.
type instanceView struct {
	distcron.Instance
	// Running counts the instance's runs in progress (running keys).
	Running int `json:"running"`
}

type instancesBody struct {
	Instances []instanceView `json:"instances"`
	Leader    string         `json:"leader"`
	// Departed are the instances that left within the last hour, as the
	// serving instance saw them (distcron.Scheduler.Departed), newest first.
	Departed []distcron.Departure `json:"departed"`
}

func (h *handler) listInstances(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	ins, err := h.s.Instances(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	running, err := h.s.Running(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	perInstance := make(map[string]int)
	for _, run := range running {
		perInstance[run.Instance]++
	}
	body := instancesBody{Instances: make([]instanceView, 0, len(ins)), Departed: h.s.Departed()}
	for _, in := range ins {
		if in.Leader {
			body.Leader = in.ID
		}
		body.Instances = append(body.Instances, instanceView{Instance: in, Running: perInstance[in.ID]})
	}
	writeJSON(w, http.StatusOK, body)
}

type runningBody struct {
	Running []distcron.Run `json:"running"`
}

func (h *handler) listRunning(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	runs, err := h.s.Running(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, runningBody{Running: runs})
}

// readDefinition reads and strictly decodes a Definition from the body:
// 415 unless it is JSON, 413 when too large, 400 when it does not decode
// or validate. It reports whether it answered.
func (h *handler) readDefinition(w http.ResponseWriter, r *http.Request) (distcron.Definition, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json, not %s", errtext.Name(ct))
			return distcron.Definition{}, true
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.maxBody))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body larger than %d bytes", mbe.Limit)
			return distcron.Definition{}, true
		}
		writeError(w, http.StatusBadRequest, "read request body: %v", err)
		return distcron.Definition{}, true
	}
	if len(bytes.TrimSpace(body)) == 0 {
		writeError(w, http.StatusBadRequest, "empty body: want a job definition as JSON")
		return distcron.Definition{}, true
	}
	// Decoded as distcron.ParseDefinition does (strictly), but PUT
	// api/jobs/{name} may leave the name out of the body.
	var d distcron.Definition
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		writeError(w, http.StatusBadRequest, "%v: %v", distcron.ErrInvalidDefinition, err)
		return distcron.Definition{}, true
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "%v: trailing data after the JSON object", distcron.ErrInvalidDefinition)
		return distcron.Definition{}, true
	}
	if d.Name == "" {
		d.Name = r.PathValue("name")
	}
	if err := d.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return distcron.Definition{}, true
	}
	return d, false
}

type definedBody struct {
	Job        string              `json:"job"`
	Created    bool                `json:"created"`
	Definition distcron.Definition `json:"definition"`
}

// codeJobText explains the 409 of a definition with a kind on a code job.
const codeJobText = "job %q is registered in code%s: a definition cannot replace it (it may only override its schedule, zone or pause, without a kind); pick another name"

// refuseCodeJob answers 409 when name is a job registered in code: here
// (alone or overridden by a definition), or, as far as the registrations
// of live instances tell, on another instance while no definition with a
// kind is stored (cur). It reports whether it answered.
//
// The root package refuses such definitions too (distcron.ErrCodeJob);
// this check gives the answer before any write, with the same status.
func (h *handler) refuseCodeJob(ctx context.Context, w http.ResponseWriter, r *http.Request, name string, cur *distcron.Definition) bool {
	if info, ok := h.s.JobInfo(name); ok {
		if info.Source == "code" || info.Source == "override" {
			writeError(w, http.StatusConflict, codeJobText, name, "")
			return true
		}
		return false
	}
	if cur != nil && cur.Kind != "" {
		return false // a job defined in etcd
	}
	instances, err := h.s.Instances(ctx)
	if err != nil {
		h.fail(w, r, err)
		return true
	}
	for _, in := range instances {
		if slices.Contains(in.CodeJobs, name) {
			writeError(w, http.StatusConflict, codeJobText, name, " on instance "+in.ID)
			return true
		}
	}
	return false
}

// createJob is POST /api/jobs: a new job from a definition.
func (h *handler) createJob(w http.ResponseWriter, r *http.Request) {
	d, done := h.readDefinition(w, r)
	if done {
		return
	}
	a := auditOf(r)
	a.job, a.kind = d.Name, d.Kind
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	if info, ok := h.s.JobInfo(d.Name); ok {
		if info.Source == "code" || info.Source == "override" {
			writeError(w, http.StatusConflict, codeJobText, d.Name, "")
		} else {
			writeError(w, http.StatusConflict, "job %q is already defined; use PUT api/jobs/%s to change it", d.Name, d.Name)
		}
		return
	}
	if cur, err := h.definition(ctx, d.Name); err != nil {
		h.fail(w, r, err)
		return
	} else if cur != nil {
		writeError(w, http.StatusConflict, "job %q is already defined; use PUT api/jobs/%s to change it", d.Name, d.Name)
		return
	}
	if h.refuseCodeJob(ctx, w, r, d.Name, nil) {
		return
	}
	if err := keepRedacted(&d, nil); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err := h.s.Define(ctx, d); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, definedBody{Job: d.Name, Created: true, Definition: redact(d)})
}

// putJob is PUT /api/jobs/{name}: create or replace a definition (an
// override when it has no kind). Secret values sent as Redacted keep the
// stored ones.
func (h *handler) putJob(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d, done := h.readDefinition(w, r)
	if done {
		return
	}
	auditOf(r).kind = d.Kind
	if d.Name != name {
		writeError(w, http.StatusBadRequest, "the body names job %s but the path names %s", errtext.Name(d.Name), errtext.Name(name))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	cur, err := h.definition(ctx, name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if d.Kind != "" && h.refuseCodeJob(ctx, w, r, name, cur) {
		return
	}
	if err := keepRedacted(&d, cur); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err := h.s.Define(ctx, d); err != nil {
		h.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if cur == nil {
		status = http.StatusCreated
	}
	writeJSON(w, status, definedBody{Job: d.Name, Created: cur == nil, Definition: redact(d)})
}

// deleteJob is DELETE /api/jobs/{name}: remove a definition.
func (h *handler) deleteJob(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	cur, err := h.definition(ctx, name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if cur != nil {
		auditOf(r).kind = cur.Kind
	}
	err = h.s.Delete(ctx, name)
	if errors.Is(err, distcron.ErrUnknownJob) {
		if info, ok := h.s.JobInfo(name); ok && info.Source == "code" {
			writeError(w, http.StatusConflict, "job %q is registered in code and cannot be deleted here; only jobs defined through the API or etcd can", name)
			return
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, actionBody{Job: name, Action: "delete", Done: "definition deleted; every instance drops the job, or restores the job registered in code that it overrode"})
}

type actionBody struct {
	Job    string `json:"job"`
	Action string `json:"action"`
	Done   string `json:"done"`
}

// killRun is POST /api/running/{id}/kill: cancel one run in progress,
// named by its distcron.Run.ID (URL-escaped: it holds slashes).
func (h *handler) killRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	job, _, _ := strings.Cut(id, "/")
	a := auditOf(r)
	a.job = job
	if info, ok := h.s.JobInfo(job); ok {
		a.kind = info.Kind
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
	defer cancel()
	if err := h.s.KillRun(ctx, id); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, killRunBody{Job: job, Run: id, Action: "kill", Done: "kill requested: this run is cancelled where it runs; the job's other runs go on"})
}

type killRunBody struct {
	Job    string `json:"job"`
	Run    string `json:"run"`
	Action string `json:"action"`
	Done   string `json:"done"`
}

// control is POST /api/jobs/{name}/{trigger,kill,pause,resume}.
func (h *handler) control(action string) http.HandlerFunc {
	var (
		call   func(*distcron.Scheduler, context.Context, string) error
		status = http.StatusOK
		done   string
	)
	switch action {
	case "trigger":
		call, status, done = (*distcron.Scheduler).Trigger, http.StatusAccepted, "run requested: one eligible instance runs it now"
	case "kill":
		call, status, done = (*distcron.Scheduler).Kill, http.StatusAccepted, "kill requested: the job's runs in progress are cancelled wherever they are"
	case "pause":
		call, done = (*distcron.Scheduler).Pause, "paused on every instance"
	case "resume":
		call, done = (*distcron.Scheduler).Resume, "resumed on every instance"
	default:
		panic("admin: unknown action " + action)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if info, ok := h.s.JobInfo(name); ok {
			auditOf(r).kind = info.Kind
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.timeout)
		defer cancel()
		if err := call(h.s, ctx, name); err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, status, actionBody{Job: name, Action: action, Done: done})
	}
}
