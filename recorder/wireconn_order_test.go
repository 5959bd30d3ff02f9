package recorder

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// A request whose body arrives in the same read as its headers keeps every header, in wire order (the body used
// to overwrite the start of the header block while it was being parsed).
func TestWireHeadersSurviveTheBodyInTheSameRead(t *testing.T) {
	store := NewStore(StoreOptions{})
	rec := New(store, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	srv := &http.Server{ConnContext: ConnContext, Handler: rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		io.WriteString(w, "ok")
		close(done)
	}))}
	go srv.Serve(WrapListener(ln))
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := strings.Repeat(`{"jsonrpc":"2.0"}`, 20)
	wire := []string{"host: " + ln.Addr().String(), "connection: keep-alive", "content-type: application/json",
		"accept: application/json, text/event-stream", "x-e2e-seq: 1", "accept-language: *", "user-agent: node",
		fmt.Sprintf("content-length: %d", len(body))}
	fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\n%s\r\n\r\n%s", strings.Join(wire, "\r\n"), body) // one write
	<-done
	got := store.Snapshot()[0].ReqHeaders
	var gotLines []string
	for _, h := range got {
		gotLines = append(gotLines, h.Name+": "+h.Value)
	}
	if strings.Join(gotLines, "\n") != strings.Join(wire, "\n") {
		t.Errorf("headers:\n%s\nwant:\n%s", strings.Join(gotLines, "\n"), strings.Join(wire, "\n"))
	}
}
