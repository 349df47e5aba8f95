package distcron

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Three instances whose clocks are 2s behind, right and 2s ahead estimate
// their offsets from the median within 50ms, and once they have, no tick
// starts earlier in real time than the claim lead (plus the estimate's
// error bound, which is what it cannot know): the fast instance waits for
// the median instead of firing 2s early.
func TestClockSkewIsEstimatedAndNoTickStartsEarly(t *testing.T) {
	tc := newTestCluster(t)
	skews := []time.Duration{-2 * time.Second, 0, 2 * time.Second}
	const tolerance = 50 * time.Millisecond
	type start struct {
		instance string
		tick     time.Time
		real     time.Time
	}
	var mu sync.Mutex
	var starts []start
	collecting := false
	var ss []*Scheduler
	core, logs := observer.New(zap.WarnLevel)
	for i, skew := range skews {
		opts := []Option{WithClock(skewedClock{skew})}
		if i == 2 {
			opts = append(opts, WithLogger(zap.New(core)))
		}
		s, _ := tc.newScheduler(fmt.Sprintf("n%d", i), opts...)
		s.clockInterval = 200 * time.Millisecond
		err := s.RegisterFunc("tick", "@every 300ms", func(ctx context.Context) error {
			now := time.Now()
			ri, _ := RunInfoFrom(ctx)
			mu.Lock()
			if collecting {
				starts = append(starts, start{ri.Instance, ri.Tick, now})
			}
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		tc.start(s)
		ss = append(ss, s)
	}
	estimated := func() bool {
		for i, s := range ss {
			e := s.Stats().Clock
			if e.Peers != 2 || (e.Offset-skews[i]).Abs() > tolerance {
				return false
			}
		}
		return true
	}
	waitFor(t, 20*time.Second, "every instance to estimate its offset within 50ms", estimated)
	waitFor(t, 5*time.Second, "the fast instance to warn", func() bool {
		return logs.FilterMessageSnippet("clock is off the cluster's median clock").Len() == 1
	})
	published := func() bool { // as Instances reads them, an interval later
		ins, err := ss[0].Instances(context.Background())
		if err != nil || len(ins) != len(skews) {
			return false
		}
		for i, in := range ins {
			if in.Clock == nil || in.Clock.Peers != 2 || (in.Clock.Offset-skews[i]).Abs() > tolerance {
				return false
			}
		}
		return true
	}
	waitFor(t, 10*time.Second, "Instances to show every instance's estimate", published)
	for i, s := range ss {
		e := s.Stats().Clock
		t.Logf("n%d: skew %v, estimate %v ± %v, correction %v", i, skews[i], e.Offset, e.Error, e.Correction)
		if i != 1 && e.Correction != e.Offset {
			t.Errorf("n%d: correction %v, want the offset %v", i, e.Correction, e.Offset)
		}
	}
	mu.Lock()
	collecting = true
	from := time.Now().Add(time.Second)
	mu.Unlock()
	waitFor(t, 20*time.Second, "15 ticks started", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, st := range starts {
			if st.tick.After(from) {
				n++
			}
		}
		return n >= 15
	})
	// No start earlier in real time than the claim lead, beyond what the
	// instance's estimate cannot know (its error bound).
	bound := map[string]time.Duration{}
	for i, s := range ss {
		st := s.Stats()
		bound[fmt.Sprintf("n%d", i)] = st.ClaimLead + st.Clock.Error
	}
	mu.Lock()
	defer mu.Unlock()
	checked, by, earliest := 0, map[string]int{}, time.Duration(0)
	for _, st := range starts {
		if !st.tick.After(from) {
			continue
		}
		checked++
		by[st.instance]++
		early := st.tick.Sub(st.real)
		earliest = max(earliest, early)
		if early > bound[st.instance] {
			t.Errorf("%s started tick %v %v early in real time, more than its claim lead plus its estimate's error (%v)",
				st.instance, st.tick.Format(time.StampMilli), early, bound[st.instance])
		}
	}
	t.Logf("%d ticks checked, started by %v; the earliest start was %v before its tick (bounds %v)", checked, by, earliest, bound)
}

// The estimate from hand-made samples: the lower median, and no shift
// while the offset is within the claim lead plus twice the error.
func TestClockEstimateFromSamples(t *testing.T) {
	now := time.Unix(1000, 0)
	peer := func(c *clockSync, id string, offset, delay time.Duration) {
		// The peer's clock is offset from ours; the delay is the same both ways.
		sent := now.Add(offset - delay) // peer clock when it sent; we receive at now
		c.observe("self", id, clockMessage{Sent: sent.UnixNano(), Delays: map[string]int64{"self": int64(delay + offset)}}, now)
	}
	for _, tc := range []struct {
		name            string
		peers           []time.Duration // peer clock minus ours
		delay           time.Duration
		offset, correct time.Duration // ours minus the median
	}{
		{"alone", nil, time.Millisecond, 0, 0},
		{"one peer behind: we are the later half, and shift", []time.Duration{-time.Second}, time.Millisecond, time.Second, time.Second},
		{"one peer ahead: we count as right", []time.Duration{time.Second}, time.Millisecond, 0, 0},
		{"two peers behind", []time.Duration{-2 * time.Second, -3 * time.Second}, time.Millisecond, 2 * time.Second, 2 * time.Second},
		{"we are the median", []time.Duration{-time.Second, time.Second}, time.Millisecond, 0, 0},
		{"small offset: no shift", []time.Duration{-15 * time.Millisecond}, time.Millisecond, 15 * time.Millisecond, 0},
		{"offset under twice the error: no shift", []time.Duration{-500 * time.Millisecond}, 300 * time.Millisecond, 500 * time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c clockSync
			for i, off := range tc.peers {
				peer(&c, fmt.Sprint("p", i), off, tc.delay)
			}
			e, _ := c.update(20*time.Millisecond, time.Hour, true)
			if e.Offset != tc.offset || e.Correction != tc.correct || e.Peers != len(tc.peers) {
				t.Errorf("estimate %+v, want offset %v, correction %v, peers %d", e, tc.offset, tc.correct, len(tc.peers))
			}
			if got := time.Duration(c.correction.Load()); got != tc.correct {
				t.Errorf("clock correction %v, want %v", got, tc.correct)
			}
			if off, _ := c.update(20*time.Millisecond, time.Hour, false); off.Correction != 0 || c.correction.Load() != 0 || off.Offset != tc.offset {
				t.Errorf("with correction off: %+v (clock shift %v), want the same offset and no shift", off, c.correction.Load())
			}
			if len(tc.peers) > 0 && e.Offset != 0 && e.Error != tc.delay {
				t.Errorf("error bound %v, want the one-way delay %v", e.Error, tc.delay)
			}
		})
	}
}
