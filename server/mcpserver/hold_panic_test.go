package mcpserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// panicDone is a request context whose Done panics: the SDK's handler waits on it for the answer, after the priming
// event, so the handler panics with the priming event's flush held.
type panicDone struct{ context.Context }

func (panicDone) Done() <-chan struct{} { panic("the handler panicked") }

// A handler that panics with a flush held (a panic the recorder's middleware recovers, answering on and returning
// to net/http) leaves no timer behind that flushes the writer after net/http took it back (its buffers go to the
// next response on the connection, or to the pool).
func TestHoldReleasedWhenHandlerPanics(t *testing.T) {
	s, stop := New(Options{})
	defer stop()
	h := NewHandler(s, HandlerOptions{})
	serve := func(w http.ResponseWriter, ctx context.Context, hdr map[string]string, body string) {
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body)).WithContext(ctx)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", acceptBoth)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		h.ServeHTTP(w, r)
	}
	init := httptest.NewRecorder()
	serve(init, context.Background(), nil, initBody("2025-11-25"))
	hdr := map[string]string{"Mcp-Session-Id": init.Header().Get("Mcp-Session-Id"), "MCP-Protocol-Version": "2025-11-25"}
	serve(httptest.NewRecorder(), context.Background(), hdr, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	rec := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	panicked := false
	func() {
		defer func() { panicked = recover() != nil }() // as the recorder's middleware does
		serve(rec, panicDone{context.Background()}, hdr, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
	}()
	if !panicked {
		t.Fatal("the handler did not panic: nothing tested")
	}
	returned := rec.n.Load()
	time.Sleep(4 * flushHold)
	if n := rec.n.Load(); n != returned {
		t.Errorf("the writer was flushed after the handler returned (panicked): %d flushes, then %d", returned, n)
	}
}
