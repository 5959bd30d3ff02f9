package mcpserver

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Bounds of the stateful handler's event store (eventStore).
const (
	// maxSessionStreams is how many request streams (one per POST answered with an event stream) a session keeps
	// for replay: the newest ones, which a client that lost a connection mid-answer resumes with Last-Event-ID.
	maxSessionStreams = 64
	// maxEventBytes bounds the events' data across sessions (mcp.MemoryEventStore's default).
	maxEventBytes = 10 << 20
)

// eventStore is the legacy era's mcp.EventStore: it keeps each stream's events for replay (resumable SSE, and the
// priming event the SDK sends first on every stream) as mcp.MemoryEventStore does, with a bound on the streams a
// session keeps. mcp.MemoryEventStore bounds the events' bytes but keeps an entry for every stream a session ever
// opened — every POST opens one, and its priming event is empty, so no byte bound ever reclaims it — until the
// session ends: a session that made a million calls held a million entries (about 150 B of live heap per call,
// which the collector marks again in every cycle). Here a session keeps its newest maxSessionStreams request
// streams and its standalone (GET) stream; an older stream is forgotten, and resuming it gets the SDK's answer
// to purged events (400). The events' bytes are bounded across sessions by maxEventBytes: the session that goes
// over it forgets its own oldest request streams, then the oldest events of the stream it writes to.
type eventStore struct {
	mu         sync.Mutex
	maxStreams int
	maxBytes   int
	nBytes     int
	sessions   map[string]*sessionEvents
}

type sessionEvents struct {
	streams map[string]*streamEvents
	order   []string // request streams (not the standalone one, ""), oldest first
}

// streamEvents is one stream's events: data[i] is the event of index first+i.
type streamEvents struct {
	first int
	size  int
	data  [][]byte
}

func newEventStore(maxStreams, maxBytes int) *eventStore {
	return &eventStore{maxStreams: maxStreams, maxBytes: maxBytes, sessions: map[string]*sessionEvents{}}
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
	ss.streams[streamID] = &streamEvents{}
	if streamID == "" {
		return nil
	}
	ss.order = append(ss.order, streamID)
	if len(ss.order) > s.maxStreams {
		s.forgetOldest(ss)
	}
	return nil
}

// forgetOldest forgets ss's oldest request stream.
func (s *eventStore) forgetOldest(ss *sessionEvents) {
	id := ss.order[0]
	ss.order[0] = ""
	ss.order = ss.order[1:]
	if st := ss.streams[id]; st != nil {
		s.nBytes -= st.size
		delete(ss.streams, id)
	}
}

// Append implements mcp.EventStore. The data of a stream the store forgot (or never opened) is not kept: the
// stream cannot be replayed whole any more, and After says so.
func (s *eventStore) Append(_ context.Context, sessionID, streamID string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[sessionID]
	if ss == nil || ss.streams[streamID] == nil {
		return nil
	}
	// Make room before adding, so that the event being written is kept.
	for s.nBytes+len(data) > s.maxBytes {
		if len(ss.order) > 0 && ss.order[0] != streamID {
			s.forgetOldest(ss)
			continue
		}
		st := ss.streams[streamID]
		if len(st.data) == 0 {
			break
		}
		n := len(st.data[0])
		st.data[0] = nil
		st.data = st.data[1:]
		st.first++
		st.size -= n
		s.nBytes -= n
	}
	st := ss.streams[streamID]
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
		for _, st := range ss.streams {
			s.nBytes -= st.size
		}
		delete(s.sessions, sessionID)
	}
	return nil
}

// streams is how many streams the store keeps, and their events' bytes.
func (s *eventStore) streams() (n, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		n += len(ss.streams)
	}
	return n, s.nBytes
}
