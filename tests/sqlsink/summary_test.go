package sqlsink_test

import (
	"testing"

	"github.com/distcron/distcron/logsink/sinktest"
)

func TestSummarize(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := newSink(t, b)
		sinktest.CheckSummarizer(t, s)
	})
}
