package tui

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
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
	h := newHarness(t, 120, 40, nil, func(c *Config) { c.newAnalyzer = func(analysis.Options) analyzer { return an } })
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

// answer applies the worker's messages until it has said it observed every job handed to it (a report it owes on
// a tick is not waited for); it returns the last message.
func (h *harness) answer() analysisMsg {
	h.t.Helper()
	var last analysisMsg
	for h.m.anAcked < h.m.anSent {
		select {
		case last = <-h.m.worker.out:
			h.m.Update(last)
		case <-time.After(30 * time.Second):
			h.t.Fatal("the analysis worker did not answer")
		}
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
// worker says at once what it observed (stage, connection) and owes the report until its tick.
func TestReportThrottledBeyondReportNowUpTo(t *testing.T) {
	const n = reportNowUpTo + 1000
	h := newHarness(t, 120, 40, doneScript(), func(c *Config) {
		c.Limits = recorder.StoreOptions{MaxCount: n}
		c.minReportEvery = time.Hour
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

// TestAnalyzerRebuiltFromWhatIsHeld: the analysis never holds more than the exchanges the data holds and half as
// many again (at least rebuildMin): it is started afresh from what is held; every exchange held is then told
// what the new analysis says of it, in chunks.
func TestAnalyzerRebuiltFromWhatIsHeld(t *testing.T) {
	const maxCount = infoChunk + 1000
	gens := 0
	h := newHarness(t, 120, 40, nil, func(c *Config) {
		c.Limits = recorder.StoreOptions{MaxCount: maxCount}
		c.newAnalyzer = func(analysis.Options) analyzer {
			gens++
			return &genAnalyzer{gen: gens, exs: map[uint64]*recorder.Exchange{}}
		}
	})
	next := uint64(1)
	for range 8 {
		h.feed(recorder.Completed, numbered(next, maxCount/2)...)
		next += maxCount / 2
		w, d := h.m.worker, h.m.flow
		held := d.len()
		if got := len(w.an.(*genAnalyzer).exs); got > held+max(held/2, rebuildMin) {
			t.Fatalf("the analyzer holds %d exchanges, the data %d", got, held)
		}
		var rows, live []uint64
		for _, r := range d.rows {
			rows = append(rows, r.ex.ID)
		}
		for _, ex := range w.live {
			live = append(live, ex.ID)
		}
		if !slices.Equal(rows, live) {
			t.Fatalf("the worker holds %d exchanges from #%d, the data %d from #%d", len(live), live[0], len(rows), rows[0])
		}
	}
	w, d := h.m.worker, h.m.flow
	if w.rebuilds == 0 {
		t.Fatal("the analyzer was never rebuilt")
	}
	want := w.an.(*genAnalyzer).conn()
	for i := range d.rows {
		if got := d.connOf(&d.rows[i]); got != want {
			t.Fatalf("#%d is in connection %q after the rebuild, want %q", d.rows[i].ex.ID, got, want)
		}
	}
	if len(d.connList) != 1 || d.connList[0].ID != want {
		t.Fatalf("the tracker shows %d connections", len(d.connList))
	}
}

// TestClearDropsTheOldAnalysis: what the worker says of exchanges from before a clear is not taken.
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

// TestAnalysisPump: the program's pump brings the worker's messages; Update asks for the next.
func TestAnalysisPump(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{})
	for _, ex := range handshake() {
		store.Add(ex)
	}
	m, err := New(Config{Store: store, Theme: "dark", newAnalyzer: doneScript().analyzer})
	if err != nil {
		t.Fatal(err)
	}
	pump := waitForAnalysis(m.worker)
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
	// Init starts it.
	m2, err := New(Config{Store: store, Theme: "dark"})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
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

// TestCoalesce: a queue the worker has fallen behind on is coalesced into the latest snapshot of each exchange
// still held, from the last epoch.
func TestCoalesce(t *testing.T) {
	ex := func(id uint64, state string) *recorder.Exchange {
		return &recorder.Exchange{ID: id, State: state}
	}
	a1, a2, b2, c2, d3 := ex(1, "a"), ex(2, "a"), ex(2, "b"), ex(2, "c"), ex(3, "a")
	q := []analysisJob{
		{epoch: 1, seq: 1, exs: []*recorder.Exchange{a1}},
		{epoch: 2, seq: 2, exs: []*recorder.Exchange{a2, ex(1, "z")}, from: 1},
		{epoch: 2, seq: 3, exs: []*recorder.Exchange{b2, d3}, from: 2, force: true},
		{epoch: 2, seq: 4, exs: []*recorder.Exchange{c2}, from: 2},
	}
	got := coalesce(q)
	if len(got) != 1 {
		t.Fatalf("%d jobs", len(got))
	}
	j := got[0]
	if j.epoch != 2 || j.seq != 4 || j.from != 2 || !j.force || !slices.Equal(j.exs, []*recorder.Exchange{c2, d3}) {
		t.Fatalf("coalesced: epoch %d seq %d from %d force %v exs %v", j.epoch, j.seq, j.from, j.force, j.exs)
	}
	// The worker's queue coalesces itself once it holds more than queueMax snapshots.
	w := &analysisWorker{wake: make(chan struct{}, 1)}
	for i := range queueMax + 10 {
		w.push(analysisJob{epoch: 1, seq: uint64(i + 1), exs: []*recorder.Exchange{ex(7, fmt.Sprint(i))}, from: 1})
	}
	if len(w.queue) > 10 || w.queued > 10 {
		t.Fatalf("the queue holds %d jobs, %d snapshots", len(w.queue), w.queued)
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

// In a live session, a rule about something that never happened (a code never exchanged) is judged by the wall
// clock: the finding shows once its grace has passed, with nothing else arriving.
func TestAbsenceJudgedByTheClockWhileIdle(t *testing.T) {
	res, err := recorder.LoadCapture(filepath.Join("..", "recorder", "analysis", "testdata", "authorize-no-token.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	last := res.Exchanges[len(res.Exchanges)-1]
	var mu sync.Mutex
	now := last.Start.Add(time.Second)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	w := &analysisWorker{newAn: realAnalyzer, minEvery: time.Millisecond, every: time.Millisecond, clock: clock, judgeEvery: 5 * time.Millisecond,
		wake: make(chan struct{}, 1), out: make(chan analysisMsg), done: make(chan struct{}), exited: make(chan struct{}),
		changed: map[uint64]struct{}{}}
	go w.run()
	defer w.close()
	w.push(analysisJob{epoch: 1, seq: 1, exs: res.Exchanges})
	has := func(v *analysisView) bool {
		for _, f := range v.report.Findings {
			if f.Rule == "authorize-no-token" {
				return true
			}
		}
		return false
	}
	var first *analysisView
	for first == nil {
		select {
		case msg := <-w.out:
			first = msg.view
		case <-time.After(10 * time.Second):
			t.Fatal("no report")
		}
	}
	if has(first) {
		t.Fatal("authorize-no-token before its grace passed")
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case msg := <-w.out:
			if msg.view != nil && has(msg.view) {
				return
			}
		case <-deadline:
			t.Fatal("the clock moved past the grace and nothing arrived: no authorize-no-token finding")
		}
	}
}

// A saved capture (no clock) is judged as the live session judged it once the grace had passed: the code never
// exchanged is a finding, as `mcpwatch open --no-tui` and export say.
func TestSavedCaptureJudgedAtItsEnd(t *testing.T) {
	res, err := recorder.LoadCapture(filepath.Join("..", "recorder", "analysis", "testdata", "authorize-no-token.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	w := &analysisWorker{newAn: realAnalyzer, minEvery: time.Millisecond, every: time.Millisecond,
		wake: make(chan struct{}, 1), out: make(chan analysisMsg), done: make(chan struct{}), exited: make(chan struct{}),
		changed: map[uint64]struct{}{}}
	go w.run()
	defer w.close()
	w.push(analysisJob{epoch: 1, seq: 1, exs: res.Exchanges})
	select {
	case msg := <-w.out:
		for _, f := range msg.view.report.Findings {
			if f.Rule == "authorize-no-token" {
				return
			}
		}
		t.Fatalf("findings of the saved capture: %+v", msg.view.report.Findings)
	case <-time.After(10 * time.Second):
		t.Fatal("no report")
	}
}

// While nothing arrives and the clock changes nothing, the worker says nothing: the UI does not filter and draw
// again every judgeEvery for an unchanged report.
func TestIdleClockPublishesOnlyChanges(t *testing.T) {
	res, err := recorder.LoadCapture(filepath.Join("..", "recorder", "analysis", "testdata", "claude-web-legacy.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	last := res.Exchanges[len(res.Exchanges)-1]
	w := &analysisWorker{newAn: realAnalyzer, minEvery: time.Millisecond, every: time.Millisecond,
		clock: func() time.Time { return last.Start.Add(time.Second) }, judgeEvery: 2 * time.Millisecond,
		wake: make(chan struct{}, 1), out: make(chan analysisMsg), done: make(chan struct{}), exited: make(chan struct{}),
		changed: map[uint64]struct{}{}}
	go w.run()
	defer w.close()
	w.push(analysisJob{epoch: 1, seq: 1, exs: res.Exchanges})
	for got := false; !got; {
		select {
		case msg := <-w.out:
			got = msg.view != nil
		case <-time.After(10 * time.Second):
			t.Fatal("no report")
		}
	}
	select {
	case msg := <-w.out:
		t.Fatalf("a message while idle with nothing new (view %v)", msg.view != nil)
	case <-time.After(100 * time.Millisecond): // 50 ticks of the clock
	}
}
