package distcron

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/distcron/distcron/internal/etcdtest"
	"github.com/distcron/distcron/internal/keys"
	"github.com/distcron/distcron/logsink"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// etcd's embedded server and gRPC leave these behind briefly after Close.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
	os.Exit(0)
}

// collector is a Sink that keeps every record, for assertions.
type collector struct {
	mu   sync.Mutex
	recs []logsink.Record
	cond chan struct{}
}

func newCollector() *collector { return &collector{cond: make(chan struct{}, 1)} }

func (c *collector) Write(_ context.Context, batch []logsink.Record) error {
	c.mu.Lock()
	c.recs = append(c.recs, batch...)
	c.mu.Unlock()
	select {
	case c.cond <- struct{}{}:
	default:
	}
	return nil
}

func (c *collector) records() []logsink.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// happensWithin reports whether cond holds at some point within d. It is
// for "nothing more happens" windows: the caller fails if it returns true.
func happensWithin(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testCluster is a real etcd plus helpers to start schedulers against it.
type testCluster struct {
	t    *testing.T
	etcd *etcdtest.Cluster
	ns   string
	sink *collector
}

func newTestCluster(t *testing.T) *testCluster {
	return &testCluster{t: t, etcd: etcdtest.Start(t), ns: "/distcron/" + t.Name() + "/", sink: newCollector()}
}

// newScheduler makes a scheduler with its own etcd client. The test keeps
// the returned client to simulate a crash by closing it.
func (tc *testCluster) newScheduler(id string, opts ...Option) (*Scheduler, *clientv3.Client) {
	tc.t.Helper()
	cli := etcdtest.Client(tc.t, tc.etcd)
	base := []Option{
		WithNamespace(tc.ns), WithInstanceID(id), WithSinks(tc.sink),
		WithLogger(zaptest.NewLogger(tc.t).Named(id)), WithSessionTTL(2 * time.Second),
		WithDeliveryOptions(logsink.WithFlushInterval(20 * time.Millisecond)),
		WithRemoteScheduleFloor(10 * time.Millisecond), // tests define fast jobs; TestRemoteScheduleFloor checks the default
	}
	s, err := New(cli, append(base, opts...)...)
	if err != nil {
		tc.t.Fatalf("New(%s): %v", id, err)
	}
	return s, cli
}

// spiedScheduler makes an unstarted scheduler "n0" in tc's namespace on a
// client of its own made from cfg (a spy's interceptors), closed at the
// test's end, with opts.
func (tc *testCluster) spiedScheduler(cfg clientv3.Config, opts ...Option) (*Scheduler, *clientv3.Client) {
	tc.t.Helper()
	cfg.Endpoints = tc.etcd.Endpoints()
	cli, err := clientv3.New(cfg)
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.t.Cleanup(func() { cli.Close() })
	s, err := New(cli, append([]Option{WithNamespace(tc.ns), WithInstanceID("n0")}, opts...)...)
	if err != nil {
		tc.t.Fatalf("New(n0): %v", err)
	}
	return s, cli
}

func (tc *testCluster) start(s *Scheduler) {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		tc.t.Fatalf("Start: %v", err)
	}
	tc.t.Cleanup(func() { stopNow(tc.t, s) })
}

// stopNow stops s if it is still running, allowing runs 5s to finish.
func stopNow(t testing.TB, s *Scheduler) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil && err != ErrNotStarted {
		t.Logf("Stop(%s): %v", s.InstanceID(), err)
	}
}

// runKey identifies a run across the cluster.
type runKey struct {
	job  string
	tick time.Time
}

// byTick groups the records of executions by (job, tick). Lost records are
// left out: the leader writes them about a run whose instance lost its
// lease, which may still have finished (and recorded) that run.
func byTick(recs []logsink.Record) map[runKey][]logsink.Record {
	m := make(map[runKey][]logsink.Record)
	for _, r := range recs {
		if r.Status == logsink.StatusLost {
			continue
		}
		k := runKey{r.Job, r.Tick}
		m[k] = append(m[k], r)
	}
	return m
}

// assertNoDuplicates fails on any tick run more than once.
func assertNoDuplicates(t *testing.T, recs []logsink.Record) {
	t.Helper()
	for k, rs := range byTick(recs) {
		if len(rs) > 1 {
			var who []string
			for _, r := range rs {
				who = append(who, fmt.Sprintf("%s(token %d)", r.Instance, r.Token))
			}
			t.Errorf("duplicate: job %s tick %s ran %d times: %v", k.job, keys.Tick(k.tick), len(rs), who)
		}
	}
}

// assertEveryTick fails unless every multiple of every between from and to
// has exactly one record for each job.
func assertEveryTick(t *testing.T, recs []logsink.Record, jobs []string, every time.Duration, from, to time.Time) int {
	t.Helper()
	seen := byTick(recs)
	checked := 0
	for _, j := range jobs {
		for tick := from.Truncate(every).Add(every); !tick.After(to); tick = tick.Add(every) {
			checked++
			if n := len(seen[runKey{j, tick.UTC()}]); n != 1 {
				t.Errorf("job %s tick %s: %d runs, want 1", j, keys.Tick(tick), n)
			}
		}
	}
	return checked
}
