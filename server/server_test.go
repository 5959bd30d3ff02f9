package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
)

// TestRecordedAsSent: the capture sits outside the guard and the handler, so the recorder keeps a request as it
// crossed the wire: a refused foreign Host is recorded with its 403, and the 2026-07-28 MCP-Protocol-Version a
// legacy session sent is recorded as sent, although the handler served the request at the session's version.
func TestRecordedAsSent(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{})
	srv, err := New(Config{Recorder: recorder.New(store, recorder.Options{}), NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := testkit.Serve(t, srv.Handler())

	post := func(host string, header map[string]string, body string) (*http.Response, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.URL+"/mcp", strings.NewReader(body))
		if host != "" {
			req.Host = host
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	if resp, body := post("evil.example.com", nil, `{"jsonrpc":"2.0","id":1,"method":"ping"}`); resp.StatusCode != 403 {
		t.Fatalf("foreign Host: %d %s", resp.StatusCode, body)
	}
	resp, body := post("", nil, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d %s", resp.StatusCode, body)
	}
	post("", map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"}, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	resp, body = post("", map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2026-07-28"},
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"protocolVersion":"2025-06-18"`) {
		t.Fatalf("whoami with a 2026 header on a 2025-06-18 session: %d %s", resp.StatusCode, body)
	}

	var refused, quirk *recorder.Exchange
	deadline := time.Now().Add(5 * time.Second)
	for (refused == nil || quirk == nil) && time.Now().Before(deadline) {
		for _, ex := range store.Snapshot() {
			switch {
			case ex.State != recorder.StateComplete:
			case ex.Status == 403:
				refused = ex
			case ex.RPCMethod() == "tools/call":
				quirk = ex
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if refused == nil || quirk == nil {
		b, _ := json.Marshal(store.Snapshot())
		t.Fatalf("missing exchanges (refused %v, tools/call %v) in %s", refused != nil, quirk != nil, b)
	}
	if refused.Host != "evil.example.com" && refused.ReqHeaders.Get("Host") != "evil.example.com" {
		t.Errorf("the refused exchange does not record its Host: %q %v", refused.Host, refused.ReqHeaders)
	}
	if got := quirk.ReqHeaders.Get("Mcp-Protocol-Version"); got != "2026-07-28" {
		t.Errorf("recorded MCP-Protocol-Version %q, want 2026-07-28 as sent", got)
	}
	if got := quirk.Note("era"); got != "legacy: session id" {
		t.Errorf("era note %q, want legacy: session id", got)
	}
}
