package sinktest_test

import (
	"context"
	"testing"
	"time"

	"github.com/distcron/distcron/logsink"
	"github.com/distcron/distcron/logsink/sinktest"
)

func TestMemorySummarize(t *testing.T) {
	sinktest.CheckSummarizer(t, &sinktest.Memory{})

	// And by hand.
	var m sinktest.Memory
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(job string, min int, st logsink.Status) logsink.Record {
		return logsink.Record{Job: job, Tick: t0.Add(time.Duration(min) * time.Minute), Instance: "n0", Attempt: 1, Status: st}
	}
	ctx := context.Background()
	m.Write(ctx, []logsink.Record{
		rec("a", 1, logsink.StatusSucceeded), rec("a", 2, logsink.StatusSucceeded), rec("a", 3, logsink.StatusFailed),
		rec("b", 4, logsink.StatusSucceeded),
	})
	got, err := m.Summarize(ctx, logsink.Query{Until: t0.Add(4 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	want := []logsink.StatusCount{
		{Job: "a", Status: logsink.StatusFailed, Runs: 1, Last: t0.Add(3 * time.Minute)},
		{Job: "a", Status: logsink.StatusSucceeded, Runs: 2, Last: t0.Add(2 * time.Minute)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("count %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Summarize(ctx, logsink.Query{}); err == nil {
		t.Error("Summarize with a cancelled context succeeded")
	}
}
