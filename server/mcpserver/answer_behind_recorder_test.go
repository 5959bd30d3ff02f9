package mcpserver

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// A legacy call's answer reaches the client while the recorder around the handler is still completing its record:
// the store's OnComplete functions (the capture file's Append, which waits while the disk is behind) run on the
// handler's goroutine after the handler returned, and the answer must not wait for them (nor for anything else
// that runs after the handler, beyond flushHold).
func TestAnswerNotHeldBehindRecorderEnd(t *testing.T) {
	s, stop := New(Options{})
	defer stop()
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{})
	release := make(chan struct{})
	var slow atomic.Bool
	store.OnComplete(func(ex *recorder.Exchange) {
		if slow.Load() && strings.Contains(string(ex.ReqBody.Data), `"tools/call"`) {
			select { // the disk is behind
			case <-release:
			case <-time.After(5 * time.Second):
			}
		}
	})
	ts := httptest.NewServer(rec.Middleware(NewHandler(s, HandlerOptions{})))
	defer ts.Close()
	post := func(hdr map[string]string, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", ts.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", acceptBoth)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post(nil, initBody("2025-11-25"))
	resp.Body.Close()
	hdr := map[string]string{"Mcp-Session-Id": resp.Header.Get("Mcp-Session-Id"), "MCP-Protocol-Version": "2025-11-25"}
	post(hdr, `{"jsonrpc":"2.0","method":"notifications/initialized"}`).Body.Close()

	slow.Store(true)
	defer close(release)
	got := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		resp := post(hdr, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if strings.HasPrefix(line, "data: ") && strings.Contains(line, `"result"`) {
				got <- time.Since(start)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	select {
	case d := <-got:
		t.Logf("the answer reached the client after %v", d)
	case <-time.After(2 * time.Second):
		t.Fatal("the answer did not reach the client within 2 s while the recorder was completing its record (the handler had returned)")
	}
}
