package mcpserver

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

type sseEvent struct{ name, data string }

// openSSE opens the HTTP+SSE stream at /sse and returns the endpoint its first event names and the events after it.
// The stream ends with the test.
func openSSE(t *testing.T, ts *testServer, header map[string]string) (endpoint string, events <-chan sseEvent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/sse", nil)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		t.Fatalf("GET /sse: HTTP %d", resp.StatusCode)
	}
	ch := make(chan sseEvent, 16)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 8<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				ch <- ev
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	first := next(t, ch)
	if first.name != "endpoint" || !strings.HasPrefix(first.data, "/sse?sessionid=") {
		t.Fatalf("first event %+v, want the endpoint", first)
	}
	return first.data, ch
}

func next(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return sseEvent{}
}

// quiet checks that the stream carries nothing more: a ping's answer is the next event.
func quiet(t *testing.T, ts *testServer, endpoint string, events <-chan sseEvent) {
	t.Helper()
	if r := ts.do(t, "POST", endpoint, nil, `{"jsonrpc":"2.0","id":"probe","method":"ping"}`); r.status != http.StatusAccepted {
		t.Fatalf("ping: %v", r)
	}
	if ev := next(t, events); !strings.Contains(ev.data, `"id":"probe"`) {
		t.Errorf("unexpected event before the ping's answer: %+v", ev)
	}
}

// TestSSEBadInput: on the HTTP+SSE transport, answers travel on the stream. A body that is not a JSON-RPC message
// gets the protocol's error on the POST itself (there is no request id to answer on the stream), an unknown method
// gets 202 and -32601 on the stream, an unknown notification nothing; transport errors keep their statuses.
func TestSSEBadInput(t *testing.T) {
	ts := newTestServer(t, HandlerOptions{MaxBodyBytes: 4096})
	endpoint, events := openSSE(t, ts, nil)
	if r := ts.do(t, "POST", endpoint, nil, initBody("2024-11-05")); r.status != http.StatusAccepted {
		t.Fatalf("initialize: %v", r)
	}
	if ev := next(t, events); ev.name != "message" || !strings.Contains(ev.data, `"protocolVersion":"2024-11-05"`) {
		t.Fatalf("initialize result: %+v", ev)
	}
	ts.do(t, "POST", endpoint, nil, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	for _, tc := range []struct {
		name     string
		path     string // default: the endpoint
		header   map[string]string
		body     string
		status   int
		wantCode int    // JSON-RPC error code in the POST's answer
		reason   string // in the POST's answer
	}{
		{"malformed JSON", "", nil, `{"jsonrpc":"2.0","id":1,`, 400, -32700, "not valid JSON"},
		{"malformed batch", "", nil, `[{bad`, 400, -32700, "not valid JSON"},
		{"batch", "", nil, `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, 400, -32600, "one message per POST, not a batch"},
		{"a number", "", nil, `42`, 400, -32600, "not a JSON-RPC message object"},
		{"no jsonrpc version", "", nil, `{"id":3,"method":"ping"}`, 400, -32600, `"jsonrpc" must be "2.0"`},
		{"neither request nor response", "", nil, `{"jsonrpc":"2.0","id":5}`, 400, -32600, `needs a "method"`},
		{"body over the limit", "", nil, `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("a", 4096) + `"}}`, 413, -32600, "exceeds 4096 bytes"},
		{"wrong Content-Type", "", map[string]string{"Content-Type": "text/plain"}, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 415, 0, "Content-Type must be 'application/json'"},
		{"no sessionid", "/sse", nil, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 400, 0, "sessionid must be provided"},
		{"unknown sessionid", "/sse?sessionid=nope", nil, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, 404, 0, "session not found"},
		{"unknown notification", "", nil, `{"jsonrpc":"2.0","method":"notifications/no_such"}`, 202, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = endpoint
			}
			r := ts.do(t, "POST", path, tc.header, tc.body)
			said := strings.Contains(r.body, tc.reason) || r.msg != nil && r.msg.Error != nil && strings.Contains(r.msg.Error.Message, tc.reason)
			if r.status != tc.status || r.code() != tc.wantCode || !said {
				t.Errorf("got %v (code %d), want HTTP %d, code %d, saying %q", r, r.code(), tc.status, tc.wantCode, tc.reason)
			}
			if tc.wantCode != 0 && !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
			}
			quiet(t, ts, endpoint, events)
		})
	}

	t.Run("unknown method", func(t *testing.T) {
		r := ts.do(t, "POST", endpoint, nil, `{"jsonrpc":"2.0","id":6,"method":"no/such_method"}`)
		if r.status != http.StatusAccepted {
			t.Fatalf("POST: %v, want 202", r)
		}
		var m rpcMsg
		if ev := next(t, events); json.Unmarshal([]byte(ev.data), &m) != nil || string(m.ID) != "6" || m.Error == nil || m.Error.Code != -32601 {
			t.Errorf("on the stream: %+v, want -32601 for id 6", ev)
		}
	})
	t.Run("DELETE", func(t *testing.T) {
		if r := ts.do(t, "DELETE", endpoint, nil, ""); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, POST" {
			t.Errorf("%v %v", r, r.header)
		}
	})
}
