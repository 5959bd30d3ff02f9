package app

import (
	"math"
	"os"
	"runtime/debug"

	"github.com/mcpwatch/mcpwatch/tui"
)

// MemRoom is what a session holds beside its store's byte bound, at most: the analysis' window (5–25 MB), the
// TUI's rows (at most 100,000, about 20 MB with their texts), the exchanges in flight, the embedded server's event
// store for resumable streams (up to 10 MiB), the runtime's own, and the collector's least room to work in.
const MemRoom = 96 << 20

// LimitMemory sets the Go runtime's soft memory limit to the store's byte bound plus MemRoom, unless the user set
// GOMEMLIMIT, which then stands; it returns the function that restores the limit it replaced. With GOGC's 100 alone
// the heap grows to twice what is live before a collection, so a store full at its bound (pointer-free records,
// cheap to mark) doubled the process's resident memory: a proxy after 1,000,000 exchanges would pass 256 MiB. With
// the limit the collector runs earlier once the heap nears it, and only then.
func LimitMemory(storeBytes int64) (restore func()) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set || storeBytes <= 0 {
		return func() {}
	}
	limit := int64(math.MaxInt64)
	if storeBytes < math.MaxInt64-MemRoom {
		limit = storeBytes + MemRoom
	}
	old := debug.SetMemoryLimit(limit)
	return func() { debug.SetMemoryLimit(old) }
}

// TUIRows is the TUI's own window (tui.MaxRows): it lists the newest TUIRows exchanges the store holds.
const TUIRows = tui.MaxRows
