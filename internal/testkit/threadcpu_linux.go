package testkit

import (
	"time"

	"golang.org/x/sys/unix"
)

// ThreadCPU is the CPU time the calling OS thread has used so far, and whether the platform tells it. A test that
// compares the cost of two sizes of input times each with it, its goroutine locked to its thread
// (runtime.LockOSThread): unlike wall time, it does not grow while the thread waits for a core on a busy machine.
func ThreadCPU() (time.Duration, bool) {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
