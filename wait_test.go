package distcron

import (
	"sync"
	"testing"
	"time"
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
