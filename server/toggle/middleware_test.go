package toggle

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// backend is a deterministic stand-in for a server (the embedded one or an upstream): it answers the requests of a
// handshake with fixed bytes, so that a test can compare the wire with and without a toggle byte for byte.
func backend() http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="https://pub.example/.well-known/oauth-protected-resource/mcp", scope="mcp"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, ": stream open\n\n")
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		json.Unmarshal(body, &req)
		switch req.Method {
		case "initialize":
			w.Header().Set("Mcp-Session-Id", "sess-1")
			writeJSON(w, 200, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":true},"prompts":{}},"serverInfo":{"name":"b","version":"1"}}}`)
		case "server/discover":
			writeJSON(w, 200, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"result":{"supportedVersions":["2026-07-28","2025-11-25"],"capabilities":{"tools":{}}}}`)
		case "tools/list":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			io.WriteString(w, "event: message\nid: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"x\"}}\n\n")
			w.(http.Flusher).Flush()
			io.WriteString(w, "event: message\nid: e2\ndata: {\"jsonrpc\":\"2.0\",\"id\":"+string(req.ID)+",\"result\":{\"tools\":[]}}\n\n")
		case "notifications/initialized":
			w.WriteHeader(http.StatusAccepted)
		default:
			writeJSON(w, 200, `{"jsonrpc":"2.0","id":`+string(req.ID)+`,"result":{}}`)
		}
	})
	mux.HandleFunc("/.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"resource":"https://pub.example/mcp","authorization_servers":["https://pub.example"],"scopes_supported":["mcp"]}`)
	})
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"issuer":"https://pub.example","authorization_endpoint":"https://pub.example/authorize","token_endpoint":"https://pub.example/token","registration_endpoint":"https://pub.example/oauth/register","code_challenge_methods_supported":["S256"],"client_id_metadata_document_supported":true}`)
	})
	mux.HandleFunc("/oauth/register", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 201, `{"client_id":"c1","redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}`)
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://claude.ai/api/mcp/auth_callback?code=abc&state="+r.URL.Query().Get("state"), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, 200, `{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt"}`)
	})
	return mux
}

type wire struct {
	status  int
	header  http.Header
	body    string
	toggles []recorder.ToggleChange
}

// do sends one request through recorder → toggles → backend, with the given toggles on.
func do(t *testing.T, toggles []string, method, path, body string, hdr ...string) wire {
	t.Helper()
	set := NewSet(ModeServe)
	for _, tg := range toggles {
		if err := set.Set(tg); err != nil {
			t.Fatalf("Set(%q): %v", tg, err)
		}
	}
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{})
	h := rec.Middleware(Middleware(set, Options{})(backend()))
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	res := rr.Result()
	b, _ := io.ReadAll(res.Body)
	exs := store.Snapshot()
	if len(exs) != 1 {
		t.Fatalf("recorded %d exchanges, want 1", len(exs))
	}
	if got := string(exs[0].RespBody.Data); got != string(b) {
		t.Errorf("recorded body %q differs from the wire %q", got, b)
	}
	if exs[0].Status != res.StatusCode {
		t.Errorf("recorded status %d, wire %d", exs[0].Status, res.StatusCode)
	}
	h2 := res.Header.Clone()
	h2.Del("Date")
	return wire{status: res.StatusCode, header: h2, body: string(b), toggles: exs[0].Toggles}
}

const auth = "Authorization"

func TestTogglesChangeExactlyWhatTheySay(t *testing.T) {
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	discover := `{"jsonrpc":"2.0","id":"d","method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	list := `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`
	tokenForm := "grant_type=authorization_code&code=abc&code_verifier=v&client_id=c1&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback"
	tokenJSON := `{"grant_type":"authorization_code","code":"abc","code_verifier":"v","client_id":"c1","redirect_uri":"https://claude.ai/api/mcp/auth_callback"}`

	type diff func(t *testing.T, before, after wire)
	sameExcept := func(headers ...string) func(t *testing.T, before, after wire) {
		return func(t *testing.T, before, after wire) {
			t.Helper()
			b, a := before.header.Clone(), after.header.Clone()
			for _, h := range headers {
				b.Del(h)
				a.Del(h)
			}
			if !equalHeaders(a, b) {
				t.Errorf("headers changed beyond %v:\nbefore %v\nafter  %v", headers, before.header, after.header)
			}
		}
	}
	cases := []struct {
		toggle      string
		method      string
		path        string
		body        string
		hdr         []string
		check       diff
		wantRecords int
	}{
		{"omit-session-id", "POST", "/mcp", init, []string{auth, "Bearer x"}, func(t *testing.T, b, a wire) {
			if b.header.Get("Mcp-Session-Id") != "sess-1" || a.header.Get("Mcp-Session-Id") != "" {
				t.Errorf("session id before %q after %q", b.header.Get("Mcp-Session-Id"), a.header.Get("Mcp-Session-Id"))
			}
			sameExcept("Mcp-Session-Id")(t, b, a)
			sameBody(t, b, a)
		}, 1},
		{"reject-discover", "POST", "/mcp", discover, []string{auth, "Bearer x"}, func(t *testing.T, b, a wire) {
			if a.status != 200 || !strings.Contains(a.body, `"code":-32601`) || !strings.Contains(a.body, `"id":"d"`) {
				t.Errorf("reject-discover answered %d %s", a.status, a.body)
			}
		}, 1},
		{"protocol-version=2024-11-05", "POST", "/mcp", init, []string{auth, "Bearer x"}, func(t *testing.T, b, a wire) {
			want := strings.Replace(b.body, `"protocolVersion":"2025-11-25"`, `"protocolVersion":"2024-11-05"`, 1)
			if a.body != want {
				t.Errorf("body\n got %s\nwant %s", a.body, want)
			}
			sameExcept("Content-Length")(t, b, a)
		}, 1},
		{"protocol-version=2025-06-18", "POST", "/mcp", discover, []string{auth, "Bearer x"}, func(t *testing.T, b, a wire) {
			want := strings.Replace(b.body, `"supportedVersions":["2026-07-28","2025-11-25"]`, `"supportedVersions":["2025-06-18"]`, 1)
			if a.body != want {
				t.Errorf("body\n got %s\nwant %s", a.body, want)
			}
		}, 1},
		{"drop-tools-capability", "POST", "/mcp", init, []string{auth, "Bearer x"}, func(t *testing.T, b, a wire) {
			want := strings.Replace(b.body, `"tools":{"listChanged":true},`, ``, 1)
			if a.body != want {
				t.Errorf("body\n got %s\nwant %s", a.body, want)
			}
		}, 1},
		{"wrong-jsonrpc-id", "POST", "/mcp", init, []string{auth, "Bearer x"}, func(t *testing.T, b, a wire) {
			want := strings.Replace(b.body, `"id":1,`, `"id":1001,`, 1)
			if a.body != want {
				t.Errorf("body\n got %s\nwant %s", a.body, want)
			}
		}, 1},
		{"wrong-jsonrpc-id", "POST", "/mcp", list, []string{auth, "Bearer x"}, func(t *testing.T, b, a wire) {
			want := strings.Replace(b.body, `"id":7,`, `"id":1007,`, 1)
			if a.body != want {
				t.Errorf("SSE body\n got %q\nwant %q", a.body, want)
			}
			if a.header.Get("Content-Type") != "text/event-stream" {
				t.Errorf("content type %q", a.header.Get("Content-Type"))
			}
		}, 1},
		{"sse-responses", "POST", "/mcp", init, []string{auth, "Bearer x"}, func(t *testing.T, b, a wire) {
			if a.header.Get("Content-Type") != "text/event-stream" || a.body != "event: message\ndata: "+b.body+"\n\n" {
				t.Errorf("got %q %q", a.header.Get("Content-Type"), a.body)
			}
			if a.header.Get("Mcp-Session-Id") != "sess-1" {
				t.Errorf("session id lost")
			}
		}, 1},
		{"json-responses", "POST", "/mcp", list, []string{auth, "Bearer x"}, func(t *testing.T, b, a wire) {
			if a.header.Get("Content-Type") != "application/json" || a.body != `{"jsonrpc":"2.0","id":7,"result":{"tools":[]}}` {
				t.Errorf("got %q %q", a.header.Get("Content-Type"), a.body)
			}
		}, 1},
		{"get-stream-405", "GET", "/mcp", "", []string{auth, "Bearer x"}, func(t *testing.T, b, a wire) {
			if b.status != 200 || a.status != 405 || a.header.Get("Allow") != "POST" {
				t.Errorf("before %d after %d Allow %q", b.status, a.status, a.header.Get("Allow"))
			}
		}, 1},
		{"fail=initialize:503", "POST", "/mcp", init, []string{auth, "Bearer x"}, func(t *testing.T, b, a wire) {
			if a.status != 503 {
				t.Errorf("status %d", a.status)
			}
		}, 1},
		{"fail=challenge:500", "POST", "/mcp", init, nil, func(t *testing.T, b, a wire) {
			if b.status != 401 || a.status != 500 {
				t.Errorf("before %d after %d", b.status, a.status)
			}
			sameBody(t, b, a)
		}, 1},
		{"omit-resource-metadata", "POST", "/mcp", init, nil, func(t *testing.T, b, a wire) {
			if got := a.header.Get("WWW-Authenticate"); got != `Bearer scope="mcp"` {
				t.Errorf("challenge %q", got)
			}
			sameExcept("WWW-Authenticate")(t, b, a)
			sameBody(t, b, a)
		}, 1},
		{"relative-resource-metadata", "POST", "/mcp", init, nil, func(t *testing.T, b, a wire) {
			if got := a.header.Get("WWW-Authenticate"); got != `Bearer resource_metadata="/.well-known/oauth-protected-resource/mcp", scope="mcp"` {
				t.Errorf("challenge %q", got)
			}
		}, 1},
		{"scope-challenge=read write", "POST", "/mcp", init, nil, func(t *testing.T, b, a wire) {
			if got := a.header.Get("WWW-Authenticate"); got != `Bearer resource_metadata="https://pub.example/.well-known/oauth-protected-resource/mcp", scope="read write"` {
				t.Errorf("challenge %q", got)
			}
		}, 1},
		{"no-resource-metadata", "GET", "/.well-known/oauth-protected-resource/mcp", "", nil, func(t *testing.T, b, a wire) {
			if b.status != 200 || a.status != 404 {
				t.Errorf("before %d after %d", b.status, a.status)
			}
		}, 1},
		{"resource-mismatch", "GET", "/.well-known/oauth-protected-resource/mcp", "", nil, func(t *testing.T, b, a wire) {
			want := strings.Replace(b.body, `"resource":"https://pub.example/mcp"`, `"resource":"https://pub.example/mcp-not-mcp"`, 1)
			if a.body != want {
				t.Errorf("body\n got %s\nwant %s", a.body, want)
			}
		}, 1},
		{"no-auth-metadata", "GET", "/.well-known/oauth-authorization-server", "", nil, func(t *testing.T, b, a wire) {
			if b.status != 200 || a.status != 404 {
				t.Errorf("before %d after %d", b.status, a.status)
			}
		}, 1},
		{"no-registration", "GET", "/.well-known/oauth-authorization-server", "", nil, func(t *testing.T, b, a wire) {
			// No registration path at all: no DCR endpoint and no client ID metadata documents.
			want := strings.Replace(b.body, `"registration_endpoint":"https://pub.example/oauth/register",`, ``, 1)
			want = strings.Replace(want, `"client_id_metadata_document_supported":true`, `"client_id_metadata_document_supported":false`, 1)
			if a.body != want {
				t.Errorf("body\n got %s\nwant %s", a.body, want)
			}
		}, 2},
		{"no-cimd", "GET", "/.well-known/oauth-authorization-server", "", nil, func(t *testing.T, b, a wire) {
			want := strings.Replace(b.body, `"client_id_metadata_document_supported":true`, `"client_id_metadata_document_supported":false`, 1)
			if a.body != want {
				t.Errorf("body\n got %s\nwant %s", a.body, want)
			}
		}, 1},
		{"no-cimd", "GET", "/authorize?client_id=https%3A%2F%2Fclaude.ai%2Foauth%2Fmcp-oauth-client-metadata&response_type=code&state=s", "", nil, func(t *testing.T, b, a wire) {
			if b.status != 302 || a.status != 400 {
				t.Errorf("before %d after %d", b.status, a.status)
			}
		}, 1},
		{"no-registration", "GET", "/authorize?client_id=https%3A%2F%2Fclaude.ai%2Foauth%2Fmcp-oauth-client-metadata&response_type=code&state=s", "", nil, func(t *testing.T, b, a wire) {
			if b.status != 302 || a.status != 400 {
				t.Errorf("before %d after %d", b.status, a.status)
			}
		}, 1},
		{"token-error=invalid_grant", "POST", "/token", tokenJSON, nil, func(t *testing.T, b, a wire) {
			if a.status != 400 || !strings.Contains(a.body, `"error":"invalid_grant"`) || a.header.Get("Cache-Control") != "no-store" {
				t.Errorf("got %d %s %v", a.status, a.body, a.header)
			}
		}, 1},
		{"invalid-client-on-token", "POST", "/token", tokenJSON, nil, func(t *testing.T, b, a wire) {
			if a.status != 401 || !strings.Contains(a.body, `"error":"invalid_client"`) {
				t.Errorf("got %d %s", a.status, a.body)
			}
		}, 1},
		{"no-refresh-token", "POST", "/token", tokenJSON, nil, func(t *testing.T, b, a wire) {
			if a.body != `{"access_token":"at","token_type":"Bearer","expires_in":3600}` {
				t.Errorf("body %s", a.body)
			}
		}, 1},
	}
	for _, c := range cases {
		t.Run(c.toggle+" "+c.method+" "+c.path, func(t *testing.T) {
			before := do(t, nil, c.method, c.path, c.body, c.hdr...)
			after := do(t, []string{c.toggle}, c.method, c.path, c.body, c.hdr...)
			if len(before.toggles) != 0 {
				t.Errorf("no toggle, yet changes recorded: %+v", before.toggles)
			}
			c.check(t, before, after)
			name, _, _ := strings.Cut(c.toggle, "=")
			n := 0
			for _, f := range after.toggles {
				if f.Name != name {
					t.Errorf("fault %q recorded by toggle %q", f.Name, name)
				}
				n++
			}
			if n != c.wantRecords {
				t.Errorf("recorded %d changes, want %d: %+v", n, c.wantRecords, after.toggles)
			}
		})
	}
	// A form-encoded token request is recognised too.
	if w := do(t, []string{"token-error=invalid_request"}, "POST", "/token", tokenForm, "Content-Type", "application/x-www-form-urlencoded"); w.status != 400 {
		t.Errorf("form token request: %d %s", w.status, w.body)
	}
}

func sameBody(t *testing.T, b, a wire) {
	t.Helper()
	if a.body != b.body {
		t.Errorf("body changed:\nbefore %q\nafter  %q", b.body, a.body)
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestSlowDelaysAndRecords(t *testing.T) {
	start := time.Now()
	w := do(t, []string{"slow=80ms"}, "POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, auth, "Bearer x")
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Errorf("answered after %v, want ≥ 80ms", el)
	}
	if w.status != 200 || len(w.toggles) != 1 || w.toggles[0].Name != "slow" {
		t.Errorf("got %d %+v", w.status, w.toggles)
	}
}

func TestParseSpecErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"nope":                     "unknown toggle \"nope\"; valid toggles: omit-session-id",
		"slow":                     "needs a value: slow=DURATION",
		"slow=fast":                "DURATION must be positive",
		"omit-session-id=1":        "takes no value",
		"fail=token":               "want STAGE:STATUS",
		"fail=tokn:500":            "unknown stage \"tokn\"",
		"fail=token:200":           "STATUS must be an HTTP error status",
		"token-error=bad":          "CODE must be one of",
		"protocol-version=latest":  "VERSION must be a protocol revision",
		"redirect-allow=https://x": "HOSTS are host names",
	} {
		_, _, _, err := ParseSpec(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSpec(%q) = %v, want an error containing %q", spec, err, want)
		}
	}
	proxy := NewSet(ModeProxy)
	if err := proxy.Set("tools-changed"); err == nil || !strings.Contains(err.Error(), "applies to serve only") {
		t.Errorf("serve-only toggle in proxy mode: %v", err)
	}
}

func TestSetLiveChanges(t *testing.T) {
	s := NewSet(ModeServe)
	var seen [][]Active
	s.OnChange(func(a []Active) { seen = append(seen, a) })
	must(t, s.Set("slow=1s"))
	must(t, s.Set("omit-session-id"))
	must(t, s.Set("slow=2s"))
	must(t, s.Unset("slow"))
	must(t, s.Unset("slow")) // already off: no error, no event
	if len(seen) != 4 {
		t.Fatalf("%d change events, want 4", len(seen))
	}
	got := s.List()
	if len(got) != 1 || got[0].Spec() != "omit-session-id" {
		t.Errorf("List = %+v", got)
	}
	if err := s.Unset("nope"); err == nil {
		t.Error("Unset(unknown) succeeded")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNoToggleIsTransparent(t *testing.T) {
	// With the set empty the middleware must not touch the body reader (streaming request bodies).
	set := NewSet(ModeServe)
	var got []byte
	h := Middleware(set, Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	body := bytes.Repeat([]byte("x"), 5<<20)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/mcp", bytes.NewReader(body)))
	if !bytes.Equal(got, body) {
		t.Errorf("body changed: %d bytes, want %d", len(got), len(body))
	}
}

func TestScenariosAreValid(t *testing.T) {
	for _, sc := range Scenarios() {
		set := NewSet(ModeServe)
		for _, spec := range sc.Toggles {
			if err := set.Set(spec); err != nil {
				t.Errorf("scenario %s: %v", sc.Name, err)
			}
		}
		if sc.Story == "" || sc.Expect == "" || sc.Source == "" || sc.Title == "" {
			t.Errorf("scenario %s lacks a title, story, expectation or source", sc.Name)
		}
	}
	if _, err := LookupScenario("nope"); err == nil || !strings.Contains(err.Error(), "no-session-id") {
		t.Errorf("LookupScenario(nope) = %v", err)
	}
	// Callers get copies: changing one changes no scenario.
	Scenarios()[0].Toggles[0] = "changed"
	if sc, _ := LookupScenario(Scenarios()[0].Name); sc.Toggles[0] == "changed" {
		t.Error("a caller changed a scenario through Scenarios")
	}
	sc, _ := LookupScenario("expired")
	sc.Toggles[0] = "changed"
	if again, _ := LookupScenario("expired"); again.Toggles[0] == "changed" {
		t.Error("a caller changed a scenario through LookupScenario")
	}
}

// The registry holds every toggle declared in catalogue.go, in declaration order, and hands out copies.
func TestRegistry(t *testing.T) {
	src, err := os.ReadFile("catalogue.go")
	if err != nil {
		t.Fatal(err)
	}
	var declared, got []string
	for _, m := range regexp.MustCompile(`(?m)^\t\w+ += toggle\(Def\{Name: "([a-z0-9-]+)"`).FindAllStringSubmatch(string(src), -1) {
		declared = append(declared, m[1])
	}
	ds := Toggles()
	for _, d := range ds {
		got = append(got, d.Name)
	}
	// A toggle whose parser reads a variable declared below the toggles is initialized after them: out of order.
	if len(declared) < 27 || !slices.Equal(got, declared) {
		t.Fatalf("registry order:\n got %v\nwant %v (the order of catalogue.go)", got, declared)
	}
	for _, d := range ds {
		tg, ok := ByName(d.Name)
		if !ok || tg.Name() != d.Name {
			t.Errorf("ByName(%q) = %v, %v", d.Name, tg.Name(), ok)
		}
	}
	ds[0].Modes[0], ds[1].Name = "changed", "changed"
	if d, _ := Lookup(OmitSessionID.Name()); d.Modes[0] == "changed" || Toggles()[1].Name == "changed" {
		t.Error("a caller changed the registry through a copy")
	}
	if _, ok := ByName("no-such-toggle"); ok {
		t.Error("ByName found a toggle that does not exist")
	}
}

func TestCatalogueIsComplete(t *testing.T) {
	for _, d := range Toggles() {
		if d.Changes == "" || d.Reveals == "" || d.Source == "" || len(d.Modes) == 0 {
			t.Errorf("%s: every toggle says what it changes, what it reveals, its source and where it applies", d.Name)
		}
		if (d.Arg == "") != (d.parse == nil) {
			t.Errorf("%s: a toggle with a value needs a parser, and only then", d.Name)
		}
	}
}

// A JSON edit changes the member it names and keeps every other byte: order, spacing, the trailing newline.
func TestEditPathKeepsEveryOtherByte(t *testing.T) {
	doc := "{\n  \"a\": 1,\n  \"b\": {\"c\": [1, 2], \"d\": \"x\"},\n  \"e\": true\n}\n"
	cases := []struct {
		path []string
		fn   editFunc
		want string
	}{
		{[]string{"a"}, setTo(2), "{\n  \"a\": 2,\n  \"b\": {\"c\": [1, 2], \"d\": \"x\"},\n  \"e\": true\n}\n"},
		{[]string{"a"}, remove, "{\n  \"b\": {\"c\": [1, 2], \"d\": \"x\"},\n  \"e\": true\n}\n"},
		{[]string{"b", "d"}, remove, "{\n  \"a\": 1,\n  \"b\": {\"c\": [1, 2]},\n  \"e\": true\n}\n"},
		{[]string{"b", "c"}, remove, "{\n  \"a\": 1,\n  \"b\": {\"d\": \"x\"},\n  \"e\": true\n}\n"},
		{[]string{"e"}, remove, "{\n  \"a\": 1,\n  \"b\": {\"c\": [1, 2], \"d\": \"x\"}\n}\n"},
		{[]string{"b", "f"}, setTo("new"), "{\n  \"a\": 1,\n  \"b\": {\"c\": [1, 2], \"d\": \"x\",\"f\":\"new\"},\n  \"e\": true\n}\n"},
		{[]string{"z"}, remove, doc},
	}
	for _, c := range cases {
		out, _ := editPath([]byte(doc), c.path, c.fn)
		if string(out) != c.want {
			t.Errorf("%v:\n got %q\nwant %q", c.path, out, c.want)
		}
	}
	if out, changed := editPath([]byte(`{"k":{"only":1}}`), []string{"k", "only"}, remove); !changed || string(out) != `{"k":{}}` {
		t.Errorf("removing the only member: %s", out)
	}
	if out, _ := editPath([]byte(`{ }`), []string{"k"}, setTo(1)); string(out) != `{ "k":1}` {
		t.Errorf("adding to an empty object: %s", out)
	}
}

// An upstream's event stream framed with a Content-Length (a server that answered before it flushed anything:
// net/http then counts the body) and edited by a toggle goes out without it: the edited events are longer, and
// the client read a body cut at the upstream's length (unexpected EOF).
func TestEditedStreamDropsContentLength(t *testing.T) {
	set := NewSet(ModeProxy)
	must(t, set.Set("wrong-jsonrpc-id"))
	const stream = "event: message\nid: e1\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"
	ts := httptest.NewServer(Middleware(set, Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Length", strconv.Itoa(len(stream)))
		io.WriteString(w, stream)
	})))
	defer ts.Close()
	resp, err := ts.Client().Post(ts.URL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if want := strings.Replace(stream, `"id":1,`, `"id":1001,`, 1); err != nil || string(b) != want {
		t.Errorf("read %q (%v), want %q", b, err, want)
	}
}
