package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/distcron/distcron"
)

// errUsage marks a bad command line (exit status 2).
var errUsage = errors.New("usage")

// global holds the flags every command takes.
type global struct {
	endpoints string
	namespace string
	timeout   time.Duration
	output    string
	stdout    io.Writer
	stderr    io.Writer
}

// command is one subcommand. help is its one-line summary, long (optional)
// more text for its --help, examples its "Examples:" block: shell lines,
// "#" lines explaining the ones that follow.
type command struct {
	name, args, help string
	long, examples   string
	run              func(g *global, fs *flag.FlagSet, args []string) error
	flags            func(fs *flag.FlagSet)
}

var commands []command

// usage prints the global usage: the global flags and the commands.
func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "distcron operates a distcron cluster: it reads and writes the cluster's keys in etcd,")
	fmt.Fprintln(w, "and reads run history from a sink's database.")
	fmt.Fprintln(w, "\nUsage:\n  distcron [global flags] COMMAND [flags] [args]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range sortedCommands() {
		fmt.Fprintf(w, "  %-10s %-10s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w, "\nExamples:")
	for _, ex := range []string{
		"distcron jobs",
		"distcron trigger backup",
		"distcron runs --job backup --status failed --since 24h --history postgres://ops@db/ops",
		"distcron --endpoints etcd-1:2379,etcd-2:2379 --namespace /distcron/billing/ instances",
	} {
		fmt.Fprintf(w, "  %s\n", ex)
	}
	fmt.Fprintln(w, "\nGlobal flags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nEvery command takes -o table|json. Run 'distcron COMMAND --help' (or 'distcron help COMMAND')")
	fmt.Fprintln(w, "for its flags and examples. Exit status: 0 success, 1 the command failed, 2 bad usage.")
}

// commandUsage prints a command's --help.
func commandUsage(w io.Writer, c command, fs *flag.FlagSet, own map[string]bool) {
	args := " [flags]"
	if c.args != "" {
		args += " " + c.args
	}
	fmt.Fprintf(w, "%s.\n", strings.ToUpper(c.help[:1])+c.help[1:])
	if c.long != "" {
		fmt.Fprintf(w, "\n%s\n", c.long)
	}
	fmt.Fprintf(w, "\nUsage:\n  distcron %s%s\n", c.name, args)
	if c.examples != "" {
		fmt.Fprintln(w, "\nExamples:")
		for line := range strings.Lines(strings.TrimSpace(c.examples)) {
			if strings.TrimSpace(line) == "" {
				fmt.Fprintln(w)
				continue
			}
			fmt.Fprintf(w, "  %s", line)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "\nFlags:")
	mine := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if own[f.Name] {
			mine.Var(f.Value, f.Name, f.Usage)
			mine.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	mine.SetOutput(w)
	mine.PrintDefaults()
	fmt.Fprintln(w, "\nGlobal flags, before or after the command: --endpoints, --namespace, --timeout (see 'distcron --help').")
}

// globalFlags defines the flags every command takes on fs.
func (g *global) globalFlags(fs *flag.FlagSet, endpoints, namespace string, timeout time.Duration) {
	fs.StringVar(&g.endpoints, "endpoints", endpoints, "etcd endpoints, comma-separated ($DISTCRON_ETCD)")
	fs.StringVar(&g.namespace, "namespace", namespace, "the cluster's etcd key prefix")
	fs.DurationVar(&g.timeout, "timeout", timeout, "bound on the command's etcd and database calls")
}

func sortedCommands() []command {
	out := slices.Clone(commands)
	slices.SortFunc(out, func(a, b command) int { return strings.Compare(a.name, b.name) })
	return out
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func run(args []string, stdout, stderr io.Writer) int {
	g := &global{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("distcron", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("DISTCRON_ETCD")
	if def == "" {
		def = "127.0.0.1:2379"
	}
	g.globalFlags(fs, def, "/distcron/default/", 10*time.Second)
	// Help that was asked for goes to stdout; after a usage error, to stderr.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout, fs)
			return 0
		}
		fmt.Fprintln(stderr)
		usage(stderr, fs)
		return 2
	}
	if fs.NArg() == 0 {
		usage(stderr, fs)
		return 2
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" {
		switch {
		case len(rest) == 0:
			usage(stdout, fs)
			return 0
		case len(rest) > 1:
			fmt.Fprintln(stderr, "distcron help: want at most one command")
			return 2
		}
		name, rest = rest[0], []string{"--help"}
	}
	if c, ok := lookup(name); ok {
		cfs := flag.NewFlagSet("distcron "+c.name, flag.ContinueOnError)
		cfs.SetOutput(stderr)
		cfs.StringVar(&g.output, "o", "table", "output: table or json"+map[bool]string{true: " or yaml"}[c.name == "get"])
		if c.flags != nil {
			c.flags(cfs)
		}
		own := map[string]bool{}
		cfs.VisitAll(func(f *flag.Flag) { own[f.Name] = true })
		// The global flags may follow the command too, as kubectl's do.
		g.globalFlags(cfs, g.endpoints, g.namespace, g.timeout)
		cfs.Usage = func() {}
		if err := cfs.Parse(interleave(cfs, rest)); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				commandUsage(stdout, c, cfs, own)
				return 0
			}
			fmt.Fprintf(stderr, "Run 'distcron %s --help' for usage.\n", c.name)
			return 2
		}
		if g.output != "table" && g.output != "json" && !(c.name == "get" && g.output == "yaml") {
			fmt.Fprintf(stderr, "distcron %s: -o %q: want table or json\n", c.name, g.output)
			return 2
		}
		if err := c.run(g, cfs, cfs.Args()); err != nil {
			fmt.Fprintf(stderr, "distcron %s: %v\n", c.name, err)
			if errors.Is(err, errUsage) {
				fmt.Fprintf(stderr, "Run 'distcron %s --help' for usage.\n", c.name)
				return 2
			}
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "distcron: unknown command %q\n\n", name)
	usage(stderr, fs)
	return 2
}

// interleave moves flags after positional arguments to the front, so that
// "trigger backup -o json" works as kubectl's does.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") {
				if f := fs.Lookup(name); f != nil {
					if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
						if i+1 < len(args) {
							flags = append(flags, args[i+1])
							i++
						}
					}
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
}

// open returns a scheduler that is never started (a client of the
// cluster's keys), a context bounded by --timeout, and what releases both.
func (g *global) open() (*distcron.Scheduler, context.Context, func(), error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(g.endpoints, ","),
		DialTimeout: g.timeout,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("etcd client: %w", err)
	}
	s, err := distcron.New(cli, distcron.WithNamespace(g.namespace), distcron.WithInstanceID("distcron-cli"))
	if err != nil {
		cli.Close()
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	return s, ctx, func() { cancel(); cli.Close() }, nil
}

// openFor checks that there are n positional arguments (what says which),
// then opens the cluster as open does.
func (g *global) openFor(args []string, n int, what string) (*distcron.Scheduler, context.Context, func(), error) {
	if err := needArgs(args, n, what); err != nil {
		return nil, nil, nil, err
	}
	return g.open()
}

// needArgs checks the number of positional arguments.
func needArgs(args []string, n int, what string) error {
	if len(args) != n {
		return fmt.Errorf("%w: want %s", errUsage, what)
	}
	return nil
}
