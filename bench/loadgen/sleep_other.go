//go:build !linux

package loadgen

import "time"

// sleeper waits the last stretch before a paced call's time (see sleep_linux.go; elsewhere the runtime's timer).
type sleeper struct{}

func newSleeper() *sleeper { return &sleeper{} }

func (*sleeper) sleep(d time.Duration) { time.Sleep(d) }

func (*sleeper) close() {}
