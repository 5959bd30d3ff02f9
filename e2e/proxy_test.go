package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// The official TypeScript SDK client completes the MCP handshake and tool calls through `mcpwatch proxy` in front
// of `mcpwatch serve` — without auth, and with the full OAuth flow (discovery, registration, authorization with
// PKCE, token, calls with the token) — and the proxy's capture matches what the client sent and received byte for
// byte.
func TestProxyTSClientThroughProxyToServe(t *testing.T) {
	bin := proxyMcpwatch(t)
	for _, c := range []struct {
		name  string
		serve []string
		mode  string
	}{
		{"no-auth", []string{"serve", "--no-auth"}, ""},
		{"oauth", []string{"serve", "--auto-approve", "--ephemeral"}, "oauth"},
	} {
		t.Run(c.name, func(t *testing.T) {
			upstream := proxyRunMcpwatch(t, bin, nil, c.serve...)
			px := proxyRunMcpwatch(t, bin, nil, "proxy", "--upstream", upstream.url+"/mcp")
			if px.connector != px.url+"/mcp" {
				t.Fatalf("connector URL %q", px.connector)
			}
			run, stderr, err := proxyRunClientMayFail(t, px.connector, `[{"tool":"echo","args":{"text":"through the proxy"}},{"tool":"whoami"}]`, c.mode)
			if err != nil {
				px.stop(t)
				upstream.stop(t)
				t.Fatalf("TypeScript client: %v\nstderr:\n%s\nits requests:\n%s\nproxy:\n%s\n%s\nupstream:\n%s\n%s", err, stderr, proxyDescribe(t, run),
					px.stderr, px.stdout, upstream.stderr, upstream.stdout)
			}
			var results string
			for _, r := range run.Results {
				results += string(r) + "\n"
			}
			if !strings.Contains(results, "through the proxy") {
				t.Errorf("results: %s", results)
			}
			if c.mode == "oauth" && !strings.Contains(results, "authorized") {
				t.Errorf("no OAuth flow: %s", results)
			}
			exs := px.exchanges(t)
			bySeq := proxyCompareCapture(t, run, exs, px.url)
			proxyCheckHandshake(t, run, bySeq)
			if c.mode == "oauth" {
				// serve names the proxy's origin in its metadata by itself (from X-Forwarded-Host): nothing to rewrite.
				var stages []string
				for _, ex := range bySeq {
					if ex.Note("rewrite") != "" {
						t.Errorf("a rewrite was needed for %s: %v", ex.Path(), ex.Notes)
					}
					stages = append(stages, ex.Method+" "+ex.Path())
				}
				all := strings.Join(stages, ",")
				for _, want := range []string{"GET /.well-known/oauth-protected-resource/mcp", "POST /register", "GET /authorize", "POST /token"} {
					if !strings.Contains(all, want) {
						t.Errorf("the capture has no %s (has %s)", want, all)
					}
				}
			}
		})
	}
}

// The same in front of a real third-party server: npm @modelcontextprotocol/server-everything, streamable HTTP.
func TestProxyTSClientThroughProxyToServerEverything(t *testing.T) {
	bin := proxyMcpwatch(t)
	upstream := proxyStartEverything(t)
	px := proxyRunMcpwatch(t, bin, nil, "proxy", "--upstream", upstream)
	run := proxyRunClient(t, px.connector, `[{"tool":"echo","args":{"message":"hi"}},{"tool":"get-sum","args":{"a":2,"b":3}}]`, "")
	if !strings.Contains(string(run.Results[1]), "Echo: hi") || !strings.Contains(string(run.Results[2]), "is 5") {
		t.Errorf("tool results: %s", run.Results)
	}
	bySeq := proxyCompareCapture(t, run, px.exchanges(t), px.url)
	proxyCheckHandshake(t, run, bySeq)
}

// The full OAuth flow and tool calls through the proxy, in front of a third-party server that believes it lives on
// localhost (the TypeScript SDK's example server with OAuth: its metadata and challenges say
// http://localhost:PORT). With --rewrite-urls (the default) the client completes the flow, and the capture notes
// each rewrite; with --rewrite-urls=false the same client refuses the server's metadata (the resource is not the
// URL it connected to) — the rewrite was needed.
func TestProxyOAuthThroughProxyWithURLRewriting(t *testing.T) {
	bin := proxyMcpwatch(t)
	upstream := proxyStartOAuthExample(t)
	upOrigin := strings.TrimSuffix(upstream, "/mcp")

	t.Run("rewrite", func(t *testing.T) {
		// The client talks to the example's authorization server directly here (TestProxyWatchesTheExternal-
		// AuthorizationServer watches it): this is about the upstream's own URLs.
		px := proxyRunMcpwatch(t, bin, nil, "proxy", "--upstream", upstream, "--watch-as=false")
		run := proxyRunClient(t, px.connector, `[{"tool":"greet","args":{"name":"proxy"}}]`, "oauth")
		if len(run.Results) != 3 || !strings.Contains(string(run.Results[0]), "authorized") || !strings.Contains(string(run.Results[2]), "Hello, proxy!") {
			t.Fatalf("results: %s", run.Results)
		}
		exs := px.exchanges(t)
		bySeq := proxyCompareCapture(t, run, exs, px.url)
		proxyCheckHandshake(t, run, bySeq)
		var challenge, metadata, authorized bool
		for _, ex := range bySeq {
			for _, n := range ex.Notes {
				if n.Key != "rewrite" {
					continue
				}
				var rw struct{ Where, From, To string }
				if err := json.Unmarshal([]byte(n.Value), &rw); err != nil {
					t.Fatal(err)
				}
				if rw.From != upOrigin || rw.To != px.url {
					t.Errorf("rewrite note %s", n.Value)
				}
				challenge = challenge || ex.Status == 401 && rw.Where == "header WWW-Authenticate"
				metadata = metadata || strings.Contains(ex.Path(), "oauth-protected-resource") && rw.Where == "body"
			}
			if strings.HasPrefix(ex.ReqHeaders.Get("Authorization"), "Bearer ") && ex.Status == 200 {
				authorized = true
			}
		}
		if !challenge || !metadata || !authorized {
			t.Errorf("rewritten challenge %v, rewritten metadata %v, authorized call %v", challenge, metadata, authorized)
		}
	})

	t.Run("no-rewrite", func(t *testing.T) {
		px := proxyRunMcpwatch(t, bin, nil, "proxy", "--upstream", upstream, "--rewrite-urls=false")
		_, stderr, err := proxyRunClientMayFail(t, px.connector, `[]`, "oauth")
		if err == nil || !strings.Contains(stderr, "Protected resource "+upstream+" does not match expected "+px.connector) {
			t.Errorf("the client should refuse the unrewritten metadata: %v\n%s", err, stderr)
		}
		for _, ex := range px.exchanges(t) {
			if ex.Note("rewrite") != "" {
				t.Errorf("rewrite note with --rewrite-urls=false: %v", ex.Notes)
			}
		}
	})
}

// proxyCheckHandshake checks that the capture saw the whole handshake: initialize, initialized, tools/list,
// tools/call, and the session's DELETE.
func proxyCheckHandshake(t *testing.T, run *proxyClientRun, bySeq map[int]*recorder.Exchange) {
	t.Helper()
	seen := map[string]bool{}
	for _, ex := range bySeq {
		if m := ex.RPCMethod(); m != "" {
			seen[m] = true
		}
		if ex.Method == "DELETE" {
			seen["DELETE"] = true
		}
	}
	for _, m := range []string{"initialize", "notifications/initialized", "tools/list", "tools/call", "DELETE"} {
		if !seen[m] {
			t.Errorf("the capture has no %s (saw %v)", m, seen)
		}
	}
}

// Each SSE event reaches the client through the proxy process before the upstream writes the next one.
func TestProxyStreamsEachSSEEventAcrossProcesses(t *testing.T) {
	clientGotFirst := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":1}}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-clientGotFirst:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":2}}\n\n")
	}))
	defer up.Close()
	px := proxyRunMcpwatch(t, proxyMcpwatch(t), nil, "proxy", "--upstream", up.URL+"/mcp")

	req, _ := http.NewRequest("GET", px.url+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string)
	go func() {
		br := bufio.NewReader(resp.Body)
		var ev strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				close(events)
				return
			}
			ev.WriteString(line)
			if line == "\n" {
				events <- ev.String()
				ev.Reset()
			}
		}
	}()
	for i := 1; i <= 2; i++ {
		select {
		case ev := <-events:
			if !strings.HasPrefix(ev, "id: "+strconv.Itoa(i)+"\n") {
				t.Fatalf("event %d: %q", i, ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d did not arrive while the upstream held the stream open: the proxy buffers", i)
		}
		if i == 1 {
			close(clientGotFirst)
		}
	}
	resp.Body.Close()
	for _, ex := range px.exchanges(t) {
		if len(ex.Events) != 2 || ex.Events[1].At <= ex.Events[0].At {
			t.Errorf("%s exchange events %+v", ex.Kind, ex.Events)
		}
	}
}

// --tunnel with a stand-in for cloudflared (server/tunnel/testdata/fakecloudflared, first on PATH): the public URL
// is read from its banner and becomes the connector URL, requests for that host through the tunnel are admitted,
// and the stand-in and its child are gone when mcpwatch exits.
func TestProxyTunnelWithStandIn(t *testing.T) {
	bin := proxyMcpwatch(t)
	binDir := t.TempDir()
	proxyBuild(t, "./server/tunnel/testdata/fakecloudflared", binDir, "cloudflared")
	const host = "sporting-follow-audit-href.trycloudflare.com"
	hosts := make(chan string, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mcp" {
			http.NotFound(w, r) // mcpwatch proxy's own look for a resource metadata at start (--watch-as)
			return
		}
		hosts <- r.Header.Get("X-Forwarded-Host") + " " + r.Header.Get("X-Forwarded-Proto")
		io.WriteString(w, "upstream here")
	}))
	defer up.Close()

	for _, mode := range []string{"proxy", "serve"} {
		t.Run(mode, func(t *testing.T) {
			report := t.TempDir()
			env := []string{
				"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
				"FAKE_CLOUDFLARED_DIR=" + report,
				"FAKE_CLOUDFLARED_HOST=" + host,
			}
			args := []string{mode, "--tunnel"}
			if mode == "proxy" {
				args = append(args, "--upstream", up.URL+"/mcp")
			}
			m := proxyRunMcpwatch(t, bin, env, args...)
			if m.connector != "https://"+host+"/mcp" {
				t.Errorf("connector URL %q", m.connector)
			}
			if !strings.Contains(m.stderr.String(), "cloudflare/cloudflared#1449") {
				t.Errorf("no note about quick tunnels buffering GET streams:\n%s", m.stderr)
			}
			edge, err := os.ReadFile(filepath.Join(report, "edge"))
			if err != nil {
				t.Fatal(err)
			}
			// Through the stand-in's edge: Host is the public host, as cloudflared sends it.
			resp, err := http.Get("http://" + string(edge) + "/mcp")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if mode == "proxy" {
				if resp.StatusCode != 200 || string(body) != "upstream here" {
					t.Errorf("through the tunnel: %d %q", resp.StatusCode, body)
				}
				if h := <-hosts; h != host+" https" {
					t.Errorf("upstream saw X-Forwarded-Host/Proto %q", h)
				}
			} else if resp.StatusCode == http.StatusForbidden {
				t.Errorf("through the tunnel: %d %q", resp.StatusCode, body)
			}
			// A foreign host is still refused.
			req, _ := http.NewRequest("GET", m.url+"/mcp", nil)
			req.Host = "evil.example"
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("foreign host: %d", resp.StatusCode)
			}

			pid, _ := strconv.Atoi(readTrim(t, filepath.Join(report, "pid")))
			child, _ := strconv.Atoi(readTrim(t, filepath.Join(report, "child")))
			if !proxyAlive(pid) || !proxyAlive(child) {
				t.Fatalf("the stand-in (%d) or its child (%d) is not running", pid, child)
			}
			exs := m.exchanges(t) // stops mcpwatch
			deadline := time.Now().Add(5 * time.Second)
			for _, p := range []int{pid, child} {
				for proxyAlive(p) {
					if time.Now().After(deadline) {
						t.Fatalf("process %d outlived mcpwatch", p)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			var admitted bool
			for _, ex := range exs {
				if ex.Kind == recorder.Inbound && ex.Host == host && ex.Status != http.StatusForbidden {
					admitted = true
				}
			}
			if !admitted {
				t.Error("the capture has no admitted request for the tunnel's host")
			}
		})
	}
}

// When cloudflared exits on its own, mcpwatch says so, keeps serving locally and starts no new tunnel.
func TestProxyTunnelExitIsReportedNotRestarted(t *testing.T) {
	binDir := t.TempDir()
	proxyBuild(t, "./server/tunnel/testdata/fakecloudflared", binDir, "cloudflared")
	report := t.TempDir()
	env := []string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FAKE_CLOUDFLARED_DIR=" + report,
		"FAKE_CLOUDFLARED_EXIT_AFTER=300ms",
	}
	m := proxyRunMcpwatch(t, proxyMcpwatch(t), env, "serve", "--no-auth", "--tunnel")
	pid := readTrim(t, filepath.Join(report, "pid"))
	m.stderr.wait(t, regexp.MustCompile(`cloudflared exited \(exit status 1\).*It is not restarted`), 30*time.Second)
	time.Sleep(500 * time.Millisecond) // a restart, if there were one, would have written a new pid by now
	if again := readTrim(t, filepath.Join(report, "pid")); again != pid {
		t.Errorf("cloudflared was started again (pid %s, then %s)", pid, again)
	}
	resp, err := http.Get(m.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("mcpwatch stopped serving locally: %d", resp.StatusCode)
	}
	m.exchanges(t) // stops mcpwatch cleanly
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Without cloudflared on PATH, --tunnel fails with how to install it.
func TestProxyTunnelWithoutCloudflared(t *testing.T) {
	bin := proxyMcpwatch(t)
	state := t.TempDir()
	p := proxyStart(t, []string{"PATH=" + t.TempDir(), "XDG_STATE_HOME=" + state}, state, bin, "proxy", "--upstream", "http://127.0.0.1:9/mcp", "--tunnel", "--no-tui", "--addr", "127.0.0.1:0")
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("mcpwatch did not exit")
	}
	if p.cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit code %d", p.cmd.ProcessState.ExitCode())
	}
	time.Sleep(100 * time.Millisecond) // let the output reader drain
	if out := p.stderr.String(); !strings.Contains(out, "cloudflared is not on PATH") || !strings.Contains(out, "apt-get install cloudflared") {
		t.Errorf("stderr:\n%s", out)
	}
}

// Toggles apply in proxy mode: with --fault omit-session-id the client gets the upstream's initialize answer
// without its Mcp-Session-Id, the upstream's side keeps it, and the capture says which toggle changed what.
func TestProxyTogglesApplyToTheUpstream(t *testing.T) {
	bin := proxyMcpwatch(t)
	upstream := proxyRunMcpwatch(t, bin, nil, "serve", "--no-auth")
	px := proxyRunMcpwatch(t, bin, nil, "proxy", "--upstream", upstream.url+"/mcp", "--fault", "omit-session-id")
	req, _ := http.NewRequest("POST", px.connector, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Mcp-Session-Id") != "" {
		t.Fatalf("client got %d with Mcp-Session-Id %q", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"))
	}
	var in, out *recorder.Exchange
	for _, ex := range px.exchanges(t) {
		if ex.Kind == recorder.Inbound {
			in = ex
		} else {
			out = ex
		}
	}
	if in == nil || out == nil {
		t.Fatal("want an inbound and an outbound exchange")
	}
	if out.RespHeaders.Get("Mcp-Session-Id") == "" || in.RespHeaders.Get("Mcp-Session-Id") != "" {
		t.Errorf("session id: upstream sent %q, client got %q", out.RespHeaders.Get("Mcp-Session-Id"), in.RespHeaders.Get("Mcp-Session-Id"))
	}
	if len(in.Toggles) == 0 || in.Toggles[0].Name != "omit-session-id" {
		t.Errorf("inbound faults %+v", in.Toggles)
	}
}
