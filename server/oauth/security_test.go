package oauth

// Security checks of the authorization endpoint: no open redirect, escaped client-provided text, bounded state.
// (FuzzAuthorize and FuzzRegister check the same properties on generated input.)

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// No open redirect from /authorize: an authorization request is redirected only to a redirect URI its client
// registered, exactly (the port of a loopback http URI aside). Everything that cannot be sent back safely — an
// unknown client, a redirect URI that is not registered, however close — is an HTML error page with no Location,
// and a consent form cannot name another destination either.
func TestNoOpenRedirect(t *testing.T) {
	for _, auto := range []bool{true, false} {
		h := newHarness(t, withOptions(func(o *Options) { o.AutoApprove = auto }))
		registered := "https://client.example/cb?tenant=a"
		client := h.mustRegister(registered, map[string]any{"redirect_uris": []string{registered, "http://127.0.0.1/callback"}})
		_, challenge := pkce()

		page := func(name string, r *response) {
			t.Helper()
			if r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
				t.Errorf("auto-approve %v, %s: want an HTML error page without Location, got %d %q %q", auto, name, r.Status,
					r.Header.Get("Content-Type"), r.Header.Get("Location"))
			}
		}
		for name, redirect := range map[string]string{
			"another host":               "https://evil.example/cb?tenant=a",
			"a longer host":              "https://client.example.evil.example/cb?tenant=a",
			"userinfo":                   "https://client.example@evil.example/cb?tenant=a",
			"another path":               "https://client.example/cb/../evil?tenant=a",
			"a path prefix":              "https://client.example/cb2?tenant=a",
			"another query":              "https://client.example/cb?tenant=b",
			"an added query parameter":   "https://client.example/cb?tenant=a&next=https://evil.example",
			"a fragment":                 "https://client.example/cb?tenant=a#https://evil.example",
			"http instead of https":      "http://client.example/cb?tenant=a",
			"another loopback path":      "http://127.0.0.1/other",
			"localhost for 127.0.0.1":    "http://localhost/callback",
			"javascript":                 "javascript:alert(document.domain)",
			"data":                       "data:text/html,<script>alert(1)</script>",
			"scheme-relative":            "//evil.example/cb",
			"backslash":                  `https://client.example\@evil.example/cb?tenant=a`,
			"encoded host":               "https://client.example%2F@evil.example/cb?tenant=a",
			"upper-case host (not same)": "https://CLIENT.example/cb?tenant=a",
		} {
			page(name, h.get(authorizeQuery(client, redirect, challenge)))
		}
		// An unknown client (a stale registration) gets a page even with a valid-looking request.
		page("an unknown client", h.get(authorizeQuery("mcpw_c_unknown", registered, challenge)))
		page("a client id metadata document URL that cannot be fetched", h.get(authorizeQuery("https://evil.example/client.json", "https://evil.example/cb", challenge)))
		page("a repeated redirect_uri", h.get(authorizeQuery(client, registered, challenge)+"&redirect_uri="+url.QueryEscape("https://evil.example/")))
		page("no client_id", h.get(authorizeQuery(client, registered, challenge, "client_id", "")))

		// With the client and its redirect URI genuine, errors go back to that URI — and only there.
		for name, kv := range map[string][]string{
			"no PKCE":             {"code_challenge", ""},
			"plain PKCE":          {"code_challenge_method", "plain"},
			"implicit grant":      {"response_type", "token"},
			"another resource":    {"resource", "https://evil.example/mcp"},
			"loopback, any port":  {"redirect_uri", "http://127.0.0.1:53682/callback"},
			"a valid request too": nil,
		} {
			r := h.get(authorizeQuery(client, registered, challenge, kv...))
			if auto || name != "a valid request too" && name != "loopback, any port" {
				loc, page := errorAnswer(t, r)
				want := registered
				if name == "loopback, any port" {
					want = "http://127.0.0.1:53682/callback"
				}
				// An error to the https URI the client registered for itself is a page with a link, never a redirect.
				if page != (want == registered && name != "a valid request too") {
					t.Errorf("auto-approve %v, %s: error page %v", auto, name, page)
				}
				if !strings.HasPrefix(loc.String(), strings.Split(want, "?")[0]+"?") ||
					(strings.Contains(want, "tenant=a") && loc.Query().Get("tenant") != "a") {
					t.Errorf("auto-approve %v, %s: redirected (%d) to %s, want %s", auto, name, r.Status, loc, want)
				}
			} else if r.Status != http.StatusOK || r.Header.Get("Location") != "" {
				t.Errorf("auto-approve %v, %s: want the consent page, got %d", auto, name, r.Status)
			}
		}
		if auto {
			continue
		}
		// The consent form's answer goes to the redirect URI of the request shown, whatever the form adds.
		form := consentForm(t, h.get(authorizeQuery(client, registered, challenge)))
		form.Set("action", "approve")
		form.Set("redirect_uri", "https://evil.example/cb")
		r := h.post(pathAuthorize, "application/x-www-form-urlencoded", form.Encode())
		if loc := r.Location(t); r.Status != http.StatusFound || loc.Host != "client.example" {
			t.Errorf("consent with a redirect_uri field: %d to %s", r.Status, loc)
		}
	}
}

// The consent page and the error pages escape what a client provides: its name, and its redirect URIs (query
// included). A page about a hostile client holds exactly the markup (every '<' and '"') of the same page about a
// harmless one, and the pages forbid scripts through their Content-Security-Policy.
func TestPagesEscapeClientInput(t *testing.T) {
	h := newHarness(t)
	_, challenge := pkce()
	register := func(name, redirect string) string {
		r := h.register(map[string]any{"client_name": name, "redirect_uris": []string{redirect}})
		if r.Status != http.StatusCreated {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["client_id"].(string)
	}
	evilName := `<script>alert("name")</script><img src=x onerror=alert(2)>`
	evilRedirect := `https://x.example/cb?q=<script>alert(1)</script>&r="><img src=x onerror=alert(3)>`
	evil := register(evilName, evilRedirect)
	good := register("Harmless", "https://x.example/cb?q=1")
	same := func(what string, bad, ok *response, mustShow ...string) {
		t.Helper()
		if bad.Status != ok.Status {
			t.Fatalf("%s: HTTP %d, and %d for a harmless client", what, bad.Status, ok.Status)
		}
		for _, c := range []string{"<", `"`} {
			if nb, ng := strings.Count(bad.Body, c), strings.Count(ok.Body, c); nb != ng {
				t.Errorf("%s: %d %q in the page about the hostile client, %d in the harmless one's:\n%s", what, nb, c, ng, bad.Body)
			}
		}
		for _, s := range mustShow {
			if !strings.Contains(bad.Body, s) {
				t.Errorf("%s: the page does not show %q (escaped)", what, s)
			}
		}
		if csp := bad.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: Content-Security-Policy %q", what, csp)
		}
		if bad.Header.Get("X-Content-Type-Options") != "nosniff" || bad.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: nosniff %q, frame options %q", what, bad.Header.Get("X-Content-Type-Options"), bad.Header.Get("X-Frame-Options"))
		}
	}
	same("consent page", h.get(authorizeQuery(evil, evilRedirect, challenge)), h.get(authorizeQuery(good, "https://x.example/cb?q=1", challenge)),
		"&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;", "q=&lt;script&gt;alert(1)&lt;/script&gt;")
	// An unregistered redirect URI is shown on the error page, escaped, with the client's name.
	same("error page", h.get(authorizeQuery(evil, evilRedirect+"&more=<script>x</script>", challenge)),
		h.get(authorizeQuery(good, "https://x.example/cb?q=1&more=x", challenge)), "&lt;script&gt;x&lt;/script&gt;")
	// An unknown client id is shown escaped too.
	same("unknown client page", h.get(authorizeQuery(`<script>alert(4)</script>`, evilRedirect, challenge)),
		h.get(authorizeQuery("mcpw_c_unknown", "https://x.example/cb?q=1", challenge)), "&lt;script&gt;alert(4)&lt;/script&gt;")
}

// With --auto-approve every valid authorization request mints a code; the codes outstanding are bounded, so that
// a flood from the public URL cannot grow memory (or the cost of pruning) without end — and the flood pushes out
// only the oldest codes, never refusing the next client.
func TestAuthorizationCodesBounded(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) { o.AutoApprove = true }))
	client := h.mustRegister(cb)
	_, challenge := pkce()
	h.as.mu.Lock()
	for i := range maxCodes {
		h.as.codes.Add(randomToken(""), fmt.Sprint("flooder", i%1000), 600, h.clock.Now().Add(time.Duration(i%60)*time.Second+usedCodeMemory), &authCode{Expires: h.clock.Now()})
	}
	h.as.mu.Unlock()
	loc := h.get(authorizeQuery(client, cb, challenge)).Location(t)
	if q := loc.Query(); q.Get("code") == "" || q.Get("state") != "st-123" {
		t.Errorf("with %d codes outstanding: redirect %s", maxCodes, loc)
	}
	h.as.mu.Lock()
	n := h.as.codes.Len()
	h.as.mu.Unlock()
	if n > maxCodes {
		t.Errorf("%d codes held, more than %d", n, maxCodes)
	}
}
