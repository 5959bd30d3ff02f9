package recorder

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"unsafe"
)

// The texts a JSON-RPC message repeats are not looked up in unique's table (setShortString, rpcScanner.object): its
// method, when it is one of the words a record writes as one byte, is the recorder's own word; its "jsonrpc" member,
// of which only the presence is read, is the body's bytes; any other short method is still interned, and no text a
// message keeps refers to the body it was read from.
func TestRPCWordsAreTheRecordersOwn(t *testing.T) {
	body := []byte(`[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}},{"jsonrpc":"2.0","method":"x/custom"},{"jsonrpc":""}]`)
	in := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= uintptr(unsafe.Pointer(&body[0])) && p <= uintptr(unsafe.Pointer(&body[len(body)-1]))
	}
	raws, _, ok := scanRPC(nil, body, -1)
	if !ok || len(raws) != 3 {
		t.Fatalf("%d messages, ok %v", len(raws), ok)
	}
	if r := raws[0]; r.JSONRPC != "2.0" || !in(r.JSONRPC) {
		t.Errorf("jsonrpc %q is not the body's bytes", r.JSONRPC)
	}
	if r := raws[2]; r.JSONRPC != "" {
		t.Errorf("an empty jsonrpc reads %q", r.JSONRPC)
	}
	msgs := ParseRPC(body, FromClient, -1)
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	i, _ := wordIndex("tools/call")
	if m := msgs[0]; m.Method != "tools/call" || unsafe.StringData(m.Method) != unsafe.StringData(words[i-1]) {
		t.Errorf("method %q is not the recorder's word", m.Method)
	}
	if m := msgs[1]; m.Method != "x/custom" || unsafe.StringData(m.Method) != unsafe.StringData(intern("x/custom")) {
		t.Errorf("method %q is not interned", m.Method)
	}
	for _, m := range msgs {
		if in(m.Method) {
			t.Errorf("method %q refers to the body", m.Method)
		}
	}
}

// A header list equal to one packed recently is packed as a reference to that part, found by its fingerprint and
// read against the part in its slab (packer.putHeaders) rather than encoded and hashed: the lists of 16 sessions
// (their ids differ) in turn, each session's request lists and the answer's; a list that differs in one value, one
// name, or one line more is packed as its own part; every record reads back as it was added.
func TestHeaderListsMatchTheListsPackedLast(t *testing.T) {
	session := func(i int) string { return fmt.Sprintf("%016x", uint64(i+1)*0x9E3779B97F4A7C15) }
	lists := func(id string) []Headers {
		return []Headers{
			{{"Accept", "application/json, text/event-stream"}, {"Content-Type", "application/json"}, {"Mcp-Session-Id", id}},
			{{"Accept", "application/json, text/event-stream"}, {"Content-Type", "application/json"}, {"Mcp-Session-Id", id}, {"X-Forwarded-For", "127.0.0.1"}},
			{{"Content-Type", "application/json"}, {"Date", "Sun, 06 Dec 2026 23:00:00 GMT"}},
			// near the first: a value, a name, a line more
			{{"Accept", "application/json, text/event-stream"}, {"Content-Type", "application/json"}, {"Mcp-Session-Id", id + "0"}},
			{{"Accept", "application/json, text/event-stream"}, {"Content-Type", "application/json"}, {"Mcp-Session-ID", id}},
			{{"Accept", "application/json, text/event-stream"}, {"Content-Type", "application/json"}, {"Mcp-Session-Id", id}, {"A", ""}},
		}
	}
	fresh := func(h Headers) Headers { // the same texts in strings of their own, as each request's are
		c := make(Headers, len(h))
		for i, x := range h {
			c[i] = Header{strings.Clone(x.Name), strings.Clone(x.Value)}
		}
		return c
	}
	s := NewStore(StoreOptions{})
	type added struct {
		id        uint64
		req, resp Headers
	}
	var all []added
	add := func(req, resp Headers) {
		ex := sampleExchange(0)
		ex.ReqHeaders, ex.RespHeaders = fresh(req), fresh(resp)
		all = append(all, added{s.Add(ex), ex.ReqHeaders, ex.RespHeaders})
	}
	const rounds, sessions = 20, 16
	near := 0
	for i := range rounds {
		for k := range sessions {
			ls := lists(session(k))
			add(ls[0], ls[2])
			add(ls[1], ls[2])
			if (i*sessions+k)%37 == 36 { // now and then one near the first list
				add(ls[3+near%3], ls[2])
				near++
			}
		}
	}
	s.mu.Lock()
	matched := s.pk.listsMatched
	s.mu.Unlock()
	// the first of each list (2 a session and the answer's), the near ones, and a few that fell in a set of others
	// (one in 20 here)
	t.Logf("%d of %d header lists matched a list packed recently (%d near ones)", matched, 2*len(all), near)
	if want := (2*len(all) - 2*sessions - 1 - near) * 19 / 20; matched < want {
		t.Errorf("%d of %d header lists matched a list packed recently, want at least %d", matched, 2*len(all), want)
	}
	for _, a := range all {
		got := s.Get(a.id)
		if got == nil || !slices.Equal(got.ReqHeaders, a.req) || !slices.Equal(got.RespHeaders, a.resp) {
			t.Fatalf("record %d: %+v\nwant %v, %v", a.id, got, a.req, a.resp)
		}
	}
}

// BenchmarkPackPair is the packing of a proxied call's two records in the store call that completes them
// (Store.completePair's packLocked, without its lock and broadcasts): the upstream copy's, then its client's,
// which refers to the copy's bodies and answer headers; their header lists are fresh strings call after call, as
// each request's are (64 sets rotating). The records are a proxied tools/call's with mcpload's request headers.
func BenchmarkPackPair(b *testing.B) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(16)
	defer sub.Close()
	rec := New(store, Options{})
	h := proxiedHandler(b, rec, &Transport{Base: memRoundTripper{}, Recorder: rec, Derive: true})
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`
	r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header = http.Header{
		"Accept": {"application/json, text/event-stream"}, "Accept-Encoding": {"gzip"},
		"Content-Type": {"application/json"}, "Mcp-Protocol-Version": {"2025-11-25"},
		"Mcp-Session-Id": {"3f1c0d2e9b8a4f7e"}, "User-Agent": {"Go-http-client/1.1"},
	}
	h.ServeHTTP(httptest.NewRecorder(), r)
	var heard []*Exchange
	for len(heard) < 2 {
		if u := <-sub.C; u.Kind == Completed {
			heard = append(heard, u.Exchange)
		}
	}
	child, parent := heard[0], heard[1]
	if child.Kind != Outbound || parent.Kind != Inbound || len(child.ReqHeaders) < 6 {
		b.Fatalf("the pair: %+v\n%+v", child, parent)
	}
	fresh := func(h Headers) Headers {
		c := make(Headers, len(h))
		for i, x := range h {
			c[i] = Header{x.Name, strings.Clone(x.Value)}
		}
		return c
	}
	type pair struct{ child, parent Exchange }
	pairs := make([]pair, 64)
	for i := range pairs {
		p := &pairs[i]
		p.child, p.parent = *child, *parent
		p.child.ReqHeaders, p.child.RespHeaders = fresh(child.ReqHeaders), fresh(child.RespHeaders)
		p.parent.ReqHeaders, p.parent.RespHeaders = fresh(parent.ReqHeaders), p.child.RespHeaders
	}
	s := NewStore(StoreOptions{})
	var crec, prec packed
	b.ReportAllocs()
	i := 0
	cpu0 := testkit.ProcessCPU()
	for b.Loop() {
		p := &pairs[i%len(pairs)]
		i++
		s.pk.pack(&crec, &p.child, 0, nil, nil)
		s.pk.remember(&crec, &p.child)
		s.pk.pack(&prec, &p.parent, 0, &crec, &p.child)
		s.pk.remember(&prec, &p.parent)
	}
	b.ReportMetric(float64((testkit.ProcessCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// Every word of 3 bytes or more has a slot of its own in wordSlots, so that wordIndex finds it with one comparison
// (a word sharing a slot is still found, one by one: TestWordIndexIsTheMapsAnswer).
func TestWordsHaveSlotsOfTheirOwn(t *testing.T) {
	for i, w := range words {
		if len(w) >= 3 && wordSlots[wordSlot(w)] != byte(i+1) {
			t.Errorf("word %q shares its slot %d (%d)", w, wordSlot(w), wordSlots[wordSlot(w)])
		}
	}
}

// The client's record of a proxied call, which holds its upstream copy's JSON-RPC messages found in the same
// bodies, copies the messages' part of its own part from the copy's (packer.pack's rpcSec) rather than encoding
// them again: the part is the bytes appendRest encodes, and the records read back as heard. Answered with JSON and
// with an event.
func TestClientRecordCopiesTheCopysMessages(t *testing.T) {
	for _, sse := range []bool{false, true} {
		store := NewStore(StoreOptions{PublishDelay: -1})
		sub := store.Subscribe(64)
		rec := New(store, Options{})
		call := proxiedCall(t, rec, &Transport{Base: memRoundTripper{sse: sse}, Recorder: rec, Derive: true})
		const calls = 5
		for range calls {
			call()
		}
		store.mu.Lock()
		copied := store.pk.rpcCopied
		store.mu.Unlock()
		if copied != calls {
			t.Errorf("sse %v: %d of %d client records copied their messages' part", sse, copied, calls)
		}
		for n := 0; n < 2*calls; {
			u := <-sub.C
			if u.Kind != Completed {
				continue
			}
			n++
			ex := u.Exchange
			if got := store.Get(ex.ID); !reflect.DeepEqual(stripMemo(got), stripMemo(ex)) {
				t.Errorf("sse %v: Get(%d) is not the record heard:\n%+v\n%+v", sse, ex.ID, got, ex)
			}
			store.mu.Lock()
			part := store.pk.table().part(store.rec(ex.ID).refs[partRest])
			want := store.pk.appendRest(nil, ex, false, false, nil)
			store.mu.Unlock()
			if len(ex.RPC) != 2 || string(part) != string(want) {
				t.Errorf("sse %v: record %d's own part\n%q, encoded\n%q", sse, ex.ID, part, want)
			}
		}
		sub.Close()
	}
}
