package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/internal/etcdtest"
)

// TestJobsColumns runs two instances: n0 with the code jobs report (in
// New York, paused) and nightly (overridden by a definition), n1 with the
// code job slow (running), and the definitions cleanup (on both) and
// vacuum (paused, for instances tagged db, of which there is none).
func TestJobsColumns(t *testing.T) {
	etcd := etcdtest.Start(t)
	ep := etcd.Endpoints()
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	start := func(id string, register func(s *distcron.Scheduler) error) *distcron.Scheduler {
		s, err := distcron.New(etcdtest.Client(t, etcd), distcron.WithNamespace("/cli-test/"), distcron.WithInstanceID(id),
			distcron.WithRemoteShell(true), distcron.WithLogger(zap.NewNop()), distcron.WithRemoteScheduleFloor(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := register(s); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.Stop(ctx)
		})
		return s
	}
	noop := func(context.Context) error { return nil }
	n0 := start("n0", func(s *distcron.Scheduler) error {
		if err := s.RegisterFunc("report", "0 3 * * *", noop, distcron.InLocation(newYork)); err != nil {
			return err
		}
		return s.RegisterFunc("nightly", "@daily", noop)
	})
	release, started := make(chan struct{}), make(chan struct{}, 1)
	t.Cleanup(func() { close(release) }) // before the instances stop (cleanups run last first)
	n1 := start("n1", func(s *distcron.Scheduler) error {
		return s.RegisterFunc("slow", "@yearly", func(ctx context.Context) error {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		})
	})

	file := filepath.Join(t.TempDir(), "jobs.yaml")
	if err := os.WriteFile(file, []byte(`
- name: nightly
  schedule: "30 4 * * *"
  location: Europe/Berlin
- name: cleanup
  kind: shell
  schedule: "@hourly"
  shell: {command: "true"}
- name: vacuum
  kind: shell
  schedule: "0 5 * * 0"
  location: Asia/Tokyo
  tags: [db]
  paused: true
  shell: {command: "true"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli(t, ep, "apply", "-f", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n0.Pause(ctx, "report"); err != nil {
		t.Fatal(err)
	}
	if err := n1.Trigger(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("slow did not start")
	}

	// Wait until the registrations show the override and the running key
	// is there, then check every column.
	var rows map[string]jobRow
	var before, after time.Time
	waitFor(t, func() bool {
		before = time.Now()
		code, out, errOut := cli(t, ep, "jobs", "--next", "2", "-o", "json")
		after = time.Now()
		if code != 0 {
			t.Fatalf("jobs -o json: exit %d\n%s", code, errOut)
		}
		var list []jobRow
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("jobs -o json: %v\n%s", err, out)
		}
		rows = map[string]jobRow{}
		for _, r := range list {
			rows[r.Name] = r
		}
		return len(rows) == 5 && rows["nightly"].Schedule == "30 4 * * *" && rows["slow"].Running == 1 &&
			len(rows["cleanup"].Instances) == 2
	}, "jobs to show the override, the run of slow and cleanup on both instances")

	nextOf := func(spec, zone string) [2][]time.Time {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		s, err := distcron.ParseSchedule(spec, loc)
		if err != nil {
			t.Fatal(err)
		}
		var out [2][]time.Time
		for i, from := range []time.Time{before, after} {
			a := s.Next(from)
			out[i] = []time.Time{a, s.Next(a)}
		}
		return out
	}
	for _, want := range []struct {
		jobRow
		zone string // to compute Next in
	}{
		{jobRow{Name: "report", Source: "code", Kind: "func", Schedule: "0 3 * * *", Location: "America/New_York",
			Paused: true, Instances: []string{"n0"}, RunningOn: []string{}}, "America/New_York"},
		{jobRow{Name: "nightly", Source: "code+definition", Kind: "func", Schedule: "30 4 * * *", Location: "Europe/Berlin",
			Instances: []string{"n0"}, RunningOn: []string{}}, "Europe/Berlin"},
		{jobRow{Name: "slow", Source: "code", Kind: "func", Schedule: "@yearly", Location: "UTC",
			Instances: []string{"n1"}, Running: 1, RunningOn: []string{"n1"}}, "UTC"},
		{jobRow{Name: "cleanup", Source: "definition", Kind: "shell", Schedule: "@hourly",
			Instances: []string{"n0", "n1"}, RunningOn: []string{}}, "UTC"},
		{jobRow{Name: "vacuum", Source: "definition", Kind: "shell", Schedule: "0 5 * * 0", Location: "Asia/Tokyo",
			Paused: true, Instances: []string{}, RunningOn: []string{}}, "Asia/Tokyo"},
	} {
		got := rows[want.Name]
		next := nextOf(want.Schedule, want.zone)
		if !slices.EqualFunc(got.Next, next[0], time.Time.Equal) && !slices.EqualFunc(got.Next, next[1], time.Time.Equal) {
			t.Errorf("%s: next %v, want %v", want.Name, got.Next, next[0])
		}
		got.Next = nil
		if !equalRows(got, want.jobRow) {
			t.Errorf("jobs row:\n got %+v\nwant %+v", got, want.jobRow)
		}
	}

	// The table has the same columns.
	code, out, errOut := cli(t, ep, "jobs")
	if code != 0 {
		t.Fatalf("jobs: exit %d\n%s", code, errOut)
	}
	for _, line := range []string{
		`^JOB\s+SOURCE\s+SCHEDULE\s+ZONE\s+NEXT\s+PAUSED\s+INSTANCES\s+RUNNING$`,
		`^cleanup\s+definition\s+@hourly\s+default\s+\d{4}-\d\d-\d\d \d\d:00:00 UTC\s+no\s+n0,n1\s+0$`,
		`^nightly\s+code\+definition\s+30 4 \* \* \*\s+Europe/Berlin\s+\d{4}-\d\d-\d\d 04:30:00 CES?T\s+no\s+n0\s+0$`,
		`^report\s+code\s+0 3 \* \* \*\s+America/New_York\s+\d{4}-\d\d-\d\d 03:00:00 E[SD]T\s+yes\s+n0\s+0$`,
		`^slow\s+code\s+@yearly\s+UTC\s+\d{4}-01-01 00:00:00 UTC\s+no\s+n1\s+1 \(n1\)$`,
		`^vacuum\s+definition\s+0 5 \* \* 0\s+Asia/Tokyo\s+\d{4}-\d\d-\d\d 05:00:00 JST\s+yes\s+-\s+0$`,
	} {
		if !regexpMatch(`(?m)`+line, out) {
			t.Errorf("jobs: no line matching %s in\n%s", line, out)
		}
	}
	if code, _, errOut = cli(t, ep, "jobs", "--next", "0"); code != 2 || !strings.Contains(errOut, "--next 0: want 1 to 100") {
		t.Errorf("jobs --next 0: exit %d, %q", code, errOut)
	}
}

func equalRows(a, b jobRow) bool {
	return a.Name == b.Name && a.Source == b.Source && a.Kind == b.Kind && a.Schedule == b.Schedule && a.Location == b.Location &&
		a.Custom == b.Custom && a.ScheduleDiffers == b.ScheduleDiffers && a.NextError == b.NextError && a.Paused == b.Paused &&
		slices.Equal(a.Instances, b.Instances) && a.Running == b.Running && slices.Equal(a.RunningOn, b.RunningOn)
}
