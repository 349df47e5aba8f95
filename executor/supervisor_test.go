//go:build linux && (amd64 || arm64)

package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// setsidChild returns a script fragment that starts a grandchild in a new
// session (so outside the command's process group) that writes its pid to
// the returned path and sleeps, and waits until the pid is written.
func setsidChild(t *testing.T, trapTERM bool) (path, script string) {
	t.Helper()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid:", err)
	}
	path, writePid := pidFile(t, "$$")
	trap := ""
	if trapTERM {
		trap = `trap "" TERM; `
	}
	return path, fmt.Sprintf(`setsid sh -c '%s%s; exec sleep 300' & while [ ! -e %s ]; do sleep 0.01; done`, trap, writePid, path)
}

// Issue 10: a grandchild that calls setsid leaves the process group, and
// on main it survived the run and held the output pipe (Execute waited
// outputDrain for it). Now the supervisor stops it when the shell exits.
func TestCommandSetsidGrandchildStoppedOnExit(t *testing.T) {
	t.Parallel()
	path, script := setsidChild(t, false)
	end := path + ".end"
	res := Shell(script + "; echo done; : > " + end).Execute(context.Background())
	// Timed from the shell's last command: starting (and polling for) the
	// processes can take seconds on a loaded machine.
	fi, err := os.Stat(end)
	if err != nil {
		t.Fatalf("end file: %v", err)
	}
	elapsed := time.Since(fi.ModTime())
	grandchild := readPid(t, path, false)
	if res.Err != nil || res.ExitCode != 0 || string(res.Output) != "done\n" {
		t.Errorf("Err, ExitCode, Output = %v, %d, %q; want nil, 0, %q", res.Err, res.ExitCode, res.Output, "done\n")
	}
	if !processGone(grandchild) {
		t.Errorf("the setsid grandchild %d still runs after Execute returned", grandchild)
	}
	if elapsed >= outputDrain {
		t.Errorf("Execute returned %v after the shell's end: it waited for the pipe the grandchild held", elapsed)
	}
}

// Issue 10: on timeout, the setsid grandchild is stopped with the rest.
func TestCommandSetsidGrandchildStoppedOnTimeout(t *testing.T) {
	t.Parallel()
	// The timeout leaves a loaded machine time to start the processes.
	const timeout, grace = 5 * time.Second, 200 * time.Millisecond
	path, script := setsidChild(t, false)
	c := Shell(script + "; echo started; sleep 300")
	c.Grace = grace
	res := withTimeout(c, timeout).Execute(context.Background())
	grandchild := readPid(t, path, false)
	if !errors.Is(res.Err, ErrTimeout) || !strings.Contains(res.Err.Error(), "SIGTERM") || res.ExitCode != -1 {
		t.Errorf("Err, ExitCode = %v, %d; want ErrTimeout, stopped with SIGTERM, -1", res.Err, res.ExitCode)
	}
	if string(res.Output) != "started\n" {
		t.Errorf("Output = %q, want %q", res.Output, "started\n")
	}
	if !processGone(grandchild) {
		t.Errorf("the setsid grandchild %d still runs after Execute returned", grandchild)
	}
}

// Issue 10: on Kill (a cancel), a setsid grandchild that ignores SIGTERM
// gets SIGKILL after the grace period, and the error says so.
func TestCommandSetsidGrandchildIgnoringTERMKilledOnCancel(t *testing.T) {
	t.Parallel()
	const grace = 300 * time.Millisecond
	path, script := setsidChild(t, true)
	c := Shell(script + "; sleep 300")
	c.Grace = grace
	res, grandchild, elapsed := cancelMidRun(t, c, path)
	if !errors.Is(res.Err, context.Canceled) || !strings.Contains(res.Err.Error(), "SIGKILL after a 300ms grace period") {
		t.Errorf("Err = %v, want context.Canceled, killed with SIGKILL after the grace period", res.Err)
	}
	if elapsed < grace {
		t.Errorf("Execute returned %v after cancel, before the %v grace period", elapsed, grace)
	}
	if !processGone(grandchild) {
		t.Errorf("the setsid grandchild %d still runs after Execute returned", grandchild)
	}
}

// A double fork (the child exits at once, the grandchild is orphaned) is
// caught too: the orphan becomes the supervisor's child, not init's.
func TestCommandOrphanedGrandchildStopped(t *testing.T) {
	t.Parallel()
	path, writePid := pidFile(t, "$$")
	script := fmt.Sprintf(`sh -c 'sh -c "%s; exec sleep 300" & exit 0'; while [ ! -e %s ]; do sleep 0.01; done; echo done`,
		strings.ReplaceAll(writePid, "$$", `\$\$`), path)
	res := Shell(script).Execute(context.Background())
	grandchild := readPid(t, path, false)
	if res.Err != nil || string(res.Output) != "done\n" {
		t.Errorf("Err, Output = %v, %q; want nil, %q", res.Err, res.Output, "done\n")
	}
	if !processGone(grandchild) {
		t.Errorf("the orphaned grandchild %d still runs after Execute returned", grandchild)
	}
}

// The supervisor passes the command's status on: exit codes, and deaths by
// signal, with the messages of direct runs.
func TestCommandSupervisedStatusMirrored(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		script string
		code   int
		msg    string
	}{
		{"exit 7", 7, "distcron: command failed: exit status 7"},
		{"kill -TERM $$", -1, "distcron: command failed: signal: terminated"},
		{"kill -SEGV $$", -1, "distcron: command failed: signal: segmentation fault"},
		{"kill -ABRT $$", -1, "distcron: command failed: signal: aborted"},
	} {
		for _, unsupervised := range []bool{false, true} {
			c := Shell(tt.script)
			c.Unsupervised = unsupervised
			res := c.Execute(context.Background())
			var ee *exec.ExitError
			if res.ExitCode != tt.code || res.Err == nil || !strings.HasPrefix(res.Err.Error(), tt.msg) || !errors.As(res.Err, &ee) || len(res.Output) != 0 {
				t.Errorf("%q (unsupervised %v): ExitCode, Err, Output = %d, %v, %q; want %d, %q wrapping *exec.ExitError, no output",
					tt.script, unsupervised, res.ExitCode, res.Err, res.Output, tt.code, tt.msg)
			}
		}
	}
}

// The supervisor passes the environment on without its own variables, and
// an empty Env stays empty.
func TestCommandSupervisedEnvironment(t *testing.T) {
	t.Parallel()
	res := (&Command{Path: "/usr/bin/env", Env: []string{"A=1"}}).Execute(context.Background())
	if res.Err != nil || string(res.Output) != "A=1\n" {
		t.Errorf("Err, Output = %v, %q; want nil, %q", res.Err, res.Output, "A=1\n")
	}
	res = (&Command{Path: "/usr/bin/env", Env: []string{}}).Execute(context.Background())
	if res.Err != nil || len(res.Output) != 0 {
		t.Errorf("empty Env: Err, Output = %v, %q; want nil, none", res.Err, res.Output)
	}
	res = Shell("env").Execute(context.Background())
	if strings.Contains(string(res.Output), supervisorEnv) || strings.Contains(string(res.Output), supervisorRace) {
		t.Errorf("inherited environment shows the supervisor's variables:\n%s", res.Output)
	}
}

// Unsupervised, a process that left the group (setsid) survives, but
// Execute stops waiting for the output pipe it holds after outputDrain.
func TestCommandUnsupervisedEscapedChildHoldsPipe(t *testing.T) {
	t.Parallel()
	path, script := setsidChild(t, false)
	c := Shell(script + "; echo done")
	c.Unsupervised = true
	start := time.Now()
	res := c.Execute(context.Background())
	elapsed := time.Since(start)
	escaped := readPid(t, path, false)
	if res.Err != nil || string(res.Output) != "done\n" {
		t.Errorf("Err, Output = %v, %q; want nil, %q", res.Err, res.Output, "done\n")
	}
	if elapsed < outputDrain || elapsed > outputDrain+2*time.Second {
		t.Errorf("Execute took %v, want about %v", elapsed, outputDrain)
	}
	if processGone(escaped) {
		t.Errorf("the process outside the group was killed")
	}
	if err := syscall.Kill(escaped, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	requireGone(t, escaped)
}

// hostEnv makes the test binary a host that runs one supervised command
// (a shell with a setsid grandchild) and then waits to be killed.
const hostEnv = "DISTCRON_TEST_SUPERVISOR_HOST"

func init() {
	if script := os.Getenv(hostEnv); script != "" {
		signal.Ignore(syscall.SIGTERM)
		Shell(script).Execute(context.Background())
		os.Exit(0)
	}
}

// When the executor's process dies (kill -9), the supervisor stops the
// command's whole tree: no orphan keeps running a job that a peer may run
// again.
func TestCommandTreeStoppedWhenTheHostDies(t *testing.T) {
	t.Parallel()
	path, script := setsidChild(t, false)
	host := exec.Command(os.Args[0], "-test.run=^$")
	host.Env = append(os.Environ(), hostEnv+"="+script+"; sleep 300")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	grandchild := readPid(t, path, true)
	if err := host.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait()
	requireGone(t, grandchild)
}
