// Command etcdmember runs one etcd member (go.etcd.io/etcd/server/v3/embed,
// configured by internal/embedetcd) as its own process, so that a drill
// can kill it with SIGKILL or freeze it with SIGSTOP. Fsync is on unless
// -no-fsync. When the member is ready (it has joined its cluster and
// published itself, which takes a quorum) it prints one line on stdout:
//
//	etcdmember m0 ready
//
// SIGTERM or SIGINT stops it gracefully (exit 0); an etcd failure exits 1,
// a bad flag or a start that fails 2. etcd's log goes to stderr.
//
//	etcdmember -name m0 -dir /tmp/m0 -client-url http://127.0.0.1:2379 \
//	    -peer-url http://127.0.0.1:2380 -initial-cluster m0=http://127.0.0.1:2380,...
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/distcron/distcron/internal/embedetcd"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	mc, opts, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "etcdmember:", err)
		return 2
	}
	cfg, err := mc.EmbedConfig(opts)
	if err != nil {
		fmt.Fprintln(stderr, "etcdmember:", err)
		return 2
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	e, err := embedetcd.Serve(cfg, opts.StartTimeout)
	if err != nil {
		fmt.Fprintln(stderr, "etcdmember:", err)
		return 2
	}
	fmt.Fprintln(stdout, embedetcd.ReadyLine(mc.Name))
	select {
	case s := <-sig:
		fmt.Fprintf(stderr, "etcdmember: %s: %v: stopping\n", mc.Name, s)
		e.Close()
		return 0
	case err := <-e.Err():
		fmt.Fprintf(stderr, "etcdmember: %s failed: %v\n", mc.Name, err)
		e.Close()
		return 1
	}
}

// parseFlags reads the member's configuration from the command line.
func parseFlags(args []string, stderr io.Writer) (embedetcd.MemberConfig, embedetcd.Options, error) {
	var mc embedetcd.MemberConfig
	var opts embedetcd.Options
	var state string
	fs := flag.NewFlagSet("etcdmember", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&mc.Name, "name", "", "member name (required)")
	fs.StringVar(&mc.Dir, "dir", "", "data directory (required)")
	fs.StringVar(&mc.ClientURL, "client-url", "", "client URL to listen on and advertise (required)")
	fs.StringVar(&mc.PeerURL, "peer-url", "", "peer URL to listen on and advertise (required)")
	fs.StringVar(&mc.InitialCluster, "initial-cluster", "", "every member as name=peer-url, comma-separated (default: this member alone)")
	fs.StringVar(&state, "initial-cluster-state", "new", "new, or existing to join a cluster bootstrapped before (ignored when -dir holds data)")
	fs.BoolVar(&opts.NoFsync, "no-fsync", false, "disable fsync (unsafe)")
	fs.StringVar(&opts.LogLevel, "log-level", "warn", "etcd's log level on stderr: debug, info, warn, error, fatal")
	fs.DurationVar(&opts.StartTimeout, "start-timeout", 0, "how long the member may take to become ready (default 30s)")
	if err := fs.Parse(args); err != nil {
		return mc, opts, err
	}
	switch {
	case fs.NArg() > 0:
		return mc, opts, fmt.Errorf("unexpected arguments %q", fs.Args())
	case mc.Name == "" || mc.Dir == "" || mc.ClientURL == "" || mc.PeerURL == "":
		return mc, opts, errors.New("-name, -dir, -client-url and -peer-url are required")
	case state != "new" && state != "existing":
		return mc, opts, fmt.Errorf("-initial-cluster-state %q: want new or existing", state)
	}
	if mc.InitialCluster == "" {
		mc.InitialCluster = mc.Name + "=" + mc.PeerURL
	}
	mc.Existing = state == "existing"
	return mc, opts, nil
}
