package distcron

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Issue 9, item 10: the warning rate limit is per message, so one busy
// warning does not hide another.
func TestLogLimitIsPerMessage(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	s := &Scheduler{log: zap.New(core)}
	s.logLimited("claim failed")
	s.logLimited("no session")
	s.logLimited("claim failed") // within the second: limited
	if n := logs.FilterMessage("no session").Len(); n != 1 {
		t.Fatalf("the second warning was logged %d times, want 1", n)
	}
	if n := logs.FilterMessage("claim failed").Len(); n != 1 {
		t.Fatalf("the first warning was logged %d times, want 1", n)
	}
}
