package e2e

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// consentOut is what e2e/node/consent_browser.mjs prints.
type consentOut struct {
	Approve, Deny, Tampered consentRun
	Forged                  struct {
		WrongToken, NoToken struct {
			Status  int
			Heading string
		}
		Genuine struct {
			Status int
			URL    string
			Params map[string]string
		}
	}
	CrossSite struct {
		Status  int
		URL     string
		Heading string
	} `json:"crossSite"`
}

type consentRun struct {
	Seen struct {
		Status                                   int
		Title, ClientName, RedirectURI, Resource string
		FrameOptions                             string
	}
	Status  int
	URL     string
	Params  map[string]string
	Heading string
}

// TestOAuthConsentPageChromium drives the consent page in a real headless Chromium (Debian's chromium, through
// playwright-core): Approve lands on the client's redirect URI with a code, state and iss; Deny with
// access_denied; a form whose CSRF token was altered is refused (and the genuine form still works afterwards), and
// so is a consent answer another site's page posts.
func TestOAuthConsentPageChromium(t *testing.T) {
	srv := Start(t, "serve")

	// The client's redirect URI: a callback server that records what reaches it.
	var mu sync.Mutex
	var callbacks []url.Values
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/callback" {
			mu.Lock()
			callbacks = append(callbacks, r.URL.Query())
			mu.Unlock()
		}
		fmt.Fprintln(w, "<!doctype html><title>callback</title><h1>callback</h1>")
	}))
	defer cb.Close()
	redirect := cb.URL + "/callback"

	// Another site (127.0.0.2 is another host, so another site for the browser's cookies) with a page that posts a
	// consent answer to mcpwatch with a made-up CSRF token.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	evilPage := template.Must(template.New("").Parse(`<!doctype html><title>evil</title>
<form id="f" method="post" action="{{.Action}}"><input name="consent" value="{{.Consent}}"><input name="csrf" value="guessed">
<input name="action" value="approve"></form><script>document.getElementById('f').submit()</script>`))
	evil := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		evilPage.Execute(w, map[string]string{"Action": srv.URL + "/authorize", "Consent": r.URL.Query().Get("consent")})
	})}}
	evil.Start()
	defer evil.Close()

	reg := postJSON(t, srv.URL+"/register", `{"client_name":"Chromium e2e client","redirect_uris":["`+redirect+`"],"scope":"mcp"}`)
	clientID, _ := reg["client_id"].(string)
	q := authorizeParams(clientID, redirect)
	q.Del("state")
	q.Set("scope", "mcp")
	res := Node(t, 2*time.Minute, "consent_browser.mjs", "--authorize", srv.URL+"/authorize?"+q.Encode(), "--evil", evil.URL+"/evil")
	if res.Code != 0 {
		t.Fatalf("consent_browser.mjs exited with code %d:\n%s\n%s", res.Code, res.Stderr, res.Stdout)
	}
	var out consentOut
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		t.Fatalf("consent_browser.mjs output: %v\n%s", err, res.Stdout)
	}

	seen := out.Approve.Seen
	if seen.Status != 200 || seen.ClientName != "Chromium e2e client" || seen.RedirectURI != redirect || seen.Resource != srv.URL+"/mcp" ||
		seen.FrameOptions != "DENY" || !strings.Contains(seen.Title, "Chromium e2e client") {
		t.Errorf("the consent page as shown: %+v", seen)
	}
	atCallback := func(name string, r consentRun, state string) map[string]string {
		t.Helper()
		if !strings.HasPrefix(r.URL, redirect+"?") || r.Params["state"] != state || r.Params["iss"] != srv.URL {
			t.Errorf("%s: ended at %s, want the redirect URI with state %s and iss %s", name, r.URL, state, srv.URL)
		}
		return r.Params
	}
	if p := atCallback("approve", out.Approve, "approve-state"); p["code"] == "" || p["error"] != "" {
		t.Errorf("approve: %v, want a code", p)
	}
	if p := atCallback("deny", out.Deny, "deny-state"); p["error"] != "access_denied" || p["code"] != "" {
		t.Errorf("deny: %v, want error=access_denied", p)
	}
	if f := out.Tampered; f.Status != http.StatusForbidden || !strings.HasPrefix(f.URL, srv.URL+"/authorize") || f.Heading != "Forged consent form" {
		t.Errorf("altered CSRF field: HTTP %d at %s (%q), want 403 on mcpwatch", f.Status, f.URL, f.Heading)
	}
	if f := out.Forged; f.WrongToken.Status != http.StatusForbidden || f.WrongToken.Heading != "Forged consent form" || f.NoToken.Status != http.StatusForbidden {
		t.Errorf("posts with a wrong / no CSRF token: %+v / %+v, want 403", f.WrongToken, f.NoToken)
	}
	if g := out.Forged.Genuine; !strings.HasPrefix(g.URL, redirect+"?") || g.Params["code"] == "" || g.Params["state"] != "forged-state" {
		t.Errorf("the genuine form after the forged posts: %+v", g)
	}
	if c := out.CrossSite; c.Status != http.StatusForbidden || !strings.HasPrefix(c.URL, srv.URL+"/authorize") || c.Heading != "Forged consent form" {
		t.Errorf("a consent answer posted by another site: HTTP %d at %s (%q), want 403 on mcpwatch", c.Status, c.URL, c.Heading)
	}

	mu.Lock()
	defer mu.Unlock()
	var codes int
	for _, v := range callbacks {
		if v.Get("code") != "" {
			codes++
		}
	}
	if len(callbacks) != 3 || codes != 2 {
		t.Errorf("the redirect URI was reached %d times with %d codes, want 3 (approve, deny, genuine) with 2 codes: %v", len(callbacks), codes, callbacks)
	}
}
