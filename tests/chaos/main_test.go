package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distcron/distcron/tests/chaos/check"
	"github.com/distcron/distcron/tests/chaos/harness"
)

// nodeBin is examples/node and memberBin the etcdmember command, built
// once for the package's tests (without -race: the nodes and etcd members
// are separate processes; the harness is this process).
var nodeBin, memberBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // the tests that need the binaries skip themselves
	}
	dir, err := os.MkdirTemp("", "distcron-chaos-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nodeBin, memberBin = filepath.Join(dir, "node"), filepath.Join(dir, "etcdmember")
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for bin, pkg := range map[string]string{nodeBin: "../../examples/node", memberBin: "../../internal/embedetcd/cmd/etcdmember"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			build := exec.Command("go", "build", "-o", bin, pkg)
			build.Stderr = os.Stderr
			if err := build.Run(); err != nil {
				errs <- fmt.Errorf("build %s: %w", pkg, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testLog writes the harness's progress lines to the test log.
type testLog struct {
	t  *testing.T
	mu sync.Mutex
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestChaosShort is the CI chaos run: three node processes on a 3-member
// etcd cluster (one process per member), about 50s of seeded faults with
// at least one of each classic kind (the plan puts one of each first; its
// two quorum losses are one by SIGKILL and one by SIGSTOP), then the
// exactly-once check. It fails on any duplicate, any unexplained miss,
// any harness problem (a fault not verified, a node or etcd member that
// exited on its own), any failure of the lost-run and stop rules, and when
// a fault kind was not injected at all. The drills run in TestChaosDrills.
// runChaos runs the harness (seed 1, 3 nodes, 12 jobs every 250ms) with
// the given fault kinds for d, bounded by timeout, and checks the run.
func runChaos(t *testing.T, d time.Duration, kinds []string, timeout time.Duration) (harness.Config, *check.Input, *check.Report) {
	t.Helper()
	dir := t.TempDir()
	cfg := harness.Config{
		Dir: dir, Seed: 1, Duration: d, Nodes: 3, Jobs: 12, Every: 250 * time.Millisecond,
		Shell: "true", TTL: 2 * time.Second, MaxSkew: 5 * time.Second, NodeBin: nodeBin, MemberBin: memberBin,
		Log: &testLog{t: t}, Kinds: kinds,
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if err := harness.Run(ctx, cfg); err != nil {
		t.Fatalf("chaos run: %v", err)
	}
	in, err := check.Load(dir)
	if err != nil {
		t.Fatalf("load run: %v", err)
	}
	rep := check.Check(in, check.RulesFor(in.Manifest))
	var text strings.Builder
	rep.Write(&text)
	t.Logf("chaos run took %v\n%s", time.Since(start).Round(time.Second), text.String())
	return cfg, in, rep
}

func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run takes about 70s")
	}
	t.Parallel()
	cfg, in, rep := runChaos(t, 50*time.Second, check.ClassicKinds, 150*time.Second)

	for _, f := range rep.Faults {
		if f.Kind == check.KindOutage {
			continue // measured, not injected
		}
		if f.Count == 0 || f.Verified == 0 {
			t.Errorf("fault kind %s: %d injected, %d verified: the harness could not inject it", f.Kind, f.Count, f.Verified)
		}
	}
	// The plan alternates the two ways of losing quorum; seed 1 has both.
	for _, how := range []string{"SIGKILL", "SIGSTOP"} {
		if !slices.ContainsFunc(in.Faults, func(f check.Fault) bool {
			return f.Kind == check.KindQuorum && f.Verified && strings.Contains(f.Note, how)
		}) {
			t.Errorf("no verified quorum loss by %s", how)
		}
	}
	if rep.Total.Expected < 1000 || rep.Total.Run < rep.Total.Expected/2 {
		t.Errorf("only %d ticks expected and %d run: the cluster did not work", rep.Total.Expected, rep.Total.Run)
	}
	failIfFailed(t, rep, cfg, strings.Join(cfg.Kinds, ","))
}

// failIfFailed fails t when the check failed, naming the command that
// reruns the seed (with -faults kinds, when not the default).
func failIfFailed(t *testing.T, rep *check.Report, cfg harness.Config, kinds string) {
	t.Helper()
	if !rep.Failed() {
		return
	}
	rerun := fmt.Sprintf("go run ./tests/chaos -seed %d -duration %v", cfg.Seed, cfg.Duration)
	if kinds != "" {
		rerun += " -faults " + kinds
	}
	t.Errorf("chaos check failed (seed %d; rerun with: %s): "+
		"%d duplicates, %d unexplained misses, %d bad records, %d harness problems, "+
		"%d runs recorded lost twice, %d runs lost to a SIGKILL never recorded lost, %d Forbid overlaps, %d bad stops; evidence above",
		cfg.Seed, rerun, len(rep.Duplicates), rep.Total.Unexplained, len(rep.Bad), len(rep.Manifest.Problems),
		len(rep.LostTwice), len(rep.Unrecorded), len(rep.Overlaps), len(rep.BadStops))
}

func TestCommandFlags(t *testing.T) {
	var out, errs strings.Builder
	if code := run([]string{"-plan", "-seed", "3", "-duration", "40s"}, &out, &errs); code != 0 {
		t.Fatalf("-plan: exit %d: %s", code, errs.String())
	}
	for _, k := range check.Kinds {
		if !strings.Contains(out.String(), k) {
			t.Errorf("plan lacks a %s fault:\n%s", k, out.String())
		}
	}
	for _, args := range [][]string{{"-bogus"}, {"extra"}, {"-plan", "-faults", "kill,flood"}, {"-check", t.TempDir()}} {
		if code := run(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
	}
}
