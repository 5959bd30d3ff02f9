package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/toggle"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// newTestServer runs the real router (capture, guard, toggles, SDK handlers) on an httptest server.
func newTestServer(t *testing.T, specs ...string) (*Server, *recorder.Store, string) {
	t.Helper()
	set := toggle.NewSet(toggle.ModeServe)
	for _, s := range specs {
		if err := set.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	store := recorder.NewStore(recorder.StoreOptions{})
	srv, err := New(Config{Recorder: recorder.New(store, recorder.Options{}), Toggles: set, NoAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return srv, store, hs.URL + "/mcp"
}

func connect(t *testing.T, url, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "toggle-test", Version: "1"}, opts)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect (%s): %v", version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func callEcho(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); !ok || tc.Text != "hi" {
		t.Fatalf("echo answered %+v", res.Content)
	}
}

// The stateless toggle: a legacy client gets no session, and its calls still work.
func TestToggleStateless(t *testing.T) {
	_, store, url := newTestServer(t, "stateless")
	cs := connect(t, url, "2025-11-25", nil)
	if cs.ID() != "" {
		t.Errorf("session id %q issued under the stateless toggle", cs.ID())
	}
	callEcho(t, cs)
	// A record may follow its answer by a moment (the recorder records what it passed on): wait until all are done.
	exs := store.Snapshot()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if exs = store.Snapshot(); !slices.ContainsFunc(exs, func(ex *recorder.Exchange) bool { return ex.State != recorder.StateComplete }) {
			break
		}
	}
	for _, ex := range exs {
		if ex.RespHeaders.Get("Mcp-Session-Id") != "" {
			t.Errorf("exchange %d %s answered with a session id", ex.ID, ex.RPCMethod())
		}
		if ex.Method == "POST" && ex.Note("era") != "" && ex.Note("era")[:4] != "2026" {
			t.Errorf("exchange %d routed %q, want the stateless handler", ex.ID, ex.Note("era"))
		}
		// Every exchange the toggle sent to the stateless handler records it: what it would have been, what it was.
		want := []recorder.ToggleChange{{Name: "stateless", What: "route",
			Before: "legacy: the stateful handler (legacy body; sessions, GET stream, DELETE)",
			After:  "2026: the stateless handler (no session; GET and DELETE 405)"}}
		if ex.Method != "POST" {
			want[0].Before = "legacy: the stateful handler (" + ex.Method + "; sessions, GET stream, DELETE)"
		}
		if ex.RPCMethod() == "initialize" {
			want = append(want, recorder.ToggleChange{Name: "stateless", What: "response header Mcp-Session-Id",
				Before: "(a new session's id)", After: "(none: no session issued)"})
		}
		if !slices.Equal(ex.Toggles, want) {
			t.Errorf("exchange %d %s %s records\n%+v\nwant %+v", ex.ID, ex.Method, ex.RPCMethod(), ex.Toggles, want)
		}
	}
	// Without the toggle the same client gets a session.
	_, _, url2 := newTestServer(t)
	if cs2 := connect(t, url2, "2025-11-25", nil); cs2.ID() == "" {
		t.Error("no session without the toggle")
	}
}

// reject-discover: the Go SDK client falls back from server/discover to initialize and works.
func TestToggleRejectDiscoverFallsBack(t *testing.T) {
	_, store, url := newTestServer(t, "reject-discover")
	cs := connect(t, url, "", nil) // the SDK's default opens with server/discover
	callEcho(t, cs)
	// The client may have its answers before their exchanges are recorded (published after the bytes are on
	// their way): wait, bounded, for the methods.
	var methods []string
	faulted := false
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		methods, faulted = nil, false
		for _, ex := range store.Snapshot() {
			methods = append(methods, ex.RPCMethod())
			for _, f := range ex.Toggles {
				faulted = faulted || f.Name == "reject-discover"
			}
		}
		if slices.Contains(methods, "server/discover") && slices.Contains(methods, "initialize") || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Contains(methods, "server/discover") || !slices.Contains(methods, "initialize") {
		t.Errorf("methods %v: want server/discover then the initialize fallback", methods)
	}
	if !faulted {
		t.Error("no exchange records reject-discover")
	}
}

// tools-changed: switching it live adds a tool and a session hears notifications/tools/list_changed.
func TestToggleToolsChangedNotifies(t *testing.T) {
	srv, store, url := newTestServer(t)
	changed := make(chan struct{}, 4)
	cs := connect(t, url, "2025-11-25", &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	hasTool := func() bool {
		res, err := cs.ListTools(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(res.Tools, func(tl *mcp.Tool) bool { return tl.Name == "changed_tool" })
	}
	// lastList is the fault records of the latest tools/list exchange, once every one of them (lists, so far) is
	// complete. (Its record may follow the answer by a moment: the recorder records what it passed on, and until
	// then the latest one may not show its method yet.)
	lists := 0
	lastList := func() []recorder.ToggleChange {
		lists++
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			var done []*recorder.Exchange
			for _, ex := range store.Snapshot() {
				if ex.RPCMethod() == "tools/list" && ex.State == recorder.StateComplete {
					done = append(done, ex)
				}
			}
			if len(done) >= lists {
				return done[len(done)-1].Toggles
			}
		}
		t.Fatalf("no complete tools/list exchange number %d", lists)
		return nil
	}
	if hasTool() {
		t.Fatal("changed_tool present before the toggle")
	}
	if f := lastList(); len(f) != 0 {
		t.Errorf("tools/list before the toggle records %+v", f)
	}
	if err := srv.Toggles().Set("tools-changed"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no notifications/tools/list_changed after the toggle was set")
	}
	if !hasTool() {
		t.Error("changed_tool missing after the toggle was set")
	}
	if f, want := lastList(), []recorder.ToggleChange{{Name: "tools-changed", What: "result.tools",
		Before: "(without changed_tool)", After: "changed_tool listed"}}; !slices.Equal(f, want) {
		t.Errorf("tools/list under the toggle records %+v, want %+v", f, want)
	}
	if err := srv.Toggles().Unset("tools-changed"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("no notifications/tools/list_changed after the toggle was unset")
	}
	if hasTool() {
		t.Error("changed_tool still listed after the toggle was unset")
	}
	if f := lastList(); len(f) != 0 {
		t.Errorf("tools/list after the toggle records %+v", f)
	}
	// The GET stream carried both notifications: each records the toggle.
	want := []recorder.ToggleChange{
		{Name: "tools-changed", What: "notification", Before: "(none)", After: "notifications/tools/list_changed (changed_tool added)"},
		{Name: "tools-changed", What: "notification", Before: "(none)", After: "notifications/tools/list_changed (changed_tool removed)"},
	}
	// The stream's record follows its bytes to the client (the recorder publishes an event after passing it on).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !slices.ContainsFunc(store.Snapshot(), func(ex *recorder.Exchange) bool {
		return ex.Method == "GET" && len(ex.Toggles) == len(want)
	}) {
		time.Sleep(5 * time.Millisecond)
	}
	var streams int
	for _, ex := range store.Snapshot() {
		switch {
		case ex.Method == "GET":
			streams++
			if !slices.Equal(ex.Toggles, want) {
				t.Errorf("GET stream %d records %+v, want %+v", ex.ID, ex.Toggles, want)
			}
		case ex.RPCMethod() != "tools/list" && len(ex.Toggles) != 0:
			t.Errorf("exchange %d %s records %+v", ex.ID, ex.RPCMethod(), ex.Toggles)
		}
	}
	if streams != 1 {
		t.Errorf("%d GET streams, want 1", streams)
	}
}

// tools-changed set at start (--fault tools-changed): the tool is there from the first tools/list.
func TestToggleToolsChangedAtStart(t *testing.T) {
	_, _, url := newTestServer(t, "tools-changed")
	cs := connect(t, url, "2025-11-25", nil)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Tools, func(tl *mcp.Tool) bool { return tl.Name == "changed_tool" }) {
		t.Error("tools-changed set at start: changed_tool is not listed")
	}
}

// authToggleServer is the embedded server with OAuth on and the given toggles, and a wire client to it.
func authToggleServer(t *testing.T, specs ...string) (*wire, *recorder.Store) {
	t.Helper()
	set := toggle.NewSet(toggle.ModeServe)
	for _, s := range specs {
		if err := set.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	store := recorder.NewStore(recorder.StoreOptions{})
	srv, err := New(Config{Recorder: recorder.New(store, recorder.Options{}), Toggles: set})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close() })
	return &wire{t: t, ts: ts}, store
}

const claudeRegistration = `{"client_name":"claudeai","grant_types":["authorization_code","refresh_token"],` +
	`"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"response_types":["code"],"scope":"claudeai","token_endpoint_auth_method":"none"}`

// togglesOf returns the toggle records of the last exchange whose path is path.
func togglesOf(t *testing.T, store *recorder.Store, path string) []recorder.ToggleChange {
	t.Helper()
	exs := store.Snapshot()
	for i := len(exs) - 1; i >= 0; i-- {
		if exs[i].Path() == path {
			return exs[i].Toggles
		}
	}
	t.Fatalf("no exchange for %s", path)
	return nil
}

func onlyFault(t *testing.T, got []recorder.ToggleChange, name string) {
	t.Helper()
	if len(got) != 1 || got[0].Name != name {
		t.Errorf("recorded %+v, want one change by %s", got, name)
	}
}

// register registers the seed's Claude client and returns its registration response.
func (w *wire) registerClaude() map[string]any {
	w.t.Helper()
	r := w.do("POST", "/register", map[string]string{"Content-Type": "application/json"}, claudeRegistration)
	if r.Status != http.StatusCreated {
		w.t.Fatalf("register: HTTP %d %s", r.Status, r.Body)
	}
	return r.json(w.t)
}

func authorizeQuery(clientID, challenge string) string {
	return "/authorize?" + url.Values{"client_id": {clientID}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		"redirect_uri": {"https://claude.ai/api/mcp/auth_callback"}, "response_type": {"code"}, "state": {"s1"}}.Encode()
}

// codeFor runs authorize + consent and returns the code.
func (w *wire) codeFor(clientID, challenge string) string {
	w.t.Helper()
	loc := w.consent(authorizeQuery(clientID, challenge), "approve")
	code := loc.Query().Get("code")
	if code == "" {
		w.t.Fatalf("no code in %s", loc)
	}
	return code
}

func TestAuthToggles(t *testing.T) {
	verifier, challenge := pkcePair()
	tokenBody := func(clientID, code string, extra ...string) string {
		v := url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID}, "code": {code}, "code_verifier": {verifier},
			"redirect_uri": {"https://claude.ai/api/mcp/auth_callback"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v.Encode()
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	t.Run("require-client-secret", func(t *testing.T) {
		w, store := authToggleServer(t, "require-client-secret")
		reg := w.registerClaude()
		secret, _ := reg["client_secret"].(string)
		if reg["token_endpoint_auth_method"] != "client_secret_post" || secret == "" {
			t.Fatalf("registration answered %v", reg)
		}
		onlyFault(t, togglesOf(t, store, "/register"), "require-client-secret")
		id := reg["client_id"].(string)
		code := w.codeFor(id, challenge)
		// Like the Claude web app in the seed: the secret is never sent.
		if r := w.do("POST", "/token", form, tokenBody(id, code)); r.Status != http.StatusUnauthorized || r.json(t)["error"] != "invalid_client" {
			t.Errorf("token without the secret: HTTP %d %s", r.Status, r.Body)
		}
		if r := w.do("POST", "/token", form, tokenBody(id, code, "client_secret", secret)); r.Status != http.StatusOK {
			t.Errorf("token with the secret: HTTP %d %s", r.Status, r.Body)
		}
		// Without the toggle the same registration stays public.
		w2, _ := authToggleServer(t)
		if reg := w2.registerClaude(); reg["token_endpoint_auth_method"] != "none" || reg["client_secret"] != nil {
			t.Errorf("without the toggle: %v", reg)
		}
	})

	t.Run("redirect-allow", func(t *testing.T) {
		w, store := authToggleServer(t, "redirect-allow=claude.com")
		r := w.do("POST", "/register", map[string]string{"Content-Type": "application/json"}, claudeRegistration)
		if r.Status != http.StatusBadRequest || r.json(t)["error"] != "invalid_redirect_uri" {
			t.Fatalf("claude.ai redirect with claude.com allowed: HTTP %d %s", r.Status, r.Body)
		}
		onlyFault(t, togglesOf(t, store, "/register"), "redirect-allow")
		ok := strings.Replace(claudeRegistration, "claude.ai", "claude.com", 1)
		if r := w.do("POST", "/register", map[string]string{"Content-Type": "application/json"}, ok); r.Status != http.StatusCreated {
			t.Errorf("claude.com redirect: HTTP %d %s", r.Status, r.Body)
		}
		if f := togglesOf(t, store, "/register"); len(f) != 0 {
			t.Errorf("an allowed registration records %+v", f)
		}
	})

	t.Run("deny-consent", func(t *testing.T) {
		w, store := authToggleServer(t, "deny-consent")
		id := w.registerClaude()["client_id"].(string)
		r := w.do("GET", authorizeQuery(id, challenge), nil, "")
		loc, _ := url.Parse(r.Header.Get("Location"))
		if r.Status != http.StatusFound || loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "s1" {
			t.Fatalf("authorize under deny-consent: HTTP %d Location %q", r.Status, r.Header.Get("Location"))
		}
		onlyFault(t, togglesOf(t, store, "/authorize"), "deny-consent")
	})

	t.Run("short-token", func(t *testing.T) {
		w, store := authToggleServer(t, "short-token=30s")
		id := w.registerClaude()["client_id"].(string)
		r := w.do("POST", "/token", form, tokenBody(id, w.codeFor(id, challenge)))
		if r.Status != http.StatusOK || r.json(t)["expires_in"] != float64(30) {
			t.Fatalf("token under short-token=30s: HTTP %d %s", r.Status, r.Body)
		}
		onlyFault(t, togglesOf(t, store, "/token"), "short-token")
	})
}

// ---- Every toggle against every request: the wire changes exactly as the catalogue says, and nothing else. ----

// wreq is one request of the toggle table.
type wreq struct {
	method, path string
	header       map[string]string
	body         string
}

// wresp is a response, normalised so that two runs of the same request compare equal: per-request values (dates,
// session ids, tokens, client ids, codes, event ids) are replaced by placeholders.
type wresp struct {
	status int
	header http.Header
	body   string
}

func (r wresp) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n", r.status)
	for _, k := range slices.Sorted(maps.Keys(r.header)) {
		for _, v := range r.header[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n" + r.body)
	return b.String()
}

func (r wresp) clone() wresp { return wresp{r.status, r.header.Clone(), r.body} }

// tenv is a server (embedded, or the proxy in front of one) with a registered client, a token and a session,
// made without toggles.
type tenv struct {
	t        *testing.T
	base     string // the URL clients use
	set      *toggle.Set
	store    *recorder.Store
	hc       *http.Client
	clientID string // registered, public, redirect https://claude.ai/api/mcp/auth_callback
	cimd     string // a client ID metadata document URL
	token    string
	sid      string
}

const claudeCallback = "https://claude.ai/api/mcp/auth_callback"

// newTEnv builds the environment for mode: serve (the embedded server, OAuth on, auto-approve) or proxy (mcpwatch
// proxy in front of such an embedded server).
func newTEnv(t *testing.T, mode string) *tenv {
	t.Helper()
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(map[string]any{"client_id": "http://" + r.Host + r.URL.Path, "client_name": "Claude",
			"redirect_uris": []string{claudeCallback}, "token_endpoint_auth_method": "none",
			"grant_types": []string{"authorization_code", "refresh_token"}})
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	t.Cleanup(docs.Close)
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{})
	set := toggle.NewSet(mode)
	var h http.Handler
	switch mode {
	case toggle.ModeServe:
		srv, err := New(Config{Recorder: rec, Toggles: set, AutoApprove: true, AllowLoopbackCIMD: true})
		if err != nil {
			t.Fatal(err)
		}
		h = srv.Handler()
	case toggle.ModeProxy:
		up, err := New(Config{AutoApprove: true, AllowLoopbackCIMD: true})
		if err != nil {
			t.Fatal(err)
		}
		ups := httptest.NewServer(up.Handler())
		t.Cleanup(func() { ups.CloseClientConnections(); ups.Close() })
		p, err := proxy.New(proxy.Options{Upstream: ups.URL + "/mcp", RewriteURLs: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		front, err := New(Config{Recorder: rec, Toggles: set, Handler: p, EndpointPath: p.EndpointPath()})
		if err != nil {
			t.Fatal(err)
		}
		h = front.Handler()
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close() })
	e := &tenv{t: t, base: ts.URL, set: set, store: store, cimd: docs.URL + "/client.json",
		hc: &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	e.clientID = e.registerClient(claudeRegistration)
	e.token = e.tokenFor(e.code(e.clientID))["access_token"].(string)
	e.sid = e.newSession()
	return e
}

// raw sends a request and returns the response as it came (streams: headers only).
func (e *tenv) raw(q wreq) (int, http.Header, []byte) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, q.method, e.base+q.path, strings.NewReader(q.body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range q.header {
		req.Header.Set(k, v)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer resp.Body.Close()
	if q.method == http.MethodGet && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, resp.Header, []byte("(stream)")
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", q.method, q.path, err)
	}
	return resp.StatusCode, resp.Header, b
}

func (e *tenv) mustJSON(q wreq, want int) map[string]any {
	e.t.Helper()
	status, _, b := e.raw(q)
	var m map[string]any
	if status != want || json.Unmarshal(b, &m) != nil {
		e.t.Fatalf("%s %s: HTTP %d %s", q.method, q.path, status, b)
	}
	return m
}

var jsonHeader = map[string]string{"Content-Type": "application/json"}
var formHeader = map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

func (e *tenv) registerClient(body string) string {
	return e.mustJSON(wreq{"POST", "/register", jsonHeader, body}, http.StatusCreated)["client_id"].(string)
}

// code runs an authorization request (auto-approved) and returns the code.
func (e *tenv) code(clientID string) string {
	e.t.Helper()
	_, challenge := pkcePair()
	status, h, b := e.raw(wreq{method: "GET", path: authorizeQuery(clientID, challenge)})
	loc, _ := url.Parse(h.Get("Location"))
	if status != http.StatusFound || loc == nil || loc.Query().Get("code") == "" {
		e.t.Fatalf("authorize: HTTP %d %s %s", status, h.Get("Location"), b)
	}
	return loc.Query().Get("code")
}

func tokenForm(clientID, code string) string {
	verifier, _ := pkcePair()
	return url.Values{"grant_type": {"authorization_code"}, "client_id": {clientID}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {claudeCallback}}.Encode()
}

func (e *tenv) tokenFor(code string) map[string]any {
	return e.mustJSON(wreq{"POST", "/token", formHeader, tokenForm(e.clientID, code)}, http.StatusOK)
}

const tableInitialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"toggle-table","version":"1"}}}`

func (e *tenv) mcpHeader(extra ...string) map[string]string {
	h := map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
		"Authorization": "Bearer " + e.token}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

// newSession initializes a legacy session (and sends notifications/initialized) and returns its id.
func (e *tenv) newSession() string {
	e.t.Helper()
	status, h, b := e.raw(wreq{"POST", "/mcp", e.mcpHeader(), tableInitialize})
	sid := h.Get("Mcp-Session-Id")
	if status != http.StatusOK || sid == "" {
		e.t.Fatalf("initialize: HTTP %d session %q %s", status, sid, b)
	}
	if status, _, b := e.raw(wreq{"POST", "/mcp", e.mcpHeader("Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-11-25"),
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`}); status != http.StatusAccepted {
		e.t.Fatalf("notifications/initialized: HTTP %d %s", status, b)
	}
	return sid
}

var (
	normJSON    = regexp.MustCompile(`"(access_token|refresh_token|client_id|client_secret|code|csrf)":"[^"]*"`)
	normIssued  = regexp.MustCompile(`"(client_id_issued_at|client_secret_expires_at|iat|exp)":\d+`)
	normEventID = regexp.MustCompile(`(?m)^id: .*$`)
	normQuery   = regexp.MustCompile(`\b(code|client_id)=[^&"\s]+`)
)

// normalise replaces what differs between two runs of the same request.
func (e *tenv) normalise(status int, h http.Header, body []byte) wresp {
	e.t.Helper()
	h = h.Clone()
	h.Del("Date")
	if cl := h.Get("Content-Length"); cl != "" && string(body) != "(stream)" {
		if cl != strconv.Itoa(len(body)) {
			e.t.Errorf("Content-Length %s, body %d bytes", cl, len(body))
		}
		h.Del("Content-Length")
	}
	if h.Get("Mcp-Session-Id") != "" {
		h.Set("Mcp-Session-Id", "<session>")
	}
	for k, vs := range h {
		for i, v := range vs {
			vs[i] = normQuery.ReplaceAllString(strings.ReplaceAll(v, e.clientID, "<client>"), "$1=<$1>")
		}
		h[k] = vs
	}
	s := string(body)
	s = normJSON.ReplaceAllString(s, `"$1":"<$1>"`)
	s = normIssued.ReplaceAllString(s, `"$1":<$1>`)
	s = normEventID.ReplaceAllString(s, "id: <event>")
	s = normQuery.ReplaceAllString(s, "$1=<$1>")
	s = strings.ReplaceAll(s, e.clientID, "<client>")
	return wresp{status, h, s}
}

// tprobe is one request of the table; prep makes what it needs (a code, a session) without toggles.
type tprobe struct {
	name string
	prep func(e *tenv) wreq
}

func tableProbes() []tprobe {
	fixed := func(q wreq) func(*tenv) wreq { return func(*tenv) wreq { return q } }
	mcp := func(body string, extra ...string) func(e *tenv) wreq {
		return func(e *tenv) wreq {
			return wreq{"POST", "/mcp", e.mcpHeader(append([]string{"Mcp-Session-Id", e.sid, "Mcp-Protocol-Version", "2025-11-25"}, extra...)...), body}
		}
	}
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},` +
		`"io.modelcontextprotocol/clientInfo":{"name":"toggle-table","version":"1"}}`
	modern := func(method, name, body string) func(e *tenv) wreq {
		return func(e *tenv) wreq {
			h := e.mcpHeader("Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", method)
			if name != "" {
				h["Mcp-Name"] = name
			}
			return wreq{"POST", "/mcp", h, body}
		}
	}
	return []tprobe{
		{"challenge", fixed(wreq{"POST", "/mcp", map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}, tableInitialize})},
		{"challenge GET", fixed(wreq{method: "GET", path: "/mcp", header: map[string]string{"Accept": "text/event-stream"}})},
		{"resource metadata", fixed(wreq{method: "GET", path: "/.well-known/oauth-protected-resource/mcp"})},
		{"auth metadata", fixed(wreq{method: "GET", path: "/.well-known/oauth-authorization-server"})},
		{"openid configuration", fixed(wreq{method: "GET", path: "/.well-known/openid-configuration"})},
		{"register claude.ai", fixed(wreq{"POST", "/register", jsonHeader, claudeRegistration})},
		{"register claude.com", fixed(wreq{"POST", "/register", jsonHeader, strings.Replace(claudeRegistration, "claude.ai", "claude.com", 1)})},
		{"authorize", func(e *tenv) wreq {
			_, challenge := pkcePair()
			return wreq{method: "GET", path: authorizeQuery(e.clientID, challenge)}
		}},
		{"authorize with a metadata document", func(e *tenv) wreq {
			_, challenge := pkcePair()
			return wreq{method: "GET", path: authorizeQuery(e.cimd, challenge)}
		}},
		{"token", func(e *tenv) wreq {
			return wreq{"POST", "/token", formHeader, tokenForm(e.clientID, e.code(e.clientID))}
		}},
		{"token as JSON", func(e *tenv) wreq {
			body, _ := json.Marshal(map[string]string{"grant_type": "authorization_code", "client_id": e.clientID, "code": e.code(e.clientID),
				"code_verifier": func() string { v, _ := pkcePair(); return v }(), "redirect_uri": claudeCallback})
			return wreq{"POST", "/token", jsonHeader, string(body)}
		}},
		{"refresh", func(e *tenv) wreq {
			rt := e.tokenFor(e.code(e.clientID))["refresh_token"].(string)
			return wreq{"POST", "/token", formHeader, url.Values{"grant_type": {"refresh_token"}, "client_id": {e.clientID}, "refresh_token": {rt}}.Encode()}
		}},
		{"revoke", func(e *tenv) wreq {
			at := e.tokenFor(e.code(e.clientID))["access_token"].(string)
			return wreq{"POST", "/revoke", formHeader, url.Values{"token": {at}, "client_id": {e.clientID}}.Encode()}
		}},
		{"initialize", func(e *tenv) wreq { return wreq{"POST", "/mcp", e.mcpHeader(), tableInitialize} }},
		{"notifications/initialized", func(e *tenv) wreq {
			status, h, _ := e.raw(wreq{"POST", "/mcp", e.mcpHeader(), tableInitialize})
			if status != http.StatusOK {
				e.t.Fatalf("initialize: HTTP %d", status)
			}
			return wreq{"POST", "/mcp", e.mcpHeader("Mcp-Session-Id", h.Get("Mcp-Session-Id"), "Mcp-Protocol-Version", "2025-11-25"),
				`{"jsonrpc":"2.0","method":"notifications/initialized"}`}
		}},
		{"tools/list", mcp(`{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`)},
		{"tools/call", mcp(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)},
		{"ping", mcp(`{"jsonrpc":"2.0","id":"p","method":"ping"}`)},
		{"GET stream", func(e *tenv) wreq {
			return wreq{method: "GET", path: "/mcp", header: map[string]string{"Accept": "text/event-stream", "Authorization": "Bearer " + e.token,
				"Mcp-Session-Id": e.newSession(), "Mcp-Protocol-Version": "2025-11-25"}}
		}},
		{"DELETE session", func(e *tenv) wreq {
			return wreq{method: "DELETE", path: "/mcp", header: map[string]string{"Authorization": "Bearer " + e.token,
				"Mcp-Session-Id": e.newSession(), "Mcp-Protocol-Version": "2025-11-25"}}
		}},
		{"server/discover", modern("server/discover", "", `{"jsonrpc":"2.0","id":4,"method":"server/discover","params":{`+meta+`}}`)},
		{"tools/call 2026", modern("tools/call", "echo", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},`+meta+`}}`)},
		// Claude through connectors after a 2026-07-28 discover: the header says 2025-11-25, _meta 2026-07-28 (CC#93290).
		{"tools/call 2026 claude header", func(e *tenv) wreq {
			q := modern("tools/call", "echo", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},`+meta+`}}`)(e)
			q.header["Mcp-Protocol-Version"] = "2025-11-25"
			return q
		}},
		{"unknown method", mcp(`{"jsonrpc":"2.0","id":6,"method":"nope/nothing"}`)},
		{"index", fixed(wreq{method: "GET", path: "/"})},
		{"not found", fixed(wreq{method: "GET", path: "/nope"})},
	}
}

// send runs a probe: prep, then the request; it returns the normalised response and the toggle records of the
// request's exchange.
func (e *tenv) send(p tprobe, toggle string) (wresp, []recorder.ToggleChange) {
	e.t.Helper()
	q := p.prep(e)
	if toggle != "" {
		if err := e.set.Set(toggle); err != nil {
			e.t.Fatal(err)
		}
		defer func() {
			name, _, _ := strings.Cut(toggle, "=")
			if err := e.set.Unset(name); err != nil {
				e.t.Fatal(err)
			}
		}()
	}
	var last uint64 // the exchange this request records comes after every one recorded so far
	for _, ex := range e.store.Snapshot() {
		last = max(last, ex.ID)
	}
	status, h, b := e.raw(q)
	r := e.normalise(status, h, b)
	// The recorder publishes after the flush, and a stream's exchange completes after the client hung up: wait
	// (bounded) for this request's own exchange, complete. Reading the store at once found the previous probe's
	// exchange for the same method and path (GET stream, without the toggle) about one run in two.
	deadline := time.Now().Add(10 * time.Second)
	for {
		exs := e.store.Snapshot()
		for i := len(exs) - 1; i >= 0; i-- {
			if ex := exs[i]; ex.ID > last && ex.Kind == recorder.Inbound && ex.Method == q.method && ex.URL == q.path &&
				ex.State == recorder.StateComplete {
				return r, ex.Toggles
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no exchange recorded for %s %s within 10s", q.method, q.path)
			return r, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// effect turns the untoggled response into the one the toggle must produce.
// It sees the toggled answer b only to check, not copy, what it cannot predict byte for byte (an HTML page).
type effect func(t *testing.T, e *tenv, a, b wresp) wresp

func chain(fs ...effect) effect {
	return func(t *testing.T, e *tenv, a, b wresp) wresp {
		a = a.clone()
		for _, f := range fs {
			a = f(t, e, a, b)
		}
		return a
	}
}

// same: the toggle records the exchange but leaves the wire as it was (slow).
func same(_ *testing.T, _ *tenv, a, _ wresp) wresp { return a }

// answer: the toggle answers in the server's place.
func answer(status int, body string, header ...string) effect {
	return func(t *testing.T, e *tenv, a, _ wresp) wresp {
		h := http.Header{}
		for i := 0; i+1 < len(header); i += 2 {
			h.Add(header[i], header[i+1])
		}
		return wresp{status, h, strings.ReplaceAll(body, "{base}", e.base)}
	}
}

var (
	text404 = answer(404, "404 page not found\n", "Content-Type", "text/plain; charset=utf-8")
	jsonHdr = []string{"Content-Type", "application/json", "Cache-Control", "no-store"}
)

func status(code int) effect {
	return func(t *testing.T, e *tenv, a, _ wresp) wresp { a.status = code; return a }
}

func setHeader(k, v string) effect {
	return func(t *testing.T, e *tenv, a, _ wresp) wresp {
		a.header = a.header.Clone()
		if v == "" {
			if a.header.Get(k) == "" {
				t.Errorf("expectation: no %s header to remove in\n%s", k, a)
			}
			a.header.Del(k)
		} else {
			a.header.Set(k, strings.ReplaceAll(v, "{base}", e.base))
		}
		return a
	}
}

// replace replaces old by new in the body ({base} is the server's URL); old must be there.
func replace(old, new string) effect {
	return func(t *testing.T, e *tenv, a, _ wresp) wresp {
		old, new := strings.ReplaceAll(old, "{base}", e.base), strings.ReplaceAll(new, "{base}", e.base)
		if !strings.Contains(a.body, old) {
			t.Errorf("expectation: %q is not in the untoggled body\n%s", old, a.body)
		}
		a.body = strings.Replace(a.body, old, new, 1)
		return a
	}
}

// sseToJSON: the answer's JSON-RPC response event, as one application/json body.
func sseToJSON(t *testing.T, e *tenv, a, _ wresp) wresp {
	var resp string
	for _, line := range strings.Split(a.body, "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok && (strings.Contains(d, `"result"`) || strings.Contains(d, `"error"`)) {
			resp = d
		}
	}
	if resp == "" || a.header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("expectation: not an event stream with a response\n%s", a)
	}
	a.header = a.header.Clone()
	a.header.Set("Content-Type", "application/json")
	a.header.Del("Cache-Control")
	a.body = resp
	return a
}

func jsonToSSE(t *testing.T, e *tenv, a, _ wresp) wresp {
	if a.header.Get("Content-Type") != "application/json" {
		t.Errorf("expectation: not a JSON answer\n%s", a)
	}
	a.header = a.header.Clone()
	a.header.Set("Content-Type", "text/event-stream")
	a.body = "event: message\ndata: " + strings.TrimSpace(a.body) + "\n\n"
	return a
}

// page: the toggle answers with an HTML page; its headers are exact, its body must say each of says.
func page(status int, says []string, header ...string) effect {
	return func(t *testing.T, e *tenv, a, b wresp) wresp {
		h := http.Header{}
		for i := 0; i+1 < len(header); i += 2 {
			h.Add(header[i], header[i+1])
		}
		for _, s := range says {
			if !strings.Contains(b.body, s) {
				t.Errorf("the page does not say %q:\n%s", s, b.body)
			}
		}
		return wresp{status, h, b.body}
	}
}

// redirectQuery replaces old by new in the Location header and in the body's link to it.
func redirectQuery(old, new string) effect {
	return chain(
		func(t *testing.T, e *tenv, a, _ wresp) wresp {
			loc := a.header.Get("Location")
			if !strings.Contains(loc, old) {
				t.Errorf("expectation: %q is not in Location %q", old, loc)
			}
			a.header.Set("Location", strings.Replace(loc, old, new, 1))
			return a
		},
		replace(amp(old), amp(new))) // the body's link, as http.Redirect writes it (after normalise's <code>)
}

func amp(s string) string { return strings.ReplaceAll(s, "&", "&amp;") }

// statelessAnswer: what the SDK's stateless handler sends for what the stateful one answered: no priming event,
// no event ids (nothing to resume), no session.
func statelessAnswer(t *testing.T, e *tenv, a, _ wresp) wresp {
	if !strings.HasPrefix(a.body, "event: prime\nid: <event>\ndata: \n\n") {
		t.Errorf("expectation: no priming event in\n%s", a.body)
	}
	a.body = strings.ReplaceAll(strings.TrimPrefix(a.body, "event: prime\nid: <event>\ndata: \n\n"), "id: <event>\n", "")
	a.header.Del("Mcp-Session-Id")
	return a
}

const tableChallenge = `Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"`

func forAll(names []string, f effect) map[string]effect {
	m := map[string]effect{}
	for _, n := range names {
		m[n] = f
	}
	return m
}

func merge(ms ...map[string]effect) map[string]effect {
	out := map[string]effect{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// toggleTable says, for every toggle of the catalogue, how each probe's answer changes. A probe it does not name
// must come back byte for byte as without the toggle, and record nothing.
func toggleTable() []struct {
	spec    string
	effects map[string]effect
} {
	failText := func(code int, spec string) string {
		return fmt.Sprintf("%d %s (mcpwatch toggle fail=%s)\n", code, http.StatusText(code), spec)
	}
	failAnswer := func(code int, spec string) effect {
		return answer(code, failText(code, spec), "Content-Type", "text/plain; charset=utf-8")
	}
	tokenAnswers := []string{"token", "token as JSON", "refresh"}
	wrongIDs := map[string]effect{
		"initialize":                    replace(`"id":1,`, `"id":1001,`),
		"tools/list":                    replace(`"id":2,`, `"id":1002,`),
		"tools/call":                    replace(`"id":3,`, `"id":1003,`),
		"ping":                          replace(`"id":"p",`, `"id":"p-mcpwatch",`),
		"server/discover":               replace(`"id":4,`, `"id":1004,`),
		"tools/call 2026":               replace(`"id":5,`, `"id":1005,`),
		"unknown method":                replace(`"id":6,`, `"id":1006,`),
		"tools/call 2026 claude header": replace(`"id":7,`, `"id":1007,`),
	}
	return []struct {
		spec    string
		effects map[string]effect
	}{
		// transport / session
		{"omit-session-id", map[string]effect{"initialize": setHeader("Mcp-Session-Id", "")}},
		{"reject-discover", map[string]effect{"server/discover": answer(200,
			`{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"Method not found: server/discover"}}`+"\n", jsonHdr...)}},
		{"protocol-version=2024-11-05", map[string]effect{
			"initialize":      replace(`"protocolVersion":"2025-11-25"`, `"protocolVersion":"2024-11-05"`),
			"server/discover": replace(`"supportedVersions":["2026-07-28","2025-11-25","2025-06-18","2025-03-26","2024-11-05"]`, `"supportedVersions":["2024-11-05"]`),
		}},
		{"sse-responses", map[string]effect{"unknown method": jsonToSSE}},
		{"json-responses", forAll([]string{"initialize", "tools/list", "tools/call", "ping", "server/discover", "tools/call 2026", "tools/call 2026 claude header"}, sseToJSON)},
		{"get-stream-405", forAll([]string{"GET stream", "challenge GET"}, answer(405, "Method Not Allowed\n",
			"Allow", "POST", "Content-Type", "text/plain; charset=utf-8"))},
		{"wrong-jsonrpc-id", wrongIDs},
		{"drop-tools-capability", forAll([]string{"initialize", "server/discover"}, replace(`,"tools":{"listChanged":true}}`, `}`))},
		{"slow=1ms", forAll(probeNames(), same)},
		// fail: that one stage, every request of it (an initialize without a token is still an initialize).
		{"fail=initialize:503", forAll([]string{"initialize", "challenge"}, failAnswer(503, "initialize:503"))},
		{"fail=token:500", forAll([]string{"token", "token as JSON"}, failAnswer(500, "token:500"))},
		{"fail=refresh:502", forAll([]string{"refresh"}, failAnswer(502, "refresh:502"))},
		{"fail=register:500", forAll([]string{"register claude.ai", "register claude.com"}, failAnswer(500, "register:500"))},
		{"fail=list:500", forAll([]string{"tools/list"}, failAnswer(500, "list:500"))},
		{"fail=stream:503", forAll([]string{"GET stream", "challenge GET"}, failAnswer(503, "stream:503"))},
		{"fail=challenge:500", forAll([]string{"challenge", "challenge GET"}, status(500))},
		// discovery
		{"omit-resource-metadata", forAll([]string{"challenge", "challenge GET"}, setHeader("WWW-Authenticate", "Bearer"))},
		{"relative-resource-metadata", forAll([]string{"challenge", "challenge GET"},
			setHeader("WWW-Authenticate", `Bearer resource_metadata="/.well-known/oauth-protected-resource/mcp"`))},
		{"no-resource-metadata", map[string]effect{"resource metadata": text404}},
		{"resource-mismatch", map[string]effect{"resource metadata": replace(`"resource":"{base}/mcp"`, `"resource":"{base}/mcp-not-mcp"`)}},
		{"no-auth-metadata", forAll([]string{"auth metadata", "openid configuration"}, text404)},
		{"scope-challenge=read write", forAll([]string{"challenge", "challenge GET"},
			setHeader("WWW-Authenticate", strings.TrimSuffix(tableChallenge, `"`)+`", scope="read write"`))},
		// registration / authorization
		{"no-registration", merge(
			forAll([]string{"auth metadata", "openid configuration"}, chain(
				replace(`"registration_endpoint":"{base}/register",`, ``),
				replace(`"client_id_metadata_document_supported":true`, `"client_id_metadata_document_supported":false`))),
			forAll([]string{"register claude.ai", "register claude.com"}, text404),
			map[string]effect{"authorize with a metadata document": answer(400,
				"invalid_client: this server does not support client ID metadata documents (mcpwatch toggle no-registration)\n",
				"Content-Type", "text/plain; charset=utf-8")})},
		{"no-cimd", merge(
			forAll([]string{"auth metadata", "openid configuration"}, replace(`"client_id_metadata_document_supported":true`, `"client_id_metadata_document_supported":false`)),
			map[string]effect{"authorize with a metadata document": answer(400,
				"invalid_client: this server does not support client ID metadata documents (mcpwatch toggle no-cimd)\n",
				"Content-Type", "text/plain; charset=utf-8")})},
		{"token-error=invalid_grant", forAll(tokenAnswers, answer(400,
			`{"error":"invalid_grant","error_description":"mcpwatch toggle token-error=invalid_grant"}`+"\n", jsonHdr...))},
		{"no-refresh-token", forAll(tokenAnswers, replace(`,"refresh_token":"<refresh_token>"`, ``))},
		{"invalid-client-on-token", forAll(tokenAnswers, answer(401,
			`{"error":"invalid_client","error_description":"client authentication failed (mcpwatch toggle invalid-client-on-token)"}`+"\n", jsonHdr...))},
		// serve only
		{"stateless", merge(
			forAll([]string{"initialize", "tools/list", "tools/call", "ping"}, statelessAnswer),
			map[string]effect{
				"notifications/initialized": same, // routed to the stateless handler, answered alike
				// The SDK's stateless handler answers an unknown legacy method itself (the embedded server's
				// JSON-RPC -32601 is on its legacy path only).
				"unknown method": answer(400, `JSON RPC not handled: "nope/nothing" unsupported`+"\n",
					"Content-Type", "text/plain; charset=utf-8", "X-Content-Type-Options", "nosniff"),
			},
			forAll([]string{"GET stream", "DELETE session"}, answer(405, "Method Not Allowed\n",
				"Allow", "POST", "Content-Type", "text/plain; charset=utf-8", "X-Content-Type-Options", "nosniff")))},
		{"strict-version-header", map[string]effect{"tools/call 2026 claude header": answer(400,
			`{"jsonrpc":"2.0","id":7,"error":{"code":-32020,"message":"Mcp-Protocol-Version header \"2025-11-25\" does not match request io.modelcontextprotocol/protocolVersion \"2026-07-28\""}}`, "Content-Type", "application/json")}},
		{"tools-changed", map[string]effect{"tools/list": replace(`{"description":"Returns the text it is given."`,
			`{"description":"Added by the tools-changed toggle: a client that refetches tools on notifications/tools/list_changed shows it.",`+
				`"inputSchema":{"type":"object","additionalProperties":false},"name":"changed_tool","title":"Changed tool"},`+
				`{"description":"Returns the text it is given."`)}},
		{"require-client-secret", forAll([]string{"register claude.ai", "register claude.com"}, chain(
			replace(`"token_endpoint_auth_method":"none"`, `"token_endpoint_auth_method":"client_secret_post"`),
			replace(`"client_id":"<client_id>",`, `"client_id":"<client_id>","client_secret":"<client_secret>",`),
			replace(`"client_id_issued_at":<client_id_issued_at>}`, `"client_id_issued_at":<client_id_issued_at>,"client_secret_expires_at":<client_secret_expires_at>}`)))},
		{"redirect-allow=claude.com", merge(
			map[string]effect{"register claude.ai": answer(400, `{"error":"invalid_redirect_uri","error_description":`+
				`"redirect URI \"https://claude.ai/api/mcp/auth_callback\": host \"claude.ai\" is not on the allowed list (claude.com)"}`+"\n",
				"Cache-Control", "no-store", "Content-Type", "application/json", "Pragma", "no-cache")},
			forAll([]string{"authorize", "authorize with a metadata document"}, page(400,
				[]string{"<title>Redirect URI not allowed — mcpwatch</title>", `host &#34;claude.ai&#34; is not on the allowed list (claude.com)`,
					"<dd><code>https://claude.ai/api/mcp/auth_callback</code></dd>", "The client was not redirected"},
				"Cache-Control", "no-store", "Content-Type", "text/html; charset=utf-8", "X-Content-Type-Options", "nosniff",
				"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
				"Referrer-Policy", "same-origin", "X-Frame-Options", "DENY")))},
		{"deny-consent", forAll([]string{"authorize", "authorize with a metadata document"}, redirectQuery("code=<code>&",
			"error=access_denied&error_description=the+authorization+server+denies+every+request+%28toggle%29&"))},
		{"short-token=30s", forAll(tokenAnswers, replace(`"expires_in":3600`, `"expires_in":30`))},
	}
}

func probeNames() []string {
	var out []string
	for _, p := range tableProbes() {
		out = append(out, p.name)
	}
	return out
}

// TestEveryToggleChangesExactlyWhatItSays sends every probe with and without each toggle of the catalogue, in
// front of the embedded server (serve) and through mcpwatch proxy in front of it (proxy, for the toggles that
// claim to work there). The toggled answer must be the untoggled one with exactly the documented change (status,
// every header, body), and the exchange must record the toggle; every other probe must be byte for byte the same
// and record nothing.
func TestEveryToggleChangesExactlyWhatItSays(t *testing.T) {
	table := toggleTable()
	covered := map[string]bool{}
	for _, c := range table {
		name, _, _ := strings.Cut(c.spec, "=")
		covered[name] = true
	}
	for _, d := range toggle.Toggles() {
		if !covered[d.Name] {
			t.Errorf("toggle %s has no row in the table", d.Name)
		}
	}
	probes := tableProbes()
	for _, mode := range []string{toggle.ModeServe, toggle.ModeProxy} {
		for _, c := range table {
			t.Run(mode+"/"+c.spec, func(t *testing.T) {
				t.Parallel()
				d, _, _, err := toggle.ParseSpec(c.spec)
				if err != nil {
					t.Fatal(err)
				}
				if !d.AppliesTo(mode) {
					if err := toggle.NewSet(mode).Set(c.spec); err == nil {
						t.Errorf("a %s-only toggle was accepted in %s mode", strings.Join(d.Modes, ","), mode)
					}
					return
				}
				e := newTEnv(t, mode)
				for name := range c.effects {
					if !slices.ContainsFunc(probes, func(p tprobe) bool { return p.name == name }) {
						t.Errorf("no probe %q", name)
					}
				}
				for _, p := range probes {
					a, af := e.send(p, "")
					if len(af) != 0 {
						t.Errorf("%s without the toggle records %+v", p.name, af)
					}
					b, bf := e.send(p, c.spec)
					want := a
					if f, ok := c.effects[p.name]; ok {
						want = f(t, e, a.clone(), b)
					}
					if b.String() != want.String() {
						t.Errorf("%s: the toggled answer differs from the expected one\n--- got\n%s\n--- want\n%s\n--- untoggled\n%s", p.name, b, want, a)
					}
					_, altered := c.effects[p.name]
					switch {
					case altered && len(bf) == 0:
						t.Errorf("%s: altered, but the exchange records no toggle", p.name)
					case !altered && len(bf) != 0:
						t.Errorf("%s: not altered, yet the exchange records %+v", p.name, bf)
					}
					for _, f := range bf {
						if f.Name != d.Name || f.What == "" {
							t.Errorf("%s records %+v: want records by %s, each saying what it changed", p.name, f, d.Name)
						}
					}
				}
			})
		}
	}
}
