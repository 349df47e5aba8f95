package distcron

import (
	"sync/atomic"
	"time"
)

// finalApproach is the last stretch of a wait for a run's instant, slept in
// the kernel (see sleepPrecisely) instead of on a runtime timer. When a
// process is idle, Go's timers fire from a poller that waits in whole
// milliseconds, so a start waiting on a timer alone is up to a millisecond
// late; at 1,000 spread fires per second that was one start in ten.
const finalApproach = 2 * time.Millisecond

// minKernelSleep is the shortest wait slept in the kernel. Shorter ones
// stay on the timer: they come between ticks of a busy instance (ticks
// 50µs apart at 20,000 fires/s), whose runtime checks its timers often,
// and a system call for each would cost more than it saves.
const minKernelSleep = 200 * time.Microsecond

// maxKernelSleepers bounds the threads sleeping in the kernel at once: when
// many batches are due together (one shared instant), the rest finish
// their wait on a timer rather than each holding a thread.
const maxKernelSleepers = 1

var kernelSleepers atomic.Int32

// instantWaiter waits for the instants of one batch's runs, in order.
type instantWaiter struct {
	clock   Clock
	precise bool // the machine's clock: the last stretch may be slept in the kernel
	timer   Timer
}

func newInstantWaiter(c Clock) *instantWaiter {
	base := c
	if cc, ok := c.(clusterClock); ok {
		base = cc.base
	}
	_, system := base.(skewedClock)
	return &instantWaiter{clock: c, precise: system}
}

// until blocks until the clock reads t or later.
func (w *instantWaiter) until(t time.Time) {
	if !w.precise {
		w.sleep(t.Sub(w.clock.Now()))
		return
	}
	w.sleep(t.Sub(w.clock.Now()) - finalApproach)
	d := t.Sub(w.clock.Now())
	if d <= 0 {
		return
	}
	if d < minKernelSleep {
		w.sleep(d)
		return
	}
	if kernelSleepers.Add(1) <= maxKernelSleepers {
		sleepPrecisely(d)
	} else {
		w.sleep(d)
	}
	kernelSleepers.Add(-1)
}

// sleep waits d on the waiter's timer.
func (w *instantWaiter) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	if w.timer == nil {
		w.timer = w.clock.NewTimer(d)
	} else {
		w.timer.Reset(d)
	}
	<-w.timer.C()
}

// stop releases the waiter's timer.
func (w *instantWaiter) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}
