package distcron

import "time"

// Clock tells the scheduler the time and makes its timer. The scheduler
// computes fire instants from Now and waits for them with a single Timer.
// Implementations must be safe for concurrent use.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the subset of *time.Timer the scheduler uses.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration) bool
	Stop() bool
}

// SystemClock returns the machine's clock. It is the default. Package
// distcrontest has clocks for tests: one the test steps, one that runs
// ahead or behind.
func SystemClock() Clock { return skewedClock{} }

// skewedClock is the machine's clock shifted by offset (zero for
// SystemClock; the package's tests skew it).
type skewedClock struct{ offset time.Duration }

func (c skewedClock) Now() time.Time {
	if c.offset == 0 {
		return time.Now()
	}
	return time.Now().Add(c.offset)
}

func (skewedClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
