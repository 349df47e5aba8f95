package distcron

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/distcron/distcron/logsink"
)

// notifierFunc adapts a func to Notifier.
type notifierFunc func(ctx context.Context, rec logsink.Record) error

func (f notifierFunc) Notify(ctx context.Context, rec logsink.Record) error { return f(ctx, rec) }

// downSink is a Sink whose Write fails until heal is called.
type downSink struct {
	healed atomic.Bool
	calls  atomic.Int64
}

func (d *downSink) Write(ctx context.Context, _ []logsink.Record) error {
	d.calls.Add(1)
	if d.healed.Load() {
		return nil
	}
	return errors.New("sink down")
}

func (d *downSink) heal() { d.healed.Store(true) }

// libraryGoroutines returns the stacks of goroutines running code of this
// package outside its tests.
func libraryGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		lines := strings.Split(g, "\n")
		for i := 1; i+1 < len(lines); i += 2 {
			if strings.HasPrefix(lines[i], "github.com/distcron/distcron.") && !strings.Contains(lines[i+1], "_test.go") {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// waitForLibraryGoroutines waits until no goroutine runs this package's
// code outside the tests, and fails with their stacks if some remain.
func waitForLibraryGoroutines(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := libraryGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the library still run %v after Stop returned and the client was closed:\n%s",
				len(left), timeout, strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopErrors splits what Stop returned into the errors it joined.
func stopErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Issue 9, defect 1: Stop abandons a run that ignores cancellation past the
// stop grace and closes the notifier queue; when that run finishes later,
// its failure notification must not panic the host (on main: "panic: send
// on closed channel" from afterRun -> notify, which kills the test binary).
func TestAbandonedRunFinishingAfterStopDoesNotPanic(t *testing.T) {
	tc := newTestCluster(t)
	var notified atomic.Int64
	s, _ := tc.newScheduler("n0", WithStopGrace(100*time.Millisecond),
		WithNotifier(notifierFunc(func(context.Context, logsink.Record) error { notified.Add(1); return nil }), nil))
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	returned := make(chan struct{})
	if err := s.RegisterFunc("stubborn", "@yearly", func(ctx context.Context) error {
		started <- struct{}{}
		<-release // ignores ctx on purpose
		defer close(returned)
		return errors.New("failed long after Stop")
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterFunc("fails", "@yearly", func(context.Context) error { return errors.New("boom") }); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	// A failure notified before Stop: the notifier queue is in use.
	if err := s.Trigger(context.Background(), "fails"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the first failure's notification", func() bool { return notified.Load() >= 1 })
	if err := s.Trigger(context.Background(), "stubborn"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, ErrRunsCancelled) {
		t.Fatalf("Stop = %v, want ErrRunsCancelled (the run was abandoned)", err)
	}
	// The abandoned run now finishes, failed: its record goes through
	// afterRun and the notifier after Stop returned.
	close(release)
	<-returned
	waitFor(t, 10*time.Second, "the abandoned run's goroutine to end", func() bool {
		return s.Stats().RunsInFlight == 0
	})
}

// blackholeProxy forwards TCP connections to an etcd endpoint until cut;
// from then on it swallows everything sent to it and answers nothing, on
// the open connections and on new ones, like a network partition: every
// etcd call of a client that dials it hangs until its own deadline.
type blackholeProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	isCut  bool
	up     []net.Conn // to etcd
	down   []net.Conn // from clients
	wg     sync.WaitGroup
}

func newBlackholeProxy(t *testing.T, target string) *blackholeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{ln: ln, target: strings.TrimPrefix(target, "http://")}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *blackholeProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.down = append(p.down, c)
		cut := p.isCut
		p.mu.Unlock()
		var u net.Conn
		if !cut {
			if u, err = net.Dial("tcp", p.target); err == nil {
				p.mu.Lock()
				p.up = append(p.up, u)
				p.mu.Unlock()
			}
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if u != nil {
				p.wg.Add(1)
				go func() { defer p.wg.Done(); _, _ = io.Copy(c, u) }()
				_, _ = io.Copy(u, c) // ends when cut closes u
			}
			_, _ = io.Copy(io.Discard, c) // swallow until the test ends
		}()
	}
}

func (p *blackholeProxy) endpoint() string { return "http://" + p.ln.Addr().String() }

// cut drops the way to etcd but keeps the clients' connections open.
func (p *blackholeProxy) cut() {
	p.mu.Lock()
	p.isCut = true
	for _, u := range p.up {
		u.Close()
	}
	p.mu.Unlock()
}

func (p *blackholeProxy) close() {
	p.cut()
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.down {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Issue 9, defect 9 (a): Stop(ctx) is bounded by ctx even when etcd is
// unreachable (on main Stop(1s) takes many seconds: it waits for claims in
// flight, then gives its cleanup a fresh stop-grace budget of 10s).
func TestStopIsBoundedByItsContextWhenEtcdIsUnreachable(t *testing.T) {
	tc := newTestCluster(t)
	proxy := newBlackholeProxy(t, tc.etcd.Endpoints()[0])
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	s, err := New(cli, WithNamespace(tc.ns), WithInstanceID("n0"), WithSinks(tc.sink),
		WithLogger(zaptest.NewLogger(t).Named("n0")), WithSessionTTL(2*time.Second),
		WithDeliveryOptions(logsink.WithFlushInterval(20*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	registerNoop(t, s, jobNames(5), "@every 100ms")
	longStarted := make(chan struct{}, 1)
	if err := s.RegisterFunc("long", "@yearly", func(ctx context.Context) error {
		longStarted <- struct{}{}
		<-ctx.Done() // a run in progress that honours cancellation
		return ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	waitFor(t, 10*time.Second, "runs", func() bool { return len(tc.sink.records()) >= 10 })
	if err := s.Trigger(context.Background(), "long"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-longStarted:
	case <-time.After(10 * time.Second):
		t.Fatal("the long run did not start")
	}
	proxy.cut() // etcd is unreachable from now on: calls hang
	waitFor(t, 10*time.Second, "the scheduler to notice (a failed claim)", func() bool {
		return s.Stats().ClaimErrors > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	began := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Stop(ctx) }()
	const bound = time.Second + 3*time.Second
	select {
	case err := <-done:
		took := time.Since(began)
		t.Logf("Stop took %v: %v", took, err)
		if took > bound {
			t.Fatalf("Stop(1s ctx) with etcd unreachable took %v, want at most %v", took, bound)
		}
		// What Stop left behind may wait on etcd; it must end once the
		// caller closes its client (as the docs say it does after Stop).
		cli.Close()
		waitForLibraryGoroutines(t, 10*time.Second)
	case <-time.After(60 * time.Second):
		t.Fatalf("Stop(1s ctx) with etcd unreachable did not return within 60s (want at most %v)", bound)
	}
}

// Issue 9, defect 9 (b): with a sink that is down, the README's
// Stop(context.Background()) must still return, bounded (here by the stop
// grace of 1s plus overhead), and report the records it could not deliver
// (on main it retries the sink forever and never returns).
func TestStopWithBackgroundContextReturnsWhenASinkIsDown(t *testing.T) {
	tc := newTestCluster(t)
	down := &downSink{}
	s, _ := tc.newScheduler("n0", WithSinks(down), WithStopGrace(time.Second),
		WithDeliveryOptions(logsink.WithBackoff(20*time.Millisecond, 200*time.Millisecond)))
	registerNoop(t, s, []string{"j"}, "@every 100ms")
	tc.start(s)
	waitFor(t, 10*time.Second, "records the down sink could not take", func() bool {
		return len(tc.sink.records()) >= 2 && down.calls.Load() >= 2
	})
	began := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Stop(context.Background()) }()
	const bound = 10 * time.Second
	select {
	case err := <-done:
		took := time.Since(began)
		t.Logf("Stop took %v: %v", took, err)
		if took > bound {
			t.Errorf("Stop(context.Background()) took %v with a sink down, want at most %v", took, bound)
		}
		if !errors.Is(err, logsink.ErrUndelivered) {
			t.Errorf("Stop = %v, want an error matching logsink.ErrUndelivered", err)
		}
	case <-time.After(bound):
		t.Errorf("Stop(context.Background()) did not return within %v with a sink down", bound)
		down.heal() // let the stuck Stop finish, so nothing leaks past the test
		select {
		case err := <-done:
			t.Logf("Stop returned %v once the sink healed", err)
		case <-time.After(30 * time.Second):
			t.Error("Stop did not return even after the sink healed")
		}
	}
}

// Issue 9, defect 9 (c): a bounded Stop with a sink down must still revoke
// the lease (the registration is gone as soon as Stop returns) and report
// only the undelivered records; on main the flush spends the whole budget,
// the lease revoke is skipped or left behind, and Stop blames background
// work ("distcron: stop: context deadline exceeded", logged as etcd
// unreachable) though etcd is fine.
func TestStopRevokesTheLeaseWhenASinkIsDown(t *testing.T) {
	tc := newTestCluster(t)
	down := &downSink{}
	t.Cleanup(down.heal)
	s, cli := tc.newScheduler("n0", WithSinks(down), WithStopGrace(time.Second))
	registerNoop(t, s, []string{"j"}, "@every 100ms")
	tc.start(s)
	waitFor(t, 10*time.Second, "records the down sink could not take", func() bool {
		return len(tc.sink.records()) >= 2 && down.calls.Load() >= 2
	})
	regKey := tc.ns + "instances/n0"
	before, err := cli.Get(context.Background(), regKey)
	if err != nil || len(before.Kvs) != 1 || before.Kvs[0].Lease == 0 {
		t.Fatalf("registration before Stop: %v %v", before, err)
	}
	lease := clientv3.LeaseID(before.Kvs[0].Lease)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	began := time.Now()
	err = s.Stop(ctx)
	took := time.Since(began)
	// Read right away: a revoke left to finish after Stop does not count.
	reg, gerr := cli.Get(context.Background(), regKey)
	ttl, terr := cli.TimeToLive(context.Background(), lease)
	t.Logf("Stop took %v: %v", took, err)
	if gerr != nil || terr != nil {
		t.Fatalf("read back: %v, %v", gerr, terr)
	}
	if len(reg.Kvs) != 0 {
		t.Errorf("the instance's registration still exists when Stop returned")
	}
	if ttl.TTL != -1 {
		t.Errorf("the session lease still lives (TTL %ds) when Stop returned; want it revoked", ttl.TTL)
	}
	if took > 2*time.Second+3*time.Second {
		t.Errorf("Stop(2s ctx) took %v", took)
	}
	if !errors.Is(err, logsink.ErrUndelivered) {
		t.Errorf("Stop = %v, want an error matching logsink.ErrUndelivered", err)
	}
	for _, e := range stopErrors(err) {
		if !errors.Is(e, logsink.ErrUndelivered) {
			t.Errorf("Stop reports %q; with only the sink down it must report nothing but the undelivered records", e)
		}
	}
	if err != nil && strings.Contains(err.Error(), "etcd") {
		t.Errorf("Stop blames etcd, which was fine: %v", err)
	}
}
