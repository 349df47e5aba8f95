package retention

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestPrunerSchedule(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	var calls []time.Time
	result := error(nil)
	p := &Pruner{Retention: time.Hour, Log: zap.New(core), Prune: func(ctx context.Context, before time.Time) (int64, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("prune without a budget")
		}
		calls = append(calls, before)
		return 3, result
	}}
	p.AfterWrite(context.Background())
	if len(calls) != 1 || time.Since(calls[0]) < time.Hour-time.Minute || time.Since(calls[0]) > time.Hour+time.Minute {
		t.Fatalf("first write: prune calls %v, want one, for records an hour old", calls)
	}
	p.AfterWrite(context.Background())
	if len(calls) != 1 {
		t.Errorf("second write at once: %d prunes, want none before retention/10", len(calls)-1)
	}
	// Out of budget: the next write goes on.
	p.next, result = time.Time{}, context.DeadlineExceeded
	p.AfterWrite(context.Background())
	p.AfterWrite(context.Background())
	if len(calls) != 3 {
		t.Errorf("after an out-of-budget prune: %d calls, want the next write to prune again", len(calls))
	}
	if logs.Len() != 0 {
		t.Errorf("an out-of-budget prune was logged as a failure: %v", logs.All())
	}
	// A failure is logged, then waits for the interval.
	p.next, result = time.Time{}, errors.New("disk full")
	p.AfterWrite(context.Background())
	p.AfterWrite(context.Background())
	if len(calls) != 4 || logs.FilterMessage("deleting expired run records failed").Len() != 1 {
		t.Errorf("after a failure: %d calls, logs %v; want one more call and one warning", len(calls), logs.All())
	}
}
