package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// scripted is an analysis no real analyzer makes of the exchanges: connection a holds #1 and #2, connection b #3;
// each connection has a finding, and b one more about its exchange.
type scripted struct{ seen map[uint64]bool }

func (s *scripted) Observe(ex *recorder.Exchange) { s.seen[ex.ID] = true }

func (s *scripted) Info(id uint64) analysis.Info {
	if !s.seen[id] {
		return analysis.Info{}
	}
	conn := "conn-a"
	if id == 3 {
		conn = "conn-b"
	}
	return analysis.Info{Stage: analysis.StageList, Client: analysis.ClientClaude, Connection: conn}
}

func (s *scripted) Report() *analysis.Report {
	f := func(rule, conn string, ex uint64) analysis.Finding {
		return analysis.Finding{Rule: rule, Severity: analysis.SeverityWarn, Summary: "scripted " + rule + " finding",
			Fix: "none", Source: "test", Connection: conn, ExchangeID: ex}
	}
	return &analysis.Report{
		Connections: []*analysis.Connection{
			{ID: "conn-a", Client: analysis.ClientClaude, Exchanges: []uint64{1, 2}},
			{ID: "conn-b", Client: analysis.ClientClaude, Exchanges: []uint64{3}},
		},
		Findings: []analysis.Finding{f("alpha", "conn-a", 1), f("beta", "conn-b", 3), f("gamma", "conn-b", 0)},
	}
}

func exportExchanges() []*recorder.Exchange {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var out []*recorder.Exchange
	for i := range 3 {
		out = append(out, &recorder.Exchange{ID: uint64(i + 1), Kind: recorder.Inbound, Method: "POST", URL: "/mcp",
			Start: t0.Add(time.Duration(i) * time.Second), Status: 200, State: recorder.StateComplete,
			ReqBody: recorder.Body{Data: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)}})
	}
	return out
}

// TestTUIExportCarriesTheServiceFindings: the TUI's export writes the session's analysis (what the TUI shows),
// not a fresh one of the exchanges — the scripted findings are in the file, which a re-analysis would not find —
// and an export of a subset carries the findings of the connections it has an exchange of, only.
func TestTUIExportCarriesTheServiceFindings(t *testing.T) {
	svc := live.New(live.Options{Saved: true, NewAnalyzer: func(analysis.Options) live.Analyzer {
		return &scripted{seen: map[uint64]bool{}}
	}})
	defer svc.Close()
	exs := exportExchanges()
	svc.Push(live.Batch{Epoch: 1, Seq: 1, Exchanges: exs})
	dir := t.TempDir()
	read := func(name string, exs []*recorder.Exchange) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := exportSlice(exportForTUI(svc), "markdown", p, exs); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	all := read("all.md", exs)
	for _, want := range []string{"scripted alpha finding", "scripted beta finding", "scripted gamma finding"} {
		if !strings.Contains(all, want) {
			t.Errorf("the export of every exchange lacks %q:\n%s", want, all)
		}
	}
	// The transcript's outcome has a line per connection.
	if n := strings.Count(all, "reached `list`"); n != 2 {
		t.Errorf("the export of every exchange tells %d connections, want 2:\n%s", n, all)
	}
	// #2 alone: connection a (its finding about #1 included), nothing of connection b.
	part := read("part.md", exs[1:2])
	if !strings.Contains(part, "scripted alpha finding") || strings.Count(part, "reached `list`") != 1 {
		t.Errorf("the export of #2 lacks its connection's finding:\n%s", part)
	}
	if strings.Contains(part, "scripted beta") || strings.Contains(part, "scripted gamma") {
		t.Errorf("the export of #2 carries another connection's findings:\n%s", part)
	}
	// Without the service the exchanges are analysed afresh: none of the scripted findings.
	p := filepath.Join(dir, "fresh.md")
	if err := exportSlice(exportForTUI(nil), "markdown", p, exs); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); strings.Contains(string(b), "scripted") {
		t.Errorf("a fresh analysis found the scripted findings:\n%s", b)
	}
}

// An exchange the service has said nothing of yet (still in flight: no stage) is exported with the stage its
// request names at the session's MCP path (proxy mode: the upstream's), not at /mcp.
func TestTUIExportStagesAtTheSessionsMCPPath(t *testing.T) {
	svc := live.New(live.Options{Saved: true, Analysis: analysis.Options{MCPPath: "/api/mcp"}})
	defer svc.Close()
	ex := &recorder.Exchange{ID: 1, Kind: recorder.Inbound, Method: "DELETE", URL: "/api/mcp", State: recorder.StatePending,
		Start: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	if analysis.StageOf(ex, "/api/mcp") == analysis.StageOf(ex, "") {
		t.Fatal("the test needs an exchange whose stage depends on the MCP path")
	}
	p := filepath.Join(t.TempDir(), "x.har")
	if err := exportSlice(exportForTUI(svc), "har", p, []*recorder.Exchange{ex}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"_stage": "` + string(analysis.StageOf(ex, "/api/mcp")) + `"`; !strings.Contains(string(b), want) {
		t.Errorf("the export lacks %s:\n%s", want, b)
	}
}
