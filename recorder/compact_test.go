package recorder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/mcpwatch/mcpwatch/internal/timeword"
)

// richExchange has every part a record packs, with the edge cases: long names and values, a binary body, an event
// whose data is not a run of the body (multi-line), events after a truncated body, empty but present lists (JSON
// [] rather than null), faults, notes, JSON-RPC errors.
func richExchange() *Exchange {
	long := strings.Repeat("v", internMax+1)
	code := -32601
	body := "event: message\nid: e1\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"a\",\"error\":{\"code\":-32601,\"message\":\"no\"}}\n\n" +
		"data: line one\ndata: line two\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n"
	return &Exchange{
		ID: 9, Kind: Outbound, State: StateComplete, RemoteAddr: "[::1]:4444", Method: "POST", URL: "http://up.example/mcp?x=1",
		Host: "up.example", Proto: "HTTP/2.0", Error: "stream closed by the client",
		ReqHeaders:  Headers{{"Authorization", "Bearer " + long}, {strings.Repeat("X-Long-", 20), "1"}, {"Accept", "*/*"}},
		ReqBody:     Body{Data: []byte{0xff, 0xfe, 0, 1}, Size: 4},
		Status:      200,
		RespHeaders: Headers{},
		RespBody:    Body{Data: []byte(body[:len(body)-10]), Size: int64(len(body)), Truncated: true},
		Events: []SSEEvent{
			{At: 5, ID: "e1", Event: "message", Data: `{"jsonrpc":"2.0","id":"a","error":{"code":-32601,"message":"no"}}`},
			{At: 6, Data: "line one\nline two"},
			{At: 7, Data: `{"jsonrpc":"2.0","method":"notifications/progress"}`, Retry: 3},
		},
		EventsSkipped: 2,
		RPC: []RPC{
			{From: FromClient, Method: strings.Repeat("m", internMax+5), ID: []byte(`"a"`), Event: -1},
			{From: FromServer, ID: []byte(`"a"`), ErrorCode: &code, ErrorMessage: "no", IsResponse: true, ReplyTo: "x", Event: 0},
			{From: FromServer, Method: "notifications/progress", ID: []byte{}, Event: 2, Batch: true},
		},
		RPCSkipped: 1,
		Toggles:    []ToggleChange{{Name: "drop-session", What: "response header Mcp-Session-Id", Before: "abc"}},
		Notes:      []Note{{Key: "era", Value: "legacy"}, {Key: NoteInbound, Value: "8"}},
	}
}

// packOne stores ex (its State kept) in s and returns what subscribers heard at its completion and what Get
// returns after.
func packOne(t testing.TB, s *Store, ex *Exchange) (heard, got *Exchange) {
	t.Helper()
	sub := s.Subscribe(4)
	defer sub.Close()
	c := *ex
	s.begin(&c)
	s.complete(&c)
	for u := range sub.C {
		if u.Kind == Completed {
			heard = u.Exchange
			break
		}
	}
	return heard, s.Get(c.ID)
}

// checkPacked holds a packed record to the exchange it was packed from: every field equal (nil and empty lists
// told apart, Start to the bit), the same capture line byte for byte, the same size estimate and answers.
func checkPacked(t testing.TB, name string, want, got *Exchange) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no record", name)
	}
	x, y := *got, *want
	x.memo, y.memo = nil, nil
	y.ID = x.ID
	if !reflect.DeepEqual(x, y) {
		t.Fatalf("%s: the record differs:\n got %+v\nwant %+v", name, x, y)
	}
	if got.Start != want.Start {
		t.Fatalf("%s: Start %v, want %v", name, got.Start, want.Start)
	}
	w := y
	wantLine, err1 := appendLine(nil, &w)
	gotLine, err2 := appendLine(nil, got)
	if !bytes.Equal(gotLine, wantLine) || (err1 == nil) != (err2 == nil) {
		t.Fatalf("%s: capture line changed:\n got %s %v\nwant %s %v", name, gotLine, err2, wantLine, err1)
	}
	gc, gm, gok := got.RPCError()
	wc, wm, wok := want.RPCError()
	if got.Size() != want.Size() || got.RPCMethod() != want.RPCMethod() || gc != wc || gm != wm || gok != wok {
		t.Fatalf("%s: Size %d vs %d, RPCMethod %q vs %q, RPCError %d %q %v vs %d %q %v", name, got.Size(), want.Size(),
			got.RPCMethod(), want.RPCMethod(), gc, gm, gok, wc, wm, wok)
	}
}

// The packed record is the same exchange (what subscribers hear and what Get returns), and the original is left
// as it was.
func TestCompactKeepsTheRecord(t *testing.T) {
	s := NewStore(StoreOptions{})
	for name, ex := range map[string]*Exchange{"tools/call": benchExchange(), "rich": richExchange(), "empty": {ID: 1},
		"now": {Start: time.Now(), Kind: Inbound, State: StateStreaming, Status: -1 << 40},
		// a Start in a zone other than UTC or Local (a capture file written elsewhere) is kept as it came
		"zone": {Start: time.Date(2026, 12, 6, 7, 0, 0, 1, time.FixedZone("X", 3600)), URL: "/z"}} {
		t.Run(name, func(t *testing.T) {
			before := *ex
			heard, got := packOne(t, s, ex)
			checkPacked(t, "heard", ex, heard)
			checkPacked(t, "Get", ex, got)
			if !reflect.DeepEqual(*ex, before) {
				t.Error("packing modified its argument")
			}
		})
	}
}

// gen makes varied exchanges from a stream of choices (random, or a fuzzer's bytes).
type gen struct {
	r   *rand.Rand
	buf []byte
}

func (g *gen) n(k int) int {
	if g.r != nil {
		return g.r.IntN(k)
	}
	if len(g.buf) == 0 {
		return 0
	}
	v := int(g.buf[0])
	g.buf = g.buf[1:]
	return v % k
}

func (g *gen) str(body []byte) string {
	switch g.n(6) {
	case 0:
		return ""
	case 1:
		if len(body) > 0 { // a run of the body
			i := g.n(len(body))
			return string(body[i : i+g.n(len(body)-i+1)])
		}
		return "x"
	case 2:
		return strings.Repeat("é", g.n(200))
	case 3:
		return string([]byte{0xff, byte(g.n(256)), 0})
	}
	return fmt.Sprint("v", g.n(8))
}

func (g *gen) bytes() []byte {
	switch g.n(4) {
	case 0:
		return nil
	case 1:
		return []byte{}
	case 2:
		b := make([]byte, g.n(300))
		for i := range b {
			b[i] = byte(g.n(256))
		}
		return b
	}
	return []byte(`{"jsonrpc":"2.0","id":` + fmt.Sprint(g.n(5)) + `,"result":{}}` + "\n" + strings.Repeat("data: x\n", g.n(4)))
}

func genList[E any](g *gen, f func() E) []E {
	switch g.n(4) {
	case 0:
		return nil
	case 1:
		return []E{}
	}
	out := make([]E, 1+g.n(5))
	for i := range out {
		out[i] = f()
	}
	return out
}

func (g *gen) exchange() *Exchange {
	kinds := []string{Inbound, Outbound, "", "other"}
	states := []string{StateComplete, StatePending, StateStreaming, ""}
	starts := []time.Time{{}, time.Now(), time.Unix(int64(g.n(1<<30)), int64(g.n(1e9))).UTC(), time.Unix(int64(g.n(1<<30)), 0)}
	ex := &Exchange{Kind: kinds[g.n(4)], State: states[g.n(4)], Start: starts[g.n(4)],
		Timings:    Timings{Wait: time.Duration(g.n(1 << 20)), Total: time.Duration(g.n(1<<30) - 5)},
		RemoteAddr: g.str(nil), Method: g.str(nil), URL: g.str(nil), Host: g.str(nil), Proto: g.str(nil), Error: g.str(nil),
		Status: g.n(1000) - 100, EventsSkipped: g.n(3), RPCSkipped: g.n(3)}
	ex.ReqBody = Body{Data: g.bytes(), Size: int64(g.n(1000)), Truncated: g.n(2) == 0}
	ex.RespBody = Body{Data: g.bytes(), Size: int64(g.n(1000)), Truncated: g.n(2) == 0}
	hdr := func() Header { return Header{g.str(nil), g.str(nil)} }
	ex.ReqHeaders, ex.RespHeaders = genList(g, hdr), genList(g, hdr)
	ex.Events = genList(g, func() SSEEvent {
		return SSEEvent{At: time.Duration(g.n(1 << 20)), ID: g.str(ex.RespBody.Data), Event: g.str(nil), Data: g.str(ex.RespBody.Data), Retry: g.n(5)}
	})
	ex.RPC = genList(g, func() RPC {
		m := RPC{From: []string{FromClient, FromServer, ""}[g.n(3)], Method: g.str(nil), ReplyTo: g.str(nil), Event: g.n(4) - 1,
			IsResponse: g.n(2) == 0, Batch: g.n(2) == 0}
		body := ex.RespBody.Data
		if m.From == FromClient {
			body = ex.ReqBody.Data
		}
		switch g.n(3) {
		case 0:
			m.ID = []byte{}
		case 1:
			m.ID = []byte(g.str(body))
		}
		if g.n(2) == 0 {
			code := g.n(70000) - 35000
			m.ErrorCode, m.ErrorMessage = &code, g.str(body)
		}
		return m
	})
	ex.Toggles = genList(g, func() ToggleChange { return ToggleChange{g.str(nil), g.str(nil), g.str(nil), g.str(nil)} })
	ex.Notes = genList(g, func() Note {
		return Note{[]string{"era", NoteInbound, NoteOutbound, "k"}[g.n(4)], g.str(nil)}
	})
	return ex
}

// Pack → materialise gives the record back over varied exchanges (every field, nil and empty lists, binary and
// truncated bodies, events and messages whose texts are or are not runs of their bodies), in a store small
// enough that slabs and chunks come and go meanwhile.
func TestPackMaterialiseProperty(t *testing.T) {
	// split: packed as with a capture file (bodies in slabs of their own, the large ones alone; Store.useCapture)
	for _, split := range []bool{false, true} {
		g := &gen{r: rand.New(rand.NewPCG(1, 2))}
		s := NewStore(StoreOptions{MaxBytes: 64 << 10})
		if split {
			s.bodyMin = 64
		}
		for i := range 3000 {
			ex := g.exchange()
			heard, got := packOne(t, s, ex)
			checkPacked(t, fmt.Sprint("heard ", i, " split ", split), ex, heard)
			checkPacked(t, fmt.Sprint("Get ", i, " split ", split), ex, got)
		}
		checkAccount(t, s)
		if st := s.Stats(); st.Evicted == 0 || st.Bytes > 64<<10 {
			t.Errorf("the store was not bounded: %+v", st)
		}
	}
}

// FuzzPackRecord: pack → materialise gives the record back, for exchanges a fuzzer's bytes choose.
func FuzzPackRecord(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c"))
	f.Add(bytes.Repeat([]byte{3, 1, 2, 0, 255, 7}, 40))
	s := NewStore(StoreOptions{MaxBytes: 32 << 10})
	f.Fuzz(func(t *testing.T, choices []byte) {
		ex := (&gen{buf: choices}).exchange()
		heard, got := packOne(t, s, ex)
		checkPacked(t, "heard", ex, heard)
		checkPacked(t, "Get", ex, got)
	})
}

// What makes the record small: equal header lists and notes are one part in the slab (and one materialised
// list), an event's data and id and a message's id refer to the body's bytes, and the two bodies are neighbours.
func TestCompactSharesAndPacks(t *testing.T) {
	s := NewStore(StoreOptions{})
	a, b := benchExchange(), benchExchange()
	b.ReqBody.Data = []byte(strings.Replace(benchCall, "1417", "1418", 1)) // bodies differ, lists do not
	b.RPC = slices.Clone(b.RPC)
	for _, ex := range []*Exchange{a, b} {
		ex.Notes[0].Value = strings.Clone(ex.Notes[0].Value)
		for i := range ex.ReqHeaders {
			ex.ReqHeaders[i].Value = strings.Clone(ex.ReqHeaders[i].Value)
		}
	}
	_, ca := packOne(t, s, a)
	_, cb := packOne(t, s, b)
	ra, rb := s.rec(ca.ID), s.rec(cb.ID)
	if ra.refs[partReqHeaders] != rb.refs[partReqHeaders] || ra.refs[partNotes] != rb.refs[partNotes] {
		t.Error("equal header lists or notes are two parts")
	}
	if unsafe.SliceData(ca.RespHeaders) != unsafe.SliceData(cb.RespHeaders) || unsafe.SliceData(ca.Notes) != unsafe.SliceData(cb.Notes) {
		t.Error("equal lists are materialised twice")
	}
	if ra.refs[partReqBody] == rb.refs[partReqBody] {
		t.Error("different bodies share a part")
	}
	body := ca.RespBody.Data
	if !within(ca.Events[0].Data, body) || !within(ca.Events[0].ID, body) {
		t.Error("the event's data or id is a second copy, not the body's bytes")
	}
	if !within(bytesString(ca.RPC[0].ID), ca.ReqBody.Data) || !within(bytesString(ca.RPC[1].ID), body) {
		t.Error("the messages' ids are copies, not the bodies' bytes")
	}
	req := uintptr(unsafe.Pointer(unsafe.SliceData(ca.ReqBody.Data)))
	// the response body's length (a uvarint) is between them
	if uintptr(unsafe.Pointer(unsafe.SliceData(ca.RespBody.Data))) != req+uintptr(len(ca.ReqBody.Data)+uvarintLen(uint64(len(ca.RespBody.Data)))) {
		t.Error("the request and response bodies are not neighbours in one slab")
	}
}

func within(s string, body []byte) bool {
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.SliceData(body)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(body))
}

// The store keeps the packed record: what Get returns is made from the store's slab (not the exchange as it
// came), equal to what subscribers heard at completion.
func TestStoreKeepsCompactRecords(t *testing.T) {
	s := NewStore(StoreOptions{})
	sub := s.Subscribe(8)
	ex := benchExchange()
	ex.URL = strings.Clone(ex.URL)
	id := s.Add(ex)
	got := s.Get(id)
	if unsafe.StringData(got.URL) == unsafe.StringData(ex.URL) || s.rec(id).live {
		t.Fatal("the store kept the exchange as it came, not packed")
	}
	<-sub.C // Began
	if u := <-sub.C; u.Kind != Completed || !reflect.DeepEqual(u.Exchange, got) {
		t.Errorf("subscribers heard %v %+v, the store holds %+v", u.Kind, u.Exchange, got)
	}
}

// The upstream copy of a proxied exchange and its client's exchange hold their equal bodies once.
func TestCompactSharesEqualBodies(t *testing.T) {
	s := NewStore(StoreOptions{})
	up, client := benchExchange(), benchExchange()
	client.ReqBody.Data = bytes.Clone(client.ReqBody.Data)
	client.RespBody.Data = bytes.Clone(client.RespBody.Data)
	_, cu := packOne(t, s, up)
	_, cc := packOne(t, s, client)
	if unsafe.SliceData(cu.ReqBody.Data) != unsafe.SliceData(cc.ReqBody.Data) || unsafe.SliceData(cu.RespBody.Data) != unsafe.SliceData(cc.RespBody.Data) {
		t.Error("equal bodies are two copies")
	}
	other := benchExchange()
	other.ReqBody.Data = []byte(strings.Replace(benchCall, "1417", "1418", 1))
	if _, co := packOne(t, s, other); unsafe.SliceData(co.ReqBody.Data) == unsafe.SliceData(cc.ReqBody.Data) || string(co.ReqBody.Data) != string(other.ReqBody.Data) {
		t.Error("a different body was shared")
	}
}

// BenchmarkCompact is what completing a tools/call costs the store on the HTTP path: packing it and the copy
// subscribers hear (its own part goes in the slab, a new one allocated every 1 MiB).
func BenchmarkCompact(b *testing.B) {
	ex := benchExchange()
	s := NewStore(StoreOptions{})
	var rec packed
	b.ReportAllocs()
	for b.Loop() {
		s.pk.pack(&rec, ex, 0, nil, nil)
		c := ex.frozen()
		c.memo = compactMemo(c)
		s.pk.remember(&rec, c)
	}
}

// BenchmarkStoreAdd is a whole completed exchange into the store: its begin and its completion.
func BenchmarkStoreAdd(b *testing.B) {
	ex := benchExchange()
	s := NewStore(StoreOptions{})
	b.ReportAllocs()
	for b.Loop() {
		s.Add(ex)
	}
}

// BenchmarkStoreRead is reading 100,000 tools/call records back: Snapshot, and Get of each.
func BenchmarkStoreRead(b *testing.B) {
	s := NewStore(StoreOptions{})
	for i := range 100000 {
		ex := benchExchange()
		ex.ReqBody.Data = []byte(strings.Replace(benchCall, "1417", fmt.Sprint(i), 1))
		s.Add(ex)
	}
	b.Run("snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if len(s.Snapshot()) != 100000 {
				b.Fatal("short snapshot")
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for id := uint64(1); id <= 100000; id++ {
				if s.Get(id) == nil {
					b.Fatal("missing")
				}
			}
		}
	})
}

// The recorder completes its exchanges as packed records: Get returns what subscribers heard at completion (equal
// to it: subscribers hear the record as built, Get reads it from the packed form), and the record's two bodies are
// neighbours in one slab.
func TestRecorderCompletesCompactRecords(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(64)
	// a call and an answer no other test packs, so that neither is shared with an earlier record
	call, answer := strings.Replace(benchCall, "1417", "77031", 1), strings.Replace(benchEvent, "1417", "77031", 1)
	base, _ := serveRecorded(t, store, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, answer)
	}))
	resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(call))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	heard := waitCompleted(t, sub, 1)[0]
	ex := store.Get(heard.ID)
	if !reflect.DeepEqual(heard, ex) {
		t.Fatalf("subscribers heard %+v, the store holds %+v", heard, ex)
	}
	req, body := unsafe.SliceData(ex.ReqBody.Data), unsafe.SliceData(ex.RespBody.Data)
	if string(ex.ReqBody.Data) != call || string(ex.RespBody.Data) != answer || uintptr(unsafe.Pointer(body)) != uintptr(unsafe.Pointer(req))+uintptr(len(ex.ReqBody.Data)+uvarintLen(uint64(len(ex.RespBody.Data)))) {
		t.Errorf("the record is not packed: bodies %q at %p and %p", ex.ReqBody.Data, req, body)
	}
	// subscribers hear the record as the recorder built it, not one read back from the slab on the HTTP path
	if unsafe.SliceData(heard.ReqBody.Data) == req || unsafe.SliceData(heard.RespBody.Data) == body {
		t.Error("subscribers heard the record materialised from the packed form")
	}
}

// A materialised record small enough to look at whole keeps no memo; one beyond the bounds keeps it. Either
// answers RPCMethod, RPCError and Size as the record it was made from, and as the same record with no memo.
func TestCompactRecordMemo(t *testing.T) {
	big := richExchange()
	code := -32000
	for i := range memoFromLines + 1 {
		big.RPC = append(big.RPC, RPC{From: FromServer, IsResponse: true, ID: []byte(fmt.Sprint(i)), Event: -1})
	}
	big.RPC = append(big.RPC, RPC{From: FromServer, IsResponse: true, ErrorCode: &code, ErrorMessage: "late", Event: -1})
	s := NewStore(StoreOptions{})
	for name, tc := range map[string]struct {
		ex   *Exchange
		memo bool
	}{"tools/call": {benchExchange(), false}, "rich": {richExchange(), false}, "many messages": {big, true}} {
		t.Run(name, func(t *testing.T) {
			_, c := packOne(t, s, tc.ex)
			if (c.memo != nil) != tc.memo {
				t.Fatalf("memo kept: %v, want %v", c.memo != nil, tc.memo)
			}
			bare := *c
			bare.memo = nil
			for _, e := range []*Exchange{c, &bare} {
				gc, gm, gok := e.RPCError()
				wc, wm, wok := tc.ex.RPCError()
				if e.RPCMethod() != tc.ex.RPCMethod() || gc != wc || gm != wm || gok != wok || e.Size() != tc.ex.Size() {
					t.Errorf("RPCMethod %q/%q RPCError %d %q %v/%d %q %v Size %d/%d", e.RPCMethod(), tc.ex.RPCMethod(),
						gc, gm, gok, wc, wm, wok, e.Size(), tc.ex.Size())
				}
			}
		})
	}
	if n := unsafe.Sizeof(Exchange{}); n > 448 {
		t.Errorf("Exchange is %d bytes, above the 448-byte allocation class", n)
	}
}

// The packed record is 80 bytes (its refs 8 bytes each, the length in front of the part) and holds no pointer (the GC never scans a chunk); time.Time's layout is what
// packing Start assumes.
func TestPackedLayout(t *testing.T) {
	if n := unsafe.Sizeof(packed{}); n > 80 {
		t.Errorf("packed is %d bytes, want at most 80", n)
	}
	if !timeword.OK {
		t.Error("time.Time's layout changed: Start cannot be packed")
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[packed](), reflect.TypeFor[partCache]()} {
		if path := pointerIn(typ, typ.Name()); path != "" {
			t.Errorf("%s holds a pointer", path)
		}
	}
	withRefs := reflect.StructOf([]reflect.StructField{{Name: "N", Type: reflect.TypeFor[int]()},
		{Name: "Refs", Type: reflect.ArrayOf(2, reflect.TypeFor[struct{ P *int }]())}})
	if pointerIn(withRefs, "x") == "" {
		t.Error("pointerIn misses a pointer in an array of structs")
	}
}

// pointerIn returns the path to a field of typ (its fields', its arrays' elements' too) that holds a pointer, or "".
func pointerIn(typ reflect.Type, path string) string {
	switch typ.Kind() {
	case reflect.Struct:
		for i := range typ.NumField() {
			if p := pointerIn(typ.Field(i).Type, path+"."+typ.Field(i).Name); p != "" {
				return p
			}
		}
		return ""
	case reflect.Array:
		return pointerIn(typ.Elem(), path+"[]")
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr, reflect.Float32, reflect.Float64, reflect.Complex64,
		reflect.Complex128:
		return ""
	}
	return path // pointers, slices, strings, maps, interfaces, channels, funcs, unsafe pointers
}

// RPC's fields are ordered for size (a request and its answer in a 224-byte allocation), and its JSON keeps the
// keys in their documented order, which capture files have always had.
func TestRPCLayoutAndJSON(t *testing.T) {
	if n := unsafe.Sizeof(RPC{}); n > 112 {
		t.Errorf("RPC is %d bytes, want at most 112", n)
	}
	code := -32601
	got, err := json.Marshal([]RPC{{From: FromServer, Method: "m", ID: []byte(` 7 `), ErrorCode: &code, ErrorMessage: "<no>",
		IsResponse: true, ReplyTo: "tools/call", Event: 2, Batch: true}, {From: FromClient, Event: -1}})
	want := `[{"from":"server","method":"m","id":7,"errorCode":-32601,"errorMessage":"\u003cno\u003e","response":true,"replyTo":"tools/call","event":2,"batch":true},{"from":"client","event":-1}]`
	if err != nil || string(got) != want {
		t.Errorf("json.Marshal:\n got %s %v\nwant %s", got, err, want)
	}
}

// A note list linking a proxied exchange and its upstream copy holds the other's id: it never repeats, so it does
// not take a slot of the part cache; one that repeats is shared.
func TestCompactDoesNotCacheLinkNotes(t *testing.T) {
	for _, tc := range []struct {
		notes  []Note
		shared bool
	}{
		{[]Note{{Key: NoteOutbound, Value: "123457"}}, false},
		{[]Note{{Key: "era", Value: "2025-06-18"}, {Key: NoteInbound, Value: "123456"}}, false},
		{[]Note{{Key: "era", Value: "2025-06-18 (cached)"}}, true},
	} {
		s := NewStore(StoreOptions{})
		a, b := sampleExchange(1), sampleExchange(2)
		a.Notes, b.Notes = tc.notes, slices.Clone(tc.notes)
		_, ca := packOne(t, s, a)
		_, cb := packOne(t, s, b)
		if !slices.Equal(ca.Notes, tc.notes) || !slices.Equal(cb.Notes, tc.notes) {
			t.Fatalf("notes %v %v, want %v", ca.Notes, cb.Notes, tc.notes)
		}
		if got := s.rec(ca.ID).refs[partNotes] == s.rec(cb.ID).refs[partNotes]; got != tc.shared {
			t.Errorf("%v: shared %v, want %v", tc.notes, got, tc.shared)
		}
	}
}

// A materialised record stays what it was after the store let its slabs go and packed thousands of records
// since: what subscribers heard, what Get and Snapshot returned, still equal to a copy of them made at the time
// (a slab is never written again nor reused once dropped: the GC keeps it while a record refers to it).
func TestMaterialisedRecordsOutliveTheirSlabs(t *testing.T) {
	g := &gen{r: rand.New(rand.NewPCG(3, 4))}
	s := NewStore(StoreOptions{MaxBytes: 64 << 10})
	// dump copies every byte of a record (%#v prints strings and byte slices whole; the error codes behind
	// their pointers are added)
	dump := func(ex *Exchange) string {
		d := fmt.Sprintf("%#v", *ex)
		for _, m := range ex.RPC {
			if m.ErrorCode != nil {
				d += fmt.Sprint(" ", *m.ErrorCode)
			}
		}
		return d
	}
	type kept struct {
		ex   *Exchange
		dump string
	}
	var keep []kept
	add := func(ex *Exchange) { keep = append(keep, kept{ex, dump(ex)}) }
	for range 200 {
		heard, got := packOne(t, s, g.exchange())
		add(heard)
		add(got)
	}
	for _, ex := range s.Snapshot() {
		add(ex)
	}
	firstSlab := s.pk.nextSlab
	for range 5000 {
		packOne(t, s, g.exchange())
	}
	runtime.GC()
	if s.pk.slabBase <= firstSlab || s.Get(keep[0].ex.ID) != nil {
		t.Fatalf("the slabs of the records kept are still held (%d, first %d)", firstSlab, s.pk.slabBase)
	}
	for _, k := range keep {
		if d := dump(k.ex); d != k.dump {
			t.Fatalf("record %d changed after its slabs went:\n got %s\nwant %s", k.ex.ID, d, k.dump)
		}
	}
}

// A large body (a slab of its own) is shared too: the upstream copy of a proxied exchange and its client's
// exchange hold a body cut at the recorder's limit once.
func TestCompactSharesLargeBodies(t *testing.T) {
	s := NewStore(StoreOptions{})
	up, client := benchExchange(), benchExchange()
	up.RespBody.Data = bytes.Repeat([]byte("0123456789"), 100<<10)
	client.RespBody.Data = bytes.Clone(up.RespBody.Data)
	up.Events, client.Events, up.RPC, client.RPC = nil, nil, up.RPC[:1], client.RPC[:1]
	_, cu := packOne(t, s, up)
	before := s.Stats().Bytes
	_, cc := packOne(t, s, client)
	if unsafe.SliceData(cu.RespBody.Data) != unsafe.SliceData(cc.RespBody.Data) || !bytes.Equal(cc.RespBody.Data, up.RespBody.Data) {
		t.Error("equal large bodies are two copies")
	}
	if grew := s.Stats().Bytes - before; grew > 0 {
		t.Errorf("the store grew by %d B for a record whose parts are all shared", grew)
	}
}
