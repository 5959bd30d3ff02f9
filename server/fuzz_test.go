package server

// Fuzz target for MCP requests through the whole router (script/fuzz runs it briefly; seeds in testdata/fuzz):
// the recorder, the Host guard, the toggles' middleware and the dual-era /mcp handler on the go-sdk.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// Whatever the body and headers of a request to /mcp (or /sse), the server answers without a 5xx and without a
// handler panicking (the recorder would turn a panic into a 500 and note it), and records the exchange.
func FuzzMCP(f *testing.F) {
	store := recorder.NewStore(recorder.StoreOptions{MaxCount: 1000})
	srv, err := New(Config{NoAuth: true, Recorder: recorder.New(store, recorder.Options{})})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	// A live legacy session to aim at.
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}`
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4000/mcp", strings.NewReader(init))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	session := rr.Header().Get("Mcp-Session-Id")
	if session == "" {
		f.Fatalf("initialize: %d %s", rr.Code, rr.Body)
	}

	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	for _, body := range []string{
		init,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"server/discover","params":{` + meta + `}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"best_person_looker_upper","arguments":{"startsWith":1},` + meta + `}}`,
		`[{"jsonrpc":"2.0","id":5,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]`,
		`{"jsonrpc":"2.0","id":{"a":1},"method":"resources/read","params":{"uri":"mcpwatch://people"}}`,
		`{"jsonrpc":"2.0","id":6,"result":{}}`, `null`, `{"jsonrpc":"1.0"}`, "\xff\xfe", ``,
	} {
		f.Add(uint8(0), body, uint8(0), "", uint8(0))
		f.Add(uint8(0), body, uint8(1), "2026-07-28", uint8(1))
	}
	f.Add(uint8(1), ``, uint8(1), "", uint8(2))
	f.Add(uint8(2), `{}`, uint8(2), "2025-11-25", uint8(3))
	f.Add(uint8(195), `{}`, uint8(1), " HTTP/1.0", uint8(1)) // a session id a raw query would split the request line on
	methods := []string{http.MethodPost, http.MethodGet, http.MethodDelete, http.MethodPut}
	ctypes := []string{"application/json", "application/json; charset=utf-8", "text/plain", ""}
	f.Fuzz(func(t *testing.T, methodSel uint8, body string, sessionSel uint8, version string, ctSel uint8) {
		method := methods[int(methodSel)%len(methods)]
		path := "/mcp"
		if methodSel >= 128 {
			path = "/sse?sessionid=" + url.QueryEscape(version) // a client sends its query escaped
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond) // a GET stream ends here
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, method, "http://127.0.0.1:4000"+path, strings.NewReader(body))
		if ct := ctypes[int(ctSel)%len(ctypes)]; ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Accept", "application/json, text/event-stream")
		switch sessionSel % 3 {
		case 1:
			req.Header.Set("Mcp-Session-Id", session)
		case 2:
			req.Header.Set("Mcp-Session-Id", version)
		}
		if version != "" && validHeader(version) {
			req.Header.Set("Mcp-Protocol-Version", version)
			req.Header.Set("Mcp-Method", version)
		}
		before := store.Stats().Total
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		if rr.Code >= 500 {
			t.Fatalf("%s %s (session %d, version %q): HTTP %d: %s", method, path, sessionSel%3, version, rr.Code, rr.Body)
		}
		if store.Stats().Total != before+1 {
			t.Fatalf("%d exchanges recorded for one request", store.Stats().Total-before)
		}
		if ex := store.Get(before + 1); ex == nil || strings.Contains(ex.Error, "panicked") {
			t.Fatalf("recorded: %+v", ex)
		}
	})
}

// validHeader reports a value net/http would send as a header (a client cannot send others).
func validHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
