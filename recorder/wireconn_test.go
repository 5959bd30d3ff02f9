package recorder

import (
	"bytes"
	"net"
	"net/http"
	"testing"
)

// A request with a body that follows another on the same connection keeps all its header lines, in order
// (the buffer compaction once overwrote the start of the header block with the body).
func TestWireHeadersSecondRequestWithBody(t *testing.T) {
	store := NewStore(StoreOptions{})
	rec := New(store, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })), ConnContext: ConnContext}
	go hs.Serve(WrapListener(ln))
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	send := func(method, ua string, body []byte) {
		req, _ := http.NewRequest(method, base+"/mcp", bytes.NewReader(body))
		req.Header.Set("User-Agent", ua)
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("HEAD", "first", nil)
	send("POST", "second", []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`))
	exs := store.Snapshot()
	if len(exs) != 2 {
		t.Fatalf("%d exchanges", len(exs))
	}
	h := exs[1].ReqHeaders
	if len(h) == 0 || h[0].Name != "Host" || h.Get("User-Agent") != "second" || h.Get("Content-Length") == "" || h.Get("X-Forwarded-Proto") != "https" {
		t.Fatalf("second request's headers = %v", h)
	}
}
