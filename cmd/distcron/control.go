package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/distcron/distcron"
)

func init() {
	for _, c := range []struct {
		name, help, done, example string
		do                        func(s *distcron.Scheduler, ctx context.Context, job string) error
	}{
		{"trigger", "run a job once, now, on one eligible instance (every shard or instance for sharded or broadcast jobs)", "triggered",
			"# run backup now, whatever its schedule\ndistcron trigger backup",
			func(s *distcron.Scheduler, ctx context.Context, job string) error { return s.Trigger(ctx, job) }},
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
				if err := needArgs(args, 1, "one job name"); err != nil {
					return err
				}
				s, ctx, done, err := g.open()
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
