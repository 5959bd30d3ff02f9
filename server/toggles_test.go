package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/faults"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// newTestServer runs the real router (capture, guard, toggles, SDK handlers) on an httptest server.
func newTestServer(t *testing.T, specs ...string) (*Server, *recorder.Store, string) {
	t.Helper()
	set := faults.NewSet(faults.ModeServe)
	for _, s := range specs {
		if err := set.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	store := recorder.NewStore(recorder.StoreOptions{})
	srv, err := New(Config{Recorder: recorder.New(store, recorder.Options{}), Faults: set, NoAuth: true})
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
	for _, ex := range store.Snapshot() {
		if ex.RespHeaders.Get("Mcp-Session-Id") != "" {
			t.Errorf("exchange %d %s answered with a session id", ex.ID, ex.RPCMethod())
		}
		if ex.Method == "POST" && ex.Note("era") != "" && ex.Note("era")[:4] != "2026" {
			t.Errorf("exchange %d routed %q, want the stateless handler", ex.ID, ex.Note("era"))
		}
		// Every exchange the toggle sent to the stateless handler records it: what it would have been, what it was.
		want := []recorder.FaultChange{{Name: "stateless", What: "route",
			Before: "legacy: the stateful handler (legacy body; sessions, GET stream, DELETE)",
			After:  "2026: the stateless handler (no session; GET and DELETE 405)"}}
		if ex.Method != "POST" {
			want[0].Before = "legacy: the stateful handler (" + ex.Method + "; sessions, GET stream, DELETE)"
		}
		if ex.RPCMethod() == "initialize" {
			want = append(want, recorder.FaultChange{Name: "stateless", What: "response header Mcp-Session-Id",
				Before: "(a new session's id)", After: "(none: no session issued)"})
		}
		if !slices.Equal(ex.Faults, want) {
			t.Errorf("exchange %d %s %s records\n%+v\nwant %+v", ex.ID, ex.Method, ex.RPCMethod(), ex.Faults, want)
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
	var methods []string
	faulted := false
	for _, ex := range store.Snapshot() {
		methods = append(methods, ex.RPCMethod())
		for _, f := range ex.Faults {
			faulted = faulted || f.Name == "reject-discover"
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
	// lastList is the fault records of the latest tools/list exchange.
	lastList := func() []recorder.FaultChange {
		exs := store.Snapshot()
		for i := len(exs) - 1; i >= 0; i-- {
			if exs[i].RPCMethod() == "tools/list" {
				return exs[i].Faults
			}
		}
		t.Fatal("no tools/list exchange")
		return nil
	}
	if hasTool() {
		t.Fatal("changed_tool present before the toggle")
	}
	if f := lastList(); len(f) != 0 {
		t.Errorf("tools/list before the toggle records %+v", f)
	}
	if err := srv.Faults().Set("tools-changed"); err != nil {
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
	if f, want := lastList(), []recorder.FaultChange{{Name: "tools-changed", What: "result.tools",
		Before: "(without changed_tool)", After: "changed_tool listed"}}; !slices.Equal(f, want) {
		t.Errorf("tools/list under the toggle records %+v, want %+v", f, want)
	}
	if err := srv.Faults().Unset("tools-changed"); err != nil {
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
	want := []recorder.FaultChange{
		{Name: "tools-changed", What: "notification", Before: "(none)", After: "notifications/tools/list_changed (changed_tool added)"},
		{Name: "tools-changed", What: "notification", Before: "(none)", After: "notifications/tools/list_changed (changed_tool removed)"},
	}
	var streams int
	for _, ex := range store.Snapshot() {
		switch {
		case ex.Method == "GET":
			streams++
			if !slices.Equal(ex.Faults, want) {
				t.Errorf("GET stream %d records %+v, want %+v", ex.ID, ex.Faults, want)
			}
		case ex.RPCMethod() != "tools/list" && len(ex.Faults) != 0:
			t.Errorf("exchange %d %s records %+v", ex.ID, ex.RPCMethod(), ex.Faults)
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
	set := faults.NewSet(faults.ModeServe)
	for _, s := range specs {
		if err := set.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	store := recorder.NewStore(recorder.StoreOptions{})
	srv, err := New(Config{Recorder: recorder.New(store, recorder.Options{}), Faults: set})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close() })
	return &wire{t: t, ts: ts}, store
}

const claudeRegistration = `{"client_name":"claudeai","grant_types":["authorization_code","refresh_token"],` +
	`"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"response_types":["code"],"scope":"claudeai","token_endpoint_auth_method":"none"}`

// faultsOf returns the toggle records of the last exchange whose path is path.
func faultsOf(t *testing.T, store *recorder.Store, path string) []recorder.FaultChange {
	t.Helper()
	exs := store.Snapshot()
	for i := len(exs) - 1; i >= 0; i-- {
		if exs[i].Path() == path {
			return exs[i].Faults
		}
	}
	t.Fatalf("no exchange for %s", path)
	return nil
}

func onlyFault(t *testing.T, got []recorder.FaultChange, name string) {
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
		onlyFault(t, faultsOf(t, store, "/register"), "require-client-secret")
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
		onlyFault(t, faultsOf(t, store, "/register"), "redirect-allow")
		ok := strings.Replace(claudeRegistration, "claude.ai", "claude.com", 1)
		if r := w.do("POST", "/register", map[string]string{"Content-Type": "application/json"}, ok); r.Status != http.StatusCreated {
			t.Errorf("claude.com redirect: HTTP %d %s", r.Status, r.Body)
		}
		if f := faultsOf(t, store, "/register"); len(f) != 0 {
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
		onlyFault(t, faultsOf(t, store, "/authorize"), "deny-consent")
	})

	t.Run("short-token", func(t *testing.T) {
		w, store := authToggleServer(t, "short-token=30s")
		id := w.registerClaude()["client_id"].(string)
		r := w.do("POST", "/token", form, tokenBody(id, w.codeFor(id, challenge)))
		if r.Status != http.StatusOK || r.json(t)["expires_in"] != float64(30) {
			t.Fatalf("token under short-token=30s: HTTP %d %s", r.Status, r.Body)
		}
		onlyFault(t, faultsOf(t, store, "/token"), "short-token")
	})
}
