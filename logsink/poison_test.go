package logsink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var errBadRecord = errors.New("record rejected")

// rejectSink stores batches, except that a batch holding a poison token
// fails (with an error wrapping ErrPermanent if permanent is set), and
// every write fails while down.
type rejectSink struct {
	mu        sync.Mutex
	poison    map[int64]bool
	permanent bool
	down      bool
	downFirst int // the first downFirst calls fail as if down
	calls     int
	fails     int
	got       []Record
}

func (s *rejectSink) Write(ctx context.Context, batch []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.down || s.calls <= s.downFirst {
		s.fails++
		return errSinkDown
	}
	for _, r := range batch {
		if s.poison[r.Token] {
			s.fails++
			if s.permanent {
				return fmt.Errorf("token %d: %w: %w", r.Token, ErrPermanent, errBadRecord)
			}
			return fmt.Errorf("token %d: %w", r.Token, errBadRecord)
		}
	}
	s.got = append(s.got, batch...)
	return nil
}

func (s *rejectSink) set(f func(s *rejectSink)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *rejectSink) failCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fails
}

func (s *rejectSink) tokens() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tokens(s.got)["j"]
}

// A record the sink keeps refusing does not stall the delivery: it is
// isolated, dropped, counted and logged with its job and tick, and every
// other record is delivered, in order. This holds whether the sink says
// the error is permanent or not, wherever the record is in its batch, and
// for several bad records, adjacent or not.
func TestPipelinePoisonRecord(t *testing.T) {
	tests := []struct {
		name      string
		poison    []int64
		permanent bool
	}{
		{"permanent, mid-batch", []int64{37}, true},
		{"permanent, several", []int64{0, 1, 2, 3, 50, 99}, true},
		{"transient, mid-batch", []int64{37}, false},
		{"transient, first of the stream", []int64{0}, false},
		{"transient, first of a batch", []int64{16}, false},
		{"transient, adjacent", []int64{5, 6}, false},
		{"transient, several", []int64{0, 1, 20, 21, 22, 70, 98}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 100
			core, logs := observer.New(zapcore.InfoLevel)
			poison := map[int64]bool{}
			for _, tok := range tt.poison {
				poison[tok] = true
			}
			s := &rejectSink{poison: poison, permanent: tt.permanent}
			p, err := NewDelivery(s, WithBatchSize(16), WithFlushInterval(time.Millisecond),
				WithBackoff(50*time.Microsecond, 200*time.Microsecond), WithLogger(zap.New(core)))
			if err != nil {
				t.Fatal(err)
			}
			sendN(p, "j", 0, n) // before Start: batches of 16 from the start
			p.Start()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := p.Stop(ctx); err != nil {
				t.Fatalf("Stop: %v (the delivery stalled on the bad records)", err)
			}
			var want []int64
			for i := range int64(n) {
				if !poison[i] {
					want = append(want, i)
				}
			}
			if got := s.tokens(); !slices.Equal(got, want) {
				t.Errorf("delivered %v, want every token but %v, in order", got, tt.poison)
			}
			st := p.Stats()
			if st.Dropped != uint64(len(tt.poison)) || st.Rejected != uint64(len(tt.poison)) || st.Written != uint64(n-len(tt.poison)) || st.Buffered != 0 {
				t.Errorf("Stats = %+v, want Dropped = Rejected = %d, Written %d", st, len(tt.poison), n-len(tt.poison))
			}
			entries := logs.FilterMessage("run record dropped: the sink refuses it").All()
			var logged []int64
			for _, e := range entries {
				m := e.ContextMap()
				if m["job"] != "j" || !m["tick"].(time.Time).Equal(testTick) || m["error"] == nil {
					t.Errorf("drop logged without job, tick or error: %v", m)
				}
				logged = append(logged, m["token"].(int64))
			}
			if !slices.Equal(logged, tt.poison) {
				t.Errorf("drops logged for tokens %v, want %v", logged, tt.poison)
			}
		})
	}
}

// A bad record at the end of the stream is not dropped while there is no
// evidence that the sink accepts other records: it waits for the next
// records, and is dropped once they are written.
func TestPipelinePoisonWaitsForEvidence(t *testing.T) {
	s := &rejectSink{poison: map[int64]bool{0: true}}
	p := newTestPipeline(t, s, WithFlushInterval(time.Millisecond), WithBackoff(50*time.Microsecond, 200*time.Microsecond))
	sendN(p, "j", 0, 1)
	waitFor(t, "many failed writes", func() bool { return s.failCount() >= 50 })
	if st := p.Stats(); st.Dropped != 0 || st.Buffered != 1 {
		t.Fatalf("Stats = %+v, want the record still buffered: nothing shows that the sink works", st)
	}
	sendN(p, "j", 1, 10)
	stop(t, p)
	if got := s.tokens(); !slices.Equal(got, seq(1, 10)) {
		t.Errorf("delivered %v, want 1..9", got)
	}
	if st := p.Stats(); st.Dropped != 1 || st.Rejected != 1 || st.Written != 9 {
		t.Errorf("Stats = %+v, want Dropped 1 Written 9", st)
	}
}

// A sink that is down for a long time (every write fails, whatever the
// batch: it is split down to single records, which become suspects) loses
// nothing and delivers everything once when it comes back, however many
// writes the outage lasted; in order, except that when the outage ends
// just as a probe is written, the probe record comes before the suspect.
func TestPipelineLongOutageLosesNothing(t *testing.T) {
	for _, outage := range []int{0, 1, 2, 3, 10, 20, 21, 22, 23, 24, 25, 30, 33, 40, 47, 60, 100} {
		for _, warm := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d failed writes, warm %v", outage, warm), func(t *testing.T) {
				const n = 40
				s := &rejectSink{}
				p := newTestPipeline(t, s, WithBatchSize(8), WithFlushInterval(time.Millisecond),
					WithBackoff(20*time.Microsecond, 100*time.Microsecond))
				from := 0
				if warm { // the sink has accepted records before the outage
					sendN(p, "j", 0, 5)
					waitFor(t, "first records", func() bool { return p.Stats().Written == 5 })
					from = 5
				}
				s.set(func(s *rejectSink) { s.downFirst = s.calls + outage })
				sendN(p, "j", from, n)
				waitFor(t, "all records written", func() bool { return p.Stats().Written == n })
				stop(t, p)
				if got := s.tokens(); !inOrderButOne(got, n) {
					t.Errorf("delivered %v, want 0..%d once each, in order but for one", got, n-1)
				}
				if st := p.Stats(); st.Dropped != 0 || st.Written != n {
					t.Errorf("Stats = %+v, want nothing dropped", st)
				}
			})
		}
	}
}

// An outage that outlasts Stop loses records only to Stop's deadline: the
// poison rule drops nothing, however often single records fail.
func TestPipelineOutageDropsNothingBeforeStop(t *testing.T) {
	s := &rejectSink{down: true}
	p := newTestPipeline(t, s, WithBatchSize(8), WithFlushInterval(time.Millisecond),
		WithBackoff(20*time.Microsecond, 100*time.Microsecond))
	sendN(p, "j", 0, 30)
	waitFor(t, "many failed writes", func() bool { return s.failCount() >= 300 })
	if st := p.Stats(); st.Dropped != 0 || st.Buffered != 30 {
		t.Fatalf("during the outage Stats = %+v, want all 30 buffered, none dropped", st)
	}
	s.set(func(s *rejectSink) { s.down = false })
	stop(t, p)
	if got := s.tokens(); !inOrderButOne(got, 30) {
		t.Errorf("delivered %v, want 0..29 once each, in order but for one", got)
	}
}

// inOrderButOne reports whether got holds 0..n-1 once each, in order once
// one of them is taken out.
func inOrderButOne(got []int64, n int) bool {
	if !slices.Equal(slices.Sorted(slices.Values(got)), seq(0, n)) {
		return false
	}
	for k := range got {
		if slices.IsSorted(slices.Delete(slices.Clone(got), k, k+1)) {
			return true
		}
	}
	return n == 0
}
