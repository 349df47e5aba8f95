package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/admin"
	"github.com/distcron/distcron/logsink"
)

// The console of one instance steers a job registered in code on another
// instance only: it lists the job with its schedule and where it runs,
// triggers, pauses and resumes it, and kills one of its runs (the other
// goes on). The instances list counts each instance's runs, says what it
// allows from the network, and lists an instance that stopped.
func TestClusterWideJobs(t *testing.T) {
	c := newCluster(t)
	n0 := c.Start(c.Node("n0"))
	release := make(chan struct{})
	defer close(release)
	n1 := c.Node("n1", distcron.WithRemoteShell(true))
	err := n1.RegisterFunc("remote", "CRON_TZ=Europe/Berlin 0 6 * * *", func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-release:
			return nil
		}
	}, distcron.Sharded(2))
	if err != nil {
		t.Fatal(err)
	}
	c.Start(n1)
	n2 := c.Start(c.Node("n2"))
	srv := serve(t, n0, admin.WithAuthorizer(allow), admin.WithHistory(c.History))

	var jobs apiJobs
	waitFor(t, 10*time.Second, "remote listed", func() bool {
		jobs = apiJobs{}
		srv.ok(200, "GET", "api/jobs", "", &jobs, auth)
		_, ok := jobs.find("remote")
		return ok
	})
	remote, _ := jobs.find("remote")
	if remote.Local || remote.Source != "code" || remote.Kind != "func" || remote.Schedule != "CRON_TZ=Europe/Berlin 0 6 * * *" || remote.Location != "Europe/Berlin" ||
		!slices.Equal(remote.Instances, []string{"n1"}) || len(remote.NextRuns) != 5 || remote.Paused {
		t.Fatalf("remote %+v", remote)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if b := remote.NextRuns[0].In(berlin); b.Hour() != 6 || b.Minute() != 0 {
		t.Errorf("remote's next run %v", remote.NextRuns[0])
	}

	// Pause and resume go through etcd: n1 sees them.
	srv.ok(200, "POST", "api/jobs/remote/pause", "", nil, auth)
	waitFor(t, 5*time.Second, "remote paused on n1", func() bool { info, _ := n1.JobInfo("remote"); return info.Paused })
	jobs = apiJobs{}
	srv.ok(200, "GET", "api/jobs", "", &jobs, auth)
	if j, _ := jobs.find("remote"); !j.Paused {
		t.Errorf("remote not shown paused: %+v", j)
	}
	srv.ok(200, "POST", "api/jobs/remote/resume", "", nil, auth)
	waitFor(t, 5*time.Second, "remote resumed on n1", func() bool { info, _ := n1.JobInfo("remote"); return !info.Paused })

	// Run now: both shards run on n1.
	srv.ok(202, "POST", "api/jobs/remote/trigger", "", nil, auth)
	var running struct{ Running []distcron.Run }
	waitFor(t, 10*time.Second, "two runs of remote", func() bool {
		running.Running = nil
		srv.ok(200, "GET", "api/running", "", &running, auth)
		return len(running.Running) == 2
	})
	var ins struct {
		Instances []struct {
			distcron.Instance
			Running int `json:"running"`
		} `json:"instances"`
		Departed []distcron.Departure `json:"departed"`
	}
	srv.ok(200, "GET", "api/instances", "", &ins, auth)
	counts := map[string]int{}
	for _, in := range ins.Instances {
		counts[in.ID] = in.Running
		if in.RemoteShell != (in.ID == "n1") || in.RemoteHTTP {
			t.Errorf("instance %s: remote shell %v, remote http %v", in.ID, in.RemoteShell, in.RemoteHTTP)
		}
	}
	if counts["n0"] != 0 || counts["n1"] != 2 || counts["n2"] != 0 {
		t.Errorf("running per instance %v", counts)
	}

	// Kill one run: the other goes on.
	victim, other := running.Running[0], running.Running[1]
	if !strings.Contains(victim.ID, "/") {
		t.Fatalf("run id %q", victim.ID)
	}
	path := "api/running/" + url.PathEscape(victim.ID) + "/kill"
	expectError(t, srv.call("POST", path, ""), http.StatusForbidden, "forbidden")
	var killed struct{ Job, Run, Action string }
	srv.ok(202, "POST", path, "", &killed, auth)
	if killed.Job != "remote" || killed.Run != victim.ID || killed.Action != "kill" {
		t.Errorf("kill answer %+v", killed)
	}
	waitFor(t, 10*time.Second, "the killed record", func() bool {
		var runs apiRuns
		srv.ok(200, "GET", "api/runs?job=remote", "", &runs, auth)
		return len(runs.Runs) == 1 && runs.Runs[0].Status == logsink.StatusKilled && runs.Runs[0].Shard == victim.Shard
	})
	running.Running = nil
	srv.ok(200, "GET", "api/running", "", &running, auth)
	if len(running.Running) != 1 || running.Running[0].ID != other.ID {
		t.Errorf("after killing one run: %+v", running.Running)
	}
	expectError(t, srv.call("POST", path, "", auth), http.StatusNotFound, "no such run in progress")
	expectError(t, srv.call("POST", "api/running/"+url.PathEscape("bad name/x")+"/kill", "", auth), http.StatusNotFound, "invalid job name")

	// n2 stops: the instances list says so.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "n2 departed", func() bool {
		ins.Departed = nil
		srv.ok(200, "GET", "api/instances", "", &ins, auth)
		return len(ins.Departed) == 1 && ins.Departed[0].Instance.ID == "n2" && ins.Departed[0].Reason == distcron.DepartureStopped
	})
	if len(ins.Instances) != 2 {
		t.Errorf("instances after n2 left: %+v", ins.Instances)
	}
}

// GET api/schedule/preview parses a spec in a zone and lists its next
// fire times, or says what is wrong with it (400).
func TestSchedulePreview(t *testing.T) {
	c := newCluster(t)
	s := newReportNode(t, c)
	srv := serve(t, s, admin.WithAuthorizer(allow))
	var p struct {
		Spec, Location string
		Next           []time.Time
	}
	srv.ok(200, "GET", "api/schedule/preview?spec="+url.QueryEscape("30 9 * * MON-FRI")+"&tz=Asia/Tokyo&n=3", "", &p, auth)
	if p.Location != "Asia/Tokyo" || len(p.Next) != 3 {
		t.Fatalf("preview %+v", p)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	for _, tm := range p.Next {
		if l := tm.In(tokyo); l.Hour() != 9 || l.Minute() != 30 || l.Weekday() == time.Saturday || l.Weekday() == time.Sunday || !tm.After(time.Now()) {
			t.Errorf("next %v", tm)
		}
	}
	r := srv.ok(200, "GET", "api/schedule/preview?spec="+url.QueryEscape("@every 1h"), "", &p, auth)
	if p.Location != "UTC" || len(p.Next) != 5 || !strings.Contains(string(r.body), "Z\"") {
		t.Errorf("default preview %+v: %s", p, r.body)
	}
	for _, c := range []struct{ query, pattern string }{
		{"spec=" + url.QueryEscape("every second"), `^invalid schedule "every second": expected 5, 6 or 7 fields`},
		{"spec=" + url.QueryEscape("61 * * * *"), "spec|minute|61"},
		{"", "spec is required"},
		{"spec=@hourly&tz=Mars/Olympus", "location .*Mars/Olympus.* is not an IANA zone"},
		{"spec=@hourly&n=0", `n="0": want an integer from 1 to 100`},
		{"spec=@hourly&n=many", `n="many"`},
		{"spec=@hourly&zone=UTC", "unknown parameter"},
		{"spec=" + url.QueryEscape("@every 1ms"), "spec|10ms|floor"},
		{"spec=" + strings.Repeat("*", 300), "longer than"},
	} {
		expectError(t, srv.call("GET", "api/schedule/preview?"+c.query, "", auth), http.StatusBadRequest, c.pattern)
	}
	expectError(t, srv.call("GET", "api/schedule/preview?spec=@hourly", ""), http.StatusForbidden, "forbidden")
	expectError(t, srv.call("POST", "api/schedule/preview?spec=@hourly", "", auth), http.StatusMethodNotAllowed, "not allowed")
}
