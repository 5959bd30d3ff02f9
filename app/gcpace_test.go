package app

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// gcPercentFor gives a small live heap gcRoom of room between collections and leaves a large one at GOGC=100, so
// that peak RSS of a large heap (a long proxy session's store) does not change.
func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 6400}, // no collection yet: as 1 MiB
		{1 << 10, 6400},
		{1 << 20, 6400},   // the go-sdk alone's live heap: 64 MiB of room
		{8 << 20, 800},    // serve with recording off, its event store full
		{32 << 20, 200},   // serve recording session setups: the analysis' window and the store
		{gcRoom - 1, 100}, // rounds down, never below 100
		{gcRoom, 100},     //
		{200 << 20, 100},  // a store of a million exchanges: GOGC's default
		{1 << 40, 100},    //
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}

// PaceGC sets the process's GOGC from its live heap (a test binary's is far below gcRoom), and leaves a GOGC the
// user set alone.
func TestPaceGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	t.Setenv("GOGC", "100")
	PaceGC(ctx)
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("with GOGC set, PaceGC changed the GC percent to %d", p)
	}

	unsetenv(t, "GOGC")
	PaceGC(ctx)
	if p := debug.SetGCPercent(100); p <= 100 {
		t.Errorf("GC percent %d after PaceGC with a small live heap; want more than 100 (gcRoom of room)", p)
	}
	// After every collection the pacer sets it again, from the live heap that collection measured.
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the finalizer runs on its own goroutine after the collection
		if p := debug.SetGCPercent(100); p > 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("after collections the GC percent stayed 100: the pacer does not run after a collection")
		}
	}
	// Once ctx ends, it stops.
	cancel()
	runtime.GC()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	debug.SetGCPercent(100)
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GC percent %d after ctx ended: the pacer still runs", p)
	}
}

// unsetenv unsets name for the test (t.Setenv restores it after).
func unsetenv(t *testing.T, name string) {
	t.Setenv(name, "")
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}
