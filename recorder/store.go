package recorder

import (
	"sync"
	"sync/atomic"
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
}

// The store's default bounds: past either, the oldest exchanges are forgotten (Stats().Evicted counts them; the
// capture file keeps every one).
const (
	DefaultStoreMaxCount = 100000
	DefaultStoreMaxBytes = 512 << 20
)

// Store is a bounded in-memory ring of exchanges, in arrival order, with subscribers that never block the
// HTTP path: a subscriber that does not keep up loses updates, and the loss is counted.
type Store struct {
	mu       sync.Mutex
	opts     StoreOptions
	ring     []*Exchange // circular, ordered by ID
	head, n  int
	bytes    int64
	nextID   uint64
	evicted  uint64
	subs     map[*Subscription]struct{}
	onFinish []func(*Exchange)
}

// NewStore returns an empty store.
func NewStore(opts StoreOptions) *Store {
	if opts.MaxCount <= 0 {
		opts.MaxCount = DefaultStoreMaxCount
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultStoreMaxBytes
	}
	return &Store{opts: opts, ring: make([]*Exchange, min(opts.MaxCount, 1024)), nextID: 1, subs: map[*Subscription]struct{}{}}
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
	st := Stats{Count: s.n, Bytes: s.bytes, Evicted: s.evicted, Total: s.nextID - 1}
	for sub := range s.subs {
		st.Dropped += sub.dropped.Load()
	}
	return st
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
	c := *ex
	c.State = StateComplete
	id := s.begin(&c) // sets c.ID under the lock; c is published from here on and must not be written
	s.complete(&c)
	return id
}

func (s *Store) begin(ex *Exchange) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ex.ID = s.nextID
	s.nextID++
	s.push(ex)
	s.broadcast(Update{Kind: Began, Exchange: ex})
	return ex.ID
}

func (s *Store) update(ex *Exchange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replace(ex)
	s.broadcast(Update{Kind: Changed, Exchange: ex})
}

func (s *Store) complete(ex *Exchange) {
	s.completeRecord(compact(ex)) // the record kept from here on (compact.go)
}

// completeRecord publishes ex, already compacted (or the recorder's snapshot when records are kept as built), as
// the exchange's final form.
func (s *Store) completeRecord(ex *Exchange) {
	s.mu.Lock()
	s.replace(ex)
	s.broadcast(Update{Kind: Completed, Exchange: ex})
	fns := s.onFinish
	s.mu.Unlock()
	for _, f := range fns {
		f(ex)
	}
}

func (s *Store) push(ex *Exchange) {
	if s.n == len(s.ring) && len(s.ring) < s.opts.MaxCount {
		grown := make([]*Exchange, min(len(s.ring)*2, s.opts.MaxCount))
		for i := range s.n {
			grown[i] = s.ring[(s.head+i)%len(s.ring)]
		}
		s.ring, s.head = grown, 0
	}
	if s.n == len(s.ring) {
		s.evictOldest()
	}
	s.ring[(s.head+s.n)%len(s.ring)] = ex
	s.n++
	s.bytes += ex.Size()
	for s.bytes > s.opts.MaxBytes && s.n > 1 {
		s.evictOldest()
	}
}

func (s *Store) evictOldest() {
	old := s.ring[s.head]
	s.bytes -= old.Size()
	s.ring[s.head] = nil
	s.head = (s.head + 1) % len(s.ring)
	s.n--
	s.evicted++
}

func (s *Store) slot(id uint64) int {
	if s.n == 0 {
		return -1
	}
	first := s.ring[s.head].ID
	if id < first || id-first >= uint64(s.n) {
		return -1
	}
	return (s.head + int(id-first)) % len(s.ring)
}

func (s *Store) replace(ex *Exchange) {
	i := s.slot(ex.ID)
	if i < 0 {
		return // evicted while in flight; subscribers still hear of it
	}
	s.bytes += ex.Size() - s.ring[i].Size()
	s.ring[i] = ex
	for s.bytes > s.opts.MaxBytes && s.n > 1 {
		s.evictOldest()
	}
}

// Get returns the exchange with id, or nil.
func (s *Store) Get(id uint64) *Exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.slot(id); i >= 0 {
		return s.ring[i]
	}
	return nil
}

// Snapshot returns the exchanges in arrival order.
func (s *Store) Snapshot() []*Exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Exchange, s.n)
	for i := range s.n {
		out[i] = s.ring[(s.head+i)%len(s.ring)]
	}
	return out
}

// Clear empties the store (ids keep counting).
func (s *Store) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.ring)
	s.head, s.n, s.bytes = 0, 0, 0
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
		delete(s.subs, sub)
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
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return sub
}

// broadcast never blocks: a full subscriber loses the update. Callers hold s.mu.
func (s *Store) broadcast(u Update) {
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
