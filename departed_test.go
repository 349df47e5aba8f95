package distcron

import (
	"context"
	"testing"
	"time"
)

// Departed tells an instance that stopped from one whose lease expired
// (its process "crashed": its etcd client closed), forgets an instance
// that registers again, and reports nothing on an instance never started.
func TestDepartedTellsStopFromExpiry(t *testing.T) {
	tc := newTestCluster(t)
	a, _ := tc.newScheduler("a")
	b, _ := tc.newScheduler("b")
	c, cCli := tc.newScheduler("c")
	for _, s := range []*Scheduler{a, b, c} {
		tc.start(s)
	}
	ctx := context.Background()
	waitFor(t, 5*time.Second, "three instances", func() bool {
		ins, err := a.Instances(ctx)
		return err == nil && len(ins) == 3
	})
	find := func(id string) (Departure, bool) {
		for _, d := range a.Departed() {
			if d.Instance.ID == id {
				return d, true
			}
		}
		return Departure{}, false
	}
	if len(a.Departed()) != 0 {
		t.Fatalf("departed before anyone left: %+v", a.Departed())
	}

	before := time.Now()
	stopNow(t, b)
	waitFor(t, 5*time.Second, "b stopped", func() bool {
		d, ok := find("b")
		return ok && d.Reason == DepartureStopped
	})
	if d, _ := find("b"); d.Gone.Before(before.Add(-time.Second)) || d.Instance.Host == "" || d.Instance.Started.IsZero() {
		t.Errorf("b's departure %+v", d)
	}

	cCli.Close() // a crash: the keep-alive stops, the lease expires
	waitFor(t, 10*time.Second, "c expired", func() bool {
		d, ok := find("c")
		return ok && d.Reason == DepartureExpired
	})
	if ds := a.Departed(); len(ds) != 2 || ds[0].Instance.ID != "c" || ds[1].Instance.ID != "b" {
		t.Errorf("Departed() = %+v, want c then b", ds)
	}

	// b comes back with the same id: no longer departed.
	b2, _ := tc.newScheduler("b")
	tc.start(b2)
	waitFor(t, 5*time.Second, "b back", func() bool { _, ok := find("b"); return !ok })

	idle, _ := tc.newScheduler("idle")
	if ds := idle.Departed(); len(ds) != 0 {
		t.Errorf("Departed() before Start = %+v", ds)
	}
}

// The departures kept are bounded: at most MaxDepartures, none older than
// DepartedKeep.
func TestDeparturesBounded(t *testing.T) {
	var d departures
	now := time.Now()
	for i := range MaxDepartures + 10 {
		d.list = append(d.list, departure{Departure: Departure{Instance: Instance{ID: "x"}, Gone: now.Add(time.Duration(i) * time.Second)}})
	}
	d.pruneLocked(now)
	if len(d.list) != MaxDepartures {
		t.Fatalf("kept %d, want %d", len(d.list), MaxDepartures)
	}
	d.pruneLocked(now.Add(DepartedKeep + 30*time.Second))
	// Gone at now+10s ... now+59s: those before now+30s are past the keep.
	if len(d.list) != 30 {
		t.Fatalf("kept %d after the keep time passed for some", len(d.list))
	}
}
