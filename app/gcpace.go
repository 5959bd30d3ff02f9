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
// SDK. PaceGC lets the heap grow to at least gcGoal before a collection while the live heap is small, and keeps
// GOGC's 100 once it is large (gcGoal ÷ 2 or more), where peak RSS matters (the store of a long proxy session): the
// heap's peak is then max(gcGoal, twice the live heap) — twice the live heap is GOGC's own — and the soft memory
// limit (LimitMemory: the store's bound and MemRoom) stays the ceiling above both.
//
// It was a room (the least the heap grows between collections), 32 then 64 MiB: 64 MiB halved the collections of
// 32 (per 1,000 session setups 10.1 → 5.6, CPU a setup 354 → 309 µs; per 1,000 legacy tools/calls 8.7 → 4.3, 199 →
// 190 µs; docs/benchmarks.md). A legacy tools/call allocates ~270 KB whatever is recorded (the SDK's 32 KiB decoder
// buffers) and each collection costs serve ~1.5 ms of CPU (mark, assists, sweep) at a live heap of 10–90 MiB, most
// of it not the live heap's size (its slabs hold no pointers) but the runtime's fixed work: with 64 MiB of room the
// collector still ran ~4.5 times per 1,000 calls, 8–11 µs of mark CPU a call. A goal of 160 MiB (~150 MiB of room
// at serve's 10 MiB) makes that ~1.8 per 1,000 (docs/benchmarks-store.md, "serve's allocations and the collector,
// round seven"), for a peak RSS of ~200 MiB rather than ~130; a live heap of 80 MiB or more is paced as before, so
// the peak RSS of a store near its bound does not move.
const (
	gcGoal    = 160 << 20 // the heap's least goal: the next collection comes when the heap reaches it
	gcPercent = 100       // GOGC's default, the least PaceGC sets
	// gcHeapMinimum is the runtime's least heap goal at GOGC=100 (its defaultHeapMinimum); at any GOGC the least
	// goal is gcHeapMinimum × GOGC/100, at every collection
	gcHeapMinimum = 4 << 20
	gcPercentMax  = gcGoal * 100 / gcHeapMinimum // 4,000: the GOGC whose least goal is gcGoal
)

// gcPercentFor is the GOGC whose goal for a live heap of live bytes, beside roots bytes of goroutine stacks and
// globals, is gcGoal, never below gcPercent. The runtime's goal is live + (live + roots) × GOGC/100: the roots count
// too, and at a small live heap's large GOGC they would move the goal by tens of MiB (half a MiB of them at 2 MiB
// live: a goal of 200 MiB for 160). It is never less than the runtime's heap minimum, 4 MiB × GOGC/100, either: so
// GOGC stays within gcPercentMax, which for a live heap and roots under ~4 MiB puts the goal at gcGoal through the
// minimum (without it 253 MiB at 2 MiB live and half a MiB of roots, 636 MiB at 1 MiB: TestPaceGCGoalAtASmallHeap).
// A live heap under 1 MiB (0: no collection yet) counts as 1 MiB.
func gcPercentFor(live, roots uint64) int {
	live = max(live, 1<<20)
	if live >= gcGoal/2 {
		return gcPercent
	}
	return max(gcPercent, min(gcPercentMax, int((gcGoal-live)*100/(live+roots))))
}

// PaceGC sets GOGC from the live heap now and again after every collection (gcPercentFor), until ctx ends,
// unless the user set GOGC, which then stands. It is set after each collection, from the live heap that
// collection measured, so that the next one comes at gcGoal: set on a clock instead, a GOGC computed for a
// small heap outlived the heap's growth (a reading of 1 MiB, then 10 MiB live at 3,200%: a 330 MiB goal; an 8 s
// run of serve peaked at 97 MiB RSS against 31 before). serve calls it; it sets the process's GC, so tests and
// libraries do not. proxy does not: with it, a stream's first event through the proxy was slower (p50 ÷ the bare
// ReverseProxy's 1.27–1.34 against 1.12–1.27 without, four alternating pairs of script/bench --only sse), the
// heap's room touching fresh memory, and its recording heap soon passes gcGoal ÷ 2 anyway.
func PaceGC(ctx context.Context) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	p := &gcPacer{ctx: ctx, sample: []metrics.Sample{
		{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}}
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
	var v [3]uint64
	for i, s := range p.sample {
		if s.Value.Kind() != metrics.KindUint64 {
			return
		}
		v[i] = s.Value.Uint64()
	}
	debug.SetGCPercent(gcPercentFor(v[0], v[1]+v[2])) // once a collection: cheap
}
