//go:build linux && (amd64 || arm64)

package executor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// A supervised command runs under a supervisor: a copy of the running
// binary, started through /proc/self/exe with supervisorArg0 as its argv[0]
// and supervisorEnv in its environment, which this package's init
// recognizes before main runs. The supervisor makes itself a child
// subreaper (PR_SET_CHILD_SUBREAPER), so every descendant of the command
// that is orphaned, including one that called setsid or double-forked,
// becomes its child instead of init's; no descendant can leave its tree.
// It starts the command, and when the command exits, or when the executor
// asks it to stop (SIGTERM), or when the executor's process dies (SIGHUP,
// its parent-death signal), it sends SIGTERM to every live descendant,
// then SIGKILL to whatever is left after the grace period, and exits once
// it has no child left, mirroring the command's exit status or the signal
// that ended it. It tells the executor on fd 3 what the status cannot: an
// errno when the command did not start, "killed" when SIGKILL was needed.
//
// Each descendant is signalled through a pidfd (os.FindProcess) after its
// parent was checked again, so a pid reused by a stranger is never hit.
const (
	supervisorArg0 = "distcron-executor-supervisor"
	supervisorEnv  = "DISTCRON_EXECUTOR_SUPERVISOR" // value: "<executor pid>/<grace in ns>[/race]"

	// supervisorRace is prepended to the environment of a supervisor
	// built with -race (unless GORACE is set), so that it does not sleep a
	// second at exit as race binaries do by default; "/race" in
	// supervisorEnv tells it to drop the variable again.
	supervisorRace = "GORACE=atexit_sleep_ms=0"

	// supervisorSlack is how long the executor waits past the grace
	// period for the supervisor to exit before it kills the process group
	// itself.
	supervisorSlack = 2 * time.Second
)

func init() {
	if len(os.Args) >= 3 && os.Args[0] == supervisorArg0 {
		if v, ok := os.LookupEnv(supervisorEnv); ok {
			os.Exit(supervise(v))
		}
	}
}

// supervision is the executor's end of one supervised run.
type supervision struct {
	status, statusW *os.File
}

// superviseCmd rewrites cmd, built to run the command directly, to run it
// under the supervisor. It returns nil, leaving cmd as it is, when the
// running binary cannot be started again through /proc/self/exe.
func superviseCmd(cmd *exec.Cmd, grace time.Duration) *supervision {
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		return nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	marker := fmt.Sprintf("%s=%d/%d", supervisorEnv, os.Getpid(), grace)
	if raceBuild && !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GORACE=") }) {
		env = append([]string{supervisorRace}, env...)
		marker += "/race"
	}
	env = append(slices.Clip(env), marker)
	cmd.Args = append([]string{supervisorArg0, cmd.Path}, cmd.Args...)
	cmd.Path = "/proc/self/exe"
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGHUP
	return &supervision{status: r, statusW: w}
}

// started closes the executor's copy of the status pipe's write end.
func (sv *supervision) started() { sv.statusW.Close() }

// close releases the read end.
func (sv *supervision) close() { sv.status.Close() }

// stop asks the supervisor to stop the command.
func (sv *supervision) stop(p *os.Process) { _ = p.Signal(syscall.SIGTERM) }

// slack is how long the supervisor may take past the grace period.
func (sv *supervision) slack() time.Duration { return supervisorSlack }

// report reads what the supervisor said once it has exited: the error
// that kept the command from starting (with the program's path), and
// whether it needed SIGKILL.
func (sv *supervision) report(path string) (startErr error, killed bool) {
	sc := bufio.NewScanner(io.LimitReader(sv.status, 4096))
	for sc.Scan() {
		word, arg, _ := strings.Cut(sc.Text(), " ")
		switch word {
		case "killed":
			killed = true
		case "start":
			n, err := strconv.Atoi(arg)
			if err != nil {
				startErr = fmt.Errorf("fork/exec %s: %s", path, arg)
			} else {
				startErr = &fs.PathError{Op: "fork/exec", Path: path, Err: syscall.Errno(n)}
			}
		}
	}
	return startErr, killed
}

// supervise is the supervisor's main; it returns the exit code, or does
// not return when it mirrors a signal.
func supervise(arg string) int {
	host, grace, race, err := parseSupervisorEnv(arg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "distcron supervisor:", err)
		return 126
	}
	status := os.NewFile(3, "status")
	syscall.CloseOnExec(3)
	stop := make(chan os.Signal, 4)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0)
	if os.Getppid() != host {
		return 129 // the executor died before the command started
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, supervisorEnv+"=") || race && kv == supervisorRace
	})
	self := os.Getpid()
	pid, err := syscall.ForkExec(os.Args[1], os.Args[2:], &syscall.ProcAttr{Env: env, Files: []uintptr{0, 1, 2}})
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			fmt.Fprintf(status, "start %d\n", int(errno))
		} else {
			fmt.Fprintf(status, "start %v\n", err)
		}
		return 127
	}

	// Reap every child: the command, and orphans that the kernel gave us.
	exited := make(chan syscall.WaitStatus, 1)
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			var ws syscall.WaitStatus
			wpid, err := syscall.Wait4(-1, &ws, 0, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return // ECHILD: no child, so no descendant, is left
			}
			if wpid == pid {
				exited <- ws
			}
		}
	}()

	var ws syscall.WaitStatus
	haveStatus := false
	for waiting := true; waiting; {
		select {
		case ws = <-exited:
			haveStatus, waiting = true, false
		case sig := <-stop:
			waiting = sig == syscall.SIGHUP && os.Getppid() == host // a SIGHUP from elsewhere
		}
	}
	// The command exited or must stop: its whole tree gets SIGTERM, and
	// SIGKILL after the grace period.
	signalDescendants(self, syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	var again <-chan time.Time
	killed := false
	for done := false; !done; {
		select {
		case <-gone:
			done = true
		case ws = <-exited:
			haveStatus = true
		case <-stop:
		case <-deadline.C:
			killed = true
			signalDescendants(self, syscall.SIGKILL)
			again = time.Tick(20 * time.Millisecond)
		case <-again: // processes forked while SIGKILL went out
			signalDescendants(self, syscall.SIGKILL)
		}
	}
	if !haveStatus {
		ws = <-exited
	}
	if killed {
		fmt.Fprintln(status, "killed")
	}
	status.Close()
	if ws.Signaled() {
		mirrorSignal(ws.Signal())
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func parseSupervisorEnv(v string) (host int, grace time.Duration, race bool, err error) {
	f := strings.Split(v, "/")
	if len(f) == 3 && f[2] == "race" {
		race, f = true, f[:2]
	}
	if len(f) != 2 {
		return 0, 0, false, fmt.Errorf("bad %s %q", supervisorEnv, v)
	}
	host, err1 := strconv.Atoi(f[0])
	ns, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || ns <= 0 {
		return 0, 0, false, fmt.Errorf("bad %s %q", supervisorEnv, v)
	}
	return host, time.Duration(ns), race, nil
}

// signalDescendants sends sig to every live descendant of self, each
// process before its children. A process can fork between the scan of
// /proc and the signal to it, so the tree is scanned again until a scan
// finds no descendant it has not signalled (at most a few times: a
// signalled parent stops forking once the signal lands).
func signalDescendants(self int, sig syscall.Signal) {
	signalled := make(map[int]bool)
	for range 5 {
		if signalTreeOnce(self, sig, signalled) == 0 {
			return
		}
	}
}

// signalTreeOnce scans the descendants of self once and sends sig to each
// live one not in signalled yet, parents first; it reports how many it
// found new.
func signalTreeOnce(self int, sig syscall.Signal, signalled map[int]bool) int {
	all, ok := processes()
	if !ok {
		return 0
	}
	children := make(map[int][]int)
	for _, st := range all {
		if st.live() {
			children[st.ppid] = append(children[st.ppid], st.pid)
		}
	}
	// Parents before their children: the command gets the signal before
	// its children, so it cannot see a child die of it first and exit on
	// its own (a shell's plain wait then returns 0), which would make the
	// run's status depend on the order of delivery.
	tree := make(map[int]bool)
	var order []int
	next := children[self]
	for len(next) > 0 {
		pid := next[len(next)-1]
		next = next[:len(next)-1]
		if !tree[pid] {
			tree[pid] = true
			order = append(order, pid)
			next = append(next, children[pid]...)
		}
	}
	found := 0
	for _, pid := range order {
		if signalled[pid] {
			continue
		}
		signalled[pid] = true
		found++
		p, err := os.FindProcess(pid) // a pidfd: it names this process until closed
		if err != nil {
			continue
		}
		// Checked after the pidfd was opened: if pid is still a child of
		// the tree, the pidfd is that process; if the process has gone, the
		// signal fails.
		if st, ok := readProcStat(strconv.Itoa(pid)); ok && st.live() && (st.ppid == self || tree[st.ppid]) {
			_ = p.Signal(sig)
		}
		_ = p.Release()
	}
	return found
}

// sigaction is the kernel's struct sigaction on amd64 and arm64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// mirrorSignal ends the supervisor by sig, with the default action, as the
// command ended, without a core dump. It returns if sig did not end it.
func mirrorSignal(sig syscall.Signal) {
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	runtime.LockOSThread()
	if sig != syscall.SIGKILL && sig != syscall.SIGSTOP {
		signal.Reset()
		var dfl sigaction // SIG_DFL
		_, _, _ = syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
		set := uint64(1) << (sig - 1)
		_, _, _ = syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, 1 /* SIG_UNBLOCK */, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	}
	_ = syscall.Tgkill(os.Getpid(), syscall.Gettid(), sig)
	time.Sleep(100 * time.Millisecond) // the signal is delivered on return to user space; this is slack
}
