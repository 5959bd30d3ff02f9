package e2e

// Hostile runs against the real binary's authorization server (issue 13, the OAuth part): a stranger floods
// GET /authorize, sends oversized state, registers dangerous redirect URIs, points a metadata document at a name
// that does not resolve, fills clients and grants, and replays a refresh token — while a legitimate client runs
// its whole flow beside it. Everything is loopback and bounded in count; the assertions are the bounds (counts,
// statuses, what a page may say), and that the capture holds every request the legitimate client sent.

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/oauth/store"
)

// actor is one party talking to the server: its own cookie jar, a User-Agent that marks its requests in the
// capture, and a count of the requests it sent.
type actor struct {
	t    *testing.T
	base string
	ua   string
	c    *http.Client
	sent atomic.Int64
}

func newActor(t *testing.T, base, ua string) *actor {
	jar, _ := cookiejar.New(nil)
	return &actor{t: t, base: base, ua: ua, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type reply struct {
	Status int
	Header http.Header
	Body   string
}

func (a *actor) do(method, path, ctype, body string, hdr ...string) reply {
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("User-Agent", a.ua)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	a.sent.Add(1)
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Errorf("%s %s: %v", method, path, err)
		return reply{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func (a *actor) register(redirect string) (string, reply) {
	r := a.do("POST", "/register", "application/json", `{"client_name":"`+a.ua+`","redirect_uris":["`+redirect+`"],"token_endpoint_auth_method":"none"}`)
	m := map[string]any{}
	jsonUnmarshal(r.Body, &m)
	id, _ := m["client_id"].(string)
	return id, r
}

func (a *actor) authorizePath(client, redirect string, kv ...string) string {
	q := authorizeParams(client, redirect)
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return "/authorize?" + q.Encode()
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// code runs the authorization request to a code: the consent page answered (approve), or auto-approval.
func (a *actor) code(client, redirect string) string {
	a.t.Helper()
	r := a.do("GET", a.authorizePath(client, redirect), "", "")
	if r.Status == http.StatusOK {
		form := url.Values{}
		for _, m := range hiddenField.FindAllStringSubmatch(r.Body, -1) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
		form.Set("action", "approve")
		r = a.do("POST", "/authorize", "application/x-www-form-urlencoded", form.Encode(), "Origin", a.base)
	}
	loc, _ := url.Parse(r.Header.Get("Location"))
	if r.Status != http.StatusFound || loc == nil || loc.Query().Get("code") == "" {
		a.t.Fatalf("%s: authorize ended with %d %s %.300s", a.ua, r.Status, r.Header.Get("Location"), r.Body)
	}
	return loc.Query().Get("code")
}

type tokenSet struct{ Access, Refresh string }

func (a *actor) token(v url.Values) (tokenSet, reply) {
	r := a.do("POST", "/token", "application/x-www-form-urlencoded", v.Encode())
	m := map[string]any{}
	jsonUnmarshal(r.Body, &m)
	at, _ := m["access_token"].(string)
	rt, _ := m["refresh_token"].(string)
	return tokenSet{at, rt}, r
}

func (a *actor) exchange(client, redirect, code string) tokenSet {
	a.t.Helper()
	tk, r := a.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {client},
		"redirect_uri": {redirect}, "code_verifier": {e2eVerifier}})
	if tk.Access == "" {
		a.t.Fatalf("%s: token %d %s", a.ua, r.Status, r.Body)
	}
	return tk
}

func (a *actor) refresh(client, rt string) (tokenSet, reply) {
	return a.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {client}})
}

func (a *actor) mcp(access string) int {
	return a.do("POST", "/mcp", "application/json",
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"`+a.ua+`","version":"1"}}}`,
		"Authorization", "Bearer "+access, "Accept", "application/json, text/event-stream").Status
}

func jsonUnmarshal(s string, v any) { _ = json.Unmarshal([]byte(s), v) }

// parallel runs n jobs on width goroutines.
func parallel(n, width int, job func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range width {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				job(i)
			}
		})
	}
	wg.Wait()
}

// checkCapture: every request the legitimate actor sent is in the capture, answered.
func checkCapture(t *testing.T, path string, legit *actor) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := recorder.ReadCapture(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var mine []*recorder.Exchange
	for _, ex := range loaded.Exchanges {
		if ex.ReqHeaders.Get("User-Agent") == legit.ua {
			mine = append(mine, ex)
			if ex.Status == 0 {
				t.Errorf("legitimate request %s %s has no answer in the capture", ex.Method, ex.URL)
			}
		}
	}
	if int64(len(mine)) != legit.sent.Load() {
		t.Errorf("the capture holds %d of the %d requests the legitimate client sent", len(mine), legit.sent.Load())
	}
	t.Logf("capture: %d exchanges in all, %d of the legitimate client", len(loaded.Exchanges), len(mine))
}

// TestHostileOAuthConsent: serve with its consent page. A stranger floods GET /authorize (1,100 requests from one
// client id with a 4 KiB state), sends a 900 KB state, registers dangerous redirect URIs, uses an https redirect
// URI it registered for itself to bounce errors, sends a scope outside RFC 6749 §3.3 and a metadata document URL
// whose host does not resolve — while a legitimate client registers, answers its consent page, gets tokens and
// initializes.
func TestHostileOAuthConsent(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "capture.jsonl")
	srv := Start(t, "serve", "--capture", capture, "--state", filepath.Join(dir, "state.json"))
	legit := newActor(t, srv.URL, "legit-client/1.0")
	evil := newActor(t, srv.URL, "stranger/6.6")
	const legitRedirect = "http://127.0.0.1:33418/callback"

	legitID, r := legit.register(legitRedirect)
	if r.Status != http.StatusCreated {
		t.Fatalf("legitimate registration: %d %s", r.Status, r.Body)
	}
	evilID, _ := evil.register("https://evil.example/cb")

	var wg sync.WaitGroup
	wg.Go(func() { // the consent flood
		state := strings.Repeat("s", 4096)
		var refused atomic.Int64
		parallel(1100, 4, func(i int) {
			if r := evil.do("GET", evil.authorizePath(evilID, "https://evil.example/cb", "state", state), "", ""); r.Status != http.StatusOK {
				refused.Add(1)
			}
		})
		if n := refused.Load(); n > 0 {
			t.Errorf("%d of 1,100 consent pages refused: the flood should push out the flooder's own oldest, not fail", n)
		}
	})
	wg.Go(func() { // oversized state: refused, not echoed
		big := strings.Repeat("S", 900<<10)
		for range 10 {
			r := evil.do("GET", evil.authorizePath(evilID, "https://evil.example/cb", "state", big), "", "")
			if r.Status == http.StatusOK || strings.Contains(r.Header.Get("Location"), "SSSS") || strings.Contains(r.Body, "SSSSSSSS") {
				t.Errorf("900 KB state: %d, Location %.80q", r.Status, r.Header.Get("Location"))
			}
		}
	})
	wg.Go(func() { // dangerous redirect URIs: an allow-list refuses them
		for _, u := range []string{"ms-msdt:/id PCWDiagnostic", "search-ms:query=x", "view-source:https://evil.example/", "javascript:alert(1)", "file:///etc/passwd", "myapp:/cb"} {
			if _, r := evil.register(u); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "invalid_redirect_uri") {
				t.Errorf("registering %q: %d %s", u, r.Status, r.Body)
			}
		}
		// An error about the stranger's own https redirect URI is a page, not a bounce to evil.example.
		for _, kv := range [][]string{{"code_challenge", ""}, {"response_type", "token"}, {"scope", `a"b`}, {"resource", "https://other.example/"}} {
			r := evil.do("GET", evil.authorizePath(evilID, "https://evil.example/cb", kv...), "", "")
			if r.Status != http.StatusBadRequest || r.Header.Get("Location") != "" {
				t.Errorf("error request %v: %d Location %q", kv, r.Status, r.Header.Get("Location"))
			}
		}
	})
	wg.Go(func() { // a document fetch that fails says why in general terms only
		r := evil.do("GET", evil.authorizePath("https://mcpwatch-no-such-host.invalid/client.json", "https://mcpwatch-no-such-host.invalid/cb"), "", "")
		for _, leak := range []string{"lookup", ":53", "dial tcp", "127.0.0."} {
			if strings.Contains(r.Body, leak) {
				t.Errorf("document fetch page holds %q: %.2000s", leak, r.Body)
			}
		}
	})

	// The legitimate client, while all that goes on.
	time.Sleep(200 * time.Millisecond)
	code := legit.code(legitID, legitRedirect)
	tk := legit.exchange(legitID, legitRedirect, code)
	if s := legit.mcp(tk.Access); s != http.StatusOK {
		t.Errorf("legitimate initialize: %d", s)
	}
	wg.Wait()
	// After the flood, again: its consent page and a whole flow.
	code = legit.code(legitID, legitRedirect)
	tk = legit.exchange(legitID, legitRedirect, code)
	if s := legit.mcp(tk.Access); s != http.StatusOK {
		t.Errorf("legitimate initialize after the flood: %d", s)
	}
	srv.Stop()
	checkCapture(t, capture, legit)
}

// TestHostileOAuthAutoApprove: serve --auto-approve, where a stranger gets grants without a click. It takes 110
// grants with one client (bounded at 100: its own oldest go), fills the registered clients with 1,000 that hold a
// grant each, then keeps registering; it replays the legitimate client's refresh token. The legitimate client
// registered before the flood completes its flow after it, and the replay never takes its grant over.
func TestHostileOAuthAutoApprove(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "capture.jsonl")
	statePath := filepath.Join(dir, "state.json")
	srv := Start(t, "serve", "--auto-approve", "--capture", capture, "--state", statePath)
	legit := newActor(t, srv.URL, "legit-client/1.0")
	evil := newActor(t, srv.URL, "stranger/6.6")
	thief := newActor(t, srv.URL, "thief/0.1")
	const redirect = "http://127.0.0.1:33418/callback"

	legitID, r := legit.register(redirect) // registered; its flow comes after the flood
	if r.Status != http.StatusCreated {
		t.Fatalf("legitimate registration: %d", r.Status)
	}

	// Grants of one client: at most 100; the first ones go.
	hog, _ := evil.register(redirect)
	var first tokenSet
	for i := range 110 {
		tk := evil.exchange(hog, redirect, evil.code(hog, redirect))
		if i == 0 {
			first = tk
		}
	}
	if s := evil.mcp(first.Access); s != http.StatusUnauthorized {
		t.Errorf("the flooder's first grant after 110: /mcp %d, want 401 (its oldest grants revoked past 100)", s)
	}

	// Fill the clients, each holding a grant; then registrations are refused, nobody is evicted.
	var full atomic.Int64
	parallel(1000, 6, func(i int) {
		id, r := evil.register(redirect)
		if r.Status == http.StatusServiceUnavailable {
			full.Add(1)
			return
		}
		if id == "" {
			t.Errorf("registration %d: %d %s", i, r.Status, r.Body)
			return
		}
		evil.exchange(id, redirect, evil.code(id, redirect))
	})
	for range 20 {
		if _, r := evil.register(redirect); r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "temporarily_unavailable") {
			t.Fatalf("registration past the bound: %d %s", r.Status, r.Body)
		}
	}
	t.Logf("%d registrations refused during the fill", full.Load())

	// The legitimate client, registered before all that, completes.
	tk := legit.exchange(legitID, redirect, legit.code(legitID, redirect))
	if s := legit.mcp(tk.Access); s != http.StatusOK {
		t.Fatalf("legitimate initialize after the flood: %d", s)
	}

	// Refresh-token theft: the thief replays the legitimate client's first refresh token after the client used it.
	t1, r := legit.refresh(legitID, tk.Refresh)
	if t1.Refresh == "" {
		t.Fatalf("legitimate refresh: %d %s", r.Status, r.Body)
	}
	stolen, _ := thief.refresh(legitID, tk.Refresh) // within the grace window: a sibling
	t2, r := legit.refresh(legitID, t1.Refresh)     // the client's successor still works
	if t2.Access == "" || legit.mcp(t2.Access) != http.StatusOK {
		t.Errorf("the legitimate client's successor after the replay: %d %s", r.Status, r.Body)
	}
	if stolen.Refresh != "" {
		if _, r := thief.refresh(legitID, stolen.Refresh); r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "invalid_grant") {
			t.Errorf("the thief's sibling after the client moved on: %d %s", r.Status, r.Body)
		}
		if s := thief.mcp(stolen.Access); s != http.StatusUnauthorized {
			t.Errorf("the thief's access token after its replay was caught: %d", s)
		}
	}
	srv.Stop()

	checkCapture(t, capture, legit)
	// The notes of the token endpoint tell the race from the replay.
	data, _ := os.ReadFile(capture)
	if !bytes.Contains(data, []byte("grace window (a retry or a race)")) || !bytes.Contains(data, []byte("refresh token replayed")) {
		t.Error("the capture's notes do not tell the grace reuse and the replay")
	}
	// The state file: a log, mode 0600, loads.
	if fi, err := os.Stat(statePath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v %v", fi, err)
	}
	st, err := store.Open(statePath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.View(func(s *store.State) {
		if s.Clients.Len() > 1000 || s.Grants.Len() > 10000 {
			t.Errorf("state holds %d clients, %d grants", s.Clients.Len(), s.Grants.Len())
		}
		if n := len(s.GrantsOf(hog)); n > 100 {
			t.Errorf("the flooder holds %d grants", n)
		}
		t.Logf("state: %d clients, %d grants, %d access tokens", s.Clients.Len(), s.Grants.Len(), s.AccessTokens.Len())
	})
	st.Close()
	fi, _ := os.Stat(statePath)
	t.Logf("state file: %d bytes", fi.Size())
}

// TestHostileOAuthConsentCode: serve --consent-code. A stranger who finds the URL cannot approve its own request
// without the code the terminal shows; the person at the terminal can. --consent-code with --auto-approve is refused.
func TestHostileOAuthConsentCode(t *testing.T) {
	if r := Run(t, 20*time.Second, "serve", "--consent-code", "--auto-approve", "--addr", "127.0.0.1:0"); r.Code != 2 || !strings.Contains(r.Stderr, "--consent-code") {
		t.Errorf("--consent-code --auto-approve: exit %d\n%s", r.Code, r.Stderr)
	}
	srv := Start(t, "serve", "--consent-code", "--ephemeral")
	var code string
	if !srv.stderr.waitFor(5*time.Second, srv.done, func(s string) bool {
		m := regexp.MustCompile(`consent code ([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})`).FindStringSubmatch(s)
		if m != nil {
			code = m[1]
		}
		return m != nil
	}) {
		t.Fatalf("no consent code in the banner:\n%s", srv.Stderr())
	}
	const redirect = "http://127.0.0.1:33418/callback"
	evil := newActor(t, srv.URL, "stranger/6.6")
	id, _ := evil.register(redirect)
	page := evil.do("GET", evil.authorizePath(id, redirect), "", "")
	if page.Status != http.StatusOK || strings.Contains(page.Body, code) {
		t.Fatalf("consent page: %d, shows the code %v", page.Status, strings.Contains(page.Body, code))
	}
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page.Body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	form.Set("action", "approve")
	for _, guess := range []string{"", "AAAA-AAAA-AAAA"} {
		form.Set("consent_secret", guess)
		if r := evil.do("POST", "/authorize", "application/x-www-form-urlencoded", form.Encode(), "Origin", srv.URL); r.Status != http.StatusForbidden || r.Header.Get("Location") != "" {
			t.Errorf("approve with %q: %d %q", guess, r.Status, r.Header.Get("Location"))
		}
	}
	form.Set("consent_secret", code)
	if r := evil.do("POST", "/authorize", "application/x-www-form-urlencoded", form.Encode(), "Origin", srv.URL); r.Status != http.StatusFound || !strings.Contains(r.Header.Get("Location"), "code=") {
		t.Errorf("approve with the code: %d %q", r.Status, r.Header.Get("Location"))
	}
}
