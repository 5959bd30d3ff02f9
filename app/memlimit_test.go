package app

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestLimitMemory: a session sets the runtime's soft memory limit to its store's byte bound plus MemRoom, so that
// the heap of a full store does not double before a collection (GOGC's 100 alone), and restores it after; a
// GOMEMLIMIT the user set stands.
func TestLimitMemory(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	restore := LimitMemory(128 << 20)
	if got := debug.SetMemoryLimit(-1); got != 128<<20+MemRoom {
		t.Errorf("limit %d, want the store's bound plus %d", got, MemRoom)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("not restored: %d, was %d", got, before)
	}
	if LimitMemory(math.MaxInt64)(); debug.SetMemoryLimit(-1) != before {
		t.Error("a bound without a limit changed it")
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	LimitMemory(128 << 20)
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("GOMEMLIMIT set, the limit changed to %d", got)
	}
}
