//go:build !unix

package executor

import (
	"errors"
	"os"
	"syscall"
)

// Without process groups only the main process can be stopped, and only
// with Kill.

func newProcessGroup() *syscall.SysProcAttr { return nil }

func signalGroup(p *os.Process, _ syscall.Signal) { _ = p.Kill() }

func waitExited(*os.Process) error { return errors.ErrUnsupported }

func groupAlive(*os.Process) bool { return false }
