package sinktest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/distcron/distcron/logsink"
)

// BatchSizes are the batch sizes [Benchmark] measures.
var BatchSizes = []int{1, 100, 1000}

// Benchmark measures how many records per second newSink's sinks store,
// with one sub-benchmark per batch size in [BatchSizes] ("batch=100"),
// reported as the custom metric "records/s". Each batch holds new records
// (no duplicates) shaped like a shell job's: a 200-byte output, every
// fourth one failed with an error. newSink is called once per
// sub-benchmark and must return a fresh, empty sink.
func Benchmark(b *testing.B, newSink func(b *testing.B) logsink.Sink) {
	out := strings.Repeat("some output of the job\n", 9)[:200]
	for _, n := range BatchSizes {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s := newSink(b)
			ctx := context.Background()
			batch := make([]logsink.Record, n)
			seq := 0
			records := 0
			for b.Loop() {
				for i := range batch {
					r := Rec(fmt.Sprintf("bench-%d", seq%20), seq)
					r.Output = out
					batch[i] = r
					seq++
				}
				if err := s.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
				records += n
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
