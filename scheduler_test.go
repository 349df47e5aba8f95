package distcron

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
)

func jobNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("job-%d", i)
	}
	return names
}

func registerNoop(t *testing.T, s *Scheduler, names []string, spec string) {
	t.Helper()
	for _, n := range names {
		if err := s.RegisterFunc(n, spec, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
}

// runCluster starts one scheduler per clock offset, all with the same jobs,
// lets them run for d and stops them. It returns the window in which every
// instance was up.
func runCluster(t *testing.T, tc *testCluster, jobs []string, spec string, skews []time.Duration, d time.Duration) (time.Time, time.Time) {
	var ss []*Scheduler
	for i, skew := range skews {
		s, _ := tc.newScheduler(fmt.Sprintf("n%d", i), WithClock(skewedClock{skew}))
		registerNoop(t, s, jobs, spec)
		tc.start(s)
		ss = append(ss, s)
	}
	from := time.Now()
	time.Sleep(d) // the workload's length, not an assertion
	to := time.Now()
	for _, s := range ss {
		stopNow(t, s)
	}
	return from, to
}

func TestEveryTickRunsExactlyOnceAcrossThreeInstances(t *testing.T) {
	tc := newTestCluster(t)
	jobs := jobNames(20)
	from, to := runCluster(t, tc, jobs, "@every 100ms", []time.Duration{0, 0, 0}, 3*time.Second)
	recs := tc.sink.records()
	assertNoDuplicates(t, recs)
	// Every tick from shortly after all instances were up to shortly before
	// the first Stop ran exactly once.
	n := assertEveryTick(t, recs, jobs, 100*time.Millisecond, from.Add(200*time.Millisecond), to.Add(-200*time.Millisecond))
	perInstance := map[string]int{}
	for _, r := range recs {
		perInstance[r.Instance]++
		if r.Status != logsink.StatusSucceeded || r.Token <= 0 || r.Trigger != logsink.TriggerSchedule {
			t.Fatalf("unexpected record %+v", r)
		}
	}
	t.Logf("checked %d ticks; runs per instance %v", n, perInstance)
	if n < 400 {
		t.Fatalf("only %d ticks checked", n)
	}
}

func TestClockSkewNeverDuplicates(t *testing.T) {
	tc := newTestCluster(t)
	jobs := jobNames(10)
	from, to := runCluster(t, tc, jobs, "@every 100ms",
		[]time.Duration{-2 * time.Second, 0, 2 * time.Second}, 3*time.Second)
	recs := tc.sink.records()
	assertNoDuplicates(t, recs)
	// The instance that is 2s ahead claims first; ticks in the shared window
	// still all run once.
	assertEveryTick(t, recs, jobs, 100*time.Millisecond, from.Add(2500*time.Millisecond), to.Add(-200*time.Millisecond))
}

func TestInstanceCrashOthersKeepEveryTick(t *testing.T) {
	tc := newTestCluster(t)
	jobs := jobNames(10)
	var ss []*Scheduler
	var victimCli interface{ Close() error }
	for i := 0; i < 3; i++ {
		s, cli := tc.newScheduler(fmt.Sprintf("n%d", i))
		registerNoop(t, s, jobs, "@every 100ms")
		tc.start(s)
		ss = append(ss, s)
		if i == 0 {
			victimCli = cli
		}
	}
	time.Sleep(time.Second)
	// Crash n0: its connection to etcd goes away without Stop; its lease
	// expires after the TTL. The survivors must keep every tick meanwhile.
	victimCli.Close()
	crash := time.Now()
	waitFor(t, 10*time.Second, "n0 to leave the registry", func() bool {
		ins, err := ss[1].Instances(context.Background())
		return err == nil && len(ins) == 2 && ins[0].ID == "n1"
	})
	time.Sleep(time.Second) // keep ticking after the lease expired
	to := time.Now()
	for _, s := range ss[1:] {
		stopNow(t, s)
	}
	recs := tc.sink.records()
	assertNoDuplicates(t, recs)
	assertEveryTick(t, recs, jobs, 100*time.Millisecond, crash.Add(100*time.Millisecond), to.Add(-200*time.Millisecond))
	for _, r := range recs {
		if r.Instance == "n0" && r.Tick.After(crash.Add(100*time.Millisecond)) {
			t.Errorf("crashed instance ran tick %v", r.Tick)
		}
	}
}

func TestOverlapForbidIsClusterWide(t *testing.T) {
	tc := newTestCluster(t)
	var mu sync.Mutex
	type span struct{ start, end time.Time }
	var spans []span
	work := func(ctx context.Context) error {
		st := time.Now()
		time.Sleep(350 * time.Millisecond)
		mu.Lock()
		spans = append(spans, span{st, time.Now()})
		mu.Unlock()
		return nil
	}
	for i := 0; i < 3; i++ {
		s, _ := tc.newScheduler(fmt.Sprintf("n%d", i))
		if err := s.RegisterFunc("slow", "@every 100ms", work, Overlap(OverlapForbid)); err != nil {
			t.Fatal(err)
		}
		tc.start(s)
	}
	waitFor(t, 10*time.Second, "skipped ticks and several runs", func() bool {
		var runs, skipped int
		for _, r := range tc.sink.records() {
			switch r.Status {
			case logsink.StatusSkipped:
				skipped++
			case logsink.StatusSucceeded:
				runs++
			}
		}
		return runs >= 4 && skipped >= 4
	})
	mu.Lock()
	defer mu.Unlock()
	for i := range spans {
		for k := range spans {
			if i != k && spans[i].start.Before(spans[k].end) && spans[k].start.Before(spans[i].end) {
				t.Fatalf("runs overlap: %v and %v", spans[i], spans[k])
			}
		}
	}
	assertNoDuplicates(t, tc.sink.records())
}

func TestAtCapacityPeersTakeTheTicks(t *testing.T) {
	tc := newTestCluster(t)
	var mu sync.Mutex
	active := map[string]int{}
	maxActive := map[string]int{}
	work := func(ctx context.Context) error {
		ri, _ := RunInfoFrom(ctx)
		mu.Lock()
		active[ri.Instance]++
		maxActive[ri.Instance] = max(maxActive[ri.Instance], active[ri.Instance])
		mu.Unlock()
		time.Sleep(450 * time.Millisecond)
		mu.Lock()
		active[ri.Instance]--
		mu.Unlock()
		return nil
	}
	var ss []*Scheduler
	for i := 0; i < 3; i++ {
		s, _ := tc.newScheduler(fmt.Sprintf("n%d", i), WithMaxConcurrentRuns(1))
		if err := s.RegisterFunc("long", "@every 200ms", work); err != nil {
			t.Fatal(err)
		}
		tc.start(s)
		ss = append(ss, s)
	}
	// Runs of 450ms every 200ms need about 2.3 slots; each instance has one,
	// so every tick must go to whichever instance is idle.
	from := time.Now()
	time.Sleep(3 * time.Second)
	to := time.Now()
	for _, s := range ss {
		stopNow(t, s)
	}
	recs := tc.sink.records()
	assertNoDuplicates(t, recs)
	assertEveryTick(t, recs, []string{"long"}, 200*time.Millisecond, from.Add(200*time.Millisecond), to.Add(-200*time.Millisecond))
	mu.Lock()
	defer mu.Unlock()
	for id, m := range maxActive {
		if m > 1 {
			t.Errorf("instance %s ran %d at once, cap 1", id, m)
		}
	}
	if len(maxActive) != 3 {
		t.Errorf("work ran on %v; all three instances are needed", maxActive)
	}
}

func TestRunInfoAndFencingTokens(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	var mu sync.Mutex
	var infos []RunInfo
	if err := s.RegisterFunc("ident", "@every 50ms", func(ctx context.Context) error {
		ri, ok := RunInfoFrom(ctx)
		if !ok {
			return errors.New("no run info")
		}
		mu.Lock()
		infos = append(infos, ri)
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	waitFor(t, 5*time.Second, "5 runs", func() bool { mu.Lock(); defer mu.Unlock(); return len(infos) >= 5 })
	stopNow(t, s)
	mu.Lock()
	defer mu.Unlock()
	if _, ok := RunInfoFrom(context.Background()); ok {
		t.Fatal("RunInfoFrom on a plain context")
	}
	byTick := map[time.Time]RunInfo{}
	for _, ri := range infos {
		if ri.Job != "ident" || ri.Instance != "n0" || ri.Attempt != 1 || ri.Trigger != logsink.TriggerSchedule ||
			ri.Token <= 0 || ri.Tick.Location() != time.UTC || ri.Tick.UnixNano()%int64(50*time.Millisecond) != 0 {
			t.Fatalf("bad run info %+v", ri)
		}
		byTick[ri.Tick] = ri
	}
	var prev RunInfo
	for _, ri := range infos {
		if prev.Job != "" && ri.Tick.After(prev.Tick) && ri.Token <= prev.Token {
			t.Fatalf("tokens must grow with ticks: %+v then %+v", prev, ri)
		}
		prev = ri
	}
	for _, r := range tc.sink.records() {
		if ri, ok := byTick[r.Tick]; ok && ri.Token != r.Token {
			t.Fatalf("record token %d != run token %d", r.Token, ri.Token)
		}
	}
}

func TestPanicIsAFailedRun(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	var once atomic.Bool
	if err := s.RegisterFunc("boom", "@every 50ms", func(context.Context) error {
		if once.CompareAndSwap(false, true) {
			panic("kaboom")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	waitFor(t, 5*time.Second, "a failed and a later succeeded run", func() bool {
		var failed, ok bool
		for _, r := range tc.sink.records() {
			if r.Status == logsink.StatusFailed && strings.Contains(r.Error, "kaboom") && strings.Contains(r.Error, "goroutine") {
				failed = true
			}
			ok = ok || (failed && r.Status == logsink.StatusSucceeded)
		}
		return failed && ok
	})
}

func TestShellJobRecordsOutputExitCodeAndTimeout(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.RegisterShell("hello", "@every 100ms", "echo hello-$((6*7)); exit 3"))
	must(s.RegisterShell("hang", "@every 1s", "sleep 30", Timeout(200*time.Millisecond)))
	tc.start(s)
	waitFor(t, 10*time.Second, "shell records", func() bool {
		var hello, hang bool
		for _, r := range tc.sink.records() {
			hello = hello || (r.Job == "hello" && r.Status == logsink.StatusFailed && r.ExitCode == 3 && strings.Contains(r.Output, "hello-42"))
			hang = hang || (r.Job == "hang" && r.Status == logsink.StatusTimeout && r.Duration < 10*time.Second)
		}
		return hello && hang
	})
}

func TestStopCancelsRunsPastItsDeadline(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	started := make(chan struct{}, 1)
	if err := s.RegisterFunc("long", "@every 100ms", func(ctx context.Context) error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrRunsCancelled) {
		t.Fatalf("Stop = %v, want runs cancelled at the deadline", err)
	}
	killed := 0
	for _, r := range tc.sink.records() {
		if r.Status == logsink.StatusKilled {
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("no killed record was flushed by Stop")
	}
	if err := s.Stop(context.Background()); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("second Stop = %v", err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, ErrStopped) || !errors.Is(err, ErrStarted) {
		t.Fatalf("Start after Stop = %v", err)
	}
}

func TestInstancesAndLeader(t *testing.T) {
	tc := newTestCluster(t)
	var ss []*Scheduler
	for i := 0; i < 3; i++ {
		s, _ := tc.newScheduler(fmt.Sprintf("n%d", i), WithTags("zone-a", fmt.Sprintf("n%d", i)))
		registerNoop(t, s, []string{"a", "b"}, "@hourly")
		tc.start(s)
		ss = append(ss, s)
	}
	waitFor(t, 5*time.Second, "exactly one leader", func() bool {
		n := 0
		for _, s := range ss {
			if s.IsLeader() {
				n++
			}
		}
		return n == 1
	})
	ins, err := ss[0].Instances(context.Background())
	if err != nil || len(ins) != 3 {
		t.Fatalf("Instances = %v, %v", ins, err)
	}
	leaders := 0
	for i, in := range ins {
		if in.ID != fmt.Sprintf("n%d", i) || in.JobCount != 2 || len(in.Jobs) != 2 || in.Tags[1] != in.ID || in.PID == 0 {
			t.Fatalf("bad instance %+v", in)
		}
		if in.Leader {
			leaders++
			if !ss[i].IsLeader() {
				t.Fatalf("registry says %s leads, it does not think so", in.ID)
			}
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders in %v", leaders, ins)
	}
	// Registering after Start refreshes the registration.
	registerNoop(t, ss[0], []string{"c"}, "@hourly")
	waitFor(t, 5*time.Second, "registration refresh", func() bool {
		ins, _ := ss[0].Instances(context.Background())
		return len(ins) == 3 && ins[0].JobCount == 3
	})
	// Leadership moves when the leader stops.
	var leader *Scheduler
	for _, s := range ss {
		if s.IsLeader() {
			leader = s
		}
	}
	stopNow(t, leader)
	waitFor(t, 5*time.Second, "a new leader", func() bool {
		for _, s := range ss {
			if s != leader && s.IsLeader() {
				return true
			}
		}
		return false
	})
}

func TestRequiredTagsSelectInstances(t *testing.T) {
	tc := newTestCluster(t)
	for i, tags := range [][]string{{"gpu"}, {"cpu"}, {"cpu", "gpu"}} {
		s, _ := tc.newScheduler(fmt.Sprintf("n%d", i), WithTags(tags...))
		if err := s.RegisterFunc("train", "@every 50ms", func(context.Context) error { return nil }, RequireTags("gpu")); err != nil {
			t.Fatal(err)
		}
		if err := s.RegisterFunc("both", "@every 50ms", func(context.Context) error { return nil }, RequireTags("gpu", "cpu")); err != nil {
			t.Fatal(err)
		}
		tc.start(s)
	}
	waitFor(t, 5*time.Second, "20 runs", func() bool { return len(tc.sink.records()) >= 20 })
	for _, r := range tc.sink.records() {
		if r.Instance == "n1" || (r.Job == "both" && r.Instance != "n2") {
			t.Fatalf("%s ran on %s", r.Job, r.Instance)
		}
	}
}

func TestStatsCountClaimsAndRuns(t *testing.T) {
	tc := newTestCluster(t)
	ss := threeNodes(t, tc, func(s *Scheduler) { registerNoop(t, s, []string{"a", "b"}, "@every 100ms") })
	waitFor(t, 10*time.Second, "20 runs", func() bool { return len(tc.sink.records()) >= 20 })
	for _, s := range ss {
		stopNow(t, s)
	}
	var won, lost, started uint64
	for _, s := range ss {
		st := s.Stats()
		won, lost, started = won+st.ClaimsWon, lost+st.ClaimsLost, started+st.RunsStarted
		if len(st.SinkDeliveries) != 1 || st.SinkDeliveries[0].Dropped != 0 || st.RunsInFlight != 0 ||
			st.ClaimLead < 20*time.Millisecond || st.ClaimLead > maxAdaptiveLead { // the default lead, at most the adaptive cap
			t.Fatalf("stats %+v", st)
		}
	}
	recs := uint64(len(tc.sink.records()))
	if won != recs || started != recs || lost < recs {
		t.Fatalf("won %d, started %d, lost %d for %d records: each tick is won once and lost by the other two", won, started, lost, recs)
	}
}

func TestDuplicateInstanceIDIsRefused(t *testing.T) {
	tc := newTestCluster(t)
	a, _ := tc.newScheduler("same")
	tc.start(a)
	b, _ := tc.newScheduler("same")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Start(ctx); !errors.Is(err, ErrDuplicateInstance) {
		t.Fatalf("second Start with the same id = %v", err)
	}
	stopNow(t, a)
	if err := b.Start(ctx); err != nil {
		t.Fatalf("Start after the first one left: %v", err)
	}
	stopNow(t, b)
}
