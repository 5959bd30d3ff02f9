package publicurl

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// serve runs one request through the guard's middleware and returns the status, the body, and the public base
// URL the handler behind it saw (Base and URL).
func serve(t *testing.T, g *Guard, method, host string, header map[string]string) (status int, body, base, mcpURL string) {
	t.Helper()
	req := httptest.NewRequest(method, "http://"+host+"/mcp", nil)
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base, mcpURL = Base(r).String(), URL(r, "/mcp")
		w.WriteHeader(http.StatusNoContent)
	})).ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), base, mcpURL
}

func TestGuard(t *testing.T) {
	const tunnel = "abc.trycloudflare.com"
	fwd := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name   string
		public string // --public-url
		method string
		host   string
		header map[string]string
		base   string // the public base the handler sees; "" = refused with 403
		reason string // in the 403 body
	}{
		// Loopback hosts.
		{"127.0.0.1", "", "POST", "127.0.0.1:4000", nil, "http://127.0.0.1:4000", ""},
		{"localhost", "", "POST", "localhost:4000", nil, "http://localhost:4000", ""},
		{"LOCALHOST", "", "POST", "LOCALHOST:4000", nil, "http://LOCALHOST:4000", ""},
		{"::1", "", "POST", "[::1]:4000", nil, "http://[::1]:4000", ""},
		{"*.localhost", "", "POST", "mcp.localhost:4000", nil, "http://mcp.localhost:4000", ""},
		{"127.0.0.2", "", "POST", "127.0.0.2:4000", nil, "http://127.0.0.2:4000", ""},
		{"loopback with a public URL set", "https://" + tunnel, "POST", "localhost:4000", nil, "http://localhost:4000", ""},
		{"loopback forwarded to loopback", "", "POST", "localhost:4000", fwd("X-Forwarded-Host", "localhost:5000"), "http://localhost:5000", ""},

		// Foreign hosts.
		{"foreign host", "", "POST", "evil.example.com", nil, "", `invalid Host header "evil.example.com"`},
		{"foreign host with a port", "", "GET", "evil.example.com:4000", nil, "", "invalid Host header"},
		{"empty host", "", "POST", "", nil, "", "invalid Host header"},
		{"0.0.0.0", "", "POST", "0.0.0.0:4000", nil, "", "invalid Host header"},
		{"LAN address", "", "POST", "192.168.1.10:4000", nil, "", "invalid Host header"},
		{"localhost lookalike", "", "POST", "localhost.evil.com", nil, "", "invalid Host header"},
		{"forwarded host without https", "", "POST", "localhost:4000", fwd("X-Forwarded-Host", tunnel), "", "invalid Host header"},
		{"forwarded http", "", "POST", tunnel, fwd("X-Forwarded-Proto", "http"), "", "invalid Host header"},

		// The configured public host (--public-url).
		{"public host", "https://" + tunnel, "POST", tunnel, nil, "https://" + tunnel, ""},
		{"public host, case and default port", "https://" + tunnel, "POST", "ABC.TryCloudflare.com:443", nil, "https://" + tunnel, ""},
		{"public host via X-Forwarded-Host", "https://" + tunnel, "POST", "localhost:4000",
			fwd("X-Forwarded-Host", tunnel, "X-Forwarded-Proto", "https"), "https://" + tunnel, ""},
		{"public host, with a public path", "https://" + tunnel + "/", "POST", tunnel, nil, "https://" + tunnel, ""},
		{"another tunnel host when one is configured", "https://" + tunnel, "POST", "other.trycloudflare.com",
			fwd("X-Forwarded-Proto", "https"), "", "allowed: localhost, " + tunnel},
		{"public host suffix attack", "https://" + tunnel, "POST", tunnel + ".evil.com", nil, "", "invalid Host header"},
		{"public host prefix attack", "https://" + tunnel, "POST", "evil" + tunnel, nil, "", "invalid Host header"},

		// A TLS-terminating tunnel's forwarded host, when no public URL is configured (cloudflared).
		{"tunnel-forwarded https host", "", "POST", tunnel, fwd("X-Forwarded-Proto", "https"), "https://" + tunnel, ""},
		{"tunnel via X-Forwarded-Host", "", "POST", "localhost:4000",
			fwd("X-Forwarded-Host", tunnel, "X-Forwarded-Proto", "https"), "https://" + tunnel, ""},
		{"first of a forwarded list", "", "POST", "localhost:4000",
			fwd("X-Forwarded-Host", tunnel+", proxy.internal", "X-Forwarded-Proto", "https, http"), "https://" + tunnel, ""},

		// Origin.
		{"same-origin loopback", "", "POST", "localhost:4000", fwd("Origin", "http://localhost:4000"), "http://localhost:4000", ""},
		{"Inspector on another loopback port", "", "POST", "localhost:4000", fwd("Origin", "http://localhost:6274"), "http://localhost:4000", ""},
		{"loopback IP origin", "", "POST", "127.0.0.1:4000", fwd("Origin", "http://127.0.0.1:6274"), "http://127.0.0.1:4000", ""},
		{"Origin null", "", "POST", "localhost:4000", fwd("Origin", "null"), "", `cross-site Origin "null"`},
		{"cross-site Origin on loopback", "", "POST", "localhost:4000", fwd("Origin", "https://evil.example.com"), "", "cross-site Origin"},
		{"file Origin", "", "POST", "localhost:4000", fwd("Origin", "file://"), "", "cross-site Origin"},
		{"garbage Origin", "", "POST", "localhost:4000", fwd("Origin", "%zz"), "", "cross-site Origin"},
		{"public origin", "https://" + tunnel, "POST", tunnel, fwd("Origin", "https://"+tunnel), "https://" + tunnel, ""},
		{"public host over http origin", "https://" + tunnel, "POST", tunnel, fwd("Origin", "http://"+tunnel), "", "cross-site Origin"},
		{"tunnel origin", "", "POST", tunnel, fwd("X-Forwarded-Proto", "https", "Origin", "https://"+tunnel), "https://" + tunnel, ""},
		{"cross-site Origin through the tunnel", "", "POST", tunnel,
			fwd("X-Forwarded-Proto", "https", "Origin", "https://evil.example.com"), "", "cross-site Origin"},
		{"claude.ai origin through the tunnel", "https://" + tunnel, "POST", tunnel, fwd("Origin", "https://claude.ai"), "", "cross-site Origin"},

		// DNS rebinding: a page on http://evil:4000 whose name now resolves to 127.0.0.1.
		{"rebinding page", "", "POST", "evil:4000", fwd("Origin", "http://evil:4000"), "", "invalid Host header"},
		{"rebinding page forging X-Forwarded-*", "", "POST", "evil:4000",
			fwd("Origin", "http://evil:4000", "X-Forwarded-Host", "evil:4000", "X-Forwarded-Proto", "https"), "", `cross-site Origin "http://evil:4000"`},
		{"rebinding page forging a loopback X-Forwarded-Host", "", "POST", "evil:4000",
			fwd("Origin", "http://evil:4000", "X-Forwarded-Host", "localhost:4000"), "", "invalid Host header"},
		{"rebinding page forging the public host", "https://" + tunnel, "POST", "evil:4000",
			fwd("Origin", "http://evil:4000", "X-Forwarded-Host", tunnel, "X-Forwarded-Proto", "https"), "", `cross-site Origin "http://evil:4000"`},
		{"rebinding page with a public URL set", "https://" + tunnel, "POST", "evil:4000",
			fwd("Origin", "http://evil:4000", "X-Forwarded-Proto", "https"), "", "invalid Host header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGuard(tc.public)
			if err != nil {
				t.Fatal(err)
			}
			status, body, base, mcpURL := serve(t, g, tc.method, tc.host, tc.header)
			if tc.base == "" {
				if status != http.StatusForbidden || !strings.Contains(body, tc.reason) {
					t.Errorf("got %d %q, want 403 saying %q", status, body, tc.reason)
				}
				if base != "" {
					t.Errorf("the handler ran for a refused request")
				}
				return
			}
			if status != http.StatusNoContent {
				t.Fatalf("got %d %q, want the request admitted", status, body)
			}
			if base != tc.base || mcpURL != tc.base+"/mcp" {
				t.Errorf("Base = %q, URL(/mcp) = %q, want %q", base, mcpURL, tc.base)
			}
		})
	}
}

func TestPublic(t *testing.T) {
	g, err := NewGuard("")
	if err != nil {
		t.Fatal(err)
	}
	if g.Public() != nil {
		t.Errorf("Public() = %v before any tunnel request", g.Public())
	}
	serve(t, g, "POST", "abc.trycloudflare.com", map[string]string{"X-Forwarded-Proto": "https"})
	if p := g.Public(); p == nil || p.String() != "https://abc.trycloudflare.com" {
		t.Errorf("Public() after a forwarded request = %v", p)
	}
	if err := g.SetPublic("https://mine.example.com/"); err != nil {
		t.Fatal(err)
	}
	if p := g.Public(); p.String() != "https://mine.example.com" {
		t.Errorf("Public() after SetPublic = %v", p)
	}
	// Once configured, the configured host wins and a forwarded one is refused.
	if status, _, _, _ := serve(t, g, "POST", "abc.trycloudflare.com", map[string]string{"X-Forwarded-Proto": "https"}); status != 403 {
		t.Errorf("another forwarded host after SetPublic: %d, want 403", status)
	}
}

// A public URL is a base URL: a path, query, fragment or user info is refused with the base URL to give instead
// (a path used to be dropped silently, so the connector URL lost it).
func TestParsePublic(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{"https://abc.trycloudflare.com", "https://abc.trycloudflare.com", ""},
		{"https://ABC.trycloudflare.com/", "https://abc.trycloudflare.com", ""},
		{"http://localhost:4000", "http://localhost:4000", ""},
		{"https://pub.example.com:8443/", "https://pub.example.com:8443", ""},
		{"https://pub.example.com/base", "", `has a path (/base): give the tunnel's base URL, https://pub.example.com;`},
		{"https://abc.trycloudflare.com/mcp", "", "has a path (/mcp)"},
		{"https://pub.example.com/base/", "", "has a path (/base/)"},
		{"https://pub.example.com//", "", "has a path"},
		{"https://pub.example.com/%2F", "", "has a path"},
		{"https://abc.example.com?x=1", "", "has a query"},
		{"https://abc.example.com/?", "", "has a query"},
		{"https://abc.example.com#f", "", "has a fragment"},
		{"https://abc.example.com/#", "", "has a fragment"},
		{"https://u:p@abc.example.com", "", "has user info"},
		{"abc.trycloudflare.com", "", "want an absolute http(s) URL"},
		{"ftp://abc.example.com", "", "want an absolute http(s) URL"},
		{"https://", "", "want an absolute http(s) URL"},
		{"://", "", "missing protocol scheme"},
	}
	for _, tc := range cases {
		u, err := ParsePublic(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParsePublic(%q) = %v, want an error", tc.in, u)
		case tc.want == "" && !strings.Contains(err.Error(), tc.err):
			t.Errorf("ParsePublic(%q): %v, want it to say %q", tc.in, err, tc.err)
		case tc.want != "" && err != nil:
			t.Errorf("ParsePublic(%q): %v", tc.in, err)
		case tc.want != "" && u.String() != tc.want:
			t.Errorf("ParsePublic(%q) = %q, want %q", tc.in, u, tc.want)
		}
	}
	if _, err := NewGuard("not a url"); err == nil {
		t.Errorf("NewGuard with a bad public URL: no error")
	}
	if _, err := NewGuard("https://pub.example.com/base"); err == nil {
		t.Errorf("NewGuard with a path: no error")
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:4000": true, "LocalHost": true, "a.localhost": true, "127.0.0.1": true,
		"127.1.2.3:80": true, "[::1]:4000": true, "::1": true,
		"": false, "localhost.com": false, "0.0.0.0": false, "10.0.0.1": false, "[::]:4000": false, "example.com": false,
		"notlocalhost": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestBaseOutsideGuard(t *testing.T) {
	req := httptest.NewRequest("GET", "http://localhost:4000/x", nil)
	if got := URL(req, "/mcp"); got != "http://localhost:4000/mcp" {
		t.Errorf("URL outside the guard = %q", got)
	}
}

// Without --public-url, a request with X-Forwarded-Proto: https is admitted for any Host (a tunnel started by hand
// forwards its own host). A DNS-rebinding page cannot use that: X-Forwarded-Proto is not a CORS-safelisted header,
// so the browser first sends a preflight, which carries only the header's name (Access-Control-Request-Headers) on
// the page's own Host and Origin, and the guard refuses it; a page elsewhere fails on its Origin.
func TestRebindingPreflightRefused(t *testing.T) {
	g, err := NewGuard("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, host, origin, reason string
	}{
		{"rebinding page", "evil.example:4000", "http://evil.example:4000", `invalid Host header "evil.example:4000"`},
		{"rebinding page on port 80", "evil.example", "http://evil.example", `invalid Host header "evil.example"`},
		{"another site at the loopback address", "localhost:4000", "http://evil.example", `cross-site Origin "http://evil.example"`},
		{"another site, https", "127.0.0.1:4000", "https://evil.example", `cross-site Origin "https://evil.example"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, base, _ := serve(t, g, http.MethodOptions, tc.host, map[string]string{
				"Origin":                         tc.origin,
				"Access-Control-Request-Method":  "POST",
				"Access-Control-Request-Headers": "content-type,x-forwarded-proto",
			})
			if status != http.StatusForbidden || !strings.Contains(body, tc.reason) || base != "" {
				t.Errorf("preflight: %d %q (handler reached: %v), want 403 saying %q", status, body, base != "", tc.reason)
			}
		})
	}
	// The request the preflight would have allowed is refused as well, should a client send it without one.
	status, body, _, _ := serve(t, g, http.MethodPost, "evil.example:4000", map[string]string{"Origin": "http://evil.example:4000", "X-Forwarded-Proto": "https"})
	if status != http.StatusForbidden || !strings.Contains(body, `cross-site Origin "http://evil.example:4000"`) {
		t.Errorf("the forged request itself: %d %q", status, body)
	}
	if g.Public() != nil {
		t.Errorf("a refused request set the public URL to %v", g.Public())
	}
}

// Local: only a request the guard admitted with a loopback base; a tunnel's forwarded host, the configured public
// URL and a context outside the guard are not local.
func TestLocal(t *testing.T) {
	for _, c := range []struct {
		public, host string
		header       map[string]string
		want         bool
	}{
		{"", "127.0.0.1:4000", nil, true},
		{"", "localhost:4000", nil, true},
		{"", "127.0.0.1:4000", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "abc.trycloudflare.com"}, false},
		{"", "abc.trycloudflare.com", map[string]string{"X-Forwarded-Proto": "https"}, false},
		{"https://abc.trycloudflare.com", "abc.trycloudflare.com", nil, false},
	} {
		g, err := NewGuard(c.public)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "http://"+c.host+"/mcp", nil)
		req.Host = c.host
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		got, ran := false, false
		g.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got, ran = Local(r.Context()), true })).ServeHTTP(httptest.NewRecorder(), req)
		if !ran || got != c.want {
			t.Errorf("public %q host %q %v: admitted %v, Local %v, want %v", c.public, c.host, c.header, ran, got, c.want)
		}
	}
	if Local(httptest.NewRequest(http.MethodGet, "/", nil).Context()) {
		t.Error("a context outside the guard is local")
	}
}

// Admitting a loopback request allocates nothing: its base is reused while the Host stays the same (before: the
// parsed IP and a new base per request), and a new Host gets a base of its own.
func TestCheckLoopbackAllocations(t *testing.T) {
	g, _ := NewGuard("")
	r := httptest.NewRequest("POST", "http://127.0.0.1:4000/mcp", nil)
	first, err := g.Check(r)
	if err != nil || first.String() != "http://127.0.0.1:4000" {
		t.Fatalf("base %v, %v", first, err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if b, err := g.Check(r); err != nil || b != first {
			t.Fatalf("base %v, %v", b, err)
		}
	}); n != 0 {
		t.Errorf("%.0f allocations to admit a loopback request", n)
	}
	r.Host = "localhost:4000"
	if b, err := g.Check(r); err != nil || b.String() != "http://localhost:4000" {
		t.Fatalf("after a new Host: base %v, %v", b, err)
	}
}
