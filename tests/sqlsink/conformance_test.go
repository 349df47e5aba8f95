package sqlsink_test

import (
	"testing"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sinktest"
)

func TestConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		b.open(t) // skip early when the server is not configured
		sinktest.Run(t, func(t *testing.T) logsink.Sink {
			s, _ := newSink(t, b)
			return s
		})
	})
}
