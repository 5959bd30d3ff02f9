package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/oauth/store"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
	"github.com/modelcontextprotocol/go-sdk/auth"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// harness is an authorization server behind the publicurl guard on a real listener, protecting /mcp and /sse
// with a handler that echoes the TokenInfo it was given.
type harness struct {
	t     *testing.T
	as    *AS
	srv   *httptest.Server
	clock *clock
	path  string // state file, "" when ephemeral
	rec   *recorder.Recorder
	http  *http.Client // cookie jar, no redirects followed
}

type harnessOpt func(*Config)

func newHarness(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	return newHarnessAt(t, "", opts...)
}

// newHarnessAt uses the state file at path ("" = ephemeral).
func newHarnessAt(t *testing.T, path string, opts ...harnessOpt) *harness {
	t.Helper()
	clk := &clock{now: time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)}
	var st *store.Store
	if path == "" {
		st = store.Ephemeral(store.Options{Now: clk.Now})
	} else {
		var err error
		st, err = store.Open(path, store.Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
	}
	rs := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(rs, recorder.Options{})
	cfg := Config{Store: st, Now: clk.Now, Recorder: rec}
	for _, o := range opts {
		o(&cfg)
	}
	as, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	guard, err := publicurl.NewGuard("")
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	if cfg.Recorder != nil {
		r.Use(rec.Middleware)
	}
	r.Use(guard.Middleware)
	as.Mount(r)
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(auth.TokenInfoFromContext(r.Context()))
	})
	r.Handle("/mcp", CORS(as.Protect("/mcp")(echo)))
	r.Handle("/sse", CORS(as.Protect("/sse")(echo)))
	srv := testkit.Serve(t, r)
	jar, _ := cookiejar.New(nil)
	return &harness{t: t, as: as, srv: srv, clock: clk, path: path, rec: rec, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// unrecorded leaves the recorder out, for tests that measure the server's own memory.
func unrecorded(c *Config) { c.Recorder = nil }

func withOptions(f func(*Options)) harnessOpt { return func(c *Config) { f(&c.Options) } }

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func (r *response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

func (r *response) Location(t *testing.T) *url.URL {
	t.Helper()
	loc := r.Header.Get("Location")
	if loc == "" {
		t.Fatalf("no Location (status %d)\n%s", r.Status, r.Body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (h *harness) do(req *http.Request) *response {
	h.t.Helper()
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func (h *harness) get(path string, hdr ...string) *response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url(path), nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return h.do(req)
}

func (h *harness) post(path, contentType, body string, hdr ...string) *response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url(path), strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return h.do(req)
}

func (h *harness) url(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return h.srv.URL + path
}

// register posts client metadata and returns the response.
func (h *harness) register(md map[string]any) *response {
	h.t.Helper()
	b, _ := json.Marshal(md)
	return h.post(pathRegister, "application/json", string(b))
}

// mustRegister registers a public client with one redirect URI and returns its id.
func (h *harness) mustRegister(redirect string, extra ...map[string]any) string {
	h.t.Helper()
	md := map[string]any{"client_name": "test client", "redirect_uris": []string{redirect}, "token_endpoint_auth_method": "none"}
	for _, e := range extra {
		for k, v := range e {
			md[k] = v
		}
	}
	r := h.register(md)
	if r.Status != http.StatusCreated {
		h.t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	return r.JSON(h.t)["client_id"].(string)
}

func pkce() (verifier, challenge string) {
	verifier = randomToken("") + randomToken("")[:21]
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeQuery is a valid authorization request for client with redirect and challenge, changed by kv pairs
// (an empty value deletes the parameter).
func authorizeQuery(client, redirect, challenge string, kv ...string) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {client},
		"redirect_uri":          {redirect},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
		"state":                 {"st-123"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	return pathAuthorize + "?" + q.Encode()
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// consentForm reads the hidden fields of a consent page.
func consentForm(t *testing.T, page *response) url.Values {
	t.Helper()
	if page.Status != http.StatusOK || !strings.Contains(page.Body, `id="approve"`) {
		t.Fatalf("not a consent page: %d\n%s", page.Status, page.Body)
	}
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(page.Body, -1) {
		v.Set(m[1], m[2])
	}
	return v
}

// authorizeCode runs authorize + consent (approve) and returns the code from the redirect.
func (h *harness) authorizeCode(client, redirect, challenge string, kv ...string) string {
	h.t.Helper()
	page := h.get(authorizeQuery(client, redirect, challenge, kv...))
	form := consentForm(h.t, page)
	form.Set("action", "approve")
	r := h.post(pathAuthorize, "application/x-www-form-urlencoded", form.Encode())
	if r.Status != http.StatusFound {
		h.t.Fatalf("consent: %d %s", r.Status, r.Body)
	}
	loc := r.Location(h.t)
	code := loc.Query().Get("code")
	if code == "" {
		h.t.Fatalf("no code in %s", loc)
	}
	return code
}

// tokenForm posts form parameters to the token endpoint.
func (h *harness) tokenForm(kv ...string) *response {
	h.t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return h.post(pathToken, "application/x-www-form-urlencoded", v.Encode())
}

// tokens is a successful token response.
type tokens struct {
	Access, Refresh, Scope string
	ExpiresIn              float64
}

func (h *harness) mustTokens(r *response) tokens {
	h.t.Helper()
	if r.Status != http.StatusOK {
		h.t.Fatalf("token: %d %s", r.Status, r.Body)
	}
	m := r.JSON(h.t)
	tk := tokens{Access: m["access_token"].(string)}
	tk.Refresh, _ = m["refresh_token"].(string)
	tk.Scope, _ = m["scope"].(string)
	tk.ExpiresIn, _ = m["expires_in"].(float64)
	return tk
}

// flow registers a public client and runs it to tokens.
func (h *harness) flow(redirect string, kv ...string) (client string, tk tokens) {
	h.t.Helper()
	client = h.mustRegister(redirect)
	verifier, challenge := pkce()
	code := h.authorizeCode(client, redirect, challenge, kv...)
	tk = h.mustTokens(h.tokenForm("grant_type", "authorization_code", "code", code, "redirect_uri", redirect,
		"client_id", client, "code_verifier", verifier))
	return client, tk
}

func (h *harness) mcp(token string, hdr ...string) *response {
	h.t.Helper()
	if token != "" {
		hdr = append(hdr, "Authorization", "Bearer "+token)
	}
	return h.post("/mcp", "application/json", `{}`, hdr...)
}

// snapshot is the state and the codes, to check that a failed request changed nothing.
func (h *harness) snapshot() string {
	var b []byte
	h.as.store.View(func(s *store.State) { b, _ = json.Marshal(s) })
	h.as.mu.Lock()
	defer h.as.mu.Unlock()
	all := map[string]*authCode{}
	h.as.codes.Each(func(k string, c *authCode) { all[k] = c })
	codes, _ := json.Marshal(all)
	consents := h.as.consents.Len()
	return string(b) + "\n" + string(codes) + "\n" + strings.Repeat("c", consents)
}

func (h *harness) unchanged(before string) {
	h.t.Helper()
	if after := h.snapshot(); after != before {
		h.t.Errorf("the failed request changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

func wantOAuthError(t *testing.T, r *response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if got := r.JSON(t)["error"]; got != code {
		t.Fatalf("error %v, want %s: %s", got, code, r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
}

func tempState(t *testing.T) string { return filepath.Join(t.TempDir(), "state.json") }

func timeMinutes(n int) time.Duration { return time.Duration(n) * time.Minute }

func formValues(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

var continueLink = regexp.MustCompile(`<a id="continue" href="([^"]*)">`)

// errorAnswer is where an authorization error goes: the Location of a redirect, or the link of an error page
// about an untrusted redirect URI (and whether it was that page).
func errorAnswer(t *testing.T, r *response) (u *url.URL, page bool) {
	t.Helper()
	if r.Status == http.StatusFound {
		return r.Location(t), false
	}
	m := continueLink.FindStringSubmatch(r.Body)
	if m == nil || r.Header.Get("Location") != "" {
		t.Fatalf("neither a redirect nor an error page with a link back: %d %q\n%.2000s", r.Status, r.Header.Get("Location"), r.Body)
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return u, true
}
