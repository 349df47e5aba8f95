package mongosink_test

import (
	"testing"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/mongosink"
	"github.com/distcron/distcron/logsink/sinktest"
)

// BenchmarkWrite measures records stored per second per batch size, on the
// embedded FerretDB (SQLite backend) or DISTCRON_MONGODB_URI (see
// docs/SINKS.md for figures).
func BenchmarkWrite(b *testing.B) {
	sinktest.Benchmark(b, func(b *testing.B) logsink.Sink {
		s, err := mongosink.New(collection(b, client(b)))
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}
