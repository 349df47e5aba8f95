package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/distcron/distcron"
)

func init() {
	for _, c := range []struct {
		name, help, done, example string
		do                        func(s *distcron.Scheduler, ctx context.Context, job string) error
	}{
		{"pause", "stop a job's ticks on every instance (runs in progress go on)", "paused",
			"# no more ticks of backup anywhere, until resume\ndistcron pause backup\ndistcron jobs",
			func(s *distcron.Scheduler, ctx context.Context, job string) error { return s.Pause(ctx, job) }},
		{"resume", "start a paused job's ticks again", "resumed",
			"distcron resume backup",
			func(s *distcron.Scheduler, ctx context.Context, job string) error { return s.Resume(ctx, job) }},
		{"kill", "cancel a job's runs in progress, wherever they are", "kill sent",
			"# cancel backup's runs in progress; its next ticks still fire (pause it first to stop them)\ndistcron kill backup",
			func(s *distcron.Scheduler, ctx context.Context, job string) error { return s.Kill(ctx, job) }},
	} {
		commands = append(commands, command{name: c.name, args: "JOB", help: c.help, examples: c.example,
			run: func(g *global, _ *flag.FlagSet, args []string) error {
				s, ctx, done, err := g.openFor(args, 1, "one job name")
				if err != nil {
					return err
				}
				defer done()
				if err := c.do(s, ctx, args[0]); err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(g.stdout, map[string]string{"job": args[0], "result": c.done})
				}
				_, err = fmt.Fprintf(g.stdout, "%s: %s\n", args[0], c.done)
				return err
			}})
	}
}

func init() {
	var noWait bool
	commands = append(commands, command{name: "trigger", args: "JOB",
		help: "run a job once, now, on one eligible instance (every shard or instance for sharded or broadcast jobs)",
		long: "It waits (up to --timeout) until an instance claims the run and says which; " +
			"with --no-wait it returns once the request is stored. A manual run of the job already " +
			"pending or in progress takes the request's place (it is reported instead).",
		examples: "# run backup now, whatever its schedule, and see where it runs\ndistcron trigger backup\n" +
			"# just store the request\ndistcron trigger --no-wait backup",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&noWait, "no-wait", false, "return once the request is stored, without waiting for an instance to claim it")
		},
		run: func(g *global, _ *flag.FlagSet, args []string) error {
			s, ctx, done, err := g.openFor(args, 1, "one job name")
			if err != nil {
				return err
			}
			defer done()
			job := args[0]
			if noWait {
				if err := s.Trigger(ctx, job); err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(g.stdout, map[string]string{"job": job, "result": "triggered"})
				}
				_, err = fmt.Fprintf(g.stdout, "%s: triggered\n", job)
				return err
			}
			run, err := s.TriggerAndWait(ctx, job)
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("%s: triggered, but no instance claimed the run within %v (is an eligible instance up? the request stays for 10 minutes)", job, g.timeout)
			}
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(g.stdout, map[string]any{"job": job, "result": "claimed", "run": run})
			}
			_, err = fmt.Fprintf(g.stdout, "%s: triggered; claimed by %s (run %s, token %d)\n", job, run.Instance, run.ID, run.Token)
			return err
		}})
}
