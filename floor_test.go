package distcron

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// Issue 10: schedules arriving over the network have a floor (default
// 1s): Define refuses a faster one, and one written into etcd directly is
// skipped; the job keeps its previous schedule. Code jobs are not limited.
func TestRemoteScheduleFloor(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0", WithRemoteShell(true), WithRemoteScheduleFloor(time.Second))
	if err := s.RegisterFunc("fast-code", "@every 100ms", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("a fast code job: %v", err)
	}
	tc.start(s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, d := range []Definition{
		{Name: "fast", Kind: "shell", Schedule: "@every 10ms", Shell: &ShellSpec{Command: "df"}},
		{Name: "fast", Kind: "shell", Schedule: "*/1 * * * * * *", Shell: &ShellSpec{Command: "df"}}, // every second: allowed
		{Name: "fast-code", Schedule: "@every 10ms"},                                                 // an override
	} {
		err := s.Define(ctx, d)
		allowed := d.Schedule == "*/1 * * * * * *"
		if allowed != (err == nil) || !allowed && !errors.Is(err, ErrInvalidDefinition) {
			t.Errorf("Define(%s %q): %v", d.Name, d.Schedule, err)
		}
	}
	// Straight into etcd: skipped, the code job keeps its schedule.
	v, _ := json.Marshal(Definition{Name: "fast-code", Schedule: "@every 10ms"})
	if _, err := s.cli.Put(ctx, tc.ns+"defs/fast-code", string(v)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the fast override to be skipped", func() bool {
		return s.InvalidDefinitions()["fast-code"] != nil
	})
	if ji, _ := s.JobInfo("fast-code"); ji.Schedule != "@every 100ms" {
		t.Fatalf("the code job's schedule changed to %q", ji.Schedule)
	}
	if _, err := New(s.cli, WithRemoteScheduleFloor(-time.Second)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("a negative floor: %v", err)
	}
}
