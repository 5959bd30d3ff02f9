package oauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// docServer serves client ID metadata documents: path → body (a "{url}" placeholder is replaced by the
// document's own URL), with the Cache-Control header given.
type docServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newDocServer(t *testing.T, cacheControl string, docs map[string]string) *docServer {
	t.Helper()
	d := &docServer{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.Add(1)
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "https://10.255.255.1/doc", http.StatusFound)
			return
		case "/redirect-http": // plain http to a host that is not loopback: refused by the URL rules, before dialling
			http.Redirect(w, r, "http://10.255.255.1/doc", http.StatusFound)
			return
		case "/redirect-userinfo": // to a document this server serves, but with user info in the URL
			http.Redirect(w, r, "http://user:pw@"+r.Host+"/typeerr", http.StatusFound)
			return
		}
		body, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if cacheControl != "" {
			w.Header().Set("Cache-Control", cacheControl)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(strings.ReplaceAll(body, "{url}", d.URL+r.URL.Path)))
	}))
	t.Cleanup(d.Close)
	return d
}

func claudeDoc(redirect string) string {
	b, _ := json.Marshal(map[string]any{
		"client_id": "{url}", "client_name": "Claude", "redirect_uris": []string{redirect},
		"token_endpoint_auth_method": "none", "grant_types": []string{"authorization_code", "refresh_token"},
	})
	return string(b)
}

func allowLoopback(c *Config) { c.AllowLoopbackCIMD = true }

func TestCIMDFlow(t *testing.T) {
	docs := newDocServer(t, "", map[string]string{"/oauth/mcp-oauth-client-metadata": claudeDoc(cb)})
	h := newHarness(t, allowLoopback)
	clientID := docs.URL + "/oauth/mcp-oauth-client-metadata"
	verifier, challenge := pkce()
	page := h.get(authorizeQuery(clientID, cb, challenge))
	if !strings.Contains(page.Body, "Claude") || !strings.Contains(page.Body, "client ID metadata document") {
		t.Fatalf("consent page:\n%s", page.Body)
	}
	form := consentForm(t, page)
	form.Set("action", "approve")
	code := h.post(pathAuthorize, "application/x-www-form-urlencoded", form.Encode()).Location(t).Query().Get("code")
	tk := h.mustTokens(h.tokenForm("grant_type", "authorization_code", "code", code, "redirect_uri", cb, "client_id", clientID, "code_verifier", verifier))
	if ti := h.mcp(tk.Access).JSON(t); ti["Extra"].(map[string]any)["client_id"] != clientID {
		t.Errorf("TokenInfo %v", ti)
	}
	h.mustTokens(h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", clientID))
	// Cached (5 minutes by default): one fetch for authorize, token and refresh.
	if n := docs.hits.Load(); n != 1 {
		t.Errorf("%d fetches, want 1 (cached)", n)
	}
	// The fetch is recorded as an outbound exchange.
	var outbound []*recorder.Exchange
	for _, ex := range h.rec.Store().Snapshot() {
		if ex.Kind == recorder.Outbound {
			outbound = append(outbound, ex)
		}
	}
	if len(outbound) != 1 || outbound[0].URL != clientID || outbound[0].Status != http.StatusOK || !strings.Contains(string(outbound[0].RespBody.Data), `"Claude"`) {
		t.Errorf("outbound exchanges: %+v", outbound)
	}
}

func TestCIMDNoStoreRefetches(t *testing.T) {
	docs := newDocServer(t, "no-store", map[string]string{"/c": claudeDoc(cb)})
	h := newHarness(t, allowLoopback)
	_, challenge := pkce()
	consentForm(t, h.get(authorizeQuery(docs.URL+"/c", cb, challenge)))
	consentForm(t, h.get(authorizeQuery(docs.URL+"/c", cb, challenge)))
	if n := docs.hits.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (no-store)", n)
	}
}

// A document that cannot be used is shown on the error page with why; nothing is redirected.
func TestCIMDRejects(t *testing.T) {
	big := `{"client_id":"{url}","client_name":"` + strings.Repeat("x", 70<<10) + `","redirect_uris":["` + cb + `"]}`
	docs := newDocServer(t, "", map[string]string{
		"/mismatch":   `{"client_id":"https://elsewhere.example/c","client_name":"X","redirect_uris":["` + cb + `"]}`,
		"/noname":     `{"client_id":"{url}","redirect_uris":["` + cb + `"]}`,
		"/secret":     `{"client_id":"{url}","client_name":"X","redirect_uris":["` + cb + `"],"client_secret":"s"}`,
		"/basic":      `{"client_id":"{url}","client_name":"X","redirect_uris":["` + cb + `"],"token_endpoint_auth_method":"client_secret_basic"}`,
		"/badredir":   `{"client_id":"{url}","client_name":"X","redirect_uris":["http://evil.example/cb"]}`,
		"/notjson":    `<html>`,
		"/typeerr":    `{"client_id":"{url}","client_name":"X","redirect_uris":"` + cb + `"}`,
		"/big":        big,
		"/otherredir": claudeDoc("https://claude.com/api/mcp/auth_callback"),
	})
	h := newHarness(t, allowLoopback)
	_, challenge := pkce()
	for path, want := range map[string]string{
		"/mismatch":          "must be equal",
		"/noname":            "no client_name",
		"/secret":            "client secret",
		"/basic":             "never a secret",
		"/badredir":          "plain http",
		"/notjson":           "not a JSON object",
		"/typeerr":           "redirect_uris must be an array of strings, not a JSON string",
		"/big":               "larger than",
		"/missing":           "HTTP 404",
		"/redirect":          "private",
		"/redirect-http":     "must be https",
		"/redirect-userinfo": "user info is not allowed",
		"/otherredir":        "Unregistered redirect URI",
	} {
		t.Run(path, func(t *testing.T) {
			before := h.snapshot()
			r := h.get(authorizeQuery(docs.URL+path, cb, challenge))
			if r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(r.Body, want) {
				t.Errorf("%d %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
			}
			h.unchanged(before)
		})
	}
}

// Without the test option, loopback documents are refused at the connection, and plain http is not a document URL.
func TestCIMDRefusesLoopback(t *testing.T) {
	tlsDocs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the fetcher connected to a loopback address")
	}))
	defer tlsDocs.Close()
	h := newHarness(t)
	_, challenge := pkce()
	r := h.get(authorizeQuery(tlsDocs.URL+"/client", cb, challenge))
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "loopback address") {
		t.Errorf("https loopback document: %d\n%s", r.Status, r.Body)
	}
	docs := newDocServer(t, "", map[string]string{"/c": claudeDoc(cb)})
	r = h.get(authorizeQuery(docs.URL+"/c", cb, challenge))
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "Unknown client") || docs.hits.Load() != 0 {
		t.Errorf("http document: %d (%d fetches)\n%s", r.Status, docs.hits.Load(), r.Body)
	}
	// Turned off: a URL client_id is just unknown.
	h2 := newHarness(t, allowLoopback, withOptions(func(o *Options) { o.DisableCIMD = true }))
	if r := h2.get(authorizeQuery(docs.URL+"/c", cb, challenge)); r.Status != http.StatusBadRequest || docs.hits.Load() != 0 {
		t.Errorf("CIMD off: %d (%d fetches)", r.Status, docs.hits.Load())
	}
}

func TestCIMDCheckDial(t *testing.T) {
	f := newCIMDFetcher(Config{})
	for addr, ok := range map[string]bool{
		"93.184.215.14:443":      true,
		"[2606:2800:21f::1]:443": true,
		"127.0.0.1:443":          false,
		"[::1]:443":              false,
		"10.1.2.3:443":           false,
		"172.16.0.1:443":         false,
		"192.168.1.1:443":        false,
		"169.254.169.254:80":     false, // cloud metadata
		"100.64.0.1:443":         false,
		"0.0.0.0:443":            false,
		"[fd00::1]:443":          false,
		"[fe80::1]:443":          false,
		"[::ffff:10.0.0.1]:443":  false,
		"224.0.0.1:443":          false,
	} {
		if err := f.checkDial("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("%s: %v, want allowed=%v", addr, err, ok)
		}
	}
	for id, ok := range map[string]bool{
		"https://claude.ai/oauth/mcp-oauth-client-metadata": true,
		"https://claude.ai/":       false,
		"https://claude.ai":        false,
		"http://claude.ai/c":       false,
		"https://u:p@claude.ai/c":  false,
		"https://claude.ai/a/../c": false,
		"mcpw_c_abc":               false,
		"https://claude.ai/c#frag": false,
	} {
		if got := f.isDocumentURL(id); got != ok {
			t.Errorf("isDocumentURL(%q) = %v", id, got)
		}
	}
}

// The fetch gives up after its timeout (5 s by default; 50 ms here) and says so on the page.
func TestCIMDTimeout(t *testing.T) {
	if got := newCIMDFetcher(Config{}).client.Timeout; got != 5*time.Second {
		t.Errorf("default fetch timeout %v, want 5s", got)
	}
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a fetch without a working timeout gets its document after 10 s, and the test fails
		case <-r.Context().Done():
		case <-release:
		case <-time.After(10 * time.Second):
			w.Write([]byte(strings.ReplaceAll(claudeDoc(cb), "{url}", "http://"+r.Host+r.URL.Path)))
		}
	}))
	defer slow.Close()
	defer close(release)
	h := newHarness(t, allowLoopback, func(c *Config) { c.CIMDTimeout = 50 * time.Millisecond })
	_, challenge := pkce()
	before := h.snapshot()
	r := h.get(authorizeQuery(slow.URL+"/c", cb, challenge))
	if r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" || !strings.Contains(r.Body, "timed out after 50ms") {
		t.Errorf("%d %q\n%s", r.Status, r.Header.Get("Location"), r.Body)
	}
	h.unchanged(before)
}

// The document cache is bounded: a flood of distinct documents from one host keeps at most cimdCachePerHost of
// them, and the documents of another host stay cached.
func TestCIMDCacheBounded(t *testing.T) {
	docs := map[string]string{}
	for i := range cimdCachePerHost * 3 {
		docs[fmt.Sprintf("/c%d", i)] = claudeDoc(cb)
	}
	flood := newDocServer(t, "max-age=3600", docs)
	other := newDocServer(t, "max-age=3600", map[string]string{"/mine": claudeDoc(cb)})
	h := newHarness(t, allowLoopback)
	_, challenge := pkce()
	consentForm(t, h.get(authorizeQuery(other.URL+"/mine", cb, challenge)))
	for i := range cimdCachePerHost * 3 {
		consentForm(t, h.get(authorizeQuery(fmt.Sprintf("%s/c%d", flood.URL, i), cb, challenge)))
	}
	h.as.cimd.mu.Lock()
	n, b := h.as.cimd.cache.Len(), h.as.cimd.cache.Bytes()
	h.as.cimd.mu.Unlock()
	if n > cimdCachePerHost+1 || b > cimdCacheBytes {
		t.Errorf("%d documents (%d bytes) cached, bound %d per host", n, b, cimdCachePerHost)
	}
	consentForm(t, h.get(authorizeQuery(other.URL+"/mine", cb, challenge)))
	if hits := other.hits.Load(); hits != 1 {
		t.Errorf("the other host's document was fetched %d times, want 1 (still cached)", hits)
	}
}
