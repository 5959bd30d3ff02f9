package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// serveOn runs a server built from cfg on a loopback port until the test ends and returns its address.
func serveOn(t *testing.T, cfg Config) string {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv.Addr()
}

// rawPost sends a POST whose Content-Length announces 100 bytes and whose body has only the first bytes of a
// message, then waits for the answer (10 s at most: a hang fails the test instead of stalling it).
func rawPost(t *testing.T, addr, target string, header ...string) (status int, body string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n", target, addr)
	for i := 0; i+1 < len(header); i += 2 {
		req += header[i] + ": " + header[i+1] + "\r\n"
	}
	req += "Content-Length: 100\r\n\r\n" + `{"jsonrpc"`
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("POST %s with a short body: no answer: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A body shorter than its Content-Length gets an answer once the body timeout passes, on every endpoint that reads
// one, with the recorder on (it reads what a handler left of a body) and off.
func TestShortBodyTimesOut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		target string
		header []string
		status int
		want   string
	}{
		{"mcp", Config{NoAuth: true}, "/mcp", nil, http.StatusRequestTimeout,
			`"code":-32600,"message":"Request Timeout: the request body did not arrive in time (Content-Length 100, 10 bytes received)"`},
		{"mcp, recorded", Config{NoAuth: true, Recorder: recorder.New(recorder.NewStore(recorder.StoreOptions{}), recorder.Options{})}, "/mcp", nil,
			http.StatusRequestTimeout, "Request Timeout"},
		{"mcp before the token check, recorded", Config{Recorder: recorder.New(recorder.NewStore(recorder.StoreOptions{}), recorder.Options{})}, "/mcp", nil,
			http.StatusUnauthorized, "bearer token"},
		{"token", Config{}, "/token", nil, http.StatusBadRequest, "the request body did not arrive in time: 10 bytes within 100ms, then nothing"},
		{"register", Config{}, "/register", nil, http.StatusBadRequest, "the request body did not arrive in time: 10 bytes within 100ms, then nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.BodyTimeout = 100 * time.Millisecond
			addr := serveOn(t, tc.cfg)
			status, body := rawPost(t, addr, tc.target, tc.header...)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("HTTP %d %s, want %d with %q", status, body, tc.status, tc.want)
			}
		})
	}
}

// The body deadline ends with the body (net/http lifts it once the body is read): a POST whose answer streams for
// longer than the timeout (a tool that logs over ~100 ms, with a 20 ms body timeout) gets its whole answer.
func TestBodyTimeoutSparesLongAnswers(t *testing.T) {
	addr := serveOn(t, Config{NoAuth: true, Fixtures: fixturesConformance, BodyTimeout: 20 * time.Millisecond})
	post := func(header map[string]string, body string) (*http.Response, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := post(nil, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d %s", resp.StatusCode, body)
	}
	h := map[string]string{"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
	post(h, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	resp, body = post(h, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"test_tool_with_logging","arguments":{}}}`)
	if resp.StatusCode != 200 || !strings.Contains(body, "Tool with logging executed successfully") {
		t.Errorf("a tool call answered over ~100 ms: %d %s", resp.StatusCode, body)
	}
}

// The same on the HTTP+SSE transport's endpoint.
func TestShortBodyTimesOutSSE(t *testing.T) {
	addr := serveOn(t, Config{NoAuth: true, BodyTimeout: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/sse", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	endpoint := ""
	for endpoint == "" && sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			endpoint = d
		}
	}
	if !strings.HasPrefix(endpoint, "/sse?sessionid=") {
		t.Fatalf("no endpoint event: %q", endpoint)
	}
	status, body := rawPost(t, addr, endpoint)
	if status != http.StatusRequestTimeout || !strings.Contains(body, "(Content-Length 100, 10 bytes received)") {
		t.Errorf("HTTP %d %s, want 408", status, body)
	}
}
