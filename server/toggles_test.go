package server

import (
	"context"
	"net/http/httptest"
	"slices"
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
	srv, err := New(Config{Recorder: recorder.New(store, recorder.Options{}), Faults: set})
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
	srv, _, url := newTestServer(t)
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
	if hasTool() {
		t.Fatal("changed_tool present before the toggle")
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
}
