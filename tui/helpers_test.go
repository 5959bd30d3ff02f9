package tui

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// t0 is the fixtures' clock.
var t0 = time.Date(2026, 7, 28, 10, 0, 0, 0, time.UTC)

// ---- a scripted analysis ----

// script is a scripted analysis: the stages, clients and connections the test says, and a report built from
// what was observed, so that the views do not depend on the real analysis (which has its own tests).
type script struct {
	stages   map[string]analysis.Stage // "METHOD path" or a JSON-RPC method → stage
	conns    []*analysis.Connection    // the report's connections (their stage statuses are the test's)
	connOf   func(ex *recorder.Exchange) string
	findings []analysis.Finding
}

type scriptedAnalyzer struct {
	s   *script
	exs map[uint64]*recorder.Exchange
}

func (s *script) analyzer(analysis.Options) analyzer {
	return &scriptedAnalyzer{s: s, exs: map[uint64]*recorder.Exchange{}}
}

func (a *scriptedAnalyzer) Observe(ex *recorder.Exchange) { a.exs[ex.ID] = ex }

// Forget forgets what the data let go, as the real analyzer does.
func (a *scriptedAnalyzer) Forget(below uint64) {
	maps.DeleteFunc(a.exs, func(id uint64, _ *recorder.Exchange) bool { return id < below })
}

func (a *scriptedAnalyzer) Info(id uint64) analysis.Info {
	ex := a.exs[id]
	if ex == nil {
		return analysis.Info{}
	}
	info := analysis.Info{Stage: analysis.StageOf(ex, "/mcp"), Client: analysis.ClientUnknown}
	if st, ok := a.s.stages[ex.Method+" "+ex.Path()]; ok {
		info.Stage = st
	}
	if st, ok := a.s.stages[ex.RPCMethod()]; ok && ex.RPCMethod() != "" {
		info.Stage = st
	}
	if a.s.connOf != nil {
		info.Connection = a.s.connOf(ex)
	}
	for _, c := range a.s.conns {
		if c.ID == info.Connection {
			info.Client = c.Client
		}
	}
	for _, f := range a.s.findings {
		if f.ExchangeID == id {
			info.Findings = append(info.Findings, f)
		}
	}
	return info
}

func (a *scriptedAnalyzer) Report() *analysis.Report {
	r := &analysis.Report{}
	for _, c := range a.s.conns {
		cc := *c
		cc.Exchanges = nil
		for id, ex := range a.exs {
			if a.s.connOf != nil && a.s.connOf(ex) == c.ID {
				cc.Exchanges = append(cc.Exchanges, id)
			}
		}
		if len(cc.Exchanges) > 0 {
			r.Connections = append(r.Connections, &cc)
		}
	}
	for _, f := range a.s.findings {
		if f.ExchangeID == 0 || a.exs[f.ExchangeID] != nil {
			r.Findings = append(r.Findings, f)
		}
	}
	return r
}

// oauthStages names the OAuth paths (the placeholder analysis only knows the MCP ones).
var oauthStages = map[string]analysis.Stage{
	"POST /register":  analysis.StageRegister,
	"GET /authorize":  analysis.StageAuthorize,
	"POST /authorize": analysis.StageConsent,
	"POST /token":     analysis.StageToken,
}

// ---- exchanges ----

func body(s string) recorder.Body { return recorder.Body{Data: []byte(s), Size: int64(len(s))} }

type exOpt func(*recorder.Exchange)

func withReq(hs ...string) exOpt {
	return func(ex *recorder.Exchange) {
		for i := 0; i+1 < len(hs); i += 2 {
			ex.ReqHeaders = append(ex.ReqHeaders, recorder.Header{Name: hs[i], Value: hs[i+1]})
		}
	}
}

func withResp(hs ...string) exOpt {
	return func(ex *recorder.Exchange) {
		for i := 0; i+1 < len(hs); i += 2 {
			ex.RespHeaders = append(ex.RespHeaders, recorder.Header{Name: hs[i], Value: hs[i+1]})
		}
	}
}

func withState(state string) exOpt { return func(ex *recorder.Exchange) { ex.State = state } }

func withFault(name, what, before, after string) exOpt {
	return func(ex *recorder.Exchange) {
		ex.Toggles = append(ex.Toggles, recorder.ToggleChange{Name: name, What: what, Before: before, After: after})
	}
}

func withEvents(evs ...string) exOpt {
	return func(ex *recorder.Exchange) {
		var raw strings.Builder
		for i, d := range evs {
			ex.Events = append(ex.Events, recorder.SSEEvent{At: time.Duration(i+1) * 40 * time.Millisecond, ID: fmt.Sprint(i + 1), Event: "message", Data: d})
			ex.RPC = append(ex.RPC, recorder.ParseRPC([]byte(d), recorder.FromServer, i)...)
			fmt.Fprintf(&raw, "event: message\nid: %d\ndata: %s\n\n", i+1, d)
		}
		ex.RespBody = body(raw.String())
	}
}

// mk builds a complete exchange; at is its start after t0, dur its duration.
func mk(id uint64, at, dur time.Duration, method, url string, reqBody string, status int, respBody string, opts ...exOpt) *recorder.Exchange {
	ex := &recorder.Exchange{
		ID: id, Kind: recorder.Inbound, State: recorder.StateComplete, Start: t0.Add(at),
		Timings:    recorder.Timings{Wait: dur * 3 / 4, Total: dur},
		RemoteAddr: "127.0.0.1:52100", Method: method, URL: url, Host: "127.0.0.1:4000", Proto: "HTTP/1.1",
		ReqHeaders: recorder.Headers{{Name: "Host", Value: "127.0.0.1:4000"}, {Name: "User-Agent", Value: "Claude-User"}},
		ReqBody:    body(reqBody), Status: status, RespBody: body(respBody),
	}
	if reqBody != "" {
		ex.ReqHeaders = append(ex.ReqHeaders, recorder.Header{Name: "Content-Type", Value: "application/json"})
		ex.RPC = recorder.ParseRPC([]byte(reqBody), recorder.FromClient, -1)
	}
	if respBody != "" {
		ex.RespHeaders = append(ex.RespHeaders, recorder.Header{Name: "Content-Type", Value: "application/json"})
		ex.RPC = append(ex.RPC, recorder.ParseRPC([]byte(respBody), recorder.FromServer, -1)...)
	}
	for _, o := range opts {
		o(ex)
	}
	if ex.State == recorder.StatePending {
		ex.Status, ex.RespHeaders, ex.RespBody, ex.Timings = 0, nil, recorder.Body{}, recorder.Timings{}
	}
	return ex
}

const (
	initReq    = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude-ai","version":"0.1.0"}}}`
	initResp   = `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"mcpwatch","version":"dev"}}}`
	inited     = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	listReq    = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	listResp   = `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo","description":"Echoes its input","inputSchema":{"type":"object","properties":{"text":{"type":"string"}}}}]}}`
	callReq    = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`
	callEvent1 = `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":2,"progress":0.5}}`
	callEvent2 = `{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"hello"}]}}`
	prmBody    = `{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://mcp.example.com"],"scopes_supported":["mcp"]}`
	asmBody    = `{"issuer":"https://mcp.example.com","authorization_endpoint":"https://mcp.example.com/authorize","token_endpoint":"https://mcp.example.com/token","registration_endpoint":"https://mcp.example.com/register","code_challenge_methods_supported":["S256"]}`
	regReq     = `{"client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"token_endpoint_auth_method":"none"}`
	regResp    = `{"client_id":"c_7Hq2","client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}`
	tokenReq   = `grant_type=authorization_code&code=abc&code_verifier=xyz&client_id=c_7Hq2&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback`
	tokenResp  = `{"access_token":"at_…","token_type":"Bearer","expires_in":3600,"refresh_token":"rt_…"}`
	tokenErr   = `{"error":"invalid_client","error_description":"client c_7Hq2 is not registered"}`
)

const sessionID = "a1b2c3d4e5f6"

// handshake is a whole Claude handshake against an OAuth-protected server, exchange by exchange.
func handshake() []*recorder.Exchange {
	auth := withReq("Authorization", "Bearer at_…")
	sess := withReq("Mcp-Session-Id", sessionID)
	return []*recorder.Exchange{
		mk(1, 0, 2*time.Millisecond, "POST", "/mcp", initReq, 401, "",
			withResp("WWW-Authenticate", `Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource"`)),
		mk(2, 80*time.Millisecond, 1*time.Millisecond, "GET", "/.well-known/oauth-protected-resource", "", 200, prmBody),
		mk(3, 150*time.Millisecond, 1*time.Millisecond, "GET", "/.well-known/oauth-authorization-server", "", 200, asmBody),
		mk(4, 260*time.Millisecond, 3*time.Millisecond, "POST", "/register", regReq, 201, regResp),
		mk(5, 400*time.Millisecond, 1*time.Millisecond, "GET", "/authorize?response_type=code&client_id=c_7Hq2&code_challenge=E9Mel&code_challenge_method=S256", "", 200, ""),
		mk(6, 2100*time.Millisecond, 2*time.Millisecond, "POST", "/authorize", "", 302, "", withResp("Location", "https://claude.ai/api/mcp/auth_callback?code=abc")),
		mk(7, 2600*time.Millisecond, 4*time.Millisecond, "POST", "/token", tokenReq, 200, tokenResp),
		mk(8, 2900*time.Millisecond, 3*time.Millisecond, "POST", "/mcp", initReq, 200, initResp, auth,
			withResp("Mcp-Session-Id", sessionID)),
		mk(9, 3000*time.Millisecond, 1*time.Millisecond, "POST", "/mcp", inited, 202, "", auth, sess),
		mk(10, 3050*time.Millisecond, 2*time.Millisecond, "POST", "/mcp", listReq, 200, listResp, auth, sess),
		mk(11, 3500*time.Millisecond, 90*time.Millisecond, "POST", "/mcp", callReq, 200, "", auth, sess,
			withResp("Content-Type", "text/event-stream"), withEvents(callEvent1, callEvent2)),
	}
}

// claudeConn is the connection of the handshake, with the stages the test decides.
func claudeConn(stages ...analysis.StageState) *analysis.Connection {
	return &analysis.Connection{ID: "claude-1", Client: analysis.ClientClaude, ClientName: "claude-ai 0.1.0",
		UserAgent: "Claude-User", Era: "legacy", Protocol: "2025-06-18", Start: t0, Last: t0.Add(3590 * time.Millisecond),
		Stages: stages}
}

func ss(stage analysis.Stage, status analysis.StageStatus, d time.Duration) analysis.StageState {
	return analysis.StageState{Stage: stage, Status: status, Duration: d}
}

// fullStages are the stages of the handshake, every one done.
func fullStages(last analysis.StageStatus) []analysis.StageState {
	ms := time.Millisecond
	return []analysis.StageState{
		ss(analysis.StageChallenge, analysis.StatusOK, 2*ms), ss(analysis.StageResourceMetadata, analysis.StatusOK, ms),
		ss(analysis.StageAuthMetadata, analysis.StatusOK, ms), ss(analysis.StageRegister, analysis.StatusOK, 3*ms),
		ss(analysis.StageClientMetadata, analysis.StatusSkipped, 0),
		ss(analysis.StageAuthorize, analysis.StatusOK, ms), ss(analysis.StageConsent, analysis.StatusOK, 2*ms),
		ss(analysis.StageToken, analysis.StatusOK, 4*ms), ss(analysis.StageInitialize, analysis.StatusOK, 3*ms),
		ss(analysis.StageInitialized, analysis.StatusOK, ms), ss(analysis.StageList, analysis.StatusOK, 2*ms),
		ss(analysis.StageCall, last, 90*ms), ss(analysis.StageStream, analysis.StatusPending, 0),
	}
}

// ---- the model under test ----

type harness struct {
	t     *testing.T
	m     *Model
	store *recorder.Store
	fed   *fedStore
}

// fedStore is where the model under test finds the exchanges of the updates a test feeds it itself (updatesMsg
// built by the test rather than by the store's subscription: exchanges with the ids and states a test chooses,
// which the store's API cannot make): the store's exchange with the id, else the latest fed. A Cleared update
// empties it, as it does the store the updates stand for.
type fedStore struct {
	store *recorder.Store
	mu    sync.Mutex
	exs   map[uint64]*recorder.Exchange
}

func newFedStore(store *recorder.Store) *fedStore {
	return &fedStore{store: store, exs: map[uint64]*recorder.Exchange{}}
}

func (f *fedStore) note(us []recorder.Update) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range us {
		switch {
		case u.Kind == recorder.Cleared:
			clear(f.exs)
		case u.Exchange != nil:
			f.exs[u.Exchange.ID] = u.Exchange
		}
	}
}

func (f *fedStore) get(id uint64) *recorder.Exchange {
	if ex := f.store.Peek(id); ex != nil { // as the program asks: never waiting on the disk
		return ex
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.exs[id]
}

type hopt func(*Config)

func newHarness(t *testing.T, w, h int, s *script, opts ...hopt) *harness {
	t.Helper()
	store := recorder.NewStore(recorder.StoreOptions{})
	cfg := Config{
		Store: store, Version: "dev", ListenURL: "http://127.0.0.1:4000", ConnectorURL: "http://127.0.0.1:4000/mcp",
		ExportFormats: []string{"jsonl", "har"}, Exporter: sliceExporter(func(string, string, []*recorder.Exchange) error { return nil }),
		WorkDir: "/home/dev", Theme: "dark", Now: func() time.Time { return t0 },
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Service == nil {
		lo := live.Options{Saved: cfg.ReadOnly}
		if s != nil {
			lo.NewAnalyzer = s.analyzer
		}
		cfg.Service = manualService(t, lo)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	hs := &harness{t: t, m: m, store: store, fed: newFedStore(store)}
	m.ctx.exchange = hs.fed.get
	m.flow.oldest = nil // fed beside the store: the rows mirror its bounds (TestRowsFollowTheStore sets it back)
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	return hs
}

// analyzer is what the service needs of an analyzer (tests script one).
type analyzer = live.Analyzer

// manualService is an analysis service whose messages the test takes itself (a model driven by hand starts no
// pump), stopped when it ends.
func manualService(tb testing.TB, o live.Options) *live.Service {
	s := live.New(o)
	tb.Cleanup(s.Close)
	return s
}

// nextAnalysis waits (at most wait) for the service's next message to the model, as the pump brings it.
func nextAnalysis(m *Model, wait time.Duration) (analysisMsg, bool) {
	deadline := time.After(wait)
	for {
		if lm, ok := m.anSub.Take(); ok {
			return fromService(lm), true
		}
		select {
		case <-m.anSub.Ready():
		case <-deadline:
			return analysisMsg{}, false
		}
	}
}

// readyAnalysis is the service's next message to the model if one is ready.
func readyAnalysis(m *Model) (analysisMsg, bool) {
	lm, ok := m.anSub.Take()
	if !ok {
		return analysisMsg{}, false
	}
	return fromService(lm), true
}

// send applies a message and returns the command Update gave back; then it lets the analysis service catch up
// (see settle).
func (h *harness) send(msg tea.Msg) tea.Cmd {
	h.t.Helper()
	if u, ok := msg.(updatesMsg); ok && h.fed != nil {
		h.fed.note(u.updates)
	}
	_, cmd := h.m.Update(msg)
	h.settle()
	return cmd
}

// settle applies the analysis service's messages until it has answered everything it was handed (its report
// included), as the program's pump would: the views then show the analysis of what was fed, deterministically.
func (h *harness) settle() {
	h.t.Helper()
	for h.m.analysisOwed() {
		msg, ok := nextAnalysis(h.m, 30*time.Second)
		if !ok {
			h.t.Fatalf("the analysis service did not answer (handed %d jobs, answered %d)", h.m.anSent, h.m.anAcked)
		}
		h.m.Update(msg)
	}
}

// feed sends store updates.
func (h *harness) feed(kind recorder.UpdateKind, exs ...*recorder.Exchange) {
	us := make([]recorder.Update, len(exs))
	for i, ex := range exs {
		us[i] = recorder.Update{Kind: kind, Exchange: ex}
	}
	h.send(updatesMsg{updates: us})
}

// keyMsg turns a key name into a key press.
func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "home":
		return tea.KeyPressMsg{Code: tea.KeyHome}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	case "ctrl+u":
		return tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl}
	}
	r := []rune(k)
	if len(r) != 1 {
		panic("unknown key " + k)
	}
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// press sends key presses; it returns the last command.
func (h *harness) press(keys ...string) tea.Cmd {
	h.t.Helper()
	var cmd tea.Cmd
	for _, k := range keys {
		cmd = h.send(keyMsg(k))
	}
	return cmd
}

// typeText types text one key at a time.
func (h *harness) typeText(s string) {
	h.t.Helper()
	for _, r := range s {
		if r == ' ' {
			h.send(keyMsg("space"))
			continue
		}
		h.send(keyMsg(string(r)))
	}
}

// run executes a command the way the program would, applying the messages it produces within a short wait;
// commands that wait longer (ticks, the pump) are left behind. It returns the messages seen.
func (h *harness) run(cmd tea.Cmd) []tea.Msg {
	h.t.Helper()
	if cmd == nil {
		return nil
	}
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-ch:
	case <-time.After(150 * time.Millisecond):
		return nil
	}
	var seen []tea.Msg
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			seen = append(seen, h.run(c)...)
		}
	default:
		seen = append(seen, msg)
		seen = append(seen, h.run(h.send(msg))...)
	}
	return seen
}

// screen is the view as plain text.
func (h *harness) screen() string {
	return ansi.Strip(h.m.View().Content)
}

// checkLayout fails when the view is not exactly w×h cells.
func checkLayout(t *testing.T, content string, w, h int) {
	t.Helper()
	lines := strings.Split(content, "\n")
	if len(lines) != h {
		t.Errorf("the view has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n != w {
			t.Errorf("line %d is %d cells wide, want %d: %q", i+1, n, w, ansi.Strip(l))
		}
	}
}

// golden compares got with testdata/name.golden (go test ./tui -update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	testkit.Golden(t, "testdata", ".golden", name, []byte(got))
}

func teaSize(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }

// TestWidthAgreesWithXAnsi: the fast width is x/ansi's on what the UI draws and on anything else.
func TestWidthAgreesWithXAnsi(t *testing.T) {
	samples := []string{"", "plain", "\x1b[1;38;2;1;2;3mbold\x1b[m", "✓ ✗ ▸ · … │ ╭─╮ → é ü", "日本語", "e\u0301", "👍🏽 ok",
		"tab\there", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "a\x1b[", "✓\u200dx", "ﬁ", "\u00ad"}
	for _, s := range samples {
		if got, want := width(s), ansi.StringWidth(s); got != want {
			t.Errorf("width(%q) = %d, x/ansi says %d", s, got, want)
		}
	}
	// And every line of every golden view.
	files, _ := filepath.Glob(filepath.Join("testdata", "*.golden"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if got, want := width(l), ansi.StringWidth(l); got != want {
				t.Errorf("%s: width(%q) = %d, x/ansi says %d", f, l, got, want)
			}
		}
	}
}
