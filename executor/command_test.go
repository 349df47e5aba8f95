//go:build linux

package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestCommandOutput(t *testing.T) {
	t.Parallel()
	res := Shell(`echo out; echo err >&2; printf x`).Execute(context.Background())
	if res.Err != nil || res.ExitCode != 0 {
		t.Fatalf("Err, ExitCode = %v, %d; want nil, 0", res.Err, res.ExitCode)
	}
	if got, want := string(res.Output), "out\nerr\nx"; got != want {
		t.Errorf("Output = %q, want %q", got, want)
	}
}

func TestCommandExit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script   string
		wantCode int
		wantMsg  string // "" means success
	}{
		{script: "true", wantCode: 0},
		{script: "echo failing; exit 3", wantCode: 3, wantMsg: "distcron: command failed: exit status 3"},
		{script: "exit 255", wantCode: 255, wantMsg: "distcron: command failed: exit status 255"},
		{script: "kill -KILL $$", wantCode: -1, wantMsg: "distcron: command failed: signal: killed"},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			t.Parallel()
			res := Shell(tt.script).Execute(context.Background())
			if res.ExitCode != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", res.ExitCode, tt.wantCode)
			}
			if tt.wantMsg == "" {
				if res.Err != nil {
					t.Errorf("Err = %v, want nil", res.Err)
				}
				return
			}
			var ee *exec.ExitError
			if !errors.Is(res.Err, ErrCommandFailed) || !errors.As(res.Err, &ee) {
				t.Errorf("Err = %v, want ErrCommandFailed wrapping *exec.ExitError", res.Err)
			}
			if res.Err == nil || res.Err.Error() != tt.wantMsg {
				t.Errorf("Err = %v, want %q", res.Err, tt.wantMsg)
			}
		})
	}
}

func TestCommandOutputTail(t *testing.T) {
	t.Parallel()
	// 3200 numbered lines of 64 bytes: 200 KiB.
	script := `i=0; while [ $i -lt 3200 ]; do printf '%063d\n' $i; i=$((i+1)); done`
	var all bytes.Buffer
	for i := range 3200 {
		fmt.Fprintf(&all, "%063d\n", i)
	}
	want := all.Bytes()[all.Len()-MaxOutput:]

	res := Shell(script).Execute(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.Output) != MaxOutput {
		t.Fatalf("len(Output) = %d, want %d", len(res.Output), MaxOutput)
	}
	if !bytes.Equal(res.Output, want) {
		t.Errorf("Output is not the last %d bytes; starts %q, ends %q",
			MaxOutput, res.Output[:64], res.Output[len(res.Output)-64:])
	}
}

func TestCommandStartErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("echo hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name    string
		c       *Command
		wantIs  error
		wantMsg string
	}{
		{name: "not found", c: &Command{Path: "distcron-no-such-program"}, wantIs: exec.ErrNotFound, wantMsg: "distcron-no-such-program"},
		{name: "missing path", c: &Command{Path: missing}, wantIs: fs.ErrNotExist, wantMsg: missing},
		{name: "not executable", c: &Command{Path: file}, wantIs: fs.ErrPermission, wantMsg: file},
		{name: "missing dir", c: &Command{Path: "/bin/sh", Args: []string{"-c", "true"}, Dir: missing}, wantIs: fs.ErrNotExist, wantMsg: "chdir " + missing},
		{name: "dir is a file", c: &Command{Path: "/bin/sh", Args: []string{"-c", "true"}, Dir: file}, wantIs: syscall.ENOTDIR, wantMsg: "chdir " + file},
		{name: "empty path", c: &Command{}, wantMsg: "empty Path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.c.Execute(context.Background())
			if res.ExitCode != -1 || res.Output != nil {
				t.Errorf("ExitCode, Output = %d, %q; want -1, nil", res.ExitCode, res.Output)
			}
			if !errors.Is(res.Err, ErrStart) {
				t.Errorf("Err = %v, want ErrStart", res.Err)
			}
			if tt.wantIs != nil && !errors.Is(res.Err, tt.wantIs) {
				t.Errorf("Err = %v, want it to match %v", res.Err, tt.wantIs)
			}
			if res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantMsg) {
				t.Errorf("Err = %v, want it to contain %q", res.Err, tt.wantMsg)
			}
		})
	}
}

func TestCommandEnvDir(t *testing.T) {
	t.Parallel()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &Command{
		Path: "sh", // looked up in PATH
		Args: []string{"-c", `pwd -P; echo "$FOO"; echo "${HOME:-unset}"`},
		Env:  []string{"FOO=bar", "PATH=" + os.Getenv("PATH")},
		Dir:  dir,
	}
	res := c.Execute(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got, want := string(res.Output), dir+"\nbar\nunset\n"; got != want {
		t.Errorf("Output = %q, want %q", got, want)
	}
}

func TestCommandNotStartedWhenDone(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "ran")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Shell("touch " + marker).Execute(ctx)
	if !errors.Is(res.Err, context.Canceled) || res.ExitCode != -1 {
		t.Errorf("Err, ExitCode = %v, %d; want context.Canceled, -1", res.Err, res.ExitCode)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran with a done context")
	}
}

// The timeout stops the shell and its background child, which belongs to
// the same process group.
func TestCommandTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	const timeout, grace = time.Second, 200 * time.Millisecond
	path, writePid := pidFile(t, "$!")
	c := Shell("echo started; sleep 300 & " + writePid + "; wait")
	c.Grace = grace

	start := time.Now()
	res := withTimeout(c, timeout).Execute(context.Background())
	elapsed := time.Since(start)

	grandchild := readPid(t, path, false)
	if !errors.Is(res.Err, context.DeadlineExceeded) || !errors.Is(res.Err, ErrTimeout) {
		t.Errorf("Err = %v, want DeadlineExceeded and ErrTimeout", res.Err)
	}
	if !strings.Contains(fmt.Sprint(res.Err), "SIGTERM") {
		t.Errorf("Err = %v, want it to say SIGTERM stopped the command", res.Err)
	}
	if res.ExitCode != -1 {
		t.Errorf("ExitCode = %d, want -1", res.ExitCode)
	}
	if string(res.Output) != "started\n" {
		t.Errorf("Output = %q, want %q", res.Output, "started\n")
	}
	if limit := timeout + grace + 2*time.Second; elapsed < timeout || elapsed > limit {
		t.Errorf("Execute took %v, want between %v and %v", elapsed, timeout, limit)
	}
	requireGone(t, grandchild)
}

// A group that ignores SIGTERM gets SIGKILL after Grace; a cancel (not a
// deadline) maps to context.Canceled.
func TestCommandSIGKILLAfterGrace(t *testing.T) {
	t.Parallel()
	const grace = 200 * time.Millisecond
	path, writePid := pidFile(t, "$!")
	c := Shell("trap '' TERM; sleep 300 & " + writePid + "; wait")
	c.Grace = grace

	res, grandchild, elapsed := cancelMidRun(t, c, path)

	if !errors.Is(res.Err, context.Canceled) || errors.Is(res.Err, context.DeadlineExceeded) {
		t.Errorf("Err = %v, want context.Canceled only", res.Err)
	}
	if !strings.Contains(fmt.Sprint(res.Err), "SIGKILL after a 200ms grace period") {
		t.Errorf("Err = %v, want it to say SIGKILL after the grace period", res.Err)
	}
	if res.ExitCode != -1 {
		t.Errorf("ExitCode = %d, want -1", res.ExitCode)
	}
	// The group survived SIGTERM for the grace period, then went promptly.
	if elapsed < grace || elapsed > grace+2*time.Second {
		t.Errorf("Execute returned %v after cancel, want between %v and %v", elapsed, grace, grace+2*time.Second)
	}
	requireGone(t, grandchild)
}

// A cancel with the default grace: the shell dies on SIGTERM at once.
func TestCommandCancel(t *testing.T) {
	t.Parallel()
	path, writePid := pidFile(t, "$$")
	c := Shell(writePid + "; sleep 300")
	res, shell, elapsed := cancelMidRun(t, c, path)
	if elapsed > 2*time.Second {
		t.Errorf("Execute returned %v after cancel; SIGTERM should end it at once", elapsed)
	}
	if !errors.Is(res.Err, context.Canceled) || res.ExitCode != -1 {
		t.Errorf("Err, ExitCode = %v, %d; want context.Canceled, -1", res.Err, res.ExitCode)
	}
	requireGone(t, shell)
}

// A background child that outlives the shell gets SIGTERM when the shell
// exits, so it cannot hold the output pipe and Execute returns at once.
func TestCommandBackgroundChildStoppedOnExit(t *testing.T) {
	t.Parallel()
	path, writePid := pidFile(t, "$!")
	res := Shell("sleep 300 & " + writePid + "; echo done").Execute(context.Background())
	// Timed from the pid file on (the shell only echoes and exits after
	// it): starting the shell can take seconds on a loaded machine.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	elapsed := time.Since(fi.ModTime())
	if res.Err != nil || string(res.Output) != "done\n" {
		t.Fatalf("Err, Output = %v, %q; want nil, %q", res.Err, res.Output, "done\n")
	}
	if elapsed >= outputDrain {
		t.Errorf("Execute returned %v after the child started: it waited for the pipe instead of stopping the group", elapsed)
	}
	requireGone(t, readPid(t, path, false))
}

// A background child that ignores SIGTERM is killed after Grace once the
// shell has exited.
func TestCommandBackgroundChildIgnoringTERM(t *testing.T) {
	t.Parallel()
	const grace = 200 * time.Millisecond
	path, writePid := pidFile(t, "$!")
	c := Shell("(trap '' TERM; exec sleep 300) & " + writePid + "; echo done")
	c.Grace = grace
	start := time.Now()
	res := c.Execute(context.Background())
	elapsed := time.Since(start)
	if res.Err != nil || res.ExitCode != 0 || string(res.Output) != "done\n" {
		t.Fatalf("Err, ExitCode, Output = %v, %d, %q; want nil, 0, %q", res.Err, res.ExitCode, res.Output, "done\n")
	}
	// At least the grace the child got; far less than its sleep of 300 s
	// (the slack is for a loaded machine: CI once took 2.55 s).
	if limit := grace + 5*time.Second; elapsed < grace || elapsed > limit {
		t.Errorf("Execute took %v, want between %v and %v", elapsed, grace, limit)
	}
	requireGone(t, readPid(t, path, false))
}

// When the shell dies on SIGTERM, its children still get the grace period
// to clean up.
func TestCommandGroupGetsGrace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	marker := filepath.Join(dir, "cleaned")
	path, writePid := pidFile(t, "$$")
	child := fmt.Sprintf(`trap "sleep 0.2; echo cleaned > %s; exit 0" TERM; %s; while :; do sleep 0.01; done`, marker, writePid)
	c := Shell(fmt.Sprintf("sh -c '%s' & wait", child)) // default Grace: 5s

	res, pid, elapsed := cancelMidRun(t, c, path)

	if !errors.Is(res.Err, context.Canceled) || !strings.Contains(res.Err.Error(), "SIGTERM") {
		t.Errorf("Err = %v, want context.Canceled and SIGTERM", res.Err)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "cleaned\n" {
		t.Errorf("the child did not clean up: %q, %v", b, err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("Execute returned %v after cancel; it should not wait for the whole grace period", elapsed)
	}
	requireGone(t, pid)
}

func TestCommandConcurrent(t *testing.T) {
	t.Parallel()
	c := Shell(`echo "$$ start"; sleep 0.05; echo "$$ end"`)
	lines := regexp.MustCompile(`^(\d+) start\n(\d+) end\n$`)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		pids = map[string]bool{}
	)
	for range 6 {
		wg.Go(func() {
			res := c.Execute(context.Background())
			m := lines.FindSubmatch(res.Output)
			if res.Err != nil || m == nil || string(m[1]) != string(m[2]) {
				t.Errorf("Err, Output = %v, %q; want nil and one shell's two lines", res.Err, res.Output)
				return
			}
			mu.Lock()
			pids[string(m[1])] = true
			mu.Unlock()
		})
	}
	for range 3 {
		wg.Go(func() {
			res := withTimeout(c, time.Millisecond).Execute(context.Background())
			if !errors.Is(res.Err, context.DeadlineExceeded) {
				t.Errorf("Err = %v, want DeadlineExceeded", res.Err)
			}
		})
	}
	wg.Wait()
	if len(pids) != 6 && !t.Failed() {
		t.Errorf("got %d distinct shells, want 6", len(pids))
	}
}

// processGone reports whether pid no longer runs. A zombie (an orphan that
// its new parent has not reaped yet) counts as gone.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	// "pid (comm) S ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	state := b[i+2]
	return state == 'Z' || state == 'X'
}

// requireGone waits for pid to be gone.
func requireGone(t *testing.T, pid int) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("pid %d to be gone", pid), func() bool { return processGone(pid) })
}

// pidFile returns a path for a script to write a pid to, and a shell
// snippet writing pid to it atomically.
func pidFile(t *testing.T, pid string) (path, snippet string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "pid")
	return path, fmt.Sprintf("echo %s > %s.tmp && mv %s.tmp %s", pid, path, path, path)
}

// readPid reads a pid written by a pidFile snippet, waiting for it if wait
// is true.
func readPid(t *testing.T, path string, wait bool) int {
	t.Helper()
	if wait {
		waitFor(t, 5*time.Second, "pid file "+path, func() bool {
			_, err := os.Stat(path)
			return err == nil
		})
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file %q: %v", b, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // only if a test failed
	return pid
}

// cancelMidRun starts c, waits for the pid the command writes to path,
// cancels the run and returns its result, the pid, and how long Execute
// took after the cancel.
func cancelMidRun(t *testing.T, c *Command, path string) (Result, int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan Result, 1)
	go func() { done <- c.Execute(ctx) }()
	pid := readPid(t, path, true)
	cancelled := time.Now()
	cancel()
	res := <-done
	return res, pid, time.Since(cancelled)
}
