package recorder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// richExchange has every part compact copies, with the edge cases: names and values too long to intern, a binary
// body, an event whose data is not a run of the body (multi-line), events after a truncated body, empty but
// present lists (JSON [] rather than null), faults, notes, JSON-RPC errors.
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

// The compacted record is the same exchange: every field equal (nil and empty lists told apart), the same
// capture line byte for byte, the same size estimate; the original is left as it was; the slab is sized exactly.
func TestCompactKeepsTheRecord(t *testing.T) {
	for name, ex := range map[string]*Exchange{"tools/call": benchExchange(), "rich": richExchange(), "empty": {ID: 1}} {
		t.Run(name, func(t *testing.T) {
			before := *ex
			wantLine, err := appendLine(nil, ex)
			if err != nil {
				t.Fatal(err)
			}
			resized := slabResized.Load()
			c := compact(ex)
			if slabResized.Load() != resized {
				t.Error("the slab was sized wrong")
			}
			gotLine, err := appendLine(nil, c)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotLine, wantLine) {
				t.Errorf("capture line changed:\n got %s\nwant %s", gotLine, wantLine)
			}
			x, y := *c, *ex
			x.memo, y.memo = nil, nil
			if !reflect.DeepEqual(x, y) {
				t.Errorf("compacted record differs:\n got %+v\nwant %+v", x, y)
			}
			if !reflect.DeepEqual(*ex, before) {
				t.Error("compact modified its argument")
			}
			if c.Size() != ex.Size() || c.RPCMethod() != ex.RPCMethod() {
				t.Errorf("Size %d vs %d, RPCMethod %q vs %q", c.Size(), ex.Size(), c.RPCMethod(), ex.RPCMethod())
			}
		})
	}
}

// What makes the record compact: header names and short values are one copy process-wide, an event's data
// refers to the body's bytes, equal header lists and notes are shared, and what the record owns alone is in one
// slab (its two bodies are neighbours in it).
func TestCompactSharesAndPacks(t *testing.T) {
	a, b := benchExchange(), benchExchange()
	// distinct allocations for the same header texts, as two requests parsed by net/http have
	for _, ex := range []*Exchange{a, b} {
		ex.RemoteAddr = strings.Clone(ex.RemoteAddr)
		ex.Notes[0].Value = strings.Clone(ex.Notes[0].Value)
		for i := range ex.ReqHeaders {
			ex.ReqHeaders[i].Name = strings.Clone(ex.ReqHeaders[i].Name)
			ex.ReqHeaders[i].Value = strings.Clone(ex.ReqHeaders[i].Value)
		}
	}
	ca, cb := compact(a), compact(b)
	for i := range ca.ReqHeaders {
		if unsafe.StringData(ca.ReqHeaders[i].Name) != unsafe.StringData(cb.ReqHeaders[i].Name) ||
			unsafe.StringData(ca.ReqHeaders[i].Value) != unsafe.StringData(cb.ReqHeaders[i].Value) {
			t.Errorf("header %q is not interned", ca.ReqHeaders[i].Name)
		}
	}
	if unsafe.SliceData(ca.RespHeaders) != unsafe.SliceData(cb.RespHeaders) {
		t.Error("equal response header lists are two copies")
	}
	body := ca.RespBody.Data
	p := uintptr(unsafe.Pointer(unsafe.StringData(ca.Events[0].Data)))
	if lo := uintptr(unsafe.Pointer(unsafe.SliceData(body))); p < lo || p >= lo+uintptr(len(body)) {
		t.Error("the event's data is a second copy, not the body's bytes")
	}
	req := uintptr(unsafe.Pointer(unsafe.SliceData(ca.ReqBody.Data)))
	if uintptr(unsafe.Pointer(unsafe.SliceData(body))) != req+uintptr(len(ca.ReqBody.Data)) {
		t.Error("the request and response bodies are not neighbours in one slab")
	}
	if unsafe.StringData(ca.RemoteAddr) != unsafe.StringData(cb.RemoteAddr) || unsafe.SliceData(ca.Notes) != unsafe.SliceData(cb.Notes) {
		t.Error("the address or the notes are two copies")
	}
}

// The store keeps the compacted record: what Get returns and what subscribers hear at completion.
func TestStoreKeepsCompactRecords(t *testing.T) {
	s := NewStore(StoreOptions{})
	sub := s.Subscribe(8)
	ex := benchExchange()
	ex.URL = strings.Clone(ex.URL)
	id := s.Add(ex)
	got := s.Get(id)
	if unsafe.StringData(got.URL) == unsafe.StringData(ex.URL) {
		t.Fatal("the store kept the exchange as it came, not compacted")
	}
	<-sub.C // Began
	if u := <-sub.C; u.Kind != Completed || u.Exchange != got {
		t.Errorf("subscribers heard %v %p, want the stored record %p", u.Kind, u.Exchange, got)
	}
}

// The upstream copy of a proxied exchange and its client's exchange hold their equal bodies once.
func TestCompactSharesEqualBodies(t *testing.T) {
	up, client := benchExchange(), benchExchange()
	client.ReqBody.Data = bytes.Clone(client.ReqBody.Data)
	client.RespBody.Data = bytes.Clone(client.RespBody.Data)
	cu, cc := compact(up), compact(client)
	if unsafe.SliceData(cu.ReqBody.Data) != unsafe.SliceData(cc.ReqBody.Data) || unsafe.SliceData(cu.RespBody.Data) != unsafe.SliceData(cc.RespBody.Data) {
		t.Error("equal bodies are two copies")
	}
	if unsafe.SliceData(cu.RPC) != unsafe.SliceData(cc.RPC) {
		t.Error("equal JSON-RPC messages are two copies")
	}
	other := benchExchange()
	other.ReqBody.Data = []byte(strings.Replace(benchCall, "1417", "1418", 1))
	if co := compact(other); unsafe.SliceData(co.ReqBody.Data) == unsafe.SliceData(cc.ReqBody.Data) || string(co.ReqBody.Data) != string(other.ReqBody.Data) {
		t.Error("a different body was shared")
	}
}

// BenchmarkCompact is what compacting a completed tools/call costs on the HTTP path (allocations: the slab, the
// record, its RPC and event lists; header and note lists are shared).
func BenchmarkCompact(b *testing.B) {
	ex := benchExchange()
	b.ReportAllocs()
	for b.Loop() {
		compact(ex)
	}
}

// The recorder completes its exchanges as compact records: the stored record's two bodies are neighbours in one
// slab, and what subscribers hear at completion is that record.
func TestRecorderCompletesCompactRecords(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(64)
	// a call and an answer no other test compacts, so that neither is shared with an earlier record
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
	ex := waitCompleted(t, sub, 1)[0]
	if got := store.Get(ex.ID); got != ex {
		t.Fatalf("subscribers heard %p, the store holds %p", ex, got)
	}
	req, body := unsafe.SliceData(ex.ReqBody.Data), unsafe.SliceData(ex.RespBody.Data)
	if string(ex.ReqBody.Data) != call || string(ex.RespBody.Data) != answer || uintptr(unsafe.Pointer(body)) != uintptr(unsafe.Pointer(req))+uintptr(len(ex.ReqBody.Data)) {
		t.Errorf("the record is not compact: bodies %q at %p and %p", ex.ReqBody.Data, req, body)
	}
}

// JSON-RPC lists are equal only when every field is, error codes by value.
func TestRPCListsEqual(t *testing.T) {
	one, two, one2 := 1, 2, 1
	a := []RPC{{From: FromServer, ID: []byte("1"), ErrorCode: &one, IsResponse: true}}
	for _, tc := range []struct {
		b    []RPC
		want bool
	}{
		{[]RPC{{From: FromServer, ID: []byte("1"), ErrorCode: &one2, IsResponse: true}}, true},
		{[]RPC{{From: FromServer, ID: []byte("1"), ErrorCode: &two, IsResponse: true}}, false},
		{[]RPC{{From: FromServer, ID: []byte("1"), IsResponse: true}}, false},
		{[]RPC{{From: FromClient, ID: []byte("1"), ErrorCode: &one, IsResponse: true}}, false},
		{[]RPC{{From: FromServer, ID: []byte("1"), ErrorCode: &one, IsResponse: true, Event: 2}}, false},
		{[]RPC{{From: FromServer, ID: []byte("2"), ErrorCode: &one, IsResponse: true}}, false},
		{nil, false},
	} {
		if got := rpcListsEqual(a, tc.b); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.b, got, tc.want)
		}
	}
	if !rpcListsEqual([]RPC{{ID: []byte{}}}, []RPC{{ID: []byte{}}}) || rpcListsEqual([]RPC{{ID: []byte{}}}, []RPC{{}}) {
		t.Error("an empty id and no id are told apart, two empty ids are equal")
	}
}

// A compact record small enough to look at whole keeps no memo (it is most of a record's 32 bytes above the
// 448-byte allocation class); one beyond the bounds keeps it. Either answers RPCMethod, RPCError and Size as the
// record it was made from, and as the same record looked at with no memo at all.
func TestCompactRecordMemo(t *testing.T) {
	big := richExchange()
	code := -32000
	for i := range memoFromLines + 1 {
		big.RPC = append(big.RPC, RPC{From: FromServer, IsResponse: true, ID: []byte(fmt.Sprint(i)), Event: -1})
	}
	big.RPC = append(big.RPC, RPC{From: FromServer, IsResponse: true, ErrorCode: &code, ErrorMessage: "late", Event: -1})
	for name, tc := range map[string]struct {
		ex   *Exchange
		memo bool
	}{"tools/call": {benchExchange(), false}, "rich": {richExchange(), false}, "many messages": {big, true}} {
		t.Run(name, func(t *testing.T) {
			c := compact(tc.ex)
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

// A JSON-RPC message's id and error message, and an event's id, refer to the bytes of the body they came in
// rather than being copies in the slab; not so for a message in a body beyond rpcBodyMax, whose list may be
// shared by records that do not keep that body.
func TestCompactRefersToTheBody(t *testing.T) {
	within := func(s string, body []byte) bool {
		p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.SliceData(body)))
		return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(body))
	}
	ex := benchExchange()
	ex.ReqBody.Data = []byte(strings.Replace(benchCall, `"id":7`, `"id":"req-62817"`, 1))
	ex.RPC = slices.Clone(ex.RPC)
	ex.RPC[0].ID = []byte(`"req-62817"`)
	c := compact(ex)
	if !within(bytesString(c.RPC[0].ID), c.ReqBody.Data) || !within(bytesString(c.RPC[1].ID), c.RespBody.Data) {
		t.Errorf("the messages' ids are copies, not the bodies' bytes: %s %s", c.RPC[0].ID, c.RPC[1].ID)
	}
	if c.Events[0].ID == "" || !within(c.Events[0].ID, c.RespBody.Data) {
		t.Errorf("the event's id %q is a copy, not the body's bytes", c.Events[0].ID)
	}
	if string(c.RPC[0].ID) != `"req-62817"` || cap(c.RPC[0].ID) != len(c.RPC[0].ID) {
		t.Errorf("id %s (cap %d)", c.RPC[0].ID, cap(c.RPC[0].ID))
	}

	big := benchExchange()
	big.ReqBody.Data = []byte(strings.Replace(benchCall, `"id":7`, `"id":"req-62818"`, 1) + strings.Repeat(" ", rpcBodyMax))
	big.RPC = slices.Clone(big.RPC)
	big.RPC[0].ID = []byte(`"req-62818"`)
	cb := compact(big)
	if within(bytesString(cb.RPC[0].ID), cb.ReqBody.Data) || string(cb.RPC[0].ID) != `"req-62818"` {
		t.Errorf("an id in a body of %d bytes refers to it: %s", len(cb.ReqBody.Data), cb.RPC[0].ID)
	}
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

// A note list linking a proxied exchange and its upstream copy holds the other's id: it never repeats, so it is
// not cached (a list that repeats keeps its slot); one that repeats is.
func TestCompactDoesNotCacheLinkNotes(t *testing.T) {
	for _, tc := range []struct {
		notes  []Note
		cached bool
	}{
		{[]Note{{Key: NoteOutbound, Value: "123457"}}, false},
		{[]Note{{Key: "era", Value: "2025-06-18"}, {Key: NoteInbound, Value: "123456"}}, false},
		{[]Note{{Key: "era", Value: "2025-06-18 (cached)"}}, true},
	} {
		ex := sampleExchange(1)
		ex.Notes = tc.notes
		c := compact(ex)
		if !slices.Equal(c.Notes, tc.notes) {
			t.Fatalf("notes %v, want %v", c.Notes, tc.notes)
		}
		if got := recentNotes.lookup(tc.notes).seen != nil; got != tc.cached {
			t.Errorf("%v: cached %v, want %v", tc.notes, got, tc.cached)
		}
	}
}

// A list that is not cached costs its own allocation only: compacting the same record with a one-of-a-kind note
// list (a link to the upstream copy) allocates one more than without notes — the list (its value goes in the
// slab, which the record's other texts need anyway) — and no box for a cache slot it does not use.
func TestCompactUncachedListAllocations(t *testing.T) {
	ex := benchExchange()
	ex.Notes = nil
	ex.Error = "upstream broke off" // the slab exists either way
	linked := *ex
	linked.Notes = []Note{{Key: NoteOutbound, Value: "8675309"}}
	compact(ex)
	compact(&linked) // the bodies, headers and messages are shared from here on
	without := testing.AllocsPerRun(100, func() { compact(ex) })
	with := testing.AllocsPerRun(100, func() { compact(&linked) })
	if with != without+1 {
		t.Errorf("compacting with a link note: %v allocations, without notes %v; want one more", with, without)
	}
}
