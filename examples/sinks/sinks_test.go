package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestSinksExample runs the example as a user does, with nothing
// configured: embedded etcd, embedded FerretDB, a temporary SQLite file.
// Both stores show the runs and the failures, and hold the same number of
// runs once the scheduler has stopped and flushed them.
func TestSinksExample(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sinks")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	cmd := exec.Command(bin, "-for", "9s")
	cmd.Env = append(os.Environ(), "DISTCRON_ETCD=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("did not stop by itself\nstdout:\n%s", stdout.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"[mongo] latest runs:", "[sql/sqlite] latest runs:",
		"upstream answered 503", "[mongo] newest failure in full", "[sql/sqlite] newest failure in full",
	} {
		if !bytes.Contains(stdout.Bytes(), []byte(want)) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`(?m)^mongo holds (\d+) runs\nsql/sqlite holds (\d+) runs$`).FindStringSubmatch(out)
	if m == nil || m[1] != m[2] || m[1] == "0" {
		t.Errorf("the stores should hold the same, non-zero number of runs:\n%s", out)
	}
}
