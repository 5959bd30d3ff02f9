package recorder

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
)

// TestWireHeadersSurviveTheBody: the request's first header lines were lost when the bytes after the header
// block (the body) were moved to the front of the buffer the block was still read from.
func TestWireHeadersSurviveTheBody(t *testing.T) {
	store := NewStore(StoreOptions{})
	rec := New(store, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ConnContext: ConnContext, Handler: rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))}
	go func() { _ = srv.Serve(WrapListener(ln)) }()
	defer srv.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/7.88.1\r\nContent-Type: application/json\r\n"+
		"Accept: application/json\r\nMcp-Session-Id: abc\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := c.Read(make([]byte, 512)); err != nil {
		t.Fatal(err)
	}
	exs := store.Snapshot()
	if len(exs) != 1 {
		t.Fatalf("%d exchanges", len(exs))
	}
	want := []string{"Host", "User-Agent", "Content-Type", "Accept", "Mcp-Session-Id", "Content-Length"}
	got := exs[0].ReqHeaders
	if len(got) != len(want) {
		t.Fatalf("headers %v, want %v in that order", got, want)
	}
	for i, h := range got {
		if h.Name != want[i] {
			t.Fatalf("headers %v, want %v in that order", got, want)
		}
	}
}
