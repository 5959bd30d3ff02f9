package mcpserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testServer is the dual-era handler (no conformance fixtures) on /mcp and /sse of an httptest server, with
// every routing decision logged and every panic net/http recovered caught.
type testServer struct {
	*httptest.Server
	mu     sync.Mutex
	routes []string // "era: why"
	errlog bytes.Buffer
}

func newTestServer(t *testing.T, opts HandlerOptions) *testServer {
	t.Helper()
	s, stop := New(Options{})
	ts := &testServer{}
	opts.OnRoute = func(_ *http.Request, era, why string) {
		ts.mu.Lock()
		ts.routes = append(ts.routes, era+": "+why)
		ts.mu.Unlock()
	}
	h := NewHandler(s, opts)
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	mux.Handle("/sse", h.SSE())
	ts.Server = httptest.NewUnstartedServer(mux)
	ts.Config.ErrorLog = log.New(&lockedWriter{mu: &ts.mu, w: &ts.errlog}, "", 0)
	ts.Start()
	t.Cleanup(func() {
		ts.CloseClientConnections() // open GET streams would keep Close waiting
		ts.Close()
		stop()
		ts.mu.Lock()
		defer ts.mu.Unlock()
		if strings.Contains(ts.errlog.String(), "panic") {
			t.Errorf("the handler panicked:\n%s", ts.errlog.String())
		}
	})
	return ts
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lastRoute is the era and reason of the last routed request ("" when the router answered itself).
func (ts *testServer) lastRoute() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.routes) == 0 {
		return ""
	}
	return ts.routes[len(ts.routes)-1]
}

func (ts *testServer) routeCount() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.routes)
}

// reply is one HTTP answer, with the first JSON-RPC message in it (a JSON body or the first SSE data event).
type reply struct {
	status int
	header http.Header
	body   string
	msg    *rpcMsg
}

type rpcMsg struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

const (
	acceptBoth = "application/json, text/event-stream"
	v2026      = "2026-07-28"
)

// do sends one request with a deadline: a hang fails the test instead of stalling it.
func (ts *testServer) do(t *testing.T, method, path string, header map[string]string, body string) reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", acceptBoth)
	for k, v := range header {
		req.Header.Del(k)
		for _, v := range strings.Split(v, "\x00") { // several values of one header (doMulti)
			if v != "" {
				req.Header.Add(k, v)
			}
		}
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	data := b
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		data = nil
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 8<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data:"); ok && strings.TrimSpace(d) != "" {
				data = []byte(d)
				break
			}
		}
	}
	var m rpcMsg
	if len(data) > 0 && json.Unmarshal(data, &m) == nil && (m.Result != nil || m.Error != nil) {
		r.msg = &m
	}
	return r
}

func (r reply) code() int {
	if r.msg == nil || r.msg.Error == nil {
		return 0
	}
	return r.msg.Error.Code
}

func (r reply) String() string {
	return fmt.Sprintf("HTTP %d %s", r.status, strings.TrimSpace(r.body))
}

func initBody(version string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":%q,"capabilities":{},"clientInfo":{"name":"handler-test","version":"1.0"}}}`, version)
}

// initSession opens a legacy session at version and returns its Mcp-Session-Id.
func (ts *testServer) initSession(t *testing.T, version string) string {
	t.Helper()
	r := ts.do(t, "POST", "/mcp", nil, initBody(version))
	sid := r.header.Get("Mcp-Session-Id")
	if r.status != 200 || sid == "" || r.msg == nil || r.msg.Error != nil {
		t.Fatalf("initialize: %v", r)
	}
	r = ts.do(t, "POST", "/mcp", map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": version},
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %v", r)
	}
	return sid
}

// meta2026 is the per-request _meta of the 2026-07-28 era (SEP-2575) for version.
func meta2026(version string) string {
	return fmt.Sprintf(`"_meta":{%q:%q,%q:{},%q:{"name":"handler-test","version":"1.0"}}`,
		mcp.MetaKeyProtocolVersion, version, mcp.MetaKeyClientCapabilities, mcp.MetaKeyClientInfo)
}

// call2026 is a 2026-era request: body with _meta, and the MCP-Protocol-Version / Mcp-Method / Mcp-Name headers.
func call2026(method, name, params string) (map[string]string, string) {
	h := map[string]string{"MCP-Protocol-Version": v2026, "Mcp-Method": method}
	if name != "" {
		h["Mcp-Name"] = name
	}
	if params != "" {
		params += ","
	}
	return h, fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":%q,"params":{%s%s}}`, method, params, meta2026(v2026))
}

// TestRouting checks every case of the era routing rule in Handler.ServeHTTP's doc comment, and that each
// request gets its era's answer.
func TestRouting(t *testing.T) {
	ts := newTestServer(t, HandlerOptions{})
	sid := ts.initSession(t, "2025-11-25")
	discoverH, discover := call2026("server/discover", "", "")
	garbage := strings.ReplaceAll(discover, v2026, "v999.0.0")
	cases := []struct {
		name     string
		method   string
		header   map[string]string
		body     string
		wantEra  string // "era: why"
		status   int
		wantCode int  // JSON-RPC error code in the answer; 0: none
		refused  bool // routed to the legacy era, then answered by the router: no session id (wantEra unchecked)
	}{
		// 1. Mcp-Session-Id → legacy, whatever else the request carries.
		{"session id", "POST", map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"},
			`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, "legacy: session id", 200, 0, false},
		{"session id beats a 2026 header", "POST", map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": v2026},
			`{"jsonrpc":"2.0","id":2,"method":"ping"}`, "legacy: session id", 200, 0, false},
		{"session id beats 2026 _meta", "POST", map[string]string{"Mcp-Session-Id": sid},
			`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{` + meta2026(v2026) + `}}`, "legacy: session id", 400, -32022, false},
		{"GET with a session id", "GET", map[string]string{"Mcp-Session-Id": "no-such-session", "Accept": "text/event-stream"},
			"", "legacy: session id", 404, 0, false},
		// 2. MCP-Protocol-Version that is not a legacy revision → stateless.
		{"2026 header", "POST", discoverH, discover, "2026: protocol version header 2026-07-28", 200, 0, false},
		{"garbage version header", "POST", map[string]string{"MCP-Protocol-Version": "v999.0.0", "Mcp-Method": "server/discover"},
			garbage, "2026: protocol version header v999.0.0", 400, -32022, false},
		{"GET with a 2026 header", "GET", map[string]string{"MCP-Protocol-Version": v2026, "Accept": "text/event-stream"},
			"", "2026: protocol version header 2026-07-28", 405, 0, false},
		{"initialize with a 2026 header", "POST", map[string]string{"MCP-Protocol-Version": v2026, "Mcp-Method": "initialize"},
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2026-07-28","capabilities":{},"clientInfo":{"name":"x","version":"1"},` + meta2026(v2026) + `}}`,
			"2026: protocol version header 2026-07-28", 404, -32601, false},
		{"legacy header stays legacy", "POST", map[string]string{"MCP-Protocol-Version": "2025-06-18"},
			initBody("2025-06-18"), "legacy: legacy body", 200, 0, false},
		// 3. The body: batch → legacy; server/discover or _meta protocol version → stateless.
		// A batch without a session id is legacy, where it needs one (initialize cannot be batched): 400.
		{"batch", "POST", nil, `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, "", 400, -32600, true},
		{"server/discover without header or _meta", "POST", nil, `{"jsonrpc":"2.0","id":3,"method":"server/discover"}`,
			"2026: server/discover", 200, -32601, false},
		{"_meta protocol version without header", "POST", nil,
			`{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{` + meta2026(v2026) + `}}`,
			"2026: _meta protocol version", 400, -32020, false},
		// 4. Everything else → legacy.
		{"initialize", "POST", nil, initBody("2025-11-25"), "legacy: legacy body", 200, 0, false},
		// A header-less call is legacy, where it needs a session id: 400.
		{"header-less call", "POST", nil, `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`, "", 400, -32600, true},
		{"GET without session", "GET", map[string]string{"Accept": "text/event-stream"}, "", "legacy: GET", 400, 0, false},
		{"DELETE without session", "DELETE", nil, "", "legacy: DELETE", 400, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.routeCount()
			r := ts.do(t, tc.method, "/mcp", tc.header, tc.body)
			if tc.refused {
				if ts.routeCount() != before {
					t.Errorf("routed to %q, want the router's own answer", ts.lastRoute())
				}
			} else if got := ts.lastRoute(); got != tc.wantEra || ts.routeCount() != before+1 {
				t.Errorf("routed to %q, want %q", got, tc.wantEra)
			}
			if tc.status != 0 && r.status != tc.status || r.status >= 500 {
				t.Errorf("got %v, want HTTP %d", r, tc.status)
			}
			if r.code() != tc.wantCode {
				t.Errorf("JSON-RPC error code %d, want %d: %v", r.code(), tc.wantCode, r)
			}
			if tc.name == "GET with a 2026 header" && r.header.Get("Allow") != "POST" {
				t.Errorf("405 without Allow: POST: %v", r.header)
			}
		})
	}
}

// TestSessionVersionCompat: a legacy session that sends MCP-Protocol-Version: 2026-07-28 (Claude has been seen
// doing so) is served at the session's version; StrictSessionVersion restores the SDK's 400/-32022.
// The stateless toggle moves a legacy request to the stateless handler, and says so as a fact (why the request would
// have been legacy), not only in OnRoute's sentence; a request that was stateless anyway is not reported.
func TestForcedStatelessIsAFact(t *testing.T) {
	var mu sync.Mutex
	var forced []string
	ts := newTestServer(t, HandlerOptions{
		ForceStateless: func() bool { return true },
		OnForcedStateless: func(_ *http.Request, legacyWhy string) {
			mu.Lock()
			forced = append(forced, legacyWhy)
			mu.Unlock()
		},
	})
	if r := ts.do(t, "POST", "/mcp", nil, initBody("2025-11-25")); r.status != 200 || r.header.Get("Mcp-Session-Id") != "" {
		t.Fatalf("initialize: %v (session %q)", r, r.header.Get("Mcp-Session-Id"))
	}
	if got := ts.lastRoute(); got != EraStateless+": toggle stateless (legacy body)" {
		t.Errorf("route %q", got)
	}
	hdr, body := call2026("tools/list", "", "")
	ts.do(t, "POST", "/mcp", hdr, body)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(forced, []string{"legacy body"}) {
		t.Errorf("forced = %q, want [legacy body] (the 2026 request was stateless anyway)", forced)
	}
}

func TestSessionVersionCompat(t *testing.T) {
	whoami := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
	for _, version := range []string{"2025-11-25", "2025-06-18", "2024-11-05"} {
		t.Run(version, func(t *testing.T) {
			ts := newTestServer(t, HandlerOptions{})
			sid := ts.initSession(t, version)
			r := ts.do(t, "POST", "/mcp", map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": v2026}, whoami)
			if r.status != 200 || r.msg == nil || r.msg.Error != nil {
				t.Fatalf("whoami with a 2026 header on a %s session: %v", version, r)
			}
			var res struct{ StructuredContent whoAmI }
			if err := json.Unmarshal(r.msg.Result, &res); err != nil {
				t.Fatal(err)
			}
			if w := res.StructuredContent; w.ProtocolVersion != version || w.Mode != "session" || w.SessionID != sid {
				t.Errorf("whoami = %+v, want the session's version %s", w, version)
			}
		})
	}
	t.Run("strict", func(t *testing.T) {
		ts := newTestServer(t, HandlerOptions{StrictSessionVersion: true})
		sid := ts.initSession(t, "2025-11-25")
		r := ts.do(t, "POST", "/mcp", map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": v2026}, whoami)
		if r.status != 400 || r.code() != -32022 {
			t.Errorf("strict: got %v, want 400 with -32022", r)
		}
	})
}

// TestBadInput: bad requests get the protocol's answer (status, JSON-RPC code, a reason), never a panic or a hang.
func TestBadInput(t *testing.T) {
	ts := newTestServer(t, HandlerOptions{})
	sid := ts.initSession(t, "2025-11-25")
	legacy := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	with := func(h map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range h {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	unknown26H, unknown26 := call2026("no/such_method", "", "")
	tool26H, tool26 := call2026("tools/call", "no_such_tool", `"name":"no_such_tool","arguments":{}`)
	echo26H, echo26 := call2026("tools/call", "echo", `"name":"echo","arguments":{"text":5}`)
	discoverH, discover := call2026("server/discover", "", "")
	big := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("a", mcp.DefaultMaxRequestBodyBytes) + `"}}`

	cases := []struct {
		name     string
		method   string
		header   map[string]string
		body     string
		status   int
		wantCode int    // JSON-RPC error code; 0: none
		wantID   string // the id the error answers, when it must echo one
		reason   string // in the body
		isError  bool   // a tool result with isError
		routed   bool   // reached an SDK handler (false: the router answered)
	}{
		{"malformed JSON", "POST", nil, `{"jsonrpc":"2.0","id":1,`, 400, -32700, "null", "not valid JSON", false, false},
		{"malformed JSON, 2026 header", "POST", discoverH, `{"jsonrpc":`, 400, -32700, "null", "not valid JSON", false, false},
		{"empty body", "POST", map[string]string{"Content-Type": "application/json"}, ``, 400, -32700, "null", "not valid JSON", false, false},
		{"a number", "POST", nil, `42`, 400, -32600, "null", "not a JSON-RPC message object", false, false},
		{"a string", "POST", nil, `"ping"`, 400, -32600, "null", "not a JSON-RPC message object", false, false},
		{"null", "POST", nil, `null`, 400, -32600, "null", "not a JSON-RPC message object", false, false},
		{"true", "POST", legacy, `true`, 400, -32600, "null", "not a JSON-RPC message object", false, false},
		{"no jsonrpc version", "POST", nil, `{"id":3,"method":"ping"}`, 400, -32600, "3", `"jsonrpc" must be "2.0"`, false, false},
		{"empty object", "POST", nil, `{}`, 400, -32600, "null", `"jsonrpc" must be "2.0"`, false, false},
		{"method not a string", "POST", nil, `{"jsonrpc":"2.0","id":4,"method":5}`, 400, -32600, "4", `"method" must be a string`, false, false},
		{"neither request nor response", "POST", legacy, `{"jsonrpc":"2.0","id":5}`, 400, -32600, "5", `needs a "method"`, false, false},
		{"malformed batch", "POST", nil, `[{bad`, 400, -32700, "null", "not valid JSON", false, false},
		{"malformed batch in a session", "POST", legacy, `[{"jsonrpc":"2.0","id":1,"method":"ping"},`, 400, -32700, "null", "not valid JSON", false, false},
		{"call without a session id", "POST", nil, `{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}`,
			400, -32600, "13", `"tools/call" without an Mcp-Session-Id header; this server keeps sessions: send initialize first`, false, false},
		{"call without a session id, legacy header", "POST", map[string]string{"MCP-Protocol-Version": "2025-11-25"}, `{"jsonrpc":"2.0","id":"a","method":"ping"}`,
			400, -32600, `"a"`, `"ping" without an Mcp-Session-Id header`, false, false},
		{"notification without a session id", "POST", nil, `{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			400, -32600, "null", `"notifications/initialized" without an Mcp-Session-Id header`, false, false},
		{"response without a session id", "POST", nil, `{"jsonrpc":"2.0","id":3,"result":{}}`,
			400, -32600, "3", "this message without an Mcp-Session-Id header", false, false},
		{"unknown method, legacy", "POST", legacy, `{"jsonrpc":"2.0","id":6,"method":"no/such_method"}`, 200, -32601, "6", "no/such_method", false, true},
		{"unknown notification, legacy", "POST", legacy, `{"jsonrpc":"2.0","method":"notifications/no_such"}`, 202, 0, "", "", false, true},
		{"unknown method, 2026", "POST", unknown26H, unknown26, 404, -32601, "7", "no/such_method", false, true},
		{"unknown tool, legacy", "POST", legacy, `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}`, 200, -32602, "8", "no_such_tool", false, true},
		{"unknown tool, 2026", "POST", tool26H, tool26, 400, -32602, "7", "no_such_tool", false, true},
		{"invalid tool input, legacy", "POST", legacy, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":5}}}`, 200, 0, "", "text", true, true},
		{"invalid tool input, 2026", "POST", echo26H, echo26, 200, 0, "", "text", true, true},
		{"unknown session", "POST", with(legacy, "Mcp-Session-Id", "no-such-session"), `{"jsonrpc":"2.0","id":10,"method":"ping"}`, 404, 0, "", "session not found", false, true},
		{"DELETE unknown session", "DELETE", map[string]string{"Mcp-Session-Id": "no-such-session"}, "", 404, 0, "", "session not found", false, true},
		{"body over 4 MiB", "POST", legacy, big, 413, -32600, "null", "exceeds 4194304 bytes", false, false},
		{"body over 4 MiB, 2026", "POST", discoverH, big, 413, -32600, "null", "exceeds 4194304 bytes", false, false},
		{"wrong Content-Type", "POST", with(legacy, "Content-Type", "text/plain"), `{"jsonrpc":"2.0","id":11,"method":"ping"}`, 415, 0, "", "Content-Type must be 'application/json'", false, true},
		{"wrong Content-Type, malformed body", "POST", with(nil, "Content-Type", "text/plain"), `{{{`, 415, 0, "", "Content-Type must be 'application/json'", false, true},
		{"wrong Content-Type, 2026", "POST", with(discoverH, "Content-Type", "text/plain"), discover, 415, 0, "", "Content-Type must be 'application/json'", false, true},
		{"wrong Accept", "POST", with(legacy, "Accept", "text/html"), `{"jsonrpc":"2.0","id":12,"method":"ping"}`, 400, 0, "", "Accept must contain", false, true},
		{"Accept without event-stream", "POST", with(nil, "Accept", "application/json"), initBody("2025-11-25"), 400, 0, "", "Accept must contain", false, true},
		{"wrong Accept, 2026", "POST", with(discoverH, "Accept", "text/html"), discover, 400, 0, "", "Accept must contain", false, true},
		{"wrong Accept on GET", "GET", with(legacy, "Accept", "application/json"), "", 400, 0, "", "Accept must contain 'text/event-stream'", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.routeCount()
			r := ts.do(t, tc.method, "/mcp", tc.header, tc.body)
			if r.status != tc.status {
				t.Errorf("got %v, want HTTP %d", r, tc.status)
			}
			if r.code() != tc.wantCode {
				t.Errorf("JSON-RPC error code %d, want %d: %v", r.code(), tc.wantCode, r)
			}
			if tc.wantID != "" && (r.msg == nil || string(r.msg.ID) != tc.wantID) {
				t.Errorf("error answers id %s, want %s: %v", idOf(r), tc.wantID, r)
			}
			if !strings.Contains(r.body, tc.reason) && (r.msg == nil || r.msg.Error == nil || !strings.Contains(r.msg.Error.Message, tc.reason)) {
				t.Errorf("the answer does not say why (want %q): %v", tc.reason, r)
			}
			if tc.isError {
				var res struct{ IsError bool }
				if r.msg == nil || r.msg.Result == nil || json.Unmarshal(r.msg.Result, &res) != nil || !res.IsError {
					t.Errorf("want a tool result with isError: %v", r)
				}
			}
			if routed := ts.routeCount() > before; routed != tc.routed {
				t.Errorf("reached an SDK handler: %v, want %v", routed, tc.routed)
			}
		})
	}
	// The session survived all of it.
	r := ts.do(t, "POST", "/mcp", legacy, `{"jsonrpc":"2.0","id":99,"method":"ping"}`)
	if r.status != 200 || r.msg == nil || r.msg.Error != nil {
		t.Errorf("ping after the bad input: %v", r)
	}
}

func idOf(r reply) string {
	if r.msg == nil {
		return "(none)"
	}
	return string(r.msg.ID)
}

// TestMaxBodyBytes: the limit is configurable and a body at the limit is served.
func TestMaxBodyBytes(t *testing.T) {
	ts := newTestServer(t, HandlerOptions{MaxBodyBytes: 512})
	body := func(n int) string {
		s := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"},"pad":"`
		e := `"}}`
		return s + strings.Repeat("a", n-len(s)-len(e)) + e
	}
	if r := ts.do(t, "POST", "/mcp", nil, body(512)); r.status != 200 {
		t.Errorf("512-byte body with a 512-byte limit: %v", r)
	}
	if r := ts.do(t, "POST", "/mcp", nil, body(513)); r.status != 413 || !strings.Contains(r.body, "exceeds 512 bytes") {
		t.Errorf("513-byte body with a 512-byte limit: %v", r)
	}
}

// TestGoSDKClient: the Go SDK's own client against the handler, in the default era (2026-07-28, stateless) and
// at each legacy revision (initialize + session), calling the three default tools; and over /sse.
func TestGoSDKClient(t *testing.T) {
	cases := []struct {
		name, offer, want, era, transport string
	}{
		{"default", "", v2026, EraStateless, "streamable"},
		{"2025-11-25", "2025-11-25", "2025-11-25", EraLegacy, "streamable"},
		{"2025-06-18", "2025-06-18", "2025-06-18", EraLegacy, "streamable"},
		{"2024-11-05", "2024-11-05", "2024-11-05", EraLegacy, "streamable"},
		{"sse", "", "2025-11-25", "", "sse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, HandlerOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var transport mcp.Transport = &mcp.StreamableClientTransport{Endpoint: ts.URL + "/mcp", HTTPClient: ts.Client(), MaxRetries: -1}
			if tc.transport == "sse" {
				transport = &mcp.SSEClientTransport{Endpoint: ts.URL + "/sse", HTTPClient: ts.Client()}
			}
			client := mcp.NewClient(&mcp.Implementation{Name: "gosdk-test", Version: "1.8.0"}, nil)
			cs, err := client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: tc.offer})
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer cs.Close()
			if got := cs.InitializeResult().ProtocolVersion; got != tc.want {
				t.Errorf("negotiated %q, want %q", got, tc.want)
			}
			if tc.transport == "streamable" && (cs.ID() == "") != (tc.era == EraStateless) {
				t.Errorf("session id %q in era %s", cs.ID(), tc.era)
			}

			text := func(name string, args map[string]any) string {
				t.Helper()
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if res.IsError || len(res.Content) == 0 {
					t.Fatalf("%s: %+v", name, res)
				}
				tc, _ := res.Content[0].(*mcp.TextContent)
				if tc == nil {
					t.Fatalf("%s: content %T", name, res.Content[0])
				}
				return tc.Text
			}
			if got := text("best_person_looker_upper", map[string]any{"startsWith": "Gr"}); !strings.Contains(got, "Grace Hopper") {
				t.Errorf("best_person_looker_upper(Gr) = %q", got)
			}
			if got := text("echo", map[string]any{"text": "héllo"}); got != "héllo" {
				t.Errorf("echo = %q", got)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
			if err != nil {
				t.Fatal(err)
			}
			var w whoAmI
			b, _ := json.Marshal(res.StructuredContent)
			if err := json.Unmarshal(b, &w); err != nil {
				t.Fatal(err)
			}
			wantMode, wantTransport := "session", "streamable-http"
			switch {
			case tc.transport == "sse":
				wantTransport = "sse"
			case tc.era == EraStateless:
				wantMode = "stateless"
			}
			wantSession := cs.ID()
			if tc.transport == "sse" { // the SDK's SSE client does not expose the ?sessionid= of its endpoint
				wantSession = w.SessionID
				if w.SessionID == "" {
					t.Error("whoami over SSE reports no session id")
				}
			}
			if w.ClientName != "gosdk-test" || w.ClientVersion != "1.8.0" || w.ProtocolVersion != tc.want ||
				w.Mode != wantMode || w.Transport != wantTransport || w.SessionID != wantSession {
				t.Errorf("whoami = %+v, want gosdk-test 1.8.0 %s %s over %s (session %q)", w, tc.want, wantMode, wantTransport, cs.ID())
			}
			if tc.era != "" {
				ts.mu.Lock()
				for _, r := range ts.routes {
					if !strings.HasPrefix(r, tc.era+":") {
						t.Errorf("a request of this %s client was routed %q", tc.era, r)
					}
				}
				ts.mu.Unlock()
			}
		})
	}
}

// TestVersionHeaderQuirk: Claude through connectors, after a 2026-07-28 server/discover, sends
// MCP-Protocol-Version: 2025-11-25 beside _meta 2026-07-28 (anthropics/claude-code#93290). The handler serves that
// pair by its _meta version and says so; every other disagreement stays the SDK's 400 (the conformance suite's
// _meta v999.0.0 with a 2026-07-28 header must get -32020); StrictVersionHeader refuses the pair too.
func TestVersionHeaderQuirk(t *testing.T) {
	type seen struct {
		header, meta string
		accepted     bool
	}
	var (
		mu     sync.Mutex
		got    []seen
		strict bool
	)
	ts := newTestServer(t, HandlerOptions{
		StrictVersionHeader: func() bool { mu.Lock(); defer mu.Unlock(); return strict },
		OnVersionHeader: func(_ *http.Request, header, meta string, accepted bool) {
			mu.Lock()
			got = append(got, seen{header, meta, accepted})
			mu.Unlock()
		},
	})
	last := func() []seen {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
	whoamiH, whoami := call2026("tools/call", "whoami", `"name":"whoami","arguments":{}`)
	listH, list := call2026("tools/list", "", "")
	with := func(h map[string]string, version string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		if version == "" {
			delete(out, "MCP-Protocol-Version")
		} else {
			out["MCP-Protocol-Version"] = version
		}
		return out
	}

	t.Run("claude's pair is served by _meta", func(t *testing.T) {
		r := ts.do(t, "POST", "/mcp", with(whoamiH, "2025-11-25"), whoami)
		if r.status != 200 || r.msg == nil || r.msg.Error != nil {
			t.Fatalf("tools/call with MCP-Protocol-Version 2025-11-25 and _meta 2026-07-28: %v", r)
		}
		var res struct{ StructuredContent whoAmI }
		if err := json.Unmarshal(r.msg.Result, &res); err != nil {
			t.Fatal(err)
		}
		if w := res.StructuredContent; w.ProtocolVersion != v2026 || w.Mode != "stateless" {
			t.Errorf("whoami = %+v, want 2026-07-28, stateless", w)
		}
		if s := last(); len(s) != 1 || s[0] != (seen{"2025-11-25", v2026, true}) {
			t.Errorf("told %+v, want the 2025-11-25 header accepted for _meta 2026-07-28", s)
		}
		for _, v := range []string{"2025-06-18", "2024-11-05"} { // any legacy revision in the header
			if r := ts.do(t, "POST", "/mcp", with(listH, v), list); r.status != 200 || r.code() != 0 {
				t.Errorf("tools/list with header %s and _meta 2026-07-28: %v", v, r)
			}
		}
		last()
	})

	strictCases := []struct {
		name   string
		header map[string]string
		body   string
		code   int
	}{
		// The conformance suite's sep-2575-http-server-header-mismatch-400.
		{"_meta v999.0.0, header 2026-07-28", with(listH, v2026), strings.Replace(list, v2026, "v999.0.0", 1), -32020},
		{"_meta v999.0.0, header 2025-11-25", with(listH, "2025-11-25"), strings.Replace(list, v2026, "v999.0.0", 1), -32020},
		{"_meta 2026-07-28, header v999.0.0", with(listH, "v999.0.0"), list, -32020},
		{"_meta 2026-07-28, no header", with(listH, ""), list, -32020},
		{"_meta 2026-07-28, header 2025-11-25 twice", nil, list, -32020},
	}
	for _, tc := range strictCases {
		t.Run(tc.name, func(t *testing.T) {
			var r reply
			if tc.header == nil {
				r = ts.doMulti(t, with(listH, ""), "MCP-Protocol-Version", []string{"2025-11-25", "2025-11-25"}, tc.body)
			} else {
				r = ts.do(t, "POST", "/mcp", tc.header, tc.body)
			}
			if r.status != 400 || r.code() != tc.code {
				t.Errorf("got %v, want 400 with %d", r, tc.code)
			}
			if s := last(); len(s) != 0 {
				t.Errorf("told %+v of a request it must not accept", s)
			}
		})
	}

	t.Run("strict", func(t *testing.T) {
		mu.Lock()
		strict = true
		mu.Unlock()
		r := ts.do(t, "POST", "/mcp", with(whoamiH, "2025-11-25"), whoami)
		if r.status != 400 || r.code() != -32020 {
			t.Errorf("strict: got %v, want 400 with -32020", r)
		}
		if s := last(); len(s) != 1 || s[0] != (seen{"2025-11-25", v2026, false}) {
			t.Errorf("told %+v, want the 2025-11-25 header refused", s)
		}
	})
}

// doMulti sends a POST with several values of one header.
func (ts *testServer) doMulti(t *testing.T, header map[string]string, key string, values []string, body string) reply {
	t.Helper()
	h := map[string]string{}
	for k, v := range header {
		h[k] = v
	}
	h[key] = strings.Join(values, "\x00") // split back into separate values by do
	return ts.do(t, "POST", "/mcp", h, body)
}

// writeCounter is a listener whose connections count their writes (each a write system call).
type writeCounter struct {
	net.Listener
	n *atomic.Int32
}

func (l writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return countedConn{c, l.n}, err
}

type countedConn struct {
	net.Conn
	n *atomic.Int32
}

func (c countedConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// TestQuickStreamPrimedInTheAnswersWrite: a legacy POST answered at once on an event stream (the SDK primes it
// with an event id, SEP-1699, flushes it, flushes the answer, then net/http writes the stream's end) reaches the
// client in two writes, not three: the priming event goes out with the answer; the bytes are the same. (The
// answer is not held for the end: TestAnswerNotHeldBehindRecorderEnd.)
func TestQuickStreamPrimedInTheAnswersWrite(t *testing.T) {
	defer func(d time.Duration) { flushHold = d }(flushHold)
	flushHold = time.Minute // what the timer would flush on a busy machine is what this test looks at
	s, stop := New(Options{})
	defer stop()
	var writes atomic.Int32
	ts := httptest.NewUnstartedServer(NewHandler(s, HandlerOptions{}))
	ts.Listener = writeCounter{ts.Listener, &writes}
	ts.Start()
	defer ts.Close()
	post := func(hdr map[string]string, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", acceptBoth)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		writes.Store(0)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, body := post(nil, initBody("2025-11-25"))
	if !strings.HasPrefix(body, "event: prime\nid: ") || !strings.Contains(body, "\ndata: \n\nevent: message\nid: ") || !strings.Contains(body, `"protocolVersion":"2025-11-25"`) {
		t.Fatalf("initialize answered %q", body)
	}
	if n := writes.Load(); n != 2 {
		t.Errorf("initialize's stream took %d writes, want 2 (the priming event with the answer, the end)", n)
	}
	sid := resp.Header.Get("Mcp-Session-Id")
	hdr := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	post(hdr, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if _, body := post(hdr, `{"jsonrpc":"2.0","id":"c-2","method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`); !strings.HasPrefix(body, "event: prime\n") || !strings.Contains(body, `hi`) {
		t.Fatalf("tools/call answered %q", body)
	}
	if n := writes.Load(); n != 2 {
		t.Errorf("a tools/call's stream took %d writes, want 2", n)
	}
}

// flushRecorder is a ResponseWriter that counts its flushes, safe for the timer's goroutine.
type flushRecorder struct {
	*httptest.ResponseRecorder
	n atomic.Int32
}

func (f *flushRecorder) Flush() { f.n.Add(1) }

// TestFlushHeldAtMostFlushHold: a priming event whose answer does not come is flushed on its own once flushHold
// passed (a client of a slow tool still gets its event id early), or when the handler returns first (then the
// timer touches the writer no more); an answer's flush is never held.
func TestFlushHeldAtMostFlushHold(t *testing.T) {
	prime := []byte("event: prime\nid: s_0\ndata: \n\n")
	var flushed time.Time
	open := func() (*methodNotFoundWriter, *flushRecorder) {
		rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
		m := &methodNotFoundWriter{ResponseWriter: rec}
		m.Header().Set("Content-Type", "text/event-stream")
		m.WriteHeader(http.StatusOK)
		m.Write(prime)
		flushed = time.Now()
		m.Flush()
		return m, rec
	}
	m, rec := open()
	if n := rec.n.Load(); n != 0 && time.Since(flushed) < flushHold {
		t.Fatalf("the priming event was flushed at once (%d)", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for rec.n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if rec.n.Load() != 1 {
		t.Fatal("the held priming event was never flushed")
	}
	m.Write([]byte("event: message\nid: s_1\ndata: {}\n\n"))
	m.Flush()
	m.finish(peeked{})
	if n := rec.n.Load(); n != 2 {
		t.Errorf("%d flushes, want 2 (the priming event's, the answer's)", n)
	}

	// An answer's flush is not held, nor a notification's.
	m, rec = open()
	for rec.n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	m.Write([]byte("event: message\nid: s_1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n"))
	m.Flush()
	m.Write([]byte("event: message\nid: s_2\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"a-1\",\"result\":{}}\n\n"))
	m.Flush()
	if n := rec.n.Load(); n != 3 {
		t.Errorf("the notification and the answer: %d flushes, want 3", n)
	}
	m.finish(peeked{})

	m, rec = open()
	m.finish(peeked{})
	// The held priming event is flushed by the return (or by the timer before it, when this goroutine was held up
	// past flushHold on a busy machine): once. Nothing may follow it.
	returned := rec.n.Load()
	if returned != 1 {
		t.Errorf("a priming event held when the handler returned: %d flushes by the return, want 1", returned)
	}
	time.Sleep(3 * flushHold)
	if n := rec.n.Load(); n != returned {
		t.Errorf("the timer flushed after the handler returned (%d flushes at the return, %d after it)", returned, n)
	}

	// Anything but a priming event first is flushed at once.
	rec = &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	m = &methodNotFoundWriter{ResponseWriter: rec}
	m.Header().Set("Content-Type", "text/event-stream")
	m.Write([]byte("event: message\nid: s_1\ndata: {}\n\n"))
	m.Flush()
	if n := rec.n.Load(); n != 1 {
		t.Errorf("a first event that is not a priming event: %d flushes, want 1", n)
	}
}

// TestHeldPrimingFlushedWhenHandlerPanics (review19c): a handler that panics with its priming event's flush held
// (the recorder's middleware recovers the panic, completes its record, then returns to net/http) gets the priming
// event out as the panic leaves ServeHTTP (its deferred release), not after the recorder's completion, nor never
// (net/http drops an unflushed response buffer on http.ErrAbortHandler).
func TestHeldPrimingFlushedWhenHandlerPanics(t *testing.T) {
	defer func(d time.Duration) { flushHold = d }(flushHold)
	flushHold = time.Minute // only the release may flush it
	rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	m := &methodNotFoundWriter{ResponseWriter: rec}
	m.Header().Set("Content-Type", "text/event-stream")
	m.WriteHeader(http.StatusOK)
	m.Write([]byte("event: prime\nid: s_0\ndata: \n\n"))
	m.Flush()
	if n := rec.n.Load(); n != 0 {
		t.Fatalf("the priming event was flushed at once (%d)", n)
	}
	func() {
		defer func() { recover() }() // the recorder's middleware
		defer m.release()            // as ServeHTTP defers it
		panic(http.ErrAbortHandler)
	}()
	if n := rec.n.Load(); n != 1 {
		t.Errorf("a priming event held when the handler panicked: %d flushes as it returned, want 1", n)
	}
	m.release() // a second release (finish after the deferred one) flushes nothing more
	if n := rec.n.Load(); n != 1 {
		t.Errorf("%d flushes after a second release, want 1", n)
	}
}
