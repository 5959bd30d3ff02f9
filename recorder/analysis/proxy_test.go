package analysis_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/servertest"
)

// The analysis of proxy mode, on exchanges recorded by the real router (capture, guard, toggles) with the real
// proxy mounted, in front of small upstreams that get something wrong.

// proxyRig is mcpwatch's router with the proxy in front of upstream, listening on loopback.
type proxyRig struct {
	store *recorder.Store
	url   string
}

func newProxyRig(t *testing.T, upstream string, opts proxy.Options) *proxyRig {
	t.Helper()
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{})
	opts.Upstream, opts.Recorder = upstream, rec
	p, err := proxy.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close) // after the server stopped
	srv := servertest.Serve(t, server.Config{Recorder: rec, Handler: p, EndpointPath: p.EndpointPath()})
	return &proxyRig{store: store, url: srv.LocalURL()}
}

// do sends one request through the proxy and reads the whole answer.
func (r *proxyRig) do(t *testing.T, method, path, token, body string) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, r.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", "proxy-test/1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// analyze waits until n exchanges are complete, then analyses them.
func (r *proxyRig) analyze(t *testing.T, n int) ([]*recorder.Exchange, *analysis.Analyzer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		exs := r.store.Snapshot()
		complete := 0
		for _, ex := range exs {
			if ex.State == recorder.StateComplete {
				complete++
			}
		}
		if complete >= n {
			a := analysis.New(analysis.Options{})
			for _, ex := range analysis.SettleOrder(exs) {
				a.Observe(ex)
			}
			return exs, a
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d complete exchanges, have %d of %d", n, complete, len(exs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// findings lists the rules found, each checked to sit on an inbound exchange (the client's, not the upstream's copy).
func findings(t *testing.T, exs []*recorder.Exchange, a *analysis.Analyzer) map[string]analysis.Finding {
	t.Helper()
	kind := map[uint64]string{}
	for _, ex := range exs {
		kind[ex.ID] = ex.Kind
	}
	out := map[string]analysis.Finding{}
	for _, f := range a.Report().Findings {
		out[f.Rule] = f
		if kind[f.ExchangeID] != recorder.Inbound {
			t.Errorf("%s is on exchange #%d, a %s one", f.Rule, f.ExchangeID, kind[f.ExchangeID])
		}
	}
	for _, ex := range exs {
		if ex.Kind == recorder.Outbound && len(a.Info(ex.ID).Findings) > 0 {
			t.Errorf("the upstream copy #%d carries findings %+v", ex.ID, a.Info(ex.ID).Findings)
		}
	}
	return out
}

func rules(fs map[string]analysis.Finding) []string {
	var out []string
	for r := range fs {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"proxy-test","version":"1"}}}`

// brokenUpstream is an MCP server with OAuth that gets discovery and sessions wrong in the ways set.
type brokenUpstream struct {
	resource  func(r *http.Request) string // the resource its metadata names
	noS256    bool                         // AS metadata without code_challenge_methods_supported
	noSession bool                         // initialize answered without Mcp-Session-Id
	self      func(r *http.Request) string // the origin it names itself by
}

// public is the origin the client used, as the proxy forwards it.
func public(r *http.Request) string {
	return r.Header.Get("X-Forwarded-Proto") + "://" + r.Header.Get("X-Forwarded-Host")
}

func (u brokenUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	self := u.self(r)
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/oauth-protected-resource/mcp":
		json.NewEncoder(w).Encode(map[string]any{"resource": u.resource(r), "authorization_servers": []string{self}})
	case "/.well-known/oauth-authorization-server":
		m := map[string]any{"issuer": self, "authorization_endpoint": self + "/authorize", "token_endpoint": self + "/token",
			"registration_endpoint": self + "/register", "response_types_supported": []string{"code"},
			"code_challenge_methods_supported": []string{"S256"}}
		if u.noS256 {
			delete(m, "code_challenge_methods_supported")
		}
		json.NewEncoder(w).Encode(m)
	case "/mcp":
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer resource_metadata="%s/.well-known/oauth-protected-resource/mcp"`, self))
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_token"}`)
			return
		}
		if !u.noSession {
			w.Header().Set("Mcp-Session-Id", "S-1")
		}
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"broken","version":"1"}}}`)
	default:
		http.NotFound(w, r)
	}
}

// handshake runs discovery and initialize through the proxy: 4 requests, 8 exchanges with the upstream's copies.
func handshake(t *testing.T, r *proxyRig) {
	t.Helper()
	if st := r.do(t, "POST", "/mcp", "", initialize); st != 401 {
		t.Fatalf("challenge: %d", st)
	}
	r.do(t, "GET", "/.well-known/oauth-protected-resource/mcp", "", "")
	r.do(t, "GET", "/.well-known/oauth-authorization-server", "", "")
	if st := r.do(t, "POST", "/mcp", "tok-1", initialize); st != 200 {
		t.Fatalf("initialize: %d", st)
	}
}

// The findings of the recorder issue apply to the upstream's responses, judged on the client's exchanges.
func TestProxyAuditsTheUpstream(t *testing.T) {
	tests := []struct {
		name string
		up   brokenUpstream
		want []string
	}{
		{"healthy", brokenUpstream{resource: func(r *http.Request) string { return public(r) + "/mcp" }, self: public}, nil},
		{"resource metadata names another resource", brokenUpstream{resource: func(*http.Request) string { return "https://elsewhere.example/mcp" }, self: public},
			[]string{"resource-metadata-mismatch"}},
		{"AS metadata without S256", brokenUpstream{resource: func(r *http.Request) string { return public(r) + "/mcp" }, self: public, noS256: true},
			[]string{"auth-metadata-no-s256"}},
		{"initialize without a session id", brokenUpstream{resource: func(r *http.Request) string { return public(r) + "/mcp" }, self: public, noSession: true},
			[]string{"initialize-no-session-id"}},
		{"all three", brokenUpstream{resource: func(*http.Request) string { return "https://elsewhere.example/mcp" }, self: public, noS256: true, noSession: true},
			[]string{"auth-metadata-no-s256", "initialize-no-session-id", "resource-metadata-mismatch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := httptest.NewServer(tt.up)
			defer up.Close()
			r := newProxyRig(t, up.URL+"/mcp", proxy.Options{})
			handshake(t, r)
			exs, a := r.analyze(t, 8)
			if got := rules(findings(t, exs, a)); !slices.Equal(got, tt.want) {
				t.Errorf("rules %v, want %v", got, tt.want)
			}
			if n := len(a.Report().Connections); n != 1 {
				t.Errorf("%d connections, want 1 (the upstream copies form none)", n)
			}
		})
	}
}

// An upstream that names itself by its own (loopback) URL: the rewrite lets the client on, and a finding says it
// was needed, naming where it happened; without the rewrite the client is sent to the upstream's URL.
func TestProxyRewriteIsAFinding(t *testing.T) {
	var upURL string
	broken := brokenUpstream{self: func(*http.Request) string { return upURL }, resource: func(*http.Request) string { return upURL + "/mcp" }}
	up := httptest.NewServer(broken)
	defer up.Close()
	upURL = up.URL

	t.Run("rewritten", func(t *testing.T) {
		r := newProxyRig(t, up.URL+"/mcp", proxy.Options{RewriteURLs: true})
		handshake(t, r)
		exs, a := r.analyze(t, 8)
		fs := findings(t, exs, a)
		if got := rules(fs); !slices.Equal(got, []string{"upstream-url-rewritten"}) {
			t.Fatalf("rules %v, want upstream-url-rewritten alone", got)
		}
		f := fs["upstream-url-rewritten"]
		for _, s := range []string{up.URL, "the 401 challenge of POST /mcp", "/.well-known/oauth-protected-resource/mcp",
			"/.well-known/oauth-authorization-server", "rewrote it to " + r.url} {
			if !strings.Contains(f.Summary, s) {
				t.Errorf("summary %q does not name %q", f.Summary, s)
			}
		}
		if f.Severity != analysis.SeverityWarn || f.ExchangeID != 1 {
			t.Errorf("finding %+v: want a warning on the first exchange (the challenge)", f)
		}
	})
	t.Run("not rewritten", func(t *testing.T) {
		r := newProxyRig(t, up.URL+"/mcp", proxy.Options{})
		handshake(t, r)
		exs, a := r.analyze(t, 8)
		fs := findings(t, exs, a)
		if _, ok := fs["upstream-url-rewritten"]; ok {
			t.Error("upstream-url-rewritten without a rewrite")
		}
		if _, ok := fs["resource-metadata-mismatch"]; !ok {
			t.Errorf("the upstream's own resource was not found wrong: %v", rules(fs))
		}
	})
}

// When the upstream is down or slow, the proxy's own 502/504 says so: not a server error, and the note's reason.
func TestProxyUpstreamUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String() + "/mcp"
	ln.Close()
	stuck := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stuck }))
	defer slow.Close()
	defer close(stuck)

	tests := []struct {
		name     string
		upstream string
		opts     proxy.Options
		status   int
		says     []string
	}{
		{"down", down, proxy.Options{}, 502, []string{"The upstream did not answer POST /mcp (initialize); mcpwatch's proxy answered 502 Bad Gateway", "connection refused"}},
		{"slow", slow.URL + "/mcp", proxy.Options{HeaderTimeout: 100 * time.Millisecond}, 504, []string{"(initialize)", "--upstream-timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newProxyRig(t, tt.upstream, tt.opts)
			if st := r.do(t, "POST", "/mcp", "", initialize); st != tt.status {
				t.Fatalf("status %d, want %d", st, tt.status)
			}
			exs, a := r.analyze(t, 2)
			fs := findings(t, exs, a)
			if got := rules(fs); !slices.Equal(got, []string{"upstream-unreachable"}) {
				t.Fatalf("rules %v, want upstream-unreachable alone (not server-error)", got)
			}
			f := fs["upstream-unreachable"]
			for _, s := range tt.says {
				if !strings.Contains(f.Summary, s) {
					t.Errorf("summary %q does not say %q", f.Summary, s)
				}
			}
			if !strings.Contains(f.Fix, "--upstream") {
				t.Errorf("fix %q", f.Fix)
			}
			if in := a.Info(f.ExchangeID); in.Status != analysis.StatusFailed {
				t.Errorf("the exchange's stage is %s, want failed", in.Status)
			}
		})
	}
}

// The proxy's note names are the analysis's.
func TestProxyNotes(t *testing.T) {
	if proxy.NoteRewrite != "rewrite" || proxy.NoteError != "proxy-error" {
		t.Errorf("server/proxy notes %q, %q: update recorder/analysis (noteRewrite, noteProxyError)", proxy.NoteRewrite, proxy.NoteError)
	}
}
