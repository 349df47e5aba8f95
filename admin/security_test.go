package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/distcron/distcron"
	"github.com/distcron/distcron/admin"
	"github.com/distcron/distcron/internal/etcdfault"
	"github.com/distcron/distcron/internal/etcdtest"
	"github.com/distcron/distcron/logsink"
)

// readRoutes are the API reads read access covers, with a run id of job
// report for api/runs/{id}.
func readRoutes(runID string) []string {
	return []string{"api/jobs", "api/jobs/report", "api/instances", "api/running", "api/definitions",
		"api/runs?output=true", "api/runs/" + runID, "api/summary"}
}

// secretRecord is a run record whose output holds a secret, as a shell job
// printing its environment leaves.
func secretRecord(c *cluster) logsink.Record {
	tick := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	rec := logsink.Record{Job: "report", Tick: tick, Instance: "n0", Attempt: 1, Trigger: logsink.TriggerSchedule,
		Started: tick, Finished: tick, Status: logsink.StatusSucceeded, Output: "SECRET_DB_PASSWORD=hunter2\n"}
	if err := c.History.Write(context.Background(), []logsink.Record{rec}); err != nil {
		panic(err)
	}
	return rec
}

// TestReadAuthorization: reads of the API need read access; the default
// follows the authorizer of changes, or loopback clients when there is
// none; the console page and api/info stay readable, api/info without the
// instance's identity.
func TestReadAuthorization(t *testing.T) {
	c := newCluster(t)
	s := newReportNode(t, c)
	secretRecord(c)
	var runs apiRuns
	serve(t, s, admin.WithHistory(c.History)).ok(200, "GET", "api/runs?job=report", "", &runs)
	if len(runs.Runs) != 1 {
		t.Fatalf("runs %+v", runs)
	}
	id := runs.Runs[0].ID

	t.Run("the authorizer of changes guards reads", func(t *testing.T) {
		srv := serve(t, s, admin.WithAuthorizer(allow), admin.WithHistory(c.History))
		for _, p := range readRoutes(id) {
			r := srv.call("GET", p, "")
			expectError(t, r, http.StatusForbidden, `^forbidden: missing or wrong token$`)
			if strings.Contains(string(r.body), "hunter2") || strings.Contains(string(r.body), `"n0"`) {
				t.Errorf("GET %s without the token: %s", p, r.body)
			}
			if h := srv.call("HEAD", p, ""); h.status != http.StatusForbidden {
				t.Errorf("HEAD %s without the token: %d", p, h.status)
			}
			srv.ok(200, "GET", p, "", nil, auth)
		}
		var info struct {
			apiInfo
			Version    string `json:"version"`
			Leader     *bool  `json:"leader"`
			CanRead    bool   `json:"can_read"`
			ReadDenied string `json:"read_denied"`
		}
		srv.ok(200, "GET", "api/info", "", &info)
		if info.CanRead || info.Instance != "" || info.Version != "" || info.Leader != nil || !strings.Contains(info.ReadDenied, "missing or wrong token") || info.CanMutate {
			t.Errorf("api/info without the token: %+v", info)
		}
		info = struct {
			apiInfo
			Version    string `json:"version"`
			Leader     *bool  `json:"leader"`
			CanRead    bool   `json:"can_read"`
			ReadDenied string `json:"read_denied"`
		}{}
		srv.ok(200, "GET", "api/info", "", &info, auth)
		if !info.CanRead || info.Instance != "n0" || info.Version == "" || info.Leader == nil || info.ReadDenied != "" || !info.CanMutate {
			t.Errorf("api/info with the token: %+v", info)
		}
		for _, p := range []string{"", "static/app.js", "static/app.css"} {
			if r := srv.call("GET", p, ""); r.status != 200 {
				t.Errorf("GET %q without the token: %d", p, r.status)
			}
		}
	})

	t.Run("a read authorizer of its own", func(t *testing.T) {
		viewer := func(r *http.Request) error {
			if a := r.Header.Get("Authorization"); a != "Bearer viewer" && a != "Bearer sesame" {
				return errors.New("viewers only")
			}
			return nil
		}
		srv := serve(t, s, admin.WithAuthorizer(allow), admin.WithReadAuthorizer(viewer), admin.WithHistory(c.History))
		for _, p := range readRoutes(id) {
			expectError(t, srv.call("GET", p, ""), http.StatusForbidden, `^forbidden: viewers only$`)
			srv.ok(200, "GET", p, "", nil, "Authorization: Bearer viewer")
			srv.ok(200, "GET", p, "", nil, auth)
		}
		expectError(t, srv.call("POST", "api/jobs/report/pause", "", "Authorization: Bearer viewer"), http.StatusForbidden, "missing or wrong token")
	})

	t.Run("open reads", func(t *testing.T) {
		srv := serve(t, s, admin.WithAuthorizer(allow), admin.WithReadAuthorizer(admin.AllowAll), admin.WithHistory(c.History))
		for _, p := range readRoutes(id) {
			srv.ok(200, "GET", p, "", nil)
		}
		expectError(t, srv.call("POST", "api/jobs/report/pause", ""), http.StatusForbidden, "missing or wrong token")
	})

	t.Run("access control told what is asked", func(t *testing.T) {
		ac := func(r *http.Request, a admin.Access) (string, error) {
			switch tok := r.Header.Get("Authorization"); {
			case tok == "Bearer sesame":
				return "admin", nil
			case tok == "Bearer viewer" && a == admin.Read:
				return "viewer", nil
			}
			return "", fmt.Errorf("no %s access", a)
		}
		srv := serve(t, s, admin.WithAccessControl(ac), admin.WithHistory(c.History))
		for _, p := range readRoutes(id) {
			expectError(t, srv.call("GET", p, ""), http.StatusForbidden, `^forbidden: no read access$`)
			srv.ok(200, "GET", p, "", nil, "Authorization: Bearer viewer")
		}
		expectError(t, srv.call("POST", "api/jobs/report/pause", "", "Authorization: Bearer viewer"), http.StatusForbidden, `^forbidden: no change access$`)
	})

	t.Run("without any authorizer: loopback clients only", func(t *testing.T) {
		h := admin.NewHandler(s, admin.WithHistory(c.History))
		for _, p := range readRoutes(id) {
			remote := localRequest("GET", "/"+p)
			remote.RemoteAddr = "192.0.2.7:50000"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, remote)
			r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
			expectError(t, r, http.StatusForbidden, `^forbidden: reads are allowed from this machine only`)
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, localRequest("GET", "/"+p))
			if rec.Code != 200 {
				t.Errorf("GET %s from loopback: %d %s", p, rec.Code, rec.Body)
			}
		}
		remote := localRequest("GET", "/")
		remote.RemoteAddr = "192.0.2.7:50000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, remote)
		if rec.Code != 200 {
			t.Errorf("the console page from elsewhere: %d", rec.Code)
		}
	})
}

// Secrets of the definitions in TestSecretsWriteOnly.
const (
	hookDef = `{"name":"hook","kind":"http","schedule":"@yearly","http":{"url":"https://hooks.example.com/x","headers":{"Authorization":"Bearer topsecret-1","X-Empty":""}}}`
	backDef = `{"name":"backup","kind":"shell","schedule":"@yearly","shell":{"command":"pg_dump app","env":["PGPASSWORD=hunter2-2","MODE=full","EMPTY="]}}`
	pipeDef = `{"name":"pipe","kind":"pipeline","schedule":"@yearly","steps":[` +
		`{"name":"fetch","kind":"http","http":{"url":"https://api.example.com/v1","headers":{"X-Api-Key":"k3y-3"}}},` +
		`{"name":"load","kind":"shell","shell":{"command":"load","env":["TOKEN=t0ken-4"]}}]}`
)

var secretValues = []string{"topsecret-1", "hunter2-2", "k3y-3", "t0ken-4"}

func noSecrets(t *testing.T, what string, body []byte) {
	t.Helper()
	for _, v := range secretValues {
		if strings.Contains(string(body), v) {
			t.Errorf("%s shows the secret %q: %s", what, v, body)
		}
	}
}

func storedDef(t *testing.T, s *distcron.Scheduler, name string) distcron.Definition {
	t.Helper()
	d, err := s.Definition(context.Background(), name)
	if err != nil {
		t.Fatalf("Definition(%s): %v", name, err)
	}
	return d
}

// TestSecretsWriteOnly: header and env values never come back (POST and
// PUT answers, api/jobs/{name}, api/definitions); keys do. A PUT of the
// redacted definition keeps the stored values; a new value replaces one.
func TestSecretsWriteOnly(t *testing.T) {
	c := newCluster(t)
	s := newReportNode(t, c)
	srv := serve(t, s, admin.WithAuthorizer(allow))
	noSecrets(t, "POST answer", srv.ok(201, "POST", "api/jobs", hookDef, nil, auth).body)
	noSecrets(t, "PUT answer", srv.ok(201, "PUT", "api/jobs/backup", backDef, nil, auth).body)
	noSecrets(t, "PUT answer", srv.ok(201, "PUT", "api/jobs/pipe", pipeDef, nil, auth).body)

	get := func(name string) distcron.Definition {
		t.Helper()
		var job apiJob
		noSecrets(t, "GET api/jobs/"+name, srv.ok(200, "GET", "api/jobs/"+name, "", &job, auth).body)
		if job.Definition == nil {
			t.Fatalf("%s has no definition", name)
		}
		return *job.Definition
	}
	hook, back, pipe := get("hook"), get("backup"), get("pipe")
	if h := hook.HTTP.Headers; len(h) != 2 || h["Authorization"] != admin.Redacted || h["X-Empty"] != "" || hook.HTTP.URL != "https://hooks.example.com/x" {
		t.Errorf("hook shown as %+v", hook.HTTP)
	}
	if e := back.Shell.Env; !slices.Equal(e, []string{"PGPASSWORD=<redacted>", "MODE=<redacted>", "EMPTY="}) || back.Shell.Command != "pg_dump app" {
		t.Errorf("backup shown as %+v", back.Shell)
	}
	if len(pipe.Steps) != 2 || pipe.Steps[0].HTTP.Headers["X-Api-Key"] != admin.Redacted || !slices.Equal(pipe.Steps[1].Shell.Env, []string{"TOKEN=<redacted>"}) {
		t.Errorf("pipe shown as %+v", pipe.Steps)
	}
	var defs struct{ Definitions []distcron.Definition }
	noSecrets(t, "GET api/definitions", srv.ok(200, "GET", "api/definitions", "", &defs, auth).body)
	if len(defs.Definitions) != 3 {
		t.Errorf("definitions %+v", defs)
	}
	// Stored as sent.
	if d := storedDef(t, s, "hook"); d.HTTP.Headers["Authorization"] != "Bearer topsecret-1" {
		t.Fatalf("stored hook %+v", d.HTTP)
	}

	// Edit what GET showed: the redacted values keep the stored ones.
	put := func(d distcron.Definition, want int) response {
		t.Helper()
		b, _ := json.Marshal(d)
		r := srv.call("PUT", "api/jobs/"+d.Name, string(b), auth)
		if r.status != want {
			t.Fatalf("PUT %s: %d, want %d: %s", d.Name, r.status, want, r.body)
		}
		noSecrets(t, "PUT answer", r.body)
		return r
	}
	hook.Schedule, back.Schedule, pipe.Schedule = "@monthly", "@monthly", "@monthly"
	put(hook, 200)
	put(back, 200)
	put(pipe, 200)
	if d := storedDef(t, s, "hook"); d.Schedule != "@monthly" || d.HTTP.Headers["Authorization"] != "Bearer topsecret-1" || d.HTTP.Headers["X-Empty"] != "" || len(d.HTTP.Headers) != 2 {
		t.Errorf("hook after the edit %+v %+v", d, d.HTTP)
	}
	if d := storedDef(t, s, "backup"); d.Schedule != "@monthly" || !slices.Equal(d.Shell.Env, []string{"PGPASSWORD=hunter2-2", "MODE=full", "EMPTY="}) {
		t.Errorf("backup after the edit %+v", d.Shell)
	}
	if d := storedDef(t, s, "pipe"); d.Steps[0].HTTP.Headers["X-Api-Key"] != "k3y-3" || !slices.Equal(d.Steps[1].Shell.Env, []string{"TOKEN=t0ken-4"}) {
		t.Errorf("pipe after the edit %+v", d.Steps)
	}

	// A new value replaces the stored one; a header left out is removed;
	// names match as HTTP's do.
	hook.HTTP.Headers = map[string]string{"authorization": admin.Redacted, "X-New": "v"}
	put(hook, 200)
	if h := storedDef(t, s, "hook").HTTP.Headers; len(h) != 2 || h["authorization"] != "Bearer topsecret-1" || h["X-New"] != "v" {
		t.Errorf("hook headers %v", h)
	}
	hook.HTTP.Headers = map[string]string{"Authorization": "Bearer rotated"}
	put(hook, 200)
	if h := storedDef(t, s, "hook").HTTP.Headers; len(h) != 1 || h["Authorization"] != "Bearer rotated" {
		t.Errorf("hook headers %v", h)
	}

	// <redacted> with nothing stored to keep is refused, and changes nothing.
	hook.HTTP.Headers = map[string]string{"X-Other": admin.Redacted}
	expectError(t, put(hook, 400), 400, `http.headers "X-Other" is <redacted> but no value is stored`)
	back.Shell.Env = []string{"NEWVAR=" + admin.Redacted}
	expectError(t, put(back, 400), 400, `shell.env "NEWVAR" is <redacted> but no value is stored`)
	expectError(t, srv.call("POST", "api/jobs", `{"name":"fresh","kind":"shell","schedule":"@yearly","shell":{"command":"x","env":["A=<redacted>"]}}`, auth),
		400, `shell.env "A" is <redacted> but no value is stored`)
	if h := storedDef(t, s, "hook").HTTP.Headers; h["Authorization"] != "Bearer rotated" {
		t.Errorf("a refused PUT changed hook: %v", h)
	}
}

// TestAllowedHosts: requests for a Host the handler does not answer to are
// refused before anything else, whatever the authorizer says (DNS
// rebinding: another site's name resolved to this machine).
func TestAllowedHosts(t *testing.T) {
	c := newCluster(t)
	s := newReportNode(t, c)
	// An authorizer that trusts loopback clients, as examples/admin's
	// does without -token.
	srv := serve(t, s, admin.WithAuthorizer(admin.LoopbackOnly))
	for _, host := range []string{"evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.5:8080"} {
		for _, p := range []string{"api/info", "api/jobs", ""} {
			expectError(t, srv.call("GET", p, "", "Host: "+host), http.StatusMisdirectedRequest, `^host ".*" is not served here: .*admin.WithAllowedHosts`)
		}
		expectError(t, srv.call("POST", "api/jobs/report/pause", "", "Host: "+host, "Sec-Fetch-Site: same-origin"), http.StatusMisdirectedRequest, "not served here")
	}
	if info, _ := s.JobInfo("report"); info.Paused {
		t.Fatal("a rebound page paused the job")
	}
	for _, host := range []string{"127.0.0.1:8080", "127.0.0.1", "127.1.2.3:80", "localhost:8080", "LOCALHOST.", "app.localhost:3000", "[::1]:8080", "[::1]"} {
		srv.ok(200, "GET", "api/jobs", "", nil, "Host: "+host)
	}
	srv.ok(200, "POST", "api/jobs/report/pause", "", nil, "Host: 127.0.0.1:8080", "Sec-Fetch-Site: same-origin")

	listed := serve(t, s, admin.WithAuthorizer(allow), admin.WithAllowedHosts("cron.example.com", "10.0.0.5:8080", "*.ops.example", "[fd00::5]:9000"))
	for host, want := range map[string]int{
		"cron.example.com": 200, "CRON.example.com:443": 200, "cron.example.com.": 200, "10.0.0.5:8080": 200,
		"a.ops.example": 200, "b.a.ops.example:1": 200, "[fd00::5]:9000": 200, "127.0.0.1:8080": 200, "localhost": 200,
		"10.0.0.5:9090": 421, "10.0.0.5": 421, "ops.example": 421, "evil.example": 421, "cron.example.com.evil": 421, "[fd00::5]": 421,
	} {
		if r := listed.call("GET", "api/jobs", "", auth, "Host: "+host); r.status != want {
			t.Errorf("Host %s: %d, want %d: %s", host, r.status, want, r.body)
		}
	}
	anyHost := serve(t, s, admin.WithAllowedHosts("*"))
	anyHost.ok(200, "GET", "api/jobs", "", nil, "Host: anything.example")

	for _, bad := range []string{"http://cron.example.com", "cron example", "cron.example.com:http", "a*.example", "*."} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithAllowedHosts(%q) did not panic", bad)
				}
			}()
			admin.NewHandler(s, admin.WithAllowedHosts(bad))
		}()
	}
}

// TestRunsPageBytes: a page of api/runs?output=true stays under the byte
// bound, "next" goes on where it stopped, every record comes once, and a
// record too large alone comes without its outputs.
func TestRunsPageBytes(t *testing.T) {
	c := newCluster(t)
	s := c.Start(c.Node("n0"))
	srv := serve(t, s, admin.WithHistory(c.History))
	t0 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	out := strings.Repeat("x", 64<<10)
	var recs []logsink.Record
	for i := range 120 {
		tick := t0.Add(time.Duration(i) * time.Minute)
		recs = append(recs, logsink.Record{Job: "big", Tick: tick, Instance: "n0", Attempt: 1, Status: logsink.StatusSucceeded,
			Started: tick, Finished: tick, Output: out})
	}
	huge := logsink.Record{Job: "big", Tick: t0.Add(90*time.Minute + time.Second), Instance: "n0", Attempt: 1, Status: logsink.StatusSucceeded,
		Output: strings.Repeat("y", 5<<20), Steps: []logsink.StepRecord{{Name: "s", Status: logsink.StatusSucceeded, Output: "step output"}}}
	recs = append(recs, huge)
	if err := c.History.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	type page struct {
		Runs []struct {
			apiRun
			OutputOmitted bool `json:"output_omitted"`
		}
		Next string
	}
	var seen []time.Time
	pages, omitted := 0, 0
	next := ""
	for {
		r := srv.call("GET", "api/runs?limit=1000&output=true&cursor="+next, "")
		if r.status != 200 {
			t.Fatalf("page %d: %d %s", pages, r.status, r.body)
		}
		if len(r.body) > admin.DefaultMaxPageBytes {
			t.Errorf("page %d: %d bytes, more than %d", pages, len(r.body), admin.DefaultMaxPageBytes)
		}
		var p page
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, run := range p.Runs {
			seen = append(seen, run.Tick)
			switch {
			case run.Tick.Equal(huge.Tick):
				omitted++
				if !run.OutputOmitted || run.Output != "" || len(run.Steps) != 1 || run.Steps[0].Output != "" {
					t.Errorf("the huge record: omitted %v, %d bytes of output, steps %+v", run.OutputOmitted, len(run.Output), run.Steps)
				}
				var full apiRun
				srv.ok(200, "GET", "api/runs/"+run.ID, "", &full)
				if len(full.Output) != len(huge.Output) || full.Steps[0].Output != "step output" {
					t.Errorf("api/runs/{id} of the huge record: %d bytes", len(full.Output))
				}
			case run.Output != out || run.OutputOmitted:
				t.Errorf("record %v: %d bytes of output, omitted %v", run.Tick, len(run.Output), run.OutputOmitted)
			}
		}
		if next = p.Next; next == "" || pages > 20 {
			break
		}
	}
	once := slices.CompactFunc(slices.Clone(seen), time.Time.Equal)
	if len(seen) != len(recs) || len(once) != len(seen) || !slices.IsSortedFunc(seen, func(a, b time.Time) int { return b.Compare(a) }) {
		t.Errorf("paged through %d of %d records in %d pages", len(seen), len(recs), pages)
	}
	if omitted != 1 || pages < 3 {
		t.Errorf("%d pages, the huge record %d times", pages, omitted)
	}
	// Without outputs the row limit alone ends the page; a smaller bound
	// makes smaller pages.
	var all page
	srv.ok(200, "GET", "api/runs?limit=1000", "", &all)
	if len(all.Runs) != len(recs) || all.Next != "" {
		t.Errorf("without output: %d runs, next %q", len(all.Runs), all.Next)
	}
	small := serve(t, s, admin.WithHistory(c.History), admin.WithMaxPageBytes(200<<10))
	r := small.ok(200, "GET", "api/runs?limit=10&output=true", "", &all)
	if len(r.body) > 200<<10 || len(all.Runs) != 3 || all.Next == "" {
		t.Errorf("200 KiB pages: %d bytes, %d runs, next %q", len(r.body), len(all.Runs), all.Next)
	}
}

// TestGetJobReadsOneKey: GET api/jobs/{name} reads the job's own
// definition key, not every definition: it works while range reads of
// defs/ fail (as they would time out with many large definitions).
func TestGetJobReadsOneKey(t *testing.T) {
	c := newCluster(t)
	cli := etcdClient(t)
	inj := etcdfault.Wrap(cli)
	s := c.NodeOn(cli, "n0")
	if err := s.RegisterFunc("report", "@every 1h", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	c.Start(s)
	srv := serve(t, s, admin.WithAuthorizer(allow))
	srv.ok(201, "POST", "api/jobs", hookDef, nil, auth)
	srv.ok(201, "PUT", "api/jobs/report", `{"schedule":"@every 2h"}`, nil, auth)
	defs := c.Namespace() + "defs/"
	inj.Add(etcdfault.Rule{Kind: etcdfault.Get, Key: defs, Action: etcdfault.Fail, Err: errors.New("test: a range read of every definition"),
		Match: func(call etcdfault.Call) bool { return len(call.Keys) > 0 && call.Keys[0] == defs }})
	var job apiJob
	srv.ok(200, "GET", "api/jobs/hook", "", &job, auth)
	if job.Definition == nil || job.Definition.Kind != "http" {
		t.Errorf("hook %+v", job)
	}
	job = apiJob{}
	srv.ok(200, "GET", "api/jobs/report", "", &job, auth)
	if job.Definition == nil || job.Definition.Schedule != "@every 2h" {
		t.Errorf("report %+v", job)
	}
	expectError(t, srv.call("GET", "api/jobs/ghost", "", auth), http.StatusNotFound, "unknown job")
	hits := inj.Hits()
	// The rule does catch range reads: api/definitions needs one.
	expectError(t, srv.call("GET", "api/definitions", "", auth), http.StatusInternalServerError, "etcd")
	if hits != 0 || inj.Hits() != 1 {
		t.Errorf("range reads of defs/: %d by api/jobs/{name}, %d in all", hits, inj.Hits())
	}
}

// failingQuerier is a history store that fails every call with err.
type failingQuerier struct{ err error }

func (f failingQuerier) Query(context.Context, logsink.Query) (logsink.Page, error) {
	return logsink.Page{}, f.err
}
func (f failingQuerier) Get(context.Context, logsink.RecordID) (logsink.Record, error) {
	return logsink.Record{}, f.err
}

// checkHidden checks a 5xx answer: a generic error with a request id (also
// in X-Request-Id), none of the leaks in its body; and a Warn log line
// with that id and the detail.
func checkHidden(t *testing.T, r response, status int, logs *observer.ObservedLogs, detail string, leaks ...string) string {
	t.Helper()
	var e struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || r.status != status || e.RequestID == "" || r.header.Get("X-Request-Id") != e.RequestID ||
		!strings.Contains(e.Error, "request id "+e.RequestID) {
		t.Errorf("status %d (want %d), answer %s, X-Request-Id %q", r.status, status, r.body, r.header.Get("X-Request-Id"))
	}
	for _, leak := range leaks {
		if strings.Contains(string(r.body), leak) {
			t.Errorf("the answer shows %q: %s", leak, r.body)
		}
	}
	found := false
	for _, l := range logs.FilterMessage("admin request failed").All() {
		if l.Level == zapcore.WarnLevel && l.ContextMap()["request_id"] == e.RequestID && strings.Contains(fmt.Sprint(l.ContextMap()["error"]), detail) {
			found = true
		}
	}
	if !found {
		t.Errorf("no Warn line with request id %q and %q in %v", e.RequestID, detail, logs.All())
	}
	return e.RequestID
}

// TestServerErrorsHideDetail: etcd, gRPC and history-store errors go to
// the log, with a request id; the client gets a generic message and the id.
func TestServerErrorsHideDetail(t *testing.T) {
	t.Run("history store", func(t *testing.T) {
		c := newCluster(t)
		s := c.Start(c.Node("n0"))
		core, logs := observer.New(zap.InfoLevel)
		const detail = `pq: password authentication failed for user "app" at 10.1.2.3:5432`
		srv := serve(t, s, admin.WithHistory(failingQuerier{errors.New(detail)}), admin.WithLogger(zap.New(core)))
		for _, p := range []string{"api/runs", "api/runs/" + runIDOf(t, "report"), "api/summary"} {
			checkHidden(t, srv.call("GET", p, ""), http.StatusServiceUnavailable, logs, detail, "pq:", "10.1.2.3", "password")
		}
		// A request id from the proxy is kept.
		if id := checkHidden(t, srv.call("GET", "api/runs", "", "X-Request-Id: req-42"), http.StatusServiceUnavailable, logs, detail); id != "req-42" {
			t.Errorf("request id %q, want req-42", id)
		}
	})

	t.Run("etcd errors", func(t *testing.T) {
		c := newCluster(t)
		cli := etcdClient(t)
		inj := etcdfault.Wrap(cli)
		s := c.Start(c.NodeOn(cli, "n0"))
		core, logs := observer.New(zap.InfoLevel)
		srv := serve(t, s, admin.WithAuthorizer(allow), admin.WithLogger(zap.New(core)))
		const detail = "rpc error: code = ResourceExhausted desc = trying to send message larger than max (6000135 vs. 2097152)"
		inj.Add(etcdfault.Rule{Kind: etcdfault.Get, Key: c.Namespace(), Action: etcdfault.Fail, Err: errors.New(detail)})
		inj.Add(etcdfault.Rule{Kind: etcdfault.Txn, Key: c.Namespace() + "instances", Action: etcdfault.Fail, Err: errors.New(detail)})
		// Running reads running and in-flight keys in one transaction.
		inj.Add(etcdfault.Rule{Kind: etcdfault.Txn, Key: c.Namespace() + "running/", Action: etcdfault.Fail, Err: errors.New(detail)})
		for _, p := range []string{"api/instances", "api/jobs", "api/definitions", "api/running"} {
			checkHidden(t, srv.call("GET", p, "", auth), http.StatusInternalServerError, logs, detail, "rpc error", "larger than max", "6000135")
		}
		inj.Clear()
		inj.Add(etcdfault.Rule{Kind: etcdfault.Put, Key: c.Namespace() + "defs/", Action: etcdfault.Fail, Err: errors.New(detail)})
		id := checkHidden(t, srv.call("PUT", "api/jobs/echo", echoDef, auth), http.StatusInternalServerError, logs, detail, "rpc error", "larger than max")
		if a := logs.FilterMessage("admin change").All(); len(a) != 1 || a[0].ContextMap()["request_id"] != id || a[0].ContextMap()["status"] != int64(500) {
			t.Errorf("audit lines %v", a)
		}
	})

	t.Run("etcd stopped", func(t *testing.T) {
		etcd := etcdtest.Start(t)
		cli := etcdtest.Client(t, etcd)
		c := newCluster(t)
		s := c.Start(c.NodeOn(cli, "n0"))
		core, logs := observer.New(zap.InfoLevel)
		h := admin.NewHandler(s, admin.WithAuthorizer(allow), admin.WithLogger(zap.New(core)))
		admin.SetRequestTimeout(h, time.Second)
		mux := http.NewServeMux()
		mux.Handle("/cron/", http.StripPrefix("/cron", h))
		ts := httptest.NewServer(mux)
		t.Cleanup(ts.Close)
		srv := &server{t: t, base: ts.URL + "/cron/"}
		srv.ok(200, "GET", "api/instances", "", nil, auth)
		etcd.Stop()
		for _, p := range []string{"api/instances", "api/jobs/report"} {
			checkHidden(t, srv.call("GET", p, "", auth), http.StatusServiceUnavailable, logs, "", "deadline", "rpc error", "127.0.0.1", "connection")
		}
		// Back up, so that the scheduler stops cleanly.
		if err := etcd.Restart(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCodeJobs: a definition with a kind never takes the name of a job
// registered in code, here or on another instance (409), and a POST that
// collides with one does not suggest a PUT; overrides without a kind still
// work, and deleting one restores the code job.
func TestCodeJobs(t *testing.T) {
	c := newCluster(t)
	n0 := newReportNode(t, c)
	n1 := c.Node("n1")
	if err := n1.RegisterFunc("elsewhere", "@every 1h", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	c.Start(n1)
	srv := serve(t, n0, admin.WithAuthorizer(allow))
	waitFor(t, 10*time.Second, "n1's registration", func() bool {
		var ins apiInstances
		srv.ok(200, "GET", "api/instances", "", &ins, auth)
		return slices.ContainsFunc(ins.Instances, func(in distcron.Instance) bool { return slices.Contains(in.Jobs, "elsewhere") })
	})
	shell := `{"kind":"shell","schedule":"@every 1s","shell":{"command":"echo taken"}}`
	for _, tc := range []struct{ job, where string }{{"report", ""}, {"elsewhere", " on instance n1"}} {
		expectError(t, srv.call("PUT", "api/jobs/"+tc.job, shell, auth), http.StatusConflict,
			`^job "`+tc.job+`" is registered in code`+tc.where+`: a definition cannot replace it`)
		r := srv.call("POST", "api/jobs", `{"name":"`+tc.job+`",`+shell[1:], auth)
		expectError(t, r, http.StatusConflict, `^job "`+tc.job+`" is registered in code.*pick another name$`)
		if strings.Contains(r.errorText(t), "PUT") {
			t.Errorf("POST %s suggests a PUT: %s", tc.job, r.body)
		}
	}
	if defs, err := n0.Definitions(context.Background()); err != nil || len(defs) != 0 {
		t.Fatalf("definitions %v, %v", defs, err)
	}
	if info, _ := n0.JobInfo("report"); info.Kind != "func" || info.Source != "code" {
		t.Fatalf("report %+v", info)
	}
	// An override of the schedule is fine; a kind on top of it is not;
	// deleting it restores the code job.
	srv.ok(201, "PUT", "api/jobs/report", `{"schedule":"@every 2h"}`, nil, auth)
	waitFor(t, 5*time.Second, "the override", func() bool { info, _ := n0.JobInfo("report"); return info.Source == "override" })
	expectError(t, srv.call("PUT", "api/jobs/report", shell, auth), http.StatusConflict, `registered in code`)
	srv.ok(200, "DELETE", "api/jobs/report", "", nil, auth)
	waitFor(t, 5*time.Second, "the code job back", func() bool {
		info, _ := n0.JobInfo("report")
		return info.Source == "code" && info.Schedule == "@every 1h" && info.Kind == "func"
	})
}

// TestAuditLog: one Info line per request to a mutating route, with the
// identity the access control returned, the route, the job and its kind,
// the status; never a secret value.
func TestAuditLog(t *testing.T) {
	c := newCluster(t)
	s := newReportNode(t, c)
	core, logs := observer.New(zap.DebugLevel)
	ac := func(r *http.Request, a admin.Access) (string, error) {
		switch tok := r.Header.Get("Authorization"); {
		case tok == "Bearer alice-token":
			return "alice", nil
		case tok == "Bearer viewer-token" && a == admin.Read:
			return "viewer", nil
		case tok == "Bearer viewer-token":
			return "viewer", errors.New("not allowed")
		}
		return "", errors.New("not allowed")
	}
	srv := serve(t, s, admin.WithAccessControl(ac), admin.WithLogger(zap.New(core)))
	alice, viewer := "Authorization: Bearer alice-token", "Authorization: Bearer viewer-token"
	srv.ok(201, "PUT", "api/jobs/hook", hookDef, nil, alice)
	srv.ok(201, "POST", "api/jobs", backDef, nil, alice)
	srv.ok(201, "PUT", "api/jobs/report", `{"schedule":"@every 2h"}`, nil, alice)
	expectError(t, srv.call("POST", "api/jobs/report/pause", "", viewer), http.StatusForbidden, "not allowed")
	expectError(t, srv.call("DELETE", "api/jobs/report", ""), http.StatusForbidden, "not allowed")
	waitFor(t, 5*time.Second, "hook and backup known", func() bool {
		_, a := s.JobInfo("hook")
		_, b := s.JobInfo("backup")
		return a && b
	})
	srv.ok(200, "POST", "api/jobs/hook/pause", "", nil, alice)
	srv.ok(202, "POST", "api/jobs/backup/kill", "", nil, alice)
	srv.ok(200, "DELETE", "api/jobs/hook", "", nil, alice)
	srv.ok(200, "GET", "api/jobs", "", nil, viewer)
	srv.ok(200, "GET", "api/jobs/backup", "", nil, alice)

	type line struct {
		identity, route, job, kind string
		status                     int64
	}
	want := []line{
		{"alice", "PUT api/jobs/{name}", "hook", "http", 201},
		{"alice", "POST api/jobs", "backup", "shell", 201},
		{"alice", "PUT api/jobs/{name}", "report", "", 201},
		{"viewer", "POST api/jobs/{name}/pause", "report", "", 403},
		{"", "DELETE api/jobs/{name}", "report", "", 403},
		{"alice", "POST api/jobs/{name}/pause", "hook", "http", 200},
		{"alice", "POST api/jobs/{name}/kill", "backup", "shell", 202},
		{"alice", "DELETE api/jobs/{name}", "hook", "http", 200},
	}
	var got []line
	for _, l := range logs.FilterMessage("admin change").All() {
		m := l.ContextMap()
		if l.Level != zapcore.InfoLevel || l.LoggerName != "admin" || m["remote"] == "" {
			t.Errorf("audit line %+v", l)
		}
		status, _ := m["status"].(int64)
		got = append(got, line{fmt.Sprint(m["identity"]), fmt.Sprint(m["route"]), fmt.Sprint(m["job"]), fmt.Sprint(m["kind"]), status})
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit lines:\n got %v\nwant %v", got, want)
	}
	for _, l := range logs.All() {
		b, _ := json.Marshal(l.ContextMap())
		noSecrets(t, "log line "+l.Message, append([]byte(l.Message), b...))
	}
}
