package recorder

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

func feedAll(p *SSEParser, chunks ...string) []SSEEvent {
	var out []SSEEvent
	for _, c := range chunks {
		out = append(out, p.Feed([]byte(c))...)
	}
	return out
}

func fmtEvents(evs []SSEEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "[id=%q event=%q data=%q retry=%d]", e.ID, e.Event, e.Data, e.Retry)
	}
	return b.String()
}

func TestSSEParser(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"LF", "event: message\nid: 1\ndata: {\"a\":1}\n\n", `[id="1" event="message" data="{\"a\":1}" retry=0]`},
		{"CRLF", "data: x\r\nid: 2\r\n\r\n", `[id="2" event="" data="x" retry=0]`},
		{"CR", "data: x\rdata: y\r\r", `[id="" event="" data="x\ny" retry=0]`},
		{"mixed line ends", "data: a\r\ndata: b\rdata: c\n\n", `[id="" event="" data="a\nb\nc" retry=0]`},
		{"multi-line data", "data: one\ndata: two\ndata:\n\n", `[id="" event="" data="one\ntwo\n" retry=0]`},
		{"comments are skipped", ": keep-alive\n\n: hello\ndata: x\n\n", `[id="" event="" data="x" retry=0]`},
		{"one leading space only", "data:  two spaces\ndata:none\n\n", `[id="" event="" data=" two spaces\nnone" retry=0]`},
		{"field without a colon", "data\n\n", `[id="" event="" data="" retry=0]`},
		{"unknown fields ignored", "foo: bar\ndata: x\n\n", `[id="" event="" data="x" retry=0]`},
		{"retry digits only", "retry: 1500\ndata: a\n\nretry: 1.5\ndata: b\n\nretry: +5\ndata: c\n\nretry:\ndata: d\n\n",
			`[id="" event="" data="a" retry=1500][id="" event="" data="b" retry=0][id="" event="" data="c" retry=0][id="" event="" data="d" retry=0]`},
		{"id with NUL ignored", "id: a\x00b\ndata: x\n\n", `[id="" event="" data="x" retry=0]`},
		{"events are independent", "event: e1\ndata: 1\n\ndata: 2\n\n", `[id="" event="e1" data="1" retry=0][id="" event="" data="2" retry=0]`},
		{"several blank lines", "data: 1\n\n\n\ndata: 2\n\n", `[id="" event="" data="1" retry=0][id="" event="" data="2" retry=0]`},
		{"unfinished event is not dispatched", "data: 1\n\ndata: 2\n", `[id="" event="" data="1" retry=0]`},
		// Not WHATWG dispatch (which drops blocks without data): a block of only id or retry is recorded, since it
		// is what the server sent (MCP servers prime a stream with an id-only event).
		{"id-only block is recorded", "id: prime\ndata:\n\nretry: 3000\n\n", `[id="prime" event="" data="" retry=0][id="" event="" data="" retry=3000]`},
		{"leading BOM stripped", "\xef\xbb\xbfdata: x\n\n", `[id="" event="" data="x" retry=0]`},
		{"utf-8 data", "data: héllo ✓\n\n", `[id="" event="" data="héllo ✓" retry=0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmtEvents(feedAll(&SSEParser{}, tt.in)); got != tt.want {
				t.Errorf("whole:\n got %s\nwant %s", got, tt.want)
			}
			// Byte by byte: every split point, CRLF pairs and the BOM included, gives the same events.
			var chunks []string
			for i := range len(tt.in) {
				chunks = append(chunks, tt.in[i:i+1])
			}
			if got := fmtEvents(feedAll(&SSEParser{}, chunks...)); got != tt.want {
				t.Errorf("byte by byte:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestSSEParserCRLFSplitAcrossFeeds(t *testing.T) {
	p := &SSEParser{}
	if evs := p.Feed([]byte("data: a\r")); len(evs) != 0 {
		t.Fatalf("early %v", evs)
	}
	// The LF completing the CRLF must not count as a second (blank) line that dispatches.
	if evs := p.Feed([]byte("\ndata: b\r")); len(evs) != 0 {
		t.Fatalf("CRLF split dispatched: %s", fmtEvents(evs))
	}
	if got := fmtEvents(p.Feed([]byte("\n\r\n"))); got != `[id="" event="" data="a\nb" retry=0]` {
		t.Errorf("got %s", got)
	}
}

func TestSSEParserBoundsALongLine(t *testing.T) {
	p := &SSEParser{MaxLine: 16}
	evs := feedAll(p, "data: "+strings.Repeat("x", 100), strings.Repeat("y", 100)+"\n\ndata: ok\n\n")
	if len(evs) != 2 || evs[0].Data != strings.Repeat("x", 10) || evs[1].Data != "ok" {
		t.Errorf("got %s", fmtEvents(evs))
	}
}

// An event of many data lines is joined in linear time and bounded by MaxLine (the lines were joined by string
// concatenation: 20,000 lines allocated about 2 GB).
func TestSSEParserManyDataLines(t *testing.T) {
	const lines = 20000
	stream := []byte(strings.Repeat("data: abcdefgh\n", lines) + "\n")
	p := &SSEParser{MaxLine: 64 << 10}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	evs := p.Feed(stream)
	runtime.ReadMemStats(&m1)
	if len(evs) != 1 || len(evs[0].Data) != 64<<10 || !strings.HasPrefix(evs[0].Data, "abcdefgh\nabcdefgh\n") {
		t.Fatalf("%d events, data %d bytes", len(evs), len(evs[0].Data))
	}
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 10*uint64(len(stream)) {
		t.Errorf("parsing %d bytes allocated %d", len(stream), alloc)
	}
	// The next event starts empty.
	evs = p.Feed([]byte("data: x\n\n"))
	if len(evs) != 1 || evs[0].Data != "x" {
		t.Errorf("next event: %+v", evs)
	}
}

// An event is cut with two new strings, its id and its data: lines are looked at in place, the type MCP servers
// send is not copied, and AppendFeed appends to the caller's slice.
func TestSSEParserAllocations(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts under -race are the race detector's")
	}
	stream := []byte("event: message\nid: 3GXWB6LQ2ZQ4YQ3Z_7\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n")
	p := &SSEParser{}
	dst := make([]SSEEvent, 0, 1)
	var got []SSEEvent
	allocs := testing.AllocsPerRun(100, func() { got = p.AppendFeed(dst[:0], stream) })
	if len(got) != 1 || got[0].Event != "message" || got[0].ID != "3GXWB6LQ2ZQ4YQ3Z_7" || got[0].Data != `{"jsonrpc":"2.0","id":7,"result":{}}` {
		t.Fatalf("events %+v", got)
	}
	if allocs > 2 {
		t.Errorf("%.0f allocations per event, want 2 (its id and its data)", allocs)
	}
}

// Cut in place (AppendFeedInPlace, bytes never written again), an event of one data line costs no allocation: its
// id, type and data are strings of the bytes fed; an event of several data lines is joined into a copy, and what
// was fed before is never written by the parser.
func TestSSEParserInPlaceAllocs(t *testing.T) {
	stream := []byte("event: answer\nid: 3GXWB6LQ2ZQ4YQ3Z_7\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n")
	p := &SSEParser{}
	dst := make([]SSEEvent, 0, 1)
	var got []SSEEvent
	allocs := testing.AllocsPerRun(100, func() { got = p.AppendFeedInPlace(dst[:0], stream) })
	if len(got) != 1 || got[0].Event != "answer" || got[0].ID != "3GXWB6LQ2ZQ4YQ3Z_7" || got[0].Data != `{"jsonrpc":"2.0","id":7,"result":{}}` {
		t.Fatalf("events %+v", got)
	}
	if allocs > 0 && !testkit.Race {
		t.Errorf("%.0f allocations per event in place, want 0", allocs)
	}
	within := func(s string) bool {
		d := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		b := uintptr(unsafe.Pointer(&stream[0]))
		return d >= b && d+uintptr(len(s)) <= b+uintptr(len(stream))
	}
	if !within(got[0].Data) || !within(got[0].ID) || !within(got[0].Event) {
		t.Errorf("the event's texts are not the bytes fed")
	}
	// Every case of TestSSEParser, whole and byte by byte from an append-only buffer, as the recorder feeds it.
	for _, in := range []string{"data: one\ndata: two\ndata:\n\n", "data: a\r\ndata: b\rdata: c\n\n", "id: 1\ndata: x\n\ndata: y\n\n",
		"data: 1\n\ndata: 2\n", "\xef\xbb\xbfdata: x\n\n", "data: x\rdata: y\r\r", "data:  two\ndata:none\n\n"} {
		want := fmtEvents((&SSEParser{}).Feed([]byte(in)))
		if got := fmtEvents((&SSEParser{}).AppendFeedInPlace(nil, []byte(in))); got != want {
			t.Errorf("%q whole in place:\n got %s\nwant %s", in, got, want)
		}
		ip := &SSEParser{}
		var body []byte
		var evs []SSEEvent
		for i := range len(in) {
			body = append(body, in[i])
			evs = ip.AppendFeedInPlace(evs, body[i:])
		}
		if got := fmtEvents(evs); got != want {
			t.Errorf("%q byte by byte in place:\n got %s\nwant %s", in, got, want)
		}
	}
}

// lineEnd is bytes.IndexAny(b, "\r\n").
func TestLineEnd(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		b := make([]byte, r.IntN(80))
		for i := range b {
			b[i] = "ab\r\n:x"[r.IntN(6)]
			if r.IntN(4) > 0 {
				b[i] = 'a'
			}
		}
		if got, want := lineEnd(b), bytes.IndexAny(b, "\r\n"); got != want {
			t.Fatalf("%q: %d, want %d", b, got, want)
		}
	}
}

// BenchmarkSSEFeed cuts a tools/call answer's event, as serve's legacy era sends it.
func BenchmarkSSEFeed(b *testing.B) {
	stream := []byte(benchEvent)
	p := &SSEParser{}
	dst := make([]SSEEvent, 0, 1)
	for b.Loop() {
		dst = p.AppendFeed(dst[:0], stream)
	}
}
