package oauth

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/server/oauth/store"
)

func TestAuthServerMetadata(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{
		pathAuthServer, pathAuthServer + "/mcp", pathAuthServer + "/sse", pathOpenID, pathOpenID + "/mcp", "/mcp" + pathOpenID,
	} {
		r := h.get(path)
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s %s", path, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		m := r.JSON(t)
		iss := h.srv.URL
		want := map[string]any{
			"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"registration_endpoint": iss + "/register", "revocation_endpoint": iss + "/revoke",
			"client_id_metadata_document_supported": true, "authorization_response_iss_parameter_supported": true,
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s: %s = %v, want %v", path, k, m[k], v)
			}
		}
		for k, v := range map[string][]string{
			"response_types_supported":                         {"code"},
			"grant_types_supported":                            {"authorization_code", "refresh_token"},
			"code_challenge_methods_supported":                 {"S256"},
			"token_endpoint_auth_methods_supported":            {"none", "client_secret_post", "client_secret_basic", "private_key_jwt"},
			"token_endpoint_auth_signing_alg_values_supported": {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"},
			"scopes_supported":                                 {"mcp"},
		} {
			if got := strs(m[k]); !slices.Equal(got, v) {
				t.Errorf("%s: %s = %v, want %v", path, k, got, v)
			}
		}
		if _, ok := m["jwks_uri"]; ok {
			t.Errorf("%s: jwks_uri present", path)
		}
	}
	for _, path := range []string{pathAuthServer + "/other", pathOpenID + "/x/y", "/other" + pathOpenID} {
		if r := h.get(path); r.Status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, r.Status)
		}
	}
	if r := h.post(pathAuthServer, "application/json", "{}"); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("POST metadata: %d, want 405", r.Status)
	}
}

func strs(v any) []string {
	a, _ := v.([]any)
	var out []string
	for _, x := range a {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestProtectedResourceMetadata(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) { o.RequiredScopes = []string{"mcp:tools"} }))
	for path, resource := range map[string]string{
		pathProtectedResource:          h.srv.URL + "/mcp",
		pathProtectedResource + "/mcp": h.srv.URL + "/mcp",
		pathProtectedResource + "/sse": h.srv.URL + "/sse",
	} {
		r := h.get(path)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		m := r.JSON(t)
		if m["resource"] != resource {
			t.Errorf("%s: resource %v, want %s", path, m["resource"], resource)
		}
		if got := strs(m["authorization_servers"]); !slices.Equal(got, []string{h.srv.URL}) {
			t.Errorf("%s: authorization_servers %v", path, got)
		}
		if got := strs(m["scopes_supported"]); !slices.Equal(got, []string{"mcp", "mcp:tools"}) {
			t.Errorf("%s: scopes_supported %v", path, got)
		}
	}
	if r := h.get(pathProtectedResource + "/elsewhere"); r.Status != http.StatusNotFound {
		t.Errorf("unknown resource: %d, want 404", r.Status)
	}
}

// Every absolute URL follows the public URL of the request: a TLS-terminating tunnel's host.
func TestMetadataFollowsTunnel(t *testing.T) {
	h := newHarness(t)
	hdr := []string{"X-Forwarded-Host", "garbage-actress-light-legislature.trycloudflare.com", "X-Forwarded-Proto", "https"}
	pub := "https://garbage-actress-light-legislature.trycloudflare.com"
	m := h.get(pathAuthServer, hdr...).JSON(t)
	if m["issuer"] != pub || m["token_endpoint"] != pub+"/token" {
		t.Errorf("metadata via tunnel: %v", m)
	}
	m = h.get(pathProtectedResource+"/mcp", hdr...).JSON(t)
	if m["resource"] != pub+"/mcp" || strs(m["authorization_servers"])[0] != pub {
		t.Errorf("resource metadata via tunnel: %v", m)
	}
	r := h.post("/mcp", "application/json", "{}", hdr...)
	if got, want := r.Header.Get("WWW-Authenticate"), `Bearer resource_metadata="`+pub+`/.well-known/oauth-protected-resource/mcp"`; got != want {
		t.Errorf("challenge via tunnel: %q, want %q", got, want)
	}
}

// Options are read per request: a toggle changes the next answer.
func TestOptionsApplyLive(t *testing.T) {
	h := newHarness(t)
	h.as.UpdateOptions(func(o *Options) { o.DisableRegistration = true; o.DisableCIMD = true; o.Scopes = []string{} })
	m := h.get(pathAuthServer).JSON(t)
	for _, k := range []string{"registration_endpoint", "client_id_metadata_document_supported", "scopes_supported"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s still advertised: %v", k, m[k])
		}
	}
	wantOAuthError(t, h.register(map[string]any{"redirect_uris": []string{"https://x.example/cb"}}), http.StatusNotFound, "not_found")
	h.as.UpdateOptions(func(o *Options) { o.DisableRegistration = false; o.TokenError = "invalid_grant" })
	client := h.mustRegister("https://x.example/cb")
	wantOAuthError(t, h.tokenForm("grant_type", "authorization_code", "client_id", client, "code", "x"), http.StatusBadRequest, "invalid_grant")
}

// Browser clients (MCP Inspector on http://localhost:6274) get CORS through the host/origin guard.
func TestCORS(t *testing.T) {
	h := newHarness(t)
	origin := "http://localhost:6274"
	for _, path := range []string{pathToken, pathRegister, pathAuthServer, pathProtectedResource + "/mcp", "/mcp", pathRevoke} {
		req, _ := http.NewRequest(http.MethodOptions, h.url(path), nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-protocol-version")
		r := h.do(req)
		if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != origin ||
			r.Header.Get("Access-Control-Allow-Headers") != "authorization, content-type, mcp-protocol-version" {
			t.Errorf("preflight %s: %d %v", path, r.Status, r.Header)
		}
	}
	r := h.post("/mcp", "application/json", "{}", "Origin", origin)
	if r.Status != http.StatusUnauthorized || r.Header.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Errorf("401 to a browser: %d %v", r.Status, r.Header)
	}
	// A cross-site origin is refused by the guard before CORS.
	if r := h.post(pathToken, "application/json", "{}", "Origin", "https://evil.example"); r.Status != http.StatusForbidden {
		t.Errorf("cross-site origin: %d, want 403", r.Status)
	}
}

// A scope that RFC 6749 §3.3 does not allow (it would also break the challenge's quoted scope parameter) is refused
// when the server is built.
func TestNewRefusesBadScopes(t *testing.T) {
	for _, o := range []Options{
		{Scopes: []string{"read write"}},
		{Scopes: []string{""}},
		{RequiredScopes: []string{`a"b`}},
		{RequiredScopes: []string{`a\b`}},
		{RequiredScopes: []string{"é"}},
	} {
		if _, err := New(Config{Store: store.Ephemeral(store.Options{}), Options: o}); err == nil || !strings.Contains(err.Error(), "scope") {
			t.Errorf("New with %+v: %v", o, err)
		}
	}
	if _, err := New(Config{Store: store.Ephemeral(store.Options{}), Options: Options{Scopes: []string{"mcp", "files:read"}, RequiredScopes: []string{"claudeai"}}}); err != nil {
		t.Errorf("good scopes: %v", err)
	}
}
