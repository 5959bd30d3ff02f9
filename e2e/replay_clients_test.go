package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
)

// replayClient is one client that cannot run here, as ../shared/reference/clients-2026-12.md describes its wire
// shape: its metadata document (served on loopback under a path that mirrors the real URL) or its registration
// body, the redirect URI it sends at /authorize, and how it authenticates at the token endpoint.
type replayClient struct {
	Name   string
	Source string // the section of clients-2026-12.md
	// DocURL is the real document URL (CIMD); Doc its fields, client_id added. Empty: Register is the DCR body.
	DocURL   string
	Doc      map[string]any
	Register map[string]any
	// Redirect is the redirect_uri sent at /authorize; PORT is replaced by a free loopback port (an ephemeral
	// callback listener).
	Redirect string
	// Auth is the token endpoint authentication: none, client_secret_post, client_secret_basic, or private_key_jwt
	// (with AssertionAud "token" for the token endpoint or "issuer").
	Auth         string
	AssertionAud string
	// Resource: send resource (RFC 8707) at authorize and token; ResourceOnRefresh on the refresh too.
	Resource, ResourceOnRefresh bool
	// Scope is sent at /authorize when set.
	Scope string
	// AutoApprove runs the server with --auto-approve; otherwise the consent form is submitted.
	AutoApprove bool
	// EMA also sends the Enterprise-Managed Authorization token request (jwt-bearer grant with an ID-JAG), which
	// mcpwatch refuses with an explanation (§1 Enterprise Managed Auth).
	EMA bool
}

const (
	grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	authCode       = "authorization_code"
	refreshGrant   = "refresh_token"
)

// replayClients are the registration shapes of the reference, one value per client (section in Source).
var replayClients = []replayClient{
	{Name: "Claude web (CIMD)", Source: "§1 Registration: CIMD document; Enterprise Managed Auth", AutoApprove: true, EMA: true, Resource: true, ResourceOnRefresh: true, Scope: "claudeai",
		DocURL: "https://claude.ai/oauth/mcp-oauth-client-metadata",
		Doc: map[string]any{"client_name": "Claude", "client_uri": "https://claude.ai", "redirect_uris": []string{"https://claude.ai/api/mcp/auth_callback"},
			"grant_types": []string{authCode, refreshGrant, grantJWTBearer}, "response_types": []string{"code"}, "token_endpoint_auth_method": "none"},
		Redirect: "https://claude.ai/api/mcp/auth_callback", Auth: "none"},
	{Name: "Claude web (DCR)", Source: "§1 Registration: DCR body", Resource: true, ResourceOnRefresh: true,
		Register: map[string]any{"client_name": "Claude", "redirect_uris": []string{"https://claude.ai/api/mcp/auth_callback"},
			"grant_types": []string{authCode, refreshGrant}, "token_endpoint_auth_method": "client_secret_post"},
		Redirect: "https://claude.ai/api/mcp/auth_callback", Auth: "client_secret_post"},
	{Name: "ChatGPT (stable CIMD)", Source: "§3 Registration: https://chatgpt.com/oauth/client.json", Resource: true, ResourceOnRefresh: true,
		DocURL: "https://chatgpt.com/oauth/client.json",
		Doc: map[string]any{"client_uri": "https://chatgpt.com/", "redirect_uris": []string{"https://chatgpt.com/connector_platform_oauth_redirect"},
			"token_endpoint_auth_methods_supported": []string{"none", "private_key_jwt"}, "grant_types": []string{authCode, refreshGrant},
			"response_types": []string{"code"}, "client_name": "ChatGPT", "logo_uri": "https://persistent.oaistatic.com/sonic/misc/openai-logo.png",
			"token_endpoint_auth_signing_alg": "RS256", "jwks_uri": "https://chatgpt.com/oauth/jwks.json", "token_endpoint_auth_method": "private_key_jwt"},
		Redirect: "https://chatgpt.com/connector_platform_oauth_redirect", Auth: "private_key_jwt", AssertionAud: "token"},
	{Name: "ChatGPT (per-connector CIMD)", Source: "§3 Registration: https://chatgpt.com/oauth/<id>/client.json", AutoApprove: true, Resource: true, ResourceOnRefresh: true,
		DocURL: "https://chatgpt.com/oauth/kDmjx77UnKOM/client.json",
		Doc: map[string]any{"client_uri": "https://chatgpt.com/", "redirect_uris": []string{"https://chatgpt.com/connector/oauth/kDmjx77UnKOM"},
			"token_endpoint_auth_methods_supported": []string{"none", "private_key_jwt"}, "grant_types": []string{authCode, refreshGrant},
			"response_types": []string{"code"}, "client_name": "ChatGPT", "token_endpoint_auth_signing_alg": "RS256",
			"jwks_uri": "https://chatgpt.com/oauth/jwks.json", "token_endpoint_auth_method": "private_key_jwt"},
		Redirect: "https://chatgpt.com/connector/oauth/kDmjx77UnKOM", Auth: "private_key_jwt", AssertionAud: "issuer"},
	{Name: "Codex", Source: "§4 Registration: CIMD per MCP server; Authorize: /callback/<callback_id>", AutoApprove: true, Resource: true,
		DocURL: "https://chatgpt.com/oauth/codex/Zm9vYmFyYmF6cXV4/client.json",
		Doc: map[string]any{"client_name": "Codex", "client_uri": "https://chatgpt.com/codex", "application_type": "native",
			"redirect_uris":              []string{"http://127.0.0.1/callback/Zm9vYmFyYmF6cXV4", "http://localhost/callback/Zm9vYmFyYmF6cXV4"},
			"token_endpoint_auth_method": "none", "token_endpoint_auth_methods_supported": []string{"none"},
			"grant_types": []string{authCode, refreshGrant}, "response_types": []string{"code"}},
		Redirect: "http://127.0.0.1:PORT/callback/Zm9vYmFyYmF6cXV4", Auth: "none"},
	{Name: "Cursor", Source: "§5 Registration: DCR body", AutoApprove: true,
		Register: map[string]any{"redirect_uris": []string{"cursor://anysphere.cursor-mcp/oauth/callback", "https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"},
			"token_endpoint_auth_method": "none"},
		Redirect: "http://localhost:8787/callback", Auth: "none"},
	{Name: "VS Code", Source: "§6 Registration: CIMD document; Authorize", Resource: true, ResourceOnRefresh: true, Scope: "mcp",
		DocURL: "https://vscode.dev/oauth/client-metadata.json",
		Doc: map[string]any{"client_name": "Visual Studio Code", "logo_uri": "https://code.visualstudio.com/assets/branding/code-stable.png",
			"grant_types": []string{authCode, refreshGrant, "urn:ietf:params:oauth:grant-type:device_code"}, "response_types": []string{"code"},
			"token_endpoint_auth_method": "none", "application_type": "native", "client_uri": "https://vscode.dev/product",
			"redirect_uris": []string{"http://127.0.0.1:33418/", "https://vscode.dev/redirect"}},
		Redirect: "http://127.0.0.1:PORT/", Auth: "none"},
	{Name: "GitHub Copilot CLI", Source: "§7 CIMD; ephemeral redirect port", AutoApprove: true,
		DocURL: "https://github.com/copilot/cli/client-metadata.json",
		Doc: map[string]any{"client_name": "GitHub Copilot CLI", "application_type": "native", "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"http://127.0.0.1:33418/"}},
		Redirect: "http://127.0.0.1:PORT/", Auth: "none"},
	{Name: "Gemini CLI", Source: "§8 Registration: DCR body (scope \"\")", AutoApprove: true, Resource: true, Scope: "mcp",
		Register: map[string]any{"client_name": "Gemini CLI MCP Client", "redirect_uris": []string{"http://localhost:PORT/oauth/callback"},
			"grant_types": []string{authCode, refreshGrant}, "response_types": []string{"code"}, "token_endpoint_auth_method": "none", "scope": ""},
		Redirect: "http://localhost:PORT/oauth/callback", Auth: "none"},
	{Name: "Grok", Source: "§11 DCR redirect_uris, public client",
		Register: map[string]any{"redirect_uris": []string{"https://grok.com/connectors-oauth-exchange-code/"}, "token_endpoint_auth_method": "none"},
		Redirect: "https://grok.com/connectors-oauth-exchange-code/", Auth: "none"},
	{Name: "Zed", Source: "§12 CIMD document declares http://127.0.0.1/callback", AutoApprove: true, Resource: true, ResourceOnRefresh: true,
		DocURL:   "https://zed.dev/oauth/client-metadata.json",
		Doc:      map[string]any{"client_name": "Zed", "redirect_uris": []string{"http://127.0.0.1/callback"}, "token_endpoint_auth_method": "none"},
		Redirect: "http://127.0.0.1:PORT/callback", Auth: "none"},
	{Name: "OpenCode", Source: "§13 CIMD since 2026-09-07", AutoApprove: true,
		DocURL: "https://opencode.ai/oauth/opencode/client.json",
		Doc: map[string]any{"client_name": "opencode", "client_uri": "https://opencode.ai", "logo_uri": "https://opencode.ai/web-app-manifest-512x512.png",
			"application_type": "native", "redirect_uris": []string{"http://127.0.0.1/callback", "http://localhost/callback"},
			"grant_types": []string{authCode, refreshGrant}, "response_types": []string{"code"},
			"token_endpoint_auth_method": "none", "token_endpoint_auth_methods_supported": []string{"none"}},
		Redirect: "http://127.0.0.1:PORT/callback", Auth: "none"},
	{Name: "Goose", Source: "§14 CIMD redirect_uris [\"http://localhost\"]", AutoApprove: true,
		DocURL:   "https://goose-docs.ai/oauth/client-metadata.json",
		Doc:      map[string]any{"client_name": "Goose", "redirect_uris": []string{"http://localhost"}},
		Redirect: "http://localhost:PORT", Auth: "none"},
	{Name: "LibreChat", Source: "§16 DCR body (client_secret_basic first)", Scope: "mcp",
		Register: map[string]any{"client_name": "LibreChat MCP Client", "redirect_uris": []string{"http://localhost:3080/api/mcp/mcpwatch/oauth/callback"},
			"grant_types": []string{authCode, refreshGrant}, "response_types": []string{"code"}, "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp"},
		Redirect: "http://localhost:3080/api/mcp/mcpwatch/oauth/callback", Auth: "client_secret_basic"},
}

// replayDocs serves the reference's documents and ChatGPT's JWKS on loopback, each at "/" + host + path of its
// real URL, with the client_id rewritten to the loopback URL.
type replayDocs struct {
	srv *httptest.Server
	key *rsa.PrivateKey
	kid string
}

func newReplayDocs(t *testing.T) *replayDocs {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	d := &replayDocs{key: key, kid: "cimd-20260428030119"}
	docs := map[string]replayClient{}
	for _, c := range replayClients {
		if c.DocURL != "" {
			docs[mirrorPath(c.DocURL)] = c
		}
	}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		if r.URL.Path == mirrorPath("https://chatgpt.com/oauth/jwks.json") {
			json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: d.kid, Algorithm: "RS256", Use: "sig"}}})
			return
		}
		c, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		doc := map[string]any{"client_id": d.url(c.DocURL)}
		for k, v := range c.Doc {
			if s, ok := v.(string); ok && k == "jwks_uri" {
				v = d.url(s)
			}
			doc[k] = v
		}
		json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func mirrorPath(real string) string {
	u, _ := url.Parse(real)
	return "/" + u.Host + u.Path
}

// url is the loopback URL mirroring a real one.
func (d *replayDocs) url(real string) string { return d.srv.URL + mirrorPath(real) }

// assertion is a private_key_jwt client assertion (RFC 7523 §2.2) signed with the test's RS256 key.
func (d *replayDocs) assertion(t *testing.T, clientID, aud string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: d.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", d.kid))
	if err != nil {
		t.Fatal(err)
	}
	var jti [16]byte
	rand.Read(jti[:])
	now := time.Now()
	raw, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud},
		Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: base64.RawURLEncoding.EncodeToString(jti[:])}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestReplayClients replays, against `mcpwatch serve --allow-loopback-cimd`, the registration shapes of the
// clients that cannot run here (clients-2026-12.md): discovery, registration or a metadata document, authorize
// (auto-approved or the consent form), token with the client's authentication, initialize and tools/list, and a
// refresh. Each completes, and each stage is recorded.
func TestReplayClients(t *testing.T) {
	docs := newReplayDocs(t)
	for _, c := range replayClients {
		t.Run(c.Name, func(t *testing.T) {
			args := []string{"serve", "--allow-loopback-cimd", "--ephemeral", "--no-capture", "--no-tui", "--json"}
			if c.AutoApprove {
				args = append(args, "--auto-approve")
			}
			srv := Start(t, args...)
			r := &replayRun{t: t, c: c, docs: docs, base: srv.URL}
			r.run()
			srv.Stop()
			if !strings.Contains(srv.Stderr(), "--allow-loopback-cimd: client ID metadata documents") {
				t.Errorf("the banner does not name --allow-loopback-cimd:\n%s", srv.Stderr())
			}
			r.checkStages(srv.Stdout())
		})
	}
}

// replayRun is one client's run against one server.
type replayRun struct {
	t    *testing.T
	c    replayClient
	docs *replayDocs
	base string
	http *http.Client

	clientID, secret, redirect string
}

func (r *replayRun) run() {
	t, c := r.t, r.c
	jar, _ := cookiejar.New(nil)
	r.http = &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	port := freePort(t)
	r.redirect = strings.ReplaceAll(c.Redirect, "PORT", port)
	resource := r.base + "/mcp"

	// Discovery: the 401 challenge, the protected resource metadata, the authorization server metadata.
	resp := r.do("POST", "/mcp", "application/json", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, nil)
	if resp.status != http.StatusUnauthorized || !strings.Contains(resp.header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Fatalf("challenge: %d %q", resp.status, resp.header.Get("WWW-Authenticate"))
	}
	r.mustJSON(r.do("GET", "/.well-known/oauth-protected-resource/mcp", "", "", nil), http.StatusOK)
	asm := r.mustJSON(r.do("GET", "/.well-known/oauth-authorization-server", "", "", nil), http.StatusOK)
	methods := fmt.Sprint(asm["token_endpoint_auth_methods_supported"])
	if asm["client_id_metadata_document_supported"] != true || !strings.Contains(methods, "private_key_jwt") || !strings.Contains(methods, "none") {
		t.Fatalf("authorization server metadata: %v", asm)
	}

	// Registration, or the metadata document's URL as client_id.
	if c.DocURL != "" {
		r.clientID = r.docs.url(c.DocURL)
	} else {
		body := map[string]any{}
		for k, v := range c.Register {
			if uris, ok := v.([]string); ok && k == "redirect_uris" {
				v = slices.Collect(func(yield func(string) bool) {
					for _, u := range uris {
						if !yield(strings.ReplaceAll(u, "PORT", port)) {
							return
						}
					}
				})
			}
			body[k] = v
		}
		b, _ := json.Marshal(body)
		reg := r.mustJSON(r.do("POST", "/register", "application/json", string(b), nil), http.StatusCreated)
		r.clientID, _ = reg["client_id"].(string)
		r.secret, _ = reg["client_secret"].(string)
		if (r.secret != "") != (c.Auth == "client_secret_post" || c.Auth == "client_secret_basic") {
			t.Fatalf("registration answered %v for %s", reg, c.Auth)
		}
	}

	// Authorize: PKCE S256, state, and the client's resource and scope.
	verifier := "replay-verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {r.clientID}, "redirect_uri": {r.redirect}, "state": {"replay-state"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	if c.Resource {
		q.Set("resource", resource)
	}
	if c.Scope != "" {
		q.Set("scope", c.Scope)
	}
	resp = r.do("GET", "/authorize?"+q.Encode(), "", "", nil)
	if !c.AutoApprove {
		if resp.status != http.StatusOK || !strings.Contains(resp.body, `id="approve"`) {
			t.Fatalf("authorize: no consent page: %d\n%s", resp.status, resp.body)
		}
		form := url.Values{}
		for _, m := range regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`).FindAllStringSubmatch(resp.body, -1) {
			form.Set(m[1], m[2])
		}
		form.Set("action", "approve")
		resp = r.do("POST", "/authorize", "application/x-www-form-urlencoded", form.Encode(), nil)
	}
	loc, _ := url.Parse(resp.header.Get("Location"))
	code := ""
	if loc != nil {
		code = loc.Query().Get("code")
	}
	if resp.status != http.StatusFound || code == "" || loc.Query().Get("state") != "replay-state" {
		t.Fatalf("authorize: %d Location %q\n%s", resp.status, resp.header.Get("Location"), resp.body)
	}
	if want := strings.TrimSuffix(r.redirect, "/"); !strings.HasPrefix(resp.header.Get("Location"), want) {
		t.Errorf("redirected to %s, want %s", resp.header.Get("Location"), r.redirect)
	}

	// Token, with the client's authentication.
	v := url.Values{"grant_type": {authCode}, "code": {code}, "redirect_uri": {r.redirect}, "code_verifier": {verifier}}
	if c.Resource {
		v.Set("resource", resource)
	}
	tok := r.mustJSON(r.token(v), http.StatusOK)
	access, _ := tok["access_token"].(string)
	refresh, _ := tok["refresh_token"].(string)
	if access == "" || refresh == "" {
		t.Fatalf("token: %v", tok)
	}

	// MCP: initialize, initialized, tools/list.
	auth := map[string]string{"Authorization": "Bearer " + access, "Accept": "application/json, text/event-stream"}
	resp = r.do("POST", "/mcp", "application/json", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"replay","version":"1"}}}`, auth)
	if resp.status != http.StatusOK || !strings.Contains(resp.body, `"result"`) {
		t.Fatalf("initialize: %d %s", resp.status, resp.body)
	}
	auth["MCP-Protocol-Version"] = "2025-11-25"
	if sid := resp.header.Get("Mcp-Session-Id"); sid != "" {
		auth["Mcp-Session-Id"] = sid
	}
	if resp = r.do("POST", "/mcp", "application/json", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, auth); resp.status != http.StatusAccepted {
		t.Fatalf("initialized: %d %s", resp.status, resp.body)
	}
	if resp = r.do("POST", "/mcp", "application/json", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, auth); resp.status != http.StatusOK || !strings.Contains(resp.body, `"tools"`) {
		t.Fatalf("tools/list: %d %s", resp.status, resp.body)
	}

	// Refresh, with the client's authentication again.
	v = url.Values{"grant_type": {refreshGrant}, "refresh_token": {refresh}}
	if c.ResourceOnRefresh {
		v.Set("resource", resource)
	}
	if tok = r.mustJSON(r.token(v), http.StatusOK); tok["access_token"] == nil {
		t.Fatalf("refresh: %v", tok)
	}

	if c.EMA { // an ID-JAG as identity providers shape it (typ oauth-id-jag+jwt; iss, sub, aud, resource, client_id, scope, jti)
		b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		jag := b64(`{"alg":"RS256","typ":"oauth-id-jag+jwt","kid":"idp-1"}`) + "." + b64(`{"iss":"https://idp.example.com","sub":"u-1","aud":"`+r.base+
			`","client_id":"`+r.clientID+`","resource":"`+resource+`","scope":"mcp","jti":"jag-1","exp":`+fmt.Sprint(time.Now().Add(time.Minute).Unix())+`}`) + "." + b64("idp-signature")
		v = url.Values{"grant_type": {grantJWTBearer}, "assertion": {jag}, "client_id": {r.clientID}, "resource": {resource}}
		e := r.mustJSON(r.do("POST", "/token", "application/x-www-form-urlencoded", v.Encode(), nil), http.StatusBadRequest)
		if d, _ := e["error_description"].(string); e["error"] != "unsupported_grant_type" || !strings.Contains(d, "ID-JAG") {
			t.Errorf("jwt-bearer grant: %v", e)
		}
	}
}

// token posts a token request authenticated as the client does.
func (r *replayRun) token(v url.Values) replayResp {
	hdr := map[string]string{}
	switch r.c.Auth {
	case "none":
		v.Set("client_id", r.clientID)
	case "client_secret_post":
		v.Set("client_id", r.clientID)
		v.Set("client_secret", r.secret)
	case "client_secret_basic":
		hdr["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(r.clientID)+":"+url.QueryEscape(r.secret)))
	case "private_key_jwt":
		aud := r.base + "/token"
		if r.c.AssertionAud == "issuer" {
			aud = r.base
		}
		v.Set("client_id", r.clientID)
		v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		v.Set("client_assertion", r.docs.assertion(r.t, r.clientID, aud))
	default:
		r.t.Fatalf("unknown auth %q", r.c.Auth)
	}
	return r.do("POST", "/token", "application/x-www-form-urlencoded", v.Encode(), hdr)
}

type replayResp struct {
	status int
	header http.Header
	body   string
}

func (r *replayRun) do(method, path, contentType, body string, hdr map[string]string) replayResp {
	r.t.Helper()
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return replayResp{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (r *replayRun) mustJSON(resp replayResp, status int) map[string]any {
	r.t.Helper()
	var m map[string]any
	if resp.status != status || json.Unmarshal([]byte(resp.body), &m) != nil {
		r.t.Fatalf("HTTP %d (want %d): %s", resp.status, status, resp.body)
	}
	return m
}

// checkStages reads the --json events: every stage of the run is recorded, the metadata document (and JWKS)
// fetches included.
func (r *replayRun) checkStages(stdout string) {
	t := r.t
	seen := map[string]int{}
	var notes, findings []string
	for _, l := range strings.Split(stdout, "\n") {
		var ev headless.Event
		if l != "" && json.Unmarshal([]byte(l), &ev) == nil && ev.Event == headless.EventFinding {
			findings = append(findings, ev.Finding.Rule)
			t.Logf("finding %s %s: %s", ev.Finding.Severity, ev.Finding.Rule, ev.Finding.Summary)
		}
		if l == "" || json.Unmarshal([]byte(l), &ev) != nil || ev.Event != headless.EventExchange {
			continue
		}
		seen[string(ev.Stage)]++
		for _, n := range ev.Exchange.Notes {
			notes = append(notes, n.Value)
		}
	}
	want := []string{"challenge", "resource-metadata", "auth-metadata", "authorize", "token", "initialize", "initialized", "list", "refresh"}
	if r.c.DocURL != "" {
		want = append(want, "client-metadata")
	} else {
		want = append(want, "register")
	}
	if !r.c.AutoApprove {
		want = append(want, "consent")
	}
	for _, s := range want {
		if seen[s] == 0 {
			t.Errorf("stage %s not recorded (recorded: %v)", s, seen)
		}
	}
	if r.c.EMA {
		if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, `"typ":"oauth-id-jag+jwt"`) }) ||
			!slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, `"iss":"https://idp.example.com"`) }) {
			t.Errorf("the ID-JAG's header and claims are not recorded: %q", notes)
		}
		if slices.ContainsFunc(notes, func(n string) bool {
			return strings.Contains(n, base64.RawURLEncoding.EncodeToString([]byte("idp-signature")))
		}) {
			t.Error("the ID-JAG's signature was recorded in a note")
		}
		if !slices.Contains(findings, "id-jag-unsupported") {
			t.Errorf("no id-jag-unsupported finding (findings: %v)", findings)
		}
	}
	if r.c.Auth == "private_key_jwt" {
		if n := slices.IndexFunc(notes, func(n string) bool { return strings.Contains(n, "authenticated with private_key_jwt (RS256") }); n < 0 {
			t.Errorf("no note of the private_key_jwt authentication: %q", notes)
		}
	}
	for _, g := range []string{grantJWTBearer, "urn:ietf:params:oauth:grant-type:device_code"} {
		if slices.Contains(mapStrings(r.c.Doc["grant_types"]), g) &&
			!slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "grant types ignored, not offered here: "+g) }) {
			t.Errorf("no note of the ignored grant %s: %q", g, notes)
		}
	}
}

func mapStrings(v any) []string {
	s, _ := v.([]string)
	return s
}
