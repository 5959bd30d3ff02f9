package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func replay(t testing.TB, s mcp.EventStore, sid, stream string, index int) ([]string, error) {
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
				want, werr := replay(t, ref, sid, stream, index)
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

// TestEventStoreHoldsNoPointers: what the store keeps is numbers and bytes, in a few slices and maps whose
// elements, keys and values hold no pointers, so that the garbage collector marks a handful of objects however
// many streams it keeps (main at 7afc0d3 kept five or so objects a stream: an id string, a record, a slice of
// events, each event's bytes, map entries — at its bound most of serve's live objects).
func TestEventStoreHoldsNoPointers(t *testing.T) {
	rt := reflect.TypeFor[eventStore]()
	var containers []string
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !hasPointers(f.Type) {
			continue
		}
		switch f.Type.Kind() {
		case reflect.Slice:
			if hasPointers(f.Type.Elem()) {
				t.Errorf("eventStore.%s is a %s: its elements hold pointers", f.Name, f.Type)
			}
		case reflect.Map:
			if hasPointers(f.Type.Key()) || hasPointers(f.Type.Elem()) {
				t.Errorf("eventStore.%s is a %s: its keys or values hold pointers", f.Name, f.Type)
			}
		default:
			t.Errorf("eventStore.%s is a %s: the store keeps slices and maps of numbers, and numbers", f.Name, f.Type)
		}
		containers = append(containers, f.Name)
	}
	if len(containers) > 6 {
		t.Errorf("the store keeps %d slices and maps (%v), want a handful", len(containers), containers)
	}
}

// hasPointers reports whether a value of type t holds a pointer the garbage collector follows.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true
}

// At its bound, a stream opened, written (the priming event and an answer) and replayed costs the store no
// allocation of its own but After's iterator, amortised: the slots of forgotten streams, the queue's array and
// the maps' entries are reused, and the slab is compacted once as many bytes as it keeps have died. main at
// 7afc0d3 made 4 (the stream's record, its slice of events, the iterator and its copy).
func TestEventStoreAllocatesNothingAtTheBound(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(maxEventBytes)
	answer := []byte(`{"jsonrpc":"2.0","id":12,"result":{"content":[{"type":"text","text":"` + strings.Repeat("x", 120) + `"}]}}`)
	const sessions = 16
	keep := maxEventBytes / (streamOverhead + len(answer))
	ids := make([]string, 4*keep) // more than the store keeps: each id is forgotten before it comes again
	for i := range ids {
		ids[i] = fmt.Sprintf("stream-%d", i)
	}
	sids := make([]string, sessions)
	for i := range sids {
		sids[i] = fmt.Sprintf("session-%d", i)
		s.Open(ctx, sids[i], "")
	}
	n := 0
	call := func() {
		sid, id := sids[n%sessions], ids[n%len(ids)]
		n++
		s.Open(ctx, sid, id)
		s.Append(ctx, sid, id, nil)
		s.Append(ctx, sid, id, answer)
		for d, err := range s.After(ctx, sid, id, 0) {
			if err != nil || len(d) != len(answer) {
				t.Fatalf("replaying %s: %d bytes, %v", id, len(d), err)
			}
		}
	}
	for range 2 * len(ids) { // past the bound, twice round the ids
		call()
	}
	if kept, b, _ := s.streams(); b < maxEventBytes-streamOverhead-len(answer) || kept > keep+sessions {
		t.Fatalf("%d streams, %d bytes: not at the bound", kept, b)
	}
	if allocs := testing.AllocsPerRun(2*keep, call); allocs > 1 {
		t.Errorf("%.2f allocations a stream opened, written and replayed at the bound, want at most 1 (After's iterator)", allocs)
	}
	// What the slab and the records take stays within a few times the bound: half the slab may be dead, and
	// append grows its array by a quarter at this size.
	if n := cap(s.slab) + cap(s.streamRecs)*int(reflect.TypeFor[streamRecord]().Size()); n > 3*maxEventBytes {
		t.Errorf("the slab and the records take %d bytes, for a bound of %d", n, maxEventBytes)
	}
	t.Logf("slab %d bytes (%d dead), %d records, %d compactions", cap(s.slab), s.dead, cap(s.streamRecs), s.nCompacted)
}

// The store copies what it is given: the SDK's slice is not kept (so that the garbage collector does not mark
// it), and the SDK may use it again.
func TestEventStoreCopies(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(1 << 20)
	s.Open(ctx, "s1", "a")
	d := []byte("event")
	s.Append(ctx, "s1", "a", d)
	copy(d, "xxxxx")
	if got, err := replay(t, s, "s1", "a", -1); err != nil || strings.Join(got, ",") != "event" {
		t.Errorf("after the SDK's slice changed: %q, %v", got, err)
	}
}

// The store replays, refuses, counts and forgets as the store of main at 7afc0d3 (refStore, the model) does,
// whatever the operations and the bound: a bound of a few streams (every write forgets), a roomy one, and the
// slab compacted often on the way. An iteration of After goes on while the store changes under it (writes,
// forgets, compactions), and what it yielded stays as it was.
func TestEventStoreLikeTheOldStore(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var total opStats
	for round := range 300 {
		bound := []int{1 << 20, streamOverhead + rnd.IntN(6*streamOverhead), 2*streamOverhead + rnd.IntN(64)}[round%3]
		st := compareStores(t, bound, 400, rnd.IntN)
		total.add(st)
	}
	t.Logf("%+v", total)
	if total.replayed < 1000 || total.refused < 1000 || total.forgotten < 1000 || total.compactions < 100 || total.changedUnder < 100 {
		t.Errorf("%+v: too few of some outcome to compare", total)
	}
}

// FuzzEventStore drives the store and its model with the operations the input chooses.
func FuzzEventStore(f *testing.F) {
	f.Add(uint16(600), []byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add(uint16(2000), []byte(strings.Repeat("\x13\x27\x01\x99\x42\x07\x00\x63\xfe", 40)))
	f.Fuzz(func(t *testing.T, bound uint16, ops []byte) {
		next := func(n int) int {
			if len(ops) == 0 {
				return 0
			}
			b := int(ops[0])
			ops = ops[1:]
			return b % n
		}
		compareStores(t, int(bound), len(ops)/2, next)
	})
}

type opStats struct{ replayed, refused, forgotten, compactions, changedUnder int }

func (a *opStats) add(b opStats) {
	a.replayed += b.replayed
	a.refused += b.refused
	a.forgotten += b.forgotten
	a.compactions += b.compactions
	a.changedUnder += b.changedUnder
}

// compareStores runs steps operations chosen by next (next(n) is in [0, n)) on an eventStore and a refStore of
// the same bound, and fails when they differ: in what After yields or refuses, in the streams kept and the bytes
// counted.
func compareStores(t *testing.T, bound, steps int, next func(int) int) opStats {
	t.Helper()
	ctx := context.Background()
	ours, ref := newEventStore(bound), newRefStore(bound)
	var st opStats
	serial := 0
	check := func(step int, what string) {
		t.Helper()
		n, b, q := ours.streams()
		rn, rb, _ := ref.streams()
		if n != rn || b != rb {
			t.Fatalf("step %d (%s): %d streams, %d bytes; the model: %d, %d", step, what, n, b, rn, rb)
		}
		if q > 2*n+64 {
			t.Fatalf("step %d (%s): a queue of %d for %d streams", step, what, q, n)
		}
	}
	var change func(step int) string
	change = func(step int) string {
		sid, stream := fmt.Sprint("s", next(3)), []string{"", "a", "b", "c"}[next(4)]
		switch op := next(20); {
		case op < 6:
			ours.Open(ctx, sid, stream)
			ref.Open(ctx, sid, stream)
			return fmt.Sprintf("open %s/%q", sid, stream)
		case op < 15:
			serial++
			d := []byte(fmt.Sprint(serial, strings.Repeat("x", next(40))))
			if next(8) == 0 {
				d = nil
			}
			before, _, _ := ours.streams()
			dead := ours.compactions()
			ours.Append(ctx, sid, stream, d)
			ref.Append(ctx, sid, stream, slices.Clone(d))
			if after, _, _ := ours.streams(); after < before {
				st.forgotten += before - after
			}
			st.compactions += ours.compactions() - dead
			return fmt.Sprintf("append %q to %s/%q", d, sid, stream)
		case op < 16:
			ours.SessionClosed(ctx, sid)
			ref.SessionClosed(ctx, sid)
			return fmt.Sprintf("close %s", sid)
		default:
			index := next(4) - 1
			want, werr := replay(t, ref, sid, stream, index)
			var got [][]byte
			var gerr error
			for d, err := range ours.After(ctx, sid, stream, index) {
				if err != nil {
					gerr = err
					break
				}
				got = append(got, d)
				if next(2) == 0 { // the store changes while the iteration goes on
					change(step)
					st.changedUnder++
				}
			}
			gs := make([]string, len(got))
			for i, d := range got {
				gs[i] = string(d)
			}
			if (gerr == nil) != (werr == nil) || errors.Is(gerr, mcp.ErrEventsPurged) != errors.Is(werr, mcp.ErrEventsPurged) || !slices.Equal(gs, want) {
				t.Fatalf("step %d: after %d of %s/%q: %q, %v; the model: %q, %v", step, index, sid, stream, gs, gerr, want, werr)
			}
			if len(got) > 0 {
				st.replayed++
			}
			if gerr != nil {
				st.refused++
			}
			return fmt.Sprintf("replay %s/%q after %d", sid, stream, index)
		}
	}
	for step := range steps {
		what := change(step)
		check(step, what)
	}
	return st
}

// Replays read the slab without the lock while other streams are written, forgotten and compacted (run with
// -race): what they yield is bytes nobody writes again.
func TestEventStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(8 * streamOverhead)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			sid := fmt.Sprint("s", w)
			for i := range 2000 {
				id := fmt.Sprint(i % 5)
				s.Open(ctx, sid, id)
				want := fmt.Sprintf("%s-%d", sid, i)
				s.Append(ctx, sid, id, []byte(want))
				for d, err := range s.After(ctx, sid, id, -1) {
					if err == nil && !strings.HasPrefix(string(d), sid+"-") {
						t.Errorf("%s/%s replayed %q", sid, id, d)
						return
					}
				}
				if i%500 == 0 {
					s.SessionClosed(ctx, sid)
				}
			}
		})
	}
	wg.Wait()
	if s.compactions() == 0 {
		t.Error("the slab was never compacted")
	}
}

// BenchmarkEventStoreAtTheBound: the store at its default bound, a stream opened, written (the priming event and
// an answer) and replayed per op; this branch's store (evs18) and main's (7afc0d3, the model). Besides time and
// allocations: the heap objects the full store holds (after a GC), and the time a full GC takes with it alive.
func BenchmarkEventStoreAtTheBound(b *testing.B) {
	type store interface {
		mcp.EventStore
	}
	for _, c := range []struct {
		name string
		new  func() store
	}{
		{"evs18", func() store { return newEventStore(maxEventBytes) }},
		{"main", func() store { return newRefStore(maxEventBytes) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			answer := []byte(`{"jsonrpc":"2.0","id":12,"result":{"content":[{"type":"text","text":"` + strings.Repeat("x", 120) + `"}]}}`)
			keep := maxEventBytes / (streamOverhead + len(answer))
			ids := make([]string, 4*keep)
			for i := range ids {
				ids[i] = fmt.Sprintf("stream-%d", i)
			}
			sids := []string{"session-0", "session-1", "session-2", "session-3"}
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			s := c.new()
			for _, sid := range sids {
				s.Open(ctx, sid, "")
			}
			n := 0
			call := func() {
				sid, id := sids[n%len(sids)], ids[n%len(ids)]
				n++
				s.Open(ctx, sid, id)
				s.Append(ctx, sid, id, nil)
				// A copy, as the SDK's encoder hands each event in its own buffer.
				s.Append(ctx, sid, id, append([]byte(nil), answer...))
				for range s.After(ctx, sid, id, 0) {
				}
			}
			for range 2 * len(ids) {
				call()
			}
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			t0 := time.Now()
			runtime.GC()
			gc := time.Since(t0)
			b.ResetTimer()
			for b.Loop() {
				call()
			}
			b.ReportMetric(float64(after.HeapObjects)-float64(before.HeapObjects), "store-objects")
			b.ReportMetric(float64(gc.Microseconds()), "gc-µs")
			runtime.KeepAlive(s)
		})
	}
}

// Once its last session ends, the store gives back the room it grew to hold its streams (its slices and maps never
// shrink while it is in use): after 16 sessions of 1,000 calls each came and went, it holds what a new store
// holds, and serves the next session as before.
func TestEventStoreLetsGoWhenTheLastSessionEnds(t *testing.T) {
	ctx := context.Background()
	s := newEventStore(maxEventBytes)
	answer := []byte(`{"jsonrpc":"2.0","id":12,"result":{"content":[{"type":"text","text":"hello"}]}}`)
	sids := make([]string, 16)
	for i := range sids {
		sids[i] = fmt.Sprintf("session-%d", i)
		s.Open(ctx, sids[i], "")
	}
	for n := range 16000 {
		sid, id := sids[n%len(sids)], fmt.Sprintf("stream-%d", n)
		s.Open(ctx, sid, id)
		s.Append(ctx, sid, id, nil)
		s.Append(ctx, sid, id, answer)
	}
	for i, sid := range sids {
		s.SessionClosed(ctx, sid)
		if n, b, _ := s.streams(); i < len(sids)-1 && (n == 0 || b == 0) {
			t.Fatalf("after %d of %d sessions ended: %d streams, %d bytes", i+1, len(sids), n, b)
		}
	}
	held := cap(s.slab) + cap(s.streamRecs) + cap(s.sessionRecs) + cap(s.queue) + len(s.streamIndex) + len(s.sessionIndex)
	if n, b, q := s.streams(); n != 0 || b != 0 || q != 0 || held != 0 {
		t.Fatalf("every session ended: %d streams, %d bytes, %d queued, %d slots or bytes of room still held", n, b, q, held)
	}
	// and the store works as new
	s.Open(ctx, "next", "s")
	s.Append(ctx, "next", "s", answer)
	var got [][]byte
	for d, err := range s.After(ctx, "next", "s", -1) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	if len(got) != 1 || string(got[0]) != string(answer) {
		t.Fatalf("replay after the store let go: %q", got)
	}
}
