package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

// wire is a client that talks to the server the way a remote client behind a tunnel does: every request carries
// the public Host, the browser cookie of the consent page is kept by hand, and redirects are not followed.
type wire struct {
	t      *testing.T
	ts     *httptest.Server
	host   string // Host header ("" = the listener's)
	fwd    bool   // send X-Forwarded-Proto: https (a TLS-terminating tunnel)
	cookie string
}

type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

func (w *wire) do(method, target string, header map[string]string, body string) *reply {
	w.t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, w.ts.URL+u.RequestURI(), strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	if w.host != "" {
		req.Host = w.host
	}
	if w.fwd {
		req.Header.Set("X-Forwarded-Proto", "https")
	}
	if w.cookie != "" {
		req.Header.Set("Cookie", w.cookie)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if c := resp.Header.Get("Set-Cookie"); c != "" {
		w.cookie, _, _ = strings.Cut(c, ";")
	}
	return &reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// rpc reads the JSON-RPC message of a reply, JSON or SSE (the first data event).
func (r *reply) rpc(t *testing.T) map[string]any {
	t.Helper()
	body := r.Body
	if strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(strings.NewReader(string(r.Body)))
		body = nil
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
	return m
}

func (r *reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("not JSON (HTTP %d): %v\n%s", r.Status, err, r.Body)
	}
	return m
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// consent answers the consent page the authorize URL shows, as the user would, and returns the redirect.
func (w *wire) consent(authorizeURL, action string) *url.URL {
	w.t.Helper()
	page := w.do("GET", authorizeURL, nil, "")
	if page.Status != http.StatusOK {
		w.t.Fatalf("authorize: HTTP %d\n%s", page.Status, page.Body)
	}
	form := url.Values{"action": {action}}
	for _, m := range hiddenField.FindAllStringSubmatch(string(page.Body), -1) {
		form.Set(m[1], m[2])
	}
	r := w.do("POST", "/authorize", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode())
	if r.Status != http.StatusFound {
		w.t.Fatalf("consent: HTTP %d\n%s", r.Status, r.Body)
	}
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil {
		w.t.Fatal(err)
	}
	return loc
}

func pkcePair() (verifier, challenge string) {
	verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-mcpwatch-handshake-test"
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestClaudeWebHandshake replays the Claude web app's handshake exactly as the seed write-up records it
// (shared/reference/seed-remote-mcp-auth.txt), through a tunnel's public URL: the unauthenticated initialize and
// GET, both 401 with the resource_metadata challenge; AS metadata at the root; DCR with client_name claudeai and
// scope claudeai; authorize with the consent page; the token request as a JSON body; then initialize at
// 2024-11-05 with the token, notifications/initialized, tools/list and tools/call.
func TestClaudeWebHandshake(t *testing.T) {
	const public = "https://garbage-actress-light-legislature.trycloudflare.com"
	srv, err := New(Config{PublicURL: public})
	if err != nil {
		t.Fatal(err)
	}
	ts := testkit.Serve(t, srv.Handler())
	w := &wire{t: t, ts: ts, host: "garbage-actress-light-legislature.trycloudflare.com"}

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
	mcpHeaders := map[string]string{"Accept": "application/json, text/event-stream", "Accept-Encoding": "gzip", "Content-Type": "application/json"}
	challenge := `Bearer resource_metadata="` + public + `/.well-known/oauth-protected-resource/mcp"`

	// 1. Adding the connector: initialize without a token → 401 and the challenge; GET the same.
	r := w.do("POST", "/mcp", mcpHeaders, initialize)
	if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != challenge {
		t.Fatalf("unauthenticated initialize: HTTP %d, WWW-Authenticate %q, want 401 %q", r.Status, r.Header.Get("WWW-Authenticate"), challenge)
	}
	r = w.do("GET", "/mcp", map[string]string{"Accept": "text/event-stream"}, "")
	if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != challenge {
		t.Fatalf("unauthenticated GET: HTTP %d, %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}

	// 2. Connect: the AS metadata on the MCP host (the seed's Claude skipped the resource metadata).
	md := w.do("GET", "/.well-known/oauth-authorization-server", nil, "").json(t)
	for k, v := range map[string]string{"issuer": public, "registration_endpoint": public + "/register",
		"authorization_endpoint": public + "/authorize", "token_endpoint": public + "/token"} {
		if md[k] != v {
			t.Errorf("metadata %s = %v, want %s", k, md[k], v)
		}
	}

	// 3. DCR, the seed's body.
	r = w.do("POST", "/register", map[string]string{"Content-Type": "application/json"}, `{
  "client_name": "claudeai",
  "grant_types": [
    "authorization_code",
    "refresh_token"
  ],
  "redirect_uris": [
    "https://claude.ai/api/mcp/auth_callback"
  ],
  "response_types": [
    "code"
  ],
  "scope": "claudeai",
  "token_endpoint_auth_method": "none"
}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("register: HTTP %d %s", r.Status, r.Body)
	}
	clientID := r.json(t)["client_id"].(string)

	// 4. Authorize: the seed's query parameters (no resource), the consent page, Approve.
	verifier, chal := pkcePair()
	q := url.Values{
		"client_id": {clientID}, "code_challenge": {chal}, "code_challenge_method": {"S256"},
		"redirect_uri": {"https://claude.ai/api/mcp/auth_callback"}, "response_type": {"code"}, "scope": {"claudeai"}, "state": {"claude-state-1"},
	}
	loc := w.consent("/authorize?"+q.Encode(), "approve")
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != "https://claude.ai/api/mcp/auth_callback" ||
		loc.Query().Get("state") != "claude-state-1" || loc.Query().Get("iss") != public || loc.Query().Get("code") == "" {
		t.Fatalf("redirect to Claude: %s", loc)
	}

	// 5. Token, as a JSON body.
	body, _ := json.Marshal(map[string]string{"client_id": clientID, "code": loc.Query().Get("code"), "code_verifier": verifier,
		"grant_type": "authorization_code", "redirect_uri": "https://claude.ai/api/mcp/auth_callback"})
	r = w.do("POST", "/token", map[string]string{"Content-Type": "application/json"}, string(body))
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token: HTTP %d %s", r.Status, r.Body)
	}
	tok := r.json(t)
	access, _ := tok["access_token"].(string)
	if access == "" || tok["refresh_token"] == nil || tok["expires_in"] == nil || tok["scope"] != "claudeai" {
		t.Fatalf("token response %v", tok)
	}

	// 6. initialize with the token: 2024-11-05 answered, with a session id (Claude requires one).
	authed := func(extra map[string]string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + access}
		for k, v := range mcpHeaders {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	r = w.do("POST", "/mcp", authed(nil), initialize)
	sid := r.Header.Get("Mcp-Session-Id")
	res := r.rpc(t)
	if r.Status != http.StatusOK || sid == "" || res["id"] != float64(0) || res["result"].(map[string]any)["protocolVersion"] != "2024-11-05" {
		t.Fatalf("initialize with the token: HTTP %d, session %q, %v", r.Status, sid, res)
	}
	if _, ok := res["result"].(map[string]any)["capabilities"].(map[string]any)["tools"]; !ok {
		t.Errorf("no tools capability: %v", res)
	}
	withSession := map[string]string{"Mcp-Session-Id": sid}

	// 7. notifications/initialized, tools/list, tools/call.
	if r = w.do("POST", "/mcp", authed(withSession), `{"jsonrpc":"2.0","method":"notifications/initialized"}`); r.Status != http.StatusAccepted {
		t.Fatalf("notifications/initialized: HTTP %d %s", r.Status, r.Body)
	}
	list := w.do("POST", "/mcp", authed(withSession), `{"id":1,"jsonrpc":"2.0","method":"tools/list","params":{}}`).rpc(t)
	var names []string
	for _, tool := range list["result"].(map[string]any)["tools"].([]any) {
		tm := tool.(map[string]any)
		names = append(names, tm["name"].(string))
		if tm["name"] == "best_person_looker_upper" && tm["title"] != "Best Person Looker-upper" {
			t.Errorf("the seed's tool title: %v", tm["title"])
		}
	}
	if !slices.Contains(names, "best_person_looker_upper") || !slices.Contains(names, "whoami") {
		t.Fatalf("tools/list: %v", names)
	}
	call := w.do("POST", "/mcp", authed(withSession),
		`{"id":2,"jsonrpc":"2.0","method":"tools/call","params":{"name":"best_person_looker_upper","arguments":{"startsWith":"Gr"}}}`).rpc(t)
	if !strings.Contains(fmt.Sprint(call["result"]), "Grace Hopper") {
		t.Errorf("tools/call: %v", call)
	}
	// whoami reports the grant behind the token.
	who := w.do("POST", "/mcp", authed(withSession), `{"id":3,"jsonrpc":"2.0","method":"tools/call","params":{"name":"whoami","arguments":{}}}`).rpc(t)
	sc, _ := who["result"].(map[string]any)["structuredContent"].(map[string]any)
	if sc["authenticated"] != true || sc["clientId"] != clientID || sc["resource"] != public+"/mcp" ||
		fmt.Sprint(sc["scopes"]) != "[claudeai]" || sc["tokenExpiry"] == nil || sc["clientName"] != "claude-ai" {
		t.Errorf("whoami: %v", who)
	}

	// The session is bound to the grant: another grant's token cannot use it.
	other := w.do("POST", "/register", map[string]string{"Content-Type": "application/json"},
		`{"client_name":"other","redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}`).json(t)["client_id"].(string)
	q.Set("client_id", other)
	loc = w.consent("/authorize?"+q.Encode(), "approve")
	body, _ = json.Marshal(map[string]string{"client_id": other, "code": loc.Query().Get("code"), "code_verifier": verifier,
		"grant_type": "authorization_code", "redirect_uri": "https://claude.ai/api/mcp/auth_callback"})
	otherToken := w.do("POST", "/token", map[string]string{"Content-Type": "application/json"}, string(body)).json(t)["access_token"].(string)
	h := authed(withSession)
	h["Authorization"] = "Bearer " + otherToken
	if r := w.do("POST", "/mcp", h, `{"id":4,"jsonrpc":"2.0","method":"tools/list","params":{}}`); r.Status != http.StatusForbidden {
		t.Errorf("another grant's token on the session: HTTP %d, want 403", r.Status)
	}
}

// TestModernHandshake is the 2026-07-28 opening: server/discover without a token (401), then the OAuth flow a
// modern client runs from the challenge (resource metadata, AS metadata, DCR with application_type, authorize and
// token with the resource indicator), then server/discover and tools/call with the token, statelessly.
func TestModernHandshake(t *testing.T) {
	srv, err := New(Config{AutoApprove: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := testkit.Serve(t, srv.Handler())
	w := &wire{t: t, ts: ts}
	base := ts.URL

	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},` +
		`"io.modelcontextprotocol/clientInfo":{"name":"Anthropic/ClaudeAI","version":"1.0.0"}}`
	discover := `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{` + meta + `}}`
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

	r := w.do("POST", "/mcp", hdr("server/discover", "", ""), discover)
	wa := r.Header.Get("WWW-Authenticate")
	m := regexp.MustCompile(`resource_metadata="([^"]+)"`).FindStringSubmatch(wa)
	if r.Status != http.StatusUnauthorized || m == nil || strings.Contains(wa, "error=") {
		t.Fatalf("server/discover without a token: HTTP %d %q", r.Status, wa)
	}
	prm := w.do("GET", m[1], nil, "").json(t)
	if prm["resource"] != base+"/mcp" {
		t.Fatalf("resource metadata: %v", prm)
	}
	as := prm["authorization_servers"].([]any)[0].(string)
	asm := w.do("GET", as+"/.well-known/oauth-authorization-server", nil, "").json(t)
	if asm["issuer"] != as || asm["authorization_response_iss_parameter_supported"] != true {
		t.Fatalf("AS metadata: %v", asm)
	}
	reg := w.do("POST", asm["registration_endpoint"].(string), map[string]string{"Content-Type": "application/json"},
		`{"client_name":"Claude","application_type":"web","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],`+
			`"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}`)
	if reg.Status != http.StatusCreated {
		t.Fatalf("register: HTTP %d %s", reg.Status, reg.Body)
	}
	clientID := reg.json(t)["client_id"].(string)
	verifier, chal := pkcePair()
	// Claude sends the resource with a trailing slash on authorize and without on token.
	q := url.Values{"client_id": {clientID}, "code_challenge": {chal}, "code_challenge_method": {"S256"}, "response_type": {"code"},
		"redirect_uri": {"https://claude.ai/api/mcp/auth_callback"}, "state": {"s2026"}, "resource": {base + "/mcp/"}, "scope": {"mcp"}}
	r = w.do("GET", asm["authorization_endpoint"].(string)+"?"+q.Encode(), nil, "")
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.Status != http.StatusFound || loc.Query().Get("code") == "" || loc.Query().Get("iss") != as || loc.Query().Get("state") != "s2026" {
		t.Fatalf("authorize (auto-approve): HTTP %d %s", r.Status, r.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
		"client_id": {clientID}, "redirect_uri": {"https://claude.ai/api/mcp/auth_callback"}, "resource": {base + "/mcp"}}
	tok := w.do("POST", asm["token_endpoint"].(string), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode()).json(t)
	access, _ := tok["access_token"].(string)
	if access == "" {
		t.Fatalf("token: %v", tok)
	}

	r = w.do("POST", "/mcp", hdr("server/discover", "", access), discover)
	res := r.rpc(t)
	result, _ := res["result"].(map[string]any)
	if r.Status != http.StatusOK || r.Header.Get("Mcp-Session-Id") != "" ||
		!strings.Contains(fmt.Sprint(result["supportedVersions"]), "2026-07-28") {
		t.Fatalf("server/discover with the token: HTTP %d %v", r.Status, res)
	}
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"best_person_looker_upper","arguments":{"startsWith":"Ada"},` + meta + `}}`
	res = w.do("POST", "/mcp", hdr("tools/call", "best_person_looker_upper", access), call).rpc(t)
	if !strings.Contains(fmt.Sprint(res["result"]), "Ada Lovelace") {
		t.Errorf("tools/call: %v", res)
	}
	who := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"whoami","arguments":{},` + meta + `}}`
	res = w.do("POST", "/mcp", hdr("tools/call", "whoami", access), who).rpc(t)
	sc, _ := res["result"].(map[string]any)["structuredContent"].(map[string]any)
	if sc["authenticated"] != true || sc["clientId"] != clientID || sc["mode"] != "stateless" || sc["resource"] != base+"/mcp" {
		t.Errorf("whoami: %v", res)
	}
	// Without the token, every modern call is challenged too.
	if r := w.do("POST", "/mcp", hdr("tools/call", "whoami", ""), who); r.Status != http.StatusUnauthorized {
		t.Errorf("tools/call without a token: HTTP %d", r.Status)
	}
}

// With NoAuth nothing is protected and no authorization server is advertised.
func TestNoAuth(t *testing.T) {
	srv, err := New(Config{NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	if srv.OAuth() != nil {
		t.Error("an authorization server with NoAuth")
	}
	ts := testkit.Serve(t, srv.Handler())
	w := &wire{t: t, ts: ts}
	r := w.do("POST", "/mcp", map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	if r.Status != http.StatusOK {
		t.Errorf("initialize with --no-auth: HTTP %d %s", r.Status, r.Body)
	}
	for _, p := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server", "/register"} {
		if r := w.do("GET", p, nil, ""); r.Status != http.StatusNotFound {
			t.Errorf("%s with --no-auth: HTTP %d, want 404", p, r.Status)
		}
	}
}
