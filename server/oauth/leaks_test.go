package oauth

import (
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// A failed document fetch is described by a generic reason; Go's dial and DNS errors (addresses, internal names,
// the resolver's address) stay in the log.
func TestCIMDFetchErrorsDoNotLeak(t *testing.T) {
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String() // the client id names it; what the dial said about it must not be added
	closed.Close()
	tlsDocs := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer tlsDocs.Close()

	loose := newHarness(t, allowLoopback)
	strict := newHarness(t)
	_, challenge := pkce()
	for _, tc := range []struct {
		name, docURL, reason string
		h                    *harness
		leaks                []string
	}{
		{"refused", "http://" + closedAddr + "/client", "refused", loose, []string{"dial tcp", "connect:"}},
		{"loopback", strings.Replace(tlsDocs.URL, "127.0.0.1", "localhost", 1) + "/client", "not allowed", strict, []string{"127.0.0.1", "[::1]", "refusing"}},
		{"no such host", "https://mcpwatch-no-such-host.invalid/client", "", strict, []string{"lookup", ":53", "dial tcp", "no such host on"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.h.get(authorizeQuery(tc.docURL, cb, challenge))
			if r.Status != http.StatusBadRequest {
				t.Fatalf("%d", r.Status)
			}
			if !strings.Contains(r.Body, tc.reason) {
				t.Errorf("page does not give the reason %q:\n%s", tc.reason, r.Body)
			}
			for _, l := range tc.leaks {
				if strings.Contains(r.Body, l) {
					t.Errorf("page holds %q:\n%s", l, r.Body)
				}
			}
			tok := tc.h.tokenForm("grant_type", "authorization_code", "code", "x", "client_id", tc.docURL)
			for _, l := range tc.leaks {
				if strings.Contains(tok.Body, l) {
					t.Errorf("token error holds %q: %s", l, tok.Body)
				}
			}
		})
	}
}

// A 500 (a state write that failed) does not carry the state file's absolute path.
func TestServerErrorHidesStatePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home-of-someone", "state.json")
	h := newHarnessAt(t, path)
	h.as.store.Close() // every write now fails with an error that names the file
	r := h.register(map[string]any{"redirect_uris": []string{cb}})
	if r.Status != http.StatusInternalServerError {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if strings.Contains(r.Body, filepath.Dir(path)) || strings.Contains(r.Body, "home-of-someone") {
		t.Errorf("the 500 names the state path: %s", r.Body)
	}
	if !strings.Contains(r.Body, "state.json") {
		t.Errorf("the 500 does not name the file: %s", r.Body)
	}
}
