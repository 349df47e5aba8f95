package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestQuickstartRunsAndStopsOnInterrupt runs the quickstart as a user does:
// no etcd configured, so it starts its own; records appear on stdout for
// both jobs; Ctrl-C (SIGINT) stops it cleanly.
func TestQuickstartRunsAndStopsOnInterrupt(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "quickstart")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "DISTCRON_ETCD=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	seen := map[string]bool{}
	lines := make(chan map[string]any)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Errorf("stdout line is not a JSON record: %q", sc.Text())
				continue
			}
			lines <- rec
		}
	}()
	timeout := time.After(30 * time.Second)
	for !(seen["hello"] && seen["disk-usage"]) {
		select {
		case rec := <-lines:
			if rec["status"] != "succeeded" {
				t.Fatalf("record %v", rec)
			}
			seen[rec["job"].(string)] = true
		case <-timeout:
			t.Fatalf("records seen so far: %v", seen)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain until stdout closes
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("quickstart exited with %v after SIGINT", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("quickstart did not stop after SIGINT")
	}
}
