package e2e

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// oauthClientOut is what e2e/node/oauth_client.mjs prints.
type oauthClientOut struct {
	ClientID             string            `json:"clientId"`
	ClientSecretIssued   bool              `json:"clientSecretIssued"`
	AuthorizationRequest map[string]string `json:"authorizationRequest"`
	Consent              string            `json:"consent"`
	Redirect             struct {
		Base, State, Iss, Error string
		StateMatches            bool
	} `json:"redirect"`
	TokenScope      string      `json:"tokenScope"`
	ExpiresIn       float64     `json:"expiresIn"`
	GotRefreshToken bool        `json:"gotRefreshToken"`
	ProtocolVersion string      `json:"protocolVersion"`
	BestPerson      string      `json:"bestPerson"`
	WhoAmI          oauthWhoAmI `json:"whoami"`
	Refresh         struct {
		Result                  string
		NewAccessToken, Rotated bool
	} `json:"refresh"`
	AfterRefresh struct {
		BestPerson string      `json:"bestPerson"`
		WhoAmI     oauthWhoAmI `json:"whoami"`
	} `json:"afterRefresh"`
	Replay struct {
		Status int
		Error  string
	} `json:"replay"`
}

type oauthWhoAmI struct {
	Authenticated bool
	ClientID      string
	Resource      string
	Scopes        []string
	TokenExpiry   string
	Mode          string
}

// TestOAuthTypeScriptClient: the official TypeScript SDK client's OAuth support (@modelcontextprotocol/sdk 1.32.2)
// completes discovery → registration → authorize → token → initialize → tools/call → refresh → tools/call against
// `mcpwatch serve`: with dynamic registration and the consent form submitted; with --auto-approve and a
// confidential (client_secret_post) client; and with a client ID metadata document instead of registration.
func TestOAuthTypeScriptClient(t *testing.T) {
	cases := []struct {
		name       string
		serveArgs  []string
		authMethod string
		cimd       bool
		consent    string
	}{
		{name: "dcr/consent-form", authMethod: "none", consent: "form"},
		{name: "dcr/auto-approve/client_secret_post", serveArgs: []string{"--auto-approve"}, authMethod: "client_secret_post", consent: "auto"},
		{name: "cimd/consent-form", authMethod: "none", cimd: true, consent: "form"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"--url", "", "--auth-method", tc.authMethod}
			var srv *Proc
			var doc *cimdDoc
			if tc.cimd {
				doc = newCIMDDoc(t, "http://127.0.0.1:33418/callback")
				cmd := Command(WithAddr(append([]string{"serve", "--allow-loopback-cimd"}, tc.serveArgs...))...)
				cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+doc.caFile)
				srv = StartCmd(t, cmd)
				args = append(args, "--client-metadata-url", doc.url)
			} else {
				srv = Start(t, append([]string{"serve"}, tc.serveArgs...)...)
			}
			args[1] = srv.URL + "/mcp"
			res := Node(t, 2*time.Minute, "oauth_client.mjs", args...)
			if res.Code != 0 {
				t.Fatalf("oauth_client.mjs exited with code %d:\n%s\n%s", res.Code, res.Stderr, res.Stdout)
			}
			var out oauthClientOut
			if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
				t.Fatalf("oauth_client.mjs output: %v\n%s", err, res.Stdout)
			}
			checkOAuthClientOut(t, srv.URL, tc.consent, out)
			switch {
			case tc.cimd && out.ClientID != doc.url:
				t.Errorf("client_id %q, want the metadata document URL %q", out.ClientID, doc.url)
			case !tc.cimd && !strings.HasPrefix(out.ClientID, "mcpw_c_"):
				t.Errorf("client_id %q is not a registered one", out.ClientID)
			}
			if out.ClientSecretIssued != (tc.authMethod == "client_secret_post") {
				t.Errorf("client secret issued = %v for %s", out.ClientSecretIssued, tc.authMethod)
			}

			srv.Stop()
			var lines []string
			for _, l := range HeadlessLines(t, srv.Stdout()) {
				lines = append(lines, fmt.Sprintf("%s %s %s", l.Method, l.Path, l.Status))
			}
			want := []string{"POST /mcp 401", "GET /.well-known/oauth-protected-resource/mcp 200", "GET /.well-known/oauth-authorization-server 200",
				"POST /token 200", "POST /mcp 200", "POST /token 400"}
			if tc.cimd {
				// The document fetch is an outbound exchange, on stdout like the others; the client never registered.
				want = append(want, "GET /client.json 200")
				if slices.Contains(lines, "POST /register 201") {
					t.Errorf("a metadata-document client registered")
				}
				if doc.hits() == 0 {
					t.Errorf("the metadata document was never fetched")
				}
			} else {
				want = append(want, "POST /register 201")
			}
			if tc.consent == "form" {
				want = append(want, "GET /authorize 200", "POST /authorize 302")
			} else {
				want = append(want, "GET /authorize 302")
			}
			for _, w := range want {
				if !slices.Contains(lines, w) {
					t.Errorf("no %q among the headless lines:\n%s", w, strings.Join(lines, "\n"))
				}
			}
		})
	}
}

func checkOAuthClientOut(t *testing.T, base, consent string, out oauthClientOut) {
	t.Helper()
	ar := out.AuthorizationRequest
	if ar["code_challenge_method"] != "S256" || ar["resource"] != base+"/mcp" || ar["client_id"] != out.ClientID {
		t.Errorf("authorization request %v", ar)
	}
	if out.Consent != consent {
		t.Errorf("consent %q, want %q", out.Consent, consent)
	}
	r := out.Redirect
	if r.Base != "http://127.0.0.1:33418/callback" || !r.StateMatches || r.Iss != base || r.Error != "" {
		t.Errorf("redirect %+v, want the callback with the client's state and iss %s", r, base)
	}
	if !out.GotRefreshToken || out.ExpiresIn <= 0 || out.TokenScope != "mcp" {
		t.Errorf("token: refresh %v, expires_in %v, scope %q", out.GotRefreshToken, out.ExpiresIn, out.TokenScope)
	}
	if out.ProtocolVersion != "2025-11-25" || !strings.Contains(out.BestPerson, "Grace Hopper") {
		t.Errorf("initialize %q, tools/call %q", out.ProtocolVersion, out.BestPerson)
	}
	for name, w := range map[string]oauthWhoAmI{"before refresh": out.WhoAmI, "after refresh": out.AfterRefresh.WhoAmI} {
		if !w.Authenticated || w.ClientID != out.ClientID || w.Resource != base+"/mcp" || !slices.Equal(w.Scopes, []string{"mcp"}) || w.TokenExpiry == "" {
			t.Errorf("whoami %s: %+v", name, w)
		}
	}
	if out.Refresh.Result != "AUTHORIZED" || !out.Refresh.NewAccessToken || !out.Refresh.Rotated {
		t.Errorf("refresh %+v, want a new access token and a rotated refresh token", out.Refresh)
	}
	if out.WhoAmI.TokenExpiry == out.AfterRefresh.WhoAmI.TokenExpiry {
		t.Errorf("the tool call after the refresh ran with the old token (same expiry %s)", out.WhoAmI.TokenExpiry)
	}
	if !strings.Contains(out.AfterRefresh.BestPerson, "Ada Lovelace") {
		t.Errorf("tools/call after refresh: %q", out.AfterRefresh.BestPerson)
	}
	if out.Replay.Status != http.StatusBadRequest || out.Replay.Error != "invalid_grant" {
		t.Errorf("replayed refresh token: %+v, want 400 invalid_grant", out.Replay)
	}
}

// cimdDoc serves a client ID metadata document over https on loopback; caFile is its certificate, for the
// mcpwatch process's SSL_CERT_FILE.
type cimdDoc struct {
	url    string
	caFile string
	mu     sync.Mutex
	n      int
}

func (d *cimdDoc) hits() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n
}

func newCIMDDoc(t *testing.T, redirect string) *cimdDoc {
	t.Helper()
	d := &cimdDoc{}
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/client.json" {
			http.NotFound(w, r)
			return
		}
		d.mu.Lock()
		d.n++
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"client_id": d.url, "client_name": "mcpwatch e2e metadata-document client", "redirect_uris": []string{redirect},
			"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"}, "token_endpoint_auth_method": "none",
		})
	}))
	t.Cleanup(ts.Close)
	d.url = ts.URL + "/client.json"
	d.caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(d.caFile, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestOAuthConformanceAuthorizationServer runs the conformance suite's authorization-server mode against
// mcpwatch's AS: the metadata check and the authorization code grant. The suite prints an authorization URL and
// waits for a browser; the test follows it (with --auto-approve the server redirects at once to the suite's
// callback server).
func TestOAuthConformanceAuthorizationServer(t *testing.T) {
	srv := Start(t, "serve", "--auto-approve")
	// The suite's callback port: a free one, registered (any loopback port would match, RFC 8252 §7.3).
	port := freePort(t)
	reg := postJSON(t, srv.URL+"/register", `{"client_name":"conformance suite","redirect_uris":["http://127.0.0.1:`+port+`/callback"]}`)
	clientID, _ := reg["client_id"].(string)
	if clientID == "" {
		t.Fatalf("register: %v", reg)
	}
	out := t.TempDir()
	cli := requireNodeFile(t, filepath.Join("node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js"))
	cmd := exec.Command(NodeBinary(t), cli, "authorization", "--url", srv.URL, "--client-id", clientID,
		"--resource", srv.URL+"/mcp", "-p", port, "-o", out)
	cmd.Dir = NodeDir()
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var printed strings.Builder
	var mu sync.Mutex
	urls := make(chan string, 1)
	go func() {
		// The suite prints the URL, then starts its callback server ("Callback server started: ..."); follow the
		// URL once both happened.
		sc := bufio.NewScanner(stdout)
		authURL := ""
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			printed.WriteString(line + "\n")
			mu.Unlock()
			switch {
			case strings.HasPrefix(line, srv.URL+"/authorize?"):
				authURL = line
			case strings.HasPrefix(line, "Callback server started") && authURL != "":
				urls <- authURL
			}
		}
		done <- cmd.Wait()
	}()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return printed.String()
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // only if it is still running after a failure

	select {
	case u := <-urls:
		// The browser: GET the authorization URL and follow the redirect to the suite's callback server.
		client := &http.Client{Timeout: 30 * time.Second}
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("following the authorization URL: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Request.URL.String(), "127.0.0.1:"+port+"/callback?") {
			t.Fatalf("the authorization URL ended at %s (HTTP %d): %s", resp.Request.URL, resp.StatusCode, body)
		}
	case err := <-done:
		t.Fatalf("the suite ended (%v) before printing an authorization URL:\n%s\n%s", err, output(), stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("no authorization URL from the suite:\n%s", output())
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("conformance authorization exited: %v\n%s\n%s", err, output(), stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the suite did not finish:\n%s", output())
	}

	// Every check of both scenarios passed (the CIMD support check is a WARNING when missing: require SUCCESS).
	checks := readAuthConformance(t, out)
	for _, scenario := range []string{"authorization-server-metadata-endpoint", "authorization-code-grant"} {
		if len(checks[scenario]) == 0 {
			t.Errorf("scenario %s did not run:\n%s", scenario, output())
		}
		for _, c := range checks[scenario] {
			if c.Status != "SUCCESS" {
				t.Errorf("%s: check %s is %s: %s", scenario, c.ID, c.Status, c.ErrorMessage)
			}
		}
	}
	t.Logf("conformance authorization:\n%s", output())
}

type authCheck struct {
	ID, Status, ErrorMessage string
}

var authResultDirRE = regexp.MustCompile(`^authorization-server-(.+)-\d{4}-\d{2}-\d{2}T[0-9-]+Z$`)

func readAuthConformance(t *testing.T, dir string) map[string][]authCheck {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]authCheck{}
	for _, e := range entries {
		m := authResultDirRE.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("unexpected entry in the suite's output: %s", e.Name())
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "checks.json"))
		if err != nil {
			t.Fatal(err)
		}
		var checks []authCheck
		if err := json.Unmarshal(data, &checks); err != nil {
			t.Fatal(err)
		}
		out[m[1]] = checks
	}
	return out
}

// TestOAuthStateFile: the registered clients and grants survive a restart on the default state file (under
// XDG_STATE_HOME), and --ephemeral keeps nothing.
func TestOAuthStateFile(t *testing.T) {
	state := t.TempDir()
	start := func(args ...string) *Proc {
		cmd := Command(WithAddr(append([]string{"serve"}, args...))...)
		cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
		return StartCmd(t, cmd)
	}
	path := filepath.Join(state, "mcpwatch", "state.json")
	srv := start("--auto-approve")
	if !oauthWaitStderr(srv, "auth: OAuth 2.1 on") || !strings.Contains(srv.Stderr(), path) {
		t.Errorf("banner does not say auth is on with the state file %s:\n%s", path, srv.Stderr())
	}
	const redirect = "http://127.0.0.1:33418/callback"
	clientID, refresh := codeFlow(t, srv.URL, redirect)
	srv.Stop()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no state file: %v", err)
	}

	// A new process (on another port) knows the client and honours its refresh token.
	srv = start("--auto-approve")
	tok := postForm(t, srv.URL+"/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {clientID}})
	if tok["access_token"] == nil {
		t.Errorf("refresh after restart: %v", tok)
	}
	resp, err := noRedirect().Get(srv.URL + "/authorize?" + authorizeParams(clientID, redirect).Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("authorize for the client registered before the restart: HTTP %d", resp.StatusCode)
	}
	srv.Stop()

	// --ephemeral: nothing written, and the client is unknown to it.
	os.Remove(path)
	srv = start("--ephemeral", "--auto-approve")
	if !oauthWaitStderr(srv, "in memory only") {
		t.Errorf("banner:\n%s", srv.Stderr())
	}
	codeFlow(t, srv.URL, redirect)
	resp, err = noRedirect().Get(srv.URL + "/authorize?" + authorizeParams(clientID, redirect).Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "earlier run of mcpwatch") {
		t.Errorf("authorize for a client --ephemeral never saw: HTTP %d\n%s", resp.StatusCode, body)
	}
	srv.Stop()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("--ephemeral wrote %s (%v)", path, err)
	}

	// A corrupt state file is a clear error at start, and is left alone.
	os.WriteFile(path, []byte("{not json"), 0o600)
	cmd := Command("serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
	res := RunCmd(t, 30*time.Second, cmd)
	if res.Code != 1 || !strings.Contains(res.Stderr, path) || !strings.Contains(res.Stderr, "--ephemeral") {
		t.Errorf("corrupt state: exit %d\n%s", res.Code, res.Stderr)
	}
	if b, _ := os.ReadFile(path); string(b) != "{not json" {
		t.Error("the corrupt state file was changed")
	}
	// --no-auth: no auth, no state.
	srv = start("--no-auth")
	if !oauthWaitStderr(srv, "auth: off") {
		t.Errorf("banner with --no-auth:\n%s", srv.Stderr())
	}
}

// oauthWaitStderr waits for the banner line with s (the banner's lines follow "listening on", which Start waits for).
func oauthWaitStderr(p *Proc, s string) bool {
	return p.stderr.waitFor(5*time.Second, p.done, func(out string) bool { return strings.Contains(out, s) })
}

// codeFlow registers a public client and runs it to tokens against an --auto-approve server.
func codeFlow(t *testing.T, base, redirect string) (clientID, refresh string) {
	t.Helper()
	reg := postJSON(t, base+"/register", `{"client_name":"e2e","redirect_uris":["`+redirect+`"]}`)
	clientID, _ = reg["client_id"].(string)
	q := authorizeParams(clientID, redirect)
	resp, err := noRedirect().Get(base + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if resp.StatusCode != http.StatusFound || code == "" {
		t.Fatalf("authorize: HTTP %d %s", resp.StatusCode, loc)
	}
	tok := postForm(t, base+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID},
		"redirect_uri": {redirect}, "code_verifier": {e2eVerifier}})
	refresh, _ = tok["refresh_token"].(string)
	if refresh == "" {
		t.Fatalf("token: %v", tok)
	}
	return clientID, refresh
}

const e2eVerifier = "e2e-verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"

func authorizeParams(clientID, redirect string) url.Values {
	sum := sha256.Sum256([]byte(e2eVerifier))
	return url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"e2e"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
}

func noRedirect() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func postJSON(t *testing.T, u, body string) map[string]any {
	t.Helper()
	resp, err := noRedirect().Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, resp)
}

func postForm(t *testing.T, u string, v url.Values) map[string]any {
	t.Helper()
	resp, err := noRedirect().PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, resp)
}

func decodeJSON(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("HTTP %d, not JSON: %s", resp.StatusCode, b)
	}
	return m
}

// freePort returns a loopback TCP port that was free a moment ago (for a peer that must be told its port).
func freePort(t *testing.T) string {
	t.Helper()
	ts := httptest.NewServer(http.NotFoundHandler())
	u, _ := url.Parse(ts.URL)
	ts.Close()
	return u.Port()
}
