package app

import (
	"context"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

// gcPercentFor sets a small live heap's goal at gcGoal and leaves a large one at GOGC=100, so that peak RSS of a
// large heap (a long proxy session's store) does not change.
func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live, roots uint64
		want        int
	}{
		{0, 0, 4000}, // no collection yet: as 1 MiB; the runtime's heap minimum (4 MiB × 40) is the goal
		{1 << 10, 0, 4000},
		{1 << 20, 0, 4000},          // the go-sdk alone's live heap: a goal of 160 MiB (15,900 made it 636 MiB)
		{2 << 20, 512 << 10, 4000},  // serve recording off: 6,320 by the roots, a 253 MiB goal through the minimum
		{4 << 20, 512 << 10, 3466},  // the roots count (3,900 without them: a 180 MiB goal)
		{10 << 20, 0, 1500},         // serve recording legacy tools/calls: the store, the analysis' window, the event store
		{10 << 20, 512 << 10, 1428}, //
		{64 << 20, 0, 150},          // serve recording session setups for a while
		{gcGoal/2 - 1, 0, 100},      // rounds down, never below 100
		{gcGoal / 2, 0, 100},        //
		{200 << 20, 1 << 20, 100},   // a store of a million exchanges: GOGC's default
		{1 << 40, 0, 100},           //
	} {
		if got := gcPercentFor(c.live, c.roots); got != c.want {
			t.Errorf("gcPercentFor(%d, %d) = %d, want %d", c.live, c.roots, got, c.want)
		}
	}
}

// PaceGC sets the process's GOGC from its live heap (a test binary's is far below gcGoal), and leaves a GOGC the
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
		t.Errorf("GC percent %d after PaceGC with a small live heap; want more than 100 (a goal of gcGoal)", p)
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

// Under a fixed load — a live heap of 10 MiB (serve's, recording legacy tools/calls) and 512 MiB allocated in 32 KiB
// buffers (the SDK's decoder buffers, ~270 KB a call: some 2,000 calls) — the paced collector runs about 512 ÷ 150
// times. With 64 MiB of room between collections (the pacing before) it ran 7 times.
func TestPaceGCCollectionsPerAllocation(t *testing.T) {
	unsetenv(t, "GOGC")
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	live := make([]byte, 10<<20)
	PaceGC(ctx)
	runtime.GC()
	deadline := time.Now().Add(5 * time.Second)
	for p := debug.SetGCPercent(-1); ; p = debug.SetGCPercent(-1) {
		debug.SetGCPercent(p) // read it: the pacer sets it after a collection, on the finalizers' goroutine
		if (p > gcPercent && p <= gcPercentFor(uint64(len(live)), 0)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gc0 := ms.NumGC
	for range (512 << 20) / (32 << 10) {
		sink = make([]byte, 32<<10)
	}
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(live)
	if n := ms.NumGC - gc0; n > 5 {
		t.Errorf("%d collections for 512 MiB allocated beside a live heap of 10 MiB; want at most 5 (a goal of %d MiB)", n, gcGoal>>20)
	} else {
		t.Logf("%d collections for 512 MiB allocated beside a live heap of 10 MiB", n)
	}
}

var sink []byte

// The heap's goal for a small live heap is gcGoal, as the runtime computes it: besides live + (live + roots) ×
// GOGC/100 the runtime keeps a least goal of 4 MiB × GOGC/100 (its heap minimum, at every collection), which a
// GOGC raised for a live heap under ~4 MiB would put far above gcGoal (at 2 MiB live, GOGC 6,320: 253 MiB; at 1 MiB,
// 15,900: 636 MiB), bounded then only by the soft memory limit. The test binary's live heap is such a small one.
func TestPaceGCGoalAtASmallHeap(t *testing.T) {
	unsetenv(t, "GOGC")
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	oldLimit := debug.SetMemoryLimit(math.MaxInt64) // the goal alone, not the soft limit's
	t.Cleanup(func() { debug.SetMemoryLimit(oldLimit) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	PaceGC(ctx)
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}}
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the pacer runs on the finalizers' goroutine after the collection
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		metrics.Read(s)
		live := s[0].Value.Uint64()
		if p > gcPercent || time.Now().After(deadline) {
			if live >= gcGoal/2 {
				t.Fatalf("the test binary's live heap is %d MiB: not a small one, the test checks nothing", live>>20)
			}
			t.Logf("live heap %.1f MiB, GOGC %d, goal %.1f MiB", float64(live)/(1<<20), p, float64(s[1].Value.Uint64())/(1<<20))
			if goal := s[1].Value.Uint64(); goal > gcGoal+gcGoal/20 {
				t.Errorf("the heap's goal is %d MiB at a live heap of %.1f MiB; want about %d MiB (gcGoal)", goal>>20, float64(live)/(1<<20), gcGoal>>20)
			}
			return
		}
	}
}
