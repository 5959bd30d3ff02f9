package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func replay(t *testing.T, s *eventStore, sid, stream string, index int) ([]string, error) {
	t.Helper()
	var got []string
	for d, err := range s.After(context.Background(), sid, stream, index) {
		if err != nil {
			return got, err
		}
		got = append(got, string(d))
	}
	return got, nil
}

// The store replays a stream's events after an index, as mcp.MemoryEventStore does.
func TestEventStoreReplays(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(4, 1<<20)
	s.Open(ctx, "s1", "")
	s.Open(ctx, "s1", "a")
	for _, d := range []string{"", "one", "two"} {
		s.Append(ctx, "s1", "a", []byte(d))
	}
	s.Append(ctx, "s1", "", []byte("note"))
	for index, want := range map[int]string{-1: ",one,two", 0: "one,two", 2: ""} {
		if got, err := replay(t, s, "s1", "a", index); err != nil || strings.Join(got, ",") != want {
			t.Errorf("after %d: %q, %v; want %q", index, got, err, want)
		}
	}
	if got, err := replay(t, s, "s1", "", -1); err != nil || strings.Join(got, ",") != "note" {
		t.Errorf("the standalone stream: %q, %v", got, err)
	}
	if _, err := replay(t, s, "s2", "a", -1); err == nil {
		t.Error("an unknown session replays")
	}
	if n, b := s.streams(); n != 2 || b != len("onetwonote") {
		t.Errorf("%d streams, %d bytes", n, b)
	}
	s.SessionClosed(ctx, "s1")
	if n, b := s.streams(); n != 0 || b != 0 {
		t.Errorf("after the session closed: %d streams, %d bytes", n, b)
	}
}

// A session keeps its newest request streams (and its standalone one); resuming an older one says its events were
// purged, and what is written to it afterwards is not kept.
func TestEventStoreBoundsStreams(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(3, 1<<20)
	s.Open(ctx, "s1", "")
	for i := range 10 {
		id := fmt.Sprint("r", i)
		s.Open(ctx, "s1", id)
		s.Append(ctx, "s1", id, nil) // the priming event: empty, so no byte bound would reclaim the stream
		s.Append(ctx, "s1", id, []byte("x"))
	}
	if n, b := s.streams(); n != 4 || b != 3 {
		t.Errorf("%d streams (%d bytes), want the standalone one and the newest 3 (3 bytes)", n, b)
	}
	if got, err := replay(t, s, "s1", "r9", -1); err != nil || strings.Join(got, ",") != ",x" {
		t.Errorf("the newest stream: %q, %v", got, err)
	}
	s.Append(ctx, "s1", "r0", []byte("late"))
	if _, err := replay(t, s, "s1", "r0", 0); !errors.Is(err, mcp.ErrEventsPurged) {
		t.Errorf("a forgotten stream: %v, want ErrEventsPurged", err)
	}
	if _, b := s.streams(); b != 3 {
		t.Errorf("%d bytes after writing to a forgotten stream", b)
	}
}

// The events' bytes are bounded across sessions: the session that goes over forgets its own oldest request
// streams first, then the oldest events of the stream it writes to, never the event being written.
func TestEventStoreBoundsBytes(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(100, 10)
	s.Open(ctx, "other", "o")
	s.Append(ctx, "other", "o", []byte("1234"))
	s.Open(ctx, "s1", "a")
	s.Append(ctx, "s1", "a", []byte("123"))
	s.Open(ctx, "s1", "b")
	s.Append(ctx, "s1", "b", []byte("123456")) // 13 > 10: s1 forgets a
	if _, err := replay(t, s, "s1", "a", -1); !errors.Is(err, mcp.ErrEventsPurged) {
		t.Errorf("the oldest stream was kept: %v", err)
	}
	if got, _ := replay(t, s, "other", "o", -1); len(got) != 1 {
		t.Errorf("another session's events were dropped: %q", got)
	}
	s.Append(ctx, "s1", "b", []byte("7")) // 11 > 10: b's oldest event goes
	if got, err := replay(t, s, "s1", "b", 0); err != nil || strings.Join(got, ",") != "7" {
		t.Errorf("after trimming: %q, %v", got, err)
	}
	if _, err := replay(t, s, "s1", "b", -1); !errors.Is(err, mcp.ErrEventsPurged) {
		t.Errorf("a trimmed event replays: %v", err)
	}
	if _, b := s.streams(); b != 5 {
		t.Errorf("%d bytes, want 5", b)
	}
}

// Through the handler: a session's calls leave at most maxSessionStreams request streams in the store
// (mcp.MemoryEventStore kept one per call until the session ended), and a recent answer is still resumed with
// Last-Event-ID.
func TestSessionStreamsBounded(t *testing.T) {
	s, stop := New(Options{})
	defer stop()
	h := NewHandler(s, HandlerOptions{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ts := &testServer{Server: srv}
	events := h.events
	sid := ts.initSession(t, "2025-11-25")
	hdr := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	var first, last reply
	for i := range 3 * maxSessionStreams {
		last = ts.do(t, "POST", "/mcp", hdr, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"n%d"}}}`, i+10, i))
		if last.status != http.StatusOK || last.msg == nil || last.msg.Error != nil {
			t.Fatalf("call %d: %v", i, last)
		}
		if i == 0 {
			first = last
		}
	}
	if n, _ := events.streams(); n > maxSessionStreams+2 { // and the standalone stream, and initialize's
		t.Errorf("the store keeps %d streams after %d calls, want at most %d", n, 3*maxSessionStreams, maxSessionStreams+2)
	}
	// Resume the last answer after its priming event: its message comes again. The first answer is forgotten.
	resume := func(r reply) reply {
		t.Helper()
		prime := ""
		for _, line := range strings.Split(r.body, "\n") {
			if id, ok := strings.CutPrefix(line, "id: "); ok {
				prime = id
				break
			}
		}
		if prime == "" {
			t.Fatalf("no event id in %q", r.body)
		}
		return ts.do(t, "GET", "/mcp", map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25", "Last-Event-ID": prime}, "")
	}
	if r := resume(last); r.status != http.StatusOK || !strings.Contains(r.body, fmt.Sprintf(`"text":"n%d"`, 3*maxSessionStreams-1)) {
		t.Errorf("resuming the last answer: %v", r)
	}
	if r := resume(first); r.status != http.StatusBadRequest {
		t.Errorf("resuming a forgotten answer: %v, want the SDK's 400 for purged events", r)
	}
}
