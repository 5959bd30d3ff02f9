package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/proxy"
)

// asRig is mcpwatch's two listeners: the proxy to an MCP server, and the watched authorization server's.
type asRig struct {
	store   *recorder.Store
	mcp, as string
	mu      sync.Mutex
	said    []string
	p       *proxy.Proxy
}

func newASRig(t *testing.T, upstream string) *asRig {
	t.Helper()
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{})
	rg := &asRig{store: store}
	p, err := proxy.New(proxy.Options{Upstream: upstream, Recorder: rec, RewriteURLs: true, WatchAS: true,
		OnASFinding: func(s string) { rg.mu.Lock(); rg.said = append(rg.said, s); rg.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	rg.p = p
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", Recorder: rec, Handler: p, EndpointPath: p.EndpointPath()})
	if err != nil {
		t.Fatal(err)
	}
	asSrv, err := server.New(server.Config{Addr: "127.0.0.1:0", Recorder: rec, Handler: p.AS(), EndpointPath: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := asSrv.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := p.SetASPublic(asSrv.LocalURL()); err != nil {
		t.Fatal(err)
	}
	srv.Also(asSrv)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		p.Close()
	})
	rg.mcp, rg.as = srv.LocalURL(), asSrv.LocalURL()
	return rg
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, method, u, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// Each rewrite between a client and an authorization server on another origin, and what passes untouched.
func TestWatchesTheExternalAuthorizationServer(t *testing.T) {
	var asURL string // the real authorization server, as it names itself
	var seen sync.Map
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.URL.Path, r.Header.Clone())
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server/tenant", "/tenant/.well-known/openid-configuration":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"issuer":"%[1]s/tenant","authorization_endpoint":"%[1]s/tenant/authorize","token_endpoint":"%[1]s/tenant/token","registration_endpoint":"%[1]s/tenant/register","revocation_endpoint":"%[1]s/tenant/revoke","userinfo_endpoint":"https://other.example/userinfo"}`, asURL)
		case "/tenant/register":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			io.WriteString(w, `{"client_id":"c1","client_secret":"s3cret"}`)
		case "/tenant/authorize":
			http.Redirect(w, r, asURL+"/tenant/login?return_to="+url.QueryEscape(asURL+"/tenant/authorize"), http.StatusFound)
		case "/tenant/login":
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: "v1", Domain: "127.0.0.1", Path: "/", Secure: true, SameSite: http.SameSiteNoneMode})
			http.SetCookie(w, &http.Cookie{Name: "__Host-x", Value: "v2", Path: "/", Secure: true})
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<form method="post" action="%s/tenant/login/submit"><input name="u"></form>`, asURL)
		case "/tenant/login/submit":
			w.Header().Set("Location", "https://claude.ai/api/mcp/auth_callback?code=abc&state=s&iss="+url.QueryEscape(asURL+"/tenant"))
			w.WriteHeader(http.StatusFound)
		case "/tenant/spa":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<script>location = "http://" + "%s" + "/tenant/next"</script>`, strings.TrimPrefix(asURL, "http://"))
		case "/tenant/social":
			http.Redirect(w, r, "https://accounts.google.com/o/oauth2/auth?response_type=code&client_id=x", http.StatusFound)
		case "/tenant/token":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Access-Control-Allow-Origin", asURL)
			fmt.Fprintf(w, `{"access_token":"tok-%s","token_type":"Bearer"}`, asURL)
		}
	}))
	defer as.Close()
	asURL = as.URL
	var mcpURL string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/mcp":
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+mcpURL+`/.well-known/oauth-protected-resource/mcp", authorization_uri="`+asURL+`/tenant/authorize"`)
			w.WriteHeader(401)
		case "/.well-known/oauth-protected-resource/mcp":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"resource":"%s/mcp","authorization_servers":["%s/tenant"]}`, mcpURL, asURL)
		}
	}))
	defer up.Close()
	mcpURL = up.URL
	rg := newASRig(t, up.URL+"/mcp")

	// Before the resource metadata names it, the listener knows no server.
	if resp, body := do(t, "GET", rg.as+"/.well-known/oauth-authorization-server/tenant", ""); resp.StatusCode != 502 || !strings.Contains(body, "named none yet") {
		t.Errorf("before learning: %d %q", resp.StatusCode, body)
	}
	// The resource metadata: authorization_servers names the listener.
	_, body := do(t, "GET", rg.mcp+"/.well-known/oauth-protected-resource/mcp", "")
	if want := `{"resource":"` + rg.mcp + `/mcp","authorization_servers":["` + rg.as + `/tenant"]}`; body != want {
		t.Errorf("resource metadata %s\nwant %s", body, want)
	}
	if rg.p.WatchedAS() != asURL {
		t.Errorf("watched %q", rg.p.WatchedAS())
	}
	for _, ex := range rg.exchanges(t, 3) { // the 502 (in and out) and the resource metadata's inbound exchange
		if ex.Kind == recorder.Inbound && ex.Path() == "/.well-known/oauth-protected-resource/mcp" &&
			(ex.Note(proxy.NoteAS) != "" || !strings.HasPrefix(ex.Note(proxy.NoteASLearnt), "watching the authorization server "+asURL)) {
			t.Errorf("resource metadata notes %v", ex.Notes)
		}
	}
	// The challenge's URL of the authorization server too (once known).
	resp, _ := do(t, "POST", rg.mcp+"/mcp", "{}")
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `authorization_uri="`+rg.as+`/tenant/authorize"`) {
		t.Errorf("challenge %q", ch)
	}
	// Its metadata, RFC 8414 path-inserted and OpenID path-appended: issuer and endpoints on the listener, an
	// endpoint on a third origin left as it is.
	for _, path := range []string{"/.well-known/oauth-authorization-server/tenant", "/tenant/.well-known/openid-configuration"} {
		_, body := do(t, "GET", rg.as+path, "")
		want := fmt.Sprintf(`{"issuer":"%[1]s/tenant","authorization_endpoint":"%[1]s/tenant/authorize","token_endpoint":"%[1]s/tenant/token","registration_endpoint":"%[1]s/tenant/register","revocation_endpoint":"%[1]s/tenant/revoke","userinfo_endpoint":"https://other.example/userinfo"}`, rg.as)
		if body != want {
			t.Errorf("%s: %s\nwant %s", path, body, want)
		}
	}
	// Registration: the client's credentials pass untouched.
	if _, body := do(t, "POST", rg.as+"/tenant/register", `{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}`, "Content-Type", "application/json"); body != `{"client_id":"c1","client_secret":"s3cret"}` {
		t.Errorf("register %q", body)
	}
	// Authorize: the login redirect stays on the listener (an encoded URL in its query is left: the server's
	// redirect to it is rewritten when it comes).
	resp, _ = do(t, "GET", rg.as+"/tenant/authorize?response_type=code&client_id=c1", "", "Origin", rg.as)
	if want := rg.as + "/tenant/login?return_to=" + url.QueryEscape(asURL+"/tenant/authorize"); resp.Header.Get("Location") != want {
		t.Errorf("authorize Location %q", resp.Header.Get("Location"))
	}
	if h, _ := seen.Load("/tenant/authorize"); h != nil {
		hh := h.(http.Header)
		if hh.Get("Origin") != asURL || hh.Get("X-Forwarded-Host") != "" {
			t.Errorf("the server got Origin %q, X-Forwarded-Host %q", hh.Get("Origin"), hh.Get("X-Forwarded-Host"))
		}
	}
	// The login page: the form posts to the listener; cookies without Domain, Secure dropped on plain http (None
	// becomes Lax), kept on a __Host- cookie.
	resp, body = do(t, "GET", rg.as+"/tenant/login", "")
	if !strings.Contains(body, `action="`+rg.as+`/tenant/login/submit"`) {
		t.Errorf("login page %q", body)
	}
	cookies := resp.Header.Values("Set-Cookie")
	if len(cookies) != 2 || cookies[0] != "sid=v1; Path=/; HttpOnly; SameSite=Lax" && cookies[0] != "sid=v1; Path=/; SameSite=Lax" || cookies[1] != "__Host-x=v2; Path=/; Secure" {
		t.Errorf("cookies %q", cookies)
	}
	// The authorization response: back to the client, iss naming the issuer the client saw.
	resp, _ = do(t, "POST", rg.as+"/tenant/login/submit", "u=x", "Content-Type", "application/x-www-form-urlencoded")
	if want := "https://claude.ai/api/mcp/auth_callback?code=abc&state=s&iss=" + url.QueryEscape(rg.as+"/tenant"); resp.Header.Get("Location") != want {
		t.Errorf("callback %q\nwant %q", resp.Header.Get("Location"), want)
	}
	// The token: untouched, even where it names the real origin; CORS names the listener.
	resp, body = do(t, "POST", rg.as+"/tenant/token", "grant_type=authorization_code&code=abc", "Content-Type", "application/x-www-form-urlencoded")
	if body != `{"access_token":"tok-`+asURL+`","token_type":"Bearer"}` || resp.Header.Get("Access-Control-Allow-Origin") != rg.as {
		t.Errorf("token %q (ACAO %q)", body, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	do(t, "POST", rg.as+"/tenant/token", "grant_type=refresh_token&refresh_token=r", "Content-Type", "application/x-www-form-urlencoded")
	// Pages that cannot work through the proxy are said.
	do(t, "GET", rg.as+"/tenant/spa", "")
	do(t, "GET", rg.as+"/tenant/social", "")

	exs := rg.exchanges(t, 13)
	stages := map[string]string{}
	var problems []string
	asNotes := 0
	for _, ex := range exs {
		for _, n := range ex.Notes {
			switch {
			case n.Key == proxy.NoteRewrite && strings.Contains(n.Value, `"from":"`+asURL+`"`):
				t.Errorf("the authorization server's origin noted as the upstream's own: %s", n.Value)
			case n.Key == proxy.NoteRewriteAS:
				asNotes++
			}
		}
		if ex.Kind != recorder.Inbound || ex.Note(proxy.NoteAS) == "" {
			continue
		}
		key := ex.Method + " " + ex.Path()
		if ex.Method == "POST" && strings.Contains(string(ex.ReqBody.Data), "refresh_token") {
			key += " refresh"
		}
		stages[key] = ex.Note(proxy.NoteStage)
		if p := ex.Note(proxy.NoteASProblem); p != "" {
			problems = append(problems, ex.Path())
		}
	}
	want := map[string]string{
		"GET /.well-known/oauth-authorization-server/tenant": "auth-metadata",
		"GET /tenant/.well-known/openid-configuration":       "auth-metadata",
		"POST /tenant/register":                              "register",
		"GET /tenant/authorize":                              "authorize",
		"GET /tenant/login":                                  "login",
		"POST /tenant/login/submit":                          "login",
		"POST /tenant/token":                                 "token",
		"POST /tenant/token refresh":                         "refresh",
	}
	for k, v := range want {
		if stages[k] != v {
			t.Errorf("%s: stage %q, want %q", k, stages[k], v)
		}
	}
	if asNotes < 8 {
		t.Errorf("%d rewrite-as notes", asNotes)
	}
	slices.Sort(problems)
	if !slices.Equal(problems, []string{"/tenant/social", "/tenant/spa"}) {
		t.Errorf("problems on %v", problems)
	}
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if len(rg.said) != 3 || !strings.HasPrefix(rg.said[0], "watching the authorization server "+asURL) ||
		!strings.Contains(rg.said[1]+rg.said[2], "--watch-as=false") {
		t.Errorf("said %q", rg.said)
	}
}

func (r *asRig) exchanges(t *testing.T, n int) []*recorder.Exchange {
	return (&rig{store: r.store}).exchanges(t, n)
}

// An upstream that builds its URLs from X-Forwarded-Host names itself — its own authorization server — by
// mcpwatch's origin: that is not an external server, and nothing is watched or rewritten to the second listener.
func TestUpstreamNamingItselfByTheForwardedHostIsNotWatched(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		self := "http://" + r.Header.Get("X-Forwarded-Host")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"resource":"%s/mcp","authorization_servers":["%s"]}`, self, self)
	}))
	defer up.Close()
	rg := newASRig(t, up.URL+"/mcp")
	_, body := do(t, "GET", rg.mcp+"/.well-known/oauth-protected-resource/mcp", "")
	if want := `{"resource":"` + rg.mcp + `/mcp","authorization_servers":["` + rg.mcp + `"]}`; body != want {
		t.Errorf("resource metadata %s\nwant %s", body, want)
	}
	if w := rg.p.WatchedAS(); w != "" {
		t.Errorf("watching %s", w)
	}
}

// A server learnt from a document fetched through a public host, while the second listener is on loopback only,
// is said to be out of a remote client's reach.
func TestLoopbackListenerBehindAPublicHostIsSaid(t *testing.T) {
	as := testkit.Serve(t, http.NotFoundHandler())
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"resource":"https://abc.trycloudflare.com/mcp","authorization_servers":["%s"]}`, as.URL)
	}))
	defer up.Close()
	rg := newASRig(t, up.URL+"/mcp")
	req, _ := http.NewRequest("GET", rg.mcp+"/.well-known/oauth-protected-resource/mcp", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Host = "abc.trycloudflare.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rg.mu.Lock()
	defer rg.mu.Unlock()
	if len(rg.said) != 1 || !strings.Contains(rg.said[0], "reachable on this machine only, and the client came through https://abc.trycloudflare.com") {
		t.Errorf("said %q", rg.said)
	}
}

// cookieRig is mcpwatch's two listeners in front of an upstream MCP server and the authorization server its
// resource metadata names, each recording the Cookie headers it gets (by path for the AS, by method and path for
// the MCP server); the AS sets asCookie on /login, the MCP server mcpCookie on GET /mcp.
type cookieRig struct {
	*asRig
	asGot, mcpGot sync.Map
}

func newCookieRig(t *testing.T, asCookie, mcpCookie *http.Cookie) *cookieRig {
	t.Helper()
	cr := &cookieRig{}
	var asURL, mcpURL string
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cr.asGot.Store(r.URL.Path, r.Header.Values("Cookie"))
		if r.URL.Path == "/login" {
			http.SetCookie(w, asCookie)
		}
	}))
	t.Cleanup(as.Close)
	asURL = as.URL
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cr.mcpGot.Store(r.Method+" "+r.URL.Path, r.Header.Values("Cookie"))
		switch r.URL.Path {
		case "/.well-known/oauth-protected-resource/mcp":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"resource":"%s/mcp","authorization_servers":["%s"]}`, mcpURL, asURL)
		case "/mcp":
			if r.Method == "GET" {
				http.SetCookie(w, mcpCookie)
			}
		}
	}))
	t.Cleanup(up.Close)
	mcpURL = up.URL
	cr.asRig = newASRig(t, up.URL+"/mcp")
	do(t, "GET", cr.mcp+"/.well-known/oauth-protected-resource/mcp", "")
	if cr.p.WatchedAS() != asURL {
		t.Fatalf("watched %q", cr.p.WatchedAS())
	}
	return cr
}

// got is the Cookie header values the server got at key.
func got(m *sync.Map, key string) []string {
	v, _ := m.Load(key)
	s, _ := v.([]string)
	return s
}

// A browser sends a host-only cookie to every port of the host: each listener removes from what it forwards the
// cookies the other listener's server set (and notes it), and passes every other cookie untouched.
func TestListenersKeepTheirCookiesApart(t *testing.T) {
	rg := newCookieRig(t, &http.Cookie{Name: "sid", Value: "session-secret", Path: "/"}, &http.Cookie{Name: "mcp_pref", Value: "1"})
	// Before either server set one, cookies pass.
	do(t, "POST", rg.mcp+"/mcp", "{}", "Cookie", "sid=early; other=keep")
	if c := got(&rg.mcpGot, "POST /mcp"); !slices.Equal(c, []string{"sid=early; other=keep"}) {
		t.Errorf("before the AS set sid, the MCP server got %q", c)
	}
	do(t, "GET", rg.as+"/login", "")
	do(t, "GET", rg.mcp+"/mcp", "")
	// The AS's session cookie stops at the MCP listener; the other cookie passes.
	do(t, "POST", rg.mcp+"/mcp", "{}", "Cookie", "sid=session-secret; other=keep")
	if c := got(&rg.mcpGot, "POST /mcp"); !slices.Equal(c, []string{"other=keep"}) {
		t.Errorf("the MCP server got %q", c)
	}
	do(t, "DELETE", rg.mcp+"/mcp", "", "Cookie", "sid=session-secret")
	if c := got(&rg.mcpGot, "DELETE /mcp"); len(c) != 0 {
		t.Errorf("the MCP server got %q", c)
	}
	// The MCP server's cookie stops at the AS listener.
	do(t, "GET", rg.as+"/authorize", "", "Cookie", "mcp_pref=1; sid=session-secret")
	if c := got(&rg.asGot, "/authorize"); !slices.Equal(c, []string{"sid=session-secret"}) {
		t.Errorf("the authorization server got %q", c)
	}
	// The notes are on the inbound exchanges, which the store has once they complete (just after the client read).
	noted := 0
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		noted = 0
		for _, ex := range rg.store.Snapshot() {
			for _, n := range ex.Notes {
				if strings.Contains(n.Value, `"where":"header Cookie"`) {
					noted++
					if strings.Contains(n.Value, "session-secret") {
						t.Errorf("a note shows a cookie's value: %s", n.Value)
					}
				}
			}
		}
		if noted >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if noted != 3 {
		t.Errorf("%d cookie notes, want 3", noted)
	}
}

// A cookie name both servers set is one cookie in the browser (host-only, every port): it holds the value of
// whichever server set it last, and goes to that server alone. Both listeners used to strip it, so that neither
// server got its session back.
func TestACookieBothServersSetGoesToTheLastSetter(t *testing.T) {
	rg := newCookieRig(t, &http.Cookie{Name: "sid", Value: "as-session", Path: "/"}, &http.Cookie{Name: "sid", Value: "mcp-session"})
	// The AS sets sid, then the MCP server sets sid: the browser holds the MCP server's.
	do(t, "GET", rg.as+"/login", "")
	do(t, "GET", rg.mcp+"/mcp", "")
	do(t, "POST", rg.mcp+"/mcp", "{}", "Cookie", "sid=mcp-session")
	if c := got(&rg.mcpGot, "POST /mcp"); !slices.Equal(c, []string{"sid=mcp-session"}) {
		t.Errorf("the MCP server set sid last and got %q", c)
	}
	do(t, "GET", rg.as+"/authorize", "", "Cookie", "sid=mcp-session")
	if c := got(&rg.asGot, "/authorize"); len(c) != 0 {
		t.Errorf("the authorization server got the MCP server's sid: %q", c)
	}
	// The AS sets it again: now it is the AS's.
	do(t, "GET", rg.as+"/login", "")
	do(t, "GET", rg.as+"/authorize", "", "Cookie", "sid=as-session")
	if c := got(&rg.asGot, "/authorize"); !slices.Equal(c, []string{"sid=as-session"}) {
		t.Errorf("the AS set sid last and got %q", c)
	}
	do(t, "POST", rg.mcp+"/mcp", "{}", "Cookie", "sid=as-session")
	if c := got(&rg.mcpGot, "POST /mcp"); len(c) != 0 {
		t.Errorf("the MCP server got the AS's sid: %q", c)
	}
}
