package recorder

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// aliasedRecords builds n records from a seed whose parts share memory every way a part's address can be met
// again in one group: bodies and events' data that are sub-slices of a few buffers (the same start with another
// length, one part's bytes inside another's, a body's bytes as an event's text at the same address and length —
// the SSE parser's data in place in the body, whose encodings differ), header lists and message lists that are
// windows of one backing array, texts that need escapes or are invalid UTF-8 (a body in base64), parts below the
// sizes worth remembering, empty and nil ones, the same sizes and flags or not, and now and then a record
// json.Marshal refuses (its line left out).
func aliasedRecords(seed uint64, n int) []*Exchange {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	alphabet := []string{"a", "b", "\"", "\\", "<", "é", "\u2028", "\n", "\x00", "\xff", "{", "日", " "}
	bufs := make([][]byte, 3)
	for i := range bufs {
		var b []byte
		for range 200 + r.IntN(200) {
			if r.IntN(4) == 0 {
				b = append(b, alphabet[r.IntN(len(alphabet))]...)
			} else {
				b = append(b, byte('a'+r.IntN(26)))
			}
		}
		if r.IntN(2) == 0 {
			b = bytes.ToValidUTF8(b, []byte("?"))
		}
		bufs[i] = b
	}
	// few starts and lengths, so that parts meet again often
	lengths := []int{0, 1, 63, 64, 65, 100, 130}
	window := func() []byte {
		b := bufs[r.IntN(len(bufs))]
		n := lengths[r.IntN(len(lengths))]
		at := []int{0, 1, 6, 64}[r.IntN(4)]
		if at+n > len(b) {
			return b[:0]
		}
		return b[at : at+n : at+n]
	}
	body := func() Body {
		switch r.IntN(8) {
		case 0:
			return Body{}
		case 1:
			return Body{Data: []byte{}, Size: 0}
		}
		d := window()
		return Body{Data: d, Size: int64(len(d) + r.IntN(2)*10), Truncated: r.IntN(4) == 0}
	}
	text := func() string { d := window(); return unsafe.String(unsafe.SliceData(d), len(d)) }
	hbacking := make(Headers, 8)
	for i := range hbacking {
		hbacking[i] = Header{Name: "X-" + string(rune('A'+i)), Value: text()}
	}
	headers := func() Headers {
		switch r.IntN(6) {
		case 0:
			return nil
		case 1:
			return Headers{}
		}
		at, n := r.IntN(3), r.IntN(4)
		return hbacking[at : at+n : at+n]
	}
	code := 7
	rbacking := make([]RPC, 6)
	for i := range rbacking {
		rbacking[i] = RPC{From: []string{FromClient, FromServer}[i%2], Method: text(), ID: json.RawMessage(`1`), Event: i - 1}
		if i == 3 {
			rbacking[i].ErrorCode, rbacking[i].ErrorMessage, rbacking[i].IsResponse = &code, text(), true
		}
	}
	rpcs := func() []RPC {
		if r.IntN(4) == 0 {
			return nil
		}
		at, n := r.IntN(3), 1+r.IntN(3)
		return rbacking[at : at+n : at+n]
	}
	var out []*Exchange
	for i := range n {
		ex := &Exchange{ID: uint64(i + 1), Kind: []string{Inbound, Outbound}[r.IntN(2)], State: StateComplete,
			Start: time.Unix(int64(i), 0).UTC(), Method: "POST", URL: "/mcp",
			ReqHeaders: headers(), ReqBody: body(), Status: 200, RespHeaders: headers(), RespBody: body(), RPC: rpcs()}
		for range r.IntN(7) {
			ex.Events = append(ex.Events, SSEEvent{At: time.Duration(r.IntN(100)), Data: text()})
		}
		if r.IntN(6) == 0 && i > 0 {
			// the same parts as the record before: a proxied pair
			prev := out[i-1]
			ex.ReqBody.Data, ex.RespBody.Data, ex.RespHeaders, ex.RPC = prev.ReqBody.Data, prev.RespBody.Data, prev.RespHeaders, prev.RPC
			ex.Events = append([]SSEEvent(nil), prev.Events...)
		}
		switch r.IntN(20) {
		case 0:
			ex.RPC = append(append([]RPC(nil), ex.RPC...), RPC{From: FromServer, ID: json.RawMessage(`{bad`)})
		case 1:
			ex.Start = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		out = append(out, ex)
	}
	return out
}

// checkGroupLines holds encodeLines, with its parts remembered by address through a group, to the lines appendLine
// writes record by record (each part encoded afresh), for the records cut into groups of sizes from the seed.
func checkGroupLines(t *testing.T, seed uint64, records []*Exchange) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	var got, want []byte
	for i := 0; i < len(records); {
		n := min(1+r.IntN(64), len(records)-i)
		got, _, _ = encodeLines(got, records[i:i+n], 0, false, nil)
		i += n
	}
	for _, ex := range records {
		if line, err := appendLine(want, ex); err == nil {
			want = line
		}
	}
	if !bytes.Equal(got, want) {
		g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(g), len(w)) {
			if g[i] != w[i] {
				t.Fatalf("seed %d: line %d differs:\n got %s\nwant %s", seed, i, g[i], w[i])
			}
		}
		t.Fatalf("seed %d: %d lines, want %d", seed, len(g), len(w))
	}
}

// A group's lines are the lines encoded one by one whatever the parts share: parts at one address with other
// lengths, other kinds (a body's bytes as an event's text) or other sizes, windows of one buffer, nil and empty
// parts, lines left out (aliasedRecords).
func TestCaptureLinesAliasedPartsSameBytes(t *testing.T) {
	for seed := range uint64(200) {
		checkGroupLines(t, seed, aliasedRecords(seed, 80))
	}
}

func FuzzCaptureLinesAliasedParts(f *testing.F) {
	for _, seed := range []uint64{0, 1, 42} {
		f.Add(seed, uint8(40))
	}
	f.Fuzz(func(t *testing.T, seed uint64, n uint8) {
		checkGroupLines(t, seed, aliasedRecords(seed, int(n)))
	})
}

// A body and an event's text at one address, of one length (the SSE parser's data in place in the bytes it
// read), are two parts: a body's encoding is an object, a text's a string.
func TestCaptureLinesBodyAndDataAtOneAddress(t *testing.T) {
	b := []byte(strings.Repeat(`{"jsonrpc":"2.0","method":"x"}`, 4))
	s := unsafe.String(unsafe.SliceData(b), len(b))
	invalid := append(bytes.Repeat([]byte("a"), 70), 0xff)
	records := []*Exchange{
		{ID: 1, RespBody: Body{Data: b, Size: int64(len(b))}, Events: []SSEEvent{{Data: s}}},
		{ID: 2, Events: []SSEEvent{{Data: s}}, RespBody: Body{Data: b, Size: int64(len(b))}},
		{ID: 3, ReqBody: Body{Data: invalid}, Events: []SSEEvent{{Data: unsafe.String(unsafe.SliceData(invalid), len(invalid))}}},
		{ID: 4, ReqBody: Body{Data: b[:64]}, RespBody: Body{Data: b[:100]}, Events: []SSEEvent{{Data: s[:100]}, {Data: s[:64]}, {Data: s}}},
	}
	checkGroupLines(t, 0, records)
}

// proxiedCase is one call of randomProxiedRecords: its request body, the upstream's answer, and how the proxy
// passes it on (in pieces of piece bytes; diverge ≥ 0: the piece of that index rewritten, so that the upstream copy
// stops being derived there).
type proxiedCase struct {
	req, answer, contentType string
	piece, diverge           int
}

// randomProxiedCases draws n calls: answers in JSON (escapes, invalid UTF-8, empty) or as event streams (one event,
// a few, thousands; events with the same data, empty data, multi-line data, ids and types), piece sizes from a
// byte to 4 KiB, and now and then a piece rewritten.
func randomProxiedCases(r *rand.Rand, n int) []proxiedCase {
	texts := []string{"hello", `quote " and \ back`, "<b>&amp;</b>", "é 日本 \u2028", strings.Repeat("long text ", 20), ""}
	msg := func(id int) string {
		return `{"jsonrpc":"2.0","id":` + strconv.Itoa(id) + `,"result":{"content":[{"type":"text","text":` +
			strconv.Quote(texts[r.IntN(len(texts))]) + `}]}}`
	}
	var out []proxiedCase
	for i := range n {
		c := proxiedCase{piece: []int{1, 7, 64, 512, 4096}[r.IntN(5)], diverge: -1, contentType: "application/json",
			req: `{"jsonrpc":"2.0","id":` + strconv.Itoa(i) + `,"method":"tools/call","params":{"name":"echo","arguments":{"text":` +
				strconv.Quote(texts[r.IntN(len(texts))]) + `}}}`}
		switch r.IntN(8) {
		case 0:
			c.req = ""
		case 1:
			c.req = strings.Repeat(c.req, 3)
		}
		switch r.IntN(6) {
		case 0:
			c.answer = ""
		case 1:
			c.answer = msg(i) + "\xff\xfe"
		case 2, 3:
			c.answer = msg(i) + "\n"
		default:
			c.contentType = "text/event-stream"
			events := []int{1, 1, 2, 5, 40, 3000}[r.IntN(6)]
			same := r.IntN(2) == 0
			var b strings.Builder
			for j := range events {
				d := msg(i)
				if !same {
					d = msg(j)
				}
				switch r.IntN(10) {
				case 0:
					b.WriteString("id: " + strconv.Itoa(j) + "\n")
				case 1:
					b.WriteString("event: message\n")
				case 2:
					d = "" // an empty event (a stream's primer)
				case 3:
					d = d + "\ndata: " + d // two data lines: the data is joined, a copy
				}
				b.WriteString("data: " + d + "\n\n")
			}
			c.answer = b.String()
		}
		if len(c.answer) > 8<<10 && c.piece < 64 {
			c.piece = 511 // a long stream a byte at a time is slow under -race, and meets nothing more
		}
		if r.IntN(5) == 0 && len(c.answer) > 0 {
			c.diverge = r.IntN(len(c.answer)/c.piece + 1)
		}
		out = append(out, c)
	}
	return out
}

// randomProxiedRecords makes the calls of cases through the recorder's middleware and a deriving Transport, as
// server/proxy does, and returns the records in the order the capture file gets them.
func randomProxiedRecords(t *testing.T, cases []proxiedCase) []*Exchange {
	store := NewStore(StoreOptions{})
	var records []*Exchange
	var mu sync.Mutex
	store.OnComplete(func(ex *Exchange) { mu.Lock(); records = append(records, ex); mu.Unlock() })
	rec := New(store, Options{PublishDelay: time.Hour})
	up := http.RoundTripper(roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if req.Body != nil {
			io.Copy(io.Discard, req.Body)
			req.Body.Close()
		}
		c := cases[mustAtoi(req.Header.Get("X-Case"))]
		return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {c.contentType}, "Content-Length": {strconv.Itoa(len(c.answer))}},
			Body:   io.NopCloser(strings.NewReader(c.answer)), ContentLength: int64(len(c.answer)), Request: req}, nil
	}))
	tr := &Transport{Base: up, Recorder: rec, Derive: true}
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := cases[mustAtoi(r.Header.Get("X-Case"))]
		resp, err := forwardUpstream(r, tr)
		if err != nil {
			t.Error(err)
			return
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, c.piece)
		for i := 0; ; i++ {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				p := buf[:n]
				switch {
				case i != c.diverge:
				case c.piece%2 == 0:
					p = bytes.ToUpper(p) // the proxy rewrote this piece
				default:
					p = append(bytes.Clone(p), "\n\n: added\n\n"...) // and added bytes
				}
				w.Write(p)
			}
			if err != nil {
				break
			}
		}
		resp.Body.Close()
	}))
	for i, c := range cases {
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(c.req))
		r.ContentLength = int64(len(c.req))
		r.Header.Set("X-Case", strconv.Itoa(i))
		r.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(records) != 2*len(cases) {
		t.Fatalf("%d records for %d calls", len(records), len(cases))
	}
	return records
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// Proxied calls recorded as the proxy records them — the upstream copy derived from its client's exchange, or
// diverging from it at a rewritten piece; answers in JSON, empty, invalid UTF-8, events (the same data, empty,
// multi-line, thousands of them) — encoded in groups (each part met again copied from where it was encoded) are
// the lines encoded one by one.
func TestCaptureLinesProxiedCallsSameBytes(t *testing.T) {
	var shared, own, longShared int
	for seed := range uint64(4) {
		records := randomProxiedRecords(t, randomProxiedCases(rand.New(rand.NewPCG(seed, 2)), 60))
		checkGroupLines(t, seed, records)
		for i := 0; i+1 < len(records); i += 2 {
			cp, client := records[i], records[i+1]
			if cp.Kind != Outbound || client.Kind != Inbound {
				t.Fatalf("seed %d: records %d and %d are %s and %s", seed, cp.ID, client.ID, cp.Kind, client.Kind)
			}
			if len(cp.Events) == 0 || len(client.Events) != len(cp.Events) {
				continue
			}
			j := slices.IndexFunc(client.Events, func(ev SSEEvent) bool { return ev.Data != "" })
			if j < 0 {
				continue
			}
			if unsafe.StringData(cp.Events[j].Data) == unsafe.StringData(client.Events[j].Data) {
				shared++
				if len(cp.Events) >= 1000 {
					longShared++
				}
			} else {
				own++
			}
		}
	}
	// the cases met what they are drawn for: copies whose events are their client's texts (long streams too), and
	// copies that recorded their own
	if shared == 0 || own == 0 || longShared == 0 {
		t.Errorf("event streams: %d copies with their client's events (%d long), %d with their own", shared, longShared, own)
	}
}
