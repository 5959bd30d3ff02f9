package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/servertest"
)

// A request the transport sends again after its reused upstream connection broke (net/http retries a replayable
// request: here a POST with an Idempotency-Key, whose first attempt was read whole upstream, then the connection
// was closed without an answer) goes out again whole: the small body handed to the transport as the inbound
// request's own reader was consumed by the first attempt, and the retry rewinds through GetBody. Behind the
// recorder (the server's small-body read) and the proxy alone (wholeBody); the client's record and the upstream
// copy's hold the body once.
func TestUpstreamRetrySendsTheWholeBodyAgain(t *testing.T) {
	const msg = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"again"}}}`
	var mu sync.Mutex
	perConn := map[string]int{} // requests seen on each upstream connection
	var bodies []string         // every attempt's body, as the upstream read it
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		perConn[r.RemoteAddr]++
		n := perConn[r.RemoteAddr]
		bodies = append(bodies, string(b))
		mu.Unlock()
		if n == 2 { // the second request on a connection: read whole, then the connection is gone
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":2,"result":{}}`)
	}))
	defer up.Close()
	for _, tc := range []struct {
		name   string
		router bool
	}{{"router-recording", true}, {"proxy-alone", false}} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			clear(perConn)
			bodies = nil
			mu.Unlock()
			opts := proxy.Options{Upstream: up.URL + "/mcp"}
			var store *recorder.Store
			var rec *recorder.Recorder
			if tc.router {
				store = recorder.NewStore(recorder.StoreOptions{})
				rec = recorder.New(store, recorder.Options{})
				opts.Recorder = rec
			}
			p, err := proxy.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			url := ""
			if tc.router {
				url = servertest.Serve(t, server.Config{Recorder: rec, Handler: p, EndpointPath: p.EndpointPath()}).LocalURL()
			} else {
				srv := httptest.NewServer(p)
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			for i := range 2 { // the second goes out on the first one's connection, which breaks
				req, _ := http.NewRequest("POST", url+"/mcp", strings.NewReader(msg))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", "k1")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: status %d", i+1, resp.StatusCode)
				}
			}
			mu.Lock()
			got := append([]string(nil), bodies...)
			mu.Unlock()
			if len(got) != 3 {
				t.Fatalf("the upstream read %d attempts, want 3 (one retried): %q", len(got), got)
			}
			for i, b := range got {
				if b != msg {
					t.Errorf("attempt %d went upstream as %q", i+1, b)
				}
			}
			if !tc.router {
				return
			}
			deadline := time.Now().Add(10 * time.Second)
			for store.Stats().Total < 4 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			exs := store.Snapshot()
			if len(exs) != 4 {
				t.Fatalf("%d records, want 4", len(exs))
			}
			for _, ex := range exs {
				for ex.State != recorder.StateComplete && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
					ex = store.Get(ex.ID)
				}
				if string(ex.ReqBody.Data) != msg || ex.ReqBody.Size != int64(len(msg)) || ex.Status != 200 {
					t.Errorf("record %d (%v): body %q (%d bytes), status %d", ex.ID, ex.Kind, ex.ReqBody.Data, ex.ReqBody.Size, ex.Status)
				}
			}
		})
	}
}
