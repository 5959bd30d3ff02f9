package loadgen

import (
	"syscall"
	"time"
)

// preciseSleep sleeps d in the kernel (nanosleep; its default timer slack is 50 µs): the runtime's own timers, on
// an idle process, wake through a poller that counts in milliseconds.
func preciseSleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
