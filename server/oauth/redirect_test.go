package oauth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/server/oauth/store"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Registration takes redirect URIs from an allow-list of forms; the schemes a browser hands to a Windows handler
// or renders itself are refused, as is any other unknown scheme.
func TestRegisterRedirectSchemesAllowList(t *testing.T) {
	h := newHarness(t)
	for _, bad := range []string{
		"ms-msdt:/id PCWDiagnostic /skip force", "search-ms:query=x&crumb=location:\\\\evil.example\\share",
		"view-source:https://evil.example/", "javascript:alert(1)", "data:text/html,x", "file:///etc/passwd",
		"vbscript:x", "ms-officecmd:x", "myapp:/callback", "com..example:/cb", "http://evil.example/cb",
		"https://x.example/" + strings.Repeat("a", maxRedirectURIBytes),
	} {
		wantOAuthError(t, h.register(map[string]any{"redirect_uris": []string{bad}}), http.StatusBadRequest, "invalid_redirect_uri")
	}
	for _, good := range []string{
		"https://claude.ai/api/mcp/auth_callback", "http://127.0.0.1:33418/", "http://localhost:8787/callback", "http://[::1]/cb",
		"cursor://anysphere.cursor-mcp/oauth/callback", "vscode://vscode.github-authentication/did-authenticate",
		"com.example.app:/oauth2redirect", "com.example.app:/cb",
	} {
		h.mustRegister(good)
	}
}

// A client registered before the allow-list (an old state file) with a dangerous scheme gets no redirect at all:
// every authorization request, valid or not, is an error page.
func TestAuthorizeRefusesOldDangerousRedirect(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) { o.AutoApprove = true }))
	const evil = "ms-msdt:/id PCWDiagnostic"
	h.as.store.Update(func(s *store.State) error {
		s.Clients.Put("mcpw_c_old", store.Client{ID: "mcpw_c_old", IssuedAt: time.Now(), Metadata: oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{evil}, TokenEndpointAuthMethod: "none"}})
		return nil
	})
	_, challenge := pkce()
	for _, kv := range [][]string{nil, {"response_type", ""}, {"code_challenge", ""}} {
		r := h.get(authorizeQuery("mcpw_c_old", evil, challenge, kv...))
		if r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" || strings.Contains(r.Body, `id="continue"`) {
			t.Errorf("%v: %d %q", kv, r.Status, r.Header.Get("Location"))
		}
	}
}
