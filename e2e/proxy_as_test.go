package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

var proxyASListenerRE = regexp.MustCompile(`authorization server listener: (http://[^\s;]+)`)

// An MCP server whose authorization server lives on another origin, behind `mcpwatch proxy`: the TypeScript SDK
// client completes the whole flow with every request going through one of mcpwatch's two listeners (none to the
// real authorization server), and the capture holds each of them, staged, in one connection.
func TestProxyWatchesTheExternalAuthorizationServer(t *testing.T) {
	bin := proxyMcpwatch(t)
	cases := []struct {
		name     string
		start    func(t *testing.T) (mcp, as string)
		asStages []analysis.Stage // stages the authorization server's listener must have seen
	}{
		{"ts-sdk-example", func(t *testing.T) (string, string) {
			up := proxyStartOAuthExample(t)
			return up, "" // the example names its AS on MCP_AUTH_PORT; the banner says which
		}, []analysis.Stage{analysis.StageAuthMetadata, analysis.StageRegister, analysis.StageAuthorize, analysis.StageToken}},
		{"oidc-provider", proxyStartOIDCProvider,
			[]analysis.Stage{analysis.StageAuthMetadata, analysis.StageRegister, analysis.StageAuthorize, analysis.StageLogin, analysis.StageToken}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			upstream, realAS := tc.start(t)
			px := proxyRunMcpwatch(t, bin, nil, "proxy", "--upstream", upstream)
			asURL := px.stderr.wait(t, proxyASListenerRE, 10*time.Second)
			run := proxyRunClient(t, px.connector, `[{"tool":"greet","args":{"name":"proxy"}}]`, "oauth")
			if len(run.Results) != 3 || !strings.Contains(string(run.Results[2]), "Hello, proxy!") {
				t.Fatalf("results: %s", run.Results)
			}
			seqs := map[string]string{} // x-e2e-seq → listener
			for _, e := range run.Log {
				switch {
				case strings.HasPrefix(e.URL, px.url+"/"):
					seqs[strconv.Itoa(e.Seq)] = "mcp"
				case strings.HasPrefix(e.URL, asURL+"/"):
					seqs[strconv.Itoa(e.Seq)] = "as"
				default:
					t.Errorf("request %d went around mcpwatch: %s %s", e.Seq, e.Method, e.URL)
				}
			}
			exs := px.exchanges(t)
			stages := map[analysis.Stage]bool{}
			found := map[string]bool{}
			for _, ex := range exs {
				if ex.Kind != recorder.Inbound {
					continue
				}
				seq := ex.ReqHeaders.Get("X-E2e-Seq")
				listener, ok := seqs[seq]
				if !ok {
					t.Errorf("captured %s %s is not a request the client made (seq %q)", ex.Method, ex.Path(), seq)
					continue
				}
				found[seq] = true
				if why := ex.Note("as-unproxyable"); why != "" {
					t.Errorf("seq %s: a healthy provider said to be unproxyable: %s", seq, why)
				}
				onAS := ex.Note("authorization-server") != ""
				if onAS != (listener == "as") {
					t.Errorf("seq %s (%s %s): authorization-server note %v, sent to the %s listener", seq, ex.Method, ex.Path(), onAS, listener)
				}
				if realAS != "" && onAS && !strings.HasPrefix(ex.Note("authorization-server"), realAS) {
					t.Errorf("seq %s forwarded to %s, want %s", seq, ex.Note("authorization-server"), realAS)
				}
				st := analysis.StageOf(ex, "/mcp")
				if st == analysis.StageOther || st == "" {
					t.Errorf("seq %s (%s %s) has no stage", seq, ex.Method, ex.Path())
				}
				if onAS {
					stages[st] = true
				}
			}
			for seq := range seqs {
				if !found[seq] {
					t.Errorf("request %s is not in the capture", seq)
				}
			}
			for _, st := range tc.asStages {
				if !stages[st] {
					t.Errorf("the authorization server's listener saw no %s (saw %v)", st, stages)
				}
			}
			rep := analysis.Analyze(exs, analysis.Options{MCPPath: "/mcp"})
			if len(rep.Connections) != 1 {
				var ids []string
				for _, c := range rep.Connections {
					ids = append(ids, c.ID)
				}
				t.Errorf("want one connection for the whole flow, have %v", ids)
			}
			if len(rep.Connections) > 0 {
				var got []analysis.Stage
				for _, s := range rep.Connections[0].Stages {
					if s.Count > 0 {
						got = append(got, s.Stage)
					}
				}
				for _, st := range tc.asStages {
					if !slices.Contains(got, st) {
						t.Errorf("connection stages %v lack %s", got, st)
					}
				}
			}
		})
	}
}

// proxyStartOIDCProvider runs node-oidc-provider as the authorization server of a small MCP server on another
// port (e2e/node/oidc-provider-as.mjs) and returns the MCP endpoint and the provider's issuer.
func proxyStartOIDCProvider(t *testing.T) (string, string) {
	t.Helper()
	mcpPort, authPort := proxyFreePort(t), proxyFreePort(t)
	dir := filepath.Join(proxyRepoRoot(t), "e2e", "node")
	p := proxyStart(t, []string{"MCP_PORT=" + mcpPort, "AUTH_PORT=" + authPort}, dir, proxyNode(t), "oidc-provider-as.mjs")
	as := p.stdout.wait(t, regexp.MustCompile(`^AS (\S+)$`), 60*time.Second)
	mcp := p.stdout.wait(t, regexp.MustCompile(`^MCP (\S+)$`), 10*time.Second)
	if _, err := url.Parse(as); err != nil {
		t.Fatal(err)
	}
	return mcp, as
}

// With --tunnel, the authorization server's listener gets a quick tunnel of its own (the stand-in here): the
// resource metadata through the first names the second, and the server's metadata through the second gives the
// issuer the client fetched it from.
func TestProxyWatchesTheExternalAuthorizationServerThroughTunnels(t *testing.T) {
	bin := proxyMcpwatch(t)
	binDir := t.TempDir()
	proxyBuild(t, "./server/tunnel/testdata/fakecloudflared", binDir, "cloudflared")
	upstream, realAS := proxyStartOIDCProvider(t)
	report := t.TempDir()
	env := []string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FAKE_CLOUDFLARED_DIR=" + report,
		"FAKE_CLOUDFLARED_HOST=t{port}.trycloudflare.com",
	}
	px := proxyRunMcpwatch(t, bin, env, "proxy", "--tunnel", "--upstream", upstream)
	asLine := px.stderr.wait(t, regexp.MustCompile(`(authorization server listener: .*)`), 10*time.Second)
	m := regexp.MustCompile(`listener: http://127\.0\.0\.1:(\d+) \(public (https://\S+)\); watching (\S+)`).FindStringSubmatch(asLine)
	if m == nil || m[3] != realAS {
		t.Fatalf("banner line %q (real server %s)", asLine, realAS)
	}
	asPort, asPublic := m[1], m[2]
	mcpPort := px.url[strings.LastIndexByte(px.url, ':')+1:]
	if px.connector != "https://t"+mcpPort+".trycloudflare.com/mcp" || asPublic != "https://t"+asPort+".trycloudflare.com" {
		t.Fatalf("connector %s, authorization server %s", px.connector, asPublic)
	}
	get := func(edgeOf, path string) map[string]any {
		t.Helper()
		edge := readTrim(t, filepath.Join(report, "edge-"+edgeOf))
		resp, err := http.Get("http://" + edge + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		return doc
	}
	prm := get(mcpPort, "/.well-known/oauth-protected-resource/mcp")
	if as, _ := prm["authorization_servers"].([]any); len(as) != 1 || as[0] != asPublic {
		t.Errorf("resource metadata through the tunnel: %v", prm)
	}
	md := get(asPort, "/.well-known/oauth-authorization-server")
	if md["issuer"] != asPublic || md["token_endpoint"] != asPublic+"/token" {
		t.Errorf("authorization server metadata through its tunnel: issuer %v, token_endpoint %v", md["issuer"], md["token_endpoint"])
	}
	px.exchanges(t) // stops mcpwatch and both stand-ins
}

// mcp-remote (npm) through mcpwatch proxy, its browser the headless stand-in: the flow completes, the browser went
// only to mcpwatch's authorization server listener and to mcp-remote's own callback, and the capture holds the
// authorization server's every step, staged, in one connection.
func TestProxyWatchesTheExternalAuthorizationServerWithMcpRemote(t *testing.T) {
	bin := proxyMcpwatch(t)
	for _, tc := range []struct {
		name     string
		start    func(t *testing.T) (string, string)
		asStages []analysis.Stage
	}{
		{"ts-sdk-example", func(t *testing.T) (string, string) { return proxyStartOAuthExample(t), "" },
			[]analysis.Stage{analysis.StageAuthMetadata, analysis.StageRegister, analysis.StageAuthorize, analysis.StageToken}},
		{"oidc-provider", proxyStartOIDCProvider,
			[]analysis.Stage{analysis.StageAuthMetadata, analysis.StageRegister, analysis.StageAuthorize, analysis.StageLogin, analysis.StageToken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upstream, _ := tc.start(t)
			px := proxyRunMcpwatch(t, bin, nil, "proxy", "--upstream", upstream)
			asURL := px.stderr.wait(t, proxyASListenerRE, 10*time.Second)
			dir := t.TempDir()
			browserLog := filepath.Join(dir, "browser.log")
			callback := proxyFreePort(t)
			cmd := exec.Command(proxyNode(t), "mcp-remote-client.mjs", px.connector, callback, filepath.Join(dir, "cfg"))
			cmd.Dir = filepath.Join(proxyRepoRoot(t), "e2e", "node")
			cmd.Env = append(os.Environ(), "FAKE_BROWSER_LOG="+browserLog)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil || !strings.Contains(stdout.String(), "Hello, mcp-remote!") {
					t.Fatalf("mcp-remote: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
				}
			case <-time.After(90 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("mcp-remote did not finish\nstderr:\n%s", stderr.String())
			}
			b, err := os.ReadFile(browserLog)
			if err != nil {
				t.Fatal(err)
			}
			var visited int
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var e struct{ Method, URL string }
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(e.URL, asURL+"/") && !strings.HasPrefix(e.URL, "http://localhost:"+callback+"/") {
					t.Errorf("the browser went around mcpwatch: %s %s", e.Method, e.URL)
				}
				visited++
			}
			exs := px.exchanges(t)
			stages := map[analysis.Stage]int{}
			for _, ex := range exs {
				if ex.Kind == recorder.Inbound && ex.Note("authorization-server") != "" {
					stages[analysis.StageOf(ex, "/mcp")]++
				}
			}
			for _, st := range tc.asStages {
				if stages[st] == 0 {
					t.Errorf("the authorization server's listener saw no %s (saw %v)", st, stages)
				}
			}
			if visited < 2 {
				t.Errorf("the browser made %d requests", visited)
			}
			// The authorization steps belong to the connection that initialized. (mcp-remote's first probe and
			// discovery may form a connection of their own: the analysis groups them by user agent and time.)
			rep := analysis.Analyze(exs, analysis.Options{MCPPath: "/mcp"})
			connOf := map[uint64]string{}
			for _, c := range rep.Connections {
				for _, id := range c.Exchanges {
					connOf[id] = c.ID
				}
			}
			initConn := ""
			for _, ex := range exs {
				if ex.Kind == recorder.Inbound && ex.RPCMethod() == "initialize" && ex.Status == 200 {
					initConn = connOf[ex.ID]
				}
			}
			for _, ex := range exs {
				st := analysis.StageOf(ex, "/mcp")
				if ex.Kind != recorder.Inbound || ex.Note("authorization-server") == "" || st == analysis.StageAuthMetadata {
					continue
				}
				if initConn == "" || connOf[ex.ID] != initConn {
					t.Errorf("%s %s (%s) is in connection %q, the initialize in %q", ex.Method, ex.Path(), st, connOf[ex.ID], initConn)
				}
			}
		})
	}
}

// A Claude-shaped run through `mcpwatch proxy --tunnel` (the cloudflared stand-in: two quick tunnels) in front of
// node-oidc-provider's MCP server: Claude's user agent and callback, its registration, the user's browser through
// the login form, the token request and the MCP calls, each through the tunnel of its listener. The flow completes
// and the capture holds every step, staged, in one connection identified as Claude.
func TestProxyClaudeShapedRunThroughTwoTunnels(t *testing.T) {
	bin := proxyMcpwatch(t)
	binDir := t.TempDir()
	proxyBuild(t, "./server/tunnel/testdata/fakecloudflared", binDir, "cloudflared")
	upstream, _ := proxyStartOIDCProvider(t)
	report := t.TempDir()
	env := []string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"FAKE_CLOUDFLARED_DIR=" + report,
		"FAKE_CLOUDFLARED_HOST=t{port}.trycloudflare.com",
	}
	px := proxyRunMcpwatch(t, bin, env, "proxy", "--tunnel", "--upstream", upstream)
	asLine := px.stderr.wait(t, regexp.MustCompile(`(authorization server listener: .*)`), 10*time.Second)
	m := regexp.MustCompile(`listener: http://127\.0\.0\.1:(\d+) \(public (https://\S+)\)`).FindStringSubmatch(asLine)
	if m == nil {
		t.Fatalf("banner line %q", asLine)
	}
	mcpPort := px.url[strings.LastIndexByte(px.url, ':')+1:]
	edges := map[string]string{ // public origin → the stand-in's edge
		"https://t" + mcpPort + ".trycloudflare.com": readTrim(t, filepath.Join(report, "edge-"+mcpPort)),
		m[2]: readTrim(t, filepath.Join(report, "edge-"+m[1])),
	}
	const claudeUA = "Claude-User (claude-code/2.1.0; +https://support.anthropic.com/)"
	const browserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
	const callback = "https://claude.ai/api/mcp/auth_callback"
	cookies := map[string]string{}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 30 * time.Second}
	send := func(method, target, ua, ctype, body string, hdr ...string) (*http.Response, string) {
		t.Helper()
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		origin := u.Scheme + "://" + u.Host
		edge, ok := edges[origin]
		if !ok {
			t.Fatalf("%s %s: not one of mcpwatch's public origins %v", method, target, edges)
		}
		req, _ := http.NewRequest(method, "http://"+edge+u.RequestURI(), strings.NewReader(body))
		req.Header.Set("User-Agent", ua)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		if ua == browserUA && len(cookies) > 0 {
			var cs []string
			for k, v := range cookies {
				cs = append(cs, k+"="+v)
			}
			req.Header.Set("Cookie", strings.Join(cs, "; "))
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ua == browserUA {
			for _, c := range resp.Cookies() {
				cookies[c.Name] = c.Value
			}
		}
		return resp, string(b)
	}
	mcpURL := px.connector
	initBody := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"claude-ai","version":"0.1.0"}}}`
	accept := []string{"Accept", "application/json, text/event-stream"}

	resp, _ := send("POST", mcpURL, claudeUA, "application/json", initBody, accept...)
	rm := regexp.MustCompile(`resource_metadata="([^"]+)"`).FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	if resp.StatusCode != 401 || rm == nil {
		t.Fatalf("challenge %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	_, body := send("GET", rm[1], claudeUA, "", "")
	var prm struct {
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if err := json.Unmarshal([]byte(body), &prm); err != nil || len(prm.AuthorizationServers) != 1 {
		t.Fatalf("resource metadata %s", body)
	}
	issuer := prm.AuthorizationServers[0]
	_, body = send("GET", issuer+"/.well-known/oauth-authorization-server", claudeUA, "", "")
	var md struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		RegistrationEndpoint  string `json:"registration_endpoint"`
	}
	if err := json.Unmarshal([]byte(body), &md); err != nil || md.Issuer != issuer {
		t.Fatalf("metadata %s (issuer %q, fetched from %s)", body, md.Issuer, issuer)
	}
	resp, body = send("POST", md.RegistrationEndpoint, claudeUA, "application/json",
		`{"client_name":"Claude","redirect_uris":["`+callback+`"],"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`)
	var reg struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(body), &reg); err != nil || resp.StatusCode != 201 || reg.ClientID == "" {
		t.Fatalf("register %d %s", resp.StatusCode, body)
	}
	verifier := "claude-shaped-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {reg.ClientID}, "redirect_uri": {callback}, "scope": {"mcp:tools"},
		"state": {"st4te"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "resource": {mcpURL}}
	next, method, form := md.AuthorizationEndpoint+"?"+q.Encode(), "GET", ""
	var code string
	for hop := 0; hop < 10 && code == ""; hop++ {
		ctype := ""
		if method == "POST" {
			ctype = "application/x-www-form-urlencoded"
		}
		resp, body = send(method, next, browserUA, ctype, form)
		method, form = "GET", ""
		if loc := resp.Header.Get("Location"); loc != "" {
			lu, err := url.Parse(next)
			if err != nil {
				t.Fatal(err)
			}
			nu, _ := lu.Parse(loc)
			if strings.HasPrefix(nu.String(), callback) {
				if nu.Query().Get("iss") != issuer || nu.Query().Get("state") != "st4te" {
					t.Errorf("callback %s: iss should name %s", nu, issuer)
				}
				code = nu.Query().Get("code")
				break
			}
			next = nu.String()
			continue
		}
		fm := regexp.MustCompile(`<form[^>]*method="post"[^>]*action="([^"]+)"`).FindStringSubmatch(body)
		if fm == nil {
			t.Fatalf("authorization stopped at %s: %d %s", next, resp.StatusCode, body)
		}
		next, method, form = fm[1], "POST", "login=claude-user"
	}
	if code == "" {
		t.Fatal("no authorization code")
	}
	resp, body = send("POST", md.TokenEndpoint, claudeUA, "application/x-www-form-urlencoded", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {callback}, "client_id": {reg.ClientID}, "code_verifier": {verifier}, "resource": {mcpURL}}.Encode())
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token %d %s", resp.StatusCode, body)
	}
	bearer := append([]string{"Authorization", "Bearer " + tok.AccessToken}, accept...)
	resp, body = send("POST", mcpURL, claudeUA, "application/json", initBody, bearer...)
	if resp.StatusCode != 200 || !strings.Contains(body, "oidc-provider-e2e") {
		t.Fatalf("initialize with the token: %d %s", resp.StatusCode, body)
	}
	send("POST", mcpURL, claudeUA, "application/json", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, bearer...)
	resp, body = send("POST", mcpURL, claudeUA, "application/json", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"Claude"}}}`, bearer...)
	if !strings.Contains(body, "Hello, Claude!") {
		t.Fatalf("tools/call %d %s", resp.StatusCode, body)
	}

	exs := px.exchanges(t)
	rep := analysis.Analyze(exs, analysis.Options{MCPPath: "/mcp"})
	if len(rep.Connections) != 1 {
		t.Fatalf("want one connection, have %d", len(rep.Connections))
	}
	c := rep.Connections[0]
	if c.Client != analysis.ClientClaude {
		t.Errorf("client %q", c.Client)
	}
	seen := map[analysis.Stage]bool{}
	for _, s := range c.Stages {
		seen[s.Stage] = s.Count > 0
	}
	for _, st := range []analysis.Stage{analysis.StageChallenge, analysis.StageResourceMetadata, analysis.StageAuthMetadata, analysis.StageRegister,
		analysis.StageAuthorize, analysis.StageLogin, analysis.StageToken, analysis.StageInitialize, analysis.StageCall} {
		if !seen[st] {
			t.Errorf("the connection has no %s: %+v", st, c.Stages)
		}
	}
	for _, f := range c.Findings {
		if f.Rule == "as-unproxyable" {
			t.Errorf("finding %s: %s", f.Rule, f.Summary)
		}
	}
}
