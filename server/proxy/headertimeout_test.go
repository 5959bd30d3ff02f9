package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The header timeout is the transport's own timer: a request through it allocates (about) what one through the
// bare transport with the same timeout does — no context, timer or body wrapper of its own per request (10
// allocations more when it kept them: 65 against 55). Its error still names the limit
// (TestSlowUpstreamIs504EventStreamsToo).
func TestHeaderTimeoutAllocations(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer up.Close()
	p, err := New(Options{Upstream: up.URL, HeaderTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	limited := &headerTimeout{base: p.transport, d: time.Minute}
	call := func(rt http.RoundTripper) func() {
		return func() {
			req, _ := http.NewRequest("GET", up.URL+"/mcp", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	call(limited)() // a connection to reuse
	bare, with := testing.AllocsPerRun(200, call(p.transport)), testing.AllocsPerRun(200, call(limited))
	if with > bare+1 {
		t.Errorf("a request through the header timeout allocates %v, through the bare transport %v", with, bare)
	}
}
