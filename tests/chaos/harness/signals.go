package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// child returns the command of a child process of the harness: in its own
// process group (a terminal's Ctrl-C reaches only the harness, which
// cleans up), and SIGKILLed if the harness dies first.
func child(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// sigkill sends SIGKILL to cmd's process and waits (up to 10s) for exited
// to close, which must happen after cmd.Wait returned. It returns nil when
// the process died of that SIGKILL, else what went wrong.
func sigkill(cmd *exec.Cmd, exited <-chan struct{}) error {
	err := cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("process did not exit within 10s of SIGKILL (signal error %v)", err)
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err != nil || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return fmt.Errorf("exit: %v (signal error %v)", cmd.ProcessState, err)
	}
	return nil
}

// sigstop sends SIGSTOP to p and waits (up to 1s) until /proc shows it
// stopped. It returns nil when it saw it stopped.
func sigstop(p *os.Process) error {
	err := p.Signal(syscall.SIGSTOP)
	for i := 0; err == nil && i < 200; i++ {
		if ProcState(p.Pid) == "T" {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("process not seen stopped (state %q, signal error %v)", ProcState(p.Pid), err)
}

// ProcState reads the state letter of a process from /proc: "R"
// running, "S" sleeping, "T" stopped...; "" when it cannot.
func ProcState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// pid (comm) state ...: comm may hold spaces, so cut after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return ""
	}
	return string(b[i+2])
}
