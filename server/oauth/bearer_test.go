package oauth

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestBearerChallenge(t *testing.T) {
	h := newHarness(t)
	prm := h.srv.URL + "/.well-known/oauth-protected-resource/mcp"
	_, tk := h.flow(cb)

	// No token: 401, resource_metadata, no error code (RFC 6750 §3.1).
	r := h.mcp("")
	if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != `Bearer resource_metadata="`+prm+`"` {
		t.Errorf("no token: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	// GET (Claude's second probe) gets the same.
	if r := h.get("/mcp", "Accept", "text/event-stream"); r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer resource_metadata=") {
		t.Errorf("GET: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
	for _, tc := range []struct{ name, header, why string }{
		{"unknown token", "Bearer mcpw_at_unknown", "unknown or revoked"},
		{"not bearer", "Basic dXNlcjpwYXNz", "not"},
		{"bearer without token", "Bearer", "not"},
	} {
		r := h.post("/mcp", "application/json", "{}", "Authorization", tc.header)
		wa := r.Header.Get("WWW-Authenticate")
		if r.Status != http.StatusUnauthorized || !strings.Contains(wa, `resource_metadata="`+prm+`"`) || !strings.Contains(wa, `error="invalid_token"`) ||
			!strings.Contains(wa, tc.why) {
			t.Errorf("%s: %d %q", tc.name, r.Status, wa)
		}
	}
	// Lowercase scheme is fine.
	if r := h.post("/mcp", "application/json", "{}", "Authorization", "bearer "+tk.Access); r.Status != http.StatusOK {
		t.Errorf("lowercase bearer: %d", r.Status)
	}
}

func TestBearerExpired(t *testing.T) {
	h := newHarness(t)
	_, tk := h.flow(cb)
	h.clock.Advance(defaultAccessTokenTTL + time.Second)
	r := h.mcp(tk.Access)
	if wa := r.Header.Get("WWW-Authenticate"); r.Status != http.StatusUnauthorized || !strings.Contains(wa, `error="invalid_token"`) || !strings.Contains(wa, "expired") {
		t.Errorf("expired: %d %q", r.Status, wa)
	}
}

// The token's audience is the resource it was issued for: a token for /sse, or for another host name of this
// server, is refused at /mcp.
func TestBearerWrongAudience(t *testing.T) {
	h := newHarness(t)
	_, tk := h.flow(cb, "resource", h.srv.URL+"/sse")
	if r := h.post("/sse", "application/json", "{}", "Authorization", "Bearer "+tk.Access); r.Status != http.StatusOK {
		t.Errorf("token at its own resource: %d %s", r.Status, r.Body)
	}
	r := h.mcp(tk.Access)
	if wa := r.Header.Get("WWW-Authenticate"); r.Status != http.StatusUnauthorized || !strings.Contains(wa, `error="invalid_token"`) || !strings.Contains(wa, "issued for") {
		t.Errorf("token for /sse at /mcp: %d %q", r.Status, wa)
	}
	// Issued for http://127.0.0.1:PORT/mcp, presented at http://localhost:PORT/mcp.
	_, tk = h.flow(cb)
	local := strings.Replace(h.srv.URL, "127.0.0.1", "localhost", 1)
	if r := h.post(local+"/mcp", "application/json", "{}", "Authorization", "Bearer "+tk.Access); r.Status != http.StatusUnauthorized {
		t.Errorf("token for another host name: %d", r.Status)
	}
	// A trailing slash on the resource is tolerated (clients round-trip either form).
	_, tk = h.flow(cb, "resource", h.srv.URL+"/mcp/")
	if r := h.mcp(tk.Access); r.Status != http.StatusOK {
		t.Errorf("resource with a trailing slash: %d", r.Status)
	}
}

func TestBearerScopes(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) { o.RequiredScopes = []string{"mcp:tools"} }))
	prm := h.srv.URL + "/.well-known/oauth-protected-resource/mcp"
	if got, want := h.mcp("").Header.Get("WWW-Authenticate"), `Bearer resource_metadata="`+prm+`", scope="mcp:tools"`; got != want {
		t.Errorf("challenge %q, want %q", got, want)
	}
	// Claude insists on its own scope: the token works for the AS but lacks the required one.
	_, tk := h.flow(cb, "scope", "claudeai")
	r := h.mcp(tk.Access)
	if wa := r.Header.Get("WWW-Authenticate"); r.Status != http.StatusForbidden || !strings.Contains(wa, `error="insufficient_scope"`) || !strings.Contains(wa, `scope="mcp:tools"`) {
		t.Errorf("insufficient scope: %d %q", r.Status, wa)
	}
	// No scope requested: the required ones are granted.
	_, tk = h.flow(cb)
	if tk.Scope != "mcp:tools" {
		t.Errorf("default scope %q", tk.Scope)
	}
	if r := h.mcp(tk.Access); r.Status != http.StatusOK {
		t.Errorf("token with the required scope: %d", r.Status)
	}
}
