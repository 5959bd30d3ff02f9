package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// selectedID is the id of the selected exchange, or 0.
func (h *harness) selectedID() uint64 {
	if r := h.m.list.selected(); r != nil {
		return r.id
	}
	return 0
}

func TestNewNeedsAStore(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a store: no error")
	}
}

func TestListFollowsUntilTheUserScrolls(t *testing.T) {
	h := newHarness(t, 120, 40, doneScript())
	exs := handshake()
	h.feed(recorder.Completed, exs[:5]...)
	if got := h.selectedID(); got != 5 {
		t.Fatalf("following: selected #%d, want #5", got)
	}
	h.feed(recorder.Completed, exs[5])
	if got := h.selectedID(); got != 6 {
		t.Fatalf("following: selected #%d after an arrival, want #6", got)
	}
	h.press("up", "k")
	if got := h.selectedID(); got != 4 {
		t.Fatalf("after up, k: selected #%d, want #4", got)
	}
	h.feed(recorder.Completed, exs[6:9]...)
	if got := h.selectedID(); got != 4 {
		t.Fatalf("paused: an arrival moved the selection to #%d", got)
	}
	if !strings.Contains(h.screen(), "paused · G follows") {
		t.Errorf("the list does not say it is paused:\n%s", h.screen())
	}
	h.press("G")
	if got := h.selectedID(); got != 9 {
		t.Fatalf("after G: selected #%d, want #9", got)
	}
	h.feed(recorder.Completed, exs[9])
	if got := h.selectedID(); got != 10 {
		t.Fatalf("following again: selected #%d, want #10", got)
	}
	// Moving down to the last row follows again too.
	h.press("up", "down")
	h.feed(recorder.Completed, exs[10])
	if got := h.selectedID(); got != 11 {
		t.Fatalf("down to the last row then an arrival: selected #%d, want #11", got)
	}
	h.press("g")
	if got := h.selectedID(); got != 1 {
		t.Fatalf("after g: selected #%d, want #1", got)
	}
}

func TestUpdatesReplaceSnapshotsAndStreamInTheDetail(t *testing.T) {
	h := newHarness(t, 100, 30, doneScript())
	exs := handshake()
	call := exs[10]
	began := *call
	began.State, began.Status, began.RespHeaders, began.RespBody, began.Events = recorder.StatePending, 0, nil, recorder.Body{}, nil
	began.RPC = call.RPC[:1]
	h.feed(recorder.Completed, exs[:10]...)
	h.feed(recorder.Began, &began)
	h.press("enter", "right")
	if s := h.screen(); !strings.Contains(s, "waiting for the response") {
		t.Fatalf("pending response not shown:\n%s", s)
	}
	one := *call
	one.State, one.Events = recorder.StateStreaming, call.Events[:1]
	h.feed(recorder.Changed, &one)
	s := h.screen()
	if !strings.Contains(s, "event 1 at +40ms") || !strings.Contains(s, "streaming: events show up") || strings.Contains(s, "event 2") {
		t.Fatalf("first event not shown as streaming:\n%s", s)
	}
	h.feed(recorder.Completed, call)
	s = h.screen()
	if !strings.Contains(s, "event 2 at +80ms") || strings.Contains(s, "streaming: events") {
		t.Fatalf("completed stream not shown:\n%s", s)
	}
	if h.m.flow.len() != 11 {
		t.Fatalf("the same exchange three times made %d rows, want 11", h.m.flow.len())
	}
}

func TestTabsAndPanes(t *testing.T) {
	h := newHarness(t, 160, 48, doneScript())
	h.feed(recorder.Completed, handshake()...)
	if h.m.focus != paneList {
		t.Fatalf("focus starts on %d, want the list", h.m.focus)
	}
	h.press("tab")
	if h.m.focus != paneDetail {
		t.Fatalf("tab: focus %d, want detail", h.m.focus)
	}
	h.press("tab")
	if h.m.focus != paneTracker {
		t.Fatalf("tab tab: focus %d, want tracker", h.m.focus)
	}
	h.press("shift+tab")
	if h.m.focus != paneDetail {
		t.Fatalf("shift+tab: focus %d, want detail", h.m.focus)
	}
	for _, want := range []detailTab{tabResponse, tabAnalysis, tabRequest} {
		h.press("l")
		if h.m.detail.tab != want {
			t.Fatalf("l: tab %v, want %v", h.m.detail.tab, want)
		}
	}
	h.press("h")
	if h.m.detail.tab != tabAnalysis {
		t.Fatalf("h: tab %v, want Analysis", h.m.detail.tab)
	}
	h.press("esc")
	if h.m.focus != paneList {
		t.Fatalf("esc in the detail: focus %d, want the list", h.m.focus)
	}
}

func TestNarrowEnterZoomsTheDetail(t *testing.T) {
	h := newHarness(t, 80, 24, doneScript())
	h.feed(recorder.Completed, handshake()...)
	h.press("enter")
	s := h.screen()
	if strings.Contains(s, "Exchanges 11") || !strings.Contains(s, "[Request]") {
		t.Fatalf("enter at 80 columns does not give the detail the screen:\n%s", s)
	}
	h.press("esc")
	if s := h.screen(); !strings.Contains(s, "Exchanges 11") {
		t.Fatalf("esc does not bring the list back:\n%s", s)
	}
}

func TestTrackerEnterFiltersByConnection(t *testing.T) {
	h := newHarness(t, 160, 48, liveScript())
	h.feed(recorder.Completed, liveExchanges()...)
	h.press("tab", "tab") // tracker
	if c := h.m.tracker.selected(); c == nil || c.ID != "cursor-1" {
		t.Fatalf("the tracker does not follow the newest connection: %+v", c)
	}
	h.press("k", "enter")
	if got := h.m.flow.filter.src; got != "conn:claude-1" {
		t.Fatalf("enter on a connection: filter %q", got)
	}
	if h.m.flow.visible() != 8 || h.m.focus != paneList {
		t.Fatalf("filtered to %d exchanges, focus %d; want 8 and the list", h.m.flow.visible(), h.m.focus)
	}
	h.press("esc")
	if h.m.flow.vis != nil {
		t.Fatal("esc in the list does not clear the filter")
	}
}

func TestFilterParse(t *testing.T) {
	for _, c := range []struct {
		src  string
		err  string
		keys []string
	}{
		{src: ""},
		{src: "tools/call", keys: []string{""}},
		{src: "stage:token status:4xx client:claude hello", keys: []string{"stage", "status", "client", ""}},
		{src: "-stage:stream s:init,list m:POST", keys: []string{"stage", "stage", "method"}},
		{src: `"tools/call echo" finding:any toggle:omit conn:c1`, keys: []string{"", "finding", "toggle", "conn"}},
		{src: "status:401 status:err status:pending status:5", keys: []string{"status", "status", "status", "status"}},
		{src: "http://x/y", keys: []string{""}},
		{src: "stage:nope", err: `unknown stage "nope"`},
		{src: "status:6xx", err: "status:6xx"},
		{src: "colour:red", err: `unknown filter "colour:"`},
		{src: "stage:", err: "needs a value"},
		{src: `"open`, err: "closing quote"},
		{src: "finding:maybe", err: "finding:maybe"},
	} {
		f, err := parseFilter(c.src)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.src, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.src, err)
			continue
		}
		var keys []string
		for _, tm := range f.terms {
			keys = append(keys, tm.key)
		}
		if !slices.Equal(keys, c.keys) {
			t.Errorf("%q: terms %q, want %q", c.src, keys, c.keys)
		}
	}
}

func TestFilterMatches(t *testing.T) {
	h := newHarness(t, 120, 40, failedScript())
	exs := failedExchanges()
	out := mk(50, 3*time.Second, 5*time.Millisecond, "GET", "https://client.example/cimd.json", "", 200, `{"client_name":"x"}`)
	out.Kind, out.Host = recorder.Outbound, "client.example"
	errEx := mk(51, 4*time.Second, time.Millisecond, "GET", "/mcp", "", 0, "")
	errEx.Error = "client went away before a response"
	h.feed(recorder.Completed, append(exs, out, errEx)...)
	ids := func(src string) []uint64 {
		t.Helper()
		f, err := parseFilter(src)
		if err != nil {
			t.Fatal(err)
		}
		h.m.flow.setFilter(f)
		var got []uint64
		for i := range h.m.flow.visible() {
			got = append(got, h.m.flow.at(i).id)
		}
		return got
	}
	for _, c := range []struct {
		src  string
		want []uint64
	}{
		{"stage:token", []uint64{7}},
		{"stage:auth", []uint64{3, 5}}, // a prefix: auth-metadata and authorize
		{"status:4xx", []uint64{1, 7}},
		{"status:401", []uint64{1, 7}},
		{"status:2xx -method:GET", []uint64{4}},
		{"status:err", []uint64{51}},
		{"client:claude", []uint64{1, 2, 3, 4, 5, 6, 7, 50, 51}},
		{"client:cursor", nil},
		{"finding:any", []uint64{4, 7}},
		{"finding:error", []uint64{7}},
		{"toggle:any", []uint64{7}},
		{"toggle:invalid", []uint64{7}},
		{"well-known", []uint64{2, 3}},
		{"WELL-KNOWN protected", []uint64{2}},
		{"client.example", []uint64{50}},
		{"went away", []uint64{51}},
		{`"went away"`, []uint64{51}},
		{"method:post,head", []uint64{1, 4, 6, 7}},
		{"conn:claude", []uint64{1, 2, 3, 4, 5, 6, 7, 50, 51}},
		{"", []uint64{1, 2, 3, 4, 5, 6, 7, 50, 51}},
	} {
		if got := ids(c.src); !slices.Equal(got, c.want) {
			t.Errorf("%q: %v, want %v", c.src, got, c.want)
		}
	}
}

// TestFilterNarrowingAgrees types filters one character at a time (the narrowing path) and checks each result
// against a filter computed from scratch.
func TestFilterNarrowingAgrees(t *testing.T) {
	h := newHarness(t, 120, 40, doneScript())
	rng := rand.New(rand.NewPCG(1, 2))
	var exs []*recorder.Exchange
	for i := range 2000 {
		base := handshake()[rng.IntN(11)]
		ex := *base
		ex.ID = uint64(i + 1)
		exs = append(exs, &ex)
	}
	h.feed(recorder.Completed, exs...)
	for _, typed := range []string{"mcp tools", "status:2xx /well-known/oauth", "-stage:call initialize", "tools/list", "stage:init notif"} {
		h.press("/")
		h.press("ctrl+u")
		for i := 1; i <= len(typed); i++ {
			h.typeText(typed[i-1 : i])
			f, err := parseFilter(typed[:i])
			if err != nil {
				continue
			}
			var want []int
			for j := range h.m.flow.rows {
				if f.match(&h.m.flow.rows[j], h.m.flow) {
					want = append(want, h.m.flow.base+j)
				}
			}
			got := h.m.flow.vis
			if f.empty() {
				got, want = nil, nil
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%q: narrowing kept %d rows, from scratch %d", typed[:i], len(got), len(want))
			}
		}
		// Backspace back through it (the cached results), with new traffic half way (the cache no longer holds).
		for i := len(typed) - 1; i >= 1; i-- {
			if i == len(typed)/2 {
				ex := *exs[i]
				ex.ID = uint64(len(h.m.flow.rows) + 10000 + i)
				h.feed(recorder.Completed, &ex)
			}
			h.press("backspace")
			f, err := parseFilter(typed[:i])
			if err != nil || f.empty() {
				continue
			}
			var want []int
			for j := range h.m.flow.rows {
				if f.match(&h.m.flow.rows[j], h.m.flow) {
					want = append(want, h.m.flow.base+j)
				}
			}
			if got := h.m.flow.vis; !slices.Equal(got, want) {
				t.Fatalf("backspace to %q: %d rows, from scratch %d", typed[:i], len(got), len(want))
			}
		}
		h.press("esc")
	}
}

func TestFilterKeysWhileTyping(t *testing.T) {
	h := newHarness(t, 120, 40, doneScript())
	h.feed(recorder.Completed, handshake()...)
	h.press("/")
	h.typeText("q")
	if h.m.filterIn.Value() != "q" {
		t.Fatalf("q in the filter: value %q (it must type, not quit)", h.m.filterIn.Value())
	}
	h.press("backspace")
	h.typeText("stage:nope")
	if h.m.filterErr == "" || !strings.Contains(h.screen(), `unknown stage "nope"`) {
		t.Fatalf("a bad filter is not explained:\n%s", h.screen())
	}
	if h.m.flow.filter.src != "stage" {
		t.Fatalf("a bad filter replaced the last good one (%q)", h.m.flow.filter.src)
	}
	h.press("enter")
	if !h.m.filtering {
		t.Fatal("enter closed the filter while it has a mistake")
	}
	for range len("nope") {
		h.press("backspace")
	}
	h.typeText("list")
	h.press("enter")
	if h.m.filtering || h.m.flow.visible() != 1 {
		t.Fatalf("filter stage:list: filtering %v, %d shown", h.m.filtering, h.m.flow.visible())
	}
	// / opens the filter with the current text, esc clears it.
	h.press("/")
	if h.m.filterIn.Value() != "stage:list" {
		t.Fatalf("reopened filter: %q", h.m.filterIn.Value())
	}
	h.press("esc")
	if h.m.filtering || h.m.flow.vis != nil {
		t.Fatal("esc does not clear the filter")
	}
}

func TestQuitHelpAndForceQuit(t *testing.T) {
	h := newHarness(t, 80, 24, nil)
	if cmd := h.press("q"); cmd == nil || !isQuit(cmd()) {
		t.Fatal("q does not quit")
	}
	h.press("?")
	if h.m.dialogs.topID() != dialogHelp || !strings.Contains(h.screen(), "Keys") {
		t.Fatalf("? does not open the help:\n%s", h.screen())
	}
	h.press("j", "j")
	if h.m.helpD.offset != 2 {
		t.Fatalf("j in the help: offset %d, want 2", h.m.helpD.offset)
	}
	for range 50 {
		h.press("j")
	}
	if s := h.screen(); !strings.Contains(s, "↑/k scrolls back") {
		t.Fatalf("the help does not stop at its end:\n%s", s)
	}
	h.press("esc")
	if h.m.dialogs.topID() != dialogNone {
		t.Fatal("esc does not close the help")
	}
	h.press("/")
	if cmd := h.press("ctrl+c"); cmd == nil || !isQuit(cmd()) {
		t.Fatal("ctrl+c does not quit while the filter is open")
	}
}

func isQuit(msg tea.Msg) bool {
	_, ok := msg.(tea.QuitMsg)
	return ok
}

func TestCopyAsCurl(t *testing.T) {
	h := newHarness(t, 120, 40, doneScript(), func(c *Config) { c.PublicURL = "https://mcp.example.com" })
	exs := handshake()
	exs[9].Host = "mcp.example.com" // tools/list came through the tunnel
	h.feed(recorder.Completed, exs...)
	h.press("up")
	msgs := h.run(h.press("c"))
	var clip string
	for _, m := range msgs {
		if fmt.Sprintf("%T", m) == "tea.setClipboardMsg" {
			clip = fmt.Sprint(m)
		}
	}
	want := `curl -sS -i --globoff 'https://mcp.example.com/mcp' \
  -H 'User-Agent: Claude-User' \
  -H 'Content-Type: application/json' \
  -H 'Authorization: Bearer at_…' \
  -H 'Mcp-Session-Id: a1b2c3d4e5f6' \
  -H 'Accept:' \
  --data-raw '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'`
	if clip != want {
		t.Fatalf("clipboard:\n%s\nwant:\n%s", clip, want)
	}
	if s := h.screen(); !strings.Contains(s, "copied #10 as curl") || !strings.Contains(s, "Authorization header") {
		t.Fatalf("no confirmation:\n%s", s)
	}
}

func TestCurlCommand(t *testing.T) {
	ex := mk(3, 0, 0, "DELETE", "/mcp?x=it's", "", 200, "", withReq("Mcp-Session-Id", "s1", "Accept", "text/event-stream", "Content-Length", "0"))
	got := curlCommand(ex, "http://127.0.0.1:4000")
	want := "curl -sS -i --globoff -X 'DELETE' 'http://127.0.0.1:4000/mcp?x=it'\\''s' \\\n  -H 'User-Agent: Claude-User' \\\n  -H 'Mcp-Session-Id: s1' \\\n  -H 'Accept: text/event-stream'"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	head := mk(4, 0, 0, "HEAD", "/mcp", "", 200, "")
	if got := curlCommand(head, "http://127.0.0.1:4000"); !strings.HasPrefix(got, "curl -sS -i --globoff --head 'http://127.0.0.1:4000/mcp'") {
		t.Fatalf("HEAD: %s", got)
	}
	out := mk(5, 0, 0, "GET", "https://client.example/cimd.json", "", 200, "")
	out.Kind = recorder.Outbound
	if got := curlCommand(out, "http://127.0.0.1:4000"); !strings.HasPrefix(got, "curl -sS -i --globoff 'https://client.example/cimd.json'") {
		t.Fatalf("outbound: %s", got)
	}
	bin := mk(6, 0, 0, "POST", "/mcp", "", 200, "")
	bin.ReqBody = recorder.Body{Data: []byte{0xff, 0xfe}, Size: 2}
	// A binary body goes through base64 on stdin, as in `mcpwatch export --format curl` (one renderer for both).
	if got := curlCommand(bin, "http://x"); !strings.HasPrefix(got, "base64 -d <<'MCPWATCH_BODY_1' | curl") ||
		!strings.Contains(got, "--data-binary @-\n//4=\nMCPWATCH_BODY_1") {
		t.Fatalf("binary body: %s", got)
	}
}

func TestClear(t *testing.T) {
	h := newHarness(t, 120, 40, doneScript())
	exs := handshake()
	for _, ex := range exs[:5] {
		h.store.Add(ex)
	}
	h.m.flow.resync(h.store.Snapshot(), &h.m.fed)
	h.m.onData()
	if h.m.flow.len() != 5 {
		t.Fatalf("%d exchanges, want 5", h.m.flow.len())
	}
	inFlight := h.store.Get(h.m.flow.rows[4].id)
	h.run(h.press("x"))
	if h.m.flow.len() != 0 || h.store.Stats().Count != 0 {
		t.Fatalf("after x: model %d, store %d exchanges", h.m.flow.len(), h.store.Stats().Count)
	}
	if !strings.Contains(h.screen(), "cleared (the capture file keeps everything)") {
		t.Fatalf("no confirmation:\n%s", h.screen())
	}
	// An exchange that arrives after the clear but before the store's Cleared update is kept; a late update of
	// one that was cleared is not.
	late := *exs[5]
	late.ID = 6
	h.feed(recorder.Completed, &late)
	h.send(updatesMsg{updates: []recorder.Update{{Kind: recorder.Cleared}, {Kind: recorder.Completed, Exchange: inFlight}}})
	if h.m.flow.len() != 1 || h.m.flow.rows[0].id != 6 {
		t.Fatalf("after the store's Cleared: %d exchanges", h.m.flow.len())
	}
	// A clear from elsewhere (the store's own) empties the view.
	h.send(updatesMsg{updates: []recorder.Update{{Kind: recorder.Cleared}}})
	if h.m.flow.len() != 0 {
		t.Fatalf("a foreign clear left %d exchanges", h.m.flow.len())
	}
}

func TestExportPrompt(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var got []string
	exporter := func(format, path string, exs []*recorder.Exchange) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%s %s %d", format, filepath.Base(path), len(exs)))
		if strings.Contains(path, "readonly") {
			return errors.New("permission denied")
		}
		return os.WriteFile(path, []byte("x"), 0o600)
	}
	h := newHarness(t, 100, 30, doneScript(), func(c *Config) { c.Exporter = sliceExporter(exporter) })
	h.feed(recorder.Completed, handshake()...)
	h.press("/")
	h.typeText("stage:list,call")
	h.press("enter")
	h.press("e")
	if !strings.Contains(h.screen(), "Write 2 exchanges (those the filter shows)") {
		t.Fatalf("the prompt does not say what it writes:\n%s", h.screen())
	}
	if v := h.m.exportP.input.Value(); v != "mcpwatch-20260728-100000.jsonl" {
		t.Fatalf("default path %q", v)
	}
	h.press("tab")
	if v := h.m.exportP.input.Value(); v != "mcpwatch-20260728-100000.har" || h.m.exportP.formatName() != "har" {
		t.Fatalf("tab: format %q, path %q", h.m.exportP.formatName(), v)
	}
	h.press("tab", "ctrl+u")
	path := filepath.Join(dir, "out.jsonl")
	h.typeText(path)
	h.run(h.press("enter"))
	if h.m.dialogs.topID() != dialogNone || !strings.Contains(h.screen(), "saved 2 exchanges to "+path+" (jsonl)") {
		t.Fatalf("no confirmation:\n%s", h.screen())
	}
	// The file exists now: the first enter asks, the second overwrites.
	h.press("e", "ctrl+u")
	h.typeText(path)
	h.run(h.press("enter"))
	if !h.m.exportP.confirm || !strings.Contains(h.screen(), "enter again overwrites") || len(got) != 1 {
		t.Fatalf("an existing file was not confirmed (%v):\n%s", got, h.screen())
	}
	h.run(h.press("enter"))
	if len(got) != 2 || h.m.dialogs.topID() != dialogNone {
		t.Fatalf("the second enter did not overwrite: %v", got)
	}
	// A failure stays in the prompt.
	h.press("e", "ctrl+u")
	h.typeText(filepath.Join(dir, "readonly.jsonl"))
	h.run(h.press("enter"))
	if h.m.dialogs.topID() != dialogExport || !strings.Contains(h.screen(), "permission denied") {
		t.Fatalf("an export error is not shown:\n%s", h.screen())
	}
	h.press("esc")
	if h.m.dialogs.topID() != dialogNone {
		t.Fatal("esc does not close the prompt")
	}
	if !slices.Equal(got, []string{"jsonl out.jsonl 2", "jsonl out.jsonl 2", "jsonl readonly.jsonl 2"}) {
		t.Fatalf("exports: %v", got)
	}
}

func TestExportWithoutExporter(t *testing.T) {
	h := newHarness(t, 100, 30, nil, func(c *Config) { c.Exporter, c.ExportFormats = nil, nil })
	h.press("e", "enter")
	if !strings.Contains(h.screen(), "no exporter is available") {
		t.Fatalf("no explanation:\n%s", h.screen())
	}
}

func TestTogglesPanel(t *testing.T) {
	ft := newFakeToggles()
	h := newHarness(t, 120, 40, doneScript(), func(c *Config) { c.Toggles = ft })
	h.run(h.m.Init())
	if s := h.screen(); !strings.Contains(s, "toggles: omit-resource-metadata, fail=token:500") {
		t.Fatalf("the header does not show the active toggles:\n%s", s)
	}
	h.run(h.press("t"))
	// Switch omit-session-id on.
	h.run(h.press("enter"))
	if !slices.Equal(ft.sets, []string{"set omit-session-id="}) {
		t.Fatalf("enter: %v", ft.sets)
	}
	if s := h.screen(); !strings.Contains(s, "omit-session-id, omit-resource-metadata") || !strings.Contains(s, "omit-session-id on: applies to the next request") {
		t.Fatalf("the change is not in the header and the status:\n%s", s)
	}
	// And off again with space.
	h.run(h.press("space"))
	if ft.sets[1] != "unset omit-session-id" {
		t.Fatalf("space on an active toggle: %v", ft.sets)
	}
	// slow takes a value.
	h.press("j", "j", "j", "enter")
	if !h.m.togglesP.editing {
		t.Fatal("a toggle with a value does not ask for it")
	}
	h.press("enter")
	if !strings.Contains(h.screen(), "a value is needed (DURATION)") {
		t.Fatalf("an empty value is not refused:\n%s", h.screen())
	}
	h.typeText("2s")
	h.run(h.press("enter"))
	if ft.sets[2] != "set slow=2s" || !strings.Contains(h.screen(), "slow=2s") {
		t.Fatalf("slow=2s: %v\n%s", ft.sets, h.screen())
	}
	// d switches off; an error is shown.
	h.run(h.press("j", "d"))
	if ft.sets[3] != "unset fail" {
		t.Fatalf("d: %v", ft.sets)
	}
	ft.fail = errors.New("the control socket is gone")
	h.run(h.press("k", "k", "k", "k", "enter"))
	if !strings.Contains(h.screen(), "the control socket is gone") {
		t.Fatalf("a failed switch is not shown:\n%s", h.screen())
	}
	h.press("esc")
	if h.m.dialogs.topID() != dialogNone {
		t.Fatal("esc does not close the panel")
	}
	// A change made elsewhere (a second terminal) shows at the next refresh.
	ft.fail = nil
	_ = ft.Set("reject-discover", "")
	h.run(func() tea.Msg { return toggleTickMsg{} })
	if !strings.Contains(h.screen(), "reject-discover") {
		t.Fatalf("the refresh does not pick up a change:\n%s", h.screen())
	}
}

func TestTogglesDisabledReadOnly(t *testing.T) {
	ft := newFakeToggles()
	h := newHarness(t, 120, 40, doneScript(), func(c *Config) { c.Toggles, c.ReadOnly = ft, true })
	h.run(h.press("t"))
	h.run(h.press("enter"))
	if len(ft.sets) != 0 || !strings.Contains(h.screen(), "read-only: toggles are disabled") {
		t.Fatalf("a read-only capture switched a toggle: %v\n%s", ft.sets, h.screen())
	}
}

func TestMouse(t *testing.T) {
	h := newHarness(t, 160, 48, doneScript())
	h.feed(recorder.Completed, handshake()...)
	lr := h.m.layout.panes[paneList]
	// Click the third exchange.
	h.send(tea.MouseClickMsg{X: lr.x + 5, Y: lr.y + 3, Button: tea.MouseLeft})
	if got := h.selectedID(); got != 3 {
		t.Fatalf("click: selected #%d, want #3", got)
	}
	// The wheel over the list moves the selection.
	h.send(tea.MouseWheelMsg{X: lr.x + 5, Y: lr.y + 3, Button: tea.MouseWheelDown})
	if got := h.selectedID(); got != 6 {
		t.Fatalf("wheel: selected #%d, want #6", got)
	}
	// A click on the detail's Response tab focuses the detail and switches the tab.
	dr := h.m.layout.panes[paneDetail]
	x := dr.x + h.m.detail.tabs()[tabResponse].x0 + 1
	h.send(tea.MouseClickMsg{X: x, Y: dr.y + 1, Button: tea.MouseLeft})
	if h.m.focus != paneDetail || h.m.detail.tab != tabResponse {
		t.Fatalf("click on a tab: focus %d, tab %v", h.m.focus, h.m.detail.tab)
	}
	// The wheel over the detail scrolls it (a long body).
	long := `{"items":[` + strings.Repeat(`{"a":1},`, 80) + `{"a":1}]}`
	h.feed(recorder.Completed, mk(12, 5*time.Second, time.Millisecond, "POST", "/mcp", listReq, 200, long))
	h.press("esc", "G")
	h.send(tea.MouseClickMsg{X: x, Y: dr.y + 1, Button: tea.MouseLeft})
	h.send(tea.MouseWheelMsg{X: dr.x + 3, Y: dr.y + 5, Button: tea.MouseWheelDown})
	if h.m.detail.offset != 3 {
		t.Fatalf("wheel over the detail: offset %d, want 3", h.m.detail.offset)
	}
	h.send(tea.MouseWheelMsg{X: dr.x + 3, Y: dr.y + 5, Button: tea.MouseWheelUp})
	if h.m.detail.offset != 0 {
		t.Fatalf("wheel up: offset %d, want 0", h.m.detail.offset)
	}
}

func TestSanitizesControlCharacters(t *testing.T) {
	h := newHarness(t, 120, 40, nil)
	evil := mk(1, 0, time.Millisecond, "POST", "/mcp\x1b[2J?x", `{"a":"\u001b[31mred"}`, 200, "plain\x1b]0;title\x07text\r\nline2",
		withReq("X-Evil", "a\x1b[1mb"))
	h.feed(recorder.Completed, evil)
	h.press("enter")
	for _, tab := range []string{"", "right"} {
		if tab != "" {
			h.press(tab)
		}
		content := h.m.View().Content
		for _, bad := range []string{"\x1b[2J", "\x1b]0;", "\x07", "\x1b[31mred", "\x1b[1mb"} {
			if strings.Contains(content, bad) {
				t.Fatalf("the view passes %q through", bad)
			}
		}
	}
}

func TestLongLinesWrapInTheDetail(t *testing.T) {
	long := `{"jsonrpc":"2.0","id":1,"result":{"text":"` + strings.Repeat("wrapped-words ", 40) + `","ünïcødé":"日本語のテキスト日本語のテキスト日本語のテキスト日本語のテキスト日本語のテキスト"}}`
	h := newHarness(t, 80, 24, nil)
	h.feed(recorder.Completed, mk(1, 0, time.Millisecond, "POST", "/mcp", listReq, 200, long))
	h.press("enter", "right")
	for range 10 {
		checkLayout(t, h.m.View().Content, 80, 24)
		h.press("pgdown")
	}
	joined := strings.Join(h.m.detail.lines, "")
	if !strings.Contains(stripAll(joined), "wrapped-words wrapped-words") {
		t.Fatal("the long string is not in the detail")
	}
}

func stripAll(s string) string { return ansi.Strip(s) }

// TestBoundedByTheStore holds no more than the store's MaxCount and MaxBytes, however many arrive, and keeps
// the selection and the filter consistent through evictions.
func TestBoundedByTheStore(t *testing.T) {
	var sa *scriptedAnalyzer // the service's analyzer, the latest it made
	s := doneScript()
	h := newHarness(t, 120, 40, nil, func(c *Config) {
		c.Limits = recorder.StoreOptions{MaxCount: 100}
		c.Service = manualService(t, live.Options{NewAnalyzer: func(o analysis.Options) analyzer {
			sa = s.analyzer(o).(*scriptedAnalyzer)
			return sa
		}})
	})
	h.press("/")
	h.typeText("stage:call")
	h.press("enter")
	tmpl := handshake()
	for i := range 1000 {
		ex := *tmpl[i%11]
		ex.ID = uint64(i + 1)
		h.feed(recorder.Completed, &ex)
	}
	d := h.m.flow
	if d.len() != 100 || d.rows[0].id != 901 || d.evicted != 900 {
		t.Fatalf("held %d (first #%d, %d evicted), want the last 100", d.len(), d.rows[0].id, d.evicted)
	}
	for _, abs := range d.vis {
		if abs < d.base || d.stageOf(&d.rows[abs-d.base]) != analysis.StageCall {
			t.Fatalf("the filtered view holds a stale row")
		}
	}
	if got := h.selectedID(); got != d.at(d.visible()-1).id {
		t.Fatalf("selected #%d, want the newest call", got)
	}
	if len(sa.exs) > 100 {
		t.Fatalf("the analyzer holds %d exchanges", len(sa.exs))
	}

	// MaxBytes.
	h2 := newHarness(t, 120, 40, nil, func(c *Config) { c.Limits = recorder.StoreOptions{MaxBytes: 64 << 10} })
	big := strings.Repeat("x", 8<<10)
	for i := range 100 {
		h2.feed(recorder.Completed, mk(uint64(i+1), 0, 0, "POST", "/mcp", "", 200, big))
	}
	if d := h2.m.flow; d.bytes > 64<<10 || d.len() == 0 || d.len() >= 100 {
		t.Fatalf("MaxBytes: %d exchanges, %d bytes", d.len(), d.bytes)
	}
}

// TestOutOfOrderArrival: an update of an exchange whose Began was dropped lands in id order.
func TestOutOfOrderArrival(t *testing.T) {
	h := newHarness(t, 120, 40, doneScript())
	exs := handshake()
	h.press("/")
	h.typeText("/mcp")
	h.press("enter")
	h.feed(recorder.Completed, exs[0], exs[2], exs[7])
	h.feed(recorder.Completed, exs[1])
	var ids []uint64
	for _, r := range h.m.flow.rows {
		ids = append(ids, r.id)
	}
	if !slices.Equal(ids, []uint64{1, 2, 3, 8}) {
		t.Fatalf("order %v", ids)
	}
	if h.m.flow.visible() != 2 {
		t.Fatalf("filter after an out-of-order arrival: %d", h.m.flow.visible())
	}
}

// TestPumpFromARealRecorder drives the model with the real recorder middleware and store through the pump, the
// way the program does: the SSE events of a stream arrive as Changed updates and show while the stream is open.
func TestPumpFromARealRecorder(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{})
	release := make(chan struct{})
	srv := httptest.NewServer(rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fmt.Fprintf(w, "event: message\ndata: %s\n\n", callEvent1)
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprintf(w, "event: message\ndata: %s\n\n", callEvent2)
	})))
	defer srv.Close()

	m, err := New(Config{Store: store, Theme: "dark", ListenURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := &harness{t: t, m: m, store: store}
	h.send(teaSize(120, 40))
	pump := waitForUpdates(m.sub)

	done := make(chan error, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/mcp", "application/json", strings.NewReader(callReq))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	// Apply updates until the first event shows.
	deadline := time.After(5 * time.Second)
	for !strings.Contains(h.screen(), "1 event") {
		select {
		case msg := <-cmdChan(pump):
			pump = h.send(msg)
		case <-deadline:
			t.Fatalf("the first event never showed:\n%s", h.screen())
		}
	}
	h.press("enter", "right")
	if s := h.screen(); !strings.Contains(s, "streaming: events show up") || !strings.Contains(s, "notifications/progress") {
		t.Fatalf("the open stream is not shown:\n%s", s)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for h.m.flow.rows[0].flags&rowComplete == 0 {
		select {
		case msg := <-cmdChan(pump):
			pump = h.send(msg)
		case <-deadline:
			t.Fatalf("the stream never completed:\n%s", h.screen())
		}
	}
	if s := h.screen(); !strings.Contains(s, "event 2") || !strings.Contains(s, "call") {
		t.Fatalf("the completed stream:\n%s", s)
	}
	// The pump ends when the subscription does.
	m.Close()
	for {
		msg := <-cmdChan(pump)
		if u, ok := msg.(updatesMsg); ok && u.closed {
			break
		}
		pump = h.send(msg)
	}
}

// cmdChan runs a command in the background.
func cmdChan(cmd tea.Cmd) <-chan tea.Msg {
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	return ch
}

// TestDroppedUpdatesAreRecovered: a subscription that falls behind loses updates; the header counts them and the
// model reads the store again, so no exchange stays pending or missing.
func TestDroppedUpdatesAreRecovered(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{PublishDelay: -1}) // each update handed over as it is made
	m, err := New(Config{Store: store, Theme: "dark", SubscriptionBuffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := &harness{t: t, m: m, store: store}
	h.send(teaSize(120, 40))
	for _, ex := range handshake() {
		store.Add(ex) // each Add is a Began and a Completed: 22 updates into a buffer of 4
	}
	msg := waitForUpdates(m.sub)()
	u := msg.(updatesMsg)
	if u.dropped == 0 {
		t.Fatal("nothing was dropped")
	}
	h.run(h.send(u))
	if m.flow.len() != 11 {
		t.Fatalf("after the resync: %d exchanges, want 11", m.flow.len())
	}
	if s := h.screen(); !strings.Contains(s, fmt.Sprintf("%d dropped", u.dropped)) {
		t.Fatalf("the header does not count the dropped updates:\n%s", s)
	}
}

// TestFallbackConnectionWithTheRealAnalysis: with the analysis on main (which groups no connections yet), the
// tracker still ticks the stages the exchanges reached.
func TestFallbackConnectionWithTheRealAnalysis(t *testing.T) {
	h := newHarness(t, 120, 40, nil)
	exs := handshake()
	h.feed(recorder.Completed, exs[7:]...)
	bad := mk(12, 4*time.Second, time.Millisecond, "DELETE", "/mcp", "", 405, "")
	h.feed(recorder.Completed, bad)
	s := h.screen()
	if len(h.m.flow.report.Connections) == 0 {
		for _, want := range []string{"✓ initialize", "✓ initialized", "✓ list", "✓ call", "✗ terminate", "all exchanges"} {
			if !strings.Contains(s, want) {
				t.Errorf("the tracker lacks %q:\n%s", want, s)
			}
		}
	} else if !strings.Contains(s, "✓ initialize") {
		t.Errorf("the analysis' connection does not tick initialize:\n%s", s)
	}
}

func TestThemeFollowsTheBackground(t *testing.T) {
	h := newHarness(t, 80, 24, nil, func(c *Config) { c.Theme = "" })
	if !h.m.ctx.styles.Dark {
		t.Fatal("the default theme is not dark")
	}
	h.send(tea.BackgroundColorMsg{Color: whiteColor{}})
	if h.m.ctx.styles.Dark {
		t.Fatal("a light background did not switch the theme")
	}
	checkLayout(t, h.m.View().Content, 80, 24)
}

type whiteColor struct{}

func (whiteColor) RGBA() (r, g, b, a uint32) { return 0xffff, 0xffff, 0xffff, 0xffff }

func TestViewFieldsAndTinyScreens(t *testing.T) {
	h := newHarness(t, 80, 24, nil)
	v := h.m.View()
	if !v.AltScreen || v.MouseMode != tea.MouseModeCellMotion {
		t.Fatalf("alt screen %v, mouse %v", v.AltScreen, v.MouseMode)
	}
	h.send(teaSize(20, 5))
	if s := h.screen(); !strings.Contains(s, "needs at") {
		t.Fatalf("a tiny screen is not explained: %q", s)
	}
	checkLayout(t, h.m.View().Content, 20, 5)
}

func TestJSONLexer(t *testing.T) {
	line := `  "key": "va\"l:ue", "n": -1.5e3, "t": true, "x": null, "a": [1, {}]`
	var kinds []string
	for _, sp := range lexJSONLine(line) {
		if sp.kind != tokSpace {
			kinds = append(kinds, fmt.Sprintf("%d:%s", sp.kind, line[sp.start:sp.end]))
		}
	}
	want := []string{`1:"key"`, `5::`, `2:"va\"l:ue"`, `5:,`, `1:"n"`, `5::`, `3:-1.5e3`, `5:,`, `1:"t"`, `5::`, `4:true`,
		`5:,`, `1:"x"`, `5::`, `4:null`, `5:,`, `1:"a"`, `5::`, `5:[`, `3:1`, `5:,`, `5:{`, `5:}`, `5:]`}
	if !slices.Equal(kinds, want) {
		t.Fatalf("tokens:\n%q\nwant\n%q", kinds, want)
	}
	if _, ok := prettyJSON([]byte(`{"a":1`)); ok {
		t.Fatal("invalid JSON was indented")
	}
	if s, ok := prettyJSON([]byte(` {"a":[1,2]} `)); !ok || s != "{\n  \"a\": [\n    1,\n    2\n  ]\n}" {
		t.Fatalf("pretty: %q", s)
	}
	var v any
	if err := json.Unmarshal([]byte(callEvent2), &v); err != nil {
		t.Fatal(err)
	}
}

// TestResyncFollowsTheStore: after a resync the data is the store's: what the store cleared or evicted goes,
// what arrived after the snapshot stays.
func TestResyncFollowsTheStore(t *testing.T) {
	h := newHarness(t, 120, 40, doneScript())
	exs := handshake()
	// #4 was seen pending (its later updates were lost); a complete exchange is final (the store never changes
	// it again), so the rows of the others are kept as they are.
	pending := *exs[3]
	pending.State, pending.Status, pending.RespHeaders, pending.RespBody = recorder.StatePending, 0, nil, recorder.Body{}
	h.feed(recorder.Changed, exs[0], exs[1], exs[2], &pending, exs[4], exs[5], exs[6], exs[7])
	later := *exs[8]
	later.ID = 50
	h.feed(recorder.Completed, &later)
	// The store holds #3..#8 (the others were evicted or cleared), #4 in a newer form.
	newer := *exs[3]
	newer.Status = 500
	snap := []*recorder.Exchange{exs[2], &newer, exs[4], exs[5], exs[6], exs[7]}
	h.send(resyncMsg{exchanges: snap})
	var ids []uint64
	for _, r := range h.m.flow.rows {
		ids = append(ids, r.id)
	}
	if !slices.Equal(ids, []uint64{3, 4, 5, 6, 7, 8, 50}) {
		t.Fatalf("after the resync: %v", ids)
	}
	if r := h.m.flow.get(4); r == nil || r.status != 500 || r.class != class5xx {
		t.Fatalf("#4 was not taken in its newer form")
	}
}

func TestNoticeAtStart(t *testing.T) {
	h := newHarness(t, 100, 30, nil, func(c *Config) { c.Notice = "no control socket" })
	if s := h.screen(); !strings.Contains(s, "no control socket") {
		t.Fatalf("the notice is not shown:\n%s", s)
	}
	h.send(clearStatusMsg{seq: h.m.statusSeq})
	if s := h.screen(); strings.Contains(s, "no control socket") {
		t.Fatalf("the notice does not go:\n%s", s)
	}
}

// TestCopyConnectorURL: u puts the connector URL on the clipboard (OSC 52) and says so; the header says u does.
func TestCopyConnectorURL(t *testing.T) {
	h := newHarness(t, 120, 40, doneScript(), withTunnel)
	if s := h.screen(); !strings.Contains(s, "connector URL https://sporting-follow-audit-href.trycloudflare.com/mcp  (u copies)") {
		t.Fatalf("the header does not say u copies the connector URL:\n%s", s)
	}
	var clip string
	for _, m := range h.run(h.press("u")) {
		if fmt.Sprintf("%T", m) == "tea.setClipboardMsg" {
			clip = fmt.Sprint(m)
		}
	}
	if want := "https://sporting-follow-audit-href.trycloudflare.com/mcp"; clip != want {
		t.Fatalf("clipboard %q, want %q", clip, want)
	}
	if s := h.screen(); !strings.Contains(s, "copied the connector URL") {
		t.Fatalf("no confirmation:\n%s", s)
	}
	// A saved capture has none.
	ro := newHarness(t, 120, 40, doneScript(), func(c *Config) { c.ReadOnly, c.ConnectorURL = true, "" })
	for _, m := range ro.run(ro.press("u")) {
		if fmt.Sprintf("%T", m) == "tea.setClipboardMsg" {
			t.Fatal("read-only: something was copied")
		}
	}
	if s := ro.screen(); !strings.Contains(s, "no connector URL to copy") {
		t.Fatalf("read-only: no explanation:\n%s", s)
	}
}

// TestTunnelNoteStays: while a tunnel is on, the header says what quick tunnels do to GET event streams, for as
// long as the TUI runs (a notice would clear itself), and the help has the whole note.
func TestTunnelNoteStays(t *testing.T) {
	h := newHarness(t, 80, 24, liveScript(), withTunnel, func(c *Config) { c.Notice = "something at start" })
	h.feed(recorder.Completed, liveExchanges()...)
	const mark = "! quick tunnel: GET event streams arrive only when they close"
	h.send(clearStatusMsg{seq: h.m.statusSeq})
	h.press("j", "enter", "esc")
	for _, sz := range [][2]int{{80, 24}, {120, 40}, {200, 60}} {
		h.send(teaSize(sz[0], sz[1]))
		s := h.screen()
		if strings.Contains(s, "something at start") || !strings.Contains(s, mark) {
			t.Fatalf("%dx%d: the tunnel's mark is not there for good:\n%s", sz[0], sz[1], s)
		}
		checkLayout(t, h.m.View().Content, sz[0], sz[1])
	}
	h.press("?")
	if s := h.screen(); !strings.Contains(s, "cloudflare/cloudflared#1449") || !strings.Contains(s, "Tunnel") {
		t.Fatalf("the help lacks the tunnel's note:\n%s", s)
	}
	// cloudflared exits on its own: the line says the public URL is gone, for good.
	h.press("esc")
	h.send(tunnelGoneMsg{why: "cloudflared exited (exit status 1)"})
	h.send(clearStatusMsg{seq: h.m.statusSeq})
	for _, sz := range [][2]int{{80, 24}, {200, 60}} {
		h.send(teaSize(sz[0], sz[1]))
		s := h.screen()
		if !strings.Contains(s, "✗ tunnel gone: cloudflared exited") || strings.Contains(s, mark) {
			t.Fatalf("%dx%d: the tunnel's end is not shown:\n%s", sz[0], sz[1], s)
		}
		checkLayout(t, h.m.View().Content, sz[0], sz[1])
	}
	// No tunnel, no mark.
	if s := newHarness(t, 80, 24, liveScript()).screen(); strings.Contains(s, "quick tunnel") {
		t.Fatalf("a mark without a tunnel:\n%s", s)
	}
}

// TestWrapRanges: a long JSON line wraps after a space that leaves the line at least half full, else where the
// line is full; continuations do not start with the spaces broken at; wide runes are never split.
func TestWrapRanges(t *testing.T) {
	for _, c := range []struct {
		line        string
		first, rest int
		want        []string
	}{
		{"abcdefghij", 4, 4, []string{"abcd", "efgh", "ij"}},
		{"aaa bbb ccc ddd", 9, 9, []string{"aaa bbb ", "ccc ddd"}},
		{"aaa bbbbbbbbbbbb", 9, 9, []string{"aaa bbbbb", "bbbbbbb"}}, // the space would leave the line under half full
		{"aaaa bbbb", 4, 4, []string{"aaaa", "bbbb"}},
		{"aaaa     bbbb", 4, 2, []string{"aaaa", "bb", "bb"}},
		{"日本語の", 3, 3, []string{"日", "本", "語", "の"}},
		{"ab日本", 3, 3, []string{"ab", "日", "本"}},
		{"x", 0, 0, []string{"x"}},
	} {
		var got []string
		for _, r := range wrapRanges(c.line, c.first, c.rest) {
			got = append(got, c.line[r[0]:r[1]])
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("wrapRanges(%q, %d, %d) = %q, want %q", c.line, c.first, c.rest, got, c.want)
		}
	}
	// The hang: under the value, or the indentation and two more when the value starts past the middle.
	st := newStyles(true)
	for _, c := range []struct {
		line string
		w    int
		want int
	}{
		{`    "access_token": "` + strings.Repeat("x", 100) + `"`, 80, 20},
		{`    "access_token": "` + strings.Repeat("x", 100) + `"`, 30, 6},
		{`      "` + strings.Repeat("x", 100) + `"`, 80, 6},
		{`          "k": "` + strings.Repeat("x", 100) + `"`, 12, 0},
	} {
		lines := highlightJSON(&st, c.line, c.w)
		if len(lines) < 2 {
			t.Fatalf("%q at %d did not wrap", c.line, c.w)
		}
		plain := ansi.Strip(lines[1])
		if got := len(plain) - len(strings.TrimLeft(plain, " ")); got != c.want {
			t.Errorf("%q at %d: continuation at %d, want %d", c.line[:20], c.w, got, c.want)
		}
		for _, l := range lines {
			if ansi.StringWidth(l) > c.w {
				t.Errorf("a line of %d cells at width %d", ansi.StringWidth(l), c.w)
			}
		}
	}
}
