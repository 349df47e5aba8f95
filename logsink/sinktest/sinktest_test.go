package sinktest_test

import (
	"io"
	"testing"

	"go.uber.org/goleak"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sinktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestMemory(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) logsink.Sink { return new(sinktest.Memory) })
}

func TestDiscard(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) logsink.Sink { return new(logsink.Discard) })
}

func TestJSON(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) logsink.Sink { return logsink.NewJSON(io.Discard) })
}
