package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
)

func serve(t *testing.T, cfg server.Config) (*httptest.Server, *recorder.Store) {
	t.Helper()
	store := recorder.NewStore(recorder.StoreOptions{})
	cfg.Recorder = recorder.New(store, recorder.Options{})
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close() })
	return ts, store
}

func run(t *testing.T, cfg loadgen.Config) *loadgen.Result {
	t.Helper()
	if cfg.Duration == 0 {
		cfg.Duration = 300 * time.Millisecond
	}
	if cfg.Clients == 0 {
		cfg.Clients = 4
	}
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func clean(t *testing.T, res *loadgen.Result) {
	t.Helper()
	if res.Errors > 0 || res.Ops == 0 || res.ServerErrors() > 0 || res.Sent != res.Answered {
		t.Fatalf("want a clean run:\n%s", res)
	}
}

// The load generator passes against mcpwatch's own server in every mode and era, and every request it made is
// an exchange in the store.
func TestAgainstServe(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  loadgen.Config
		srv  server.Config
	}{
		{"call legacy", loadgen.Config{}, server.Config{NoAuth: true}},
		{"call 2026", loadgen.Config{Era: loadgen.Era2026}, server.Config{NoAuth: true}},
		{"call legacy with auth", loadgen.Config{Auth: true}, server.Config{AutoApprove: true}},
		{"call 2026 with auth", loadgen.Config{Auth: true, Era: loadgen.Era2026}, server.Config{AutoApprove: true}},
		{"handshake legacy", loadgen.Config{Mode: loadgen.ModeHandshake, Refresh: true}, server.Config{AutoApprove: true}},
		{"handshake 2026", loadgen.Config{Mode: loadgen.ModeHandshake, Era: loadgen.Era2026}, server.Config{AutoApprove: true}},
		{"handshake through the consent page", loadgen.Config{Mode: loadgen.ModeHandshake}, server.Config{}},
		{"handshake, confidential clients", loadgen.Config{Mode: loadgen.ModeHandshake, Refresh: true, ConfidentialClients: true}, server.Config{AutoApprove: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, store := serve(t, tc.srv)
			tc.cfg.URL = ts.URL + "/mcp"
			if tc.cfg.Mode == loadgen.ModeHandshake {
				// A handshake is a dozen requests; only those that end inside the window count, so the window leaves
				// room for a race-built server on a busy machine (300 ms held none in CI while other builds ran).
				tc.cfg.Duration = 2 * time.Second
				// Each handshake registers a client, and serve holds 1,000 clients that registered less than a
				// minute ago (then refuses with 503 rather than forget one): a fast server finished 1,000 inside
				// the window. 500 handshakes stay well inside the bound, whatever the machine.
				tc.cfg.MaxOps = 500
			}
			res := run(t, tc.cfg)
			clean(t, res)
			if st := store.Stats(); st.Total != res.Answered {
				t.Errorf("the store holds %d exchanges, the load generator got %d answers", st.Total, res.Answered)
			}
			if res.Completed < res.Ops || res.Latency.P50 <= 0 || res.Latency.P99 < res.Latency.P50 || res.Throughput <= 0 {
				t.Errorf("implausible numbers:\n%s", res)
			}
		})
	}
}

// Observe sees every secret a handshake obtains or sends.
func TestObserveSecrets(t *testing.T) {
	ts, _ := serve(t, server.Config{AutoApprove: true})
	var mu sync.Mutex
	kinds := map[string]int{}
	res := run(t, loadgen.Config{URL: ts.URL + "/mcp", Mode: loadgen.ModeHandshake, Refresh: true, ConfidentialClients: true, Clients: 1,
		Observe: func(s loadgen.Secret) {
			mu.Lock()
			kinds[s.Kind]++
			mu.Unlock()
		}})
	clean(t, res)
	for _, k := range []string{"access_token", "refresh_token", "code", "code_verifier", "client_secret"} {
		if kinds[k] == 0 {
			t.Errorf("no %s observed (%v)", k, kinds)
		}
	}
}

// broken is an MCP endpoint that answers a tools/call wrongly in the way named by mode.
func broken(mode string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Arguments struct {
					Text string `json:"text"`
				} `json:"arguments"`
			} `json:"params"`
		}
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &req)
		if len(req.ID) == 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if req.Method == "initialize" {
			if mode != "no-session" {
				w.Header().Set("Mcp-Session-Id", "s1")
			}
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"x"}}}`, req.ID)
			return
		}
		text, _ := json.Marshal(req.Params.Arguments.Text)
		switch mode {
		case "500":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "wrong-id":
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":999,"result":{"content":[{"type":"text","text":%s}]}}`, text)
		case "wrong-text":
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"something else"}]}}`, req.ID)
		case "rpc-error":
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32603,"message":"internal"}}`, req.ID)
		case "is-error":
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"isError":true,"content":[{"type":"text","text":%s}]}}`, req.ID, text)
		case "no-jsonrpc":
			fmt.Fprintf(w, `{"id":%s,"result":{"content":[{"type":"text","text":%s}]}}`, req.ID, text)
		case "not-json":
			io.WriteString(w, "<html>oops</html>")
		case "sse-ok":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "event: prime\nid: 0\ndata:\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n"+
				"data: {\"jsonrpc\":\"2.0\",\"id\":%s,\r\ndata: \"result\":{\"content\":[{\"type\":\"text\",\"text\":%s}]}}\r\n\r\n", req.ID, text)
		default:
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":%s}]}}`, req.ID, text)
		}
	})
}

// Every kind of wrong answer is caught and counted, by step and reason.
func TestChecksCatchWrongAnswers(t *testing.T) {
	for mode, want := range map[string]string{
		"500":        "tools/call: HTTP 500: want 200",
		"wrong-id":   "tools/call: HTTP 200: id 999, want ",
		"wrong-text": "tools/call: HTTP 200: the tool answered \"something else\"",
		"rpc-error":  "tools/call: HTTP 200: JSON-RPC error -32603: internal",
		"is-error":   "tools/call: HTTP 200: the tool answered isError",
		"no-jsonrpc": `tools/call: HTTP 200: "jsonrpc" is "", want "2.0"`,
		"not-json":   "tools/call: HTTP 200: not a JSON-RPC message",
		"no-session": "initialize: HTTP 200: no Mcp-Session-Id header",
	} {
		t.Run(mode, func(t *testing.T) {
			ts := httptest.NewServer(broken(mode))
			defer ts.Close()
			res := run(t, loadgen.Config{URL: ts.URL + "/mcp", Clients: 2, Duration: 100 * time.Millisecond})
			if res.Errors == 0 || res.Ops != 0 {
				t.Fatalf("no error found:\n%s", res)
			}
			found := false
			for k := range res.ErrorKinds {
				found = found || strings.HasPrefix(k, want)
			}
			if !found {
				t.Errorf("want an error kind starting %q:\n%s", want, res)
			}
			if mode == "500" && res.ServerErrors() == 0 {
				t.Errorf("5xx not counted: %v", res.Status)
			}
		})
	}
	t.Run("sse-ok", func(t *testing.T) { // an SSE answer after a priming event and a notification, CRLF lines
		ts := httptest.NewServer(broken("sse-ok"))
		defer ts.Close()
		clean(t, run(t, loadgen.Config{URL: ts.URL + "/mcp", Clients: 2, Duration: 100 * time.Millisecond}))
	})
}

// A handshake against a server without OAuth fails at the challenge.
func TestHandshakeNeedsAProtectedServer(t *testing.T) {
	ts, _ := serve(t, server.Config{NoAuth: true})
	res := run(t, loadgen.Config{URL: ts.URL + "/mcp", Mode: loadgen.ModeHandshake, Clients: 1, Duration: 100 * time.Millisecond})
	if res.Errors == 0 || !strings.Contains(fmt.Sprint(res.ErrorKinds), "challenge: HTTP 200: want 401") {
		t.Fatalf("want challenge errors:\n%s", res)
	}
}

func TestValidate(t *testing.T) {
	for _, cfg := range []loadgen.Config{{}, {URL: "http://x", Mode: "bogus"}, {URL: "http://x", Era: "1999"},
		{URL: "http://x", Mode: loadgen.ModeSetup, Era: loadgen.Era2026}, {URL: "http://x", Mode: loadgen.ModeSetup, Auth: true},
		{URL: "http://x", Rate: -1}, {URL: "http://x", Mode: loadgen.ModeHandshake, Rate: 10}, {URL: "http://x", Rate: 10, MaxOps: 5},
		{URL: "http://x", Rate: 1e9}} {
		if _, err := loadgen.Run(context.Background(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestFirstEvent(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, ": comment\n\ndata: one\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer ts.Close()
	lat, err := loadgen.FirstEvent(context.Background(), ts.URL, nil, 3, false)
	if err != nil || lat.N != 3 || lat.P50 <= 0 {
		t.Fatalf("%+v %v", lat, err)
	}
	notSSE := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	defer notSSE.Close()
	if _, err := loadgen.FirstEvent(context.Background(), notSSE.URL, nil, 1, false); err == nil {
		t.Error("a plain answer passed as a stream")
	}
}

// FirstEvents measures its targets in turns, two streams each (the first not measured), not one target's streams
// after another's.
func TestFirstEventsInterleaves(t *testing.T) {
	var mu sync.Mutex
	var order []string
	srv := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: one\n\n")
		}))
	}
	a, b := srv("a"), srv("b")
	defer a.Close()
	defer b.Close()
	for _, warm := range []bool{true, false} {
		order = nil
		lats, err := loadgen.FirstEvents(context.Background(), []string{a.URL, b.URL}, nil, 3, warm, 1)
		if err != nil || len(lats) != 2 || lats[0].N != 3 || lats[1].N != 3 || lats[0].P50 <= 0 {
			t.Fatalf("warm %v: %+v %v", warm, lats, err)
		}
		want := "b b a a a a b b b b a a" // two in a row each (the first not measured), rotated by 1, then by turn
		if got := strings.Join(order, " "); got != want {
			t.Errorf("warm %v: streams went to %s, want %s", warm, got, want)
		}
	}
}

// CallsPerSession ends sessions and opens new ones as it goes.
func TestCallsPerSession(t *testing.T) {
	ts, store := serve(t, server.Config{NoAuth: true})
	res := run(t, loadgen.Config{URL: ts.URL + "/mcp", Clients: 2, CallsPerSession: 5})
	clean(t, res)
	deletes := 0
	for _, ex := range store.Snapshot() {
		if ex.Method == http.MethodDelete {
			deletes++
		}
	}
	if want := int(res.Completed) / 5; deletes < want {
		t.Errorf("%d sessions ended for %d calls, want at least %d", deletes, res.Completed, want)
	}
}

// A run by count does exactly that many operations, each checked, and stops by itself.
func TestMaxOps(t *testing.T) {
	ts, store := serve(t, server.Config{NoAuth: true})
	res := run(t, loadgen.Config{URL: ts.URL + "/mcp", MaxOps: 57, Duration: time.Minute})
	clean(t, res)
	if res.Completed != 57 || res.Ops != 57 {
		t.Errorf("completed %d, ops %d, want 57", res.Completed, res.Ops)
	}
	if st := store.Stats(); st.Total != res.Answered {
		t.Errorf("the store holds %d exchanges, the load generator got %d answers", st.Total, res.Answered)
	}
}

// Setup mode sets up whole sessions and ends each: three exchanges per operation, one DELETE each.
func TestSetupMode(t *testing.T) {
	ts, store := serve(t, server.Config{NoAuth: true})
	res := run(t, loadgen.Config{URL: ts.URL + "/mcp", Mode: loadgen.ModeSetup, Clients: 2})
	clean(t, res)
	if res.Sent != 3*res.Completed {
		t.Errorf("%d requests for %d setups, want 3 each", res.Sent, res.Completed)
	}
	methods := map[string]int{}
	for _, ex := range store.Snapshot() {
		methods[ex.Method]++
	}
	if uint64(methods[http.MethodDelete]) != res.Completed || uint64(methods[http.MethodPost]) != 2*res.Completed {
		t.Errorf("the store holds %v for %d setups", methods, res.Completed)
	}
	if !strings.Contains(res.String(), " sessions, ") {
		t.Errorf("the summary does not count sessions:\n%s", res)
	}
}

// A server that will not end a session fails a setup (Close accepts its 405 after a call loop; a setup does not).
func TestSetupNeedsTheSessionEnded(t *testing.T) {
	h := broken("")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	res := run(t, loadgen.Config{URL: ts.URL + "/mcp", Mode: loadgen.ModeSetup, Clients: 1, Duration: 100 * time.Millisecond})
	if res.Ops != 0 || !strings.Contains(fmt.Sprint(res.ErrorKinds), "DELETE: HTTP 405") {
		t.Fatalf("want DELETE errors:\n%s", res)
	}
}

// countCalls wraps an MCP handler, counting the tools/calls it answers and holding the answer to the calls that
// stall picks (by their order, from 1) for as long as it says.
func countCalls(h http.Handler, stall func(n int64) time.Duration) (http.Handler, *atomic.Int64) {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"tools/call"`)) {
			if d := stall(n.Add(1)); d > 0 {
				time.Sleep(d)
			}
		}
		h.ServeHTTP(w, r)
	}), &n
}

// A paced run sends exactly what its schedule holds, not as many as the server can take, and counts the calls of
// its window.
func TestPacedRate(t *testing.T) {
	h, calls := countCalls(broken(""), func(int64) time.Duration { return 0 })
	ts := httptest.NewServer(h)
	defer ts.Close()
	res := run(t, loadgen.Config{URL: ts.URL + "/mcp", Rate: 200, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond, Clients: 4})
	p := res.Paced
	if p == nil || res.Errors > 0 {
		t.Fatalf("want a clean paced run:\n%s", res)
	}
	// 200 calls/s: 20 in the warm-up, 100 in the window, at 5 ms from each other.
	if got := calls.Load(); got != 120 {
		t.Errorf("the server answered %d calls, want 120 (a closed loop would send as many as it answers)", got)
	}
	if p.Scheduled != 100 || p.Sent != 100 || res.Ops != 100 || res.Latency.N != 100 {
		t.Errorf("scheduled %d, sent %d, ops %d, latencies %d; want 100 each:\n%s", p.Scheduled, p.Sent, res.Ops, res.Latency.N, res)
	}
	if res.Throughput < 190 || res.Throughput > 210 {
		t.Errorf("throughput %.1f/s, want 200:\n%s", res.Throughput, res)
	}
}

// A paced run's latency runs from each call's scheduled time: while one answer stalls the only client, the calls
// scheduled behind it wait, and each counts its wait (a closed loop, timing from the send, would count one slow call
// where there were twenty). The run says it did not keep its rate, and why.
func TestPacedCountsTheWaitBehindASlowAnswer(t *testing.T) {
	h, _ := countCalls(broken(""), func(n int64) time.Duration {
		if n == 30 {
			return 200 * time.Millisecond
		}
		return 0
	})
	ts := httptest.NewServer(h)
	defer ts.Close()
	res := run(t, loadgen.Config{URL: ts.URL + "/mcp", Rate: 100, Duration: time.Second, Clients: 1})
	p := res.Paced
	if p == nil || res.Errors > 0 || res.Ops != 100 {
		t.Fatalf("want 100 clean calls:\n%s", res)
	}
	// The calls scheduled 10, 20, ... 190 ms after the stalled one waited 190 ... 10 ms for it: 15 over 50 ms.
	if res.Latency.P90 < 50*time.Millisecond || res.Latency.P50 > 20*time.Millisecond {
		t.Errorf("latency p50 %s, p90 %s: want p90 ≥ 50 ms (the wait behind the stall), p50 < 20 ms:\n%s", res.Latency.P50, res.Latency.P90, res)
	}
	if p.Late < 15 || !strings.Contains(p.NotKept, "waiting for one of the 1 clients") {
		t.Errorf("late %d, want ≥ 15 and the rate reported not kept:\n%s", p.Late, res)
	}
}

// A server far slower than the rate: the calls still queued when the window and the timeout have passed are
// never sent, and the run says so.
func TestPacedReportsCallsNeverSent(t *testing.T) {
	h, _ := countCalls(broken(""), func(int64) time.Duration { return 50 * time.Millisecond })
	ts := httptest.NewServer(h)
	defer ts.Close()
	res := run(t, loadgen.Config{URL: ts.URL + "/mcp", Rate: 100, Duration: 500 * time.Millisecond, Clients: 1, Timeout: 500 * time.Millisecond})
	p := res.Paced
	if p == nil || p.Scheduled != 50 || p.Sent >= 50 || p.Missed != p.Scheduled-p.Sent || !strings.Contains(p.NotKept, "were never sent") || !strings.Contains(res.String(), "RATE NOT KEPT") {
		t.Fatalf("want calls never sent, reported:\n%s", res)
	}
}

// RunPaced interleaves its endpoints on one schedule: each gets its share of the rate, in the same window, and a
// slow answer from one holds back only that one's calls (each endpoint has its own clients).
func TestRunPacedInterleaves(t *testing.T) {
	slowH, slowCalls := countCalls(broken(""), func(n int64) time.Duration {
		if n == 30 {
			return 200 * time.Millisecond
		}
		return 0
	})
	fastH, fastCalls := countCalls(broken(""), func(int64) time.Duration { return 0 })
	slow, fast := httptest.NewServer(slowH), httptest.NewServer(fastH)
	defer slow.Close()
	defer fast.Close()
	rs, err := loadgen.RunPaced(context.Background(), loadgen.Config{Rate: 200, Duration: time.Second, Clients: 1}, []string{slow.URL + "/mcp", fast.URL + "/mcp"})
	if err != nil || len(rs) != 2 {
		t.Fatalf("%v, %d results", err, len(rs))
	}
	for i, res := range rs {
		if p := res.Paced; p == nil || res.Errors > 0 || res.Ops != 100 || p.Scheduled != 100 || p.Rate != 100 {
			t.Errorf("endpoint %d: want 100 clean calls at 100/s:\n%s", i, res)
		}
	}
	if s, f := slowCalls.Load(), fastCalls.Load(); s != 100 || f != 100 {
		t.Errorf("the endpoints answered %d and %d calls, want 100 each", s, f)
	}
	if rs[0].Latency.P90 < 50*time.Millisecond || rs[1].Latency.P90 > 20*time.Millisecond {
		t.Errorf("p90 %s behind the stall, %s beside it: want ≥ 50 ms and < 20 ms", rs[0].Latency.P90, rs[1].Latency.P90)
	}
	if _, err := loadgen.RunPaced(context.Background(), loadgen.Config{Duration: time.Second}, []string{fast.URL}); err == nil {
		t.Error("RunPaced without a rate ran")
	}
}
