package e2e

// The hostile rig: attacks replayed against the real binary, in serve mode and in proxy mode (in front of serve),
// loopback only, bounded in count and time, with a legitimate client running beside each attack whose every
// exchange must be in the capture afterwards. The helpers are named hostile* and meant for reuse (the OAuth
// attacks live in hostile_oauth_test.go):
//
//   - startHostileServe(With) / startHostileProxy(With) / hostileModes: the process under attack (hostileTarget),
//     with its pid (for its CPU time) and its capture file; hostileModes runs a subtest against each mode.
//   - hostileCPUTicks: the process's CPU time (utime+stime from /proc/<pid>/stat, in clock ticks): compare ratios,
//     never absolute times.
//   - hostileSession, hostilePost, hostilePingBatch: a 2025-03-26 session (the era that takes batches) and raw POSTs.
//   - startLegitClient / (*legitClient).wait / checkLegitCaptured: the legitimate client and the check that the
//     capture holds each of its exchanges as it saw it.
//   - (*hostileTarget).stopAndLoad: stop the process, then load its capture file and its rotations, oldest first.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// hostileTarget is a running mcpwatch under attack: serve, or proxy in front of serve. Pid and Capture are those of
// the process that records what the attacker sends (the proxy in proxy mode).
type hostileTarget struct {
	Mode    string // "serve" or "proxy"
	Base    string // http://127.0.0.1:PORT
	MCP     string // Base + "/mcp"
	Pid     int
	Capture string // the capture file (its rotations beside it: capture.1.jsonl, ...)
	proc    *Proc
}

// startHostileServe runs `mcpwatch serve --no-auth --no-tui --capture DIR/capture.jsonl EXTRA...`.
func startHostileServe(t *testing.T, extra ...string) *hostileTarget {
	t.Helper()
	return startHostileServeWith(t, append([]string{"--no-auth"}, extra...)...)
}

// startHostileServeWith runs `mcpwatch serve --no-tui --capture DIR/capture.jsonl SERVEARGS...`: pass the serve
// flags you need (none: OAuth on, the consent page shown; "--ephemeral", "--auto-approve", ...).
func startHostileServeWith(t *testing.T, serveArgs ...string) *hostileTarget {
	t.Helper()
	capture := filepath.Join(t.TempDir(), "capture.jsonl")
	p := Start(t, append([]string{"serve", "--no-tui", "--capture", capture}, serveArgs...)...)
	return &hostileTarget{Mode: "serve", Base: p.URL, MCP: p.URL + "/mcp", Pid: p.cmd.Process.Pid, Capture: capture, proc: p}
}

// startHostileProxy runs `mcpwatch proxy --upstream SERVE/mcp --no-tui --capture DIR/capture.jsonl EXTRA...` in
// front of `mcpwatch serve --no-auth --no-capture`.
func startHostileProxy(t *testing.T, extra ...string) *hostileTarget {
	t.Helper()
	return startHostileProxyWith(t, []string{"--no-auth"}, extra...)
}

// startHostileProxyWith runs `mcpwatch proxy --upstream SERVE/mcp --no-tui --capture DIR/capture.jsonl
// PROXYARGS...` in front of `mcpwatch serve --no-tui --no-capture UPSTREAMARGS...` (e.g. "--ephemeral",
// "--auto-approve" for OAuth through the proxy). Pid and Capture are the proxy's.
func startHostileProxyWith(t *testing.T, upstreamArgs []string, proxyArgs ...string) *hostileTarget {
	t.Helper()
	up := Start(t, append([]string{"serve", "--no-tui", "--no-capture"}, upstreamArgs...)...)
	capture := filepath.Join(t.TempDir(), "capture.jsonl")
	p := Start(t, append([]string{"proxy", "--upstream", up.URL + "/mcp", "--no-tui", "--capture", capture}, proxyArgs...)...)
	return &hostileTarget{Mode: "proxy", Base: p.URL, MCP: p.URL + "/mcp", Pid: p.cmd.Process.Pid, Capture: capture, proc: p}
}

// hostileModes runs f as a subtest against serve and against proxy, each started with extra flags.
func hostileModes(t *testing.T, extra []string, f func(t *testing.T, h *hostileTarget)) {
	for _, mode := range []string{"serve", "proxy"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "serve" {
				f(t, startHostileServe(t, extra...))
			} else {
				f(t, startHostileProxy(t, extra...))
			}
		})
	}
}

// stopAndLoad stops the process (SIGINT; it must exit 0) and loads its capture: the rotated files oldest first,
// then the current one. It returns the exchanges, the files and the process's stderr.
func (h *hostileTarget) stopAndLoad(t *testing.T) (exs []*recorder.Exchange, files []string, stderr string) {
	t.Helper()
	h.proc.Stop()
	ext := filepath.Ext(h.Capture)
	stem := strings.TrimSuffix(h.Capture, ext)
	for i := 64; i >= 1; i-- {
		if f := fmt.Sprintf("%s.%d%s", stem, i, ext); fileExists(f) {
			files = append(files, f)
		}
	}
	files = append(files, h.Capture)
	for _, f := range files {
		res, err := recorder.LoadCapture(f)
		if err != nil || res.TornTail || len(res.Skipped) > 0 {
			t.Fatalf("capture %s: %v (torn %v, skipped %v)", f, err, res != nil && res.TornTail, res != nil && len(res.Skipped) > 0)
		}
		exs = append(exs, res.Exchanges...)
	}
	return exs, files, h.proc.Stderr()
}

func fileExists(path string) bool { _, err := os.Stat(path); return err == nil }

// hostileCPUTicks is the CPU time pid has used so far (user + system, in clock ticks), from /proc/<pid>/stat.
func hostileCPUTicks(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	utime, err1 := strconv.ParseInt(fields[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(fields[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return utime + stime
}

// hostileClient is an HTTP client for attacks: its own connections, every request bounded in time.
func hostileClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true}}
}

// hostilePost POSTs body to url with the MCP headers and hdr, and returns the status and the whole answer.
func hostilePost(c *http.Client, url string, hdr http.Header, body []byte) (int, []byte, http.Header, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// hostileSession opens a 2025-03-26 session (initialize, then notifications/initialized) and returns the headers
// its requests carry.
func hostileSession(t *testing.T, c *http.Client, mcpURL string) http.Header {
	t.Helper()
	status, body, h, err := hostilePost(c, mcpURL, nil, []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"hostile","version":"1"}}}`))
	if err != nil || status != 200 || h.Get("Mcp-Session-Id") == "" {
		t.Fatalf("initialize: %d %v %s", status, err, body)
	}
	hdr := http.Header{"Mcp-Session-Id": {h.Get("Mcp-Session-Id")}, "Mcp-Protocol-Version": {"2025-03-26"}}
	if status, body, _, err := hostilePost(c, mcpURL, hdr, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil || status != 202 {
		t.Fatalf("initialized: %d %v %s", status, err, body)
	}
	return hdr
}

// hostilePingBatch is a JSON-RPC batch of n pings with ids first, first+1, ...
func hostilePingBatch(first, n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"jsonrpc":"2.0","id":%d,"method":"ping"}`, first+i)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// legitClient is a well-behaved MCP client running beside an attack: rounds of initialize, initialized,
// tools/list and tools/call echo, each request tagged with an X-Legit-Seq header, until stopped.
type legitClient struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	sent   []legitExchange
	errs   []string
}

// legitExchange is one request of the legitimate client as it saw it.
type legitExchange struct {
	Seq    string
	Body   []byte
	Status int
}

// startLegitClient starts the client against mcpURL; it runs a round every pause until wait is called (at least
// one round, at most maxRounds; 0: no limit).
func startLegitClient(mcpURL string, pause time.Duration, maxRounds int) *legitClient {
	ctx, cancel := context.WithCancel(context.Background())
	l := &legitClient{cancel: cancel, done: make(chan struct{})}
	c := hostileClient(30 * time.Second)
	go func() {
		defer close(l.done)
		seq := 0
		for round := 0; (round == 0 || ctx.Err() == nil) && (maxRounds == 0 || round < maxRounds); round++ {
			post := func(hdr http.Header, body string, want int) http.Header {
				seq++
				h := http.Header{"X-Legit-Seq": {strconv.Itoa(seq)}}
				for k, v := range hdr {
					h[k] = v
				}
				status, answer, rh, err := hostilePost(c, mcpURL, h, []byte(body))
				l.mu.Lock()
				defer l.mu.Unlock()
				if err != nil || status != want {
					l.errs = append(l.errs, fmt.Sprintf("seq %d: HTTP %d %v %.200s", seq, status, err, answer))
				}
				if err == nil {
					l.sent = append(l.sent, legitExchange{Seq: strconv.Itoa(seq), Body: []byte(body), Status: status})
				}
				return rh
			}
			rh := post(nil, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"legit","version":"1"}}}`, 200)
			hdr := http.Header{"Mcp-Session-Id": {rh.Get("Mcp-Session-Id")}, "Mcp-Protocol-Version": {"2025-11-25"}}
			post(hdr, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 202)
			post(hdr, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, 200)
			post(hdr, fmt.Sprintf(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"legit round %d"}}}`, round), 200)
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}()
	return l
}

// wait stops the client after its current round and returns what it sent; a request that failed fails the test.
func (l *legitClient) wait(t *testing.T) []legitExchange {
	t.Helper()
	l.cancel()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) > 0 {
		t.Errorf("the legitimate client failed beside the attack:\n%s", strings.Join(l.errs, "\n"))
	}
	return l.sent
}

// checkLegitCaptured checks that every request of the legitimate client is in the capture, complete, with the body
// it sent and the status it got.
func checkLegitCaptured(t *testing.T, exs []*recorder.Exchange, sent []legitExchange) {
	t.Helper()
	bySeq := map[string]*recorder.Exchange{}
	for _, ex := range exs {
		if s := ex.ReqHeaders.Get("X-Legit-Seq"); s != "" && ex.Kind == recorder.Inbound {
			bySeq[s] = ex
		}
	}
	if len(sent) == 0 {
		t.Fatal("the legitimate client sent nothing")
	}
	for _, s := range sent {
		ex := bySeq[s.Seq]
		switch {
		case ex == nil:
			t.Errorf("the legitimate client's request %s (%.60s) is not in the capture", s.Seq, s.Body)
		case ex.State != recorder.StateComplete || ex.Status != s.Status || !bytes.Equal(ex.ReqBody.Data, s.Body):
			t.Errorf("request %s captured as %s, HTTP %d, body %.60q; the client sent %.60q and got %d", s.Seq, ex.State, ex.Status, ex.ReqBody.Data, s.Body, s.Status)
		}
	}
}

// The batch attack (issue 13, 1): JSON-RPC batches of 400, 2,000 and 10,000 pings, 10,000 pings at each size,
// while a legitimate client works beside it. The recording process's CPU time per message must not grow with the
// batch size (it grew about 100-fold from 400 to 10,000 when replies were paired by comparing every message with
// every other), and the legitimate client's exchanges are all in the capture.
func TestHostileBatchCostPerMessage(t *testing.T) {
	hostileModes(t, nil, func(t *testing.T, h *hostileTarget) {
		c := hostileClient(90 * time.Second)
		hdr := hostileSession(t, c, h.MCP)
		attack := func(size, total int) (ticks int64) {
			t.Helper()
			before := hostileCPUTicks(t, h.Pid)
			for first := 0; first < total; first += size {
				status, body, _, err := hostilePost(c, h.MCP, hdr, hostilePingBatch(first, size))
				if err != nil || status != 200 || bytes.Count(body, []byte(`"result":{}`)) != size {
					t.Fatalf("batch of %d: HTTP %d %v, %d answers", size, status, err, bytes.Count(body, []byte(`"result":{}`)))
				}
			}
			return hostileCPUTicks(t, h.Pid) - before
		}
		attack(400, 2000) // warm up
		legit := startLegitClient(h.MCP, 50*time.Millisecond, 0)
		const total = 10000
		ticks := map[int]int64{}
		for _, size := range []int{400, 2000, 10000} {
			ticks[size] = attack(size, total)
		}
		sent := legit.wait(t)
		t.Logf("%s: CPU ticks for %d pings in batches of 400: %d, of 2,000: %d, of 10,000: %d", h.Mode, total, ticks[400], ticks[2000], ticks[10000])
		// Generous: the same messages in larger batches may cost up to 3 times as much (measurement noise on a shared
		// machine, the legitimate client's share); quadratic pairing cost 25 times as much from 400 to 10,000.
		base := max(ticks[400], 5)
		for _, size := range []int{2000, 10000} {
			if ticks[size] > 3*base {
				t.Errorf("%s: %d pings in batches of %d took %d ticks of CPU, in batches of 400 %d: the cost per message grows with the batch", h.Mode, total, size, ticks[size], ticks[400])
			}
		}
		exs, _, _ := h.stopAndLoad(t)
		checkLegitCaptured(t, exs, sent)
		var batches int
		for _, ex := range exs {
			if n := len(ex.RPC); ex.Kind == recorder.Inbound && n == 2*10000 {
				batches++
				if ex.RPCSkipped != 0 || ex.RPC[n-1].ReplyTo != "ping" {
					t.Errorf("the 10,000 batch: %d skipped, last answer paired with %q", ex.RPCSkipped, ex.RPC[n-1].ReplyTo)
				}
			}
		}
		if batches != 1 {
			t.Errorf("%d batches of 10,000 recorded with their answers, want 1", batches)
		}
	})
}

// droppedRE reads the warning mcpwatch prints at exit when the capture lost exchanges to its bound.
var droppedRE = regexp.MustCompile(`warning: (\d+) exchanges were dropped from the capture \((\d+) deleted with the oldest rotated file, (\d+) larger than --capture-max-size\)`)

// The capture-file flood (issue 13, 7): 64 requests of 96 KiB (6 MiB of capture) against --capture-max-size 1
// (MiB) and --capture-keep 3. The capture stays within its bound — at most 4 files of at most 1 MiB each, all
// private — what rotation deleted is counted and reported, the files and the count account for every exchange,
// and a legitimate client working beside the end of the flood has all of its exchanges in the capture.
func TestHostileCaptureFlood(t *testing.T) {
	const maxSize, keep, floods = 1 << 20, 3, 64
	hostileModes(t, []string{"--capture-max-size", "1", "--capture-keep", strconv.Itoa(keep)}, func(t *testing.T, h *hostileTarget) {
		c := hostileClient(30 * time.Second)
		payload := []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":%q}}`, strings.Repeat("x", 96<<10)))
		perRequest := 1
		if h.Mode == "proxy" {
			perRequest = 2 // the client's exchange and the upstream's copy, each with the body
		}
		// The legitimate client works beside the last 1.5 MiB of the flood: what rotation keeps (3 full rotated
		// files and the current one) holds it whatever the pace of either.
		startAt := floods - 16/perRequest
		var legit *legitClient
		for i := range floods {
			if i == startAt {
				legit = startLegitClient(h.MCP, 10*time.Millisecond, 10)
			}
			// No session: the server refuses it at once, after reading it whole (as the recorder does).
			if status, body, _, err := hostilePost(c, h.MCP, nil, payload); err != nil || status != 400 {
				t.Fatalf("flood %d: HTTP %d %v %.200s", i, status, err, body)
			}
		}
		sent := legit.wait(t)
		exs, files, stderr := h.stopAndLoad(t)
		if len(files) > keep+1 {
			t.Errorf("%d capture files, want at most %d: %v", len(files), keep+1, files)
		}
		var onDisk int64
		for _, f := range files {
			st, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			onDisk += st.Size()
			if st.Size() > maxSize || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %d bytes (bound %d), mode %v", f, st.Size(), maxSize, st.Mode().Perm())
			}
		}
		m := droppedRE.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("no count of the dropped exchanges at exit:\n%s", tail(stderr, 2000))
		}
		dropped, _ := strconv.Atoi(m[1])
		if want := perRequest * (floods + len(sent)); len(exs)+dropped != want {
			t.Errorf("%d exchanges in the capture + %d dropped, want %d", len(exs), dropped, want)
		}
		t.Logf("%s: %d files, %d bytes on disk, %d exchanges kept, %d dropped", h.Mode, len(files), onDisk, len(exs), dropped)
		checkLegitCaptured(t, exs, sent)
	})
}

// A --capture or --log file that existed with loose permissions is made private by the real binary (issue 13, 9):
// both will hold live tokens.
func TestHostileExistingFilesMadePrivate(t *testing.T) {
	dir := t.TempDir()
	capture, logFile := filepath.Join(dir, "capture.jsonl"), filepath.Join(dir, "mcpwatch.log")
	for _, f := range []string{capture, logFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	p := Start(t, "serve", "--no-tui", "--ephemeral", "--capture", capture, "--log", logFile)
	for _, f := range []string{capture, logFile} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v %v", f, st.Mode().Perm(), err)
		}
	}
	p.Stop()
}

// Two Authorization headers are refused (400 invalid_request) by the real binary in both modes, and in proxy
// mode the upstream never sees them (issue 13, 9).
func TestHostileTwoAuthorizationHeaders(t *testing.T) {
	hostileModes(t, nil, func(t *testing.T, h *hostileTarget) {
		c := hostileClient(10 * time.Second)
		for _, path := range []string{"/mcp", "/sse"} {
			status, body, rh, err := hostilePost(c, h.Base+path, http.Header{"Authorization": {"Bearer first", "Bearer second"}},
				[]byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
			if err != nil || status != 400 || !bytes.Contains(body, []byte(`"error":"invalid_request"`)) || !strings.Contains(rh.Get("WWW-Authenticate"), `error="invalid_request"`) {
				t.Errorf("POST %s with two Authorization headers: HTTP %d %v %s", path, status, err, body)
			}
		}
		exs, _, _ := h.stopAndLoad(t)
		for _, ex := range exs {
			if ex.Kind == recorder.Outbound {
				t.Errorf("forwarded upstream: %s %s", ex.Method, ex.URL)
			}
		}
		if len(exs) != 2 {
			t.Errorf("%d exchanges recorded, want the 2 refusals", len(exs))
		}
	})
}
