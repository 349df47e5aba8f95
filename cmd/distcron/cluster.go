package main

import (
	"flag"
	"fmt"
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
		command{name: "get", args: "JOB", help: "print a job's definition (-o yaml or json)", run: get,
			examples: `# a definition as YAML, in the form apply reads
distcron get backup -o yaml

# save a definition, to edit it and apply it again
distcron get backup -o yaml > backup.yaml`},
	)
}

func instances(g *global, _ *flag.FlagSet, args []string) error {
	s, ctx, done, err := g.openFor(args, 0, "no arguments")
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
			strconv.Itoa(in.JobCount), time.Since(in.Started).Round(time.Second).String(), clockOffset(in.Clock)})
	}
	return printTable(g.stdout, []string{"INSTANCE", "LEADER", "HOST", "PID", "VERSION", "TAGS", "JOBS", "UP", "CLOCK"}, rows)
}

// clockOffset writes an instance's estimated offset from the cluster's
// median clock with its error bound, "(following the median)" when the
// instance schedules on the median clock, or "-" without an estimate.
func clockOffset(c *distcron.ClockEstimate) string {
	if c == nil || c.Peers == 0 {
		return "-"
	}
	round := func(d time.Duration) time.Duration {
		if d.Abs() >= time.Second {
			return d.Round(10 * time.Millisecond)
		}
		return d.Round(100 * time.Microsecond)
	}
	sign := ""
	if c.Offset > 0 {
		sign = "+"
	}
	s := fmt.Sprintf("%s%v ±%v", sign, round(c.Offset), round(c.Error))
	if c.Correction != 0 {
		s += " (following the median)"
	}
	return s
}

func get(g *global, _ *flag.FlagSet, args []string) error {
	s, ctx, done, err := g.openFor(args, 1, "one job name")
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
