package app

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The GC's pacing for a running serve or proxy. With GOGC=100 the runtime lets the heap grow by as much as is live
// (at least to its 4 MiB floor) before the next collection, and each collection marks the whole live heap: a
// process whose live heap is a few MiB marks a byte for every byte it allocates. The go-sdk alone (script/bench's
// peer) lives on 1 MiB and rides the floor: it marks a third of a byte per byte allocated. serve's live heap is
// 3–12 MiB even with recording off (the legacy era's event store keeps up to 10 MiB of events for resumable
// streams; the router, templates and the analysis a little more), and a tools/call allocates ~280 KB (the SDK's
// 32 KiB decoder buffers): the GC then ran every ~10 calls and cost serve ~half of its extra CPU per call over the
// SDK. PaceGC keeps at least gcRoom of room between collections while the live heap is small, and GOGC's 100
// once it is large (gcRoom or more), where peak RSS matters (the store of a long proxy session): the price is at
// most gcRoom more heap, and none for a large one.
const (
	gcRoom      = 32 << 20        // the least the heap may grow between collections
	gcPaceEvery = 2 * time.Second // how often the live heap is read
	gcPercent   = 100             // GOGC's default, the least PaceGC sets
)

// gcPercentFor is the GOGC that gives a live heap of live bytes gcRoom of room, never below gcPercent. A live heap
// under 1 MiB (0: no collection yet) counts as 1 MiB, so that GOGC stays within 100 × gcRoom / 1 MiB.
func gcPercentFor(live uint64) int {
	if live >= gcRoom {
		return gcPercent
	}
	return max(gcPercent, int(gcRoom*100/max(live, 1<<20)))
}

// PaceGC sets GOGC from the live heap now and every gcPaceEvery until ctx ends (gcPercentFor), unless the user set
// GOGC, which then stands. serve and proxy call it; it sets the process's GC, so tests and libraries do not.
func PaceGC(ctx context.Context) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	last := -1
	pace := func() {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		if p := gcPercentFor(sample[0].Value.Uint64()); p != last {
			debug.SetGCPercent(p)
			last = p
		}
	}
	pace()
	go func() {
		t := time.NewTicker(gcPaceEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				pace()
			}
		}
	}()
}
