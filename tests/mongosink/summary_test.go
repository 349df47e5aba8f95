package mongosink_test

import (
	"testing"

	"github.com/distcron/distcron/logsink/sinktest"
)

func TestSummarize(t *testing.T) {
	s, _ := newSink(t)
	sinktest.CheckSummarizer(t, s)
}
