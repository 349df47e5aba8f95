package distcron

import (
	"syscall"
	"time"
)

// sleepPrecisely sleeps d in one nanosleep system call: the kernel's
// high-resolution timer wakes the thread within tens of microseconds. The
// goroutine holds its thread meanwhile; it is used only for the last
// finalApproach before a run's instant.
func sleepPrecisely(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for {
		var rem syscall.Timespec
		if err := syscall.Nanosleep(&ts, &rem); err != syscall.EINTR {
			return
		}
		ts = rem
	}
}
