package mcpserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// refPeek is how the router read a JSON body before it decoded it once (json.Valid twice, then json.Unmarshal of
// the body, of the method and of params into a map): the reference the faster reading is held to.
func refPeek(body []byte) (call peeked, meta bool, fault *rpcFault) {
	if !json.Valid(body) {
		return call, false, &rpcFault{http.StatusBadRequest, -32700, nil, "Parse error: the body is not valid JSON"}
	}
	var peek struct {
		JSONRPC json.RawMessage `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  json.RawMessage `json:"method"`
		Params  json.RawMessage `json:"params"`
		Result  json.RawMessage `json:"result"`
		Error   json.RawMessage `json:"error"`
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' || json.Unmarshal(body, &peek) != nil {
		return call, false, &rpcFault{http.StatusBadRequest, -32600, nil, "Invalid Request: the body is not a JSON-RPC message object"}
	}
	if string(peek.JSONRPC) != `"2.0"` {
		return call, false, &rpcFault{http.StatusBadRequest, -32600, peek.ID, `Invalid Request: "jsonrpc" must be "2.0"`}
	}
	if peek.Method != nil && json.Unmarshal(peek.Method, &call.method) != nil {
		return call, false, &rpcFault{http.StatusBadRequest, -32600, peek.ID, `Invalid Request: "method" must be a string`}
	}
	if peek.Method == nil && peek.Result == nil && peek.Error == nil {
		return call, false, &rpcFault{http.StatusBadRequest, -32600, peek.ID,
			`Invalid Request: a message needs a "method" (request or notification) or a "result" or "error" (response)`}
	}
	call.id = peek.ID
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(peek.Params, &p) == nil {
		var v json.RawMessage
		if v, meta = p.Meta[mcp.MetaKeyProtocolVersion]; meta && json.Unmarshal(v, &call.metaVersion) != nil {
			call.metaVersion = ""
		}
	}
	return call, meta, nil
}

// decodedPeek is checkMessage's struct as json.Unmarshal fills it: what scanMembers reads without it.
func decodedPeek(body []byte, wantMeta bool) (messagePeek, bool) {
	var p messagePeek
	p.Params.skip = !wantMeta
	err := json.Unmarshal(body, &p)
	return p, err == nil
}

// checkScanLikeDecode holds scanMembers to json.Unmarshal for a body that is a valid JSON object: the same members
// read, or a refusal (the decoder then reads them).
func checkScanLikeDecode(t *testing.T, body []byte) {
	t.Helper()
	if t := bytes.TrimLeft(body, " \t\r\n"); !json.Valid(body) || t[0] != '{' {
		return
	}
	for _, wantMeta := range []bool{false, true} {
		want, ok := decodedPeek(body, wantMeta)
		if !ok {
			t.Fatalf("%q: json.Unmarshal failed", body)
		}
		var got messagePeek
		got.Params.skip = !wantMeta
		if !scanMembers(body, &got.JSONRPC, &got.ID, &got.Method, &got.Params, &got.Result, &got.Error) {
			continue // left to json.Unmarshal
		}
		if got.JSONRPC != want.JSONRPC || !bytes.Equal(got.ID, want.ID) || (got.ID == nil) != (want.ID == nil) ||
			got.Method != want.Method || got.Params != want.Params || got.Result != want.Result || got.Error != want.Error {
			t.Fatalf("%q (meta %v): scanned %+v, decoded %+v", body, wantMeta, got, want)
		}
	}
}

func checkPeekLikeRef(t *testing.T, body []byte) {
	t.Helper()
	checkScanLikeDecode(t, body)
	want, wantMeta, wantFault := refPeek(body)
	got, gotMeta, fault := checkMessage(body, true)
	if noMeta, m, f := checkMessage(body, false); m || noMeta.metaVersion != "" || (f == nil) != (fault == nil) ||
		noMeta.method != got.method || !bytes.Equal(noMeta.id, got.id) {
		t.Fatalf("%q: without _meta %+v meta %v fault %+v; with it %+v fault %+v", body, noMeta, m, f, got, fault)
	}
	switch {
	case (fault == nil) != (wantFault == nil):
		t.Fatalf("%q: fault %+v, want %+v", body, fault, wantFault)
	case fault != nil:
		if fault.status != wantFault.status || fault.code != wantFault.code || fault.msg != wantFault.msg || !bytes.Equal(fault.id, wantFault.id) {
			t.Fatalf("%q: fault %+v, want %+v", body, fault, wantFault)
		}
	case got.method != want.method || got.metaVersion != want.metaVersion || gotMeta != wantMeta || !bytes.Equal(got.id, want.id):
		t.Fatalf("%q: %+v meta %v, want %+v meta %v", body, got, gotMeta, want, wantMeta)
	}
}

var peekSeeds = []string{
	`{"id":1,"jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"text":"a"},"name":"echo"}}`,
	`{"id":1,"jsonrpc":"2.0","method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"name":"echo"}}`,
	`{"id":1,"jsonrpc":"2.0","method":"tools/call","params":{"_META":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`,
	`{"id":1,"jsonrpc":"2.0","method":"x","params":{"\u005fmeta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`,
	`{"id":1,"jsonrpc":"2.0","method":"x","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":5}}}`,
	`{"id":1,"jsonrpc":"2.0","method":"x","params":{"_meta":{"io.modelcontextprotocol/ProtocolVersion":"2026-07-28"}}}`,
	`{"id":1,"jsonrpc":"2.0","method":"x","params":{"_meta":[]}}`,
	`{"id":1,"jsonrpc":"2.0","method":"x","params":[1,"_meta"]}`,
	`{"id":1,"jsonrpc":"2.0","method":"to\u006fls/list"}`,
	`{"id":1,"jsonrpc":"2.0","method":"caf` + "\xe9" + `"}`,
	`{"id":1,"jsonrpc":"2.0","method":"café"}`,
	`{"id":1,"jsonrpc":"2.0","method":null}`,
	`{"id":1,"jsonrpc":"2.0","method":5}`,
	`{"id":"a","jsonrpc":"2.0","result":{}}`,
	// members read by scanMembers as json.Unmarshal reads them: duplicates (the last counts), null, values that
	// hold quotes, braces and escapes, whitespace everywhere; and keys it leaves to json.Unmarshal
	`{"jsonrpc":"2.0","id":1,"method":"a","method":"b","id":[2, {"x":"}"}],"jsonrpc":"1.0","jsonrpc":"2.0"}`,
	`{"jsonrpc":"2.0","id":null,"method":null,"params":null,"result":null,"error":null}`,
	` { "jsonrpc" : "2.0" , "id" : "a\"}b" , "x" : {"method":"no"} , "method" : "m\u0041" , "params" : {"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}} } `,
	`{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}},"params":{}}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"jsonrpc":"2.0","id":1,"id":2,"id":3,"id":4,"id":5,"id":6,"id":7,"id":8,"id":9,"method":"m"}`,
	`{"JSONRPC":"2.0","Id":1,"METHOD":"x"}`, `{"jsonrpc":"2.0","\u0069d":1,"method":"x"}`, `{"jsonrpc":"2.0","id":1,"method":"x","ſ":1,"paramſ":{}}`,
	`{"jsonrpc":"2.0","id":1,"result":-1.5e3,"error":false}`, `{"jsonrpc":"2.0","id":1,"":true,"method":"x"}`,
	`{"jsonrpc":"2.0","id":1,`, `{"jsonrpc":"2.0"} x`, `{}`, ` {"jsonrpc":"2.0","method":"ping"}`, `42`, `"ping"`, `null`, `true`, ``, `x`, `[1]`,
}

// The router reads a message as it did before it decoded it once: the same fault, id, method and _meta version.
func TestPeekLikeBefore(t *testing.T) {
	for _, s := range peekSeeds {
		checkPeekLikeRef(t, []byte(s))
	}
}

func FuzzPeekLikeBefore(f *testing.F) {
	for _, s := range peekSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkPeekLikeRef(t, body) })
}

// Reading a message allocates only what the router keeps of it, the id and the method: its members are read in
// place (scanMembers), not decoded through json.Unmarshal's reflection (9 allocations before for either message);
// a body of 10,000 repeated members costs no more (nothing is kept per member).
func TestCheckMessageAllocations(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts under -race are the race detector's")
	}
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcpload","version":"1"}}}`,
		`{"id":7,"jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"text":"hello"},"name":"echo"}}`,
		`{"jsonrpc":"2.0","method":"ping"` + strings.Repeat(`,"id":1,"jsonrpc":"2.0","result":{}`, 10000) + `}`,
	} {
		b := []byte(body)
		if allocs := testing.AllocsPerRun(100, func() {
			if call, _, fault := checkMessage(b, true); fault != nil || call.method == "" {
				t.Fatalf("%s: %+v %+v", body, call, fault)
			}
		}); allocs > 2 {
			t.Errorf("%.0f allocations to read %.200s, want at most 2 (the id and the method)", allocs, body)
		}
	}
}

// routeAllocs routes body with the header hdr=val set, again and again, checks the era it goes to, and returns the
// allocations per route.
func routeAllocs(t *testing.T, h *Handler, body, hdr, val string, want string) float64 {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(hdr, val)
	w := httptest.NewRecorder()
	var rd strings.Reader
	return testing.AllocsPerRun(100, func() {
		rd.Reset(body)
		r.Body = readCloser{&rd}
		era, _, call := h.route(w, r)
		if era != want || call.method != "tools/call" {
			t.Fatalf("routed to %q, %+v", era, call)
		}
	})
}

// Routing a legacy tools/call on a session allocates only what it keeps: the body, its reader, the id and the
// method. Before, 24 allocations (the body validated three times and decoded twice, params decoded into a map, the
// media type parsed into a map, the body wrapped twice); then 15 ("jsonrpc", "method" and params copied as
// json.RawMessage to be checked); then 11 (the body decoded through json.Unmarshal's reflection: scanMembers).
func TestRouteAllocations(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts under -race are the race detector's")
	}
	h := NewHandler(mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil), HandlerOptions{})
	body := `{"id":7,"jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"text":"hello"},"name":"echo"}}`
	if allocs := routeAllocs(t, h, body, "Mcp-Session-Id", "abc", EraLegacy); allocs > 4 {
		t.Errorf("%.0f allocations to route a tools/call, want at most 4", allocs)
	}
}

// Routing a 2026-era tools/call (params._meta with the protocol version, the client's capabilities and info, and
// the MCP-Protocol-Version header) reads the body once and keeps only what the route needs: the header decides the
// era, so _meta is not decoded, the members that are only checked are not copied, and the route's reason is not
// built anew. Before, 38 allocations (params copied, then decoded again into a map of copied values), then 11 (the
// body decoded through json.Unmarshal's reflection: scanMembers). The body
// alone, without the header, still routes by its _meta.
func TestRouteAllocations2026(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts under -race are the race detector's")
	}
	h := NewHandler(mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil), HandlerOptions{})
	body := `{"id":7,"jsonrpc":"2.0","method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/clientCapabilities":{},` +
		`"io.modelcontextprotocol/clientInfo":{"name":"mcpload","version":"1"},"io.modelcontextprotocol/protocolVersion":"2026-07-28"},` +
		`"arguments":{"text":"hello"},"name":"echo"}}`
	if allocs := routeAllocs(t, h, body, "Mcp-Protocol-Version", "2026-07-28", EraStateless); allocs > 4 {
		t.Errorf("%.0f allocations to route a 2026-era tools/call, want at most 4", allocs)
	}
	r := httptest.NewRequest(http.MethodPost, "/mcp", readCloser{strings.NewReader(body)})
	r.Header.Set("Content-Type", "application/json")
	if era, why, call := h.route(httptest.NewRecorder(), r); era != EraStateless || why != "_meta protocol version" || call.metaVersion != "2026-07-28" {
		t.Errorf("without the header: routed to %q (%s), %+v", era, why, call)
	}
}

// The route's note of the requests a session's setup and its calls make — initialize, then everything on the
// session, a 2026-era call by its header or its _meta, server/discover — is built once, not for every request
// (it was a concatenation each: three allocations per session setup with recording on); any other reason is
// still noted as it is.
func TestRouteNoteBuiltOnce(t *testing.T) {
	h := NewHandler(mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil), HandlerOptions{})
	for _, tc := range []struct {
		method, body, header, value, want string
	}{
		{http.MethodPost, `{"id":1,"jsonrpc":"2.0","method":"initialize","params":{"protocolVersion":"2025-11-25"}}`, "", "", "legacy: legacy body"},
		{http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "Mcp-Session-Id", "abc", "legacy: session id"},
		{http.MethodDelete, ``, "Mcp-Session-Id", "abc", "legacy: session id"},
		{http.MethodGet, ``, "", "", "legacy: GET"},
		{http.MethodPost, `[{"id":1,"jsonrpc":"2.0","method":"ping"}]`, "", "", "legacy: batch"},
		{http.MethodPost, `{"id":1,"jsonrpc":"2.0","method":"tools/list"}`, "Mcp-Protocol-Version", "2026-07-28", "2026: protocol version header 2026-07-28"},
		{http.MethodPost, `{"id":1,"jsonrpc":"2.0","method":"server/discover"}`, "", "", "2026: server/discover"},
		{http.MethodPost, `{"id":1,"jsonrpc":"2.0","method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`, "", "", "2026: _meta protocol version"},
	} {
		r := httptest.NewRequest(tc.method, "/mcp", readCloser{strings.NewReader(tc.body)})
		r.Header.Set("Content-Type", "application/json")
		if tc.header != "" {
			r.Header.Set(tc.header, tc.value)
		}
		era, why, _ := h.route(httptest.NewRecorder(), r)
		if got := RouteNote(era, why); got != tc.want {
			t.Errorf("%s %s: note %q, want %q", tc.method, tc.body, got, tc.want)
		}
		if allocs := testing.AllocsPerRun(100, func() { noteSink = RouteNote(era, why) }); allocs != 0 {
			t.Errorf("%s %s: %.0f allocations to note the route, want 0", tc.method, tc.body, allocs)
		}
	}
	if got := RouteNote(EraStateless, "protocol version header 2099-01-01"); got != "2026: protocol version header 2099-01-01" {
		t.Errorf("another reason: %q", got)
	}
}

// noteSink keeps RouteNote's result on the heap, as the recorder does (the exchange's notes).
var noteSink string

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// readBody reads what io.ReadAll(io.LimitReader(r, limit)) reads, whatever length the request announced.
func TestReadBodyLikeReadAll(t *testing.T) {
	for _, size := range []int{0, 1, 100, 511, 512, 513, 4096, 10000} {
		data := bytes.Repeat([]byte("x"), size)
		for _, limit := range []int64{1, 100, 513, 5000, 20000} {
			for _, hint := range []int64{-1, 0, 1, int64(size) - 1, int64(size), int64(size) + 1, limit - 1, limit, limit + 10} {
				want, _ := io.ReadAll(io.LimitReader(bytes.NewReader(data), limit))
				got, err := readBody(iotest.OneByteReader(bytes.NewReader(data)), limit, hint)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("size %d limit %d hint %d: %d bytes (%v), want %d", size, limit, hint, len(got), err, len(want))
				}
			}
		}
	}
	if _, err := readBody(iotest.ErrReader(io.ErrUnexpectedEOF), 10, 5); err != io.ErrUnexpectedEOF {
		t.Fatalf("error %v", err)
	}
}
