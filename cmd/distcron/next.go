package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/distcron/distcron"
)

func init() {
	var tz string
	var n int
	commands = append(commands, command{
		name: "next", args: `"SPEC"`, help: "print the next fire times of a schedule, or why it does not parse",
		long: "It needs no cluster: the spec is parsed and computed here, as every instance would.",
		examples: `# 02:30 in New York, across daylight saving changes
distcron next "30 2 * * *" --tz America/New_York -n 10

# seconds, descriptors and intervals
distcron next "*/15 * * * * *"
distcron next "@every 90m" -o json`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&tz, "tz", "UTC", "zone for the spec's wall-clock fields")
			fs.IntVar(&n, "n", 5, "how many fire times (1-1000)")
		},
		run: func(g *global, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 1, `one spec, quoted, as in distcron next "0 2 * * *"`); err != nil {
				return err
			}
			if n < 1 || n > 1000 {
				return fmt.Errorf("%w: -n %d: want 1 to 1000", errUsage, n)
			}
			loc, err := time.LoadLocation(tz)
			if err != nil {
				return fmt.Errorf("%w: --tz %q: %v", errUsage, tz, err)
			}
			sched, err := distcron.ParseSchedule(args[0], loc)
			if err != nil {
				return err
			}
			var out []time.Time
			for t := time.Now().In(loc); len(out) < n; {
				if t = sched.Next(t); t.IsZero() {
					break
				}
				out = append(out, t)
			}
			if g.output == "json" {
				return printJSON(g.stdout, out)
			}
			for _, t := range out {
				fmt.Fprintln(g.stdout, t.Format("2006-01-02 15:04:05 MST (Mon)"))
			}
			return nil
		},
	})
}
