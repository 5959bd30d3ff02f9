package e2e

// Stopping with event streams open (issue 18): SIGINT ends the process at once, after the requests in flight that
// are not streams got their answers, and the streams it cut are in the capture file.

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// stopWithin bounds the time from SIGINT to exit with streams open (it was 2 s and more: the server's grace, then
// the wait for the exchanges it cut). A plain request in flight takes shutdownSlow of it.
const (
	stopWithin   = 1500 * time.Millisecond
	shutdownSlow = 300 * time.Millisecond
)

// startQuickExit starts mcpwatch ARGS (see Start) with the race runtime's sleep at exit off (GORACE atexit_sleep_ms,
// 1 s by default in a -race build): the time to exit is the program's own.
func startQuickExit(t *testing.T, args ...string) *Proc {
	t.Helper()
	cmd := Command(WithAddr(args)...)
	cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return StartCmd(t, cmd)
}

// openStream sends req and reads the answer up to its first event (or, with no event expected, its headers); the
// body stays open, closed at cleanup.
func openStream(t *testing.T, req *http.Request, firstEvent bool) {
	t.Helper()
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("%s %s: %d %s %s", req.Method, req.URL, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	if !firstEvent {
		return
	}
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s %s: no event: %v", req.Method, req.URL, err)
		}
		if strings.HasPrefix(line, "data:") {
			return
		}
	}
}

// stopTimed stops p (SIGINT; exit code 0) and returns how long it took.
func stopTimed(t *testing.T, p *Proc) time.Duration {
	t.Helper()
	t0 := time.Now()
	p.Stop()
	return time.Since(t0)
}

// cutExchange finds the inbound exchange of method whose URL starts with path in the capture, and checks that it
// was recorded as cut by the stop.
func cutExchange(t *testing.T, exs []*recorder.Exchange, method, id string) {
	t.Helper()
	for _, ex := range exs {
		if ex.Kind != recorder.Inbound || ex.Method != method || (id != "" && !strings.Contains(string(ex.ReqBody.Data), id)) {
			continue
		}
		if ex.State != recorder.StateComplete || ex.Status != 200 || !strings.Contains(ex.Error, "stopped") {
			t.Errorf("%s %s: state %s, status %d, error %q; want complete 200, cut when mcpwatch stopped", method, id, ex.State, ex.Status, ex.Error)
		}
		return
	}
	t.Errorf("the capture has no %s %s exchange (%d exchanges)", method, id, len(exs))
}

// TestStopWithOpenStreamsProxy: proxy in front of an upstream holding a GET stream and an answered POST stream
// open, with a POST in flight whose event stream has not answered yet, stops within stopWithin of SIGINT; the slow
// POST gets its answer, the streams are in the capture file (the client's exchanges and the upstream's).
func TestStopWithOpenStreamsProxy(t *testing.T) {
	done := make(chan struct{})
	var once sync.Once
	finish := func() { once.Do(func() { close(done) }) }
	slowIn := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		if r.Method == http.MethodPost && strings.Contains(string(body), `"slow"`) {
			// an event stream whose answer comes late (as the go-sdk answers a legacy call): it ends on its own,
			// and a stopping proxy waits for it
			slowIn <- struct{}{}
			time.Sleep(shutdownSlow)
			fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"slow\",\"result\":{}}\n\n")
			return
		}
		if r.Method == http.MethodPost { // answered, then held open: it would not end on its own
			fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"stream\",\"result\":{}}\n\n")
		} else {
			fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"open\"}}\n\n")
		}
		w.(http.Flusher).Flush()
		select { // held open until the proxy goes (or the test ends)
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer up.Close()
	defer finish()

	capture := filepath.Join(t.TempDir(), "capture.jsonl")
	p := startQuickExit(t, "proxy", "--upstream", up.URL+"/mcp", "--no-tui", "--capture", capture)
	openStream(t, mustRequest(t, "GET", p.URL+"/mcp", ""), true)
	openStream(t, mustRequest(t, "POST", p.URL+"/mcp", `{"jsonrpc":"2.0","id":"stream","method":"tools/call","params":{"name":"long"}}`), true)

	type answer struct {
		status int
		body   string
		err    error
	}
	slow := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("POST", p.URL+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"slow"}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			slow <- answer{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- answer{resp.StatusCode, string(b), err}
	}()
	select {
	case <-slowIn:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow request did not reach the upstream")
	}

	took := stopTimed(t, p)
	t.Logf("proxy stopped %v after SIGINT (a request of %v in flight, its event stream not answered yet; two streams open)", took, shutdownSlow)
	if took > stopWithin {
		t.Errorf("proxy took %v to stop with streams open, want < %v", took, stopWithin)
	}
	if a := <-slow; a.err != nil || a.status != 200 || !strings.Contains(a.body, `"slow"`) {
		t.Errorf("the plain request in flight at SIGINT: %d %q %v; want its answer", a.status, a.body, a.err)
	}
	res, err := recorder.LoadCapture(capture)
	if err != nil || res.TornTail {
		t.Fatalf("capture: %v (torn %v)", err, res != nil && res.TornTail)
	}
	cutExchange(t, res.Exchanges, "GET", "")
	cutExchange(t, res.Exchanges, "POST", `"stream"`)
	var outbound, events int
	for _, ex := range res.Exchanges {
		if ex.Kind == recorder.Outbound {
			outbound++
			if ex.State != recorder.StateComplete {
				t.Errorf("upstream exchange %s %s: state %s", ex.Method, ex.URL, ex.State)
			}
		}
		if ex.Kind == recorder.Inbound && ex.Status == 200 && len(ex.Events) > 0 {
			events++
		}
	}
	if outbound != 3 || events != 3 {
		t.Errorf("capture: %d upstream exchanges (want 3), %d client streams with their event (want 3)", outbound, events)
	}
}

// TestStopWithOpenStreamsServe: serve with a session's standalone GET stream open stops within stopWithin of
// SIGINT, and the stream is in the capture file.
func TestStopWithOpenStreamsServe(t *testing.T) {
	capture := filepath.Join(t.TempDir(), "capture.jsonl")
	p := startQuickExit(t, "serve", "--no-auth", "--no-tui", "--capture", capture)
	hdr := hostileSession(t, hostileClient(10*time.Second), p.URL+"/mcp")
	req := mustRequest(t, "GET", p.URL+"/mcp", "")
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	openStream(t, req, false)
	took := stopTimed(t, p)
	t.Logf("serve stopped %v after SIGINT (a GET stream open)", took)
	if took > stopWithin {
		t.Errorf("serve took %v to stop with a stream open, want < %v", took, stopWithin)
	}
	res, err := recorder.LoadCapture(capture)
	if err != nil || res.TornTail {
		t.Fatalf("capture: %v (torn %v)", err, res != nil && res.TornTail)
	}
	cutExchange(t, res.Exchanges, "GET", "")
}

func mustRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}
