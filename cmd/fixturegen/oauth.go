package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// The user agents of the clients played here (reference/clients-and-peers.md §2a).
const (
	uaHTTPX   = "python-httpx/0.28.1"
	uaClaude  = "Claude-User"
	uaBrowser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	// publicHost is the tunnel's public host: the scripted clients come through a TLS-terminating tunnel
	// (X-Forwarded-Proto/-Host, as cloudflared sends).
	publicHost = "mcp.example.dev"
	claudeCB   = "https://claude.ai/api/mcp/auth_callback"
)

// recordOAuth records the handshakes that need an authorization server.
func recordOAuth(ctx context.Context, out string) error {
	scenarios := []struct {
		name string
		ttl  time.Duration
		run  func(context.Context, string) error
	}{
		{"claude-web-legacy", time.Hour, claudeLegacy},
		{"claude-web-2026", time.Hour, claude2026},
		{"seed-claude-2024", time.Hour, seedReplay},
		{"sdk-go-oauth", 12 * time.Second, sdkOAuth},
	}
	for _, s := range scenarios {
		path := filepath.Join(out, s.name+".jsonl")
		if err := record(ctx, path, s.ttl, s.run); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintln(os.Stderr, "wrote", path)
	}
	return nil
}

// record serves the real MCP handler behind the stub authorization server, inside the recorder, and runs a client.
func record(ctx context.Context, path string, ttl time.Duration, run func(context.Context, string) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	_ = os.Remove(path)
	cf, err := recorder.OpenCapture(path)
	if err != nil {
		return err
	}
	store := recorder.NewStore(recorder.StoreOptions{})
	store.OnComplete(cf.Append)
	rec := recorder.New(store, recorder.Options{})
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", NoAuth: true}) // the stub plays the authorization server
	if err != nil {
		return err
	}
	as := newStubAS(rec, ttl)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: rec.Middleware(as.wrap(srv.Handler())), ConnContext: recorder.ConnContext}
	go hs.Serve(recorder.WrapListener(ln))
	runErr := run(ctx, "http://"+ln.Addr().String())
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if hs.Shutdown(sctx) != nil {
		hs.Close()
	}
	time.Sleep(50 * time.Millisecond) // let the last exchanges complete
	return errors.Join(runErr, cf.Close())
}

// actor is a scripted HTTP client: one user agent, coming through the tunnel or not.
type actor struct {
	base   string // http://127.0.0.1:PORT
	ua     string
	tunnel bool
	hc     *http.Client
}

func newActor(base, ua string, tunnel bool) *actor {
	jar, _ := cookiejar.New(nil) // a browser keeps the consent page's cookie
	return &actor{base: base, ua: ua, tunnel: tunnel, hc: &http.Client{
		Timeout:       10 * time.Second,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (a *actor) do(ctx context.Context, method, path string, hdr map[string]string, body []byte) (*reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", a.ua)
	if a.tunnel {
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", publicHost)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (a *actor) expect(ctx context.Context, want int, method, path string, hdr map[string]string, body []byte) (*reply, error) {
	r, err := a.do(ctx, method, path, hdr, body)
	if err != nil {
		return nil, err
	}
	if r.status != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only literal maps are marshalled here
	}
	return b
}

// rpcBody is a JSON-RPC request or notification.
func rpcBody(id any, method string, params map[string]any) []byte {
	m := map[string]any{"jsonrpc": "2.0", "method": method}
	if id != nil {
		m["id"] = id
	}
	if params != nil {
		m["params"] = params
	}
	return mustJSON(m)
}

type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := random()
	sum := sha256.Sum256([]byte(v))
	return pkce{v, base64.RawURLEncoding.EncodeToString(sum[:])}
}

var (
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	formAction  = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
)

// approve plays the browser: open the authorization URL, submit the consent form, return the redirect.
func approve(ctx context.Context, browser *actor, authURL string) (*url.URL, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return nil, err
	}
	page, err := browser.expect(ctx, 200, "GET", u.RequestURI(), map[string]string{"Accept": "text/html"}, nil)
	if err != nil {
		return nil, err
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(page.body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	form.Set("decision", "approve") // the stub's button
	form.Set("action", "approve")   // server/oauth's button
	action := "/authorize"
	if m := formAction.FindStringSubmatch(string(page.body)); m != nil {
		if a, err := url.Parse(html.UnescapeString(m[1])); err == nil && a.Path != "" {
			action = a.RequestURI()
		}
	}
	origin := "https://" + publicHost
	if !browser.tunnel {
		origin = browser.base
	}
	r, err := browser.expect(ctx, 302, "POST", action, map[string]string{"Content-Type": "application/x-www-form-urlencoded",
		"Origin": origin, "Accept": "text/html"}, []byte(form.Encode()))
	if err != nil {
		return nil, err
	}
	return url.Parse(r.header.Get("Location"))
}

var mcpAccept = map[string]string{"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

func with(h map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// claudeOAuth runs discovery, registration (or a metadata document), consent and the token request as the Claude
// web app does (clients-and-peers.md §2a; loginov-rocks/Remote-MCP-Auth fixtures), and returns the access token.
func claudeOAuth(ctx context.Context, base, clientID string, register bool) (string, error) {
	httpx := newActor(base, uaHTTPX, true)
	claude := newActor(base, uaClaude, true)
	browser := newActor(base, uaBrowser, true)
	pub := "https://" + publicHost
	if _, err := httpx.expect(ctx, 200, "GET", "/.well-known/oauth-protected-resource/mcp", nil, nil); err != nil {
		return "", err
	}
	if _, err := httpx.expect(ctx, 200, "GET", "/.well-known/oauth-authorization-server", nil, nil); err != nil {
		return "", err
	}
	if register {
		r, err := claude.expect(ctx, 201, "POST", "/register", map[string]string{"Content-Type": "application/json"}, mustJSON(map[string]any{
			"client_name": "Claude", "redirect_uris": []string{claudeCB}, "grant_types": []string{"authorization_code", "refresh_token"},
			"response_types": []string{"code"}, "token_endpoint_auth_method": "none"}))
		if err != nil {
			return "", err
		}
		var reg struct {
			ClientID string `json:"client_id"`
		}
		_ = json.Unmarshal(r.body, &reg)
		clientID = reg.ClientID
	}
	pk := newPKCE()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {claudeCB}, "code_challenge": {pk.challenge},
		"code_challenge_method": {"S256"}, "state": {random()[:20]}, "scope": {"mcp"}, "resource": {pub + "/mcp/"}}
	loc, err := approve(ctx, browser, pub+"/authorize?"+q.Encode())
	if err != nil {
		return "", err
	}
	code := loc.Query().Get("code")
	if code == "" {
		return "", fmt.Errorf("no code in %s", loc)
	}
	r, err := claude.expect(ctx, 200, "POST", "/token", map[string]string{"Content-Type": "application/json"}, mustJSON(map[string]string{
		"grant_type": "authorization_code", "code": code, "code_verifier": pk.verifier, "redirect_uri": claudeCB,
		"client_id": clientID, "resource": pub + "/mcp"}))
	if err != nil {
		return "", err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(r.body, &tok)
	return tok.AccessToken, nil
}

// claudeLegacy: the Claude web app against an OAuth-protected server at 2025-11-25 with DCR.
func claudeLegacy(ctx context.Context, base string) error {
	httpx := newActor(base, uaHTTPX, true)
	claude := newActor(base, uaClaude, true)
	const v = "2025-11-25"
	initParams := map[string]any{"protocolVersion": v, "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "Anthropic/ClaudeAI", "version": "1.0.0"}}
	if _, err := httpx.expect(ctx, 401, "HEAD", "/mcp", map[string]string{"MCP-Protocol-Version": v}, nil); err != nil {
		return err
	}
	if _, err := claude.expect(ctx, 401, "POST", "/mcp", mcpAccept, rpcBody(0, "initialize", initParams)); err != nil {
		return err
	}
	token, err := claudeOAuth(ctx, base, "", true)
	if err != nil {
		return err
	}
	auth := with(mcpAccept, "Authorization", "Bearer "+token)
	r, err := claude.expect(ctx, 200, "POST", "/mcp", auth, rpcBody(0, "initialize", initParams))
	if err != nil {
		return err
	}
	sid := r.header.Get("Mcp-Session-Id")
	if sid == "" {
		return errors.New("initialize: no session id")
	}
	sess := with(auth, "Mcp-Session-Id", sid, "MCP-Protocol-Version", v)
	if _, err := claude.expect(ctx, 202, "POST", "/mcp", sess, rpcBody(nil, "notifications/initialized", nil)); err != nil {
		return err
	}
	for i, m := range []string{"tools/list", "prompts/list", "resources/list"} {
		if _, err := claude.expect(ctx, 200, "POST", "/mcp", sess, rpcBody(i+1, m, map[string]any{})); err != nil {
			return err
		}
	}
	if _, err := claude.expect(ctx, 200, "POST", "/mcp", sess, rpcBody(4, "tools/call", map[string]any{
		"name": "best_person_looker_upper", "arguments": map[string]any{"startsWith": "blah"}})); err != nil {
		return err
	}
	return openStream(ctx, claude, with(sess, "Accept", "text/event-stream"))
}

// openStream opens the GET event stream and closes it a moment later (the client went away).
func openStream(ctx context.Context, a *actor, hdr map[string]string) error {
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	r, err := a.do(sctx, "GET", "/mcp", hdr, nil)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if r != nil && r.status != 200 {
		return fmt.Errorf("GET stream: %d", r.status)
	}
	return nil
}

// meta2026 is the per-request _meta of the 2026-07-28 stateless protocol.
func meta2026(params map[string]any) map[string]any {
	if params == nil {
		params = map[string]any{}
	}
	params["_meta"] = map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "Anthropic/ClaudeAI", "version": "1.0.0"},
		"io.modelcontextprotocol/clientCapabilities": map[string]any{},
	}
	return params
}

// claude2026: the Claude web app opening with server/discover at 2026-07-28 and using its client ID metadata
// document (clients-and-peers.md §0).
func claude2026(ctx context.Context, base string) error {
	claude := newActor(base, uaClaude, true)
	h := func(method string, extra ...string) map[string]string {
		return with(mcpAccept, append([]string{"MCP-Protocol-Version", "2026-07-28", "Mcp-Method", method}, extra...)...)
	}
	if _, err := claude.expect(ctx, 401, "POST", "/mcp", h("server/discover"), rpcBody(0, "server/discover", meta2026(nil))); err != nil {
		return err
	}
	token, err := claudeOAuth(ctx, base, "https://claude.ai/oauth/mcp-oauth-client-metadata", false)
	if err != nil {
		return err
	}
	bearer := "Bearer " + token
	if _, err := claude.expect(ctx, 200, "POST", "/mcp", h("server/discover", "Authorization", bearer), rpcBody(0, "server/discover", meta2026(nil))); err != nil {
		return err
	}
	if _, err := claude.expect(ctx, 200, "POST", "/mcp", h("tools/list", "Authorization", bearer), rpcBody(1, "tools/list", meta2026(nil))); err != nil {
		return err
	}
	_, err = claude.expect(ctx, 200, "POST", "/mcp", h("tools/call", "Authorization", bearer, "Mcp-Name", "best_person_looker_upper"),
		rpcBody(2, "tools/call", meta2026(map[string]any{"name": "best_person_looker_upper", "arguments": map[string]any{"startsWith": "gr"}})))
	return err
}

// seedReplay is the seed document's handshake, exactly as it records it (protocol 2024-11-05, the claudeai scope,
// a JSON token request, no resource parameter, no resource metadata fetch).
func seedReplay(ctx context.Context, base string) error {
	claude := newActor(base, uaClaude, true)
	browser := newActor(base, uaBrowser, true)
	pub := "https://" + publicHost
	initParams := map[string]any{"protocolVersion": "2024-11-05", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "claude-ai", "version": "0.1.0"}}
	hdr := map[string]string{"Accept": "application/json, text/event-stream", "Accept-Encoding": "gzip", "Content-Type": "application/json"}
	if _, err := claude.expect(ctx, 401, "POST", "/mcp", hdr, rpcBody(0, "initialize", initParams)); err != nil {
		return err
	}
	if _, err := claude.expect(ctx, 401, "GET", "/mcp", map[string]string{"Accept": "text/event-stream"}, nil); err != nil {
		return err
	}
	if _, err := claude.expect(ctx, 200, "GET", "/.well-known/oauth-authorization-server", nil, nil); err != nil {
		return err
	}
	r, err := claude.expect(ctx, 201, "POST", "/register", map[string]string{"Content-Type": "application/json"}, mustJSON(map[string]any{
		"client_name": "claudeai", "grant_types": []string{"authorization_code", "refresh_token"}, "redirect_uris": []string{claudeCB},
		"response_types": []string{"code"}, "scope": "claudeai", "token_endpoint_auth_method": "none"}))
	if err != nil {
		return err
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	_ = json.Unmarshal(r.body, &reg)
	pk := newPKCE()
	q := url.Values{"client_id": {reg.ClientID}, "code_challenge": {pk.challenge}, "code_challenge_method": {"S256"},
		"redirect_uri": {claudeCB}, "response_type": {"code"}, "scope": {"claudeai"}, "state": {random()[:20]}}
	loc, err := approve(ctx, browser, pub+"/authorize?"+q.Encode())
	if err != nil {
		return err
	}
	r, err = claude.expect(ctx, 200, "POST", "/token", map[string]string{"Content-Type": "application/json"}, mustJSON(map[string]string{
		"client_id": reg.ClientID, "code": loc.Query().Get("code"), "code_verifier": pk.verifier,
		"grant_type": "authorization_code", "redirect_uri": claudeCB}))
	if err != nil {
		return err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(r.body, &tok)
	auth := with(hdr, "Authorization", "Bearer "+tok.AccessToken)
	r, err = claude.expect(ctx, 200, "POST", "/mcp", auth, rpcBody(0, "initialize", initParams))
	if err != nil {
		return err
	}
	sess := with(auth, "Mcp-Session-Id", r.header.Get("Mcp-Session-Id"))
	if _, err := claude.expect(ctx, 202, "POST", "/mcp", sess, rpcBody(nil, "notifications/initialized", nil)); err != nil {
		return err
	}
	for i, m := range []string{"tools/list", "prompts/list", "resources/list"} {
		if _, err := claude.expect(ctx, 200, "POST", "/mcp", sess, rpcBody(i+1, m, map[string]any{})); err != nil {
			return err
		}
	}
	_, err = claude.expect(ctx, 200, "POST", "/mcp", sess, rpcBody(4, "tools/call", map[string]any{
		"name": "best_person_looker_upper", "arguments": map[string]any{"startsWith": "blah"}}))
	return err
}

// sdkOAuth: the Go SDK client's own OAuth support (DCR, PKCE, resource) at 2025-11-25; the short token lifetime
// makes it refresh before its last call.
func sdkOAuth(ctx context.Context, base string) error {
	browser := newActor(base, uaBrowser, false)
	redirect := "http://127.0.0.1:39123/callback"
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{redirect}, ClientName: "fixturegen-go", TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"}}},
		RedirectURL: redirect,
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			loc, err := approve(ctx, browser, args.URL)
			if err != nil {
				return nil, err
			}
			q := loc.Query()
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
	})
	if err != nil {
		return err
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "fixturegen-go", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", OAuthHandler: h},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if _, err := cs.ListTools(ctx, nil); err != nil {
		return err
	}
	time.Sleep(2500 * time.Millisecond) // the token now expires within oauth2's 10 s margin: the next call refreshes
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"}); err != nil {
		return err
	}
	return cs.Close()
}
