package distcron

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
)

// threeNodes starts n0..n2 with the given extra options and returns them.
func threeNodes(t *testing.T, tc *testCluster, register func(s *Scheduler), opts ...Option) []*Scheduler {
	var ss []*Scheduler
	for i := 0; i < 3; i++ {
		s, _ := tc.newScheduler(fmt.Sprintf("n%d", i), opts...)
		if register != nil {
			register(s)
		}
		tc.start(s)
		ss = append(ss, s)
	}
	return ss
}

func recordsOf(c *collector, job string) []logsink.Record {
	var out []logsink.Record
	for _, r := range c.records() {
		if r.Job == job {
			out = append(out, r)
		}
	}
	return out
}

func TestDefinedShellJobRunsOnceChangesAndStops(t *testing.T) {
	tc := newTestCluster(t)
	ss := threeNodes(t, tc, nil, WithRemoteShell(true))
	ctx := context.Background()
	def := Definition{Name: "defined", Kind: "shell", Schedule: "@every 100ms", Shell: &ShellSpec{Command: "echo $1", Args: []string{"hi"}}}
	if err := ss[0].Define(ctx, def); err != nil {
		t.Fatal(err)
	}
	// And one written straight into etcd, as etcdctl would.
	raw := `{"name":"raw","kind":"shell","schedule":"@every 100ms","shell":{"command":"echo raw"}}`
	if _, err := ss[1].cli.Put(ctx, ss[1].keys.Def("raw"), raw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "both defined jobs running", func() bool {
		return len(recordsOf(tc.sink, "defined")) >= 10 && len(recordsOf(tc.sink, "raw")) >= 10
	})
	for _, r := range recordsOf(tc.sink, "defined") {
		if r.Status == logsink.StatusSkipped && r.Attempt == 1 {
			continue // etcd stalled past the claim's deadline: recorded, not run
		}
		if r.Status != logsink.StatusSucceeded || strings.TrimSpace(r.Output) != "hi" {
			t.Fatalf("record %+v", r)
		}
	}
	// Change the schedule: every instance follows.
	def.Schedule = "@every 300ms"
	if err := ss[2].Define(ctx, def); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "new schedule everywhere", func() bool {
		for _, s := range ss {
			info, ok := s.JobInfo("defined")
			if !ok || info.Schedule != "@every 300ms" {
				return false
			}
		}
		return true
	})
	changed := time.Now()
	time.Sleep(1500 * time.Millisecond)
	for _, r := range recordsOf(tc.sink, "defined") {
		if r.Tick.After(changed.Add(200*time.Millisecond)) && r.Tick.UnixMilli()%300 != 0 {
			t.Fatalf("tick %v after the change is not on the 300ms grid", r.Tick)
		}
	}
	// Delete: it stops everywhere.
	if err := ss[0].Delete(ctx, "defined"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "job gone everywhere", func() bool {
		for _, s := range ss {
			if _, ok := s.JobInfo("defined"); ok {
				return false
			}
		}
		return true
	})
	deleted := time.Now()
	time.Sleep(500 * time.Millisecond)
	for _, r := range recordsOf(tc.sink, "defined") {
		if r.Tick.After(deleted.Add(100 * time.Millisecond)) {
			t.Fatalf("deleted job ran at %v", r.Tick)
		}
	}
	if err := ss[0].Delete(ctx, "defined"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("second Delete = %v", err)
	}
	assertNoDuplicates(t, tc.sink.records())
}

func TestRemoteShellIsRefusedUnlessEnabled(t *testing.T) {
	tc := newTestCluster(t)
	locked, _ := tc.newScheduler("locked")
	tc.start(locked)
	ctx := context.Background()
	if err := locked.Define(ctx, Definition{Name: "sh", Kind: "shell", Schedule: "@every 50ms", Shell: &ShellSpec{Command: "true"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "job listed as refused", func() bool {
		info, ok := locked.JobInfo("sh")
		return ok && errors.Is(info.Refused, ErrRefused)
	})
	time.Sleep(300 * time.Millisecond)
	if n := len(recordsOf(tc.sink, "sh")); n != 0 {
		t.Fatalf("refused job ran %d times", n)
	}
	// An enabled peer runs it.
	open, _ := tc.newScheduler("open", WithRemoteShell(true))
	tc.start(open)
	waitFor(t, 20*time.Second, "enabled peer runs it", func() bool { return len(recordsOf(tc.sink, "sh")) >= 3 })
	for _, r := range recordsOf(tc.sink, "sh") {
		if r.Instance != "open" {
			t.Fatalf("ran on %s", r.Instance)
		}
	}
}

func TestBadDefinitionsAreRefusedAndChangeNothing(t *testing.T) {
	tc := newTestCluster(t)
	s, cli := tc.newScheduler("n0", WithRemoteShell(true), WithRemoteHTTP("allowed.example"))
	registerNoop(t, s, []string{"code"}, "@every 1h")
	tc.start(s)
	ctx := context.Background()
	good := Definition{Name: "good", Kind: "shell", Schedule: "@every 1h", Shell: &ShellSpec{Command: "true"}}
	if err := s.Define(ctx, good); err != nil {
		t.Fatal(err)
	}
	bad := map[string]Definition{
		"bad name":        {Name: "a/b", Kind: "shell", Schedule: "@every 1h", Shell: &ShellSpec{Command: "true"}},
		"unknown kind":    {Name: "x", Kind: "python", Schedule: "@every 1h"},
		"bad schedule":    {Name: "x", Kind: "shell", Schedule: "61 * * * *", Shell: &ShellSpec{Command: "true"}},
		"no schedule":     {Name: "x", Kind: "shell", Shell: &ShellSpec{Command: "true"}},
		"empty command":   {Name: "x", Kind: "shell", Schedule: "@every 1h", Shell: &ShellSpec{}},
		"no http":         {Name: "x", Kind: "http", Schedule: "@every 1h"},
		"bad url":         {Name: "x", Kind: "http", Schedule: "@every 1h", HTTP: &HTTPSpec{URL: "ftp://allowed.example/"}},
		"host not listed": {Name: "x", Kind: "http", Schedule: "@every 1h", HTTP: &HTTPSpec{URL: "http://evil.example/"}},
		"bad overlap":     {Name: "x", Kind: "shell", Schedule: "@every 1h", Shell: &ShellSpec{Command: "true"}, Overlap: OverlapPolicy(7)},
		"bad zone":        {Name: "x", Kind: "shell", Schedule: "@every 1h", Shell: &ShellSpec{Command: "true"}, Location: "Mars/Base"},
		"bad retry":       {Name: "x", Kind: "shell", Schedule: "@every 1h", Shell: &ShellSpec{Command: "true"}, Retry: &RetrySpec{MaxAttempts: 3}},
		"empty pipeline":  {Name: "x", Kind: "pipeline", Schedule: "@every 1h"},
	}
	for name, d := range bad {
		t.Run(name, func(t *testing.T) {
			err := s.Define(ctx, d)
			if !errors.Is(err, ErrInvalidDefinition) || !strings.HasPrefix(err.Error(), "distcron: ") {
				t.Fatalf("Define = %v, want ErrInvalidDefinition", err)
			}
		})
	}
	if _, err := ParseDefinition([]byte(`{"name":"x","kind":"shell","schedule":"@every 1h","shell":{"command":"true"},"colour":"red"}`)); !errors.Is(err, ErrInvalidDefinition) {
		t.Fatalf("unknown field accepted: %v", err)
	}
	if _, err := ParseDefinition([]byte(`{"name":`)); !errors.Is(err, ErrInvalidDefinition) {
		t.Fatalf("bad JSON accepted: %v", err)
	}
	// Garbage written straight into etcd: skipped, reported, watch alive.
	if _, err := cli.Put(ctx, s.keys.Def("junk"), "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, s.keys.Def("good"), `{"name":"good","kind":"shell","schedule":"nope","shell":{"command":"true"}}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "invalid definitions reported", func() bool {
		inv := s.InvalidDefinitions()
		return inv["junk"] != nil && inv["good"] != nil
	})
	// The previous valid version of "good" keeps its schedule; nothing else changed.
	if info, ok := s.JobInfo("good"); !ok || info.Schedule != "@every 1h" {
		t.Fatalf("good after a bad update: %+v %v", info, ok)
	}
	if got := len(s.JobInfos()); got != 2 {
		t.Fatalf("%d jobs after bad input, want 2 (code, good)", got)
	}
	// The watch still works.
	if err := s.Define(ctx, Definition{Name: "after", Kind: "shell", Schedule: "@every 1h", Shell: &ShellSpec{Command: "true"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a later definition applied", func() bool { _, ok := s.JobInfo("after"); return ok })
}

func TestDefinitionOverridesCodeJobScheduleAndPause(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	registerNoop(t, s, []string{"code"}, "@every 1h")
	tc.start(s)
	ctx := context.Background()
	if err := s.Define(ctx, Definition{Name: "code", Schedule: "@every 100ms"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "overridden schedule fires", func() bool { return len(recordsOf(tc.sink, "code")) >= 3 })
	if err := s.Define(ctx, Definition{Name: "code", Schedule: "@every 100ms", Paused: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "paused by definition", func() bool { info, _ := s.JobInfo("code"); return info.Paused })
	if err := s.Delete(ctx, "code"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "code schedule restored", func() bool {
		info, _ := s.JobInfo("code")
		return info.Schedule == "@every 1h" && !info.Paused && info.Source == sourceCode
	})
}

func TestTriggerRunsOnceEvenWhenCalledFromEveryInstance(t *testing.T) {
	tc := newTestCluster(t)
	var runs atomic.Int32
	release := make(chan struct{})
	ss := threeNodes(t, tc, func(s *Scheduler) {
		if err := s.RegisterFunc("manual", "@yearly", func(ctx context.Context) error {
			runs.Add(1)
			<-release
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Trigger(context.Background(), "manual"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, 5*time.Second, "the triggered run", func() bool { return runs.Load() >= 1 })
	time.Sleep(300 * time.Millisecond) // give a wrong second run the chance to appear
	close(release)
	waitFor(t, 5*time.Second, "its record", func() bool { return len(recordsOf(tc.sink, "manual")) == 1 })
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d runs for concurrent triggers, want 1", n)
	}
	r := recordsOf(tc.sink, "manual")[0]
	if r.Trigger != logsink.TriggerManual || r.Status != logsink.StatusSucceeded || r.Token <= 0 {
		t.Fatalf("record %+v", r)
	}
	// A trigger after the run has ended is a new run.
	waitFor(t, 5*time.Second, "the run to end cluster-wide", func() bool {
		runs, err := ss[0].Running(context.Background())
		return err == nil && len(runs) == 0
	})
	if err := ss[2].Trigger(context.Background(), "manual"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "second triggered run", func() bool { return len(recordsOf(tc.sink, "manual")) == 2 })
	if err := ss[0].Trigger(context.Background(), "nope"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("Trigger(unknown) = %v", err)
	}
}

func TestPauseOnOneStopsAllAndResumeRestores(t *testing.T) {
	tc := newTestCluster(t)
	ss := threeNodes(t, tc, func(s *Scheduler) { registerNoop(t, s, []string{"p"}, "@every 50ms") })
	waitFor(t, 5*time.Second, "runs", func() bool { return len(recordsOf(tc.sink, "p")) >= 5 })
	if err := ss[1].Pause(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "paused everywhere", func() bool {
		for _, s := range ss {
			if info, _ := s.JobInfo("p"); !info.Paused {
				return false
			}
		}
		return true
	})
	paused := time.Now()
	time.Sleep(500 * time.Millisecond)
	for _, r := range recordsOf(tc.sink, "p") {
		if r.Tick.After(paused.Add(50 * time.Millisecond)) {
			t.Fatalf("paused job ran tick %v on %s", r.Tick, r.Instance)
		}
	}
	if err := ss[2].Resume(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	waitFor(t, 5*time.Second, "runs after resume", func() bool {
		for _, r := range recordsOf(tc.sink, "p") {
			if r.Tick.After(resumed) {
				return true
			}
		}
		return false
	})
}

// shellPIDJob writes the shell's pid and its grandchild's pid, then waits.
func shellPIDJob(dir string) string {
	return fmt.Sprintf(`sleep 300 & echo $! > %s/child; echo $$ > %s/shell; wait`, dir, dir)
}

func readPID(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// alive reports whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestKillFromAnotherInstanceKillsTheProcessGroup(t *testing.T) {
	tc := newTestCluster(t)
	dir := t.TempDir()
	var a *Scheduler
	for _, id := range []string{"a", "b"} {
		tags := []string{}
		if id == "b" {
			tags = append(tags, "worker")
		}
		s, _ := tc.newScheduler(id, WithTags(tags...))
		if err := s.RegisterShell("hang", "@yearly", shellPIDJob(dir), RequireTags("worker")); err != nil {
			t.Fatal(err)
		}
		tc.start(s)
		if id == "a" {
			a = s
		}
	}
	if err := a.Trigger(context.Background(), "hang"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the shell to start", func() bool { return readPID(t, dir+"/child") > 0 && readPID(t, dir+"/shell") > 0 })
	child, shell := readPID(t, filepath.Join(dir, "child")), readPID(t, filepath.Join(dir, "shell"))
	waitFor(t, 5*time.Second, "the run to show in etcd", func() bool {
		runs, err := a.Running(context.Background())
		return err == nil && len(runs) == 1 && runs[0].Instance == "b" && runs[0].Job == "hang"
	})
	start := time.Now()
	if err := a.Kill(context.Background(), "hang"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "killed record", func() bool {
		rs := recordsOf(tc.sink, "hang")
		return len(rs) == 1 && rs[0].Status == logsink.StatusKilled && rs[0].Instance == "b" && strings.Contains(rs[0].Error, "killed")
	})
	if took := time.Since(start); took > 7*time.Second {
		t.Fatalf("kill took %v, more than the 5s grace", took)
	}
	waitFor(t, 2*time.Second, "process group gone", func() bool { return !alive(child) && !alive(shell) })
	if err := a.Kill(context.Background(), "nope"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("Kill(unknown) = %v", err)
	}
}

func TestOverlapReplaceKillsThePreviousRun(t *testing.T) {
	tc := newTestCluster(t)
	threeNodes(t, tc, func(s *Scheduler) {
		if err := s.RegisterFunc("replace", "@every 300ms", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, Overlap(OverlapReplace)); err != nil {
			t.Fatal(err)
		}
	})
	waitFor(t, 10*time.Second, "replaced runs", func() bool {
		return len(recordsOf(tc.sink, "replace")) >= 3
	})
	for _, r := range recordsOf(tc.sink, "replace") {
		if r.Status != logsink.StatusKilled || r.Duration > 2*time.Second {
			t.Fatalf("record %+v: each run must be killed by the next", r)
		}
	}
}

func TestRetriesMakeOneRecordPerAttempt(t *testing.T) {
	tc := newTestCluster(t)
	var calls atomic.Int32
	ss := threeNodes(t, tc, func(s *Scheduler) {
		if err := s.RegisterFunc("flaky", "@yearly", func(ctx context.Context) error {
			calls.Add(1)
			return errors.New("boom")
		}, Retry(3, 50*time.Millisecond, time.Second)); err != nil {
			t.Fatal(err)
		}
	})
	if err := ss[0].Trigger(context.Background(), "flaky"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "three attempts", func() bool { return len(recordsOf(tc.sink, "flaky")) >= 3 })
	time.Sleep(500 * time.Millisecond) // room for a wrong fourth attempt
	rs := recordsOf(tc.sink, "flaky")
	if len(rs) != 3 || calls.Load() != 3 {
		t.Fatalf("%d records, %d calls; want 3", len(rs), calls.Load())
	}
	seen := map[int]bool{}
	for _, r := range rs {
		seen[r.Attempt] = true
		want := logsink.TriggerRetry
		if r.Attempt == 1 {
			want = logsink.TriggerManual
		}
		if r.Status != logsink.StatusFailed || r.Trigger != want || !r.Tick.Equal(rs[0].Tick) {
			t.Fatalf("record %+v", r)
		}
	}
	if !seen[1] || !seen[2] || !seen[3] {
		t.Fatalf("attempts %v", seen)
	}
}

func TestShardedAndBroadcastJobs(t *testing.T) {
	for _, instances := range []int{1, 3} {
		t.Run(fmt.Sprintf("instances=%d", instances), func(t *testing.T) {
			tc := newTestCluster(t)
			var ss []*Scheduler
			for i := 0; i < instances; i++ {
				s, _ := tc.newScheduler(fmt.Sprintf("n%d", i))
				if err := s.RegisterFunc("sharded", "@every 200ms", func(ctx context.Context) error {
					ri, _ := RunInfoFrom(ctx)
					if ri.Shards != 3 || ri.Shard < 0 || ri.Shard > 2 {
						return fmt.Errorf("bad shard info %+v", ri)
					}
					return nil
				}, Sharded(3)); err != nil {
					t.Fatal(err)
				}
				if err := s.RegisterFunc("everyone", "@every 200ms", func(context.Context) error { return nil }, Broadcast()); err != nil {
					t.Fatal(err)
				}
				tc.start(s)
				ss = append(ss, s)
			}
			from := time.Now()
			time.Sleep(2 * time.Second)
			to := time.Now()
			for _, s := range ss {
				stopNow(t, s)
			}
			type key struct {
				job  string
				tick time.Time
				unit string
			}
			counts := map[key]int{}
			for _, r := range tc.sink.records() {
				if r.Status != logsink.StatusSucceeded {
					t.Fatalf("record %+v", r)
				}
				unit := fmt.Sprint(r.Shard)
				if r.Job == "everyone" {
					unit = r.Instance
				}
				counts[key{r.Job, r.Tick, unit}]++
			}
			for tick := from.Truncate(200 * time.Millisecond).Add(400 * time.Millisecond); tick.Before(to.Add(-300 * time.Millisecond)); tick = tick.Add(200 * time.Millisecond) {
				for shard := 0; shard < 3; shard++ {
					if n := counts[key{"sharded", tick.UTC(), fmt.Sprint(shard)}]; n != 1 {
						t.Errorf("sharded tick %v shard %d ran %d times", tick, shard, n)
					}
				}
				for _, s := range ss {
					if n := counts[key{"everyone", tick.UTC(), s.InstanceID()}]; n != 1 {
						t.Errorf("broadcast tick %v on %s ran %d times", tick, s.InstanceID(), n)
					}
				}
			}
		})
	}
}

func TestSteerAJobRegisteredOnlyOnAnotherInstance(t *testing.T) {
	tc := newTestCluster(t)
	a, _ := tc.newScheduler("a") // has no jobs
	tc.start(a)
	b, _ := tc.newScheduler("b", WithRemoteShell(true))
	registerNoop(t, b, []string{"only-on-b"}, "@yearly")
	tc.start(b)
	waitFor(t, 5*time.Second, "b's registration", func() bool {
		ins, err := a.Instances(context.Background())
		return err == nil && len(ins) == 2 && ins[1].RemoteShell && !ins[0].RemoteShell
	})
	if err := a.Trigger(context.Background(), "only-on-b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the run on b", func() bool {
		rs := recordsOf(tc.sink, "only-on-b")
		return len(rs) == 1 && rs[0].Instance == "b"
	})
	if _, err := a.Definition(context.Background(), "only-on-b"); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("Definition of a code job = %v", err)
	}
	d := Definition{Name: "defd", Kind: "shell", Schedule: "@yearly", Shell: &ShellSpec{Command: "true"}}
	if err := a.Define(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Definition(context.Background(), "defd"); err != nil || got.Shell.Command != "true" {
		t.Fatalf("Definition = %+v, %v", got, err)
	}
}

// Stop racing with run requests (Trigger from a peer) never starts a run
// after it returned, and does not race its wait for runs with a request
// claimed meanwhile (the race detector watches the WaitGroups).
func TestStopWhileRunRequestsArrive(t *testing.T) {
	tc := newTestCluster(t)
	peer, _ := tc.newScheduler("peer")
	registerNoop(t, peer, []string{"j"}, "@every 1h")
	tc.start(peer)
	for round := 0; round < 12; round++ {
		id := fmt.Sprintf("a%d", round)
		a, _ := tc.newScheduler(id)
		registerNoop(t, a, []string{"j"}, "@every 1h")
		tc.start(a)
		stopTriggers := make(chan struct{})
		triggered := make(chan struct{})
		go func() {
			defer close(triggered)
			for {
				select {
				case <-stopTriggers:
					return
				default:
				}
				_ = peer.Trigger(context.Background(), "j")
				time.Sleep(time.Millisecond)
			}
		}()
		waitFor(t, 10*time.Second, "a manual run on "+id, func() bool {
			for _, r := range tc.sink.records() {
				if r.Instance == id && r.Trigger == logsink.TriggerManual {
					return true
				}
			}
			return false
		})
		stopNow(t, a)
		stopped := time.Now()
		close(stopTriggers)
		<-triggered
		for _, r := range tc.sink.records() {
			if r.Instance == id && r.Started.After(stopped) {
				t.Errorf("round %d: %s started a run after Stop returned: %v", round, id, r)
			}
		}
	}
}
