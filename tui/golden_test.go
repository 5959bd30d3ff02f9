package tui

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// fakeToggles is an in-memory Toggles.
type fakeToggles struct {
	list []ToggleInfo
	fail error
	sets []string
}

func newFakeToggles() *fakeToggles {
	return &fakeToggles{list: []ToggleInfo{
		{Name: "omit-session-id", Summary: "initialize is answered without Mcp-Session-Id"},
		{Name: "reject-discover", Summary: "server/discover is answered as an unknown method"},
		{Name: "omit-resource-metadata", Summary: "the 401 has no resource_metadata", Active: true},
		{Name: "slow", Summary: "every answer waits this long", TakesValue: true, ValueHint: "DURATION"},
		{Name: "fail", Summary: "answer a stage with a status", TakesValue: true, ValueHint: "STAGE:STATUS", Active: true, Value: "token:500"},
	}}
}

func (f *fakeToggles) List() []ToggleInfo { return append([]ToggleInfo(nil), f.list...) }

func (f *fakeToggles) Set(name, value string) error {
	if f.fail != nil {
		return f.fail
	}
	for i := range f.list {
		if f.list[i].Name == name {
			if f.list[i].TakesValue && value == "" {
				return errors.New(name + " needs a value")
			}
			f.list[i].Active, f.list[i].Value = true, value
			f.sets = append(f.sets, "set "+name+"="+value)
			return nil
		}
	}
	return fmt.Errorf("unknown toggle %q", name)
}

func (f *fakeToggles) Unset(name string) error {
	for i := range f.list {
		if f.list[i].Name == name {
			f.list[i].Active, f.list[i].Value = false, ""
			f.sets = append(f.sets, "unset "+name)
			return nil
		}
	}
	return fmt.Errorf("unknown toggle %q", name)
}

// The scripted analyses of the golden states.

func liveScript() *script {
	ms := time.Millisecond
	cursor := &analysis.Connection{ID: "cursor-1", Client: analysis.ClientCursor, ClientName: "Cursor 1.4.2",
		Era: "legacy", Start: t0.Add(2 * time.Second), Last: t0.Add(2200 * ms),
		Stages: []analysis.StageState{ss(analysis.StageChallenge, analysis.StatusOK, ms),
			ss(analysis.StageResourceMetadata, analysis.StatusPending, 0), ss(analysis.StageAuthMetadata, analysis.StatusPending, 0),
			ss(analysis.StageToken, analysis.StatusPending, 0), ss(analysis.StageInitialize, analysis.StatusPending, 0)}}
	claude := claudeConn(
		ss(analysis.StageChallenge, analysis.StatusOK, 2*ms), ss(analysis.StageResourceMetadata, analysis.StatusOK, ms),
		ss(analysis.StageAuthMetadata, analysis.StatusOK, ms), ss(analysis.StageRegister, analysis.StatusOK, 3*ms),
		ss(analysis.StageAuthorize, analysis.StatusOK, ms), ss(analysis.StageConsent, analysis.StatusOK, 2*ms),
		ss(analysis.StageToken, analysis.StatusOK, 4*ms), ss(analysis.StageInitialize, analysis.StatusPending, 0),
		ss(analysis.StageInitialized, analysis.StatusPending, 0), ss(analysis.StageList, analysis.StatusPending, 0),
		ss(analysis.StageCall, analysis.StatusPending, 0), ss(analysis.StageStream, analysis.StatusPending, 0))
	claude.Last = t0.Add(2900 * ms)
	return &script{stages: oauthStages, conns: []*analysis.Connection{claude, cursor},
		connOf: func(ex *recorder.Exchange) string {
			if ex.ID >= 100 {
				return "cursor-1"
			}
			return "claude-1"
		}}
}

// liveExchanges: Claude is past the token and waits for initialize's answer; Cursor has just been challenged.
func liveExchanges() []*recorder.Exchange {
	exs := handshake()[:8]
	exs[7] = mk(8, 2900*time.Millisecond, 0, "POST", "/mcp", initReq, 0, "", withReq("Authorization", "Bearer at_…"), withState(recorder.StatePending))
	cur := mk(100, 2000*time.Millisecond, time.Millisecond, "POST", "/mcp", initReq, 401, "",
		withResp("WWW-Authenticate", `Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"`))
	cur.ReqHeaders[1].Value = "Cursor/1.4.2"
	return append(exs, cur)
}

func failedScript() *script {
	ms := time.Millisecond
	c := claudeConn(
		ss(analysis.StageChallenge, analysis.StatusOK, 2*ms), ss(analysis.StageResourceMetadata, analysis.StatusOK, ms),
		ss(analysis.StageAuthMetadata, analysis.StatusOK, ms), ss(analysis.StageRegister, analysis.StatusOK, 3*ms),
		ss(analysis.StageAuthorize, analysis.StatusOK, ms), ss(analysis.StageConsent, analysis.StatusOK, 2*ms),
		ss(analysis.StageToken, analysis.StatusFailed, 4*ms), ss(analysis.StageInitialize, analysis.StatusPending, 0),
		ss(analysis.StageInitialized, analysis.StatusPending, 0), ss(analysis.StageList, analysis.StatusPending, 0),
		ss(analysis.StageCall, analysis.StatusPending, 0))
	c.Last = t0.Add(2604 * ms)
	fs := []analysis.Finding{
		{Rule: "token-invalid-client", Severity: analysis.SeverityError, ExchangeID: 7, Connection: "claude-1",
			Summary: "The token endpoint refused the client it registered a moment before (invalid_client).",
			Fix:     "Keep registered clients across restarts, or answer invalid_client only for unknown client ids.",
			Source:  "RFC 6749 §5.2", Toggle: "invalid-client-on-token"},
		{Rule: "register-no-client-secret-expiry", Severity: analysis.SeverityWarn, ExchangeID: 4, Connection: "claude-1",
			Summary: "The registration response has no client_id_issued_at.", Fix: "Add client_id_issued_at (RFC 7591 §3.2.1).",
			Source: "RFC 7591 §3.2.1"},
		{Rule: "claude-retries-register", Severity: analysis.SeverityInfo, Connection: "claude-1",
			Summary: "Claude registers again after a failed token request.", Source: "clients-and-peers.md"},
	}
	c.Findings = fs
	return &script{stages: oauthStages, conns: []*analysis.Connection{c}, findings: fs,
		connOf: func(*recorder.Exchange) string { return "claude-1" }}
}

func failedExchanges() []*recorder.Exchange {
	exs := handshake()[:7]
	exs[6] = mk(7, 2600*time.Millisecond, 4*time.Millisecond, "POST", "/token", tokenReq, 401, tokenErr,
		withFault("invalid-client-on-token", "response status and body", "200 {\"access_token\":\"at_…\"}", "401 {\"error\":\"invalid_client\"}"))
	return exs
}

func doneScript() *script {
	return &script{stages: oauthStages, conns: []*analysis.Connection{claudeConn(fullStages(analysis.StatusOK)...)},
		connOf: func(*recorder.Exchange) string { return "claude-1" }}
}

// longExchanges is the handshake with a long token (a JWT) and a tools/list with long descriptions.
func longExchanges() []*recorder.Exchange {
	exs := handshake()
	jwt := "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Im1jcHdhdGNoLTEifQ." +
		"eyJpc3MiOiJodHRwczovL21jcC5leGFtcGxlLmNvbSIsInN1YiI6InVzZXItNDIiLCJhdWQiOiJodHRwczovL21jcC5leGFtcGxlLmNvbS9tY3AiLCJleHAiOjE3ODUyMzM2MDAsInNjb3BlIjoibWNwIn0." +
		"c2lnbmF0dXJlLW9mLXRoZS10b2tlbi1pcy1sb25nLWFuZC1tZWFuaW5nbGVzcy10by1yZWFk"
	exs[6] = mk(7, 2600*time.Millisecond, 4*time.Millisecond, "POST", "/token", tokenReq, 200,
		`{"access_token":"`+jwt+`","token_type":"Bearer","expires_in":3600,"refresh_token":"rt_8f3a2c91d0b64e7fa5c3d2b1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1","scope":"mcp"}`)
	exs[9] = mk(10, 3050*time.Millisecond, 2*time.Millisecond, "POST", "/mcp", listReq, 200,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"search_people","title":"Best Person Looker-upper",`+
			`"description":"Searches the company directory for people by name, team, role or skill, and returns their profile with contact details, manager and current projects. Use it when the user asks who works on something.",`+
			`"inputSchema":{"type":"object","properties":{"query":{"type":"string","description":"Words to look for in names, teams, roles and skills"}},"required":["query"]}}]}}`,
		withReq("Authorization", "Bearer at_…"), withReq("Mcp-Session-Id", sessionID))
	return exs
}

// fixture loads a capture of recorder/analysis/testdata into the store and the model, as `mcpwatch open` does
// (the analysis is the real one).
func fixture(h *harness, name string) {
	h.t.Helper()
	res, err := recorder.LoadCapture(filepath.Join("..", "recorder", "analysis", "testdata", name+".jsonl"))
	if err != nil {
		h.t.Fatal(err)
	}
	for _, ex := range res.Exchanges {
		h.store.Add(ex)
	}
	h.send(resyncMsg{exchanges: h.store.Snapshot()})
}

// tunnelNote is server/tunnel's BufferingNote (what cmd passes).
const tunnelNote = "quick tunnels deliver a GET event stream only when it closes (cloudflare/cloudflared#1449): " +
	"server-to-client messages on the GET stream may not arrive live; POST responses stream normally"

func withTunnel(c *Config) {
	c.PublicURL = "https://sporting-follow-audit-href.trycloudflare.com"
	c.ConnectorURL = c.PublicURL + "/mcp"
	c.Auth = true
	c.TunnelNote = tunnelNote
}

// goldenCases are the states the views are pinned in, each at 80×24 and 160×48.
var goldenCases = []struct {
	name  string
	s     func() *script
	real  bool // the real analysis (recorder/analysis), not a script
	opts  []hopt
	setup func(h *harness)
}{
	{name: "empty", setup: func(h *harness) {}},
	{name: "live", s: liveScript, setup: func(h *harness) { h.feed(recorder.Completed, liveExchanges()...) }},
	{name: "failed", s: failedScript, setup: func(h *harness) { h.feed(recorder.Completed, failedExchanges()...) }},
	{name: "failed-detail-analysis", s: failedScript, setup: func(h *harness) {
		h.feed(recorder.Completed, failedExchanges()...)
		h.press("enter", "left") // the token exchange, Analysis tab
	}},
	{name: "findings", s: failedScript, setup: func(h *harness) {
		h.feed(recorder.Completed, failedExchanges()...)
		h.press("f")
	}},
	{name: "detail-request", s: doneScript, setup: func(h *harness) {
		h.feed(recorder.Completed, handshake()...)
		h.press("up", "up", "enter") // tools/list
	}},
	{name: "detail-response", s: doneScript, setup: func(h *harness) {
		h.feed(recorder.Completed, handshake()...)
		h.press("up", "up", "enter", "right")
	}},
	{name: "sse-streaming", s: doneScript, setup: func(h *harness) {
		exs := handshake()
		call := exs[10]
		streaming := *call
		streaming.State, streaming.Events, streaming.RPC = recorder.StateStreaming, call.Events[:1], call.RPC[:2]
		h.feed(recorder.Completed, exs[:10]...)
		h.feed(recorder.Changed, &streaming)
		h.press("enter", "right")
	}},
	{name: "filter-typing", s: doneScript, setup: func(h *harness) {
		h.feed(recorder.Completed, handshake()...)
		h.press("/")
		h.typeText("stage:init")
	}},
	{name: "filter-error", s: doneScript, setup: func(h *harness) {
		h.feed(recorder.Completed, handshake()...)
		h.press("/")
		h.typeText("stage:nope")
	}},
	{name: "filter-active", s: doneScript, setup: func(h *harness) {
		h.feed(recorder.Completed, handshake()...)
		h.press("/")
		h.typeText("status:2xx /mcp")
		h.press("enter")
	}},
	{name: "toggles", s: doneScript, opts: []hopt{func(c *Config) { c.Toggles = newFakeToggles() }}, setup: func(h *harness) {
		h.feed(recorder.Completed, handshake()...)
		h.run(h.press("t"))
		h.press("down", "down", "down", "enter") // slow asks for a value
		h.typeText("2s")
	}},
	{name: "toggles-none", s: doneScript, setup: func(h *harness) {
		h.feed(recorder.Completed, handshake()...)
		h.press("t")
	}},
	{name: "export", s: doneScript, setup: func(h *harness) {
		h.feed(recorder.Completed, handshake()...)
		h.press("e")
	}},
	{name: "help", s: doneScript, setup: func(h *harness) {
		h.feed(recorder.Completed, handshake()...)
		h.press("?")
	}},
	{name: "toggle-altered", s: failedScript, opts: []hopt{func(c *Config) { c.Toggles = newFakeToggles() }}, setup: func(h *harness) {
		h.run(h.m.Init())
		h.feed(recorder.Completed, failedExchanges()...)
		h.press("enter", "right", "right")
	}},
	{name: "detail-long-token", s: doneScript, setup: func(h *harness) {
		h.feed(recorder.Completed, longExchanges()...)
		h.press("up", "up", "up", "up", "enter", "right") // the token's response
	}},
	{name: "detail-long-tools-list", s: doneScript, setup: func(h *harness) {
		h.feed(recorder.Completed, longExchanges()...)
		h.press("up", "enter", "right", "j", "j", "j", "j", "j", "j", "j", "j") // tools/list's response, past the headers
	}},
	{name: "tunnel", s: liveScript, opts: []hopt{withTunnel}, setup: func(h *harness) {
		h.feed(recorder.Completed, liveExchanges()...)
	}},
	{name: "tunnel-help", s: liveScript, opts: []hopt{withTunnel}, setup: func(h *harness) {
		h.feed(recorder.Completed, liveExchanges()...)
		h.press("?")
	}},
	{name: "real-claude-web-legacy", real: true, setup: func(h *harness) { fixture(h, "claude-web-legacy") }},
	{name: "real-token-no-store", real: true, setup: func(h *harness) { fixture(h, "token-no-store") }},
	{name: "open-readonly", s: doneScript, opts: []hopt{func(c *Config) {
		c.ReadOnly, c.Source, c.SourceNote = true, "captures/claude.jsonl", "the torn last line was skipped"
	}}, setup: func(h *harness) { h.feed(recorder.Completed, handshake()...) }},
}

var goldenSizes = [][2]int{{80, 24}, {160, 48}}

// TestGoldenViews pins every pane and state at 80×24 and 160×48 as plain text (what NO_COLOR shows, less the
// text attributes), and checks that each view is exactly the screen's size.
func TestGoldenViews(t *testing.T) {
	for _, c := range goldenCases {
		for _, sz := range goldenSizes {
			name := fmt.Sprintf("%s-%dx%d", c.name, sz[0], sz[1])
			t.Run(name, func(t *testing.T) {
				var s *script
				switch {
				case c.real:
				case c.s != nil:
					s = c.s()
				default:
					s = &script{}
				}
				h := newHarness(t, sz[0], sz[1], s, c.opts...)
				c.setup(h)
				content := h.m.View().Content
				checkLayout(t, content, sz[0], sz[1])
				golden(t, name, ansi.Strip(content))
			})
		}
	}
}

var colourSGR = regexp.MustCompile(`\x1b\[[0-9;:]*m`)

// TestNoColor renders through the colour profile Bubble Tea picks under NO_COLOR (ASCII): no colour is left,
// the text is the plain golden's, and the attributes that carry meaning (reverse for the selection, bold) stay.
func TestNoColor(t *testing.T) {
	for _, c := range goldenCases {
		if c.name != "failed" && c.name != "detail-response" && c.name != "toggles" {
			continue
		}
		for _, sz := range goldenSizes {
			name := fmt.Sprintf("%s-%dx%d", c.name, sz[0], sz[1])
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, sz[0], sz[1], c.s(), c.opts...)
				c.setup(h)
				content := h.m.View().Content
				var buf bytes.Buffer
				w := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.ASCII}
				if _, err := w.WriteString(content); err != nil {
					t.Fatal(err)
				}
				out := buf.String()
				reverse := false
				for _, seq := range colourSGR.FindAllString(out, -1) {
					params := strings.Split(strings.TrimSuffix(strings.TrimPrefix(seq, "\x1b["), "m"), ";")
					for _, p := range params {
						switch {
						case p == "7":
							reverse = true
						case strings.HasPrefix(p, "38"), strings.HasPrefix(p, "48"), strings.HasPrefix(p, "58"),
							len(p) == 2 && (p[0] == '3' || p[0] == '4' || p[0] == '9') && p[1] != '9',
							len(p) == 3 && p[:2] == "10":
							t.Fatalf("a colour survived NO_COLOR: %q", seq)
						}
					}
				}
				if !reverse {
					t.Errorf("no reverse video under NO_COLOR: the selection would be invisible")
				}
				if got, want := ansi.Strip(out), ansi.Strip(content); got != want {
					t.Errorf("the NO_COLOR text differs from the coloured text")
				}
				checkLayout(t, out, sz[0], sz[1])
				if c.name == "failed" && sz[0] == 80 {
					// One golden keeps the attributes, escape sequences written out, to pin what NO_COLOR shows.
					golden(t, name+".nocolor", strings.ReplaceAll(out, "\x1b", "␛"))
				}
			})
		}
	}
}

// TestLayoutEverySize resizes through every size from 80×24 to 200×60 (and below, down to the smallest the
// layout is made for) in several states: every line is exactly the width, and there are exactly the lines.
func TestLayoutEverySize(t *testing.T) {
	states := []string{"live", "failed-detail-analysis", "toggles", "help", "filter-typing", "sse-streaming", "export"}
	for _, c := range goldenCases {
		if !containsStr(states, c.name) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, 80, 24, c.s(), c.opts...)
			c.setup(h)
			for w := 30; w <= 200; w += 7 {
				for ht := 6; ht <= 60; ht += 5 {
					h.send(teaSize(w, ht))
					checkLayout(t, h.m.View().Content, w, ht)
					if t.Failed() {
						t.Fatalf("at %d×%d", w, ht)
					}
				}
			}
		})
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The first screen, live and read-only, shows everything whole at the usual terminal sizes: nothing ends in "…"
// (the empty list's hint used to be cut at 120 columns, and the loopback warning must fit).
func TestFirstScreenNotCut(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {120, 40}, {160, 48}} {
		for _, ro := range []bool{false, true} {
			h := newHarness(t, sz[0], sz[1], nil, func(c *Config) {
				c.ReadOnly = ro
				if ro {
					c.Source = "captures/claude.jsonl"
				}
			})
			checkFirstScreen(t, h, sz, ro)
			if warn := strings.Contains(ansi.Strip(h.m.View().Content), "restart with --tunnel"); warn == ro {
				t.Errorf("%dx%d read-only %v: the loopback warning shown %v", sz[0], sz[1], ro, warn)
			}
		}
		// The header of a real run: `mcpwatch serve --consent-code --allow-loopback-cimd` from a source checkout
		// (the version as internal/version says it), T able to start a tunnel; and `mcpwatch proxy` watching an
		// upstream and its external authorization server.
		for _, mode := range []func(c *Config){
			func(c *Config) {
				c.Auth, c.ConsentCode, c.AuthNote = true, "7KQ4-M2XD", "loopback CIMD allowed (--allow-loopback-cimd)"
				c.StartTunnel = func() (TunnelStarted, error) { return TunnelStarted{}, nil }
			},
			func(c *Config) {
				c.Upstream = "http://127.0.0.1:8931/mcp (authorization server http://127.0.0.1:9000)"
			},
		} {
			h := newHarness(t, sz[0], sz[1], nil, func(c *Config) {
				c.Version = "dev-da4f150-20261206T025433Z-dirty"
				c.ListenURL, c.ConnectorURL = "http://127.0.0.1:47555", "http://127.0.0.1:47555/mcp"
				mode(c)
			})
			checkFirstScreen(t, h, sz, false)
		}
	}
}

// checkFirstScreen fails when a line of the first screen is cut, or it lacks the URLs, the public state or q quit.
func checkFirstScreen(t *testing.T, h *harness, sz [2]int, ro bool) {
	t.Helper()
	content := ansi.Strip(h.m.View().Content)
	wants := []string{"q quit", "? help"}
	if !ro {
		wants = append(wants, "public none", h.m.cfg.ConnectorURL, h.m.cfg.ListenURL)
		if h.m.cfg.ConsentCode != "" {
			wants = append(wants, h.m.cfg.ConsentCode)
		}
	}
	for _, want := range wants {
		if !strings.Contains(content, want) {
			t.Errorf("%dx%d read-only %v: %q not shown:\n%s", sz[0], sz[1], ro, want, content)
		}
	}
	for _, l := range strings.Split(content, "\n") {
		if strings.Contains(strings.ReplaceAll(l, "waiting for requests…", ""), "…") {
			t.Errorf("%dx%d read-only %v: cut line %q", sz[0], sz[1], ro, l)
		}
	}
}

// The help explains each counter; in a saved capture it lists only keys that work there (no t, no u).
func TestHelpCountersAndReadOnlyKeys(t *testing.T) {
	for _, ro := range []bool{false, true} {
		h := newHarness(t, 160, 48, nil, func(c *Config) { c.ReadOnly, c.Source = ro, "x.jsonl" })
		text := strings.Join(h.m.helpContent(160), "\n")
		text = strings.Join(strings.Fields(ansi.Strip(text)), " ")
		for _, want := range []string{"exchanges:", "older let go", "findings:", "dropped: screen updates"} {
			if !strings.Contains(text, want) {
				t.Errorf("read-only %v: the help does not explain %q:\n%s", ro, want, text)
			}
		}
		for _, k := range []string{"t toggles", "u copy connector URL"} {
			if strings.Contains(text, k) == ro {
				t.Errorf("read-only %v: %q listed: %v:\n%s", ro, k, !ro, text)
			}
		}
	}
}

// T starts a tunnel from the TUI when the run can (StartTunnel set): the loopback line offers it, and once the
// tunnel is up the header shows its public and connector URLs and the tunnel's note; a failure is said in the
// status line, the loopback line staying.
func TestTunnelKey(t *testing.T) {
	gone := make(chan string)
	calls := 0
	up := func() (TunnelStarted, error) {
		calls++
		return TunnelStarted{PublicURL: "https://abc.trycloudflare.com", ConnectorURL: "https://abc.trycloudflare.com/mcp",
			Note: "quick tunnels deliver a GET event stream only when it closes", Gone: gone}, nil
	}
	h := newHarness(t, 120, 40, nil, func(c *Config) { c.StartTunnel = up })
	if s := h.screen(); !strings.Contains(s, "press T for a tunnel") {
		t.Fatalf("the loopback line does not offer T:\n%s", s)
	}
	h.run(h.press("T"))
	s := h.screen()
	for _, want := range []string{"public https://abc.trycloudflare", "connector URL https://abc.trycloudflare.com/mcp",
		"! quick tunnel", "tunnel up: paste https://abc.trycloudflare.com/mcp"} {
		if !strings.Contains(s, want) {
			t.Errorf("after T: %q missing:\n%s", want, s)
		}
	}
	if strings.Contains(s, "loopback only") || calls != 1 {
		t.Errorf("after T: loopback line still there, or %d starts:\n%s", calls, s)
	}
	h.run(h.press("T")) // a second T starts nothing
	if calls != 1 {
		t.Errorf("a second T started %d tunnels", calls)
	}

	h = newHarness(t, 80, 24, nil, func(c *Config) {
		c.StartTunnel = func() (TunnelStarted, error) {
			return TunnelStarted{}, errors.New("cloudflared is not on PATH\n--tunnel runs Cloudflare's cloudflared")
		}
	})
	h.run(h.press("T"))
	if s := h.screen(); !strings.Contains(s, "no tunnel: cloudflared is not on PATH") || !strings.Contains(s, "press T for a tunnel") {
		t.Errorf("a failed start:\n%s", s)
	}
	// Without StartTunnel (a run that cannot start one) the line names the flag.
	h = newHarness(t, 120, 40, nil)
	if s := h.screen(); !strings.Contains(s, "restart with --tunnel") || strings.Contains(s, "press T") {
		t.Errorf("without StartTunnel:\n%s", s)
	}
}
