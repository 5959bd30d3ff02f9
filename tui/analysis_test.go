package tui

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// blockingAnalyzer is a scripted analysis whose Report, once it has observed an exchange, waits until released.
type blockingAnalyzer struct {
	*scriptedAnalyzer
	entered  chan struct{}
	release  chan struct{}
	inReport atomic.Bool
}

func newBlockingAnalyzer(s *script) *blockingAnalyzer {
	return &blockingAnalyzer{scriptedAnalyzer: s.analyzer(analysis.Options{}).(*scriptedAnalyzer),
		entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (a *blockingAnalyzer) Report() *analysis.Report {
	if len(a.exs) > 0 {
		a.inReport.Store(true)
		select {
		case a.entered <- struct{}{}:
		default:
		}
		<-a.release
		a.inReport.Store(false)
	}
	return a.scriptedAnalyzer.Report()
}

func updates(kind recorder.UpdateKind, exs ...*recorder.Exchange) updatesMsg {
	us := make([]recorder.Update, len(exs))
	for i, ex := range exs {
		us[i] = recorder.Update{Kind: kind, Exchange: ex}
	}
	return updatesMsg{updates: us}
}

// TestKeystrokeWhileAReportIsComputed: Update hands arrivals to the analysis and returns; a keystroke that arrives
// while the analysis computes its report is handled at once; the report shows when it is done.
func TestKeystrokeWhileAReportIsComputed(t *testing.T) {
	an := newBlockingAnalyzer(doneScript())
	h := newHarness(t, 120, 40, nil, func(c *Config) {
		c.Service = manualService(t, live.Options{NewAnalyzer: func(analysis.Options) analyzer { return an }})
	})
	handled := make(chan uint64, 1)
	go func() {
		h.m.Update(updates(recorder.Completed, handshake()...))
		<-an.entered // the report is being computed
		h.m.Update(keyMsg("k"))
		handled <- h.selectedID()
	}()
	select {
	case id := <-handled:
		if id != 10 {
			t.Errorf("k selected #%d, want #10", id)
		}
	case <-time.After(20 * time.Second): // a hang guard, not a measure: the old Update waited for ever here
		close(an.release)
		t.Fatal("the keystroke waited for the analysis' report")
	}
	if !an.inReport.Load() {
		t.Fatal("the report was not being computed while the key was handled")
	}
	if s := h.screen(); !strings.Contains(s, "not grouped by the analysis yet") {
		t.Errorf("before the report, the tracker should show the stand-in:\n%s", s)
	}
	close(an.release)
	h.settle()
	if s := h.screen(); !strings.Contains(s, "Connections 1") || strings.Contains(s, "not grouped") || !strings.Contains(s, "claude-ai 0.1.0") {
		t.Errorf("the finished report is not shown:\n%s", s)
	}
}

// answer applies the service's messages until it has said it observed every job handed to it (a report it owes on
// a tick is not waited for); it returns the last message.
func (h *harness) answer() analysisMsg {
	h.t.Helper()
	var last analysisMsg
	for h.m.anAcked < h.m.anSent {
		msg, ok := nextAnalysis(h.m, 30*time.Second)
		if !ok {
			h.t.Fatal("the analysis service did not answer")
		}
		last = msg
		h.m.Update(msg)
	}
	return last
}

func numbered(from uint64, n int) []*recorder.Exchange {
	tmpl := handshake()
	out := make([]*recorder.Exchange, n)
	for i := range out {
		ex := *tmpl[int(from+uint64(i))%len(tmpl)]
		ex.ID = from + uint64(i)
		out[i] = &ex
	}
	return out
}

// TestReportThrottledBeyondReportNowUpTo: up to reportNowUpTo exchanges every batch brings a report; beyond, the
// service says at once what it observed (stage, connection) and owes the report until its tick.
func TestReportThrottledBeyondReportNowUpTo(t *testing.T) {
	const reportNowUpTo = live.ReportNowUpTo
	const n = reportNowUpTo + 1000
	h := newHarness(t, 120, 40, nil, func(c *Config) {
		c.Limits = recorder.StoreOptions{MaxCount: n}
		c.Service = manualService(t, live.Options{NewAnalyzer: doneScript().analyzer, MinReportEvery: time.Hour})
	})
	h.m.Update(updates(recorder.Completed, numbered(1, reportNowUpTo)...))
	if msg := h.answer(); msg.view == nil || msg.pending {
		t.Fatalf("%d exchanges: report %v, pending %v", reportNowUpTo, msg.view != nil, msg.pending)
	}
	h.m.Update(updates(recorder.Completed, numbered(reportNowUpTo+1, 1000)...))
	if msg := h.answer(); msg.view != nil || !msg.pending || len(msg.infos) != 1000 {
		t.Fatalf("beyond: report %v, pending %v, %d infos", msg.view != nil, msg.pending, len(msg.infos))
	}
	if r := h.m.flow.get(n); r == nil || h.m.flow.connOf(r) != "claude-1" {
		t.Fatalf("the newest exchange's connection is not known from the infos")
	}
}

// genAnalyzer names its single connection after its generation (how many analyzers were made before it).
type genAnalyzer struct {
	gen int
	exs map[uint64]*recorder.Exchange
}

func (a *genAnalyzer) Observe(ex *recorder.Exchange) { a.exs[ex.ID] = ex }
func (a *genAnalyzer) Forget(below uint64) {
	maps.DeleteFunc(a.exs, func(id uint64, _ *recorder.Exchange) bool { return id < below })
}
func (a *genAnalyzer) Info(id uint64) analysis.Info {
	if ex := a.exs[id]; ex != nil {
		return analysis.Info{Stage: analysis.StageOf(ex, "/mcp"), Client: analysis.ClientClaude, Connection: a.conn()}
	}
	return analysis.Info{}
}
func (a *genAnalyzer) conn() string { return fmt.Sprintf("gen%d", a.gen) }
func (a *genAnalyzer) Report() *analysis.Report {
	if len(a.exs) == 0 {
		return &analysis.Report{}
	}
	return &analysis.Report{Connections: []*analysis.Connection{{ID: a.conn(), Client: analysis.ClientClaude}}}
}

// TestAnalyzerForgetsWhatIsEvicted: the analysis holds exactly the exchanges the data holds — it is told to forget
// what the data evicts, and is never started afresh (before, it was rebuilt from what was held once half as many
// had been evicted, and held up to 1.5 times as many).
func TestAnalyzerForgetsWhatIsEvicted(t *testing.T) {
	const maxCount = live.InfoChunk + 1000
	gens := 0
	var an *genAnalyzer // the service's analyzer, the latest it made
	h := newHarness(t, 120, 40, nil, func(c *Config) {
		c.Limits = recorder.StoreOptions{MaxCount: maxCount}
		c.Service = manualService(t, live.Options{NewAnalyzer: func(analysis.Options) analyzer {
			gens++
			an = &genAnalyzer{gen: gens, exs: map[uint64]*recorder.Exchange{}}
			return an
		}})
	})
	next := uint64(1)
	for range 8 {
		h.feed(recorder.Completed, numbered(next, maxCount/2)...)
		next += maxCount / 2
		d := h.m.flow
		if got, held := len(an.exs), d.len(); got != held {
			t.Fatalf("the analyzer holds %d exchanges, the data %d", got, held)
		}
		// The service holds exactly what the data holds: it analyses every row, and none of those evicted.
		var rows []uint64
		for _, r := range d.rows {
			rows = append(rows, r.id)
		}
		asked := make([]uint64, 0, next)
		for id := uint64(1); id < next; id++ {
			asked = append(asked, id)
		}
		a, err := h.m.an.Analysed(asked)
		if err != nil {
			t.Fatal(err)
		}
		var held2 []uint64
		for id := range a.Infos {
			held2 = append(held2, id)
		}
		slices.Sort(held2)
		if !slices.Equal(rows, held2) {
			t.Fatalf("the service holds %d exchanges, the data %d from #%d", len(held2), len(rows), rows[0])
		}
	}
	d := h.m.flow
	if n := h.m.an.Analyzers(); n != 1 || gens != 1 {
		t.Fatalf("%d analyzers made", gens)
	}
	want := an.conn()
	for i := range d.rows {
		if got := d.connOf(&d.rows[i]); got != want {
			t.Fatalf("#%d is in connection %q, want %q", d.rows[i].id, got, want)
		}
	}
	if len(d.connList) != 1 || d.connList[0].ID != want {
		t.Fatalf("the tracker shows %d connections", len(d.connList))
	}
}

// TestClearDropsTheOldAnalysis: what the service says of exchanges from before a clear is not taken.
func TestClearDropsTheOldAnalysis(t *testing.T) {
	h := newHarness(t, 120, 40, doneScript())
	h.m.Update(updates(recorder.Completed, handshake()...))
	h.m.Update(keyMsg("x"))
	h.settle()
	d := h.m.flow
	if d.len() != 0 || len(d.report.Connections) != 0 || len(d.connList) != 0 || d.connIdx["claude-1"] != 0 {
		t.Fatalf("after the clear: %d rows, %d connections in the report, %d in the tracker", d.len(), len(d.report.Connections), len(d.connList))
	}
	h.feed(recorder.Completed, numbered(20, 3)...)
	if len(d.report.Connections) != 1 || len(d.report.Connections[0].Exchanges) != 3 {
		t.Fatalf("after the clear, the analysis holds %+v", d.report.Connections)
	}
}

// TestAnalysisPump: the program's pump brings the service's messages; Update asks for the next.
func TestAnalysisPump(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{})
	for _, ex := range handshake() {
		store.Add(ex)
	}
	svc := live.New(live.Options{NewAnalyzer: doneScript().analyzer})
	defer svc.Close()
	m, err := New(Config{Store: store, Theme: "dark", Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	m.inProgram = true // as Run runs it
	pump := waitForAnalysis(m.anSub)
	for len(m.flow.report.Connections) == 0 {
		msg, ok := pump().(analysisMsg)
		if !ok {
			t.Fatal("the pump brought no analysisMsg")
		}
		_, pump = m.Update(msg)
		if pump == nil {
			t.Fatal("Update did not ask for the next message")
		}
	}
	m.Close()
	if msg := pump(); msg != nil {
		t.Fatalf("after Close the pump brought %T", msg)
	}
	// Init starts it (with the service the TUI makes itself when it is given none).
	m2, err := New(Config{Store: store, Theme: "dark"})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	m2.inProgram = true // as Run runs it
	found := false
	for _, c := range m2.Init()().(tea.BatchMsg) {
		ch := make(chan tea.Msg, 1)
		go func() { ch <- c() }()
		select {
		case msg := <-ch:
			_, found = msg.(analysisMsg)
		case <-time.After(100 * time.Millisecond): // other commands wait for updates, ticks
		}
		if found {
			break
		}
	}
	if !found {
		t.Fatal("Init does not start the analysis' pump")
	}
}

// TestFindingsOfAnExchange: the detail shows the report's findings of the exchange, and those the analysis named
// when it observed it, once each.
func TestFindingsOfAnExchange(t *testing.T) {
	f := func(rule string, ex uint64) analysis.Finding {
		return analysis.Finding{Rule: rule, ExchangeID: ex, Severity: analysis.SeverityWarn}
	}
	d := newFlowView(recorder.StoreOptions{}, analysis.Options{})
	d.setView(newView(&analysis.Report{Findings: []analysis.Finding{f("a", 1), f("b", 2), f("c", 1), f("d", 3), f("e", 1)}}))
	d.infoFindings[1] = []analysis.Finding{f("c", 1), f("z", 9)}
	var got []string
	for _, g := range d.findingsOf(1) {
		got = append(got, g.Rule)
	}
	if !slices.Equal(got, []string{"a", "c", "e", "z"}) {
		t.Fatalf("findings of #1: %v", got)
	}
	if m := d.exFinding[1]; m.n != 3 || m.first != 0 || d.exFinding[3].first != 3 {
		t.Fatalf("marks: %+v %+v", m, d.exFinding[3])
	}
}
