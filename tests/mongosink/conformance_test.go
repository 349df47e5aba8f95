package mongosink_test

import (
	"testing"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sinktest"
)

func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) logsink.Sink {
		s, _ := newSink(t)
		return s
	})
}
