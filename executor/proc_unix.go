//go:build unix

package executor

import (
	"errors"
	"os"
	"syscall"
)

// newProcessGroup makes the child the leader of a new process group, whose
// id is the child's pid.
func newProcessGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends sig to every process in the group led by p. Errors are
// ignored: ESRCH means nobody is left.
func signalGroup(p *os.Process, sig syscall.Signal) {
	_ = syscall.Kill(-p.Pid, sig)
}

// groupExists reports whether the group led by p has a member, counting
// zombies.
func groupExists(p *os.Process) bool {
	return !errors.Is(syscall.Kill(-p.Pid, 0), syscall.ESRCH)
}
