package mcpserver

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	// maxEventBytes bounds the stateful handler's event store (eventStore): its events' bytes and its streams'
	// overhead together (mcp.MemoryEventStore's default bound, which counts the events' bytes only).
	maxEventBytes = 10 << 20
	// streamOverhead is what the store counts for a stream besides its events' bytes: its map entry, its record,
	// its place in the queue and its events' slice headers.
	streamOverhead = 256
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
type eventStore struct {
	mu       sync.Mutex
	maxBytes int
	nBytes   int // events' bytes and streamOverhead per stream
	sessions map[string]*sessionEvents
	queue    []streamKey // request streams in the order they were opened; some forgotten since (skipped)
	live     int         // request streams kept
}

type streamKey struct{ session, stream string }

type sessionEvents struct {
	streams map[string]*streamEvents
}

// streamEvents is one stream's events: data[i] is the event of index first+i.
type streamEvents struct {
	first int
	size  int
	data  [][]byte
}

func newEventStore(maxBytes int) *eventStore {
	return &eventStore{maxBytes: maxBytes, sessions: map[string]*sessionEvents{}}
}

// Open implements mcp.EventStore.
func (s *eventStore) Open(_ context.Context, sessionID, streamID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[sessionID]
	if ss == nil {
		ss = &sessionEvents{streams: map[string]*streamEvents{}}
		s.sessions[sessionID] = ss
	}
	if ss.streams[streamID] != nil {
		return nil
	}
	k := streamKey{sessionID, streamID}
	s.makeRoom(streamOverhead, k)
	ss.streams[streamID] = &streamEvents{}
	s.nBytes += streamOverhead
	if streamID != "" {
		s.queue = append(s.queue, k)
		s.live++
	}
	return nil
}

// stream is the kept stream k, or nil.
func (s *eventStore) stream(k streamKey) *streamEvents {
	if ss := s.sessions[k.session]; ss != nil {
		return ss.streams[k.stream]
	}
	return nil
}

// makeRoom forgets request streams, oldest first, then the oldest events of the stream keep, until n more bytes
// fit. keep itself is not forgotten: when it is the oldest (a long answer still being written), it goes to the
// back of the queue once. Each turn of the loop takes an entry off the queue: linear in what it forgets.
func (s *eventStore) makeRoom(n int, keep streamKey) {
	requeued := false
	for s.nBytes+n > s.maxBytes && len(s.queue) > 0 {
		k := s.queue[0]
		st := s.stream(k)
		if st != nil && k == keep {
			if requeued || len(s.queue) == 1 {
				break
			}
			requeued = true
			s.queue[0] = streamKey{}
			s.queue = append(s.queue[1:], k)
			continue
		}
		s.queue[0] = streamKey{}
		s.queue = s.queue[1:]
		if st != nil { // else forgotten already: its session ended
			s.forget(k, st)
		}
	}
	if st := s.stream(keep); st != nil {
		for s.nBytes+n > s.maxBytes && len(st.data) > 0 {
			d := len(st.data[0])
			st.data[0] = nil
			st.data = st.data[1:]
			st.first++
			st.size -= d
			s.nBytes -= d
		}
	}
	s.compact()
}

func (s *eventStore) forget(k streamKey, st *streamEvents) {
	delete(s.sessions[k.session].streams, k.stream)
	s.nBytes -= st.size + streamOverhead
	if k.stream != "" {
		s.live--
	}
}

// compact drops the queue's entries of streams forgotten since, once they are most of it: the queue stays
// within twice the streams kept.
func (s *eventStore) compact() {
	if len(s.queue) <= 2*s.live+64 {
		return
	}
	q := make([]streamKey, 0, 2*s.live+64)
	for _, k := range s.queue {
		if s.stream(k) != nil {
			q = append(q, k)
		}
	}
	s.queue = q
}

// Append implements mcp.EventStore. The data of a stream the store forgot (or never opened) is not kept: the
// stream cannot be replayed whole any more, and After says so.
func (s *eventStore) Append(_ context.Context, sessionID, streamID string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := streamKey{sessionID, streamID}
	if s.stream(k) == nil {
		return nil
	}
	s.makeRoom(len(data), k) // before adding, so that the event being written is kept
	st := s.stream(k)
	st.data = append(st.data, data)
	st.size += len(data)
	s.nBytes += len(data)
	return nil
}

// After implements mcp.EventStore: the events after index, or an error wrapping mcp.ErrEventsPurged when any of
// them was dropped.
func (s *eventStore) After(_ context.Context, sessionID, streamID string, index int) iter.Seq2[[]byte, error] {
	events := func() ([][]byte, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		ss := s.sessions[sessionID]
		if ss == nil {
			return nil, fmt.Errorf("event store: unknown session %q", sessionID)
		}
		st := ss.streams[streamID]
		if st == nil {
			return nil, fmt.Errorf("event store: stream %q of session %q is not kept: %w", streamID, sessionID, mcp.ErrEventsPurged)
		}
		start := index + 1 - st.first
		if start < 0 {
			return nil, fmt.Errorf("event store: index %d of stream %q of session %q: %w", index, streamID, sessionID, mcp.ErrEventsPurged)
		}
		if start >= len(st.data) {
			return nil, nil
		}
		return slices.Clone(st.data[start:]), nil
	}
	return func(yield func([]byte, error) bool) {
		ds, err := events()
		if err != nil {
			yield(nil, err)
			return
		}
		for _, d := range ds {
			if !yield(d, nil) {
				return
			}
		}
	}
}

// SessionClosed implements mcp.EventStore.
func (s *eventStore) SessionClosed(_ context.Context, sessionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.sessions[sessionID]; ss != nil {
		for id, st := range ss.streams {
			s.forget(streamKey{sessionID, id}, st)
		}
		delete(s.sessions, sessionID)
		s.compact()
	}
	return nil
}

// streams is how many streams the store keeps, the bytes it counts for them, and the length of its queue.
func (s *eventStore) streams() (n, bytes, queue int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		n += len(ss.streams)
	}
	return n, s.nBytes, len(s.queue)
}
