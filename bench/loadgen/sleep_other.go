//go:build !linux

package loadgen

import "time"

// preciseSleep sleeps d (see sleep_linux.go; elsewhere the runtime's timer).
func preciseSleep(d time.Duration) { time.Sleep(d) }
