package recorder

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// UpdateKind says what happened to an exchange.
type UpdateKind int

const (
	// Began: the request arrived (headers only).
	Began UpdateKind = iota
	// Changed: the response started, or a streaming response received an event.
	Changed
	// Completed: the exchange ended; this is its final form.
	Completed
	// Cleared: the store was emptied (Exchange is nil).
	Cleared
)

// Update is what subscribers receive. Exchange is an immutable snapshot: never modify it.
type Update struct {
	Kind     UpdateKind
	Exchange *Exchange
}

// StoreOptions bound the in-memory ring.
type StoreOptions struct {
	MaxCount int   // default DefaultStoreMaxCount
	MaxBytes int64 // default DefaultStoreMaxBytes (mcpwatch --max-memory)
	// PublishDelay is how long after the first of them the updates recorded on the HTTP path (an exchange begun,
	// completed) reach the subscribers, all those that came meanwhile together, in order (default
	// DefaultPublishDelay; negative: at once). Handing an update to a subscriber wakes its goroutine, which then
	// runs as soon as the recording goroutine waits: before a proxy read its upstream's answer, or the client's
	// next request (the first event of the next stream waited for the analysis, the printer and the capture
	// writer: docs/benchmarks-store.md, "Subscribers off the path"). Updates published off the path (an event
	// stream's progress, by the recorder's late queue) go at once after each run of it, with those pending before
	// them. While a request is on its way (see Store.onPath) the timer puts the handover off, by PublishDelay at a
	// time and at most maxPutOff times in a row.
	PublishDelay time.Duration
}

// The store's default bounds: past either, the oldest exchanges are forgotten (Stats().Evicted counts them; the
// capture file keeps every one). With a capture file the bodies of the oldest are let go first (spilled to their
// lines), so 128 MiB holds some 500,000–600,000 of `proxy`'s tools/call exchanges (about 220–270 B counted each,
// docs/benchmarks-store.md) where it holds about 300,000 with their bodies (431–471 B counted each) — 77,850 by the
// estimate of 2026-12-02 (1,724 B each); the byte
// bound is the one reached first in practice, and it is chosen so that `proxy`'s peak RSS after 1,000,000
// recorded exchanges stays within 256 MiB (with app.LimitMemory: docs/budget.md).
const (
	DefaultStoreMaxCount = 1_000_000
	DefaultStoreMaxBytes = 128 << 20
)

// DefaultPublishDelay is StoreOptions.PublishDelay's default: what the TUI shows is at most this late, or
// (1+maxPutOff) times this while requests are on their way.
const DefaultPublishDelay = 2 * time.Millisecond

// maxPendingUpdates bounds the updates waiting for the publication timer: past it they are handed over at once
// (a busy store wakes its subscribers once per this many updates rather than once per delay).
const maxPendingUpdates = 1024

// maxPutOff is how many times in a row the publication timer (and the capture writer's gathering) is put off while
// a request is on its way: what subscribers see is at most (1+maxPutOff)×PublishDelay late (10 ms by default).
const maxPutOff = 4

// Store is a bounded in-memory ring of exchanges, in arrival order, with subscribers that never block the
// HTTP path: a subscriber that does not keep up loses updates, and the loss is counted. Subscribers receive the
// updates by a timer, StoreOptions.PublishDelay after the first of a group, so that none is woken on the HTTP path.
//
// A completed exchange is kept packed (pack.go): a fixed-size, pointer-free record in a chunked array (chunks
// allocated and dropped whole, oldest first), its variable parts in pointer-free slabs. A pending or streaming
// exchange stays an *Exchange (the live map) until it completes. Get and Snapshot materialise *Exchanges equal to
// what was recorded.
//
// Bounds: the count bound counts every exchange held; the byte bound (--max-memory) counts what the store really
// holds — its chunks (whole), its slabs (whole, while any record refers to them) and the live exchanges' Size —
// and eviction, oldest first, drops a chunk when its last record goes and a slab when the last record referring
// to it goes. With a capture file, the store at its bound first lets go of the bodies its oldest records hold in
// memory once their lines are written (spillOldest: the bodies are read back from the line), and forgets whole
// records only when none is left to spill. Sharing refers only to the last two slabs of small parts (and to a large part's own slab), so a
// record keeps at most two slabs alive besides its own parts; the caches of shared parts are fixed-size tables.
type Store struct {
	mu       sync.Mutex
	opts     StoreOptions
	chunks   [][]packed // chunks[0][0] is the record of id base
	chunkLen int
	base     uint64
	first    uint64 // the oldest id held; ids first..nextID-1 are held
	live     map[uint64]*Exchange
	// lazy holds the exchanges in flight begun without a snapshot (beginLazy): read (Peek, SnapshotLast) by
	// snapshotting their live exchange then, each counted at its begin's Size until it is updated or completes
	lazy     map[uint64]lazyLive
	pk       *packer
	bytes    int64 // chunks + live exchanges' Size (the slabs' are pk.bytes)
	nextID   uint64
	evicted  uint64
	subs     map[*Subscription]struct{}
	began    int // subscribers that take Began updates (not SubscribeOptions.NoBegan)
	onFinish []func(*Exchange)
	// the capture file the bodies of at least bodyMin bytes are kept in once written (UseCapture; bodies.go), and
	// where each such body is: key id<<1 | side (0 request, 1 response)
	file    *CaptureFile
	bodyMin int
	inFile  map[uint64]fileLoc
	spill   uint64      // the oldest id whose bodies may still be in memory (spillOldest)
	pending []Update    // updates not yet handed to the subscribers (see StoreOptions.PublishDelay)
	wake    *time.Timer // hands them over (nil until the first)
	armed   bool        // wake is running
	putOff  int         // times in a row wake found a request on its way and put the handover off
	// onPath counts the requests on their way through the recorder's middleware: begun, and neither flushed
	// nor finished (live.answered). While one is, the deferred work of the exchanges before it — the handover to
	// the subscribers (the analysis, the printer, the TUI) and the capture writer's encoding and write — waits
	// (maxPutOff at most), rather than run, on the servers' core, between that request and the first bytes of its
	// answer: a first event that came later than PublishDelay after the previous stream's end (a busy machine, a
	// slow client) waited for all of it (docs/benchmarks-store.md, "round five").
	onPath atomic.Int64
	// completions counts the store calls that completed records (completeFrom, completePair: tests)
	completions uint64
}

// lazyLive is an exchange in flight the store snapshots when it is read (Store.lazy).
type lazyLive struct {
	l    *live
	size int64
}

// lazySnapshot is what the store's live entry for l's exchange, begun without a snapshot (Store.beginLazy), would
// be: a snapshot of it now, or once it ended the record it completed with (its live exchange then lacks the parts
// that were its client's: completeDerived). A snapshot now is not the begin snapshot a Began subscriber makes the
// store keep: once the answer has begun it has its status, headers and body so far (still pending), where the
// begin snapshot keeps the begin state until the exchange's first progress update (review19a).
func (l *live) lazySnapshot() *Exchange {
	l.mu.Lock()
	if pl := l.parent; pl != nil && l.derived {
		// an upstream copy derived from its client's exchange: a write of the client's held in its first event's
		// window (writeBodyInWindow) passes the piece this one read on first, as it would at the write (the
		// parent's lock first: derive.go)
		l.mu.Unlock()
		pl.mu.Lock()
		pl.cutHeld()
		pl.mu.Unlock()
		l.mu.Lock()
	}
	defer l.mu.Unlock()
	if l.ended {
		return l.final
	}
	l.cutHeld()
	return l.ex.snapshot()
}

// maxChunkLen is the most records of a chunk: 4,096 × 104 bytes = 416 KiB.
const maxChunkLen = 4096

// maxSlab is the size of a slab (a part larger than an eighth of it gets a slab of its own, exactly sized).
const maxSlab = 1 << 20

// NewStore returns an empty store.
func NewStore(opts StoreOptions) *Store {
	if opts.MaxCount <= 0 {
		opts.MaxCount = DefaultStoreMaxCount
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultStoreMaxBytes
	}
	if opts.PublishDelay == 0 {
		opts.PublishDelay = DefaultPublishDelay
	}
	// Chunks and slabs are at most a sixteenth of the byte bound, so that eviction frees memory in steps small
	// against it (and a small bound is not all taken by one chunk).
	recSize := int64(unsafe.Sizeof(packed{}))
	chunkLen := 1
	for chunkLen < maxChunkLen && chunkLen < opts.MaxCount && int64(chunkLen*2)*recSize <= opts.MaxBytes/16 {
		chunkLen *= 2
	}
	slabSize := int(min(maxSlab, max(256, opts.MaxBytes/16)))
	s := &Store{opts: opts, chunkLen: chunkLen, nextID: 1, base: 1, first: 1, live: map[uint64]*Exchange{},
		lazy: map[uint64]lazyLive{}, pk: newPacker(slabSize), subs: map[*Subscription]struct{}{}, inFile: map[uint64]fileLoc{}}
	return s
}

// Stats describe the store.
type Stats struct {
	Count   int
	Bytes   int64
	Evicted uint64 // exchanges pushed out by the bounds
	Total   uint64 // exchanges ever recorded
	Dropped uint64 // updates subscribers missed
}

// Stats returns the current counts.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Count: s.count(), Bytes: s.held(), Evicted: s.evicted, Total: s.nextID - 1}
	for sub := range s.subs {
		st.Dropped += sub.dropped.Load()
	}
	return st
}

func (s *Store) count() int  { return int(s.nextID - s.first) }
func (s *Store) held() int64 { return s.bytes + s.pk.bytes }
func (s *Store) chunkBytes() int64 {
	return int64(s.chunkLen) * int64(unsafe.Sizeof(packed{}))
}

// OnComplete registers f to be called (synchronously, on the HTTP path) with each completed exchange. f must not
// do IO or block: the capture file adds the record to its writer's pending group (waiting only when a bounded
// amount already waits behind a stalled disk).
func (s *Store) OnComplete(f func(*Exchange)) {
	s.mu.Lock()
	s.onFinish = append(s.onFinish, f)
	s.mu.Unlock()
}

// Add records an exchange that is already complete (loading a capture file, tests) and returns its id.
func (s *Store) Add(ex *Exchange) uint64 {
	c := *ex.WithBodies()
	c.lazy = nil
	c.State = StateComplete
	id := s.begin(&c) // sets c.ID under the lock; c is published from here on and must not be written
	s.complete(&c)    // c was published by begin: complete copies it
	return id
}

func (s *Store) begin(ex *Exchange) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ex.ID = s.nextID
	s.push(ex)
	s.broadcast(Update{Kind: Began, Exchange: ex})
	return ex.ID
}

// beginLazy begins l's exchange without a snapshot of it when nobody takes Began updates (--no-tui's printer and
// analysis hear of an exchange when it is answered): Get and Snapshot of it while it is in flight snapshot l then,
// under l's lock once the store's is let go (the recorder takes them in the other order). setup, called under the
// store's lock with the id, sets l.ex.ID (and what names it: the upstream copy's link notes) before anyone can read
// it. With subscribers that take Began updates it is begin, with l's snapshot.
func (s *Store) beginLazy(l *live, setup func(id uint64)) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID
	setup(id)
	if s.began > 0 {
		ex := l.ex.snapshot()
		s.push(ex)
		s.broadcast(Update{Kind: Began, Exchange: ex})
		return id
	}
	s.pushLazy(l, l.ex.Size())
	return id
}

func (s *Store) update(ex *Exchange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.live[ex.ID]; ok {
		s.bytes += ex.Size() - old.Size()
		s.live[ex.ID] = ex
		s.bound()
	} else if e, ok := s.lazy[ex.ID]; ok {
		delete(s.lazy, ex.ID) // snapshotted from here on
		s.bytes += ex.Size() - e.size
		s.live[ex.ID] = ex
		s.bound()
	} // else evicted while in flight; subscribers still hear of it
	s.broadcast(Update{Kind: Changed, Exchange: ex}) // the recorder's late queue hands it over (Publish) with its group
}

// complete packs ex, a completed exchange (the recorder's live exchange, its lock held: it is only read), and
// publishes a copy of it as the exchange's final form (completeOwned).
func (s *Store) complete(ex *Exchange) { s.completeFrom(ex, false) }

// completeOwned is complete for an exchange nobody else holds, published or writes (the upstream copy derived
// from its client's record): it is published as it is, not copied.
func (s *Store) completeOwned(ex *Exchange) { s.completeFrom(ex, true) }

// completeFrom packs ex and publishes the record as it was built — equal, field by field, to what Get
// materialises from the packed form (TestCompactKeepsTheRecord), so the subscribers hear what the store holds
// without it being read back from the slabs on the HTTP path. Its header lists go in the caches of materialised
// lists, so that Get gives the same lists. A record that lands in the store unpacked is kept as built.
func (s *Store) completeFrom(ex *Exchange, owned bool) {
	c := ex
	if !owned {
		c = ex.frozen() // before the lock: ex is only read
	}
	s.mu.Lock()
	s.completions++
	s.packLocked(c, nil, nil)
	s.bound()
	s.broadcast(Update{Kind: Completed, Exchange: c})
	fns := s.onFinish
	s.mu.Unlock()
	for _, f := range fns {
		f(c)
	}
}

// completePair completes an upstream copy derived from its client's exchange (derive.go) and that exchange in one
// store call: child, the copy's record built from parent's, and parent, the client's published copy, both owned
// (nobody else holds them). One lock, one bound, their Completed updates queued together — the copy first, as
// when each was its own call — and the OnComplete functions called for the copy, then the client's. The client's
// bodies and response headers that are the copy's (the same bytes: the same slice) are packed as references to
// the copy's parts in the slabs rather than hashed, compared and shared again (packer.pack's like).
func (s *Store) completePair(child, parent *Exchange) {
	s.mu.Lock()
	s.completions++
	cr := s.packLocked(child, nil, nil)
	s.packLocked(parent, cr, child)
	s.bound()
	s.broadcast(Update{Kind: Completed, Exchange: child})
	s.broadcast(Update{Kind: Completed, Exchange: parent})
	fns := s.onFinish
	s.mu.Unlock()
	for _, f := range fns {
		f(child)
		f(parent)
	}
}

// packLocked takes ex, completed, out of the live map and packs it (like, likeEx: a record packed just before whose
// parts ex may refer to, or nil), or keeps it as built when it cannot be packed. It returns the packed record, nil
// when ex is not packed. Callers hold s.mu.
func (s *Store) packLocked(ex *Exchange, like *packed, likeEx *Exchange) *packed {
	rec := s.rec(ex.ID)
	if rec != nil && rec.live {
		s.dropLive(ex.ID)
	}
	switch {
	case rec != nil && packRecords && packable(ex):
		s.pk.pack(rec, ex, s.bodyMin, like, likeEx)
		ex.memo = compactMemo(ex) // as Get's
		s.pk.remember(rec, ex)
		return rec
	case rec != nil:
		s.live[ex.ID] = ex // kept as built (BenchmarkStoreLiveHeap's as-built, or a Start in another location)
		s.bytes += ex.Size()
	} // else evicted while in flight; subscribers still hear of it
	return nil
}

// packRecords is on; BenchmarkStoreLiveHeap turns it off to measure the records as the recorder built them.
var packRecords = true

// rec returns the record of id, or nil when it is not held.
func (s *Store) rec(id uint64) *packed {
	if id < s.first || id >= s.nextID {
		return nil
	}
	i := id - s.base
	return &s.chunks[i/uint64(s.chunkLen)][i%uint64(s.chunkLen)]
}

func (s *Store) push(ex *Exchange) {
	id := s.pushRec()
	s.live[id] = ex
	s.bytes += ex.Size()
	s.bound()
}

// pushLazy is push for an exchange snapshotted when read (beginLazy), counted at size.
func (s *Store) pushLazy(l *live, size int64) {
	id := s.pushRec()
	s.lazy[id] = lazyLive{l: l, size: size}
	s.bytes += size
	s.bound()
}

// pushRec makes room for the next id's record, marked live, and returns the id.
func (s *Store) pushRec() uint64 {
	if s.count() >= s.opts.MaxCount {
		s.evictOldest()
	}
	id := s.nextID
	s.nextID++
	if i := id - s.base; i/uint64(s.chunkLen) == uint64(len(s.chunks)) {
		s.chunks = append(s.chunks, make([]packed, s.chunkLen))
		s.bytes += s.chunkBytes()
	}
	*s.rec(id) = packed{live: true}
	return id
}

// dropLive takes the exchange in flight id out of the live map (or the lazy one), and its bytes out of the count.
func (s *Store) dropLive(id uint64) {
	if ex, ok := s.live[id]; ok {
		s.bytes -= ex.Size()
		delete(s.live, id)
	} else if e, ok := s.lazy[id]; ok {
		s.bytes -= e.size
		delete(s.lazy, id)
	}
}

// bound lets go, while the store holds more bytes than its bound, first of the bodies in memory of the oldest
// records whose capture lines are written (spillOldest: with a capture file), then of the oldest exchanges whole
// (the newest is kept). Each record is spilled once and evicted once: amortised O(1) per record.
func (s *Store) bound() {
	for s.held() > s.opts.MaxBytes && s.count() > 1 {
		if !s.spillOldest() {
			s.evictOldest()
		}
	}
}

// spillOldest lets go of the bodies the oldest record not yet spilled holds in memory, its capture line being
// written: they become references to that line (refSpill), read back as the large bodies are (Store.Get,
// Exchange.WithBodies), and their slab goes with the last record referring to it (with a capture file the small
// bodies have slabs of their own: pack's split). Records in flight are passed over (they keep their bodies). It
// reports false when there is nothing to spill: no capture file, or the next record's line is not written yet.
func (s *Store) spillOldest() bool {
	if s.file == nil {
		return false
	}
	s.spill = max(s.spill, s.first)
	for ; s.spill < s.nextID; s.spill++ {
		rec := s.rec(s.spill)
		if rec.live {
			continue
		}
		if rec.line == 0 {
			return false
		}
		for side := range 2 {
			r := &rec.refs[partReqBody+side]
			if r.slab >= slabIDs && r.slab < refSpill {
				n := s.pk.partLen(*r)
				s.pk.releaseRef(*r)
				*r = ref{slab: refSpill, off: uint32(n)}
			}
		}
		s.spill++
		return true
	}
	return false
}

func (s *Store) evictOldest() {
	rec := s.rec(s.first)
	if rec.live {
		s.dropLive(s.first)
	} else {
		s.forgetFileBodies(s.first, rec)
		s.pk.release(&rec.refs)
	}
	*rec = packed{}
	s.first++
	if s.first-s.base == uint64(s.chunkLen) {
		s.chunks[0] = nil
		s.chunks = s.chunks[1:]
		s.base += uint64(s.chunkLen)
		s.bytes -= s.chunkBytes()
	}
	s.evicted++
}

// Get returns the exchange with id (materialised from its packed record: equal to what was recorded, not the
// same pointer as the subscribers' update), or nil. Its bodies kept in the capture file are read back from it
// (bodies.go): Get may wait on the disk; Peek does not.
func (s *Store) Get(id uint64) *Exchange {
	if ex := s.Peek(id); ex != nil {
		return ex.WithBodies()
	}
	return nil
}

// Peek is Get without reading back the bodies kept in the capture file: it never waits on the disk, and the
// exchange it returns may be without some bodies (Exchange.BodiesInFile; Exchange.WithBodies reads them).
func (s *Store) Peek(id uint64) *Exchange {
	s.mu.Lock()
	rec := s.rec(id)
	if rec == nil {
		s.mu.Unlock()
		return nil
	}
	if rec.live {
		ex, ok := s.live[id]
		e := s.lazy[id]
		s.mu.Unlock()
		if !ok && e.l != nil {
			ex = e.l.lazySnapshot()
		}
		return ex
	}
	r, pk := *rec, s.pk
	t := pk.table()
	ps := t.parts(&r)
	lz := s.lazyLocked(id, &r)
	s.mu.Unlock()
	return materialiseLazy(id, &r, &ps, t.dict, pk, lz)
}

// materialiseLazy materialises rec, and keeps what reading back its bodies in the file needs (lz, nil when none).
func materialiseLazy(id uint64, rec *packed, ps *[nParts][]byte, dict []string, pk *packer, lz *lazyBodies) *Exchange {
	c := materialise(id, rec, ps, dict, &pk.hdrs, &pk.notes)
	if lz != nil {
		lz.id, lz.rec, lz.ps, lz.dict = id, *rec, *ps, dict
		c.lazy = lz
	}
	return c
}

// Snapshot returns the exchanges in arrival order. The records are copied under the store's lock and
// materialised after it, so that recording goes on meanwhile. Bodies kept in the capture file are not read back
// (Exchange.BodiesInFile, Exchange.WithBodies): a snapshot never waits on the disk.
func (s *Store) Snapshot() []*Exchange { return s.SnapshotLast(-1) }

// SnapshotLast is Snapshot of the newest n exchanges only (all of them when n < 0): a reader that keeps a window
// of the newest (the TUI's rows) materialises no more than it keeps.
func (s *Store) SnapshotLast(n int) []*Exchange {
	s.mu.Lock()
	if c := s.count(); n < 0 || n > c {
		n = c
	}
	from := s.nextID - uint64(n)
	recs := make([]packed, n)
	out := make([]*Exchange, n)
	var lazy []*lazyBodies     // allocated when a record has a body in the file
	var inFlight map[int]*live // the exchanges begun without a snapshot (beginLazy), snapshotted after the lock
	for i := range n {
		id := from + uint64(i)
		recs[i] = *s.rec(id)
		if recs[i].live {
			out[i] = s.live[id]
			if e, ok := s.lazy[id]; ok {
				if inFlight == nil {
					inFlight = map[int]*live{}
				}
				inFlight[i] = e.l
			}
		} else if lz := s.lazyLocked(id, &recs[i]); lz != nil {
			if lazy == nil {
				lazy = make([]*lazyBodies, n)
			}
			lazy[i] = lz
		}
	}
	pk := s.pk
	t := pk.table()
	t.slabs = slices.Clone(t.slabs)
	s.mu.Unlock()
	for i, l := range inFlight {
		out[i] = l.lazySnapshot()
	}
	for i := range recs {
		if out[i] == nil && !recs[i].live {
			ps := t.parts(&recs[i])
			var lz *lazyBodies
			if lazy != nil {
				lz = lazy[i]
			}
			out[i] = materialiseLazy(from+uint64(i), &recs[i], &ps, t.dict, pk, lz)
		}
	}
	return out
}

// Clear empties the store (ids keep counting).
func (s *Store) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chunks, s.live, s.lazy = nil, map[uint64]*Exchange{}, map[uint64]lazyLive{}
	s.base, s.first, s.bytes = s.nextID, s.nextID, 0
	s.pk = newPacker(s.pk.slabSize)
	s.inFile = map[uint64]fileLoc{}
	s.spill = s.first
	s.broadcast(Update{Kind: Cleared})
}

// Subscription is a subscriber's channel of updates.
type Subscription struct {
	C       <-chan Update
	c       chan Update
	dropped atomic.Uint64
	store   *Store
	noBegan bool
}

// Dropped is the number of updates this subscriber missed because its buffer was full.
func (sub *Subscription) Dropped() uint64 { return sub.dropped.Load() }

// Close stops the subscription and closes C.
func (sub *Subscription) Close() {
	s := sub.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[sub]; ok {
		s.publishLocked() // what happened before it closed is its, as when it was handed over at once
		delete(s.subs, sub)
		if !sub.noBegan {
			s.began--
		}
		close(sub.c)
	}
}

// Subscribe returns a subscription with a buffer of n updates (default 1024).
func (s *Store) Subscribe(n int) *Subscription { return s.SubscribeWith(SubscribeOptions{Buffer: n}) }

// SubscribeOptions choose what a subscription receives.
type SubscribeOptions struct {
	Buffer int // updates buffered (default 1024)
	// NoBegan leaves out Began updates: the subscriber first hears of an exchange when its response starts to
	// stream (Changed) or when it completes. For subscribers that show only what was answered.
	NoBegan bool
}

// SubscribeWith returns a subscription as o describes.
func (s *Store) SubscribeWith(o SubscribeOptions) *Subscription {
	n := o.Buffer
	if n <= 0 {
		n = 1024
	}
	c := make(chan Update, n)
	sub := &Subscription{C: c, c: c, store: s, noBegan: o.NoBegan}
	s.mu.Lock()
	s.publishLocked() // what happened before it subscribed is not its
	s.subs[sub] = struct{}{}
	if !sub.noBegan {
		s.began++
	}
	s.mu.Unlock()
	return sub
}

// broadcast queues u for the subscribers, who receive it by the publication timer (StoreOptions.PublishDelay) or
// the next publishLocked. Callers hold s.mu.
func (s *Store) broadcast(u Update) {
	if len(s.subs) == 0 || u.Kind == Began && s.began == 0 {
		return // nobody takes it (--no-tui's printer and analysis hear of an exchange when it is answered)
	}
	s.pending = append(s.pending, u)
	switch {
	case s.opts.PublishDelay < 0 || len(s.pending) >= maxPendingUpdates:
		s.publishLocked()
	case !s.armed:
		s.armed = true
		if s.wake == nil {
			s.wake = time.AfterFunc(s.opts.PublishDelay, s.publishLate)
		} else {
			s.wake.Reset(s.opts.PublishDelay)
		}
	}
}

// Publish hands the updates waiting for the publication timer (StoreOptions.PublishDelay) to the subscribers
// now, in order (the timer runs it).
func (s *Store) Publish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publishLocked()
}

// publishLate is the publication timer's: it hands the pending updates over, or puts that off by another
// PublishDelay while a request is on its way (Store.onPath), maxPutOff times in a row at most.
func (s *Store) publishLate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.armed {
		return // handed over meanwhile
	}
	if s.onPath.Load() > 0 && s.putOff < maxPutOff {
		s.putOff++
		s.wake.Reset(s.opts.PublishDelay)
		return
	}
	s.publishLocked()
}

// onItsWay reports whether a request is on its way through the recorder's middleware (Store.onPath).
func (s *Store) onItsWay() bool { return s.onPath.Load() > 0 }

// publishLocked hands the pending updates to the subscribers, in order. It never blocks: a full subscriber loses
// the update. Callers hold s.mu.
func (s *Store) publishLocked() {
	if s.armed {
		s.wake.Stop()
		s.armed = false
	}
	s.putOff = 0
	for _, u := range s.pending {
		for sub := range s.subs {
			if sub.noBegan && u.Kind == Began {
				continue
			}
			select {
			case sub.c <- u:
			default:
				sub.dropped.Add(1)
			}
		}
	}
	clear(s.pending)
	if cap(s.pending) > maxPendingUpdates {
		s.pending = nil
	} else {
		s.pending = s.pending[:0]
	}
}
