package logsink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

// fastRetry keeps outage tests short.
var fastRetry = WithBackoff(time.Millisecond, 5*time.Millisecond)

// newTestPipeline returns a started pipeline that is stopped at cleanup.
func newTestPipeline(t *testing.T, s Sink, opts ...DeliveryOption) *Delivery {
	t.Helper()
	p, err := NewDelivery(s, append([]DeliveryOption{WithLogger(zaptest.NewLogger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("NewDelivery: %v", err)
	}
	p.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Stop(ctx)
	})
	return p
}

func stop(t *testing.T, p *Delivery) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestNewDeliveryValidates(t *testing.T) {
	tests := []struct {
		name string
		sink Sink
		opts []DeliveryOption
		ok   bool
	}{
		{"defaults", &Discard{}, nil, true},
		{"batch equals buffer", &Discard{}, []DeliveryOption{WithBatchSize(8), WithBufferSize(8)}, true},
		{"nil logger means nop", &Discard{}, []DeliveryOption{WithLogger(nil)}, true},
		{"nil sink", nil, nil, false},
		{"zero batch", &Discard{}, []DeliveryOption{WithBatchSize(0)}, false},
		{"negative buffer", &Discard{}, []DeliveryOption{WithBufferSize(-1)}, false},
		{"batch above buffer", &Discard{}, []DeliveryOption{WithBatchSize(10), WithBufferSize(9)}, false},
		{"zero interval", &Discard{}, []DeliveryOption{WithFlushInterval(0)}, false},
		{"zero backoff", &Discard{}, []DeliveryOption{WithBackoff(0, time.Second)}, false},
		{"max below initial", &Discard{}, []DeliveryOption{WithBackoff(time.Second, time.Millisecond)}, false},
		{"zero write timeout", &Discard{}, []DeliveryOption{WithWriteTimeout(0)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewDelivery(tt.sink, tt.opts...)
			if tt.ok {
				if err != nil || p == nil {
					t.Fatalf("NewDelivery = %v, %v; want a delivery", p, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOption) || p != nil {
				t.Fatalf("NewDelivery = %v, %v; want an ErrInvalidOption", p, err)
			}
		})
	}
}

func TestPipelineFlush(t *testing.T) {
	tests := []struct {
		name      string
		batch     int
		interval  time.Duration
		send      int
		before    []int // batch sizes written before Stop
		after     []int // batch sizes written once stopped
		minDelay  time.Duration
		remaining int64 // Buffered before Stop
	}{
		{name: "by size", batch: 10, interval: time.Hour, send: 25,
			before: []int{10, 10}, after: []int{10, 10, 5}, remaining: 5},
		{name: "by size exactly", batch: 5, interval: time.Hour, send: 15,
			before: []int{5, 5, 5}, after: []int{5, 5, 5}},
		{name: "by interval", batch: 100, interval: 30 * time.Millisecond, send: 3,
			before: []int{3}, after: []int{3}, minDelay: 30 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &testSink{}
			p := newTestPipeline(t, s, WithBatchSize(tt.batch), WithFlushInterval(tt.interval))
			start := time.Now()
			sendN(p, "j", 0, tt.send)
			var want int
			for _, n := range tt.before {
				want += n
			}
			waitFor(t, "first batches", func() bool { return len(s.records()) >= want })
			if d := time.Since(start); d < tt.minDelay {
				t.Errorf("written after %v, before the flush interval %v", d, tt.minDelay)
			}
			if got := s.batchSizes(); !slices.Equal(got, tt.before) {
				t.Errorf("batches before Stop = %v, want %v", got, tt.before)
			}
			if got := p.Stats().Buffered; got != tt.remaining {
				t.Errorf("Buffered = %d, want %d", got, tt.remaining)
			}
			stop(t, p)
			if got := s.batchSizes(); !slices.Equal(got, tt.after) {
				t.Errorf("batches after Stop = %v, want %v", got, tt.after)
			}
			if got := tokens(s.records())["j"]; !slices.Equal(got, seq(0, tt.send)) {
				t.Errorf("tokens = %v, want 0..%d", got, tt.send-1)
			}
		})
	}
}

// An outage loses nothing: every record arrives exactly once, in order per
// sender (a sender is a job).
func TestPipelineOutageRecovers(t *testing.T) {
	tests := []struct {
		name      string
		senders   int
		perSender int
	}{
		{"one sender", 1, 600},
		{"four senders", 4, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &testSink{failing: true}
			p := newTestPipeline(t, s, WithBatchSize(32), WithFlushInterval(2*time.Millisecond), fastRetry)
			half := tt.perSender / 2
			send := func(from, to int) {
				var wg sync.WaitGroup
				for g := range tt.senders {
					wg.Go(func() { sendN(p, jobName(g), from, to) })
				}
				wg.Wait()
			}
			send(0, half)
			waitFor(t, "three failed writes", func() bool { return s.failCount() >= 3 })
			send(half, half+half/2)
			s.setFailing(false)
			send(half+half/2, tt.perSender)
			total := tt.senders * tt.perSender
			waitFor(t, "all records written", func() bool { return p.Stats().Written == uint64(total) })
			stop(t, p)

			got := s.records()
			if len(got) != total {
				t.Fatalf("sink got %d records, want %d", len(got), total)
			}
			byJob := tokens(got)
			for g := range tt.senders {
				if !slices.Equal(byJob[jobName(g)], seq(0, tt.perSender)) {
					t.Errorf("%s: tokens out of order or duplicated: %v", jobName(g), byJob[jobName(g)])
				}
			}
			st := p.Stats()
			want := DeliveryStats{Buffered: 0, Written: uint64(total), Dropped: 0, Failures: uint64(s.failCount())}
			if st != want {
				t.Errorf("Stats = %+v, want %+v", st, want)
			}
		})
	}
}

// When the buffer is full the newest records are dropped and counted
// exactly; the delivered ones are the first bufferSize, in order.
func TestPipelineOverflowDropsNewest(t *testing.T) {
	tests := []struct {
		name          string
		buffer, batch int
		send          int
	}{
		{"buffer 100 batch 10", 100, 10, 250},
		{"batch equals buffer", 64, 64, 65},
		{"buffer 1", 1, 1, 5},
		{"no overflow", 50, 10, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &testSink{failing: true}
			p := newTestPipeline(t, s, WithBufferSize(tt.buffer), WithBatchSize(tt.batch),
				WithFlushInterval(time.Millisecond), fastRetry)
			sendN(p, "j", 0, tt.send)
			kept := min(tt.send, tt.buffer)
			wantDropped := uint64(tt.send - kept)
			if st := p.Stats(); st.Dropped != wantDropped || st.Buffered != int64(kept) || st.Written != 0 {
				t.Fatalf("during outage Stats = %+v, want Dropped %d Buffered %d Written 0", st, wantDropped, kept)
			}
			waitFor(t, "a failed write", func() bool { return s.failCount() >= 1 })
			s.setFailing(false)
			stop(t, p)

			st := p.Stats()
			if st.Dropped != wantDropped || st.Written != uint64(kept) || st.Buffered != 0 {
				t.Errorf("after Stop Stats = %+v, want Dropped %d Written %d", st, wantDropped, kept)
			}
			if st.Written+st.Dropped != uint64(tt.send) {
				t.Errorf("Written+Dropped = %d, want %d", st.Written+st.Dropped, tt.send)
			}
			if got := tokens(s.records())["j"]; !slices.Equal(got, seq(0, kept)) {
				t.Errorf("delivered tokens = %v, want 0..%d", got, kept-1)
			}
		})
	}
}

func TestPipelineStopFlushes(t *testing.T) {
	for _, started := range []bool{true, false} {
		t.Run(fmt.Sprintf("started=%v", started), func(t *testing.T) {
			s := &testSink{}
			p, err := NewDelivery(s, WithBatchSize(1000), WithFlushInterval(time.Hour), WithLogger(zaptest.NewLogger(t)))
			if err != nil {
				t.Fatal(err)
			}
			if started {
				p.Start()
			}
			sendN(p, "j", 0, 10)
			stop(t, p)
			if got := s.batchSizes(); !slices.Equal(got, []int{10}) {
				t.Errorf("batches = %v, want [10]", got)
			}
			if st := p.Stats(); st != (DeliveryStats{Written: 10}) {
				t.Errorf("Stats = %+v, want Written 10 only", st)
			}
			p.Start() // after Stop: no effect, no goroutine
			if err := p.Stop(context.Background()); err != nil {
				t.Errorf("second Stop = %v, want nil", err)
			}
		})
	}
}

// Stop with a sink that never recovers gives up at the deadline and reports
// the loss.
func TestPipelineStopGivesUp(t *testing.T) {
	tests := []struct {
		name  string
		fault fault
	}{
		{"sink returns errors", faultError},
		{"sink hangs until cancelled", faultBlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &testSink{failing: true, fault: tt.fault}
			p := newTestPipeline(t, s, WithBatchSize(10), WithFlushInterval(time.Millisecond), fastRetry)
			sendN(p, "j", 0, 30)
			waitFor(t, "a write attempt", func() bool { return s.failCount() >= 1 })

			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			err := p.Stop(ctx)
			if !errors.Is(err, ErrUndelivered) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Stop = %v, want ErrUndelivered and DeadlineExceeded", err)
			}
			if !strings.Contains(err.Error(), "30 records") {
				t.Errorf("Stop error %q does not say how many records were lost", err)
			}
			if st := p.Stats(); st.Dropped != 30 || st.Buffered != 0 || st.Written != 0 {
				t.Errorf("Stats = %+v, want Dropped 30, nothing buffered or written", st)
			}
			if err2 := p.Stop(context.Background()); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("second Stop = %v, want %v", err2, err)
			}
		})
	}
}

func TestPipelineSendAfterStop(t *testing.T) {
	s := &testSink{}
	p := newTestPipeline(t, s)
	sendN(p, "j", 0, 2)
	stop(t, p)
	sendN(p, "j", 2, 5)
	if st := p.Stats(); st != (DeliveryStats{Written: 2, Dropped: 3}) {
		t.Errorf("Stats = %+v, want Written 2 Dropped 3", st)
	}
	if got := len(s.records()); got != 2 {
		t.Errorf("sink got %d records, want 2", got)
	}
}

// A failed, hung or panicking Write is retried and counted once.
func TestPipelineTransientFault(t *testing.T) {
	tests := []struct {
		name  string
		fault fault
	}{
		{"error", faultError},
		{"write timeout", faultBlock},
		{"panic", faultPanic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &testSink{failFirst: 1, fault: tt.fault}
			p := newTestPipeline(t, s, WithFlushInterval(time.Millisecond),
				WithWriteTimeout(20*time.Millisecond), fastRetry)
			sendN(p, "j", 0, 5)
			waitFor(t, "records written", func() bool { return p.Stats().Written == 5 })
			if st := p.Stats(); st != (DeliveryStats{Written: 5, Failures: 1}) {
				t.Errorf("Stats = %+v, want Written 5 Failures 1", st)
			}
			if got := tokens(s.records())["j"]; !slices.Equal(got, seq(0, 5)) {
				t.Errorf("tokens = %v", got)
			}
		})
	}
}

// Stop cuts a long backoff short: it retries at once instead of waiting.
func TestPipelineStopWakesBackoff(t *testing.T) {
	s := &testSink{failFirst: 1}
	p := newTestPipeline(t, s, WithFlushInterval(time.Millisecond), WithBackoff(time.Hour, time.Hour))
	sendN(p, "j", 0, 3)
	waitFor(t, "the failed write", func() bool { return p.Stats().Failures == 1 })
	stop(t, p)
	if st := p.Stats(); st != (DeliveryStats{Written: 3, Failures: 1}) {
		t.Errorf("Stats = %+v, want Written 3 Failures 1", st)
	}
}

// Stats is safe to call while records flow, and every snapshot accounts for
// each record exactly once.
func TestDeliveryStatsConcurrent(t *testing.T) {
	const n = 5000
	s := &testSink{}
	p := newTestPipeline(t, s, WithBatchSize(64), WithBufferSize(1024), WithFlushInterval(time.Millisecond))
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		sendN(p, "j", 0, n)
	}()
	var last DeliveryStats
	for done := false; !done; {
		select {
		case <-sent:
			done = true
		default:
		}
		st := p.Stats()
		if sum := uint64(st.Buffered) + st.Written + st.Dropped; sum > n {
			t.Fatalf("Stats %+v accounts for %d records, only %d sent", st, sum, n)
		}
		if st.Written < last.Written || st.Dropped < last.Dropped {
			t.Fatalf("counters went backwards: %+v then %+v", last, st)
		}
		last = st
	}
	stop(t, p)
	st := p.Stats()
	if st.Buffered != 0 || st.Written+st.Dropped != n || st.Failures != 0 {
		t.Errorf("final Stats = %+v, want Written+Dropped = %d", st, n)
	}
	if got := uint64(len(s.records())); got != st.Written {
		t.Errorf("sink got %d records, Stats.Written = %d", got, st.Written)
	}
}

// Drops are logged in aggregate, not once per record, and the logged counts
// add up to Stats.Dropped.
func TestPipelineDropLogRateLimited(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	s := &testSink{failing: true}
	p := newTestPipeline(t, s, WithBufferSize(1), WithBatchSize(1), fastRetry, WithLogger(zap.New(core)))
	sendN(p, "j", 0, 1000)
	s.setFailing(false)
	stop(t, p)
	if st := p.Stats(); st.Dropped != 999 || st.Written != 1 {
		t.Fatalf("Stats = %+v, want Dropped 999 Written 1", st)
	}
	entries := logs.FilterMessage("run records dropped").All()
	var sum uint64
	for _, e := range entries {
		sum += e.ContextMap()["dropped"].(uint64)
	}
	if len(entries) == 0 || len(entries) > 5 {
		t.Errorf("%d drop log entries for 999 drops, want a few", len(entries))
	}
	if sum != 999 {
		t.Errorf("drop log entries add up to %d, want 999", sum)
	}
	if entries[0].LoggerName != "logsink" {
		t.Errorf("logger name = %q, want logsink", entries[0].LoggerName)
	}
}

func BenchmarkPipelineSend(b *testing.B) {
	var d Discard
	p, err := NewDelivery(&d)
	if err != nil {
		b.Fatal(err)
	}
	p.Start()
	r := rec("bench", 1)
	b.ReportAllocs()
	for b.Loop() {
		p.Send(r)
	}
	b.StopTimer()
	if err := p.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	st := p.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "drops/op")
}

func BenchmarkPipelineSendParallel(b *testing.B) {
	var d Discard
	p, err := NewDelivery(&d)
	if err != nil {
		b.Fatal(err)
	}
	p.Start()
	r := rec("bench", 1)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Send(r)
		}
	})
	b.StopTimer()
	if err := p.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	st := p.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "drops/op")
}

// After a backlog, an idle pipeline frees its large buffer; a small one is
// kept for reuse.
func TestPipelineReleasesIdleBuffer(t *testing.T) {
	tests := []struct {
		name    string
		backlog int
		freed   bool
	}{
		{"small backlog keeps buffer", 100, false},
		{"large backlog frees buffer", 2 * keepRing, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &testSink{failing: true}
			p, err := NewDelivery(s, WithFlushInterval(time.Millisecond), fastRetry, WithLogger(zaptest.NewLogger(t)))
			if err != nil {
				t.Fatal(err)
			}
			p.idleRelease = 10 * time.Millisecond
			p.Start()
			sendN(p, "j", 0, tt.backlog)
			waitFor(t, "a failed write", func() bool { return s.failCount() >= 1 })
			s.setFailing(false)
			waitFor(t, "backlog written", func() bool { return p.Stats().Written == uint64(tt.backlog) })
			allocated := func() int {
				p.mu.Lock()
				defer p.mu.Unlock()
				return len(p.q.buf)
			}
			if tt.freed {
				waitFor(t, "buffer freed", func() bool { return allocated() == 0 })
			} else {
				time.Sleep(5 * p.idleRelease) // nothing to wait for: give a wrong release the chance
				if allocated() == 0 {
					t.Error("small buffer freed")
				}
			}
			sendN(p, "j", tt.backlog, tt.backlog+3) // the buffer works again
			stop(t, p)
			if got := tokens(s.records())["j"]; !slices.Equal(got, seq(0, tt.backlog+3)) {
				t.Errorf("got %d tokens, want 0..%d in order", len(got), tt.backlog+2)
			}
		})
	}
}
