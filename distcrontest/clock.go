package distcrontest

import (
	"sync"
	"time"

	"github.com/distcron/distcron"
)

// Clock is a clock for distcron.WithClock that moves only when the test
// says so: Now stays put until Advance or Set, which fire the timers that
// come due. Share one Clock among the schedulers of a test to model
// replicas whose clocks agree. Safe for concurrent use.
//
// distcron's calls to etcd (leases, timeouts) still run on real time, so
// a test steps the clock to each instant it wants to see fire rather than
// jumping far ahead. Step it a little past the instant (a second is
// plenty): each tick has one preferred claimer, and when the replicas'
// views of each other differ for a moment, another replica claims the tick
// as a backup, up to 50 ms after it. A start that late is still on time
// (the misfire grace is 5 s), and the run's tick is the scheduled one.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*timer]struct{} // active ones
}

var _ distcron.Clock = (*Clock)(nil)

// NewClock returns a Clock showing start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, timers: make(map[*timer]struct{})}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (it never goes back) and fires
// every timer due by the new time.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.fireLocked()
	c.mu.Unlock()
}

// Set moves the clock to t, if t is later than its time, and fires every
// timer due by then.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	c.fireLocked()
	c.mu.Unlock()
}

// Timers returns how many timers are waiting: a test can wait for the
// schedulers to be idle before it moves the clock.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func (c *Clock) fireLocked() {
	for t := range c.timers {
		if !t.when.After(c.now) {
			delete(c.timers, t)
			select {
			case t.ch <- c.now:
			default:
			}
		}
	}
}

// NewTimer returns a timer that fires once the clock reaches Now()+d.
func (c *Clock) NewTimer(d time.Duration) distcron.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

type timer struct {
	c    *Clock
	ch   chan time.Time
	when time.Time
}

func (t *timer) C() <-chan time.Time { return t.ch }

// Reset and Stop drain a value the timer sent and nobody received, as
// time.Timer does since Go 1.23, so a stale fire is never seen.
func (t *timer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, active := t.c.timers[t]
	t.drain()
	t.when = t.c.now.Add(d)
	t.c.timers[t] = struct{}{}
	t.c.fireLocked()
	return active
}

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, active := t.c.timers[t]
	delete(t.c.timers, t)
	t.drain()
	return active
}

func (t *timer) drain() {
	select {
	case <-t.ch:
	default:
	}
}

// SkewedClock returns the machine's clock shifted by offset: a positive
// offset makes a scheduler believe it is later than it is, as a replica
// whose clock runs ahead would. Use it to check that skewed replicas still
// fire each tick once.
func SkewedClock(offset time.Duration) distcron.Clock {
	return skewed{base: distcron.SystemClock(), offset: offset}
}

type skewed struct {
	base   distcron.Clock
	offset time.Duration
}

func (s skewed) Now() time.Time                          { return s.base.Now().Add(s.offset) }
func (s skewed) NewTimer(d time.Duration) distcron.Timer { return s.base.NewTimer(d) }
