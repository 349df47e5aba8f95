package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
}

type command struct {
	name, args, help string
	run              func(g *global, fs *flag.FlagSet, args []string) error
	flags            func(fs *flag.FlagSet)
}

var commands []command

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: distcron [--endpoints host:port,...] [--namespace /distcron/default/] [--timeout 10s] COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %-22s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w, "\nEvery command takes -o table|json. Run 'distcron COMMAND --help' for its flags.")
}

func run(args []string, stdout, stderr io.Writer) int {
	g := &global{stdout: stdout}
	fs := flag.NewFlagSet("distcron", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("DISTCRON_ETCD")
	if def == "" {
		def = "127.0.0.1:2379"
	}
	fs.StringVar(&g.endpoints, "endpoints", def, "etcd endpoints, comma-separated ($DISTCRON_ETCD)")
	fs.StringVar(&g.namespace, "namespace", "/distcron/default/", "the cluster's etcd key prefix")
	fs.DurationVar(&g.timeout, "timeout", 10*time.Second, "bound on the command's etcd calls")
	fs.Usage = func() { usage(stderr) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		usage(stderr)
		return 2
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	for _, c := range commands {
		if c.name != name {
			continue
		}
		cfs := flag.NewFlagSet("distcron "+c.name, flag.ContinueOnError)
		cfs.SetOutput(stderr)
		cfs.StringVar(&g.output, "o", "table", "output: table or json"+map[bool]string{true: " or yaml"}[c.name == "get"])
		if c.flags != nil {
			c.flags(cfs)
		}
		cfs.Usage = func() {
			fmt.Fprintf(stderr, "usage: distcron %s [flags] %s\n  %s\n\nflags:\n", c.name, c.args, c.help)
			cfs.PrintDefaults()
		}
		if err := cfs.Parse(interleave(cfs, rest)); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if g.output != "table" && g.output != "json" && !(c.name == "get" && g.output == "yaml") {
			fmt.Fprintf(stderr, "distcron %s: -o %q: want table or json\n", c.name, g.output)
			return 2
		}
		if err := c.run(g, cfs, cfs.Args()); err != nil {
			fmt.Fprintf(stderr, "distcron %s: %v\n", c.name, err)
			if errors.Is(err, errUsage) {
				return 2
			}
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "distcron: unknown command %q\n\n", name)
	usage(stderr)
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

// needArgs checks the number of positional arguments.
func needArgs(args []string, n int, what string) error {
	if len(args) != n {
		return fmt.Errorf("%w: want %s", errUsage, what)
	}
	return nil
}
