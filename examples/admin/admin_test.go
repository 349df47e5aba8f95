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
	"strings"
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

// startExample runs bin with args (an embedded etcd, a temporary SQLite
// history) and waits for the console's URL; it is killed at cleanup.
func startExample(t *testing.T, bin string, args ...string) *example {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "DISTCRON_ETCD=", "DISTCRON_ADMIN_TOKEN=")
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
