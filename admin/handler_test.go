package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/admin"
	"github.com/distcron/distcron/logsink"
)

// Shapes of the API's answers, as a client decodes them.
type (
	apiJob struct {
		Name       string               `json:"name"`
		Local      bool                 `json:"local"`
		Schedule   string               `json:"schedule"`
		Location   string               `json:"location"`
		Kind       string               `json:"kind"`
		Source     string               `json:"source"`
		Paused     bool                 `json:"paused"`
		Eligible   bool                 `json:"eligible"`
		Refused    string               `json:"refused"`
		NextRuns   []time.Time          `json:"next_runs"`
		Last       *distcron.LastRun    `json:"last"`
		Running    []distcron.Run       `json:"running"`
		Instances  []string             `json:"instances"`
		Definition *distcron.Definition `json:"definition"`
	}
	apiJobs struct {
		Jobs    []apiJob `json:"jobs"`
		Invalid []struct {
			Name, Error string
		} `json:"invalid"`
	}
	apiRun struct {
		ID string `json:"id"`
		logsink.Record
	}
	apiRuns struct {
		Runs []apiRun `json:"runs"`
		Next string   `json:"next"`
	}
	apiInstances struct {
		Instances []distcron.Instance `json:"instances"`
		Leader    string              `json:"leader"`
	}
	apiInfo struct {
		Instance  string `json:"instance"`
		ReadOnly  bool   `json:"read_only"`
		CanMutate bool   `json:"can_mutate"`
		Denied    string `json:"denied"`
		History   bool   `json:"history"`
	}
)

func (j apiJobs) find(name string) (apiJob, bool) {
	for _, job := range j.Jobs {
		if job.Name == name {
			return job, true
		}
	}
	return apiJob{}, false
}

const echoDef = `{"name":"echo","kind":"shell","schedule":"@every 200ms","shell":{"command":"echo hello"}}`

// mutations are every route that changes the cluster, on job "report".
var mutations = []struct{ method, path, body string }{
	{"POST", "api/jobs", echoDef},
	{"PUT", "api/jobs/echo", echoDef},
	{"DELETE", "api/jobs/report", ""},
	{"POST", "api/jobs/report/trigger", ""},
	{"POST", "api/jobs/report/kill", ""},
	{"POST", "api/jobs/report/pause", ""},
	{"POST", "api/jobs/report/resume", ""},
	{"POST", "api/running/report%2F2026-01-01T00:00:00.000000000Z/kill", ""},
}

func newReportNode(t *testing.T, c *cluster, opts ...distcron.Option) *distcron.Scheduler {
	s := c.Node("n0", opts...)
	if err := s.RegisterFunc("report", "@every 1h", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	return c.Start(s)
}

func TestReadOnlyByDefault(t *testing.T) {
	c := newCluster(t)
	s := newReportNode(t, c)
	srv := serve(t, s, admin.WithHistory(c.History))

	var info apiInfo
	srv.ok(200, "GET", "api/info", "", &info)
	if !info.ReadOnly || info.CanMutate || info.Instance != "n0" || !info.History {
		t.Errorf("info %+v", info)
	}
	for _, m := range mutations {
		t.Run(m.method+" "+m.path, func(t *testing.T) {
			for _, hdr := range []string{"X-Nothing: 1", auth} { // a token does not help
				expectError(t, srv.call(m.method, m.path, m.body, hdr), http.StatusForbidden, `^read-only: .*admin.WithAuthorizer`)
			}
		})
	}
	defs, err := s.Definitions(context.Background())
	if err != nil || len(defs) != 0 {
		t.Errorf("definitions after refused calls: %v, %v", defs, err)
	}
	if info, _ := s.JobInfo("report"); info.Paused {
		t.Error("a refused pause paused the job")
	}
	// Reads work.
	var jobs apiJobs
	srv.ok(200, "GET", "api/jobs", "", &jobs)
	if _, ok := jobs.find("report"); !ok {
		t.Errorf("jobs %+v", jobs)
	}
}

func TestAuthorizer(t *testing.T) {
	c := newCluster(t)
	s := newReportNode(t, c)
	srv := serve(t, s, admin.WithAuthorizer(allow), admin.WithMaxBodyBytes(64))

	var info apiInfo
	srv.ok(200, "GET", "api/info", "", &info)
	if info.ReadOnly || info.CanMutate || !strings.Contains(info.Denied, "missing or wrong token") {
		t.Errorf("info without token %+v", info)
	}
	info = apiInfo{}
	srv.ok(200, "GET", "api/info", "", &info, auth)
	if !info.CanMutate || info.Denied != "" {
		t.Errorf("info with token %+v", info)
	}

	for _, m := range mutations {
		expectError(t, srv.call(m.method, m.path, m.body), http.StatusForbidden, `^forbidden: missing or wrong token$`)
	}
	// The authorizer runs before the body is read: no 413 for strangers.
	expectError(t, srv.call("POST", "api/jobs", strings.Repeat(" ", 1000)), http.StatusForbidden, "forbidden")

	// Browsers' cross-origin requests are refused even with credentials.
	for _, hdr := range []string{"Sec-Fetch-Site: cross-site", "Origin: https://evil.example"} {
		r := srv.call("POST", "api/jobs/report/pause", "", auth, hdr)
		expectError(t, r, http.StatusForbidden, "cross-origin")
	}
	// Same-origin browser requests and non-browser clients pass.
	srv.ok(200, "POST", "api/jobs/report/pause", "", nil, auth, "Sec-Fetch-Site: same-origin")
	waitFor(t, 5*time.Second, "report paused", func() bool { info, _ := s.JobInfo("report"); return info.Paused })
	var act struct{ Job, Action, Done string }
	srv.ok(200, "POST", "api/jobs/report/resume", "", &act, auth)
	if act.Job != "report" || act.Action != "resume" || act.Done == "" {
		t.Errorf("resume answer %+v", act)
	}
	waitFor(t, 5*time.Second, "report resumed", func() bool { info, _ := s.JobInfo("report"); return !info.Paused })
}

func TestMethodNotAllowed(t *testing.T) {
	c := newCluster(t)
	srv := serve(t, newReportNode(t, c), admin.WithAuthorizer(allow))
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "api/jobs/report/trigger", "POST"},
		{"PUT", "api/jobs/report/kill", "POST"},
		{"DELETE", "api/jobs", "GET, HEAD, POST"},
		{"PATCH", "api/jobs/report", "GET, HEAD, PUT, DELETE"},
		{"POST", "api/instances", "GET, HEAD"},
		{"DELETE", "api/running", "GET, HEAD"},
		{"PUT", "api/runs", "GET, HEAD"},
		{"POST", "api/runs/abc", "GET, HEAD"},
		{"POST", "api/summary", "GET, HEAD"},
		{"POST", "api/info", "GET, HEAD"},
		{"PUT", "api/definitions", "GET, HEAD"},
		{"OPTIONS", "api/jobs", "GET, HEAD, POST"},
		{"POST", "", "GET, HEAD"},
		{"DELETE", "static/app.js", "GET, HEAD"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := srv.call(tc.method, tc.path, "", auth, "Origin: https://elsewhere.example", "Access-Control-Request-Method: POST")
			expectError(t, r, http.StatusMethodNotAllowed, "not allowed")
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			noCORS(t, r)
		})
	}
}

func noCORS(t testing.TB, r response) {
	t.Helper()
	for k := range r.header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("CORS header %s: %s", k, r.header.Get(k))
		}
	}
}

func TestNotFound(t *testing.T) {
	c := newCluster(t)
	srv := serve(t, newReportNode(t, c), admin.WithAuthorizer(allow), admin.WithHistory(c.History))
	for _, tc := range []struct{ method, path, pattern string }{
		{"GET", "api/nope", "no such API route"},
		{"GET", "api/jobs/", "no such API route"},
		{"GET", "api/jobs/ghost", `unknown job "ghost"`},
		{"POST", "api/jobs/ghost/trigger", "unknown job"},
		{"POST", "api/jobs/ghost/kill", "unknown job"},
		{"POST", "api/jobs/ghost/pause", "unknown job"},
		{"POST", "api/jobs/ghost/resume", "unknown job"},
		{"POST", "api/jobs/bad%20name/pause", "invalid job name"},
		{"DELETE", "api/jobs/ghost", "unknown job"},
		{"GET", "api/runs/" + runIDOf(t, "ghost"), "not found"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			expectError(t, srv.call(tc.method, tc.path, "", auth), http.StatusNotFound, tc.pattern)
		})
	}
	// A job registered in code cannot be deleted through the API.
	expectError(t, srv.call("DELETE", "api/jobs/report", "", auth), http.StatusConflict, "registered in code")
	// Console paths that do not exist.
	for _, p := range []string{"nope", "static/nope.js", "static/", "index.html"} {
		if r := srv.call("GET", p, ""); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, r.status)
		}
	}
}

// runIDOf returns the id the API gives a record of job at a fixed tick.
func runIDOf(t *testing.T, job string) string {
	h := admin.NewHandler(newCluster(t).Node("x"), admin.WithHistory(fixedQuerier{logsink.Record{Job: job, Tick: time.Unix(1e9, 0), Instance: "n0", Attempt: 1}}))
	r := httptest.NewRecorder()
	h.ServeHTTP(r, localRequest("GET", "/api/runs"))
	var runs apiRuns
	if err := json.Unmarshal(r.Body.Bytes(), &runs); err != nil || len(runs.Runs) != 1 {
		t.Fatalf("runs %s: %v", r.Body, err)
	}
	return runs.Runs[0].ID
}

// localRequest is a request to the handler from a loopback client for
// host 127.0.0.1 (httptest.NewRequest's defaults are example.com and
// 192.0.2.1, which the default handler refuses).
func localRequest(method, target string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.Host, r.RemoteAddr = "127.0.0.1", "127.0.0.1:40000"
	return r
}

// fixedQuerier answers every query with its records and finds none.
type fixedQuerier []logsink.Record

func (f fixedQuerier) Query(context.Context, logsink.Query) (logsink.Page, error) {
	return logsink.Page{Records: f}, nil
}
func (f fixedQuerier) Get(context.Context, logsink.RecordID) (logsink.Record, error) {
	return logsink.Record{}, logsink.ErrNotFound
}

func TestBadRequests(t *testing.T) {
	c := newCluster(t)
	s := newReportNode(t, c)
	srv := serve(t, s, admin.WithAuthorizer(allow), admin.WithMaxBodyBytes(2048))
	shell := func(extra string) string {
		return `{"name":"j1","kind":"shell","schedule":"@every 1s","shell":{"command":"true"}` + extra + `}`
	}
	for _, tc := range []struct {
		name, method, path, body, ctype string
		status                          int
		pattern                         string
	}{
		{"bad JSON", "POST", "api/jobs", `{"name":`, "", 400, `invalid job definition: .*EOF`},
		{"not an object", "POST", "api/jobs", `[1,2]`, "", 400, `invalid job definition: json: cannot unmarshal array`},
		{"unknown field", "POST", "api/jobs", shell(`,"colour":"red"`), "", 400, `unknown field "colour"`},
		{"unknown nested field", "POST", "api/jobs", `{"name":"j1","kind":"shell","schedule":"@every 1s","shell":{"command":"true","user":"root"}}`, "", 400, `unknown field "user"`},
		{"trailing data", "POST", "api/jobs", shell(``) + `{}`, "", 400, `trailing data`},
		{"empty body", "POST", "api/jobs", ``, "", 400, `empty body`},
		{"bad schedule", "POST", "api/jobs", `{"name":"j1","kind":"shell","schedule":"61 * * * *","shell":{"command":"true"}}`, "", 400, `job "j1": invalid schedule .*61`},
		{"missing schedule", "POST", "api/jobs", `{"name":"j1","kind":"shell","shell":{"command":"true"}}`, "", 400, `schedule is required`},
		{"missing command", "POST", "api/jobs", `{"name":"j1","kind":"shell","schedule":"@every 1s","shell":{}}`, "", 400, `shell.command is required`},
		{"unknown kind", "POST", "api/jobs", `{"name":"j1","kind":"python","schedule":"@every 1s"}`, "", 400, `unknown kind "python"`},
		{"bad name", "POST", "api/jobs", `{"name":"bad name","kind":"shell","schedule":"@every 1s","shell":{"command":"true"}}`, "", 400, `name "bad name"`},
		{"bad zone", "POST", "api/jobs", shell(`,"location":"Mars/Olympus"`), "", 400, `location "Mars/Olympus"`},
		{"bad timeout", "POST", "api/jobs", shell(`,"timeout":5`), "", 400, `duration must be a string`},
		{"bad overlap", "POST", "api/jobs", shell(`,"overlap":"sometimes"`), "", 400, `overlap: unknown policy "sometimes"`},
		{"bad URL", "POST", "api/jobs", `{"name":"j1","kind":"http","schedule":"@every 1s","http":{"url":"ftp://x"}}`, "", 400, `invalid job definition`},
		{"exists in code", "POST", "api/jobs", `{"name":"report","schedule":"@every 2h"}`, "", 409, `^job "report" is registered in code: a definition cannot replace it .*pick another name$`},
		{"name mismatch", "PUT", "api/jobs/j2", shell(``), "", 400, `body names job "j1" but the path names "j2"`},
		{"not JSON", "POST", "api/jobs", shell(``), "text/plain", 415, `Content-Type must be application/json`},
		{"form post", "POST", "api/jobs", `name=j1`, "application/x-www-form-urlencoded", 415, `Content-Type`},
		{"too large", "POST", "api/jobs", `{"name":"j1","kind":"shell","schedule":"@every 1s","shell":{"command":"` + strings.Repeat("x", 3000) + `"}}`, "", 413, `larger than 2048 bytes`},
		{"too large PUT", "PUT", "api/jobs/j1", strings.Repeat(" ", 5000), "", 413, `larger than 2048 bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdrs := []string{auth}
			if tc.ctype != "" {
				hdrs = append(hdrs, "Content-Type: "+tc.ctype)
			}
			expectError(t, srv.call(tc.method, tc.path, tc.body, hdrs...), tc.status, tc.pattern)
		})
	}
	defs, err := s.Definitions(context.Background())
	if err != nil || len(defs) != 0 {
		t.Errorf("bad requests changed the definitions: %+v, %v", defs, err)
	}
}

func TestNoHistory(t *testing.T) {
	c := newCluster(t)
	srv := serve(t, newReportNode(t, c))
	var info apiInfo
	srv.ok(200, "GET", "api/info", "", &info)
	if info.History {
		t.Error("info says history is configured")
	}
	for _, p := range []string{"api/runs", "api/runs?job=report&limit=5", "api/runs/" + runIDOf(t, "report"), "api/summary", "api/summary?since=1h"} {
		expectError(t, srv.call("GET", p, ""), http.StatusNotImplemented, `no run history: the host app configured no queryable sink`)
	}
}

func TestJobsInstancesRunning(t *testing.T) {
	c := newCluster(t)
	n0 := c.Node("n0")
	release := make(chan struct{})
	for _, err := range []error{
		n0.RegisterFunc("hourly", "0 * * * *", func(context.Context) error { return nil }),
		n0.RegisterFunc("zoned", "CRON_TZ=Europe/Berlin 30 9 * * MON-FRI", func(context.Context) error { return nil }),
		n0.RegisterFunc("blocker", "@yearly", func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-release:
				return nil
			}
		}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	defer close(release)
	c.Start(n0)
	n1 := c.Node("n1", distcron.WithTags("gpu"))
	if err := n1.RegisterFunc("elsewhere", "@every 1h", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	c.Start(n1)
	srv := serve(t, n0, admin.WithAuthorizer(allow), admin.WithHistory(c.History))

	var ins apiInstances
	waitFor(t, 10*time.Second, "two instances and a leader", func() bool {
		ins = apiInstances{}
		srv.ok(200, "GET", "api/instances", "", &ins, auth)
		return len(ins.Instances) == 2 && ins.Leader != ""
	})
	leaders := 0
	for _, in := range ins.Instances {
		if in.Leader {
			leaders++
			if in.ID != ins.Leader {
				t.Errorf("leader %q marked on %q", ins.Leader, in.ID)
			}
		}
	}
	if leaders != 1 || ins.Instances[0].ID != "n0" || ins.Instances[1].ID != "n1" || !slices.Equal(ins.Instances[1].Tags, []string{"gpu"}) {
		t.Errorf("instances %+v", ins)
	}

	var jobs apiJobs
	srv.ok(200, "GET", "api/jobs", "", &jobs, auth)
	names := []string{}
	for _, j := range jobs.Jobs {
		names = append(names, j.Name)
	}
	if !slices.Equal(names, []string{"blocker", "elsewhere", "hourly", "zoned"}) {
		t.Fatalf("jobs %v", names)
	}
	hourly, _ := jobs.find("hourly")
	if !hourly.Local || hourly.Kind != "func" || hourly.Source != "code" || hourly.Location != "UTC" || !slices.Equal(hourly.Instances, []string{"n0"}) {
		t.Errorf("hourly %+v", hourly)
	}
	if len(hourly.NextRuns) != 5 {
		t.Fatalf("hourly next runs %v", hourly.NextRuns)
	}
	for i, tick := range hourly.NextRuns {
		if tick.Minute() != 0 || tick.Second() != 0 || i > 0 && tick.Sub(hourly.NextRuns[i-1]) != time.Hour {
			t.Errorf("hourly next runs %v", hourly.NextRuns)
		}
	}
	zoned, _ := jobs.find("zoned")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, tick := range zoned.NextRuns {
		if b := tick.In(berlin); b.Hour() != 9 || b.Minute() != 30 || b.Weekday() == time.Saturday || b.Weekday() == time.Sunday {
			t.Errorf("zoned next run %v (%v in Berlin)", tick, b)
		}
	}
	if len(zoned.NextRuns) != 5 {
		t.Errorf("zoned next runs %v", zoned.NextRuns)
	}
	other, _ := jobs.find("elsewhere")
	if other.Local || !slices.Equal(other.Instances, []string{"n1"}) || other.Schedule != "@every 1h" || other.Kind != "func" ||
		other.Source != "code" || other.Location != "UTC" || len(other.NextRuns) != 5 || other.NextRuns[1].Sub(other.NextRuns[0]) != time.Hour {
		t.Errorf("elsewhere %+v", other)
	}
	var one apiJob
	srv.ok(200, "GET", "api/jobs/elsewhere", "", &one, auth)
	if one.Name != "elsewhere" || one.Local {
		t.Errorf("GET elsewhere %+v", one)
	}
	srv.ok(200, "GET", "api/jobs/hourly", "", &one, auth)
	if one.Name != "hourly" || one.Definition != nil || len(one.NextRuns) != 5 {
		t.Errorf("GET hourly %+v", one)
	}

	// A run in progress shows in the job and in api/running.
	srv.ok(202, "POST", "api/jobs/blocker/trigger", "", nil, auth)
	var running struct{ Running []distcron.Run }
	waitFor(t, 10*time.Second, "blocker running", func() bool {
		running.Running = nil
		srv.ok(200, "GET", "api/running", "", &running, auth)
		return len(running.Running) == 1
	})
	if r := running.Running[0]; r.Job != "blocker" || r.Instance != "n0" || r.Trigger != logsink.TriggerManual {
		t.Errorf("running %+v", r)
	}
	jobs = apiJobs{}
	srv.ok(200, "GET", "api/jobs", "", &jobs, auth)
	if b, _ := jobs.find("blocker"); len(b.Running) != 1 || b.Running[0].Instance != "n0" {
		t.Errorf("blocker %+v", b)
	}
	srv.ok(202, "POST", "api/jobs/blocker/kill", "", nil, auth)
	var runs apiRuns
	waitFor(t, 10*time.Second, "blocker killed", func() bool {
		runs = apiRuns{}
		srv.ok(200, "GET", "api/runs?job=blocker", "", &runs, auth)
		return len(runs.Runs) == 1
	})
	if r := runs.Runs[0]; r.Status != logsink.StatusKilled || r.Trigger != logsink.TriggerManual {
		t.Errorf("blocker record %+v", r.Record)
	}
	// The serving instance ran it: the job shows it as its last run.
	var blocker apiJob
	srv.ok(200, "GET", "api/jobs/blocker", "", &blocker, auth)
	if l, r := blocker.Last, runs.Runs[0]; l == nil || l.Status != logsink.StatusKilled || l.Instance != "n0" ||
		l.Trigger != logsink.TriggerManual || !l.Tick.Equal(r.Tick) {
		t.Errorf("blocker's last run %+v, want the record %+v", l, r.Record)
	}
	if one.Last != nil {
		t.Errorf("hourly never ran but has a last run %+v", one.Last)
	}
}

func TestDefineAndControl(t *testing.T) {
	c := newCluster(t)
	n0 := c.Start(c.Node("n0", distcron.WithRemoteShell(true)))
	n1 := c.Start(c.Node("n1", distcron.WithRemoteShell(true)))
	srv := serve(t, n1, admin.WithAuthorizer(allow), admin.WithHistory(c.History))

	var def struct {
		Job        string
		Created    bool
		Definition distcron.Definition
	}
	srv.ok(201, "POST", "api/jobs", echoDef, &def, auth)
	if def.Job != "echo" || !def.Created || def.Definition.Shell.Command != "echo hello" {
		t.Errorf("define answer %+v", def)
	}
	var runs apiRuns
	waitFor(t, 10*time.Second, "echo runs", func() bool {
		runs = apiRuns{}
		srv.ok(200, "GET", "api/runs?job=echo&status=succeeded", "", &runs, auth)
		return len(runs.Runs) >= 3
	})
	for _, r := range runs.Runs {
		if r.Output != "" {
			t.Errorf("list has output %q (want it only from api/runs/{id})", r.Output)
		}
	}
	var full apiRun
	srv.ok(200, "GET", "api/runs/"+runs.Runs[0].ID, "", &full, auth)
	if full.Output != "hello\n" || full.Status != logsink.StatusSucceeded || full.ID != runs.Runs[0].ID || full.Job != "echo" {
		t.Errorf("run %+v", full)
	}
	var job apiJob
	srv.ok(200, "GET", "api/jobs/echo", "", &job, auth)
	if job.Kind != "shell" || job.Source != "definition" || job.Definition == nil || job.Definition.Schedule != "@every 200ms" || !job.Eligible || job.Refused != "" {
		t.Errorf("echo %+v", job)
	}

	// Pause: no more scheduled runs; a trigger is refused until resumed.
	srv.ok(200, "POST", "api/jobs/echo/pause", "", nil, auth)
	waitFor(t, 5*time.Second, "paused everywhere", func() bool {
		a, _ := n0.JobInfo("echo")
		b, _ := n1.JobInfo("echo")
		return a.Paused && b.Paused
	})
	time.Sleep(600 * time.Millisecond) // ticks claimed before the pause are past
	pausedAt := time.Now()
	expectError(t, srv.call("POST", "api/jobs/echo/trigger", "", auth), http.StatusConflict, `job is paused: "echo"`)
	time.Sleep(500 * time.Millisecond)
	runs = apiRuns{}
	srv.ok(200, "GET", "api/runs?job=echo&limit=1000&since="+pausedAt.UTC().Format(time.RFC3339Nano), "", &runs, auth)
	for _, r := range runs.Runs {
		t.Errorf("run while paused: %+v", r.Record)
	}
	srv.ok(200, "POST", "api/jobs/echo/resume", "", nil, auth)
	waitFor(t, 5*time.Second, "resumed", func() bool { a, _ := n0.JobInfo("echo"); return !a.Paused })
	srv.ok(202, "POST", "api/jobs/echo/trigger", "", nil, auth)
	waitFor(t, 10*time.Second, "a manual run", func() bool {
		runs = apiRuns{}
		srv.ok(200, "GET", "api/runs?job=echo&limit=1000", "", &runs, auth)
		return slices.ContainsFunc(runs.Runs, func(r apiRun) bool { return r.Trigger == logsink.TriggerManual })
	})

	// Update with PUT (the name may be left out), then delete.
	srv.ok(200, "PUT", "api/jobs/echo", `{"kind":"shell","schedule":"@every 1h","shell":{"command":"echo changed"}}`, nil, auth)
	waitFor(t, 5*time.Second, "new schedule", func() bool { a, _ := n0.JobInfo("echo"); return a.Schedule == "@every 1h" })
	srv.ok(200, "DELETE", "api/jobs/echo", "", nil, auth)
	waitFor(t, 5*time.Second, "echo gone", func() bool {
		_, a := n0.JobInfo("echo")
		_, b := n1.JobInfo("echo")
		return !a && !b
	})
	// Registrations follow moments later.
	waitFor(t, 5*time.Second, "echo unknown", func() bool { return srv.call("GET", "api/jobs/echo", "", auth).status == http.StatusNotFound })
	expectError(t, srv.call("GET", "api/jobs/echo", "", auth), http.StatusNotFound, "unknown job")
	expectError(t, srv.call("DELETE", "api/jobs/echo", "", auth), http.StatusNotFound, "unknown job")

	// PUT creates too.
	srv.ok(201, "PUT", "api/jobs/later", `{"name":"later","kind":"shell","schedule":"@yearly","shell":{"command":"true"},"paused":true}`, nil, auth)
	var defs struct {
		Definitions []distcron.Definition
		Invalid     []any
	}
	srv.ok(200, "GET", "api/definitions", "", &defs, auth)
	if len(defs.Definitions) != 1 || defs.Definitions[0].Name != "later" || !defs.Definitions[0].Paused || len(defs.Invalid) != 0 {
		t.Errorf("definitions %+v", defs)
	}

	// Kill a long shell run wherever it is.
	srv.ok(201, "POST", "api/jobs", `{"name":"sleeper","kind":"shell","schedule":"@yearly","shell":{"command":"sleep 30"}}`, nil, auth)
	waitFor(t, 5*time.Second, "sleeper known", func() bool { _, ok := n0.JobInfo("sleeper"); return ok })
	srv.ok(202, "POST", "api/jobs/sleeper/trigger", "", nil, auth)
	waitFor(t, 10*time.Second, "sleeper running", func() bool {
		job = apiJob{}
		srv.ok(200, "GET", "api/jobs/sleeper", "", &job, auth)
		return len(job.Running) == 1
	})
	start := time.Now()
	srv.ok(202, "POST", "api/jobs/sleeper/kill", "", nil, auth)
	waitFor(t, 10*time.Second, "sleeper killed", func() bool {
		runs = apiRuns{}
		srv.ok(200, "GET", "api/runs?job=sleeper&status=killed", "", &runs, auth)
		return len(runs.Runs) == 1
	})
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("kill took %v", d)
	}
}

// TestRemoteShellNeverRunsWithoutOptIn defines a shell job through the
// API on an instance without WithRemoteShell: it is stored and listed as
// refused, never run there, not even when triggered. An instance that
// opts in runs it.
func TestRemoteShellNeverRunsWithoutOptIn(t *testing.T) {
	c := newCluster(t)
	locked := c.Start(c.Node("locked"))
	srv := serve(t, locked, admin.WithAuthorizer(allow), admin.WithHistory(c.History))
	marker := filepath.Join(t.TempDir(), "pwned")
	body := `{"name":"sh","kind":"shell","schedule":"@every 100ms","shell":{"command":"echo $(hostname) >> ` + marker + `"}}`
	srv.ok(201, "POST", "api/jobs", body, nil, auth)
	var job apiJob
	waitFor(t, 5*time.Second, "job listed as refused", func() bool {
		job = apiJob{}
		srv.ok(200, "GET", "api/jobs/sh", "", &job, auth)
		return job.Refused != ""
	})
	if !strings.Contains(job.Refused, "WithRemoteShell") || job.Eligible {
		t.Errorf("refused job %+v", job)
	}
	srv.ok(202, "POST", "api/jobs/sh/trigger", "", nil, auth)
	time.Sleep(1500 * time.Millisecond) // 15 ticks and a trigger
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the shell command ran on an instance without remote shell (stat: %v)", err)
	}
	if n := c.History.Len(); n != 0 {
		t.Fatalf("%d records of a refused job", n)
	}

	open := c.Start(c.Node("open", distcron.WithRemoteShell(true)))
	waitFor(t, 10*time.Second, "the opted-in instance runs it", func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	for _, r := range c.History.Records() {
		if r.Instance != open.InstanceID() {
			t.Errorf("run on %s: %+v", r.Instance, r)
		}
	}
}

func TestRunsHistory(t *testing.T) {
	c := newCluster(t)
	s := c.Start(c.Node("n0"))
	srv := serve(t, s, admin.WithHistory(c.History))
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	var recs []logsink.Record
	for i := range 30 {
		st := logsink.StatusSucceeded
		if i%5 == 0 {
			st = logsink.StatusFailed
		}
		tick := t0.Add(time.Duration(i) * time.Minute)
		recs = append(recs, logsink.Record{Job: []string{"a", "b"}[i%2], Tick: tick, Instance: []string{"n0", "n1", "n2"}[i%3],
			Trigger: logsink.TriggerSchedule, Attempt: 1, Started: tick, Finished: tick.Add(time.Second), Duration: time.Second,
			Status: st, Output: "out " + tick.Format(time.TimeOnly)})
	}
	if err := c.History.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	get := func(q string) apiRuns {
		t.Helper()
		var r apiRuns
		srv.ok(200, "GET", "api/runs"+q, "", &r)
		return r
	}
	if r := get(""); len(r.Runs) != 30 || r.Next != "" || !r.Runs[0].Tick.Equal(t0.Add(29*time.Minute)) || r.Runs[0].Output != "" {
		t.Errorf("all: %d runs, next %q", len(r.Runs), r.Next)
	}
	for q, want := range map[string]int{
		"?job=a":                      15,
		"?status=failed":              6,
		"?status=failed&status=lost":  6,
		"?status=failed,succeeded":    30,
		"?instance=n1":                10,
		"?job=a&instance=n0":          5,
		"?since=2024-05-01T10:10:00Z": 20,
		"?until=2024-05-01T10:10:00Z": 10,
		"?since=2024-05-01T10:10:00Z&until=2024-05-01T10:20:00%2B00:00": 10,
		"?since=1h":    0, // relative to now: the records are old
		"?limit=7":     7,
		"?limit=0":     30,
		"?job=nothing": 0,
	} {
		if r := get(q); len(r.Runs) != want {
			t.Errorf("%s: %d runs, want %d", q, len(r.Runs), want)
		}
	}
	if r := get("?limit=1&output=true"); r.Runs[0].Output == "" {
		t.Error("output=true left the output out")
	}
	// Pagination: every record once, newest first.
	var seen []time.Time
	next := ""
	for pages := 0; pages < 10; pages++ {
		r := get("?limit=4&cursor=" + next)
		for _, run := range r.Runs {
			seen = append(seen, run.Tick)
		}
		if next = r.Next; next == "" {
			break
		}
	}
	if len(seen) != 30 || !slices.IsSortedFunc(seen, func(a, b time.Time) int { return b.Compare(a) }) {
		t.Errorf("paged through %d records: %v", len(seen), seen)
	}
	// One record with its output.
	first := get("?limit=1").Runs[0]
	var full apiRun
	srv.ok(200, "GET", "api/runs/"+first.ID, "", &full)
	if full.Output != "out 10:29:00" || full.Job != first.Job {
		t.Errorf("run %+v", full)
	}
	for _, tc := range []struct{ path, pattern string }{
		{"api/runs?status=exploded", `unknown status "exploded"`},
		{"api/runs?since=yesterday", `since="yesterday": want an RFC 3339 time`},
		{"api/runs?until=2024-13-01", `until=`},
		{"api/runs?limit=ten", `limit="ten": not an integer`},
		{"api/runs?cursor=garbage", `invalid history cursor`},
		{"api/runs?jobs=a", `unknown parameter "jobs"`},
		{"api/runs?output=maybe", `output="maybe"`},
		{"api/runs/not-an-id", `bad run id`},
		{"api/runs/e30", `bad run id`}, // "{}"
	} {
		expectError(t, srv.call("GET", tc.path, ""), http.StatusBadRequest, tc.pattern)
	}
}

// querierOnly hides everything but logsink.Querier (no Summarizer).
type querierOnly struct{ logsink.Querier }

func TestSummary(t *testing.T) {
	c := newCluster(t)
	s := c.Start(c.Node("n0"))
	now := time.Now().UTC()
	var recs []logsink.Record
	add := func(job string, ago time.Duration, st logsink.Status, n int) {
		for i := range n {
			tick := now.Add(-ago - time.Duration(i)*time.Second)
			recs = append(recs, logsink.Record{Job: job, Tick: tick, Instance: "n0", Attempt: 1, Status: st, Started: tick, Finished: tick})
		}
	}
	add("a", time.Hour, logsink.StatusSucceeded, 9)
	add("a", 2*time.Hour, logsink.StatusFailed, 1)
	add("a", 3*time.Hour, logsink.StatusSkipped, 5)
	add("b", 10*time.Minute, logsink.StatusSkipped, 2)
	add("a", 30*time.Hour, logsink.StatusFailed, 7) // older than 24h
	if err := c.History.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Jobs []struct {
			Job         string
			Counts      map[string]int64
			Total       int64
			SuccessRate *float64 `json:"success_rate"`
			Last        time.Time
		}
		Totals      map[string]int64
		Total       int64
		SuccessRate *float64 `json:"success_rate"`
		Partial     bool
	}
	for name, q := range map[string]logsink.Querier{"summarizer": c.History, "querier": querierOnly{c.History}} {
		t.Run(name, func(t *testing.T) {
			srv := serve(t, s, admin.WithHistory(q))
			var sum summary
			srv.ok(200, "GET", "api/summary", "", &sum)
			if len(sum.Jobs) != 2 || sum.Total != 17 || sum.Partial || sum.Totals["failed"] != 1 {
				t.Fatalf("summary %+v", sum)
			}
			a, b := sum.Jobs[0], sum.Jobs[1]
			if a.Job != "a" || a.Total != 15 || a.Counts["succeeded"] != 9 || a.SuccessRate == nil || *a.SuccessRate != 0.9 {
				t.Errorf("a: %+v", a)
			}
			if d := now.Add(-time.Hour).Sub(a.Last); d < 0 || d > time.Millisecond {
				t.Errorf("a last %v, want %v", a.Last, now.Add(-time.Hour))
			}
			if b.Job != "b" || b.Total != 2 || b.SuccessRate != nil {
				t.Errorf("b: %+v", b)
			}
			if sum.SuccessRate == nil || *sum.SuccessRate != 0.9 {
				t.Errorf("overall rate %v", sum.SuccessRate)
			}
			sum = summary{}
			srv.ok(200, "GET", "api/summary?since=48h&job=a", "", &sum)
			if len(sum.Jobs) != 1 || sum.Total != 22 {
				t.Errorf("48h of a: %+v", sum)
			}
			for _, p := range []string{"api/summary?since=nope", "api/summary?since=1h&until=2h", "api/summary?window=1h", "api/summary?since=9000h"} {
				expectError(t, srv.call("GET", p, ""), http.StatusBadRequest, ".")
			}
		})
	}
}

func TestConsole(t *testing.T) {
	c := newCluster(t)
	s := c.Start(c.Node("n0"))
	srv := serve(t, s)
	r := srv.call("GET", "", "", "Origin: https://elsewhere.example")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("console: %d %s", r.status, r.header.Get("Content-Type"))
	}
	noCORS(t, r)
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'self'") || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("security headers: %v", r.header)
	}
	html := string(r.body)
	// Relative references only, so any mount prefix works; nothing from
	// other origins.
	for _, bad := range []string{`src="/`, `href="/`, `src="http`, `href="http`, `//cdn`} {
		if strings.Contains(html, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	for _, asset := range []string{"static/app.js", "static/app.css", "static/favicon.svg"} {
		if !strings.Contains(html, asset) {
			t.Errorf("index.html does not load %s", asset)
		}
		a := srv.call("GET", asset, "")
		if a.status != 200 || len(a.body) == 0 || a.header.Get("ETag") == "" {
			t.Fatalf("%s: %d, ETag %q", asset, a.status, a.header.Get("ETag"))
		}
		if nm := srv.call("GET", asset, "", "If-None-Match: "+a.header.Get("ETag")); nm.status != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d", asset, nm.status)
		}
		body := string(a.body)
		for _, bad := range []string{"fetch('/", `fetch("/`, "fetch('http", "url(http", "url(/", "@import", "//cdn"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q", asset, bad)
			}
		}
	}
	if js := string(srv.call("GET", "static/app.js", "").body); !strings.Contains(js, "fetch('api/' + path") {
		t.Error("app.js does not fetch the API relatively")
	}
	if h := srv.call("HEAD", "", ""); h.status != 200 || len(h.body) != 0 {
		t.Errorf("HEAD: %d, %d bytes", h.status, len(h.body))
	}
	if a := srv.call("GET", "api/info", "", "Origin: https://elsewhere.example"); a.status != 200 || a.header.Get("Cache-Control") != "no-store" {
		t.Errorf("api/info: %d, Cache-Control %q", a.status, a.header.Get("Cache-Control"))
	} else {
		noCORS(t, a)
	}

	// Other mounts: at the root, and with the prefix's slash stripped too.
	for prefix, strip := range map[string]string{"/": "", "/ops/cron/": "/ops/cron/", "/x/": "/x"} {
		mux := http.NewServeMux()
		mux.Handle(prefix, http.StripPrefix(strip, admin.NewHandler(s)))
		for _, p := range []string{"", "static/app.js", "api/info"} {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, localRequest("GET", prefix+p))
			if rec.Code != 200 {
				t.Errorf("mounted at %s (strip %q): GET %s: %d", prefix, strip, prefix+p, rec.Code)
			}
		}
	}
}
