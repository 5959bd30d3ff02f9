package loadgen

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sleeper waits the last stretch before a paced call's time. On Linux it is a timerfd read through the runtime's
// network poller: the kernel wakes it within its timer slack (50 µs), and no thread holds the process's only P
// while it waits (the load generator runs pinned to one CPU, GOMAXPROCS 1). The runtime's own timers wake a
// sleeper through a poller that counts in milliseconds (0.5 ms late at the median, a whole interval at 1,000
// calls per second); a nanosleep in a system call is precise but keeps the P from the clients until the runtime
// takes it back (0.2 ms at the median, measured: every answer waited as long).
type sleeper struct {
	f *os.File // the timerfd; nil: time.Sleep
}

func newSleeper() *sleeper {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return &sleeper{}
	}
	return &sleeper{f: os.NewFile(uintptr(fd), "timerfd")}
}

// sleep waits d. The read of the timerfd also has a deadline at the same time: a runtime timer, which the
// scheduler checks every time it switches goroutines and which then runs the sleeper next. The timerfd wakes an
// idle process on time (the poller's own wait counts in milliseconds); the deadline wakes a busy one, whose
// scheduler looks at the poller only once its run queue is empty (or every 10 ms, from the runtime's monitor):
// beside goroutines that keep the only P busy, the timerfd alone released calls 5 ms late at the median
// (TestScheduleKeptBesideBusyGoroutines). Whichever comes first ends the wait.
func (s *sleeper) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	if s.f != nil {
		at := time.Now().Add(d)
		spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
		if unix.TimerfdSettime(int(s.f.Fd()), 0, &spec, nil) == nil && s.f.SetReadDeadline(at) == nil {
			var buf [8]byte // the number of expirations; setting the timer again resets it
			_, err := s.f.Read(buf[:])
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		}
	}
	time.Sleep(d)
}

func (s *sleeper) close() {
	if s.f != nil {
		s.f.Close()
	}
}
