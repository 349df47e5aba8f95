package logsink

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// The buffer is bounded by bytes as well as records: during an outage,
// records with 64 KiB outputs fill it long before 65,536 of them are held
// (issue 10: 4.5 GiB). The newest are dropped, counted and logged; what was
// kept is delivered in order.
func TestPipelineBufferBytes(t *testing.T) {
	big := func(i int) Record { r := rec("j", i); r.Output = bigOutput; return r }
	small := func(i int) Record { return rec("j", i) }
	tests := []struct {
		name  string
		opts  []DeliveryOption
		rec   func(int) Record
		send  int
		bound int // bytes
		count int // records
	}{
		{"default byte bound", nil, big, 1000, DefaultBufferBytes, DefaultBufferSize},
		{"explicit byte bound", []DeliveryOption{WithBufferBytes(2 << 20)}, big, 100, 2 << 20, DefaultBufferSize},
		{"count bound first", []DeliveryOption{WithBufferSize(100), WithBatchSize(10)}, small, 150, DefaultBufferBytes, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			s := &testSink{failing: true}
			opts := append([]DeliveryOption{WithFlushInterval(time.Millisecond), fastRetry, WithLogger(zap.New(core))}, tt.opts...)
			p, err := NewDelivery(s, opts...)
			if err != nil {
				t.Fatal(err)
			}
			p.Start()
			size := tt.rec(0).Size()
			kept := min(tt.bound/size, tt.count, tt.send)
			for i := range tt.send {
				p.Send(tt.rec(i))
			}
			st := p.Stats()
			if st.Buffered != int64(kept) || st.Dropped != uint64(tt.send-kept) || st.BufferedBytes != int64(kept*size) {
				t.Errorf("during outage Stats = %+v, want Buffered %d Dropped %d BufferedBytes %d", st, kept, tt.send-kept, kept*size)
			}
			if st.BufferedBytes > int64(tt.bound) {
				t.Errorf("BufferedBytes %d above the bound %d", st.BufferedBytes, tt.bound)
			}
			waitFor(t, "a failed write", func() bool { return s.failCount() >= 1 })
			s.setFailing(false)
			stop(t, p)
			if got := tokens(s.records())["j"]; !slices.Equal(got, seq(0, kept)) {
				t.Errorf("delivered %d records, want tokens 0..%d in order", len(got), kept-1)
			}
			if st := p.Stats(); st.BufferedBytes != 0 || st.Written != uint64(kept) {
				t.Errorf("after Stop Stats = %+v, want Written %d and no bytes buffered", st, kept)
			}
			var logged uint64
			for _, e := range logs.FilterMessage("run records dropped").All() {
				logged += e.ContextMap()["dropped"].(uint64)
			}
			if logged != uint64(tt.send-kept) {
				t.Errorf("drop logs add up to %d, want %d", logged, tt.send-kept)
			}
		})
	}
}

func TestWithBufferBytesValidates(t *testing.T) {
	for _, tt := range []struct {
		n  int
		ok bool
	}{{0, false}, {-1, false}, {MaxRecordBytes - 1, false}, {MaxRecordBytes, true}, {1 << 30, true}} {
		p, err := NewDelivery(&Discard{}, WithBufferBytes(tt.n))
		if (err == nil) != tt.ok || (p != nil) != tt.ok {
			t.Errorf("WithBufferBytes(%d): %v, %v; want ok %v", tt.n, p, err, tt.ok)
		}
	}
}
