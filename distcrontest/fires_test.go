package distcrontest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/distcrontest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// etcd's embedded server and gRPC leave these behind briefly after Close.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}

// What a user's test looks like: three replicas of a service against one
// etcd, sharing a clock the test steps to each tick; the job fires at each
// instant its spec names, once across the replicas.
func TestReplicasFireEachTickOnceOnAStepClock(t *testing.T) {
	cli := distcrontest.Etcd(t)
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := distcrontest.NewClock(start)

	var mu sync.Mutex
	var fired []string // "tick on instance"
	var scheds []*distcron.Scheduler
	for i := range 3 {
		s, err := distcron.New(distcrontest.Client(t, cli.Endpoints()), distcron.WithInstanceID(fmt.Sprintf("replica-%d", i)),
			distcron.WithClock(clock), distcron.WithLogger(zap.NewNop()))
		if err != nil {
			t.Fatal(err)
		}
		err = s.RegisterFunc("report", "*/5 * * * *", func(ctx context.Context) error {
			ri, _ := distcron.RunInfoFrom(ctx)
			mu.Lock()
			fired = append(fired, ri.Tick.UTC().Format("15:04")+" on "+ri.Instance)
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		scheds = append(scheds, s)
	}
	t.Cleanup(func() {
		for _, s := range scheds {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.Stop(ctx)
			cancel()
		}
	})
	ticks := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, f := range fired {
			out = append(out, f[:5])
		}
		return out
	}

	for i := 1; i <= 3; i++ {
		// A second past the tick: a replica that is not the tick's
		// preferred claimer backs it up shortly after the tick.
		clock.Set(start.Add(time.Duration(i)*5*time.Minute + time.Second))
		deadline := time.Now().Add(10 * time.Second)
		for len(ticks()) < i && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if len(ticks()) < i {
			t.Fatalf("after stepping to %s: fired %q", clock.Now().Format("15:04"), fired)
		}
	}
	// A moment for a duplicate to show, should there be one.
	time.Sleep(200 * time.Millisecond)
	if got, want := ticks(), []string{"00:05", "00:10", "00:15"}; !slices.Equal(got, want) {
		t.Errorf("fired at %q (%q), want each of %q once", got, fired, want)
	}
}

func TestClockTimers(t *testing.T) {
	c := distcrontest.NewClock(time.Unix(0, 0))
	a, b := c.NewTimer(time.Second), c.NewTimer(time.Minute)
	if n := c.Timers(); n != 2 {
		t.Fatalf("Timers = %d, want 2", n)
	}
	c.Advance(time.Second)
	select {
	case at := <-a.C():
		if !at.Equal(time.Unix(1, 0)) {
			t.Errorf("a fired with %v, want 1s", at)
		}
	default:
		t.Fatal("a did not fire at its instant")
	}
	select {
	case <-b.C():
		t.Fatal("b fired early")
	default:
	}
	if !b.Stop() || b.Stop() {
		t.Error("Stop: want true for an active timer, then false")
	}
	c.Advance(time.Hour)
	select {
	case <-b.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	if a.Reset(time.Minute) {
		t.Error("Reset of a fired timer reported it active")
	}
	c.Set(time.Unix(0, 0)) // never goes back
	if !c.Now().Equal(time.Unix(3601, 0)) {
		t.Errorf("Now = %v after Set to an earlier time", c.Now())
	}
	c.Advance(time.Minute)
	if _, ok := <-a.C(); !ok {
		t.Error("reset timer did not fire")
	}
	if c.Timers() != 0 {
		t.Errorf("Timers = %d, want 0", c.Timers())
	}
}

func TestSkewedClock(t *testing.T) {
	c := distcrontest.SkewedClock(time.Hour)
	if d := time.Until(c.Now()); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("SkewedClock(1h).Now() is %v from now", d)
	}
}
