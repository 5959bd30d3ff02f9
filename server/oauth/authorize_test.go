package oauth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const cb = "https://claude.ai/api/mcp/auth_callback"

func TestAuthorizeConsentApprove(t *testing.T) {
	h := newHarness(t)
	client := h.mustRegister(cb)
	_, challenge := pkce()
	page := h.get(authorizeQuery(client, cb, challenge, "scope", "claudeai"))
	for _, want := range []string{"test client", client, cb, "claudeai", h.srv.URL + "/mcp", "https://claude.ai"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	for k, v := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "same-origin"} {
		if page.Header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, page.Header.Get(k), v)
		}
	}
	form := consentForm(t, page)
	form.Set("action", "approve")
	r := h.post(pathAuthorize, "application/x-www-form-urlencoded", form.Encode())
	if r.Status != http.StatusFound {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	loc := r.Location(t)
	q := loc.Query()
	if loc.Scheme+"://"+loc.Host+loc.Path != cb || q.Get("state") != "st-123" || q.Get("iss") != h.srv.URL || !strings.HasPrefix(q.Get("code"), prefixCode) {
		t.Errorf("redirect %s", loc)
	}
	// The form is single-use.
	if r := h.post(pathAuthorize, "application/x-www-form-urlencoded", form.Encode()); r.Status != http.StatusBadRequest {
		t.Errorf("second answer: %d", r.Status)
	}
}

func TestAuthorizeConsentDeny(t *testing.T) {
	h := newHarness(t)
	client := h.mustRegister(cb)
	_, challenge := pkce()
	form := consentForm(t, h.get(authorizeQuery(client, cb, challenge)))
	form.Set("action", "deny")
	loc := h.post(pathAuthorize, "application/x-www-form-urlencoded", form.Encode()).Location(t)
	if q := loc.Query(); q.Get("error") != "access_denied" || q.Get("state") != "st-123" || q.Get("iss") != h.srv.URL || q.Has("code") {
		t.Errorf("redirect %s", loc)
	}
	h.as.mu.Lock()
	n := h.as.codes.Len()
	h.as.mu.Unlock()
	if n != 0 {
		t.Error("a denial issued a code")
	}
}

// A consent answer without the page's CSRF token or the browser's cookie is refused and changes nothing: the
// genuine page can still be answered.
func TestAuthorizeForgedConsent(t *testing.T) {
	h := newHarness(t)
	client := h.mustRegister(cb)
	_, challenge := pkce()
	form := consentForm(t, h.get(authorizeQuery(client, cb, challenge)))
	form.Set("action", "approve")
	before := h.snapshot()

	forged := url.Values{"consent": {form.Get("consent")}, "csrf": {"not-the-token"}, "action": {"approve"}}
	r := h.post(pathAuthorize, "application/x-www-form-urlencoded", forged.Encode())
	if r.Status != http.StatusForbidden || r.Header.Get("Location") != "" || !strings.Contains(r.Body, "Forged consent form") {
		t.Errorf("wrong CSRF token: %d %s", r.Status, r.Body)
	}
	noToken := url.Values{"consent": {form.Get("consent")}, "action": {"approve"}}
	if r := h.post(pathAuthorize, "application/x-www-form-urlencoded", noToken.Encode()); r.Status != http.StatusForbidden {
		t.Errorf("no CSRF token: %d", r.Status)
	}
	// The right token from another browser (no cookie).
	other := &http.Client{CheckRedirect: h.http.CheckRedirect}
	req, _ := http.NewRequest(http.MethodPost, h.url(pathAuthorize), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := other.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("no browser cookie: %d", resp.StatusCode)
	}
	h.unchanged(before)
	if r := h.post(pathAuthorize, "application/x-www-form-urlencoded", form.Encode()); r.Status != http.StatusFound || r.Location(t).Query().Get("code") == "" {
		t.Errorf("the genuine answer after forged ones: %d %s", r.Status, r.Body)
	}
}

// A genuine form (the right CSRF token and cookie) without a valid answer is refused and changes nothing: the
// consent stays pending, so the page's Approve still works.
func TestAuthorizeConsentWithoutAnswer(t *testing.T) {
	h := newHarness(t)
	client := h.mustRegister(cb)
	_, challenge := pkce()
	form := consentForm(t, h.get(authorizeQuery(client, cb, challenge)))
	before := h.snapshot()
	for _, action := range []string{"", "maybe"} {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Del("action")
		if action != "" {
			bad.Set("action", action)
		}
		r := h.post(pathAuthorize, "application/x-www-form-urlencoded", bad.Encode())
		if r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(r.Body, "approve or deny") {
			t.Errorf("action %q: %d %s", action, r.Status, r.Body)
		}
	}
	h.unchanged(before)
	form.Set("action", "approve")
	if r := h.post(pathAuthorize, "application/x-www-form-urlencoded", form.Encode()); r.Status != http.StatusFound || r.Location(t).Query().Get("code") == "" {
		t.Errorf("approve after the invalid answers: %d %s", r.Status, r.Body)
	}
}

func TestAuthorizeAutoApprove(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) { o.AutoApprove = true }))
	client := h.mustRegister(cb)
	_, challenge := pkce()
	loc := h.get(authorizeQuery(client, cb, challenge)).Location(t)
	if q := loc.Query(); q.Get("code") == "" || q.Get("state") != "st-123" || q.Get("iss") != h.srv.URL {
		t.Errorf("redirect %s", loc)
	}
	h.as.UpdateOptions(func(o *Options) { o.DenyConsent = true })
	loc = h.get(authorizeQuery(client, cb, challenge)).Location(t)
	if q := loc.Query(); q.Get("error") != "access_denied" || q.Has("code") {
		t.Errorf("deny toggle: redirect %s", loc)
	}
}

// Errors that cannot safely redirect are shown on a page with the likely cause; nothing changes.
func TestAuthorizeErrorPages(t *testing.T) {
	h := newHarness(t)
	client := h.mustRegister(cb)
	_, challenge := pkce()
	for _, tc := range []struct {
		name, path, want string
	}{
		{"unknown client", authorizeQuery("mcpw_c_from_an_earlier_run", cb, challenge), "earlier run of mcpwatch"},
		{"no client_id", authorizeQuery("", cb, challenge, "client_id", ""), "no client_id"},
		{"unregistered redirect_uri", authorizeQuery(client, "https://claude.com/api/mcp/auth_callback", challenge), "Unregistered redirect URI"},
		{"redirect_uri with another path", authorizeQuery(client, cb+"/x", challenge), "Unregistered redirect URI"},
		{"repeated parameter", authorizeQuery(client, cb, challenge) + "&client_id=" + client, "more than once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			r := h.get(tc.path)
			if r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(r.Body, tc.want) {
				t.Errorf("%d %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
			}
			if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
			}
			h.unchanged(before)
		})
	}
}

// Errors about a genuine client and redirect URI go back to it with state and iss: at once for a trusted redirect
// URI (loopback, a private-use scheme), through a link on an error page for an https URI the client registered
// for itself (RFC 9700 §4.11.2).
func TestAuthorizeErrorRedirects(t *testing.T) {
	for _, redirect := range []string{"http://127.0.0.1:33418/callback", "com.example.app:/callback", "cursor://anysphere.cursor-mcp/oauth/callback", cb} {
		t.Run(redirect, func(t *testing.T) { testAuthorizeErrorRedirects(t, redirect, redirect != cb) })
	}
}

func testAuthorizeErrorRedirects(t *testing.T, cb string, trusted bool) {
	h := newHarness(t)
	client := h.mustRegister(cb)
	_, challenge := pkce()
	for _, tc := range []struct {
		name string
		kv   []string
		code string
	}{
		{"plain PKCE", []string{"code_challenge_method", "plain"}, "invalid_request"},
		{"PKCE method missing (plain by default)", []string{"code_challenge_method", ""}, "invalid_request"},
		{"no PKCE", []string{"code_challenge", "", "code_challenge_method", ""}, "invalid_request"},
		{"short challenge", []string{"code_challenge", "abc"}, "invalid_request"},
		{"implicit", []string{"response_type", "token"}, "unsupported_response_type"},
		{"no response_type", []string{"response_type", ""}, "invalid_request"},
		{"foreign resource", []string{"resource", "https://other.example/mcp"}, "invalid_target"},
		{"relative resource", []string{"resource", "/mcp"}, "invalid_target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			loc, page := errorAnswer(t, h.get(authorizeQuery(client, cb, challenge, tc.kv...)))
			if page == trusted {
				t.Errorf("trusted redirect URI %v, error page %v", trusted, page)
			}
			if !strings.HasPrefix(loc.String(), cb+"?") {
				t.Errorf("answer to %s", loc)
			}
			q := loc.Query()
			if q.Get("error") != tc.code || q.Get("state") != "st-123" || q.Get("iss") != h.srv.URL || q.Has("code") {
				t.Errorf("redirect %s", loc)
			}
			h.unchanged(before)
		})
	}
}

// The loopback port of a redirect URI may differ from the registered one (RFC 8252 §7.3); nothing else may.
func TestAuthorizeLoopbackPort(t *testing.T) {
	h := newHarness(t)
	client := h.mustRegister("http://127.0.0.1:33418/callback")
	_, challenge := pkce()
	consentForm(t, h.get(authorizeQuery(client, "http://127.0.0.1:50123/callback", challenge)))
	for _, bad := range []string{"http://127.0.0.1:50123/other", "http://localhost:33418/callback", "https://127.0.0.1:33418/callback"} {
		if r := h.get(authorizeQuery(client, bad, challenge)); r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q", bad, r.Status, r.Header.Get("Location"))
		}
	}
}

func TestAuthorizeRedirectOmitted(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) { o.AutoApprove = true }))
	client := h.mustRegister(cb)
	verifier, challenge := pkce()
	loc := h.get(authorizeQuery(client, "", challenge, "redirect_uri", "")).Location(t)
	code := loc.Query().Get("code")
	if !strings.HasPrefix(loc.String(), cb+"?") || code == "" {
		t.Fatalf("redirect %s", loc)
	}
	h.mustTokens(h.tokenForm("grant_type", "authorization_code", "code", code, "client_id", client, "code_verifier", verifier))
}
