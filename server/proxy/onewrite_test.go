package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/servertest"
)

// A small request body goes upstream in the same write as the request line and headers: one write call per
// request, as the bare request costs. ReverseProxy wraps the outbound body in a type net/http does not know to be
// in memory, which made it two (headers, then body): a write call and a packet more per request (issue 18).
func TestSmallRequestGoesUpstreamInOneWrite(t *testing.T) {
	const msg = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != msg {
			t.Errorf("upstream got %q", b)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer up.Close()
	for _, tc := range []struct {
		name   string
		router bool // behind mcpwatch's router and recorder (the small-body deadline reads the body), or the proxy alone (wholeBody)
	}{{"router-recording", true}, {"proxy-alone", false}} {
		t.Run(tc.name, func(t *testing.T) {
			opts := proxy.Options{Upstream: up.URL + "/mcp"}
			var rec *recorder.Recorder
			if tc.router {
				rec = recorder.New(recorder.NewStore(recorder.StoreOptions{}), recorder.Options{})
				opts.Recorder = rec
			}
			p, err := proxy.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			var writes atomic.Int64
			proxy.CountUpstreamWrites(p, &writes)
			url := ""
			if tc.router {
				url = servertest.Serve(t, server.Config{Recorder: rec, Handler: p, EndpointPath: p.EndpointPath()}).LocalURL()
			} else {
				srv := httptest.NewServer(p)
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			const n = 5
			for range n {
				req, _ := http.NewRequest("POST", url+"/mcp", strings.NewReader(msg))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			if got := writes.Load(); got != n {
				t.Errorf("%d write calls upstream for %d requests, want one each", got, n)
			}
		})
	}
}
