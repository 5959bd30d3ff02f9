//go:build !linux

package testkit

import "time"

// ThreadCPU is the CPU time the calling OS thread has used so far where the platform tells it; here it does not.
func ThreadCPU() (time.Duration, bool) { return 0, false }
