package distcron

import (
	"context"
	"testing"
	"time"
)

// Issue 9, defect 10: a code job that was Unregistered does not come back
// when the override definition that had applied to it changes (on main the
// override is rebuilt from the code job it remembered, and the job is
// back).
func TestUnregisteredCodeJobStaysGoneWhenItsOverrideChanges(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	registerNoop(t, s, []string{"gone", "marker"}, "@yearly")
	tc.start(s)
	ctx := context.Background()
	if err := s.Define(ctx, Definition{Name: "gone", Schedule: "@every 1h"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the override to apply", func() bool {
		ji, ok := s.JobInfo("gone")
		return ok && ji.Source == "override" && ji.Schedule == "@every 1h"
	})
	if !s.Unregister("gone") {
		t.Fatal("Unregister: job not found")
	}
	if err := s.Define(ctx, Definition{Name: "gone", Schedule: "@every 2h"}); err != nil {
		t.Fatal(err)
	}
	// Definitions are applied in order: once the marker's override shows,
	// the change to "gone" has been handled too.
	if err := s.Define(ctx, Definition{Name: "marker", Schedule: "@every 3h"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the marker's override to apply", func() bool {
		ji, ok := s.JobInfo("marker")
		return ok && ji.Source == "override" && ji.Schedule == "@every 3h"
	})
	if ji, ok := s.JobInfo("gone"); ok {
		t.Fatalf("the Unregistered job came back when its override changed: %+v (jobs %v)", ji, s.Jobs())
	}
}

// Issue 9, defect 10: an override definition stored before its code job is
// registered (the job registers after Start) applies once the job
// registers (on main the override was skipped as having no code job, and
// is never looked at again).
func TestOverrideStoredBeforeItsCodeJobAppliesWhenTheJobRegisters(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	ctx := context.Background()
	if err := s.Define(ctx, Definition{Name: "late", Schedule: "@every 1h", Paused: true}); err != nil {
		t.Fatal(err)
	}
	tc.start(s) // loads the definition: no code job "late" yet
	registerNoop(t, s, []string{"late"}, "@yearly")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ji, ok := s.JobInfo("late")
		if ok && ji.Source == "override" && ji.Schedule == "@every 1h" && ji.Paused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %+v (invalid definitions %v); want the stored override applied: source override, schedule @every 1h, paused",
				ji, s.InvalidDefinitions())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An override's zone applies, with or without a schedule of its own, and
// the registration reports it (it reported the code job's zone before).
func TestOverrideZoneApplies(t *testing.T) {
	tc := newTestCluster(t)
	s, _ := tc.newScheduler("n0")
	registerNoop(t, s, []string{"zoned", "both"}, "0 3 * * *")
	tc.start(s)
	ctx := context.Background()
	if err := s.Define(ctx, Definition{Name: "zoned", Location: "Asia/Tokyo"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Define(ctx, Definition{Name: "both", Schedule: "0 4 * * *", Location: "America/New_York"}); err != nil {
		t.Fatal(err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	waitFor(t, 5*time.Second, "both overrides to apply", func() bool {
		z, ok1 := s.JobInfo("zoned")
		b, ok2 := s.JobInfo("both")
		return ok1 && ok2 && z.Source == "override" && z.Location == "Asia/Tokyo" && b.Location == "America/New_York"
	})
	if z, _ := s.JobInfo("zoned"); z.Schedule != "0 3 * * *" || z.Next.In(tokyo).Hour() != 3 {
		t.Errorf("zone-only override: schedule %q next %v, want the code spec at 03:00 Tokyo", z.Schedule, z.Next.In(tokyo))
	}
	waitFor(t, 5*time.Second, "the registration to report the overrides' zones", func() bool {
		ins, err := s.Instances(ctx)
		return err == nil && len(ins) == 1 && ins[0].Code["zoned"].Location == "Asia/Tokyo" &&
			ins[0].Code["both"].Location == "America/New_York" && ins[0].Code["both"].Schedule == "0 4 * * *"
	})
}
