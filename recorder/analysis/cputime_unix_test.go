//go:build unix

package analysis

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used (user and system), which a busy machine does not inflate as
// it inflates wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
