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

// TestAdminExample runs the example as a user does, with nothing
// configured (embedded etcd, temporary SQLite history) and a token: the
// console and its API answer, changes need the token, runs show up in the
// history, metrics are served, and SIGTERM stops it cleanly.
func TestAdminExample(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "admin")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-token", "s3cret", "-allow-remote-shell")
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
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
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
	var console string
	select {
	case console = <-urls:
	case err := <-done:
		t.Fatalf("exited early: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no console URL printed")
	}

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	send := func(method, url, body, token string) int {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if code, body := get(console); code != 200 || !strings.Contains(body, "static/app.js") {
		t.Fatalf("console: %d\n%s", code, body)
	}
	code, body := get(console + "api/jobs")
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

	// Changes need the token.
	def := `{"name":"hello","kind":"shell","schedule":"@every 1s","shell":{"command":"echo hello"}}`
	if code := send("POST", console+"api/jobs", def, ""); code != http.StatusForbidden {
		t.Errorf("define without the token: %d", code)
	}
	if code := send("POST", console+"api/jobs", def, "wrong"); code != http.StatusForbidden {
		t.Errorf("define with a wrong token: %d", code)
	}
	if code := send("POST", console+"api/jobs", def, "s3cret"); code != http.StatusCreated {
		t.Fatalf("define with the token: %d", code)
	}

	// Runs reach the SQLite history and the console's API.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := get(console + "api/runs?job=hello&status=succeeded")
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
	if code, body := get(strings.TrimSuffix(console, "cron/") + "metrics"); code != 200 || !strings.Contains(body, `distcron_runs_total{job="hello",status="succeeded"`) {
		t.Errorf("metrics: %d\n%.2000s", code, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop after SIGTERM")
	}
}
