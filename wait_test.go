package distcron

import (
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A run never starts before its instant, whether the wait ends on a timer,
// in the kernel, or on a timer because too many waiters were in the kernel.
func TestInstantWaiterNeverWakesEarly(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := 0; i < 3*maxKernelSleepers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newInstantWaiter(SystemClock())
			defer w.stop()
			for _, d := range []time.Duration{-time.Millisecond, 0, 300 * time.Microsecond, finalApproach / 2, finalApproach + 700*time.Microsecond, 5 * time.Millisecond} {
				at := time.Now().Add(d)
				w.until(at)
				if now := time.Now(); now.Before(at) {
					errs <- (at.Sub(now)).String() + " early after a wait of " + d.String()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := kernelSleepers.Load(); n != 0 {
		t.Errorf("%d kernel sleepers left counted", n)
	}
}

// The scheduler's own clock (the configured one behind the skew
// correction) still gets the precise final approach when it is the
// machine's clock, and not when it is a test's.
func TestSchedulerClockKeepsThePreciseWait(t *testing.T) {
	s, err := New(&clientv3.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if !newInstantWaiter(s.cfg.clock).precise {
		t.Error("the default clock lost the precise final approach")
	}
	s, err = New(&clientv3.Client{}, WithClock(fixedClock{}))
	if err != nil {
		t.Fatal(err)
	}
	if newInstantWaiter(s.cfg.clock).precise {
		t.Error("a test's clock got the kernel sleep")
	}
}

type fixedClock struct{}

func (fixedClock) Now() time.Time                 { return time.Unix(0, 0) }
func (fixedClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }
