// Command chaos is distcron's chaos drill: it starts a 3-member etcd
// cluster, one process per member (fsync on), and several examples/node
// processes sharing it, injects a seeded schedule of faults for a while
// (SIGKILL and restart with a clock skew, SIGSTOP past the session TTL,
// one etcd member SIGKILLed and restarted, two SIGKILLed or SIGSTOPped so
// that quorum is lost) and drills (the leader SIGKILLed as it records
// lost runs, etcd compacted around crashes, the runner of an
// OverlapForbid job SIGSTOPped, a node with stubborn runs stopped), stops
// the nodes gracefully and checks every run record: no run twice, every
// missed tick explained by a fault, every run lost to a crash recorded
// lost once, no Forbid overlap, every stop in its budget and without a
// panic.
//
//	go run ./tests/chaos -duration 10m -seed 1
//	go run ./tests/chaos -faults leader,compact,forbid,stop -duration 1m   # the drills only
//	go run ./tests/chaos -check /tmp/distcron-chaos-1-...   # check a kept run again
//	go run ./tests/chaos -plan -seed 7                       # print the fault plan only
//
// The run directory (-dir, default a new temporary directory, kept) holds
// run.json, faults.jsonl, nodes.jsonl, claims.jsonl, notifications.jsonl
// (drills), each node process's records and stderr, each etcd member
// process's log, and the report (report.txt, report.json). The exit
// status is 0 when the check passes, 1 when it fails, 2 on a usage or
// setup error. RELIABILITY.md describes the fault model and the rules.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/distcron/distcron/tests/chaos/check"
	"github.com/distcron/distcron/tests/chaos/harness"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg harness.Config
	var kinds, recheck string
	var planOnly, quiet bool
	fs.StringVar(&cfg.Dir, "dir", "", "run directory (default: a new temporary directory, kept)")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of the fault plan")
	fs.DurationVar(&cfg.Duration, "duration", 60*time.Second, "length of the fault phase")
	fs.IntVar(&cfg.Nodes, "nodes", 3, "node processes")
	fs.IntVar(&cfg.Jobs, "jobs", 12, "Go func jobs per node (job-0..)")
	fs.DurationVar(&cfg.Every, "every", 250*time.Millisecond, "period of every job (@every)")
	fs.StringVar(&cfg.Shell, "shell", "true", "command of the shell job shell-0 (empty: no shell job)")
	fs.DurationVar(&cfg.TTL, "ttl", 2*time.Second, "session TTL of the nodes")
	fs.DurationVar(&cfg.MaxSkew, "max-skew", 5*time.Second, "restarted nodes get a clock skew within ±this (negative: none)")
	fs.StringVar(&kinds, "faults", strings.Join(check.Kinds, ","), "fault kinds and drills to inject, comma-separated")
	fs.DurationVar(&cfg.MeanGap, "mean-gap", 5*time.Second, "mean time between fault starts")
	fs.DurationVar(&cfg.Warmup, "warmup", 3*time.Second, "healthy time before the first fault")
	fs.DurationVar(&cfg.Cooldown, "cooldown", 5*time.Second, "healthy time after the last fault")
	fs.StringVar(&cfg.NodeBin, "node-bin", "", "a built examples/node binary (default: build it)")
	fs.StringVar(&cfg.MemberBin, "member-bin", "", "a built internal/embedetcd/cmd/etcdmember binary (default: build it)")
	fs.StringVar(&recheck, "check", "", "only check the run kept in this directory")
	fs.BoolVar(&planOnly, "plan", false, "print the fault plan and exit")
	fs.BoolVar(&quiet, "q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "chaos: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if kinds != "" {
		cfg.Kinds = strings.Split(kinds, ",")
	}
	if !quiet {
		cfg.Log = stderr
	}
	for _, k := range cfg.Kinds {
		if !slices.Contains(check.Kinds, k) {
			fmt.Fprintf(stderr, "chaos: unknown fault kind %q (want %s)\n", k, strings.Join(check.Kinds, ", "))
			return 2
		}
	}
	if planOnly {
		for _, st := range harness.Plan(cfg) {
			fmt.Fprintln(stdout, st)
		}
		return 0
	}
	dir := recheck
	if dir == "" {
		if cfg.Dir == "" {
			d, err := os.MkdirTemp("", fmt.Sprintf("distcron-chaos-%d-", cfg.Seed))
			if err != nil {
				fmt.Fprintln(stderr, "chaos:", err)
				return 2
			}
			cfg.Dir = d
		}
		dir = cfg.Dir
		fmt.Fprintf(stderr, "chaos: run directory %s\n", dir)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := harness.Run(ctx, cfg)
		stop()
		if err != nil {
			fmt.Fprintln(stderr, "chaos:", err)
			return 2
		}
	}
	return report(dir, stdout, stderr)
}

// report checks the run in dir, prints the report and saves it there.
func report(dir string, stdout, stderr io.Writer) int {
	in, err := check.Load(dir)
	if err != nil {
		fmt.Fprintln(stderr, "chaos: load run:", err)
		return 2
	}
	rep := check.Check(in, check.RulesFor(in.Manifest))
	var text strings.Builder
	rep.Write(&text)
	fmt.Fprint(stdout, text.String())
	if err := os.WriteFile(filepath.Join(dir, "report.txt"), []byte(text.String()), 0o644); err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
	}
	b, _ := json.MarshalIndent(rep.Summary(), "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
	}
	fmt.Fprintf(stderr, "chaos: report in %s\n", filepath.Join(dir, "report.txt"))
	if rep.Failed() {
		return 1
	}
	return 0
}
