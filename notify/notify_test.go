package notify

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/distcron/distcron/logsink"
)

func TestFilters(t *testing.T) {
	t.Parallel()
	failed := map[logsink.Status]bool{
		logsink.StatusSucceeded: false,
		logsink.StatusFailed:    true,
		logsink.StatusTimeout:   true,
		logsink.StatusKilled:    true,
		logsink.StatusSkipped:   false,
		logsink.StatusLost:      true,
		"":                      false,
	}
	both := Any(Failed, Succeeded)
	for status, want := range failed {
		rec := logsink.Record{Status: status}
		if Failed(rec) != want {
			t.Errorf("Failed(%q) = %v, want %v", status, !want, want)
		}
		if got, want := Succeeded(rec), status == logsink.StatusSucceeded; got != want {
			t.Errorf("Succeeded(%q) = %v, want %v", status, got, want)
		}
		if got, want := both(rec), want || status == logsink.StatusSucceeded; got != want {
			t.Errorf("Any(Failed, Succeeded)(%q) = %v, want %v", status, got, want)
		}
	}
	if Any()(logsink.Record{Status: logsink.StatusFailed}) {
		t.Error("Any() accepts a record")
	}
}

func TestWhenAndMulti(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	errA, errB := errors.New("a down"), errors.New("b down")
	counting := func(err error) Notifier {
		return Func(func(ctx context.Context, rec logsink.Record) error {
			calls.Add(1)
			return err
		})
	}
	n := When(Failed, counting(nil))
	if err := n.Notify(context.Background(), logsink.Record{Status: logsink.StatusSucceeded}); err != nil || calls.Load() != 0 {
		t.Errorf("When(Failed) on success: err %v, %d calls; want nil, 0", err, calls.Load())
	}
	if err := n.Notify(context.Background(), logsink.Record{Status: logsink.StatusLost}); err != nil || calls.Load() != 1 {
		t.Errorf("When(Failed) on lost: err %v, %d calls; want nil, 1", err, calls.Load())
	}
	if err := When(nil, counting(nil)).Notify(context.Background(), logsink.Record{}); err != nil || calls.Load() != 2 {
		t.Errorf("When(nil): err %v, %d calls; want nil, 2", err, calls.Load())
	}

	calls.Store(0)
	err := Multi(counting(errA), nil, counting(nil), counting(errB)).Notify(context.Background(), logsink.Record{})
	if !errors.Is(err, errA) || !errors.Is(err, errB) || calls.Load() != 3 {
		t.Errorf("Multi: err %v, %d calls; want both errors, 3 calls", err, calls.Load())
	}
	if err := Multi().Notify(context.Background(), logsink.Record{}); err != nil {
		t.Errorf("Multi(): %v", err)
	}
}
