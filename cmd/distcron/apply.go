package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/distcron/distcron"
)

func init() {
	var file string
	var prune, dryRun bool
	commands = append(commands, command{
		name: "apply", args: "-f FILE", help: "make the job definitions in etcd match a YAML or JSON file, in one transaction",
		long: `The file holds a list of definitions, or a mapping {jobs: [...]}, with the
fields of distcron.Definition (as 'distcron get JOB -o yaml' prints them).
Every definition is validated first: one bad job refuses the whole file,
naming its line. Definitions the file does not name are kept unless --prune.`,
		examples: `# see what would change
distcron apply -f jobs.yaml --dry-run

# create and update the file's jobs, delete the definitions it does not name
distcron apply -f jobs.yaml --prune

# from stdin
cat jobs.json | distcron apply -f -`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&file, "f", "", "the file: a list of definitions, or {jobs: [...]} (- for stdin)")
			fs.BoolVar(&prune, "prune", false, "delete the definitions in etcd that the file does not name")
			fs.BoolVar(&dryRun, "dry-run", false, "print what would change, write nothing")
		},
		run: func(g *global, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments besides -f FILE"); err != nil {
				return err
			}
			if file == "" {
				return fmt.Errorf("%w: -f FILE is required", errUsage)
			}
			var data []byte
			var err error
			if file == "-" {
				data, err = io.ReadAll(os.Stdin)
			} else {
				data, err = os.ReadFile(file)
			}
			if err != nil {
				return err
			}
			defs, err := parseDefinitions(file, data)
			if err != nil {
				return err
			}
			s, ctx, done, err := g.open()
			if err != nil {
				return err
			}
			defer done()
			plan, err := s.Apply(ctx, defs, distcron.ApplyOptions{Prune: prune, DryRun: dryRun})
			if err != nil {
				return fmt.Errorf("%s: nothing applied: %w", file, err)
			}
			if g.output == "json" {
				return printJSON(g.stdout, struct {
					DryRun bool `json:"dry_run"`
					distcron.ApplyPlan
				}{dryRun, plan})
			}
			verb := map[bool]string{false: "", true: " (dry run)"}[dryRun]
			for _, l := range []struct {
				sign  string
				names []string
			}{{"+ created", plan.Created}, {"~ updated", plan.Updated}, {"- deleted", plan.Deleted}} {
				for _, n := range l.names {
					fmt.Fprintf(g.stdout, "%s %s%s\n", l.sign, n, verb)
				}
			}
			fmt.Fprintf(g.stdout, "%d created, %d updated, %d deleted, %d unchanged%s\n",
				len(plan.Created), len(plan.Updated), len(plan.Deleted), len(plan.Unchanged), verb)
			return nil
		},
	})
}

// parseDefinitions reads a list of definitions, or a mapping whose "jobs"
// key holds it, from YAML (JSON is YAML). Each definition is decoded as
// distcron.ParseDefinition decodes JSON, strictly; an error names the file,
// the line and the job.
func parseDefinitions(file string, data []byte) ([]distcron.Definition, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty: want a list of job definitions", file)
	}
	list := doc.Content[0]
	if list.Kind == yaml.MappingNode {
		var jobs *yaml.Node
		for i := 0; i+1 < len(list.Content); i += 2 {
			if k := list.Content[i]; k.Value == "jobs" {
				jobs = list.Content[i+1]
			} else {
				return nil, fmt.Errorf("%s:%d: unknown key %q: want jobs", file, k.Line, k.Value)
			}
		}
		if jobs == nil {
			return nil, fmt.Errorf("%s:%d: no jobs key", file, list.Line)
		}
		list = jobs
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: want a list of job definitions", file, list.Line)
	}
	var defs []distcron.Definition
	var errs []error
	for _, item := range list.Content {
		var v any
		if err := item.Decode(&v); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, item.Line, err))
			continue
		}
		b, err := jsonMarshal(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, item.Line, err))
			continue
		}
		d, err := distcron.ParseDefinition(b)
		if err == nil {
			err = d.Validate()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", file, item.Line, err))
			continue
		}
		defs = append(defs, d)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("refused, nothing applied:\n%w", errors.Join(errs...))
	}
	return defs, nil
}

func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
