package mcpserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"iter"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	// maxEventBytes bounds the stateful handler's event store (eventStore): its events' bytes and its streams'
	// overhead together (mcp.MemoryEventStore's default bound, which counts the events' bytes only).
	maxEventBytes = 10 << 20
	// streamOverhead is what the store counts for a stream besides its events' bytes: its map entry, its record,
	// its place in the queue and its events' headers in the slab (a POST's stream has two events: the priming
	// one and the answer).
	streamOverhead = 256
	// eventHeader is the bytes before an event's data in the slab: the data's length and the offset of the
	// stream's next event (noEvent for none), 8 bytes each. An event is padded to 8 bytes, so that the headers
	// (written again when the stream's next event comes) never share a word with data an After is reading.
	eventHeader = 16
	// minSlabCompaction is the dead bytes below which the slab is never compacted, however little is alive (or
	// a quarter of the bound, when that is less).
	minSlabCompaction = 64 << 10
	noEvent           = -1
	noRecord          = -1
)

// eventStore is the legacy era's mcp.EventStore: it keeps each stream's events for replay (resumable SSE, and the
// priming event the SDK sends first on every stream) as mcp.MemoryEventStore does, within one bound for the
// events' bytes and the streams themselves. mcp.MemoryEventStore bounds the events' bytes but keeps an entry for
// every stream a session ever opened — every POST opens one, and its priming event is empty, so no byte bound
// ever reclaims it — until the session ends: a session that made a million calls held a million entries, with no
// bound while the client kept calling. Here each stream counts streamOverhead besides its events, and when the
// store is full it forgets the oldest request streams first, whatever their session; resuming one gets the SDK's
// answer to purged events (400). A session's standalone (GET) stream is not forgotten while the session lives:
// when nothing else is left to forget, the oldest events of the stream being written to are.
//
// What it keeps holds no pointers for the garbage collector to follow but its few slices and maps (at its
// default bound it keeps some 27,000 streams, and an object or five each was most of serve's live objects, marked
// by every cycle): streams and sessions are found by a 128-bit keyed hash of their ids (hash/maphash, a seed per
// store: a stranger cannot aim a collision) in maps of numbers, their records are pointer-free structs in slices
// (freed slots reused), the queue is indices, and the events' bytes are copied into one append-only slab, each
// with a header linking it to its stream's next event. Bytes once written to the slab are never written again
// (only an event's header, when its stream's next event comes), so After's iterator yields pieces of it without
// copying and without the lock; the slab is compacted into a new one (linear in the bytes alive, done once as
// many are dead: amortised) rather than in place, so that what an iterator yields stays as it was. A session's
// streams are linked through their records, so that SessionClosed is linear in that session's streams.
//
// The slab holds more than nBytes counts: an event's header and padding (at most 23 bytes an event; each event
// the SDK writes is a JSON-RPC message of tens of bytes, or a stream's empty priming event, counted within
// streamOverhead), and up to as many dead bytes as live ones before a compaction.
type eventStore struct {
	mu       sync.Mutex
	maxBytes int
	nBytes   int // events' bytes and streamOverhead per stream
	seed     [2]maphash.Seed

	sessionIndex map[idHash]int32 // session id's hash → sessionRecs[i]
	streamIndex  map[idHash]int32 // (session id, stream id)'s hash → streamRecs[i]
	sessionRecs  []sessionRecord
	streamRecs   []streamRecord
	freeSession  int32 // a free slot of sessionRecs (linked through next), or noRecord
	freeStream   int32 // a free slot of streamRecs (linked through next), or noRecord
	nStreams     int   // streams kept

	queue []queued // request streams in the order they were opened, from queue[qhead]; some forgotten since
	qhead int
	live  int // request streams kept

	slab       []byte // events: header, data, padding; append-only
	dead       int    // bytes of slab no stream refers to any more
	minDead    int    // the dead bytes that may make a compaction
	nCompacted int    // slab compactions so far
}

// idHash is a 128-bit keyed hash of a session's id, or of a session's and a stream's.
type idHash [2]uint64

type sessionRecord struct {
	key     idHash
	streams int32 // the session's first stream (linked through streamRecord.next), or noRecord
	next    int32 // the next free slot, when this one is free
	used    bool
}

type streamRecord struct {
	key        idHash
	session    int32 // sessionRecs[session] is its session
	prev, next int32 // the session's streams, doubly linked; next links free slots too
	gen        uint32
	used       bool
	request    bool  // a request stream (in the queue), not a session's standalone one
	head, tail int64 // offsets in slab of its first and last event kept, or noEvent
	first      int   // the index of the event at head
	count      int   // events kept
	size       int   // their bytes
	span       int   // the slab's bytes they take
}

// queued is a request stream in the queue: streamRecs[rec] if its generation is still gen (else forgotten since).
type queued struct {
	rec int32
	gen uint32
}

func newEventStore(maxBytes int) *eventStore {
	return &eventStore{
		maxBytes:     maxBytes,
		seed:         [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		sessionIndex: map[idHash]int32{},
		streamIndex:  map[idHash]int32{},
		freeSession:  noRecord,
		freeStream:   noRecord,
		minDead:      min(minSlabCompaction, maxBytes/4),
	}
}

// hash is the keyed 128-bit hash of the ids: a session's alone when stream is nil, else a session's and a
// stream's. Each id is written after its length, so that no two pairs of ids write the same bytes.
func (s *eventStore) hash(session string, stream *string) idHash {
	var k idHash
	for i := range k {
		var h maphash.Hash
		h.SetSeed(s.seed[i])
		writeID(&h, session)
		if stream != nil {
			writeID(&h, *stream)
		}
		k[i] = h.Sum64()
	}
	return k
}

func writeID(h *maphash.Hash, id string) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(id)))
	h.Write(n[:])
	h.WriteString(id)
}

// stream is the index of the kept stream with key k, or noRecord.
func (s *eventStore) stream(k idHash) int32 {
	if i, ok := s.streamIndex[k]; ok {
		return i
	}
	return noRecord
}

// Open implements mcp.EventStore.
func (s *eventStore) Open(_ context.Context, sessionID, streamID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sk := s.hash(sessionID, nil)
	si, ok := s.sessionIndex[sk]
	if !ok {
		si = s.newSession(sk)
	}
	k := s.hash(sessionID, &streamID)
	if s.stream(k) != noRecord {
		return nil
	}
	s.makeRoom(streamOverhead, noRecord)
	i := s.newStream()
	st := &s.streamRecs[i]
	*st = streamRecord{key: k, session: si, prev: noRecord, next: s.sessionRecs[si].streams, gen: st.gen, used: true,
		request: streamID != "", head: noEvent, tail: noEvent}
	if st.next != noRecord {
		s.streamRecs[st.next].prev = i
	}
	s.sessionRecs[si].streams = i
	s.streamIndex[k] = i
	s.nStreams++
	s.nBytes += streamOverhead
	if st.request {
		s.queue = append(s.queue, queued{i, st.gen})
		s.live++
	}
	return nil
}

func (s *eventStore) newSession(k idHash) int32 {
	i := s.freeSession
	if i == noRecord {
		i = int32(len(s.sessionRecs))
		s.sessionRecs = append(s.sessionRecs, sessionRecord{})
	} else {
		s.freeSession = s.sessionRecs[i].next
	}
	s.sessionRecs[i] = sessionRecord{key: k, streams: noRecord, next: noRecord, used: true}
	s.sessionIndex[k] = i
	return i
}

// newStream is a free slot of streams, its generation kept.
func (s *eventStore) newStream() int32 {
	i := s.freeStream
	if i == noRecord {
		i = int32(len(s.streamRecs))
		s.streamRecs = append(s.streamRecs, streamRecord{})
	} else {
		s.freeStream = s.streamRecs[i].next
	}
	return i
}

// makeRoom forgets request streams, oldest first, then the oldest events of the stream keep (noRecord for none),
// until n more bytes fit. keep itself is not forgotten: when it is the oldest (a long answer still being
// written), it goes to the back of the queue once. Each turn of the loop takes an entry off the queue: linear in
// what it forgets.
func (s *eventStore) makeRoom(n int, keep int32) {
	requeued := false
	for s.nBytes+n > s.maxBytes && s.qhead < len(s.queue) {
		q := s.queue[s.qhead]
		alive := s.streamRecs[q.rec].used && s.streamRecs[q.rec].gen == q.gen
		if alive && q.rec == keep {
			if requeued || len(s.queue)-s.qhead == 1 {
				break
			}
			requeued = true
			s.qhead++
			s.queue = append(s.queue, q)
			continue
		}
		s.qhead++
		if alive { // else forgotten already: its session ended
			s.forget(q.rec)
		}
	}
	if keep != noRecord {
		st := &s.streamRecs[keep]
		for s.nBytes+n > s.maxBytes && st.count > 0 {
			d, next := s.event(st.head)
			st.head = next
			st.first++
			st.count--
			st.size -= d
			st.span -= eventSpan(d)
			s.nBytes -= d
			s.dead += eventSpan(d)
		}
		if st.count == 0 {
			st.head, st.tail = noEvent, noEvent
		}
	}
	s.compact()
}

// event reads the header of the event at off: its data's length and the offset of its stream's next event.
func (s *eventStore) event(off int64) (n int, next int64) {
	h := s.slab[off : off+eventHeader]
	return int(binary.LittleEndian.Uint64(h)), int64(binary.LittleEndian.Uint64(h[8:]))
}

// eventSpan is the bytes an event of n bytes of data takes in the slab.
func eventSpan(n int) int { return eventHeader + (n+7)&^7 }

func (s *eventStore) forget(i int32) {
	st := &s.streamRecs[i]
	delete(s.streamIndex, st.key)
	if st.prev != noRecord {
		s.streamRecs[st.prev].next = st.next
	} else {
		s.sessionRecs[st.session].streams = st.next
	}
	if st.next != noRecord {
		s.streamRecs[st.next].prev = st.prev
	}
	s.nBytes -= st.size + streamOverhead
	s.nStreams--
	s.dead += st.span
	if st.request {
		s.live--
	}
	*st = streamRecord{gen: st.gen + 1, next: s.freeStream}
	s.freeStream = i
}

// compact drops the queue's entries of streams forgotten since, once they are most of it: the queue stays
// within twice the streams kept. It moves what is left to the front of the queue's array (in place: the queue
// reuses its array for good) when the entries taken off the front are half of it; and compacts the slab when at
// least half of it is dead, and its dead bytes are at least eventHeader a slot of streamRecs (which the compaction
// walks, free ones included). All three are linear in what is kept, and happen once as much is dropped:
// amortised.
func (s *eventStore) compact() {
	if n := len(s.queue) - s.qhead; n > 2*s.live+64 {
		q := s.queue[:0]
		for _, e := range s.queue[s.qhead:] {
			if st := &s.streamRecs[e.rec]; st.used && st.gen == e.gen {
				q = append(q, e)
			}
		}
		s.queue, s.qhead = q, 0
	} else if s.qhead > 0 && s.qhead >= n {
		s.queue = s.queue[:copy(s.queue, s.queue[s.qhead:])]
		s.qhead = 0
	}
	if s.dead > 0 && s.dead >= s.minDead && 2*s.dead >= len(s.slab) && s.dead >= eventHeader*len(s.streamRecs) {
		s.compactSlab()
	}
}

// compactSlab copies the events kept into a new slab, stream by stream. The old slab is left as it was to the
// garbage collector: an iterator of After may still be yielding pieces of it. The new one has room for as many
// bytes again and some (the next compaction comes when as many have died), so that append does not copy it on
// the way.
func (s *eventStore) compactSlab() {
	live := len(s.slab) - s.dead
	slab := make([]byte, 0, 2*live+2*s.minDead)
	for i := range s.streamRecs {
		st := &s.streamRecs[i]
		if !st.used || st.count == 0 {
			continue
		}
		prev := int64(noEvent)
		for off, k := st.head, 0; k < st.count; k++ {
			d, next := s.event(off)
			at := int64(len(slab))
			slab = appendEvent(slab, s.slab[off+eventHeader:off+eventHeader+int64(d)])
			if prev == noEvent {
				st.head = at
			} else {
				binary.LittleEndian.PutUint64(slab[prev+8:], uint64(at))
			}
			prev, off = at, next
		}
		st.tail = prev
	}
	s.slab, s.dead = slab, 0
	s.nCompacted++
}

// appendEvent appends an event holding data to slab: its header (with no next event), data and padding.
func appendEvent(slab, data []byte) []byte {
	slab = binary.LittleEndian.AppendUint64(slab, uint64(len(data)))
	slab = binary.LittleEndian.AppendUint64(slab, ^uint64(0))
	slab = append(slab, data...)
	var pad [8]byte
	return append(slab, pad[:(8-len(data)%8)%8]...)
}

// Append implements mcp.EventStore. The data is copied (the SDK's slice is not kept). The data of a stream the
// store forgot (or never opened) is not kept: the stream cannot be replayed whole any more, and After says so.
func (s *eventStore) Append(_ context.Context, sessionID, streamID string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.stream(s.hash(sessionID, &streamID))
	if i == noRecord {
		return nil
	}
	s.makeRoom(len(data), i) // before adding, so that the event being written is kept
	st := &s.streamRecs[i]
	at := int64(len(s.slab))
	s.slab = appendEvent(s.slab, data)
	if st.tail != noEvent {
		binary.LittleEndian.PutUint64(s.slab[st.tail+8:], uint64(at))
	} else {
		st.head = at
	}
	st.tail = at
	st.count++
	st.size += len(data)
	st.span += eventSpan(len(data))
	s.nBytes += len(data)
	return nil
}

// After implements mcp.EventStore: the events after index, or an error wrapping mcp.ErrEventsPurged when any of
// them was dropped, as they are when the iteration starts. The iterator yields pieces of the slab (capacity cut
// to their length), which are never written again, so it holds the lock only to read an event's header (the
// last one's is written again when the stream's next event comes), and follows only the headers of events that
// had a next one when it started. After allocates the iterator and nothing else.
func (s *eventStore) After(_ context.Context, sessionID, streamID string, index int) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		slab, at, n, err := s.replayFrom(sessionID, streamID, index)
		if err != nil {
			yield(nil, err)
			return
		}
		for k := range n {
			s.mu.Lock()
			h := slab[at : at+eventHeader]
			d, next := int64(binary.LittleEndian.Uint64(h)), int64(binary.LittleEndian.Uint64(h[8:]))
			s.mu.Unlock()
			data := slab[at+eventHeader : at+eventHeader+d : at+eventHeader+d]
			if !yield(data, nil) || k == n-1 {
				return
			}
			at = next
		}
	}
}

// replayFrom is where the events after index are: n events from offset at of slab.
func (s *eventStore) replayFrom(sessionID, streamID string, index int) (slab []byte, at int64, n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessionIndex[s.hash(sessionID, nil)]; !ok {
		return nil, 0, 0, fmt.Errorf("event store: unknown session %q", sessionID)
	}
	i := s.stream(s.hash(sessionID, &streamID))
	if i == noRecord {
		return nil, 0, 0, fmt.Errorf("event store: stream %q of session %q is not kept: %w", streamID, sessionID, mcp.ErrEventsPurged)
	}
	st := &s.streamRecs[i]
	start := index + 1 - st.first
	if start < 0 {
		return nil, 0, 0, fmt.Errorf("event store: index %d of stream %q of session %q: %w", index, streamID, sessionID, mcp.ErrEventsPurged)
	}
	if start >= st.count {
		return nil, 0, 0, nil
	}
	at = st.head
	for range start { // linear in the stream's events, as the copy of them would be
		_, at = s.event(at)
	}
	return s.slab, at, st.count - start, nil
}

// SessionClosed implements mcp.EventStore: linear in the session's streams.
func (s *eventStore) SessionClosed(_ context.Context, sessionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.hash(sessionID, nil)
	si, ok := s.sessionIndex[k]
	if !ok {
		return nil
	}
	for i := s.sessionRecs[si].streams; i != noRecord; i = s.sessionRecs[si].streams {
		s.forget(i)
	}
	delete(s.sessionIndex, k)
	s.sessionRecs[si] = sessionRecord{streams: noRecord, next: s.freeSession}
	s.freeSession = si
	if len(s.sessionIndex) == 0 {
		s.letGo()
		return nil
	}
	s.compact()
	return nil
}

// letGo gives back what the store grew to hold once its last session ended: its slices and maps never shrink while
// it is in use (a slot freed is reused; a map keeps its size), so a store that held 40,000 streams would keep their
// room — some 200 bytes a stream, 8 MB at the bound — for good after every client left. The seeds stay (nothing
// hashed with them is left).
func (s *eventStore) letGo() {
	s.sessionIndex, s.streamIndex = map[idHash]int32{}, map[idHash]int32{}
	s.sessionRecs, s.streamRecs = nil, nil
	s.freeSession, s.freeStream = noRecord, noRecord
	s.queue, s.qhead, s.live = nil, 0, 0
	s.slab, s.dead = nil, 0
	s.nStreams, s.nBytes = 0, 0 // both 0 already: every stream was its session's
}

// streams is how many streams the store keeps, the bytes it counts for them, and the length of its queue.
func (s *eventStore) streams() (n, bytes, queue int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nStreams, s.nBytes, len(s.queue) - s.qhead
}

// compactions is how many times the slab was compacted.
func (s *eventStore) compactions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nCompacted
}
