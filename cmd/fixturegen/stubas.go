package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// stubAS is a small OAuth 2.1 authorization server and bearer guard in front of the real MCP handler, shaped as
// the spec and reference/clients-and-peers.md describe a correct one: RFC 9728 resource metadata (root and
// path-suffixed), RFC 8414 metadata, DCR, client ID metadata documents (fetched through the recorder), a consent
// form, PKCE S256, refresh rotation, CORS. It stands in for server/oauth (built on another branch) so that the
// fixtures hold realistic OAuth traffic; re-record them once the real one lands.
type stubAS struct {
	mu       sync.Mutex
	clients  map[string]*stubClient
	codes    map[string]*stubCode
	access   map[string]time.Time // token → expiry
	refresh  map[string]string    // refresh token → client id
	tokenTTL time.Duration
	fetch    *http.Client // CIMD fetches, through recorder.Transport
}

type stubClient struct {
	name      string
	redirects []string
}

type stubCode struct {
	client, redirect, challenge, resource string
}

func newStubAS(rec *recorder.Recorder, ttl time.Duration) *stubAS {
	return &stubAS{
		clients:  map[string]*stubClient{},
		codes:    map[string]*stubCode{},
		access:   map[string]time.Time{},
		refresh:  map[string]string{},
		tokenTTL: ttl,
		fetch:    &http.Client{Transport: &recorder.Transport{Base: cimdDocs{}, Recorder: rec}, Timeout: 5 * time.Second},
	}
}

// cimdDocs serves the client ID metadata documents of the clients the fixtures play (instead of the internet).
type cimdDocs struct{}

func (cimdDocs) RoundTrip(r *http.Request) (*http.Response, error) {
	var doc map[string]any
	switch r.URL.String() {
	case "https://claude.ai/oauth/mcp-oauth-client-metadata":
		// loginov-rocks/Remote-MCP-Auth oauth-function/src/__fixtures__/claudeAiCmid.json (shape).
		doc = map[string]any{"client_id": r.URL.String(), "client_name": "Claude", "client_uri": "https://claude.ai",
			"redirect_uris": []string{"https://claude.ai/api/mcp/auth_callback"}, "grant_types": []string{"authorization_code", "refresh_token"},
			"response_types": []string{"code"}, "token_endpoint_auth_method": "none"}
	}
	if doc == nil {
		return &http.Response{StatusCode: 404, Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader("not found")), Request: r}, nil
	}
	b, _ := json.Marshal(doc)
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"max-age=3600"}},
		Body:   io.NopCloser(strings.NewReader(string(b))), ContentLength: int64(len(b)), Request: r}, nil
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// publicBase is the base URL the client used (forwarded headers of a TLS-terminating tunnel, else the Host).
func publicBase(r *http.Request) string {
	scheme := "http"
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host = h
	}
	return scheme + "://" + host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func cors(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		w.Header().Set("Vary", "Origin")
	}
}

func (s *stubAS) wrap(mcpHandler http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-protected-resource", s.resourceMetadata)
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", s.resourceMetadata)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.authMetadata)
	mux.HandleFunc("GET /.well-known/openid-configuration", s.authMetadata)
	mux.HandleFunc("POST /register", s.register)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /authorize", s.consent)
	mux.HandleFunc("POST /token", s.token)
	mux.Handle("/mcp", s.guard(mcpHandler))
	mux.Handle("/", mcpHandler)
	return mux
}

func (s *stubAS) resourceMetadata(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	b := publicBase(r)
	writeJSON(w, 200, map[string]any{"resource": b + "/mcp", "authorization_servers": []string{b},
		"scopes_supported": []string{"mcp"}, "bearer_methods_supported": []string{"header"}, "resource_name": "mcpwatch"})
}

func (s *stubAS) authMetadata(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	b := publicBase(r)
	writeJSON(w, 200, map[string]any{
		"issuer": b, "authorization_endpoint": b + "/authorize", "token_endpoint": b + "/token",
		"registration_endpoint": b + "/register", "response_types_supported": []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none"}, "scopes_supported": []string{"mcp"},
		"client_id_metadata_document_supported":          true,
		"authorization_response_iss_parameter_supported": true,
	})
}

func (s *stubAS) register(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	var m struct {
		RedirectURIs []string `json:"redirect_uris"`
		ClientName   string   `json:"client_name"`
		Scope        string   `json:"scope"`
	}
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil || len(m.RedirectURIs) == 0 {
		writeJSON(w, 400, map[string]string{"error": "invalid_client_metadata", "error_description": "redirect_uris is required"})
		return
	}
	id := "mcpw_" + random()[:22]
	s.mu.Lock()
	s.clients[id] = &stubClient{name: m.ClientName, redirects: m.RedirectURIs}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, 201, map[string]any{"client_id": id, "client_id_issued_at": time.Now().Unix(), "client_name": m.ClientName,
		"redirect_uris": m.RedirectURIs, "token_endpoint_auth_method": "none",
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"}})
}

// lookup returns a registered client, fetching a client ID metadata document for an https client id.
func (s *stubAS) lookup(id string) *stubClient {
	s.mu.Lock()
	c := s.clients[id]
	s.mu.Unlock()
	if c != nil || !strings.HasPrefix(id, "https://") {
		return c
	}
	resp, err := s.fetch.Get(id)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var doc struct {
		ClientID     string   `json:"client_id"`
		ClientName   string   `json:"client_name"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&doc) != nil || doc.ClientID != id {
		return nil
	}
	c = &stubClient{name: doc.ClientName, redirects: doc.RedirectURIs}
	s.mu.Lock()
	s.clients[id] = c
	s.mu.Unlock()
	return c
}

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<title>Authorize {{.Name}}</title>
<h1>{{.Name}} wants to use this MCP server</h1>
<p>It will be sent back to {{.Redirect}} with access to {{.Resource}} (scope {{.Scope}}).</p>
<form method="post" action="/authorize">
{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<button name="decision" value="approve">Approve</button> <button name="decision" value="deny">Deny</button>
</form>
`))

func (s *stubAS) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c := s.lookup(q.Get("client_id"))
	if c == nil {
		http.Error(w, "unknown client_id "+q.Get("client_id"), http.StatusBadRequest)
		return
	}
	if !slices.Contains(c.redirects, q.Get("redirect_uri")) {
		http.Error(w, "redirect_uri is not registered for this client", http.StatusBadRequest)
		return
	}
	fields := map[string]string{"csrf_token": random()[:16]}
	for _, k := range []string{"client_id", "redirect_uri", "state", "scope", "resource", "code_challenge", "code_challenge_method", "response_type"} {
		fields[k] = q.Get(k)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = consentPage.Execute(w, map[string]any{"Name": c.name, "Redirect": q.Get("redirect_uri"), "Resource": q.Get("resource"),
		"Scope": q.Get("scope"), "Fields": fields})
}

func (s *stubAS) consent(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	c := s.lookup(f.Get("client_id"))
	if c == nil || !slices.Contains(c.redirects, f.Get("redirect_uri")) || f.Get("csrf_token") == "" {
		http.Error(w, "invalid consent request", http.StatusBadRequest)
		return
	}
	u, _ := url.Parse(f.Get("redirect_uri"))
	q := u.Query()
	q.Set("state", f.Get("state"))
	q.Set("iss", publicBase(r))
	if f.Get("decision") != "approve" {
		q.Set("error", "access_denied")
	} else if f.Get("code_challenge_method") != "S256" || f.Get("code_challenge") == "" {
		q.Set("error", "invalid_request")
		q.Set("error_description", "PKCE S256 is required")
	} else {
		code := random()
		s.mu.Lock()
		s.codes[code] = &stubCode{client: f.Get("client_id"), redirect: f.Get("redirect_uri"), challenge: f.Get("code_challenge"), resource: f.Get("resource")}
		s.mu.Unlock()
		q.Set("code", code)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// tokenParams reads a token request as a form or, as Claude sends it, JSON (seed document).
func tokenParams(r *http.Request) url.Values {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]string
		_ = json.NewDecoder(r.Body).Decode(&m)
		v := url.Values{}
		for k, x := range m {
			v.Set(k, x)
		}
		return v
	}
	_ = r.ParseForm()
	return r.PostForm
}

func (s *stubAS) token(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	w.Header().Set("Cache-Control", "no-store")
	p := tokenParams(r)
	fail := func(code, desc string) {
		writeJSON(w, 400, map[string]string{"error": code, "error_description": desc})
	}
	var client string
	switch p.Get("grant_type") {
	case "authorization_code":
		s.mu.Lock()
		c := s.codes[p.Get("code")]
		delete(s.codes, p.Get("code"))
		s.mu.Unlock()
		sum := sha256.Sum256([]byte(p.Get("code_verifier")))
		switch {
		case c == nil:
			fail("invalid_grant", "unknown or used code")
			return
		case c.client != p.Get("client_id") || c.redirect != p.Get("redirect_uri"):
			fail("invalid_grant", "client_id or redirect_uri does not match the authorization request")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
			fail("invalid_grant", "PKCE verification failed")
			return
		}
		client = c.client
	case "refresh_token":
		s.mu.Lock()
		client = s.refresh[p.Get("refresh_token")]
		delete(s.refresh, p.Get("refresh_token"))
		s.mu.Unlock()
		if client == "" {
			fail("invalid_grant", "unknown refresh token")
			return
		}
	default:
		fail("unsupported_grant_type", "")
		return
	}
	at, rt := random(), random()
	s.mu.Lock()
	s.access[at] = time.Now().Add(s.tokenTTL)
	s.refresh[rt] = client
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(s.tokenTTL / time.Second),
		"refresh_token": rt, "scope": "mcp"})
}

// guard answers 401 with the Bearer challenge unless the request carries a valid token.
func (s *stubAS) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("Authorization")
		tok := strings.TrimPrefix(a, "Bearer ")
		s.mu.Lock()
		exp, ok := s.access[tok]
		s.mu.Unlock()
		if a != "" && ok && time.Now().Before(exp) {
			next.ServeHTTP(w, r)
			return
		}
		cors(w, r)
		ch := fmt.Sprintf(`Bearer resource_metadata="%s/.well-known/oauth-protected-resource/mcp", scope="mcp"`, publicBase(r))
		if a != "" {
			ch += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", ch)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		if r.Method != http.MethodHead {
			fmt.Fprintln(w, `{"error":"invalid_token","error_description":"a bearer token is required"}`)
		}
	})
}
