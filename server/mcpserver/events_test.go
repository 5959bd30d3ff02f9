package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
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
	s := newEventStore(1 << 20)
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
	if n, b, _ := s.streams(); n != 2 || b != 2*streamOverhead+len("onetwonote") {
		t.Errorf("%d streams, %d bytes", n, b)
	}
	s.SessionClosed(ctx, "s1")
	if n, b, q := s.streams(); n != 0 || b != 0 || q > 64 {
		t.Errorf("after the session closed: %d streams, %d bytes, queue %d", n, b, q)
	}
}

// Streams count against the bound even when their events are empty (a POST's priming event): when the store is
// full it forgets the oldest request streams, of any session, but not a session's standalone stream; resuming a
// forgotten stream says its events were purged, and what is written to it afterwards is not kept.
func TestEventStoreBoundsStreams(t *testing.T) {
	ctx := context.Background()
	const bound = streamOverhead + 4*(streamOverhead+1) // the standalone stream and 4 request streams of 1 byte
	s := newEventStore(bound)
	s.Open(ctx, "s1", "")
	s.Open(ctx, "s2", "o")
	s.Append(ctx, "s2", "o", []byte("y"))
	for i := range 10 {
		id := fmt.Sprint("r", i)
		s.Open(ctx, "s1", id)
		s.Append(ctx, "s1", id, nil) // the priming event: empty
		s.Append(ctx, "s1", id, []byte("x"))
	}
	if n, b, _ := s.streams(); n != 5 || b != bound {
		t.Errorf("%d streams (%d bytes), want the standalone one and the newest 4 (%d bytes)", n, b, bound)
	}
	if _, err := replay(t, s, "s2", "o", -1); !errors.Is(err, mcp.ErrEventsPurged) {
		t.Errorf("the oldest stream, of another session, was kept: %v", err)
	}
	if got, err := replay(t, s, "s1", "r9", -1); err != nil || strings.Join(got, ",") != ",x" {
		t.Errorf("the newest stream: %q, %v", got, err)
	}
	if _, err := replay(t, s, "s1", "", -1); err != nil {
		t.Errorf("the standalone stream: %v", err)
	}
	s.Append(ctx, "s1", "r0", []byte("late"))
	if _, err := replay(t, s, "s1", "r0", 0); !errors.Is(err, mcp.ErrEventsPurged) {
		t.Errorf("a forgotten stream: %v, want ErrEventsPurged", err)
	}
	if _, b, _ := s.streams(); b != bound {
		t.Errorf("%d bytes after writing to a forgotten stream", b)
	}
}

// A long answer still being written is not forgotten when it is the oldest stream: the others go, and it stays
// replayable.
func TestEventStoreKeepsTheStreamWritten(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(3*streamOverhead + 10)
	s.Open(ctx, "s1", "long")
	s.Append(ctx, "s1", "long", []byte("1"))
	for i := range 5 { // sessions that come and go leave entries behind in the queue
		sid := fmt.Sprint("gone", i)
		s.Open(ctx, sid, "x")
		s.SessionClosed(ctx, sid)
	}
	s.Open(ctx, "s2", "a")
	s.Open(ctx, "s2", "b")
	s.Append(ctx, "s1", "long", []byte("twenty bytes of data")) // over: long is the oldest, a goes instead
	if got, err := replay(t, s, "s1", "long", -1); err != nil || strings.Join(got, ",") != "1,twenty bytes of data" {
		t.Errorf("the stream being written: %q, %v", got, err)
	}
	if _, err := replay(t, s, "s2", "a", -1); !errors.Is(err, mcp.ErrEventsPurged) {
		t.Errorf("the oldest other stream was kept: %v", err)
	}
	if _, err := replay(t, s, "s2", "b", -1); err != nil {
		t.Errorf("a newer stream was forgotten: %v", err)
	}
	if n, b, _ := s.streams(); b > 3*streamOverhead+10 {
		t.Errorf("%d streams, %d bytes over the bound", n, b)
	}
	// The entries the store went past are off its queue (the ended sessions' and a's): the next write that needs
	// room does not walk them again, so making room stays linear in what it forgets.
	if _, _, q := s.streams(); q != 2 {
		t.Errorf("a queue of %d entries for 2 streams kept", q)
	}
}

// When nothing else is left to forget, the oldest events of the stream being written to go, never the event
// being written.
func TestEventStoreTrimsTheStreamWritten(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(streamOverhead + 10)
	s.Open(ctx, "s1", "")
	for _, d := range []string{"12345", "678", "90abc"} {
		s.Append(ctx, "s1", "", []byte(d))
	}
	if got, err := replay(t, s, "s1", "", 0); err != nil || strings.Join(got, ",") != "678,90abc" {
		t.Errorf("after trimming: %q, %v", got, err)
	}
	if _, err := replay(t, s, "s1", "", -1); !errors.Is(err, mcp.ErrEventsPurged) {
		t.Errorf("a trimmed event replays: %v", err)
	}
}

// Sessions that end leave nothing behind, the queue of streams included.
func TestEventStoreSessionsEnd(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(1 << 20)
	for i := range 1000 {
		sid := fmt.Sprint("s", i)
		s.Open(ctx, sid, "")
		s.Open(ctx, sid, "a")
		s.Append(ctx, sid, "a", []byte("x"))
		s.SessionClosed(ctx, sid)
	}
	if n, b, q := s.streams(); n != 0 || b != 0 || q > 64 {
		t.Errorf("%d streams, %d bytes, a queue of %d after every session ended", n, b, q)
	}
}

// Through the handler: a session's calls fill the store up to its bound and no further (mcp.MemoryEventStore kept
// an entry per call until the session ended), a recent answer is still resumed with Last-Event-ID, and a
// forgotten one gets the SDK's 400.
func TestSessionStreamsBounded(t *testing.T) {
	const keep = 64
	s, stop := New(Options{})
	defer stop()
	h := NewHandler(s, HandlerOptions{})
	h.events.maxBytes = keep * streamOverhead // before serving: a bound the calls below go past
	srv := httptest.NewServer(h)
	defer srv.Close()
	ts := &testServer{Server: srv}
	sid := ts.initSession(t, "2025-11-25")
	hdr := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	var first, last reply
	for i := range 3 * keep {
		last = ts.do(t, "POST", "/mcp", hdr, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"n%d"}}}`, i+10, i))
		if last.status != http.StatusOK || last.msg == nil || last.msg.Error != nil {
			t.Fatalf("call %d: %v", i, last)
		}
		if i == 0 {
			first = last
		}
	}
	if n, b, q := h.events.streams(); n >= keep || b > h.events.maxBytes || q > 2*n+64 {
		t.Errorf("the store keeps %d streams (%d bytes, a queue of %d) after %d calls, want fewer than %d within %d bytes",
			n, b, q, 3*keep, keep, h.events.maxBytes)
	}
	// Resume an answer after its priming event: its message comes again.
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
	if r := resume(last); r.status != http.StatusOK || !strings.Contains(r.body, fmt.Sprintf(`"text":"n%d"`, 3*keep-1)) {
		t.Errorf("resuming the last answer: %v", r)
	}
	if r := resume(first); r.status != http.StatusBadRequest {
		t.Errorf("resuming a forgotten answer: %v, want the SDK's 400 for purged events", r)
	}
}

// Within its bound the store replays what mcp.MemoryEventStore replays, whatever the order of opens, writes and
// ends of sessions.
func TestEventStoreLikeMemoryEventStore(t *testing.T) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(1, 2))
	replayed, refused := 0, 0
	for round := range 50 {
		ours, ref := newEventStore(1<<30), mcp.NewMemoryEventStore(nil)
		opened := map[[2]string]bool{}
		var keys [][2]string
		for range 300 {
			sid, stream := fmt.Sprint("s", rnd.IntN(4)), []string{"", "a", "b", "c"}[rnd.IntN(4)]
			k := [2]string{sid, stream}
			switch op := rnd.IntN(10); {
			case op < 3:
				ours.Open(ctx, sid, stream)
				ref.Open(ctx, sid, stream)
				if !opened[k] {
					opened[k] = true
					keys = append(keys, k)
				}
			case op < 8 && len(keys) > 0:
				k := keys[rnd.IntN(len(keys))]
				d := []byte(strings.Repeat("x", rnd.IntN(3)))
				ours.Append(ctx, k[0], k[1], d)
				ref.Append(ctx, k[0], k[1], d)
			case op == 8:
				ours.SessionClosed(ctx, sid)
				ref.SessionClosed(ctx, sid)
				for kk := range opened {
					if kk[0] == sid {
						delete(opened, kk)
					}
				}
				keys = slices.DeleteFunc(keys, func(kk [2]string) bool { return kk[0] == sid })
			default:
				index := rnd.IntN(6) - 1
				got, gerr := replay(t, ours, sid, stream, index)
				var want []string
				var werr error
				for d, err := range ref.After(ctx, sid, stream, index) {
					if err != nil {
						werr = err
						break
					}
					want = append(want, string(d))
				}
				if (gerr == nil) != (werr == nil) || !slices.Equal(got, want) {
					t.Fatalf("round %d: after %d of %s/%q: %q, %v; mcp.MemoryEventStore: %q, %v", round, index, sid, stream, got, gerr, want, werr)
				}
				if len(got) > 0 {
					replayed++
				}
				if gerr != nil {
					refused++
				}
			}
		}
	}
	if replayed < 100 || refused < 100 {
		t.Errorf("the operations replayed %d times and were refused %d times: too few to compare", replayed, refused)
	}
}
