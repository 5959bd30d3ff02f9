package mcpserver

// The model of events_test.go: the legacy event store of main at 7afc0d3, whole but for its names.

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// refStore is the event store as it was before it kept no pointers (main at 7afc0d3): the model the tests
// compare refStore with.
type refStore struct {
	mu       sync.Mutex
	maxBytes int
	nBytes   int // events' bytes and streamOverhead per stream
	sessions map[string]*refSession
	queue    []refQueued // request streams in the order they were opened; some forgotten since (skipped)
	live     int         // request streams kept
}

type refKey struct{ session, stream string }

// refQueued is a stream in the queue: the one difference with main at 7afc0d3, whose queue held keys only, so
// that the entry of a stream forgotten when its session ended stood for a stream opened again under the same ids
// (which the SDK never does: its session and stream ids are random), forgetting it early; eventStore's entries
// carry the generation of their slot.
type refQueued struct {
	refKey
	st *refStream
}

type refSession struct {
	streams map[string]*refStream
}

// refStream is one stream's events: data[i] is the event of index first+i.
type refStream struct {
	first int
	size  int
	data  [][]byte
}

func newRefStore(maxBytes int) *refStore {
	return &refStore{maxBytes: maxBytes, sessions: map[string]*refSession{}}
}

// Open implements mcp.EventStore.
func (s *refStore) Open(_ context.Context, sessionID, streamID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[sessionID]
	if ss == nil {
		ss = &refSession{streams: map[string]*refStream{}}
		s.sessions[sessionID] = ss
	}
	if ss.streams[streamID] != nil {
		return nil
	}
	k := refKey{sessionID, streamID}
	s.makeRoom(streamOverhead, k)
	st := &refStream{}
	ss.streams[streamID] = st
	s.nBytes += streamOverhead
	if streamID != "" {
		s.queue = append(s.queue, refQueued{k, st})
		s.live++
	}
	return nil
}

// stream is the kept stream k, or nil.
func (s *refStore) stream(k refKey) *refStream {
	if ss := s.sessions[k.session]; ss != nil {
		return ss.streams[k.stream]
	}
	return nil
}

// makeRoom forgets request streams, oldest first, then the oldest events of the stream keep, until n more bytes
// fit. keep itself is not forgotten: when it is the oldest (a long answer still being written), it goes to the
// back of the queue once. Each turn of the loop takes an entry off the queue: linear in what it forgets.
func (s *refStore) makeRoom(n int, keep refKey) {
	requeued := false
	for s.nBytes+n > s.maxBytes && len(s.queue) > 0 {
		q := s.queue[0]
		k := q.refKey
		st := s.stream(k)
		if st != q.st {
			st = nil
		}
		if st != nil && k == keep {
			if requeued || len(s.queue) == 1 {
				break
			}
			requeued = true
			s.queue[0] = refQueued{}
			s.queue = append(s.queue[1:], q)
			continue
		}
		s.queue[0] = refQueued{}
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

func (s *refStore) forget(k refKey, st *refStream) {
	delete(s.sessions[k.session].streams, k.stream)
	s.nBytes -= st.size + streamOverhead
	if k.stream != "" {
		s.live--
	}
}

// compact drops the queue's entries of streams forgotten since, once they are most of it: the queue stays
// within twice the streams kept.
func (s *refStore) compact() {
	if len(s.queue) <= 2*s.live+64 {
		return
	}
	q := make([]refQueued, 0, 2*s.live+64)
	for _, e := range s.queue {
		if st := s.stream(e.refKey); st != nil && st == e.st {
			q = append(q, e)
		}
	}
	s.queue = q
}

// Append implements mcp.EventStore. The data of a stream the store forgot (or never opened) is not kept: the
// stream cannot be replayed whole any more, and After says so.
func (s *refStore) Append(_ context.Context, sessionID, streamID string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := refKey{sessionID, streamID}
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
func (s *refStore) After(_ context.Context, sessionID, streamID string, index int) iter.Seq2[[]byte, error] {
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
func (s *refStore) SessionClosed(_ context.Context, sessionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.sessions[sessionID]; ss != nil {
		for id, st := range ss.streams {
			s.forget(refKey{sessionID, id}, st)
		}
		delete(s.sessions, sessionID)
		s.compact()
	}
	return nil
}

// streams is how many streams the store keeps, the bytes it counts for them, and the length of its queue.
func (s *refStore) streams() (n, bytes, queue int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		n += len(ss.streams)
	}
	return n, s.nBytes, len(s.queue)
}
