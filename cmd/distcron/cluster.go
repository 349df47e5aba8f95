package main

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distcron/distcron"
	"go.yaml.in/yaml/v3"
)

func init() {
	commands = append(commands,
		command{name: "instances", help: "list the live instances: leader, tags, jobs", run: instances,
			examples: `# every live instance; the leader is marked with *
distcron instances

# as JSON, with each instance's jobs and the code jobs it registered
distcron instances -o json`},
		command{name: "jobs", help: "list every job of the cluster: where it runs, schedule, paused, running now", run: jobs},
		command{name: "get", args: "JOB", help: "print a job's definition (-o yaml or json)", run: get,
			examples: `# a definition as YAML, in the form apply reads
distcron get backup -o yaml

# save a definition, to edit it and apply it again
distcron get backup -o yaml > backup.yaml`},
	)
}

func instances(g *global, _ *flag.FlagSet, args []string) error {
	if err := needArgs(args, 0, "no arguments"); err != nil {
		return err
	}
	s, ctx, done, err := g.open()
	if err != nil {
		return err
	}
	defer done()
	ins, err := s.Instances(ctx)
	if err != nil {
		return err
	}
	if g.output == "json" {
		return printJSON(g.stdout, ins)
	}
	var rows [][]string
	for _, in := range ins {
		leader := ""
		if in.Leader {
			leader = "*"
		}
		rows = append(rows, []string{in.ID, leader, in.Host, strconv.Itoa(in.PID), in.Version, orDash(strings.Join(in.Tags, ",")),
			strconv.Itoa(in.JobCount), time.Since(in.Started).Round(time.Second).String()})
	}
	return printTable(g.stdout, []string{"INSTANCE", "LEADER", "HOST", "PID", "VERSION", "TAGS", "JOBS", "UP"}, rows)
}

// jobRow is one job as the cluster knows it.
type jobRow struct {
	Name      string   `json:"name"`
	Source    string   `json:"source"` // code, definition, or code+definition (an override)
	Schedule  string   `json:"schedule,omitempty"`
	Location  string   `json:"location,omitempty"`
	Paused    bool     `json:"paused"`
	Instances []string `json:"instances"` // where it is registered and may run
	Running   int      `json:"running"`
}

func jobs(g *global, _ *flag.FlagSet, args []string) error {
	if err := needArgs(args, 0, "no arguments"); err != nil {
		return err
	}
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
			byName[name] = &jobRow{Name: name, Instances: []string{}}
		}
		return byName[name]
	}
	for _, in := range ins {
		for _, j := range in.Jobs {
			r := row(j)
			r.Instances = append(r.Instances, in.ID)
		}
		for _, j := range in.CodeJobs {
			row(j).Source = "code"
		}
	}
	for _, d := range defs {
		r := row(d.Name)
		if r.Source == "code" {
			r.Source = "code+definition"
		} else {
			r.Source = "definition"
		}
		r.Schedule, r.Location = d.Schedule, d.Location
		r.Paused = r.Paused || d.Paused
	}
	for _, p := range paused {
		row(p).Paused = true
	}
	for _, r := range running {
		row(r.Job).Running++
	}
	var out []jobRow
	for _, r := range byName {
		if r.Source == "" {
			r.Source = "code"
		}
		slices.Sort(r.Instances)
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b jobRow) int { return strings.Compare(a.Name, b.Name) })
	if g.output == "json" {
		return printJSON(g.stdout, out)
	}
	var rows [][]string
	for _, r := range out {
		sched := r.Schedule
		if sched != "" && r.Location != "" {
			sched += " (" + r.Location + ")"
		}
		rows = append(rows, []string{r.Name, r.Source, orDash(sched), yesNo(r.Paused), orDash(strings.Join(r.Instances, ",")), strconv.Itoa(r.Running)})
	}
	return printTable(g.stdout, []string{"JOB", "SOURCE", "SCHEDULE", "PAUSED", "INSTANCES", "RUNNING"}, rows)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func get(g *global, _ *flag.FlagSet, args []string) error {
	if err := needArgs(args, 1, "one job name"); err != nil {
		return err
	}
	s, ctx, done, err := g.open()
	if err != nil {
		return err
	}
	defer done()
	d, err := s.Definition(ctx, args[0])
	if err != nil {
		return err
	}
	if g.output == "json" {
		return printJSON(g.stdout, d)
	}
	node, err := definitionYAML(d)
	if err != nil {
		return err
	}
	enc := yaml.NewEncoder(g.stdout)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return fmt.Errorf("encode %q: %w", d.Name, err)
	}
	return enc.Close()
}

// definitionYAML renders d as YAML with the field names of its JSON form
// (the same as apply reads), by way of JSON.
func definitionYAML(d distcron.Definition) (*yaml.Node, error) {
	b, err := jsonMarshal(d)
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil { // JSON is YAML
		return nil, err
	}
	blockStyle(&n)
	return &n, nil
}

// blockStyle drops the flow style that JSON input gives every node.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}
