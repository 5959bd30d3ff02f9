package e2e

// Issue 4 (recorder), judged against the real binary: after whole handshakes against `mcpwatch serve` with its
// real OAuth server, the capture file holds exactly one line per request the client sent, each with the right
// stage, the analysis finds nothing wrong with a healthy run, and the HAR export of such a run (an authorization
// request with a literal URL in its query included) validates.
//
// The client side counts what it sends itself: in Go a RoundTripper that logs every request, for the TypeScript SDK
// e2e/node/fetch_log.mjs, which runs oauth_client.mjs unchanged with the global fetch instrumented. The expected
// stage of every request is written out below from DESIGN.md's words, not computed by the code under test.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// sentRequest is one HTTP request as the client that sent it saw it.
type sentRequest struct {
	Seq      int      `json:"seq"`
	Method   string   `json:"method"`
	URL      string   `json:"url"`      // absolute, as the client addressed it
	Sent     float64  `json:"sent"`     // ms on the client's monotonic clock, when the request was handed to the transport
	Answered *float64 `json:"answered"` // ms, when the response headers arrived; nil: no response
	Status   int      `json:"status"`
	Error    string   `json:"error"`
}

// target is the request target: path and query exactly as sent.
func (r sentRequest) target(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatalf("request %d: %v", r.Seq, err)
	}
	return u.RequestURI()
}

func (r sentRequest) path(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatalf("request %d: %v", r.Seq, err)
	}
	return u.Path
}

// wantRequest is what a request of a flow is, and the stage DESIGN.md gives it.
type wantRequest struct {
	method, path string
	stage        analysis.Stage
}

// clientWire is the client side of the wire in Go: it logs every request the client sends, and, when public is set,
// carries the requests for the public host to the local listener the way a TLS-terminating tunnel (cloudflared)
// does: the Host header kept, X-Forwarded-Proto added.
type clientWire struct {
	public, local *url.URL
	base          *http.Transport
	t0            time.Time

	mu   sync.Mutex
	reqs []sentRequest
}

func newClientWire(t *testing.T, local, public string) *clientWire {
	t.Helper()
	w := &clientWire{base: &http.Transport{}, t0: time.Now()}
	var err error
	if w.local, err = url.Parse(local); err != nil {
		t.Fatal(err)
	}
	if public != "" {
		if w.public, err = url.Parse(public); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(w.base.CloseIdleConnections)
	return w
}

func (w *clientWire) since() float64 { return float64(time.Since(w.t0)) / float64(time.Millisecond) }

func (w *clientWire) RoundTrip(req *http.Request) (*http.Response, error) {
	w.mu.Lock()
	i := len(w.reqs)
	w.reqs = append(w.reqs, sentRequest{Seq: i + 1, Method: req.Method, URL: req.URL.String(), Sent: w.since()})
	w.mu.Unlock()
	out := req
	if w.public != nil && req.URL.Host == w.public.Host {
		out = req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host = w.local.Scheme, w.local.Host
		out.Host = w.public.Host
		out.Header.Set("X-Forwarded-Proto", w.public.Scheme)
	}
	resp, err := w.base.RoundTrip(out)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.reqs[i].Error = err.Error()
		return nil, err
	}
	at := w.since()
	w.reqs[i].Answered, w.reqs[i].Status = &at, resp.StatusCode
	return resp, nil
}

func (w *clientWire) sent() []sentRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.reqs)
}

// browserClient is an HTTP client over a clientWire that keeps cookies (the consent page's) and does not follow
// redirects (the client reads each Location itself).
type browserClient struct {
	t    *testing.T
	wire *clientWire
	http *http.Client
}

func newBrowserClient(t *testing.T, wire *clientWire) *browserClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browserClient{t: t, wire: wire, http: &http.Client{Transport: wire, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type wireReply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (c *browserClient) do(method, u string, header map[string]string, body string) *wireReply {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return &wireReply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (r *wireReply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("not JSON (HTTP %d): %v\n%s", r.Status, err, r.Body)
	}
	return m
}

// rpc reads the JSON-RPC message of a reply: a JSON body or the first data event of an SSE body.
func (r *wireReply) rpc(t *testing.T) map[string]any {
	t.Helper()
	body := r.Body
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		body = nil
		sc := bufio.NewScanner(strings.NewReader(string(r.Body)))
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data:"); ok && strings.TrimSpace(d) != "" {
				body = []byte(strings.TrimSpace(d))
				break
			}
		}
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not a JSON-RPC message (HTTP %d): %v\n%s", r.Status, err, r.Body)
	}
	if _, ok := m["result"]; !ok {
		t.Fatalf("JSON-RPC error or no result (HTTP %d): %s", r.Status, r.Body)
	}
	return m
}

var (
	consentFormRE  = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	hiddenInputRE  = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)
	approveInputRE = regexp.MustCompile(`<button[^>]*name="action" value="approve"`)
	resourceMetaRE = regexp.MustCompile(`resource_metadata="([^"]+)"`)
	scopeParamRE   = regexp.MustCompile(`scope="([^"]*)"`)
)

// consent plays the user's browser on an authorization URL that shows mcpwatch's consent page: GET the page, read
// its form (action, hidden fields), and submit it with Approve as the browser would (with the page's cookie, which
// the jar keeps, and the page's origin). It returns the redirect back to the client.
func (c *browserClient) consent(authorizeURL string) *url.URL {
	c.t.Helper()
	page := c.do("GET", authorizeURL, map[string]string{"Accept": "text/html"}, "")
	if page.Status != http.StatusOK || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		c.t.Fatalf("authorize: HTTP %d %s, want the consent page\n%s", page.Status, page.Header.Get("Content-Type"), page.Body)
	}
	m := consentFormRE.FindSubmatch(page.Body)
	if m == nil || !approveInputRE.Match(page.Body) {
		c.t.Fatalf("no consent form with an Approve button on the page:\n%s", page.Body)
	}
	pageURL, _ := url.Parse(authorizeURL)
	action, err := pageURL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		c.t.Fatal(err)
	}
	form := url.Values{}
	for _, f := range hiddenInputRE.FindAllSubmatch(page.Body, -1) {
		form.Set(string(f[1]), html.UnescapeString(string(f[2])))
	}
	if form.Get("csrf") == "" || form.Get("consent") == "" {
		c.t.Fatalf("the consent form has no CSRF token or consent id: %v", form)
	}
	form.Set("action", "approve") // the button clicked
	r := c.do("POST", action.String(), map[string]string{"Content-Type": "application/x-www-form-urlencoded",
		"Origin": pageURL.Scheme + "://" + pageURL.Host, "Referer": authorizeURL}, form.Encode())
	if r.Status != http.StatusFound {
		c.t.Fatalf("consent: HTTP %d\n%s", r.Status, r.Body)
	}
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		c.t.Fatal(err)
	}
	return loc
}

func e2ePKCE() (verifier, challenge string) {
	verifier = "capture-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABC"
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestCaptureMatchesRequestsSent: after a whole handshake against `mcpwatch serve --capture PATH` (its real OAuth
// server and consent page, no --no-auth) and a clean stop, the capture file holds exactly one inbound line per
// request the client sent — same method, path and query, in the order they started — each with the stage
// DESIGN.md gives it, and the analysis (its absence rules judged past their grace period) finds nothing wrong with
// the healthy runs (the seed's 2024 client gets one informational finding: it sends no resource parameter). The
// HAR export of each run validates against the HAR 1.2 schema and Chromium's importer.
func TestCaptureMatchesRequestsSent(t *testing.T) {
	t.Run("claude-web-2024-11-05", testCaptureClaudeWeb)
	t.Run("claude-2026-07-28", testCaptureClaude2026)
	t.Run("typescript-sdk-session", testCaptureTypeScriptSDK)
	t.Run("typescript-sdk-oauth-client", testCaptureTypeScriptSDKRefresh)
}

// testCaptureClaudeWeb replays the Claude web app's handshake as shared/reference/seed-remote-mcp-auth.txt records
// it (the request sequence of server/handshake_test.go's TestClaudeWebHandshake), through a tunnel's public URL:
// initialize without a token and the GET, both answered 401 with the challenge; the resource metadata (today's
// Claude reads it, shared/reference/clients-and-peers.md §1; the seed's did not); the authorization server
// metadata; DCR with client_name and scope claudeai; authorize through the consent page; the token request as a
// JSON body; initialize at 2024-11-05 with the token, notifications/initialized, tools/list, prompts/list,
// resources/list ("the Claude app always requests" the three) and tools/call.
func testCaptureClaudeWeb(t *testing.T) {
	t.Parallel()
	const public = "https://garbage-actress-light-legislature.trycloudflare.com"
	const callback = "https://claude.ai/api/mcp/auth_callback"
	capture := filepath.Join(t.TempDir(), "claude-web.jsonl")
	srv := Start(t, "serve", "--public-url", public, "--capture", capture)
	wire := newClientWire(t, srv.URL, public)
	c := newBrowserClient(t, wire)

	initialize := `{
  "method": "initialize",
  "params": {
    "protocolVersion": "2024-11-05",
    "capabilities": {},
    "clientInfo": {
      "name": "claude-ai",
      "version": "0.1.0"
    }
  },
  "jsonrpc": "2.0",
  "id": 0
}`
	mcpHeaders := func(token, session string) map[string]string {
		h := map[string]string{"Accept": "application/json, text/event-stream", "Accept-Encoding": "gzip", "Content-Type": "application/json"}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		if session != "" {
			h["Mcp-Session-Id"] = session
		}
		return h
	}

	// Adding the connector: initialize and GET without a token.
	r := c.do("POST", public+"/mcp", mcpHeaders("", ""), initialize)
	rm := resourceMetaRE.FindStringSubmatch(r.Header.Get("WWW-Authenticate"))
	if r.Status != http.StatusUnauthorized || rm == nil {
		t.Fatalf("initialize without a token: HTTP %d, WWW-Authenticate %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	if r = c.do("GET", public+"/mcp", map[string]string{"Accept": "text/event-stream"}, ""); r.Status != http.StatusUnauthorized {
		t.Fatalf("GET without a token: HTTP %d", r.Status)
	}

	// Connect: discovery, registration, authorization, token.
	prm := c.do("GET", rm[1], nil, "").json(t)
	servers, _ := prm["authorization_servers"].([]any)
	if prm["resource"] != public+"/mcp" || len(servers) == 0 {
		t.Fatalf("resource metadata: %v", prm)
	}
	asm := c.do("GET", fmt.Sprint(servers[0])+"/.well-known/oauth-authorization-server", nil, "").json(t)
	reg := c.do("POST", fmt.Sprint(asm["registration_endpoint"]), map[string]string{"Content-Type": "application/json"}, `{
  "client_name": "claudeai",
  "grant_types": [
    "authorization_code",
    "refresh_token"
  ],
  "redirect_uris": [
    "`+callback+`"
  ],
  "response_types": [
    "code"
  ],
  "scope": "claudeai",
  "token_endpoint_auth_method": "none"
}`)
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: HTTP %d %s", reg.Status, reg.Body)
	}
	clientID, _ := reg.json(t)["client_id"].(string)
	verifier, challenge := e2ePKCE()
	q := url.Values{"client_id": {clientID}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		"redirect_uri": {callback}, "response_type": {"code"}, "scope": {"claudeai"}, "state": {"claude-state-1"}}
	loc := c.consent(fmt.Sprint(asm["authorization_endpoint"]) + "?" + q.Encode())
	code := loc.Query().Get("code")
	if loc.Scheme+"://"+loc.Host+loc.Path != callback || loc.Query().Get("state") != "claude-state-1" || code == "" {
		t.Fatalf("redirect to Claude: %s", loc)
	}
	body, _ := json.Marshal(map[string]string{"client_id": clientID, "code": code, "code_verifier": verifier,
		"grant_type": "authorization_code", "redirect_uri": callback})
	tok := c.do("POST", fmt.Sprint(asm["token_endpoint"]), map[string]string{"Content-Type": "application/json"}, string(body)).json(t)
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("token: %v", tok)
	}

	// The MCP session with the token.
	r = c.do("POST", public+"/mcp", mcpHeaders(access, ""), initialize)
	sid := r.Header.Get("Mcp-Session-Id")
	if res := r.rpc(t); r.Status != http.StatusOK || sid == "" || res["result"].(map[string]any)["protocolVersion"] != "2024-11-05" {
		t.Fatalf("initialize with the token: HTTP %d, session %q, %v", r.Status, sid, res)
	}
	if r = c.do("POST", public+"/mcp", mcpHeaders(access, sid), `{"jsonrpc":"2.0","method":"notifications/initialized"}`); r.Status != http.StatusAccepted {
		t.Fatalf("notifications/initialized: HTTP %d %s", r.Status, r.Body)
	}
	for i, m := range []string{"tools/list", "prompts/list", "resources/list"} {
		c.do("POST", public+"/mcp", mcpHeaders(access, sid), fmt.Sprintf(`{"id":%d,"jsonrpc":"2.0","method":%q,"params":{}}`, i+1, m)).rpc(t)
	}
	call := c.do("POST", public+"/mcp", mcpHeaders(access, sid),
		`{"id":4,"jsonrpc":"2.0","method":"tools/call","params":{"name":"best_person_looker_upper","arguments":{"startsWith":"Gr"}}}`).rpc(t)
	if !strings.Contains(fmt.Sprint(call["result"]), "Grace Hopper") {
		t.Fatalf("tools/call: %v", call)
	}

	srv.Stop()
	sent := wire.sent()
	want := []wantRequest{
		{"POST", "/mcp", analysis.StageChallenge},
		{"GET", "/mcp", analysis.StageChallenge},
		{"GET", "/.well-known/oauth-protected-resource/mcp", analysis.StageResourceMetadata},
		{"GET", "/.well-known/oauth-authorization-server", analysis.StageAuthMetadata},
		{"POST", "/register", analysis.StageRegister},
		{"GET", "/authorize", analysis.StageAuthorize},
		{"POST", "/authorize", analysis.StageConsent},
		{"POST", "/token", analysis.StageToken},
		{"POST", "/mcp", analysis.StageInitialize},
		{"POST", "/mcp", analysis.StageInitialized},
		{"POST", "/mcp", analysis.StageList},
		{"POST", "/mcp", analysis.StageList},
		{"POST", "/mcp", analysis.StageList},
		{"POST", "/mcp", analysis.StageCall},
	}
	exs := checkCaptureAgainstSent(t, capture, sent, false, want)
	if exs == nil {
		return
	}
	// No finding: the seed's client sends no resource parameter (RFC 8707) on the authorization request, which the
	// spec asks of clients only from 2025-06-18 on; it negotiates 2024-11-05.
	rep := analyseCapture(exs).Report()
	checkNoFindings(t, rep)
	checkOneConnection(t, rep, analysis.ClientClaude)
	checkHARExport(t, capture, sent, want)
}

// testCaptureClaude2026 is the 2026-07-28 opening (server/handshake_test.go's TestModernHandshake, on loopback
// without a tunnel): server/discover without a token (401), the resource and authorization server metadata, DCR
// with application_type, the authorization request through the consent page — with the resource indicator written
// as a literal URL in the query (resource=http://127.0.0.1:PORT/mcp, legal in a query: RFC 3986 §3.4) — the token
// request with the resource, then server/discover, tools/list and tools/call with the token, statelessly.
func testCaptureClaude2026(t *testing.T) {
	t.Parallel()
	const callback = "https://claude.ai/api/mcp/auth_callback"
	capture := filepath.Join(t.TempDir(), "claude-2026.jsonl")
	srv := Start(t, "serve", "--capture", capture)
	wire := newClientWire(t, srv.URL, "")
	c := newBrowserClient(t, wire)
	mcpURL := srv.URL + "/mcp"

	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},` +
		`"io.modelcontextprotocol/clientInfo":{"name":"Anthropic/ClaudeAI","version":"1.0.0"}}`
	hdr := func(method, name, token string) map[string]string {
		h := map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
			"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": method}
		if name != "" {
			h["Mcp-Name"] = name
		}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		return h
	}
	discover := `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{` + meta + `}}`

	r := c.do("POST", mcpURL, hdr("server/discover", "", ""), discover)
	wa := r.Header.Get("WWW-Authenticate")
	rm := resourceMetaRE.FindStringSubmatch(wa)
	if r.Status != http.StatusUnauthorized || rm == nil {
		t.Fatalf("server/discover without a token: HTTP %d %q", r.Status, wa)
	}
	scope := "mcp"
	if m := scopeParamRE.FindStringSubmatch(wa); m != nil {
		scope = m[1]
	}
	prm := c.do("GET", rm[1], nil, "").json(t)
	servers, _ := prm["authorization_servers"].([]any)
	if prm["resource"] != mcpURL || len(servers) == 0 {
		t.Fatalf("resource metadata: %v", prm)
	}
	asm := c.do("GET", fmt.Sprint(servers[0])+"/.well-known/oauth-authorization-server", nil, "").json(t)
	reg := c.do("POST", fmt.Sprint(asm["registration_endpoint"]), map[string]string{"Content-Type": "application/json"},
		`{"client_name":"Claude","application_type":"web","redirect_uris":["`+callback+`"],`+
			`"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`)
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: HTTP %d %s", reg.Status, reg.Body)
	}
	clientID, _ := reg.json(t)["client_id"].(string)
	verifier, challenge := e2ePKCE()
	// The query by hand: url.Values would percent-encode the resource; here it stays a literal URL.
	query := "response_type=code&client_id=" + url.QueryEscape(clientID) + "&redirect_uri=" + url.QueryEscape(callback) +
		"&code_challenge=" + challenge + "&code_challenge_method=S256&resource=" + mcpURL + "&state=s2026&scope=" + url.QueryEscape(scope)
	loc := c.consent(fmt.Sprint(asm["authorization_endpoint"]) + "?" + query)
	code := loc.Query().Get("code")
	if loc.Scheme+"://"+loc.Host+loc.Path != callback || loc.Query().Get("state") != "s2026" || code == "" {
		t.Fatalf("redirect to Claude: %s", loc)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"client_id": {clientID}, "redirect_uri": {callback}, "resource": {mcpURL}}
	tok := c.do("POST", fmt.Sprint(asm["token_endpoint"]), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode()).json(t)
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("token: %v", tok)
	}

	r = c.do("POST", mcpURL, hdr("server/discover", "", access), discover)
	if res := r.rpc(t); r.Status != http.StatusOK || !strings.Contains(fmt.Sprint(res["result"]), "2026-07-28") {
		t.Fatalf("server/discover with the token: HTTP %d %v", r.Status, res)
	}
	list := c.do("POST", mcpURL, hdr("tools/list", "", access), `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{`+meta+`}}`).rpc(t)
	if !strings.Contains(fmt.Sprint(list["result"]), "best_person_looker_upper") {
		t.Fatalf("tools/list: %v", list)
	}
	call := c.do("POST", mcpURL, hdr("tools/call", "best_person_looker_upper", access),
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"best_person_looker_upper","arguments":{"startsWith":"Ada"},`+meta+`}}`).rpc(t)
	if !strings.Contains(fmt.Sprint(call["result"]), "Ada Lovelace") {
		t.Fatalf("tools/call: %v", call)
	}

	srv.Stop()
	sent := wire.sent()
	want := []wantRequest{
		{"POST", "/mcp", analysis.StageChallenge},
		{"GET", "/.well-known/oauth-protected-resource/mcp", analysis.StageResourceMetadata},
		{"GET", "/.well-known/oauth-authorization-server", analysis.StageAuthMetadata},
		{"POST", "/register", analysis.StageRegister},
		{"GET", "/authorize", analysis.StageAuthorize},
		{"POST", "/authorize", analysis.StageConsent},
		{"POST", "/token", analysis.StageToken},
		{"POST", "/mcp", analysis.StageDiscover},
		{"POST", "/mcp", analysis.StageList},
		{"POST", "/mcp", analysis.StageCall},
	}
	// Until the fix of recorder/exchange.go Exchange.Target (branch analysis) is merged, this subtest fails on main:
	// Target cuts the request target at the "://" inside the query, so the captured path of the authorization
	// request reads "/mcp&state=s2026&scope=mcp"; and the HAR exporter (recorder/export/export.go absoluteURL) takes
	// a target with "://" anywhere for an absolute URL, so the HAR's request.url is relative (the HAR 1.2 schema's
	// "uri" format and Chromium's importer refuse it) and its queryString empty.
	exs := checkCaptureAgainstSent(t, capture, sent, false, want)
	if exs == nil {
		return
	}
	a := analyseCapture(exs)
	checkNoFindings(t, a.Report())
	checkOneConnection(t, a.Report(), analysis.ClientClaude)

	// The HAR export of this run: the authorization request keeps its literal resource URL, in request.url and in
	// queryString.
	har := checkHARExport(t, capture, sent, want)
	authorizeTarget := sent[4].target(t)
	var found bool
	for _, e := range har.Log.Entries {
		if e.Request.Method != "GET" || !strings.Contains(e.Request.URL, "/authorize?") {
			continue
		}
		found = true
		if e.Request.URL != srv.URL+authorizeTarget {
			t.Errorf("HAR request.url of the authorization request:\n got %s\nwant %s", e.Request.URL, srv.URL+authorizeTarget)
		}
		if !slices.Contains(e.Request.QueryString, harPair{Name: "resource", Value: mcpURL}) {
			t.Errorf("HAR queryString of the authorization request has no resource=%s: %v", mcpURL, e.Request.QueryString)
		}
	}
	if !found {
		t.Errorf("no GET /authorize?… entry in the HAR")
	}
}

// runLoggedNode runs a Node script of e2e/node under fetch_log.mjs against a fresh `mcpwatch serve --capture PATH`,
// stops the server cleanly, and returns the script's stdout, the requests it sent and the capture file's path.
func runLoggedNode(t *testing.T, script string) (stdout string, sent []sentRequest, capture string, srv *Proc) {
	t.Helper()
	capture = filepath.Join(t.TempDir(), "capture.jsonl")
	srv = Start(t, "serve", "--capture", capture)
	logFile := filepath.Join(t.TempDir(), "requests.json")
	res := Node(t, 2*time.Minute, "fetch_log.mjs", "--log", logFile, script, "--url", srv.URL+"/mcp")
	if res.Code != 0 {
		t.Fatalf("%s exited with code %d:\n%s\n%s", script, res.Code, res.Stderr, res.Stdout)
	}
	srv.Stop()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sent); err != nil {
		t.Fatalf("request log: %v\n%s", err, b)
	}
	return res.Stdout, sent, capture, srv
}

const (
	prmPath = "/.well-known/oauth-protected-resource/mcp"
	asmPath = "/.well-known/oauth-authorization-server"
)

// testCaptureTypeScriptSDK runs one healthy session of the official TypeScript SDK client with its OAuth support
// (e2e/node/oauth_session.mjs: the SDK's discovery, registration and token exchange, the consent form submitted,
// then initialize, tools/list, tools/call and DELETE) under fetch_log.mjs, which logs every request the SDK sends
// and tags each with x-e2e-seq.
func testCaptureTypeScriptSDK(t *testing.T) {
	t.Parallel()
	stdout, sent, capture, _ := runLoggedNode(t, "oauth_session.mjs")
	var out struct {
		Consent, ProtocolVersion, SessionID, BestPerson string
		Tools                                           []string
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("oauth_session.mjs output: %v\n%s", err, stdout)
	}
	if out.Consent != "form" || out.ProtocolVersion != "2025-11-25" || out.SessionID == "" ||
		!slices.Contains(out.Tools, "best_person_looker_upper") || !strings.Contains(out.BestPerson, "Grace Hopper") {
		t.Errorf("oauth_session.mjs: %+v", out)
	}
	want := []wantRequest{
		// The first connect: 401, discovery, registration; then the browser on the consent page.
		{"POST", "/mcp", analysis.StageChallenge},
		{"GET", prmPath, analysis.StageResourceMetadata},
		{"GET", asmPath, analysis.StageAuthMetadata},
		{"POST", "/register", analysis.StageRegister},
		{"GET", "/authorize", analysis.StageAuthorize},
		{"POST", "/authorize", analysis.StageConsent},
		// finishAuth: discovery again, the token exchange.
		{"GET", prmPath, analysis.StageResourceMetadata},
		{"GET", asmPath, analysis.StageAuthMetadata},
		{"POST", "/token", analysis.StageToken},
		// The session: initialize, initialized, the SDK's GET stream (opened in the background), tools/list,
		// tools/call, DELETE.
		{"POST", "/mcp", analysis.StageInitialize},
		{"POST", "/mcp", analysis.StageInitialized},
		{"GET", "/mcp", analysis.StageStream},
		{"POST", "/mcp", analysis.StageList},
		{"POST", "/mcp", analysis.StageCall},
		{"DELETE", "/mcp", analysis.StageTerminate},
	}
	exs := checkCaptureAgainstSent(t, capture, sent, true, want)
	if exs == nil {
		return
	}
	a := analyseCapture(exs)
	checkNoFindings(t, a.Report())
	if n := len(a.Report().Connections); n != 1 {
		t.Errorf("%d connections, want 1 (one client's run)", n)
	}
	checkHARExport(t, capture, sent, want)
}

// testCaptureTypeScriptSDKRefresh runs e2e/node/oauth_client.mjs, the SDK OAuth flow TestOAuthTypeScriptClient
// runs, unchanged, under fetch_log.mjs: the first flow, two sessions with a refresh between them, a last refresh and
// the replay of a retired refresh token. It is not a healthy run, on purpose: it calls tools without ever listing
// them, leaves the last refresh's access token unused, and replays a refresh token; the analysis must name exactly
// those three things. Two of them are absence rules, which fire only once their grace period has passed: this is
// the control that the other subtests' empty findings are not an artefact of a grace that had not elapsed.
func testCaptureTypeScriptSDKRefresh(t *testing.T) {
	t.Parallel()
	stdout, sent, capture, srv := runLoggedNode(t, "oauth_client.mjs")
	var out oauthClientOut
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("oauth_client.mjs output: %v\n%s", err, stdout)
	}
	checkOAuthClientOut(t, srv.URL, "form", out)
	want := []wantRequest{
		{"POST", "/mcp", analysis.StageChallenge},
		{"GET", prmPath, analysis.StageResourceMetadata},
		{"GET", asmPath, analysis.StageAuthMetadata},
		{"POST", "/register", analysis.StageRegister},
		{"GET", "/authorize", analysis.StageAuthorize},
		{"POST", "/authorize", analysis.StageConsent},
		{"GET", prmPath, analysis.StageResourceMetadata},
		{"GET", asmPath, analysis.StageAuthMetadata},
		{"POST", "/token", analysis.StageToken},
		// A session: initialize, initialized, the GET stream, two tool calls.
		{"POST", "/mcp", analysis.StageInitialize},
		{"POST", "/mcp", analysis.StageInitialized},
		{"GET", "/mcp", analysis.StageStream},
		{"POST", "/mcp", analysis.StageCall},
		{"POST", "/mcp", analysis.StageCall},
		// A refresh through the SDK's auth() (discovery first), and a session with the new token.
		{"GET", prmPath, analysis.StageResourceMetadata},
		{"GET", asmPath, analysis.StageAuthMetadata},
		{"POST", "/token", analysis.StageRefresh},
		{"POST", "/mcp", analysis.StageInitialize},
		{"POST", "/mcp", analysis.StageInitialized},
		{"GET", "/mcp", analysis.StageStream},
		{"POST", "/mcp", analysis.StageCall},
		{"POST", "/mcp", analysis.StageCall},
		// A last refresh whose access token is never used, then the replay of the first refresh token.
		{"GET", prmPath, analysis.StageResourceMetadata},
		{"GET", asmPath, analysis.StageAuthMetadata},
		{"POST", "/token", analysis.StageRefresh},
		{"GET", asmPath, analysis.StageAuthMetadata},
		{"POST", "/token", analysis.StageRefresh},
	}
	exs := checkCaptureAgainstSent(t, capture, sent, true, want)
	if len(exs) != len(want) || slices.Contains(exs, nil) {
		return
	}
	rep := analyseCapture(exs).Report()
	var got []string
	for _, f := range rep.Findings {
		switch f.Rule {
		case "tools-never-listed": // judged on the connection: its cause is one of the initialize exchanges
			if i := slices.IndexFunc(exs, func(ex *recorder.Exchange) bool { return ex.ID == f.ExchangeID }); i >= 0 && want[i].stage == analysis.StageInitialize {
				got = append(got, f.Rule+"@initialize")
				continue
			}
		}
		got = append(got, fmt.Sprintf("%s@%d", f.Rule, f.ExchangeID))
	}
	// The rotated refresh token presented again from the same address is a replay (refresh-token-replay), not a
	// race between two nodes.
	wantFindings := []string{fmt.Sprintf("refresh-rejected@%d", exs[26].ID), fmt.Sprintf("refresh-token-replay@%d", exs[26].ID),
		fmt.Sprintf("token-issued-unused@%d", exs[24].ID), "tools-never-listed@initialize"}
	slices.Sort(got)
	if !slices.Equal(got, wantFindings) {
		t.Errorf("findings: %v, want %v", got, wantFindings)
		logFindings(t, rep.Findings)
	}
	if len(rep.Connections) != 1 {
		t.Errorf("%d connections, want 1 (one client's run)", len(rep.Connections))
	}
	checkHARExport(t, capture, sent, want)
}

// checkCaptureAgainstSent loads the capture file (after a clean stop) and checks it against the requests the
// client sent: no torn or unreadable line, every exchange complete, exactly one inbound line per request sent, each
// with the request's method, path and query, in the order the requests started, and each with the wanted method,
// path and stage. byHeader pairs lines and requests by the x-e2e-seq header (a client with requests in flight at
// once), otherwise by position (a client that sends one request at a time, which is checked). It returns the
// inbound exchanges in the order of the requests.
func checkCaptureAgainstSent(t *testing.T, capture string, sent []sentRequest, byHeader bool, want []wantRequest) []*recorder.Exchange {
	t.Helper()
	loaded, err := recorder.LoadCapture(capture)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.TornTail || len(loaded.Skipped) > 0 {
		t.Errorf("capture after a clean stop: torn tail %v, unreadable lines %v", loaded.TornTail, loaded.Skipped)
	}
	var inbound []*recorder.Exchange
	for _, ex := range loaded.Exchanges {
		if ex.State != recorder.StateComplete {
			t.Errorf("exchange %d %s %s: state %s after a clean stop", ex.ID, ex.Method, ex.URL, ex.State)
		}
		if ex.Kind == recorder.Inbound {
			inbound = append(inbound, ex)
		}
	}
	slices.SortStableFunc(inbound, func(a, b *recorder.Exchange) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return int(a.ID) - int(b.ID)
	})
	for _, r := range sent {
		// The SDK may abort its background GET stream before the answer's headers arrive (a loaded machine): the
		// request was still sent, and must still be captured.
		if r.Answered == nil && !strings.Contains(strings.ToLower(r.Error), "abort") {
			t.Errorf("request %d %s %s got no response (%s)", r.Seq, r.Method, r.URL, r.Error)
		}
	}
	if len(inbound) != len(sent) {
		t.Errorf("the client sent %d requests, the capture holds %d inbound lines", len(sent), len(inbound))
		describeRun(t, sent, inbound)
		return nil
	}

	// Pair each request with its line.
	matched := make([]*recorder.Exchange, len(sent))
	pos := map[uint64]int{} // exchange id → position in start order
	for i, ex := range inbound {
		pos[ex.ID] = i
	}
	if byHeader {
		for _, ex := range inbound {
			seq, err := strconv.Atoi(ex.ReqHeaders.Get("X-E2e-Seq"))
			if err != nil || seq < 1 || seq > len(sent) || matched[seq-1] != nil {
				t.Errorf("inbound line %d %s %s: x-e2e-seq %q names no request of the client, or one already captured", ex.ID, ex.Method, ex.URL, ex.ReqHeaders.Get("X-E2e-Seq"))
				continue
			}
			matched[seq-1] = ex
		}
		// The order of start: a request sent after the client had the answer to another started after it.
		for i, a := range sent {
			for j, b := range sent {
				if a.Answered != nil && *a.Answered < b.Sent && matched[i] != nil && matched[j] != nil && pos[matched[i].ID] > pos[matched[j].ID] {
					t.Errorf("request %d was sent after the answer to request %d, but its line starts first", b.Seq, a.Seq)
				}
			}
		}
	} else {
		for i := 1; i < len(sent); i++ {
			if sent[i-1].Answered == nil || *sent[i-1].Answered > sent[i].Sent {
				t.Fatalf("request %d was sent before the answer to request %d: this client must send one at a time", i+1, i)
			}
		}
		copy(matched, inbound)
	}
	for i, ex := range matched {
		r := sent[i]
		if ex == nil {
			t.Errorf("request %d %s %s: no line in the capture", r.Seq, r.Method, r.URL)
			continue
		}
		if ex.Method != r.Method || ex.Path() != r.path(t) || ex.URL != r.target(t) {
			t.Errorf("request %d: sent %s %s (path %s), captured %s %s (path %s)", r.Seq, r.Method, r.target(t), r.path(t), ex.Method, ex.URL, ex.Path())
		}
		if r.Answered != nil && ex.Status != r.Status {
			t.Errorf("request %d %s %s: the client got %d, the capture says %d", r.Seq, r.Method, r.path(t), r.Status, ex.Status)
		}
	}
	if len(want) != len(sent) {
		t.Errorf("the flow sent %d requests, the test expects %d", len(sent), len(want))
		describeRun(t, sent, inbound)
		return matched
	}
	a := analyseCapture(inbound)
	for i, w := range want {
		r, ex := sent[i], matched[i]
		if r.Method != w.method || r.path(t) != w.path {
			t.Errorf("request %d is %s %s, the flow expects %s %s", r.Seq, r.Method, r.path(t), w.method, w.path)
		}
		if ex == nil {
			continue
		}
		if got := a.Info(ex.ID).Stage; got != w.stage {
			t.Errorf("request %d %s %s (%s): stage %q, want %q", r.Seq, r.Method, r.path(t), ex.RPCMethod(), got, w.stage)
		}
	}
	return matched
}

func describeRun(t *testing.T, sent []sentRequest, inbound []*recorder.Exchange) {
	t.Helper()
	var b strings.Builder
	b.WriteString("sent:\n")
	for _, r := range sent {
		fmt.Fprintf(&b, "  %2d %s %s → %d\n", r.Seq, r.Method, r.URL, r.Status)
	}
	b.WriteString("captured (inbound, by start):\n")
	for _, ex := range inbound {
		fmt.Fprintf(&b, "  #%d %s %s → %d %s\n", ex.ID, ex.Method, ex.URL, ex.Status, ex.RPCMethod())
	}
	t.Log(b.String())
}

// analysisGrace is the grace the absence rules get ("authorize never followed by a token request", "token issued
// but never used", "tools never listed", ...): the default, named here so that the clock is advanced past it.
const analysisGrace = 30 * time.Second

// analyseCapture analyses exchanges as of one second past the grace period after the last of them ended, so that
// every rule about something that never happened has had the time to fire.
func analyseCapture(exs []*recorder.Exchange) *analysis.Analyzer {
	var end time.Time
	for _, ex := range exs {
		if e := ex.Start.Add(ex.Timings.Total); e.After(end) {
			end = e
		}
	}
	a := analysis.New(analysis.Options{Grace: analysisGrace, Now: end.Add(analysisGrace + time.Second)})
	for _, ex := range analysis.SettleOrder(exs) {
		a.Observe(ex)
	}
	return a
}

func checkNoFindings(t *testing.T, rep *analysis.Report) {
	t.Helper()
	if len(rep.Findings) > 0 {
		t.Errorf("%d findings for a healthy run, want none", len(rep.Findings))
		logFindings(t, rep.Findings)
	}
	for _, c := range rep.Connections {
		if len(c.Findings) > 0 {
			t.Errorf("connection %s has %d findings for a healthy run", c.ID, len(c.Findings))
		}
	}
}

func logFindings(t *testing.T, fs []analysis.Finding) {
	t.Helper()
	for _, f := range fs {
		t.Logf("  %s %s [exchange %d, %s]: %s", f.Severity, f.Rule, f.ExchangeID, f.Connection, f.Summary)
	}
}

// checkOneConnection: one client's handshake is one connection, and the analysis knows the client.
func checkOneConnection(t *testing.T, rep *analysis.Report, client analysis.ClientKind) {
	t.Helper()
	if len(rep.Connections) != 1 {
		var ids []string
		for _, c := range rep.Connections {
			ids = append(ids, fmt.Sprintf("%s%v", c.ID, c.Exchanges))
		}
		t.Errorf("%d connections %v, want 1 (one client's run)", len(rep.Connections), ids)
		return
	}
	if c := rep.Connections[0]; c.Client != client {
		t.Errorf("connection %s: client %q, want %q", c.ID, c.Client, client)
	}
}

type harPair struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harFile struct {
	Log struct {
		Entries []struct {
			Request struct {
				Method      string    `json:"method"`
				URL         string    `json:"url"`
				QueryString []harPair `json:"queryString"`
			} `json:"request"`
			Stage string `json:"_stage"`
		} `json:"entries"`
	} `json:"log"`
}

// checkHARExport exports the capture as HAR (`mcpwatch export --format har`, redacted as by default), validates it
// with validate-har.mjs (the HAR 1.2 schema, har-validator; Chromium DevTools' importer), and checks that it has
// one entry per request sent, with the request's method and target and the wanted stage.
func checkHARExport(t *testing.T, capture string, sent []sentRequest, want []wantRequest) *harFile {
	t.Helper()
	harPath := filepath.Join(t.TempDir(), "run.har")
	if r := Run(t, time.Minute, "export", capture, "--format", "har", "--out", harPath); r.Code != 0 {
		t.Fatalf("export: exit %d\n%s", r.Code, r.Stderr)
	}
	v := Node(t, time.Minute, "validate-har.mjs", harPath)
	var summary struct {
		Entries  int      `json:"entries"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal([]byte(v.Stdout), &summary); err != nil {
		t.Fatalf("validator output %q (exit %d, %v)\n%s", v.Stdout, v.Code, err, v.Stderr)
	}
	if v.Code != 0 || len(summary.Problems) > 0 {
		t.Errorf("the HAR of the run does not validate (exit %d):\n%s\n%s", v.Code, strings.Join(summary.Problems, "\n"), v.Stderr)
	}
	b, err := os.ReadFile(harPath)
	if err != nil {
		t.Fatal(err)
	}
	var har harFile
	if err := json.Unmarshal(b, &har); err != nil {
		t.Fatal(err)
	}
	if len(har.Log.Entries) != len(sent) {
		t.Errorf("%d HAR entries for %d requests sent", len(har.Log.Entries), len(sent))
	}
	// Entries and requests as multisets of "METHOD target stage" (entries may be ordered by start or completion).
	var got, exp []string
	for _, e := range har.Log.Entries {
		u, err := url.Parse(e.Request.URL)
		if err != nil {
			t.Errorf("HAR request.url %q: %v", e.Request.URL, err)
			continue
		}
		got = append(got, e.Request.Method+" "+u.RequestURI()+" "+e.Stage)
	}
	for i, r := range sent {
		st := ""
		if i < len(want) {
			st = string(want[i].stage)
		}
		exp = append(exp, r.Method+" "+r.target(t)+" "+st)
	}
	slices.Sort(got)
	slices.Sort(exp)
	if !slices.Equal(got, exp) {
		t.Errorf("HAR entries (method, target, _stage) differ from the requests sent:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(exp, "\n     "))
	}
	return &har
}
