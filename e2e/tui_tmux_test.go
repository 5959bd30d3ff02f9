package e2e

// The TUI, driven across processes: the real binary runs `mcpwatch serve` in a tmux session of 120×40, a real MCP
// client (the Go SDK's) runs a handshake against it, and the test reads the screen with capture-pane and types
// keys with send-keys, as a user would. tmux is a Debian package that script/test installs; the test fails
// without it (it never skips).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// tuiTmux is one tmux server (its own socket) with one session running a command.
type tuiTmux struct {
	t      *testing.T
	socket string
}

var tuiTmuxSeq atomic.Int64

// tuiTmuxStart runs command in a detached tmux session of w×h cells. When the command ends, the pane stays (the
// shell waits) so that the screen can still be read.
func tuiTmuxStart(t *testing.T, w, h int, command string) *tuiTmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux is needed (script/test installs it): %v", err)
	}
	tm := &tuiTmux{t: t, socket: fmt.Sprintf("mcpwatch-tui-e2e-%d-%d", os.Getpid(), tuiTmuxSeq.Add(1))}
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	tm.run("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), command)
	return tm
}

func (tm *tuiTmux) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is what the pane shows now.
func (tm *tuiTmux) screen() string { return tm.run("capture-pane", "-p", "-t", "main") }

// keys types keys (tmux key names: Enter, Escape, C-u, or literal text with -l).
func (tm *tuiTmux) keys(keys ...string) {
	tm.run(append([]string{"send-keys", "-t", "main"}, keys...)...)
}

// text types literal text.
func (tm *tuiTmux) text(s string) { tm.run("send-keys", "-t", "main", "-l", s) }

// format reads a tmux format of the pane (e.g. #{alternate_on}).
func (tm *tuiTmux) format(f string) string {
	return strings.TrimSpace(tm.run("display-message", "-p", "-t", "main", f))
}

// clipboard turns on tmux's acceptance of OSC 52 from the pane (set-clipboard on: a copy becomes a paste buffer).
func (tm *tuiTmux) clipboard() { tm.run("set-option", "-s", "set-clipboard", "on") }

// copied waits for a paste buffer holding want (what the program copied with OSC 52).
func (tm *tuiTmux) copied(what, want string) {
	tm.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := exec.Command("tmux", "-L", tm.socket, "show-buffer").Output()
		if err == nil && string(out) == want {
			return
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("%s: the clipboard holds %q (%v), want %q; the screen:\n%s", what, out, err, want, tm.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFor polls the screen until every want is on it.
func (tm *tuiTmux) waitFor(what string, want ...string) string {
	tm.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := tm.screen()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("%s: %q never showed; the screen:\n%s", what, missing, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tuiTmuxBuild is the binary the package's TestMain built.
func tuiTmuxBuild(t *testing.T) string {
	t.Helper()
	if Binary == "" {
		t.Fatal("no mcpwatch binary: TestMain builds it")
	}
	return Binary
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestTUIInTmux: start serve (OAuth on, consent auto-approved) in tmux at 120×40, run a client's whole handshake
// (the 401 challenge, discovery, registration, authorization, token, refresh, then the Go SDK's initialize,
// initialized, tools/list, tools/call), find each stage ticked, open an exchange's detail, flip a toggle and see
// the next request altered, export a HAR, and quit with q: exit status 0 and the terminal restored.
func TestTUIInTmux(t *testing.T) {
	bin := tuiTmuxBuild(t)
	state := t.TempDir()
	exitFile := filepath.Join(state, "exit-status")
	command := fmt.Sprintf("env XDG_STATE_HOME=%s TERM=xterm-256color %s serve --addr 127.0.0.1:0 --auto-approve; echo \"exit=$?\" > %s; exec sleep 600",
		shq(state), shq(bin), shq(exitFile))
	tm := tuiTmuxStart(t, 120, 40, "sh -c "+shq(command))
	tm.clipboard()

	// The header gives the address (the banner is not printed while the TUI runs).
	s := tm.waitFor("the header", "listening http://127.0.0.1:", "connector URL", "auth on")
	port := regexp.MustCompile(`listening (http://127\.0\.0\.1:\d+)`).FindStringSubmatch(s)
	if port == nil {
		t.Fatalf("no listen address in the header:\n%s", s)
	}
	base := port[1]
	if !strings.Contains(s, "connector URL "+base+"/mcp  (u copies)") {
		t.Fatalf("the header lacks the connector URL %s/mcp and the key that copies it:\n%s", base, s)
	}
	// u copies it (OSC 52, which tmux turns into a paste buffer).
	tm.keys("u")
	tm.copied("u", base+"/mcp")
	tm.waitFor("the confirmation", "copied the connector URL")

	// The OAuth part, as a client does it: challenged, it reads the metadata, registers, is authorized, gets a
	// token and refreshes it.
	resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/mcp without a token: HTTP %d, want 401", resp.StatusCode)
	}
	for _, p := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server"} {
		resp, err := http.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d", p, resp.StatusCode)
		}
	}
	clientID, refresh := codeFlow(t, base, "http://127.0.0.1:33418/callback")
	tok := postForm(t, base+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {clientID}})
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("refresh: %v", tok)
	}

	// The MCP part, with the Go SDK's client: initialize, initialized, tools/list, tools/call.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "tui-e2e", Version: "1.0.0"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", MaxRetries: -1,
		HTTPClient: &http.Client{Transport: tuiTmuxBearer{token: access}}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-06-18"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if _, err := session.ListTools(ctx, nil); err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello from tmux"}})
	if err != nil || res.IsError {
		t.Fatalf("tools/call: %v %+v", err, res)
	}
	if err := session.Close(); err != nil {
		t.Logf("close: %v", err)
	}

	// Each stage of the handshake, ticked in the tracker.
	stages := []string{"challenge", "resource-metadata", "auth-metadata", "register", "authorize", "token", "refresh",
		"initialize", "initialized", "list", "call"}
	var want []string
	for _, st := range stages {
		want = append(want, "✓ "+st+" ")
	}
	s = tm.waitFor("the handshake's stages", want...)
	for _, st := range stages {
		if strings.Contains(s, "✗ "+st+" ") {
			t.Fatalf("the stage %s failed:\n%s", st, s)
		}
	}

	// Open the tools/call exchange: filter to it, enter, then the response tab.
	tm.keys("/")
	tm.text("tools/call")
	tm.keys("Enter")
	tm.waitFor("the filter", "filter tools/call")
	tm.keys("Enter")
	tm.waitFor("the request", "[Request]", `"name": "echo"`, `"text": "hello from tmux"`)
	tm.keys("l")
	tm.waitFor("the response", "[Response", "200 OK", `"text": "hello from tmux"`)
	// An escape followed at once by another key reads as alt+key (as in any terminal): each key below waits
	// for the screen to show the last one's effect.
	tm.keys("Escape")
	tm.waitFor("the list again", "enter open")
	tm.keys("Escape") // and the filter goes
	waitGone(tm, "the filter", "filter tools/call")

	// Flip a toggle: omit-session-id (the first of the catalogue) on; the header says so, and the next request is
	// answered without a session id, which the exchange records.
	tm.keys("t")
	tm.waitFor("the toggles panel", "Toggles", "[ ] omit-session-id")
	tm.keys("Enter")
	tm.waitFor("the toggle on", "[x] omit-session-id", "toggles: omit-session-id")
	tm.keys("t")
	waitGone(tm, "the toggles panel", "[x] omit-session-id")
	req, err := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(
		`{"jsonrpc":"2.0","id":9,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"after-toggle","version":"1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Mcp-Session-Id") != "" {
		t.Fatalf("initialize with omit-session-id on: HTTP %d, Mcp-Session-Id %q", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"))
	}
	// The list follows the new exchange; its detail's Analysis tab shows what the toggle changed.
	tm.waitFor("the altered exchange", "~")
	tm.keys("Enter")
	tm.waitFor("its detail", "#14 POST /mcp initialize")
	for i := 0; i < 3 && !strings.Contains(tm.screen(), "[Analysis"); i++ {
		tm.keys("l") // the detail keeps the tab last shown: move to Analysis
		time.Sleep(200 * time.Millisecond)
	}
	tm.keys("G") // the end of the tab: the toggles
	tm.waitFor("what the toggle changed", "[Analysis", "omit-session-id changed response header", "after:  (removed)")
	tm.keys("Escape")
	tm.waitFor("the list again", "enter open")
	// And off again.
	tm.keys("t")
	tm.waitFor("the toggles panel", "[x] omit-session-id")
	tm.keys("d")
	tm.waitFor("the toggle off", "[ ] omit-session-id")
	tm.keys("Escape")
	waitGone(tm, "the toggles panel", "[ ] omit-session-id")
	tm.waitFor("the header", "toggles: none on")

	// Export a HAR: type a path; the file is written whole and valid.
	out := filepath.Join(t.TempDir(), "export.har")
	tm.keys("e")
	tm.waitFor("the export prompt", "Export", "format: [har]", "path: mcpwatch-", "secrets")
	tm.keys("C-u")
	tm.text(out)
	tm.keys("Enter")
	tm.waitFor("the export confirmation", "saved ", "to "+out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("the export: %v", err)
	}
	var har struct {
		Log struct {
			Entries []struct {
				Request struct {
					Method   string
					URL      string
					PostData struct{ Text string }
				}
				Response struct{ Status int }
			}
		}
	}
	if err := json.Unmarshal(b, &har); err != nil {
		t.Fatalf("the HAR is not JSON: %v", err)
	}
	var seen []string
	for _, e := range har.Log.Entries {
		for _, m := range []string{"tools/list", "tools/call"} {
			if strings.Contains(e.Request.PostData.Text, `"method":"`+m+`"`) {
				seen = append(seen, m)
			}
		}
		if strings.Contains(e.Request.PostData.Text, refresh) || strings.Contains(e.Request.PostData.Text, access) {
			t.Errorf("the HAR holds a token: %s", e.Request.PostData.Text)
		}
	}
	if len(har.Log.Entries) < 10 || !slicesContains(seen, "tools/list") || !slicesContains(seen, "tools/call") {
		t.Fatalf("the HAR has %d entries (%v)", len(har.Log.Entries), seen)
	}

	// q quits: exit status 0, the alternate screen left, the mouse released, the cursor back.
	tm.keys("q")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(exitFile)
		if err == nil && len(b) > 0 {
			if got := strings.TrimSpace(string(b)); got != "exit=0" {
				t.Fatalf("mcpwatch ended with %s; the screen:\n%s", got, tm.screen())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("q did not end mcpwatch; the screen:\n%s", tm.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := tm.format("#{alternate_on} #{mouse_any_flag} #{mouse_button_flag} #{cursor_flag}"); got != "0 0 0 1" {
		t.Fatalf("the terminal is not restored (alternate_on mouse_any mouse_button cursor = %s)", got)
	}
	if s := tm.screen(); strings.Contains(s, "Exchanges ") || !strings.Contains(s, "capture: "+state) {
		t.Fatalf("after quitting the screen shows:\n%s", s)
	}
}

// TestTUITunnelInTmux: `serve --tunnel` with a stand-in for cloudflared (server/tunnel/testdata/fakecloudflared,
// first on PATH) at 80×24: the header shows the tunnel's public URL and connector URL, and a line that stays
// saying quick tunnels hold GET event streams until they close; ? has the whole note; u copies the connector URL.
func TestTUITunnelInTmux(t *testing.T) {
	bin := tuiTmuxBuild(t)
	dir := t.TempDir()
	fake := exec.Command("go", "build", "-o", filepath.Join(dir, "cloudflared"), "./server/tunnel/testdata/fakecloudflared")
	fake.Dir = repoRoot()
	if out, err := fake.CombinedOutput(); err != nil {
		t.Fatalf("go build fakecloudflared: %v\n%s", err, out)
	}
	const host = "sporting-follow-audit-href.trycloudflare.com"
	exitFile := filepath.Join(dir, "exit-status")
	command := fmt.Sprintf("env PATH=%s XDG_STATE_HOME=%s FAKE_CLOUDFLARED_DIR=%s FAKE_CLOUDFLARED_HOST=%s TERM=xterm-256color %s serve --addr 127.0.0.1:0 --tunnel; echo \"exit=$?\" > %s; exec sleep 600",
		shq(dir+string(os.PathListSeparator)+os.Getenv("PATH")), shq(dir), shq(dir), host, shq(bin), shq(exitFile))
	tm := tuiTmuxStart(t, 80, 24, "sh -c "+shq(command))
	tm.clipboard()

	const mark = "! quick tunnel: GET event streams arrive only when they close · ? more"
	tm.waitFor("the header", "public https://sporting", "connector URL https://"+host+"/mcp", mark)
	// The mark stays (a notice would have gone after a few seconds): it is still there after the next keys.
	tm.keys("u")
	tm.copied("u", "https://"+host+"/mcp")
	tm.keys("?")
	tm.waitFor("the help", "Tunnel", "The public URL is a Cloudflare", "(cloudflare/cloudflared#1449)", mark)
	tm.keys("Escape")
	waitGone(tm, "the help", "The public URL is a Cloudflare")
	time.Sleep(7 * time.Second) // longer than a notice stays
	tm.waitFor("the header, later", mark)
	// cloudflared dies on its own: the TUI says the public URL is gone (and restarts nothing).
	pid, err := strconv.Atoi(readTrim(t, filepath.Join(dir, "pid")))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tm.waitFor("the tunnel's end", "✗ tunnel gone: cloudflared exited (signal: killed)")
	tm.keys("q")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if b, err := os.ReadFile(exitFile); err == nil && len(b) > 0 {
			if got := strings.TrimSpace(string(b)); got != "exit=0" {
				t.Fatalf("mcpwatch serve --tunnel ended with %s", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("q did not end mcpwatch; the screen:\n%s", tm.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTUITunnelKeyInTmux: serve started without a public URL says web clients cannot reach it and offers T; T
// starts the stand-in cloudflared, and the header then shows the tunnel's public and connector URLs; q stops both.
func TestTUITunnelKeyInTmux(t *testing.T) {
	bin := tuiTmuxBuild(t)
	dir := t.TempDir()
	fake := exec.Command("go", "build", "-o", filepath.Join(dir, "cloudflared"), "./server/tunnel/testdata/fakecloudflared")
	fake.Dir = repoRoot()
	if out, err := fake.CombinedOutput(); err != nil {
		t.Fatalf("go build fakecloudflared: %v\n%s", err, out)
	}
	const host = "pressed-tee-for-tunnel.trycloudflare.com"
	exitFile := filepath.Join(dir, "exit-status")
	command := fmt.Sprintf("env PATH=%s XDG_STATE_HOME=%s FAKE_CLOUDFLARED_DIR=%s FAKE_CLOUDFLARED_HOST=%s TERM=xterm-256color %s serve --addr 127.0.0.1:0; echo \"exit=$?\" > %s; exec sleep 600",
		shq(dir+string(os.PathListSeparator)+os.Getenv("PATH")), shq(dir), shq(dir), host, shq(bin), shq(exitFile))
	tm := tuiTmuxStart(t, 120, 40, "sh -c "+shq(command))
	tm.waitFor("the loopback line", "! loopback only: web clients (Claude, ChatGPT) cannot reach it; press T for a tunnel")
	tm.keys("T")
	tm.waitFor("the tunnel", "public https://pressed-tee", "connector URL https://"+host+"/mcp", "! quick tunnel")
	pid, err := strconv.Atoi(readTrim(t, filepath.Join(dir, "pid")))
	if err != nil {
		t.Fatal(err)
	}
	tm.keys("q")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if b, err := os.ReadFile(exitFile); err == nil && len(b) > 0 {
			if got := strings.TrimSpace(string(b)); got != "exit=0" {
				t.Fatalf("mcpwatch serve ended with %s", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("q did not end mcpwatch; the screen:\n%s", tm.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("cloudflared (pid %d) outlived mcpwatch", pid)
	}
}

// tuiTmuxBearer sends a bearer token with every request.
type tuiTmuxBearer struct{ token string }

func (b tuiTmuxBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// waitGone polls the screen until gone is no longer on it.
func waitGone(tm *tuiTmux, what, gone string) {
	tm.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Contains(tm.screen(), gone) {
		if time.Now().After(deadline) {
			tm.t.Fatalf("%s did not close; the screen:\n%s", what, tm.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestTUIOpenInTmux: `mcpwatch open` shows a saved capture (whose last line a crash tore) read-only at 80×24:
// the toggles are off, quitting is clean.
func TestTUIOpenInTmux(t *testing.T) {
	bin := tuiTmuxBuild(t)
	dir := t.TempDir()
	capture := filepath.Join(dir, "capture.jsonl")
	t0 := time.Date(2026, 7, 28, 10, 0, 0, 0, time.UTC)
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for i, body := range []string{
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"saved","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
	} {
		ex := &recorder.Exchange{ID: uint64(i + 1), Kind: recorder.Inbound, State: recorder.StateComplete,
			Start: t0.Add(time.Duration(i) * time.Second), Method: "POST", URL: "/mcp", Host: "127.0.0.1:4000",
			ReqBody: recorder.Body{Data: []byte(body), Size: int64(len(body))}, Status: 200,
			RPC: recorder.ParseRPC([]byte(body), recorder.FromClient, -1)}
		if i == 1 {
			ex.Status = 202
		}
		if err := enc.Encode(ex); err != nil {
			t.Fatal(err)
		}
	}
	b.WriteString(`{"id":4,"kind":"inb`)
	if err := os.WriteFile(capture, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	exitFile := filepath.Join(dir, "exit-status")
	command := fmt.Sprintf("cd %s && env XDG_STATE_HOME=%s TERM=xterm-256color %s open %s; echo \"exit=$?\" > %s; exec sleep 600",
		shq(dir), shq(dir), shq(bin), shq(capture), shq(exitFile))
	tm := tuiTmuxStart(t, 80, 24, "sh -c "+shq(command))
	tm.waitFor("the capture", "read-only", "capture.jsonl", "the torn last line was skipped", "3 exchanges", "✓ initialize", "✓ list")
	tm.keys("t")
	tm.waitFor("the toggles panel", "read-only: toggles are disabled")
	tm.keys("Escape")
	waitGone(tm, "the toggles panel", "toggles are disabled.")
	tm.keys("q")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(exitFile); err == nil && len(b) > 0 {
			if got := strings.TrimSpace(string(b)); got != "exit=0" {
				t.Fatalf("mcpwatch open ended with %s", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("q did not end mcpwatch open; the screen:\n%s", tm.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := tm.format("#{alternate_on} #{mouse_any_flag} #{cursor_flag}"); got != "0 0 1" {
		t.Fatalf("the terminal is not restored: %s", got)
	}
}
