package probe

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/clients"
)

func TestParseChallenge(t *testing.T) {
	got := parseChallenge(`Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", scope="a b", error=invalid_token`)
	if got["resource_metadata"] != "https://h/.well-known/oauth-protected-resource/mcp" || got["scope"] != "a b" || got["error"] != "invalid_token" {
		t.Errorf("%v", got)
	}
	if len(parseChallenge(`Basic realm="x"`)) != 0 {
		t.Error("a Basic challenge read as Bearer")
	}
	if got := parseChallenge(`Bearer scope="unterminated`); got["scope"] != "unterminated" {
		t.Errorf("%v", got)
	}
}

// Codex's callback id is base64url(SHA-256(server URL)[0..9]): 12 characters, the same for the same URL.
func TestCodexCallbackID(t *testing.T) {
	u, _ := url.Parse("https://mcp.example.com/mcp")
	p, _ := Lookup("codex")
	pl := &player{p: p, b: &p.Behaviour, mcpURL: u}
	id := pl.callbackID()
	if len(id) != 12 || id != pl.callbackID() {
		t.Errorf("id %q", id)
	}
	cb, err := pl.callback(p.Behaviour.Callback)
	if err != nil || !strings.HasPrefix(cb, "http://127.0.0.1:") || !strings.HasSuffix(cb, "/callback/"+id) || strings.Contains(cb, "{") {
		t.Errorf("callback %q, %v", cb, err)
	}
}

// Every client the issue names is playable, and spec.
func TestProfiles(t *testing.T) {
	for _, id := range []string{"claude", "claude-code", "chatgpt", "codex", "cursor", "vscode", "copilot-cli", "gemini-cli",
		"zed", "opencode", "goose", "inspector", "mcp-remote", "spec"} {
		p, ok := Lookup(id)
		if !ok {
			t.Errorf("no profile %s", id)
			continue
		}
		if len(p.Behaviour.Sources) == 0 {
			t.Errorf("%s: no sources for its behaviour", id)
		}
	}
	if _, ok := Lookup("windsurf"); ok {
		t.Error("windsurf has no known behaviour to play")
	}
}

func TestAsInbound(t *testing.T) {
	ex := &recorder.Exchange{ID: 3, Kind: recorder.Outbound, Method: "GET", URL: "http://127.0.0.1:4000/.well-known/oauth-protected-resource/mcp?x=1"}
	in := asInbound(ex, "claude")
	if in.Kind != recorder.Inbound || in.URL != "/.well-known/oauth-protected-resource/mcp?x=1" || in.Host != "127.0.0.1:4000" ||
		in.Note(noteProbe) != "claude" || in.RemoteAddr != "probe-claude:0" {
		t.Errorf("%+v", in)
	}
	if ex.Kind != recorder.Outbound || len(ex.Notes) != 0 {
		t.Error("the recorded exchange was changed")
	}
}

func TestJUnit(t *testing.T) {
	rs := []*Result{{Client: "claude", Start: time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC), Stages: []StageResult{
		{Stage: stageDiscovery, Status: Pass, Detail: "ok"},
		{Stage: stageRegistration, Status: NotReproducible, Detail: "needs its document"},
		{Stage: stageAuthorize, Status: Fail, Detail: "refused", Findings: []analysis.Finding{{Rule: "r", Severity: analysis.SeverityError, Summary: "s", Fix: "f"}}},
		{Stage: stageToken, Status: Skipped, Detail: "not reached"},
	}}}
	var b bytes.Buffer
	if err := WriteJUnit(&b, rs); err != nil {
		t.Fatal(err)
	}
	var s junitSuites
	if err := xml.Unmarshal(b.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.Tests != 4 || s.Fails != 1 || s.Skips != 2 || len(s.Suites) != 1 || s.Suites[0].Cases[2].Failure == nil ||
		!strings.Contains(s.Suites[0].Cases[2].Failure.Text, "error r: s") || s.Suites[0].Cases[1].Skipped == nil {
		t.Errorf("%s", b.String())
	}
	if !Failed(rs) {
		t.Error("not failed")
	}
}

// A stage that failed without a request carries the warnings and errors of the last stage that made one.
func TestExplainFailure(t *testing.T) {
	warn := analysis.Finding{Rule: "w", Severity: analysis.SeverityWarn}
	info := analysis.Finding{Rule: "i", Severity: analysis.SeverityInfo}
	r := &Result{Stages: []StageResult{
		{Stage: stageDiscovery, Status: Pass, First: 1, Last: 3, Findings: []analysis.Finding{warn, info}},
		{Stage: stageRegistration, Status: Fail},
	}}
	explainFailure(r)
	if len(r.Stages[1].Findings) != 1 || r.Stages[1].Findings[0].Rule != "w" || len(r.Stages[0].Findings) != 1 {
		t.Errorf("%+v", r.Stages)
	}
}

// The call stage tries read-only tools first, never one marked destructive unless named.
func TestCallOrder(t *testing.T) {
	yes, no := true, false
	mk := func(name string, req int, ro, destr *bool) tool {
		var r []any
		for range req {
			r = append(r, "x")
		}
		tl := tool{Name: name, InputSchema: map[string]any{"required": r}}
		tl.Annotations.ReadOnly, tl.Annotations.Destructive = ro, destr
		return tl
	}
	pl := &player{tools: []tool{mk("delete", 0, &no, &yes), mk("plain", 0, nil, nil), mk("read", 2, &yes, nil), mk("write", 1, &no, &no)}}
	var got []string
	for _, tl := range pl.callOrder() {
		got = append(got, tl.Name)
	}
	if strings.Join(got, ",") != "read,plain,write" {
		t.Errorf("order %v", got)
	}
	pl.o.Tool = "delete"
	if ts := pl.callOrder(); len(ts) != 1 || ts[0].Name != "delete" {
		t.Errorf("named: %v", ts)
	}
}

// A server that offers client ID metadata documents and no registration endpoint: a CIMD client's registration
// is not reproducible and, with no stand-in registration possible, nothing after it is played (nor failed).
func TestCIMDOnlyServer(t *testing.T) {
	mux := http.NewServeMux()
	var base string
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+base+`/.well-known/oauth-protected-resource/mcp"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.HandleFunc("/.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"resource":%q,"authorization_servers":[%q]}`, base+"/mcp", base)
	})
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"authorization_endpoint":%q,"token_endpoint":%q,"code_challenge_methods_supported":["S256"],"response_types_supported":["code"],
			"token_endpoint_auth_methods_supported":["none"],"client_id_metadata_document_supported":true}`, base, base+"/authorize", base+"/token")
	})
	srv := testkit.Serve(t, mux)
	base = srv.URL
	rs := RunAll(context.Background(), []*clients.Profile{mustLookup(t, "claude"), mustLookup(t, "inspector")}, Options{URL: base + "/mcp", Auto: true}, nil)
	claude, inspector := rs[0], rs[1]
	if s := claude.Stage(stageRegistration); s.Status != NotReproducible || !strings.Contains(s.Detail, "no registration endpoint") {
		t.Errorf("claude registration: %s %q", s.Status, s.Detail)
	}
	if s := claude.Stage(stageAuthorize); s.Status != Skipped || claude.Failed() {
		t.Errorf("claude authorize: %s %q; %+v", s.Status, s.Detail, claude.Stages)
	}
	if s := inspector.Stage(stageRegistration); s.Status != Fail {
		t.Errorf("inspector registration: %s %q", s.Status, s.Detail)
	}
}

func mustLookup(t *testing.T, id string) *clients.Profile {
	t.Helper()
	p, ok := Lookup(id)
	if !ok {
		t.Fatal(id)
	}
	return p
}
