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

// procStat is what the kernel says of one process in /proc/<pid>/stat.
type procStat struct {
	pid, ppid, pgrp int
	state           byte
}

func (st procStat) live() bool { return st.state != 'Z' && st.state != 'X' }

// readProcStat reads /proc/<name>/stat; false means the process is gone.
func readProcStat(name string) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + name + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) == 0 {
		return procStat{}, false
	}
	pid, err1 := strconv.Atoi(string(bytes.TrimSpace(b[:bytes.IndexByte(b, ' ')+1])))
	ppid, err2 := strconv.Atoi(string(f[1]))
	pgrp, err3 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, false
	}
	return procStat{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0][0]}, true
}

// processes returns every process in /proc, or false when /proc cannot be
// read.
func processes() ([]procStat, bool) {
	dir, err := os.Open("/proc")
	if err != nil {
		return nil, false
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, false
	}
	out := make([]procStat, 0, len(names))
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		if st, ok := readProcStat(name); ok { // else gone meanwhile
			out = append(out, st)
		}
	}
	return out, true
}

// groupAlive reports whether the group led by p has a member that is not a
// zombie. kill(-pgid, 0) counts zombies (the unreaped leader, orphans that
// init has not reaped yet), so when it finds a member, /proc decides.
func groupAlive(p *os.Process) bool {
	if !groupExists(p) {
		return false
	}
	all, ok := processes()
	if !ok {
		return true
	}
	for _, st := range all {
		if st.pgrp == p.Pid && st.live() {
			return true
		}
	}
	return false
}
