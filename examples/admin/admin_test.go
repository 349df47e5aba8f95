package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// example is the example running as a process.
type example struct {
	t       *testing.T
	cmd     *exec.Cmd
	done    chan error
	console string // http://127.0.0.1:port/cron/

	mu  sync.Mutex
	out []string // the lines it printed on stdout
}

// buildExample builds the example once per test.
func buildExample(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "admin")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	return bin
}

// startExample runs bin with args (an embedded etcd, an SQLite history in
// a temporary directory of the test's) and waits for the console's URL; it
// is killed at cleanup.
func startExample(t *testing.T, bin string, args ...string) *example {
	t.Helper()
	return startExampleIn(t, bin, t.TempDir(), args...)
}

// startExampleIn is startExample with tmp as the process's temporary
// directory (TMPDIR).
func startExampleIn(t *testing.T, bin, tmp string, args ...string) *example {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "DISTCRON_ETCD=", "DISTCRON_ADMIN_TOKEN=", "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &example{t: t, cmd: cmd, done: make(chan error, 1)}
	go func() { e.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-e.done
		if t.Failed() {
			b, _ := os.ReadFile(stderr.Name())
			t.Logf("stderr:\n%s", b)
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`^distcron console: (http://\S+/cron/)$`)
		for sc.Scan() {
			e.mu.Lock()
			e.out = append(e.out, sc.Text())
			e.mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case e.console = <-urls:
	case err := <-e.done:
		t.Fatalf("exited early: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no console URL printed")
	}
	return e
}

// printed returns the first field after prefix of the first line it
// printed that starts with prefix ("" when none). The example prints the
// console's URL last, so the other lines are in once startExample returns.
func (e *example) printed(prefix string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range e.out {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// lines returns what it printed on stdout so far.
func (e *example) lines() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.out)
}

// send sends a request to path (relative to the console) with the token
// (if any) and extra headers ("Name: value"; "Host: x" sets the Host); it
// returns the status and the body.
func (e *example) send(method, path, body, token string, headers ...string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.console+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if strings.EqualFold(k, "Host") {
			req.Host = strings.TrimSpace(v)
		} else {
			req.Header.Set(k, strings.TrimSpace(v))
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stop sends SIGTERM and expects a clean exit.
func (e *example) stop() {
	e.t.Helper()
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		e.t.Fatal(err)
	}
	select {
	case err := <-e.done:
		e.done <- err // for the cleanup
		if err != nil {
			e.t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		e.t.Fatal("did not stop after SIGTERM")
	}
}

// TestAdminExample runs the example as a user does, with nothing
// configured (embedded etcd, temporary SQLite history) and a token: the
// console page answers, its API needs the token for reads and changes,
// other host names are refused, runs show up in the history with their
// secrets redacted in the definition, metrics are served, and SIGTERM
// stops it cleanly. Then with -read-only and a token: reads with the
// token, no changes at all.
func TestAdminExample(t *testing.T) {
	bin := buildExample(t)
	t.Run("token", func(t *testing.T) {
		e := startExample(t, bin, "-token", "s3cret", "-allow-remote-shell")
		if code, body := e.send("GET", "", "", ""); code != 200 || !strings.Contains(body, "static/app.js") {
			t.Fatalf("console: %d\n%s", code, body)
		}
		// Reads need the token.
		for _, p := range []string{"api/jobs", "api/jobs/heartbeat", "api/instances", "api/runs", "api/definitions"} {
			if code, body := e.send("GET", p, "", ""); code != http.StatusForbidden {
				t.Errorf("GET %s without the token: %d %s", p, code, body)
			}
		}
		code, body := e.send("GET", "api/jobs", "", "s3cret")
		var jobs struct{ Jobs []struct{ Name string } }
		if code != 200 || json.Unmarshal([]byte(body), &jobs) != nil {
			t.Fatalf("api/jobs: %d %s", code, body)
		}
		names := map[string]bool{}
		for _, j := range jobs.Jobs {
			names[j.Name] = true
		}
		for _, want := range []string{"heartbeat", "sync-crm", "disk-usage", "search-reindex", "invoice-run"} {
			if !names[want] {
				t.Errorf("api/jobs lacks %s: %s", want, body)
			}
		}
		// A page of another site rebound to this address is refused.
		if code, body := e.send("GET", "api/jobs", "", "s3cret", "Host: evil.example"); code != http.StatusMisdirectedRequest {
			t.Errorf("Host evil.example: %d %s", code, body)
		}

		// Changes need the token.
		def := `{"name":"hello","kind":"shell","schedule":"@every 1s","shell":{"command":"echo hello","env":["GREETING_TOKEN=hunter2"]}}`
		if code, _ := e.send("POST", "api/jobs", def, ""); code != http.StatusForbidden {
			t.Errorf("define without the token: %d", code)
		}
		if code, _ := e.send("POST", "api/jobs", def, "wrong"); code != http.StatusForbidden {
			t.Errorf("define with a wrong token: %d", code)
		}
		if code, body := e.send("POST", "api/jobs", def, "s3cret"); code != http.StatusCreated || strings.Contains(body, "hunter2") {
			t.Fatalf("define with the token: %d %s", code, body)
		}
		if _, body := e.send("GET", "api/jobs/hello", "", "s3cret"); !strings.Contains(body, `"GREETING_TOKEN=<redacted>"`) || strings.Contains(body, "hunter2") {
			t.Errorf("the definition's env is not redacted: %s", body)
		}

		// Runs reach the SQLite history and the console's API.
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, body := e.send("GET", "api/runs?job=hello&status=succeeded", "", "s3cret")
			var runs struct{ Runs []json.RawMessage }
			json.Unmarshal([]byte(body), &runs)
			if len(runs.Runs) >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no runs of hello in the history: %s", body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		resp, err := http.Get(strings.TrimSuffix(e.console, "cron/") + "metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `distcron_runs_total{job="hello",status="succeeded"`) {
			t.Errorf("metrics: %d\n%.2000s", resp.StatusCode, b)
		}
		e.stop()
	})
	t.Run("read-only", func(t *testing.T) {
		e := startExample(t, bin, "-token", "s3cret", "-read-only")
		if code, body := e.send("GET", "api/jobs", "", ""); code != http.StatusForbidden {
			t.Errorf("GET api/jobs without the token: %d %s", code, body)
		}
		if code, body := e.send("GET", "api/jobs", "", "s3cret"); code != 200 || !strings.Contains(body, `"heartbeat"`) {
			t.Errorf("GET api/jobs with the token: %d %s", code, body)
		}
		var info struct {
			ReadOnly  bool `json:"read_only"`
			CanRead   bool `json:"can_read"`
			CanMutate bool `json:"can_mutate"`
		}
		_, body := e.send("GET", "api/info", "", "s3cret")
		if json.Unmarshal([]byte(body), &info) != nil || !info.ReadOnly || !info.CanRead || info.CanMutate {
			t.Errorf("api/info: %s", body)
		}
		for _, m := range []struct{ method, path, body string }{
			{"POST", "api/jobs", `{"name":"hello","kind":"shell","schedule":"@every 1s","shell":{"command":"echo hello"}}`},
			{"POST", "api/jobs/heartbeat/pause", ""},
			{"POST", "api/jobs/heartbeat/trigger", ""},
		} {
			if code, body := e.send(m.method, m.path, m.body, "s3cret"); code != http.StatusForbidden || !strings.Contains(body, "read-only") {
				t.Errorf("%s %s on a read-only console: %d %s", m.method, m.path, code, body)
			}
		}
		e.stop()
	})
}

// TestAdminExampleCluster starts two instances of the example on this
// machine as its doc says (the second joins the first one's embedded etcd)
// with nothing else configured: they share one SQLite history, so each
// console shows the runs of both instances.
func TestAdminExampleCluster(t *testing.T) {
	bin := buildExample(t)
	tmp := t.TempDir()
	a := startExampleIn(t, bin, tmp, "-id", "a", "-token", "s3cret", "-allow-remote-shell")
	endpoints := a.printed("etcd:")
	if !strings.HasPrefix(endpoints, "http://127.0.0.1:") {
		t.Fatalf("no embedded etcd address printed: %q", a.lines())
	}
	b := startExampleIn(t, bin, tmp, "-id", "b", "-token", "s3cret", "-allow-remote-shell", "-etcd", endpoints)
	if b.printed("etcd:") != "" {
		t.Errorf("b started an etcd of its own: %q", b.lines())
	}
	ha, hb := a.printed("history:"), b.printed("history:")
	if ha == "" || ha != hb || !strings.HasPrefix(ha, tmp) {
		t.Fatalf("histories %q and %q, want one file in %s", ha, hb, tmp)
	}
	def := `{"name":"hello","kind":"shell","schedule":"@every 1s","shell":{"command":"echo hello"}}`
	if code, body := a.send("POST", "api/jobs", def, "s3cret"); code != http.StatusCreated {
		t.Fatalf("define: %d %s", code, body)
	}
	// Both consoles list the runs of both instances.
	for _, e := range []*example{a, b} {
		deadline := time.Now().Add(60 * time.Second)
		for {
			_, body := e.send("GET", "api/runs?job=hello&limit=200", "", "s3cret")
			var runs struct{ Runs []struct{ Instance string } }
			json.Unmarshal([]byte(body), &runs)
			seen := map[string]bool{}
			for _, r := range runs.Runs {
				seen[r.Instance] = true
			}
			if seen["a"] && seen["b"] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's console: runs of hello by %v, want by a and b: %.500s", e.console, seen, body)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	var ins struct{ Instances []struct{ ID string } }
	_, body := b.send("GET", "api/instances", "", "s3cret")
	if json.Unmarshal([]byte(body), &ins) != nil || len(ins.Instances) != 2 {
		t.Errorf("instances: %s", body)
	}
	b.stop()
	a.stop()
}
