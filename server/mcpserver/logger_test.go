package mcpserver

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The SDK's Info lines — three for every 2026-era request, whose ephemeral session is connected and disconnected,
// and more for every legacy session — stay out of the log; its warnings and errors still reach it.
func TestSDKLogsWarningsOnly(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, stop := New(Options{Logger: logger})
	defer stop()
	h := NewHandler(s, HandlerOptions{Logger: logger})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ts := &testServer{Server: srv}

	sid := ts.initSession(t, "2025-11-25")
	if r := ts.do(t, "POST", "/mcp", map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"},
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`); r.status != http.StatusOK || r.msg == nil {
		t.Fatalf("legacy tools/call: %v", r)
	}
	hdr, body := call2026("tools/call", "echo", `"name":"echo","arguments":{"text":"hi"}`)
	if r := ts.do(t, "POST", "/mcp", hdr, body); r.status != http.StatusOK || r.msg == nil || r.msg.Error != nil {
		t.Fatalf("2026 tools/call: %v", r)
	}
	if r := ts.do(t, "DELETE", "/mcp", map[string]string{"Mcp-Session-Id": sid}, ""); r.status/100 != 2 {
		t.Fatalf("DELETE: %v", r)
	}
	sdkLogger(logger).Warn("a warning from the SDK")

	mu.Lock()
	defer mu.Unlock()
	log := buf.String()
	if strings.Contains(log, "level=INFO") || strings.Contains(log, "level=DEBUG") {
		t.Errorf("the SDK's Info lines reached the log:\n%s", log)
	}
	if !strings.Contains(log, `level=WARN msg="a warning from the SDK"`) {
		t.Errorf("the SDK's warning did not reach the log:\n%s", log)
	}
}

// WithAttrs and WithGroup keep the level.
func TestMinLevelDerived(t *testing.T) {
	var buf bytes.Buffer
	l := sdkLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.With("a", 1).WithGroup("g").Info("dropped")
	l.With("a", 1).WithGroup("g").Error("kept", "b", 2)
	if got := buf.String(); strings.Contains(got, "dropped") || !strings.Contains(got, "level=ERROR msg=kept a=1 g.b=2") {
		t.Errorf("log:\n%s", got)
	}
	if sdkLogger(nil) != nil {
		t.Error("a nil logger is not nil for the SDK")
	}
}
