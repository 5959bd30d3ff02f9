package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/proxy"
)

// proxyOn runs proxy mode in front of upstream on a loopback port, recorded into store.
func proxyOn(t *testing.T, upstream http.Handler, store *recorder.Store, bodyTimeout time.Duration) string {
	t.Helper()
	ups := testkit.Serve(t, upstream)
	p, err := proxy.New(proxy.Options{Upstream: ups.URL + "/mcp", RewriteURLs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return serveOn(t, Config{Handler: p, EndpointPath: p.EndpointPath(), BodyTimeout: bodyTimeout,
		Recorder: recorder.New(store, recorder.Options{})})
}

// In proxy mode a small body that does not arrive within the body timeout gets 408 (recorded), instead of holding
// the connection and the upstream's request open for as long as the client likes.
func TestProxySmallBodyTimesOut(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{})
	reached := make(chan struct{}, 1)
	addr := proxyOn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- struct{}{}
		io.Copy(io.Discard, r.Body)
	}), store, 100*time.Millisecond)
	status, body := rawPost(t, addr, "/mcp")
	if status != http.StatusRequestTimeout || !strings.Contains(body, "the request body did not arrive in time (Content-Length 100, 10 bytes received within 100ms)") {
		t.Fatalf("HTTP %d %s, want 408", status, body)
	}
	select {
	case <-reached:
		t.Error("the upstream was sent the request")
	default:
	}
	var ex *recorder.Exchange
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ex = store.Get(1); ex != nil && ex.State == recorder.StateComplete {
			break
		}
	}
	if ex == nil || ex.Status != http.StatusRequestTimeout || string(ex.ReqBody.Data) != `{"jsonrpc"` {
		t.Errorf("recorded %+v", ex)
	}
}

// The deadline ends with the body: a POST answered by a stream that lasts far longer than the body timeout is not
// cut, nor is a body that streams (chunked) for longer.
func TestProxyBodyTimeoutSparesStreams(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{})
	addr := proxyOn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for i := range 6 {
			fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"i\":%d,\"n\":%d}}\n\n", i, n)
			w.(http.Flusher).Flush()
			time.Sleep(40 * time.Millisecond)
		}
	}), store, 30*time.Millisecond)
	pr, pw := io.Pipe()
	go func() {
		for range 4 { // a chunked body that takes ~160 ms
			io.WriteString(pw, strings.Repeat(" ", 10))
			time.Sleep(40 * time.Millisecond)
		}
		io.WriteString(pw, `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
		pw.Close()
	}()
	for _, body := range []io.Reader{strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`), pr} {
		req, _ := http.NewRequest("POST", "http://"+addr+"/mcp", body)
		req.Header.Set("Content-Type", "application/json")
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || strings.Count(string(b), "data: ") != 6 {
			t.Errorf("HTTP %d, %d events, %v: %s", resp.StatusCode, strings.Count(string(b), "data: "), err, b)
		}
	}
}

// Two Authorization headers are refused (400 invalid_request) at /mcp and /sse and in proxy mode, rather than the
// first one counting for the bearer check and who knows which for the upstream.
func TestTwoAuthorizationHeadersRefused(t *testing.T) {
	serve := serveOn(t, Config{})
	store := recorder.NewStore(recorder.StoreOptions{})
	upstreamSaw := make(chan []string, 4)
	prox := proxyOn(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamSaw <- r.Header.Values("Authorization")
		w.WriteHeader(http.StatusUnauthorized)
	}), store, 0)
	for _, tc := range []struct{ addr, method, target string }{
		{serve, "POST", "/mcp"}, {serve, "GET", "/sse"}, {serve, "GET", "/mcp"}, {prox, "POST", "/mcp"}, {prox, "GET", "/anything"},
	} {
		conn, err := net.Dial("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		body := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
		if tc.method == "GET" {
			body = ""
		}
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"+
			"Authorization: Bearer first\r\nAuthorization: Bearer second\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			tc.method, tc.target, tc.addr, len(body), body)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.target, err)
		}
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"error":"invalid_request"`) ||
			!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_request"`) {
			t.Errorf("%s %s%s: HTTP %d %s %q", tc.method, tc.addr, tc.target, resp.StatusCode, b, resp.Header.Get("WWW-Authenticate"))
		}
	}
	select {
	case got := <-upstreamSaw:
		t.Errorf("the upstream was sent %q", got)
	default:
	}
}
