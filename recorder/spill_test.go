package recorder

import (
	"fmt"
	"hash/maphash"
	"strings"
	"testing"
)

// smallExchange is a tools/call whose bodies (a few hundred bytes, below FileBodyMin) say which exchange they
// belong to; its JSON-RPC id is a run of the request body.
func smallExchange(i int) *Exchange {
	ex := benchExchange()
	ex.ID = uint64(i)
	ex.ReqBody = Body{Data: fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"%0300d"}}}`, i, i)}
	ex.ReqBody.Size = int64(len(ex.ReqBody.Data))
	ex.RespBody = Body{Data: fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"%0300d"}]}}`, i, i)}
	ex.RespBody.Size = int64(len(ex.RespBody.Data))
	ex.Events = nil
	ex.RPC = []RPC{{From: FromClient, Method: "tools/call", ID: fmt.Appendf(nil, "%d", i)}, {From: FromServer, ID: fmt.Appendf(nil, "%d", i), IsResponse: true}}
	return ex
}

// fillStore adds n exchanges to s in groups, waiting after each for the capture (c, may be nil) to have written them,
// so that the store may spill the bodies of those written when the next group reaches its bound.
func fillStore(t *testing.T, s *Store, c *CaptureFile, n int, make func(int) *Exchange) []*Exchange {
	t.Helper()
	var want []*Exchange
	for i := range n {
		ex := make(i + 1)
		ex.ID, ex.State = s.Add(ex), StateComplete
		want = append(want, ex)
		if c != nil && i%20 == 19 {
			waitWritten(t, c, uint64(i+1))
		}
		if st := s.Stats(); st.Bytes > s.opts.MaxBytes {
			t.Fatalf("after %d exchanges the store counts %d bytes, past its bound of %d", i+1, st.Bytes, s.opts.MaxBytes)
		}
	}
	return want
}

// With a capture file, the store at its byte bound first lets go of the bodies of its oldest records whose lines
// are written (they stay in the file and read back equal), and forgets whole records only when none is left to
// spill: it holds far more exchanges in the same bytes than without a capture file, counts exactly what it holds,
// and every exchange it holds reads back as recorded.
func TestSpillHoldsMoreAtTheBound(t *testing.T) {
	const bound, n = 256 << 10, 6000
	s, c, _ := openCaptureStore(t, CaptureOptions{}, StoreOptions{MaxBytes: bound}, FileBodyMin)
	want := fillStore(t, s, c, n, smallExchange)
	mem := NewStore(StoreOptions{MaxBytes: bound})
	fillStore(t, mem, nil, n, smallExchange)
	checkAccount(t, s)
	checkAccount(t, mem)
	withFile, without := s.Stats(), mem.Stats()
	t.Logf("at a bound of %d B: %d exchanges held with a capture file (%d B counted), %d without (%d B)",
		bound, withFile.Count, withFile.Bytes, without.Count, without.Bytes)
	if withFile.Count < 2*without.Count || withFile.Evicted == 0 {
		t.Fatalf("with a capture file the store holds %d exchanges (%d forgotten), without %d: want at least twice as many",
			withFile.Count, withFile.Evicted, without.Count)
	}
	spilled := 0
	snap := s.Snapshot()
	for _, ex := range snap {
		w := want[ex.ID-1]
		if ex.BodiesInFile() {
			spilled++
			if ex.ReqBody.Data != nil || ex.RespBody.Data != nil || ex.ReqBody.Size != w.ReqBody.Size || ex.RespBody.Size != w.RespBody.Size {
				t.Fatalf("snapshot of spilled exchange %d: bodies %d %d bytes, sizes %d %d", ex.ID, len(ex.ReqBody.Data), len(ex.RespBody.Data), ex.ReqBody.Size, ex.RespBody.Size)
			}
		}
		checkPacked(t, fmt.Sprint("WithBodies ", ex.ID), w, ex.WithBodies())
		checkPacked(t, fmt.Sprint("Get ", ex.ID), w, s.Get(ex.ID))
	}
	if spilled < len(snap)/2 {
		t.Errorf("%d of %d exchanges held without their bodies", spilled, len(snap))
	}
	// without a capture file nothing is spilled: every exchange held has its bodies
	for _, ex := range mem.Snapshot() {
		if ex.BodiesInFile() {
			t.Fatalf("exchange %d without its bodies in a store without a capture file", ex.ID)
		}
	}
}

// The bodies spilled at the bound read back from their lines while the file that holds them exists, and as absent
// with a note (their sizes kept) once rotation deleted it; never another record's.
func TestSpilledBodiesAcrossRotation(t *testing.T) {
	const bound, n = 128 << 10, 4000
	s, c, _ := openCaptureStore(t, CaptureOptions{MaxSize: 32 << 10, Keep: 1}, StoreOptions{MaxBytes: bound}, FileBodyMin)
	want := fillStore(t, s, c, n, smallExchange)
	waitWritten(t, c, n)
	checkAccount(t, s)
	var back, gone int
	for _, ex := range s.Snapshot() {
		w := want[ex.ID-1]
		got := s.Get(ex.ID)
		switch note := got.Note(NoteBody); {
		case note == "":
			checkPacked(t, fmt.Sprint("Get ", ex.ID), w, got)
			back++
		case !ex.BodiesInFile() || !strings.Contains(note, "deleted by rotation"):
			t.Fatalf("exchange %d (bodies in file: %v) read back with note %q", ex.ID, ex.BodiesInFile(), note)
		default:
			if got.ReqBody.Data != nil || got.RespBody.Data != nil || got.ReqBody.Size != w.ReqBody.Size || got.RespBody.Size != w.RespBody.Size {
				t.Fatalf("exchange %d rotated out: bodies %d %d bytes, sizes %d %d", ex.ID, len(got.ReqBody.Data), len(got.RespBody.Data), got.ReqBody.Size, got.RespBody.Size)
			}
			gone++
		}
	}
	rotatedOut, _ := c.Dropped()
	t.Logf("%d held: %d read back, %d gone with their file (%d rotated out)", s.Stats().Count, back, gone, rotatedOut)
	if back == 0 || gone == 0 {
		t.Errorf("%d read back, %d gone with their file: want both", back, gone)
	}
}

// SnapshotLast materialises only the newest n exchanges, in order.
func TestSnapshotLast(t *testing.T) {
	s := NewStore(StoreOptions{MaxCount: 50})
	for i := range 80 {
		s.Add(smallExchange(i + 1))
	}
	for _, tc := range []struct{ n, want int }{{-1, 50}, {0, 0}, {10, 10}, {50, 50}, {70, 50}} {
		got := s.SnapshotLast(tc.n)
		if len(got) != tc.want {
			t.Fatalf("SnapshotLast(%d): %d exchanges, want %d", tc.n, len(got), tc.want)
		}
		for i, ex := range got {
			if want := uint64(80 - tc.want + i + 1); ex.ID != want {
				t.Fatalf("SnapshotLast(%d)[%d] is #%d, want #%d", tc.n, i, ex.ID, want)
			}
		}
	}
}

// The URLs and hosts of the records (the same few in every one: a proxy's upstream, the listener) are an index
// into the store's dictionary of names, not a copy each; the dictionary is bounded (maxNames), its bytes counted,
// and past it names are written whole and read back equal.
func TestNamesAreADictionary(t *testing.T) {
	s := NewStore(StoreOptions{})
	const url = "http://upstream.example.com:8443/a/long/path/to/the/mcp/endpoint"
	for i := range maxNames + 500 {
		ex := smallExchange(i + 1)
		ex.URL = url
		ex.Host = fmt.Sprintf("host-%d.example.com", i) // one of a kind: the dictionary fills
		ex.ID = s.Add(ex)
		if rest := s.pk.partLen(s.rec(ex.ID).refs[partRest]); i < 10 && rest > 100 {
			t.Fatalf("record %d: its own part is %d bytes with a %d-byte URL and its host in the dictionary", i, rest, len(url))
		}
		checkPacked(t, fmt.Sprint("Get ", i), ex, s.Get(ex.ID))
	}
	if len(s.pk.dict) != maxNames {
		t.Fatalf("the dictionary holds %d names, bound %d", len(s.pk.dict), maxNames)
	}
	checkAccount(t, s)
	if len(words) >= nameMark {
		t.Fatalf("%d words: a word's byte would be the dictionary's mark", len(words))
	}
}

// The link between a proxied exchange and its upstream copy (a note in each, one of a kind) has its key as a word.
func TestLinkNoteKeyIsAWord(t *testing.T) {
	s := NewStore(StoreOptions{})
	ex := smallExchange(1)
	ex.Notes = []Note{{Key: NoteInbound, Value: "12345"}}
	id := s.Add(ex)
	if n := s.pk.partLen(s.rec(id).refs[partNotes]); n > 8 {
		t.Errorf("the note list {inbound 12345} takes %d bytes, want 8 (its count, the key's word, the value)", n)
	}
	checkPacked(t, "Get", ex, s.Get(id))
}

// A header list that repeats is packed once while it stays recent, however many one-of-a-kind bodies are packed
// between two of its uses (the bodies have a cache of their own and do not push the lists out of theirs: with one
// cache, 1,200 bodies between two uses pushed the list out about 7 times in 10).
func TestRepeatedListsSurviveUniqueBodies(t *testing.T) {
	s := NewStore(StoreOptions{})
	a := Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "Mcp-Session-Id", Value: "a-session-that-comes-back"}}
	seen := map[ref]bool{}
	n := 0
	for range 10 {
		ex := smallExchange(n + 1)
		ex.ReqHeaders = a
		id := s.Add(ex)
		seen[s.rec(id).refs[partReqHeaders]] = true
		for range 600 { // other exchanges, bodies of their own, between two uses of a
			n++
			s.Add(smallExchange(n + 1))
		}
	}
	if len(seen) > 3 {
		t.Errorf("a header list used 10 times, 600 exchanges apart, was packed %d times", len(seen))
	}
}

// A JSON-RPC call and its answer, their ids found in their bodies, take a head byte, two words and the id's place
// each in the record's own part: at most 12 bytes for the pair (23 with a byte per field).
func TestUsualRPCPairIsSmall(t *testing.T) {
	s := NewStore(StoreOptions{})
	ex := smallExchange(12345)
	bare := smallExchange(12345)
	bare.RPC = nil
	id, bareID := s.Add(ex), s.Add(bare)
	n := s.pk.partLen(s.rec(id).refs[partRest]) - s.pk.partLen(s.rec(bareID).refs[partRest])
	t.Logf("a call and its answer: %d bytes", n)
	if n > 12 {
		t.Errorf("a call and its answer take %d bytes of the record's own part, want at most 12", n)
	}
	checkPacked(t, "Get", ex, s.Get(id))
	checkPacked(t, "Get bare", bare, s.Get(bareID))
}

// A client's remote address is its host in the store's dictionary and its port as a uvarint; a stranger coming
// from many hosts fills at most a quarter of the dictionary with them, then its addresses are written whole; an
// address whose port is not written the usual way is written whole too. All read back equal.
func TestRemoteAddrInTheDictionary(t *testing.T) {
	s := NewStore(StoreOptions{})
	ex := smallExchange(1)
	ex.RemoteAddr = "127.0.0.1:34218"
	bare := smallExchange(1)
	bare.RemoteAddr = ""
	id, bareID := s.Add(ex), s.Add(bare)
	if n := s.pk.partLen(s.rec(id).refs[partRest]) - s.pk.partLen(s.rec(bareID).refs[partRest]); n > 5 {
		t.Errorf("the address %q takes %d bytes of the record's own part, want at most 5 more than none", ex.RemoteAddr, n)
	}
	checkPacked(t, "Get", ex, s.Get(id))
	checkPacked(t, "Get bare", bare, s.Get(bareID))
	for i, a := range []string{"[::1]:443", "10.0.0.1:0", "10.0.0.1:08", "10.0.0.1:65536", "10.0.0.1:", ":80", "nohost", "@", "unix:/a:b"} {
		e := smallExchange(i + 2)
		e.RemoteAddr = a
		checkPacked(t, a, e, s.Get(s.Add(e)))
	}
	for i := range maxNames {
		e := smallExchange(i + 20)
		e.RemoteAddr = fmt.Sprintf("10.%d.%d.1:40000", i/256, i%256)
		checkPacked(t, e.RemoteAddr, e, s.Get(s.Add(e)))
	}
	if s.pk.addrNames != maxAddrNames || len(s.pk.dict) > maxAddrNames+10 {
		t.Errorf("after %d hosts the dictionary holds %d names, %d of addresses (bound %d)", maxNames, len(s.pk.dict), s.pk.addrNames, maxAddrNames)
	}
	checkAccount(t, s)
}

// Two header lists that repeat and fall in the same slot of the lists' cache are each packed once (a set of two
// slots holds both); with one slot each pushed the other out and was packed again at every other use.
func TestCollidingListsArePackedOnce(t *testing.T) {
	s := NewStore(StoreOptions{})
	hash := func(h Headers) uint64 { return maphash.Bytes(s.pk.parts.seed, packHeaders(nil, h)) }
	list := func(i int) Headers { return Headers{{Name: "Mcp-Session-Id", Value: fmt.Sprint("session-", i)}} }
	a := list(0)
	var b Headers
	for i := 1; b == nil; i++ {
		if l := list(i); hash(l)%uint64(len(s.pk.parts.slots)) == hash(a)%uint64(len(s.pk.parts.slots)) {
			b = l
		}
	}
	refs := map[ref]bool{}
	for i := range 100 {
		ex := smallExchange(i + 1)
		ex.ReqHeaders = a
		if i%2 == 1 {
			ex.ReqHeaders = b
		}
		id := s.Add(ex)
		refs[s.rec(id).refs[partReqHeaders]] = true
		checkPacked(t, fmt.Sprint("Get ", id), ex, s.Get(id))
	}
	if len(refs) != 2 {
		t.Errorf("two lists used 50 times each, alternately, packed %d times", len(refs))
	}
}

// A body recorded whole has its size as one byte (its difference from the length the record keeps), the fields a
// record rarely sets (truncation, a fault, skipped events and messages) cost one byte of flags together, and an
// empty remote address (an upstream copy's) one byte: a tools/call without messages or address has an own part of
// 23 bytes (30 before: the sizes 2 bytes each, a byte for each flag, a fault's and the address' lengths).
func TestRareFieldsAreFlags(t *testing.T) {
	s := NewStore(StoreOptions{})
	ex := smallExchange(7)
	ex.RPC, ex.RemoteAddr = nil, ""
	id := s.Add(ex)
	if n := s.pk.partLen(s.rec(id).refs[partRest]); n > 23 {
		t.Errorf("the record's own part is %d bytes, want at most 23", n)
	}
	checkPacked(t, "Get", ex, s.Get(id))
	rare := smallExchange(8)
	rare.ReqBody.Truncated, rare.RespBody.Size, rare.Error, rare.EventsSkipped, rare.RPCSkipped = true, 1<<20, "upstream: EOF", 3, 4
	checkPacked(t, "Get rare", rare, s.Get(s.Add(rare)))
}

// The link between a proxied exchange and its upstream copy names the other's id as its difference from the
// record's own: the list {outbound <id+1>} takes 4 bytes (count, key, mark, difference; 7 with the id's 4 digits
// written whole, 10 with 7 digits). Values that are not an id's digits exactly are written whole; all read back equal.
func TestLinkNoteIsADifference(t *testing.T) {
	s := NewStore(StoreOptions{})
	for i := range 1000 {
		s.Add(smallExchange(i + 1)) // ids of four digits
	}
	id := uint64(1001)
	ex := smallExchange(1)
	ex.Notes = []Note{{Key: NoteOutbound, Value: fmt.Sprint(id + 1)}}
	if got := s.Add(ex); got != id {
		t.Fatalf("id %d, want %d", got, id)
	}
	if n := s.pk.partLen(s.rec(id).refs[partNotes]); n > 4 {
		t.Errorf("the note list {outbound %d} takes %d bytes, want 4", id+1, n)
	}
	checkPacked(t, "Get", ex, s.Get(id))
	for _, v := range []string{"0", "1", "007", "-1", "+3", "", "abc", "18446744073709551615", "18446744073709551616", "99999999999999999999"} {
		e := smallExchange(2)
		e.Notes = []Note{{Key: NoteInbound, Value: v}, {Key: "other", Value: "5"}}
		checkPacked(t, "Get "+v, e, s.Get(s.Add(e)))
	}
}
