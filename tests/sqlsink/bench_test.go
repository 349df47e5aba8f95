package sqlsink_test

import (
	"testing"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sinktest"
	"github.com/distcron/distcron/logsink/sqlsink"
)

// BenchmarkWrite measures records stored per second, per database and
// batch size (see docs/SINKS.md for figures).
func BenchmarkWrite(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			be.open(b) // skip early when the server is not configured
			sinktest.Benchmark(b, func(b *testing.B) logsink.Sink {
				db := be.open(b)
				s, err := sqlsink.New(db, be.dialect, sqlsink.WithTable(tableName(b, db, be.dialect)))
				if err != nil {
					b.Fatal(err)
				}
				return s
			})
		})
	}
}
