package main

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distcron/distcron"
)

func init() {
	var next int
	commands = append(commands, command{
		name: "jobs", help: "list every job of the cluster: source, schedule, zone, next runs, paused, where it may run, running now",
		long: `Jobs are gathered from the instances' registrations (jobs registered in
code, as each instance runs them) and from the definitions in etcd.

SOURCE is code (registered in a program), definition (defined in etcd:
apply, the admin console) or code+definition (a code job whose schedule,
zone or pause a definition overrides). SCHEDULE and ZONE are what the
instances run; "custom" is a code job with a Schedule of its own, which has
no text form. A definition without a zone runs in each instance's default
zone (WithLocation): ZONE shows "default", and NEXT assumes UTC. NEXT is
computed here, with the library's schedule rules. INSTANCES are the live
instances that may run the job (required tags, remote shell or HTTP
allowed); RUNNING counts its runs in progress and names their instances.`,
		examples: `# every job, its next run and where it may run
distcron jobs

# the next 3 runs of each job
distcron jobs --next 3

# as JSON (next runs as RFC 3339 times)
distcron jobs -o json`,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&next, "next", 1, "how many next run times to show per job (1-100)")
		},
		run: func(g *global, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
			}
			if next < 1 || next > 100 {
				return fmt.Errorf("%w: --next %d: want 1 to 100", errUsage, next)
			}
			return listJobs(g, next)
		},
	})
}

// jobRow is one job as the cluster knows it.
type jobRow struct {
	Name string `json:"name"`
	// Source is code, definition, code+definition (an override), or "-"
	// for a name known only from a pause flag or a run in progress (no
	// live instance registers it, no definition names it).
	Source string `json:"source"`
	Kind   string `json:"kind,omitempty"`
	// Schedule and Location are what the instances run: for code jobs as
	// registered (overrides applied), else the definition's. Schedule is
	// empty for a code job with a schedule of its own (custom); Location
	// is empty for a definition without a zone (each instance's default).
	Schedule string `json:"schedule,omitempty"`
	Location string `json:"location,omitempty"`
	Custom   bool   `json:"custom_schedule,omitempty"`
	// ScheduleDiffers: instances registered different schedules or zones
	// for this code job (a rollout in progress); Schedule is the one most
	// of them run.
	ScheduleDiffers bool `json:"schedule_differs,omitempty"`
	// Next are the next run times, in the job's zone (UTC for "default").
	Next      []time.Time `json:"next"`
	NextError string      `json:"next_error,omitempty"` // why Next is empty: the schedule does not parse here
	Paused    bool        `json:"paused"`
	Instances []string    `json:"instances"` // live instances that may run it
	Running   int         `json:"running"`   // runs in progress
	RunningOn []string    `json:"running_on"`
}

// codeVariant is one (schedule, zone) of a code job and how many
// instances registered it.
type codeVariant struct {
	job   distcron.CodeJob
	count int
}

func listJobs(g *global, next int) error {
	s, ctx, done, err := g.open()
	if err != nil {
		return err
	}
	defer done()
	ins, err := s.Instances(ctx)
	if err != nil {
		return err
	}
	defs, err := s.Definitions(ctx)
	if err != nil {
		return err
	}
	paused, err := s.PausedJobs(ctx)
	if err != nil {
		return err
	}
	running, err := s.Running(ctx)
	if err != nil {
		return err
	}
	byName := map[string]*jobRow{}
	row := func(name string) *jobRow {
		if byName[name] == nil {
			byName[name] = &jobRow{Name: name, Instances: []string{}, Next: []time.Time{}, RunningOn: []string{}}
		}
		return byName[name]
	}
	variants := map[string][]codeVariant{}
	registered := map[string]bool{} // eligible on some instance
	for _, in := range ins {
		for _, j := range in.Jobs {
			r := row(j)
			r.Instances = append(r.Instances, in.ID)
			registered[j] = true
		}
		for _, j := range in.CodeJobs {
			row(j).Source = "code"
			cj, ok := in.Code[j]
			if !ok {
				continue // an instance of a version that does not describe its code jobs
			}
			vs := variants[j]
			i := slices.IndexFunc(vs, func(v codeVariant) bool {
				return v.job.Schedule == cj.Schedule && v.job.Location == cj.Location && v.job.Kind == cj.Kind
			})
			if i < 0 {
				vs = append(vs, codeVariant{job: cj})
				i = len(vs) - 1
			}
			vs[i].count++
			variants[j] = vs
		}
	}
	for name, vs := range variants {
		// The variant most instances run; ties go to the first instance's.
		best := vs[0]
		for _, v := range vs[1:] {
			if v.count > best.count {
				best = v
			}
		}
		r := row(name)
		r.Kind, r.Schedule, r.Location = best.job.Kind, best.job.Schedule, best.job.Location
		r.Custom = best.job.Schedule == ""
		r.ScheduleDiffers = len(vs) > 1
	}
	for _, d := range defs {
		r := row(d.Name)
		if r.Source == "code" {
			r.Source = "code+definition"
			// An override's schedule, and its zone with it, is what the
			// instances run. Take them from the definition: registrations
			// report the code job's own zone for an override (the
			// library's describe reads the job's options, which an override
			// does not change), and older versions report nothing.
			if d.Schedule != "" {
				r.Schedule, r.Custom = d.Schedule, false
				if d.Location != "" {
					r.Location = d.Location
				}
			}
		} else {
			r.Source = "definition"
			r.Kind, r.Schedule, r.Location = d.Kind, d.Schedule, d.Location
		}
		r.Paused = r.Paused || d.Paused
	}
	for _, p := range paused {
		row(p).Paused = true
	}
	for _, run := range running {
		r := row(run.Job)
		r.Running++
		if !slices.Contains(r.RunningOn, run.Instance) {
			r.RunningOn = append(r.RunningOn, run.Instance)
		}
	}
	now := time.Now()
	var out []jobRow
	for _, r := range byName {
		switch {
		case r.Source != "":
		case registered[r.Name]:
			r.Source = "code" // registered by a version without CodeJobs
		default:
			r.Source = "-" // only a pause flag or a run in progress: the job is gone
		}
		slices.Sort(r.Instances)
		slices.Sort(r.RunningOn)
		r.Next, r.NextError = nextRuns(r.Schedule, r.Location, now, next)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b jobRow) int { return strings.Compare(a.Name, b.Name) })
	if g.output == "json" {
		return printJSON(g.stdout, out)
	}
	var rows [][]string
	for _, r := range out {
		sched := r.Schedule
		switch {
		case r.Custom:
			sched = "custom"
		case sched == "":
			sched = "-"
		}
		if r.ScheduleDiffers {
			sched += " (differs by instance)"
		}
		zone := r.Location
		if zone == "" {
			zone = "default"
		}
		if r.Custom {
			zone = "-"
		}
		var nexts []string
		for _, t := range r.Next {
			nexts = append(nexts, t.Format("2006-01-02 15:04:05 MST"))
		}
		nextCol := strings.Join(nexts, ", ")
		if r.NextError != "" {
			nextCol = "(" + r.NextError + ")"
		}
		runningCol := strconv.Itoa(r.Running)
		if r.Running > 0 {
			runningCol += " (" + strings.Join(r.RunningOn, ",") + ")"
		}
		rows = append(rows, []string{r.Name, r.Source, sched, zone, orDash(nextCol), yesNo(r.Paused),
			orDash(strings.Join(r.Instances, ",")), runningCol})
	}
	return printTable(g.stdout, []string{"JOB", "SOURCE", "SCHEDULE", "ZONE", "NEXT", "PAUSED", "INSTANCES", "RUNNING"}, rows)
}

// nextRuns returns the n fire times of spec in zone after now, or why
// there are none. An empty zone is UTC; an empty spec has none.
func nextRuns(spec, zone string, now time.Time, n int) ([]time.Time, string) {
	out := []time.Time{}
	if spec == "" {
		return out, ""
	}
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			return out, "unknown zone " + strconv.Quote(zone)
		}
		loc = l
	}
	sched, err := distcron.ParseSchedule(spec, loc)
	if err != nil {
		return out, "bad schedule: " + err.Error()
	}
	for t := now.In(loc); len(out) < n; {
		if t = sched.Next(t); t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out, ""
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
