package executor

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

const _P_PID = 1 // idtype_t for waitid

// waitExited blocks until the child p has exited, leaving it unreaped
// (WNOWAIT), as os.Process.Wait does internally. While the child is a
// zombie its pid, which is also its process group id, cannot be reused. An
// error means the caller must reap the child to learn that it exited.
func waitExited(p *os.Process) error {
	var info [16]uint64 // siginfo_t: 128 bytes
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, _P_PID, uintptr(p.Pid),
			uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		default:
			return errno
		}
	}
}

// groupAlive reports whether the group led by p has a member that is not a
// zombie. kill(-pgid, 0) counts zombies (the unreaped leader, orphans that
// init has not reaped yet), so when it finds a member, /proc decides.
func groupAlive(p *os.Process) bool {
	if !groupExists(p) {
		return false
	}
	dir, err := os.Open("/proc")
	if err != nil {
		return true
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return true
	}
	pgid := strconv.Itoa(p.Pid)
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 3 || string(f[2]) != pgid {
			continue
		}
		if state := f[0][0]; state != 'Z' && state != 'X' {
			return true
		}
	}
	return false
}
