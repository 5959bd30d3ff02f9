package app

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
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
// most gcRoom more heap, and none for a large one. gcRoom was 32 MiB; with recording, serve's live heap is 25–45
// MiB (the analysis' window, the store), each collection marks it for 2–7 ms of CPU, and 64 MiB halved the
// collections: per 1,000 session setups 10.1 → 5.6, CPU a setup 354 → 309 µs; per 1,000 legacy tools/calls 8.7 →
// 4.3, 199 → 190 µs (three alternating rounds each, serve on its own CPU; docs/benchmarks.md), for 25–35 MiB more
// peak RSS. It stays inside app.MemRoom, the room the soft memory limit leaves beside the store's bound.
const (
	gcRoom    = 64 << 20 // the least the heap may grow between collections
	gcPercent = 100      // GOGC's default, the least PaceGC sets
)

// gcPercentFor is the GOGC that gives a live heap of live bytes gcRoom of room, never below gcPercent. A live heap
// under 1 MiB (0: no collection yet) counts as 1 MiB, so that GOGC stays within 100 × gcRoom / 1 MiB.
func gcPercentFor(live uint64) int {
	if live >= gcRoom {
		return gcPercent
	}
	return max(gcPercent, int(gcRoom*100/max(live, 1<<20)))
}

// PaceGC sets GOGC from the live heap now and again after every collection (gcPercentFor), until ctx ends,
// unless the user set GOGC, which then stands. It is set after each collection, from the live heap that
// collection measured, so that the next one comes gcRoom later: set on a clock instead, a GOGC computed for a
// small heap outlived the heap's growth (a reading of 1 MiB, then 10 MiB live at 3,200%: a 330 MiB goal; an 8 s
// run of serve peaked at 97 MiB RSS against 31 before). serve calls it; it sets the process's GC, so tests and
// libraries do not. proxy does not: with it, a stream's first event through the proxy was slower (p50 ÷ the bare
// ReverseProxy's 1.27–1.34 against 1.12–1.27 without, four alternating pairs of script/bench --only sse), the
// heap's room touching fresh memory, and its recording heap soon passes gcRoom anyway.
func PaceGC(ctx context.Context) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	p := &gcPacer{ctx: ctx, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	p.pace()
	p.arm()
}

// gcPacer runs after every collection: a finalizer on an object nothing refers to runs once the collection that
// found it unreachable is done, and re-setting it makes it run after the next one.
type gcPacer struct {
	ctx    context.Context
	sample []metrics.Sample
}

func (p *gcPacer) arm() {
	runtime.SetFinalizer(&gcSentinel{p: p}, func(s *gcSentinel) {
		if s.p.ctx.Err() != nil {
			return
		}
		s.p.pace()
		s.p.arm()
	})
}

// gcSentinel is the object whose finalizer runs after a collection; it refers to the pacer, which stays. It holds
// a pointer, so it is not a tiny allocation (those share a block, and their finalizers may never run).
type gcSentinel struct{ p *gcPacer }

func (p *gcPacer) pace() {
	metrics.Read(p.sample)
	if p.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	debug.SetGCPercent(gcPercentFor(p.sample[0].Value.Uint64())) // once a collection: cheap
}
