package recorder

import (
	"syscall"
	"time"
	"unsafe"
)

// processCPU is the CPU time of the process (CLOCK_PROCESS_CPUTIME_ID): what a window of work cost in CPU,
// whatever else ran on the machine meanwhile, when the process runs on one CPU.
func processCPU() time.Duration {
	var ts syscall.Timespec
	const clockProcessCPUTime = 2
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockProcessCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}
