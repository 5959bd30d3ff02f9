package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

// No control over the public listener: the router serves MCP, the OAuth endpoints and the index, and nothing
// else — in particular not the control API (GET/PUT/DELETE /toggles…, which exists only on the Unix socket of
// server/control) nor any debug endpoint. The route list is pinned here: a new route must be added on purpose.
func TestNoControlOnThePublicListener(t *testing.T) {
	oauthRoutes := []string{
		"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/*",
		"/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/*",
		"/.well-known/openid-configuration", "/.well-known/openid-configuration/*", "/{prefix}/.well-known/openid-configuration",
		"/register", "/authorize", "/token", "/revoke",
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		routes []string
	}{
		{"auth", Config{AutoApprove: true}, append([]string{"/", "/mcp", "/sse"}, oauthRoutes...)},
		{"no auth", Config{NoAuth: true}, []string{"/", "/mcp", "/sse"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			err = chi.Walk(srv.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
				if !slices.Contains(got, route) {
					got = append(got, route)
				}
				lower := strings.ToLower(route)
				for _, bad := range []string{"toggle", "fault", "control", "debug", "pprof", "admin", "scenario"} {
					if strings.Contains(lower, bad) {
						t.Errorf("route %s %s on the public listener", method, route)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			want := slices.Clone(tc.routes)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("routes on the public listener:\n got %q\nwant %q", got, want)
			}

			// Nothing reached over HTTP switches a toggle on: the control API's own requests, and the guesses.
			ts := testkit.Serve(t, srv.Handler())
			for _, probe := range []struct{ method, path string }{
				{"PUT", "/toggles/slow=5s"}, {"GET", "/toggles"}, {"DELETE", "/toggles/slow"}, {"POST", "/toggles"},
				{"PUT", "/faults/omit-session-id"}, {"POST", "/fault?set=omit-session-id"}, {"GET", "/control"},
				{"POST", "/api/toggles"}, {"GET", "/debug/pprof/"}, {"GET", "/debug/vars"}, {"PUT", "/mcp/toggles/slow=1s"},
			} {
				req, _ := http.NewRequest(probe.method, ts.URL+probe.path, strings.NewReader(`{"toggle":"omit-session-id"}`))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
					t.Errorf("%s %s: HTTP %d, want 404", probe.method, probe.path, resp.StatusCode)
				}
			}
			if !srv.Toggles().Empty() {
				t.Errorf("a toggle was switched on over HTTP: %v", srv.Toggles().List())
			}
		})
	}
}

// DNS rebinding through the forwarded-header rule: without --public-url any Host with X-Forwarded-Proto: https is
// admitted (a tunnel started by hand), but a browser page cannot send that header without a CORS preflight, and the
// preflight — on the page's own Host and Origin, without the header — is refused on every CORS-enabled route, with
// no Access-Control-Allow-* header that would let the real request follow.
func TestRebindingPreflightRefused(t *testing.T) {
	srv, err := New(Config{AutoApprove: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := testkit.Serve(t, srv.Handler())
	for _, path := range []string{"/mcp", "/sse", "/token", "/register", "/revoke", "/.well-known/oauth-authorization-server", "/.well-known/oauth-protected-resource/mcp"} {
		req, _ := http.NewRequest(http.MethodOptions, ts.URL+path, nil)
		req.Host = "evil.example:4000"
		req.Header.Set("Origin", "http://evil.example:4000")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-forwarded-proto")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("OPTIONS %s from a rebinding page: HTTP %d, want 403", path, resp.StatusCode)
		}
		for k := range resp.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("OPTIONS %s from a rebinding page: %s: %s", path, k, resp.Header.Get(k))
			}
		}
	}
}
