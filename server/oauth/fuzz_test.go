package oauth

// Fuzz targets for the authorization server's inputs (script/fuzz runs each briefly; seeds in testdata/fuzz):
// the authorization request's query, the token endpoint's form or JSON body (and HTTP Basic credentials), and
// registration metadata. Never a panic, never a 5xx, and the security properties hold for any input.

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/mcpwatch/mcpwatch/server/oauth/store"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
)

// fuzzServer is an authorization server behind the Host guard, served in memory, with two registered clients.
type fuzzServer struct {
	h       http.Handler
	clients map[string][]string // client id → registered redirect URIs
}

var fuzzRedirects = [][]string{
	{"https://client.example/cb?x=1", "http://127.0.0.1/callback"},
	{"cursor://anysphere.cursor-retrieval/oauth/callback"},
}

func newFuzzServer(tb testing.TB, o Options) *fuzzServer {
	as, err := New(Config{Store: store.Ephemeral(store.Options{}), Options: o})
	if err != nil {
		tb.Fatal(err)
	}
	g, _ := publicurl.NewGuard("")
	r := chi.NewRouter()
	r.Use(g.Middleware)
	as.Mount(r)
	r.Handle("/mcp", as.Protect("/mcp")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })))
	s := &fuzzServer{h: r, clients: map[string][]string{}}
	for i, uris := range fuzzRedirects {
		md := map[string]any{"client_name": "fuzz", "redirect_uris": uris}
		if i == 1 {
			md["token_endpoint_auth_method"] = "client_secret_basic"
		}
		b, _ := json.Marshal(md)
		rr := s.serve(http.MethodPost, "/register", "application/json", string(b), nil)
		var reg struct {
			ClientID string `json:"client_id"`
		}
		if rr.Code != http.StatusCreated || json.Unmarshal(rr.Body.Bytes(), &reg) != nil {
			tb.Fatalf("register: %d %s", rr.Code, rr.Body)
		}
		s.clients[reg.ClientID] = uris
	}
	return s
}

func (s *fuzzServer) serve(method, target, ctype, body string, hdr http.Header) *httptest.ResponseRecorder {
	path, query, _ := strings.Cut(target, "?")
	req := httptest.NewRequest(method, "http://127.0.0.1:4000"+path, strings.NewReader(body))
	req.URL.RawQuery, req.RequestURI = query, target // any bytes, as a client may send them
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	rr := httptest.NewRecorder()
	s.h.ServeHTTP(rr, req)
	return rr
}

func (s *fuzzServer) someClient() (string, []string) {
	for id, uris := range s.clients {
		if len(uris) > 1 {
			return id, uris
		}
	}
	panic("no client")
}

// No open redirect: whatever the query, /authorize redirects only to a redirect URI its client registered (the
// port of a loopback http URI aside); every other failure is an HTML page, and nothing is a 5xx.
func FuzzAuthorize(f *testing.F) {
	s := newFuzzServer(f, Options{AutoApprove: true})
	id, uris := s.someClient()
	_, chal := pkce()
	good := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {uris[0]}, "state": {"s"},
		"code_challenge": {chal}, "code_challenge_method": {"S256"}}
	f.Add(good.Encode())
	for _, bad := range []url.Values{
		{"redirect_uri": {"https://evil.example/cb"}}, {"redirect_uri": {"https://client.example/cb?x=1&y=2"}},
		{"redirect_uri": {"https://client.example.evil/cb?x=1"}}, {"redirect_uri": {"https://client.example/cb?x=1#f"}},
		{"redirect_uri": {"http://127.0.0.1:9/callback"}}, {"redirect_uri": {"http://127.0.0.1/callback/../x"}},
		{"redirect_uri": {"javascript:alert(1)"}}, {"redirect_uri": {"//evil.example"}}, {"client_id": {"https://evil.example/cimd"}},
		{"code_challenge_method": {"plain"}}, {"response_type": {"token"}}, {"resource": {"https://evil.example/mcp"}},
	} {
		q := url.Values{}
		for k, v := range good {
			q[k] = v
		}
		for k, v := range bad {
			q[k] = v
		}
		f.Add(q.Encode())
	}
	f.Add("client_id=" + id + "&client_id=x&redirect_uri=%zz")
	f.Fuzz(func(t *testing.T, query string) {
		rr := s.serve(http.MethodGet, "/authorize?"+query, "", "", nil)
		if rr.Code >= 500 {
			t.Fatalf("HTTP %d: %s", rr.Code, rr.Body)
		}
		if rr.Code < 300 || rr.Code >= 400 {
			if ct := rr.Header().Get("Content-Type"); rr.Code != http.StatusOK && !strings.HasPrefix(ct, "text/html") && !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("HTTP %d with Content-Type %q", rr.Code, ct)
			}
			return
		}
		loc, err := url.Parse(rr.Header().Get("Location"))
		if err != nil {
			t.Fatalf("redirect to an unparsable Location %q", rr.Header().Get("Location"))
		}
		q, _ := url.ParseQuery(query)
		registered := s.clients[q.Get("client_id")]
		if registered == nil {
			t.Fatalf("redirect for an unknown client %q to %s", q.Get("client_id"), loc)
		}
		target := *loc
		target.RawQuery = ""
		for _, r := range registered {
			u, _ := url.Parse(r)
			x := u.Query().Get("x")
			u.RawQuery = ""
			if target.String() == u.String() || (u.Scheme == "http" && u.Hostname() == loc.Hostname() && u.Path == loc.Path && loc.Scheme == "http") {
				if loc.Query().Get("x") != x {
					t.Fatalf("the registered query was lost: %s", loc)
				}
				return
			}
		}
		t.Fatalf("redirected to %s, not to a registered URI of %v", loc, registered)
	})
}

// The token endpoint answers every body (form or JSON, any Content-Type, any Basic credentials) with a JSON
// answer and never a 5xx; it never issues a token for a code it did not issue.
func FuzzToken(f *testing.F) {
	s := newFuzzServer(f, Options{AutoApprove: true})
	id, _ := s.someClient()
	f.Add("grant_type=authorization_code&code=mcpw_ac_x&code_verifier=abc&client_id="+id, uint8(0), "")
	f.Add(`{"grant_type":"refresh_token","refresh_token":"x","client_id":"`+id+`","resource":["a","b"]}`, uint8(1), "")
	f.Add(`{"grant_type":["x"],"client_id":1,"resource":[1]}`, uint8(2), base64.StdEncoding.EncodeToString([]byte(id+":s")))
	f.Add("grant_type=client_credentials&client_id=x&client_id=y", uint8(3), "not base64")
	f.Add("%zz=1", uint8(0), "Og==")
	ctypes := []string{"application/x-www-form-urlencoded", "application/json", "", "text/plain; charset=utf-8"}
	f.Fuzz(func(t *testing.T, body string, ct uint8, basic string) {
		var hdr http.Header
		if basic != "" {
			hdr = http.Header{"Authorization": {"Basic " + basic}}
		}
		for _, path := range []string{"/token", "/revoke"} {
			rr := s.serve(http.MethodPost, path, ctypes[int(ct)%len(ctypes)], body, hdr)
			if rr.Code >= 500 {
				t.Fatalf("%s: HTTP %d: %s", path, rr.Code, rr.Body)
			}
			if rr.Code != http.StatusOK || path == "/token" {
				var m map[string]any
				if err := json.Unmarshal(rr.Body.Bytes(), &m); err != nil {
					t.Fatalf("%s: HTTP %d, not JSON: %q", path, rr.Code, rr.Body)
				}
				if path == "/token" && rr.Code == http.StatusOK {
					t.Fatalf("a token for %q: %s", body, rr.Body)
				}
			}
		}
	})
}

// Registration answers any body without a 5xx; what it registers has only acceptable redirect URIs, and the
// consent page for that client escapes whatever the client named itself or put in its redirect URIs.
func FuzzRegister(f *testing.F) {
	s := newFuzzServer(f, Options{})
	_, chal := pkce()
	consentPage := func(client, redirect string) *httptest.ResponseRecorder {
		q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect},
			"code_challenge": {chal}, "code_challenge_method": {"S256"}}
		return s.serve(http.MethodGet, "/authorize?"+q.Encode(), "", "", nil)
	}
	// The markup of a consent page about a harmless client: a page about any client has exactly as much.
	refID, refURIs := s.someClient()
	ref := consentPage(refID, refURIs[0])
	f.Add(`{"client_name":"<script>alert(1)</script>","redirect_uris":["https://x.example/cb?q=<script>alert(1)</script>"]}`, true)
	f.Add(`{"client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"token_endpoint_auth_method":"client_secret_post","scope":"claudeai"}`, false)
	f.Add(`{"redirect_uris":["javascript:alert(1)"]}`, true)
	f.Add(`{"redirect_uris":"x","grant_types":[1],"jwks":{"keys":[]}}`, true)
	f.Add(`{"redirect_uris":["http://evil.example/cb"],"logo_uri":"javascript:x"}`, false)
	f.Add(`[]`, true)
	f.Fuzz(func(t *testing.T, body string, jsonType bool) {
		ct := "application/json"
		if !jsonType {
			ct = "text/plain"
		}
		rr := s.serve(http.MethodPost, "/register", ct, body, nil)
		if rr.Code == http.StatusServiceUnavailable && strings.Contains(rr.Body.String(), "temporarily_unavailable") {
			return // MaxClients young clients: the bound on registered clients, by design (limits.go)
		}
		if rr.Code >= 500 {
			t.Fatalf("HTTP %d: %s", rr.Code, rr.Body)
		}
		if rr.Code != http.StatusCreated {
			return
		}
		var reg struct {
			ClientID     string   `json:"client_id"`
			RedirectURIs []string `json:"redirect_uris"`
		}
		if err := json.Unmarshal(rr.Body.Bytes(), &reg); err != nil || reg.ClientID == "" || len(reg.RedirectURIs) == 0 {
			t.Fatalf("201 with %s (%v)", rr.Body, err)
		}
		for _, u := range reg.RedirectURIs {
			if err := checkRedirectURI(u, nil); err != nil {
				t.Fatalf("registered %q: %v", u, err)
			}
		}
		page := consentPage(reg.ClientID, reg.RedirectURIs[0])
		if page.Code >= 500 {
			t.Fatalf("consent page: HTTP %d", page.Code)
		}
		if page.Code != http.StatusOK {
			t.Fatalf("consent page: HTTP %d %s", page.Code, page.Body)
		}
		for _, c := range []string{"<", `"`} {
			if n, want := strings.Count(page.Body.String(), c), strings.Count(ref.Body.String(), c); n != want {
				t.Fatalf("the consent page has %d %q, a harmless client's %d: markup from the registration:\n%s", n, c, want, page.Body)
			}
		}
	})
}
