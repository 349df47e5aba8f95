package distcron

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/distcron/distcron/logsink"
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

// A limited warning says how many of its kind it held back.
func TestLogLimitCountsWhatItHeldBack(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	s := &Scheduler{log: zap.New(core)}
	for range 5 {
		s.logLimited("claim failed")
	}
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d lines for 5 warnings within a second, want 1", n)
	}
	if _, ok := logs.All()[0].ContextMap()["suppressed"]; ok {
		t.Fatalf("the first line says some were suppressed: %v", logs.All()[0].ContextMap())
	}
	v, _ := s.warned.Load("claim failed")
	v.(*warnLimit).last.Store(time.Now().Add(-2 * time.Second).UnixNano()) // a second passes
	s.logLimited("claim failed")
	if got := logs.All()[1].ContextMap()["suppressed"]; got != int64(4) {
		t.Fatalf("the next line says suppressed=%v, want 4", got)
	}
}

// At saturation every run starts late; the warning is one line a second,
// not one per run (20,000 lines a second at 20,000 jobs due together).
func TestLateStartWarningIsLimited(t *testing.T) {
	tc := newTestCluster(t)
	core, logs := observer.New(zap.WarnLevel)
	s, _ := tc.newScheduler("n0", WithLogger(zap.New(core)))
	if err := s.RegisterFunc("j", "@every 1h", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	tc.start(s)
	lease := s.sess.get().Lease()
	for i := range 5 {
		r := claimReq{job: s.jobs["j"], tick: time.Now().Add(-2*time.Second - time.Duration(i)*time.Millisecond),
			trigger: logsink.TriggerSchedule, attempt: 1}
		if _, ran := s.execute(context.Background(), r, int64(7+i), &startCheck{lease: lease, at: time.Now()}); !ran {
			t.Fatalf("run %d did not run", i)
		}
	}
	if n := logs.FilterMessage("run started late").Len(); n != 1 {
		t.Fatalf("%d late-start warnings for 5 late runs within a second, want 1", n)
	}
}
