package tui

import (
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// The TUI's cost with a full store (recorder.StoreOptions' default MaxCount, 100,000 exchanges):
//
//	go test ./tui -run '^$' -bench . -benchmem
//
// View renders a whole frame; the keystroke benchmarks run Update with one key press, as the program does. The
// analysis is the one in recorder/analysis (its own cost is its package's to measure); it runs on the analysis
// service, which has caught up before a benchmark starts, unless the benchmark says otherwise.

const benchN = 100000

// benchStore fills a store with n exchanges: the handshake's, over and over, each run a client of its own (its
// own client id, token and session, a second apart). With distinct, every URL is different as well (a query
// parameter counts up), which is the filter's worst case: no two exchanges share the text it searches.
func benchStore(n int, distinct bool) *recorder.Store {
	store := recorder.NewStore(recorder.StoreOptions{})
	for i := range n {
		store.Add(benchExchange(i, distinct))
	}
	return store
}

// benchExchange is the i-th exchange of benchStore.
func benchExchange(i int, distinct bool) *recorder.Exchange {
	tmpl := benchTemplate
	run := itoa(i / len(tmpl))
	ex := *tmpl[i%len(tmpl)]
	ex.Start = t0.Add(time.Duration(i/len(tmpl))*time.Second + time.Duration(i%len(tmpl))*time.Millisecond)
	r := strings.NewReplacer("c_7Hq2", "c_"+run, "at_…", "at_"+run, "rt_…", "rt_"+run, sessionID, "s"+run)
	ex.URL = r.Replace(ex.URL)
	ex.ReqHeaders = replaceHeaders(ex.ReqHeaders, r)
	ex.RespHeaders = replaceHeaders(ex.RespHeaders, r)
	ex.ReqBody.Data = []byte(r.Replace(string(ex.ReqBody.Data)))
	ex.RespBody.Data = []byte(r.Replace(string(ex.RespBody.Data)))
	if distinct {
		ex.URL += "?n=" + itoa(i+1)
	}
	return &ex
}

var benchTemplate = handshake()

func replaceHeaders(hs recorder.Headers, r *strings.Replacer) recorder.Headers {
	out := make(recorder.Headers, len(hs))
	for i, h := range hs {
		out[i] = recorder.Header{Name: h.Name, Value: r.Replace(h.Value)}
	}
	return out
}

func benchModel(b *testing.B, store *recorder.Store, w, h int, opts ...func(*Config)) *Model {
	b.Helper()
	cfg := Config{Store: store, Version: "dev", ListenURL: "http://127.0.0.1:4000",
		ConnectorURL: "http://127.0.0.1:4000/mcp", Theme: "dark"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Service == nil {
		cfg.Service = manualService(b, live.Options{})
	}
	m, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	if m.flow.len() != benchN {
		b.Fatalf("%d exchanges loaded", m.flow.len())
	}
	benchSettle(b, m)
	return m
}

// benchSettle applies the analysis service's messages until it has answered everything (as the program's pump
// would).
func benchSettle(b *testing.B, m *Model) {
	b.Helper()
	for m.analysisOwed() {
		msg, ok := nextAnalysis(m, 2*time.Minute)
		if !ok {
			b.Fatal("the analysis service did not answer")
		}
		m.Update(msg)
	}
}

// benchCaughtUp applies the service's messages until it has observed every job handed to it (a report it owes on
// its tick is not waited for).
func benchCaughtUp(b *testing.B, m *Model) {
	b.Helper()
	for m.anAcked < m.anSent {
		msg, ok := nextAnalysis(m, 2*time.Minute)
		if !ok {
			b.Fatal("the analysis service did not answer")
		}
		m.Update(msg)
	}
}

// benchReady applies the service's messages that are ready, without waiting.
func benchReady(m *Model) {
	for {
		msg, ok := readyAnalysis(m)
		if !ok {
			return
		}
		m.Update(msg)
	}
}

var benchStores = map[bool]*recorder.Store{}

func sharedStore() *recorder.Store { return sharedStoreOf(false) }

func sharedStoreOf(distinct bool) *recorder.Store {
	if benchStores[distinct] == nil {
		benchStores[distinct] = benchStore(benchN, distinct)
	}
	return benchStores[distinct]
}

func BenchmarkView(b *testing.B) {
	for _, sz := range [][2]int{{80, 24}, {160, 48}} {
		b.Run(sizeName(sz), func(b *testing.B) {
			m := benchModel(b, sharedStore(), sz[0], sz[1])
			m.Update(keyMsg("g"))
			for range benchN / 2 / 100 {
				m.Update(keyMsg("pgdown")) // somewhere in the middle
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}

func BenchmarkKeyDown(b *testing.B) {
	m := benchModel(b, sharedStore(), 160, 48)
	m.Update(keyMsg("g"))
	for range 500 {
		m.Update(keyMsg("pgdown"))
	}
	keys := []tea.KeyPressMsg{keyMsg("j"), keyMsg("k")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Update(keys[i&1])
		i++
	}
}

// BenchmarkKeyDownAndView is what a held-down j costs: the keystroke and the frame after it.
func BenchmarkKeyDownAndView(b *testing.B) {
	m := benchModel(b, sharedStore(), 160, 48)
	m.Update(keyMsg("g"))
	keys := []tea.KeyPressMsg{keyMsg("j"), keyMsg("k")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Update(keys[i&1])
		_ = m.View()
		i++
	}
}

// BenchmarkFilterKeystroke types one character into the filter over 100,000 exchanges. "first" is the first
// character (every exchange is searched), "widen" deletes one from "status:2xx tools/list" (every exchange is
// searched again), "backspace-cached" is the same with the data unchanged since that filter was last shown (its
// result is kept), "narrow" adds one (only the previous matches are searched). shared-urls: the exchanges share their URLs (as MCP
// traffic does: POST /mcp); distinct-urls: no two URLs are alike.
func BenchmarkFilterKeystroke(b *testing.B) {
	for _, distinct := range []bool{false, true} {
		name := "shared-urls"
		if distinct {
			name = "distinct-urls"
		}
		b.Run(name, func(b *testing.B) { benchFilter(b, sharedStoreOf(distinct)) })
	}
}

func benchFilter(b *testing.B, store *recorder.Store) {
	b.Run("first", func(b *testing.B) {
		m := benchModel(b, store, 160, 48)
		m.Update(keyMsg("/"))
		b.ReportAllocs()
		for b.Loop() {
			m.Update(keyMsg("t"))
			b.StopTimer()
			m.Update(tea.KeyPressMsg{Code: tea.KeyBackspace})
			m.flow.version++ // as new traffic does: the filter cache no longer holds
			b.StartTimer()
		}
		if m.flow.filter.src != "" {
			b.Fatalf("filter %q", m.flow.filter.src)
		}
	})
	b.Run("widen", func(b *testing.B) {
		m := benchModel(b, store, 160, 48)
		m.Update(keyMsg("/"))
		for _, r := range "status:2xx tools/list" {
			m.Update(keyMsg(string(r)))
		}
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			m.flow.version++ // the filter cache no longer holds: every exchange is searched
			b.StartTimer()
			m.Update(tea.KeyPressMsg{Code: tea.KeyBackspace})
			b.StopTimer()
			m.Update(keyMsg("t"))
			b.StartTimer()
		}
	})
	b.Run("backspace-cached", func(b *testing.B) {
		m := benchModel(b, store, 160, 48)
		m.Update(keyMsg("/"))
		for _, r := range "status:2xx tools/list" {
			m.Update(keyMsg(string(r)))
		}
		b.ReportAllocs()
		for b.Loop() {
			m.Update(tea.KeyPressMsg{Code: tea.KeyBackspace})
			b.StopTimer()
			m.Update(keyMsg("t"))
			b.StartTimer()
		}
	})
	b.Run("narrow", func(b *testing.B) {
		m := benchModel(b, store, 160, 48)
		m.Update(keyMsg("/"))
		for _, r := range "status:2xx tools/lis" {
			m.Update(keyMsg(string(r)))
		}
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			m.flow.version++
			b.StartTimer()
			m.Update(keyMsg("t"))
			b.StopTimer()
			m.Update(tea.KeyPressMsg{Code: tea.KeyBackspace})
			b.StartTimer()
		}
		if m.flow.visible() == 0 {
			b.Fatal("the filter matches nothing")
		}
	})
}

// BenchmarkArrivals applies a batch of 100 new exchanges to a full model (the oldest are evicted, as the store
// does) and whatever the analysis service has answered meanwhile, then renders. The service observes them beside
// (on the second core).
func BenchmarkArrivals(b *testing.B) {
	m := benchModel(b, sharedStore(), 160, 48)
	tmpl := handshake()
	next := uint64(benchN + 1)
	batch := make([]recorder.Update, 100)
	// The arrivals are the benchmark's, not the store's: the detail pane (which follows the newest) finds them in
	// the batch, as it would in the store.
	m.ctx.exchange = func(id uint64) *recorder.Exchange {
		if first := batch[0].Exchange; first != nil && id >= first.ID && id-first.ID < uint64(len(batch)) {
			return batch[id-first.ID].Exchange
		}
		return sharedStore().Get(id)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			ex := *tmpl[int(next)%len(tmpl)]
			ex.ID = next
			next++
			batch[i] = recorder.Update{Kind: recorder.Completed, Exchange: &ex}
		}
		m.Update(updatesMsg{updates: batch})
		benchReady(m)
		_ = m.View()
	}
	if m.flow.len() != benchN {
		b.Fatalf("held %d, want %d", m.flow.len(), benchN)
	}
}

// heapNow is the live heap after a collection.
func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkMemory reports what a full store and the TUI hold, and that it stays so through a long session:
//
//	store-MB             the store's 100,000 exchanges
//	tui-B/exchange       the model's own (its rows, row-B each, and their interned texts and hays), with an
//	                     analysis that keeps nothing; the rows keep no record of the store's (ids, not pointers)
//	row-B                a row's size
//	analysis-B/exchange  what the analysis adds once it has observed the 100,000 (the service, the analyzer, the
//	                     report and its maps)
//	total-MB             store, TUI and analysis, the most seen while two stores' worth more arrived (the store
//	                     evicting, the analysis forgetting what it evicts), sampled every 10,000 arrivals
func BenchmarkMemory(b *testing.B) {
	for b.Loop() {
		base := heapNow()
		store := benchStore(benchN, false)
		withStore := heapNow()
		nop := live.New(live.Options{NewAnalyzer: func(analysis.Options) analyzer { return nopAnalyzer{} }})
		tuiOnly, err := New(Config{Store: store, Theme: "dark", Service: nop})
		if err != nil {
			b.Fatal(err)
		}
		benchSettle(b, tuiOnly)
		withTUI := heapNow()
		tuiOnly.Close()
		nop.Close()
		tuiOnly, nop = nil, nil
		afterTUI := heapNow()
		m := benchModel(b, store, 160, 48)
		withModel := heapNow()

		peak := withModel
		for i := range 2 * benchN {
			store.Add(benchExchange(benchN+i, false))
			if (i+1)%1000 != 0 {
				continue
			}
			m.Update(waitForUpdates(m.sub)()) // 2,000 updates: within the subscription's buffer
			benchReady(m)
			if (i+1)%10000 == 0 {
				benchCaughtUp(b, m)
				peak = max(peak, heapNow())
			}
		}
		if m.flow.dropped > 0 || m.flow.len() != benchN {
			b.Fatalf("dropped %d, held %d", m.flow.dropped, m.flow.len())
		}
		b.ReportMetric(float64(withStore-base)/1e6, "store-MB")
		b.ReportMetric(float64(withTUI-withStore)/benchN, "tui-B/exchange")
		b.ReportMetric(float64(unsafe.Sizeof(row{})), "row-B")
		b.ReportMetric((float64(withModel-afterTUI)-float64(withTUI-withStore))/benchN, "analysis-B/exchange")
		b.ReportMetric(float64(peak-base)/1e6, "total-MB")
		b.ReportMetric(float64(m.an.Analyzers()-1), "rebuilds") // analyzers made beyond the first
		runtime.KeepAlive(m)
		runtime.KeepAlive(store)
	}
}

// nopAnalyzer keeps nothing (to tell the TUI's memory from the analysis').
type nopAnalyzer struct{}

func (nopAnalyzer) Observe(*recorder.Exchange) {}
func (nopAnalyzer) Info(uint64) analysis.Info  { return analysis.Info{} }
func (nopAnalyzer) Report() *analysis.Report   { return &analysis.Report{} }

// benchAnalysis is the real analysis of the shared store's 100,000 exchanges.
func benchAnalysis() *analysis.Analyzer {
	an := analysis.New(analysis.Options{})
	for _, ex := range sharedStore().Snapshot() {
		an.Observe(ex)
	}
	return an
}

// BenchmarkReport is what a report with 100,000 exchanges costs off the UI (the service takes the
// analysis' Report, the TUI's pump builds the maps the panes look things up in).
func BenchmarkReport(b *testing.B) {
	an := benchAnalysis()
	b.ReportAllocs()
	for b.Loop() {
		_ = newView(an.Report())
	}
}

// BenchmarkTakeReport is what Update spends on a finished report with 100,000 exchanges: swapping it in, and
// what follows it (the tracker's connections, the list's marks).
func BenchmarkTakeReport(b *testing.B) {
	m := benchModel(b, sharedStore(), 160, 48)
	an := benchAnalysis()
	views := []*analysisView{newView(an.Report()), newView(analysis.Analyze(sharedStore().Snapshot(), analysis.Options{}))}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Update(analysisMsg{epoch: m.flow.anEpoch, seq: m.anAcked, view: views[i&1]})
		i++
	}
}

// reportingAnalyzer says when a report is being computed.
type reportingAnalyzer struct {
	*analysis.Analyzer
	busy    atomic.Bool
	reports atomic.Int64
}

func (a *reportingAnalyzer) Report() *analysis.Report {
	a.busy.Store(true)
	defer a.busy.Store(false)
	a.reports.Add(1)
	return a.Analyzer.Report()
}

// BenchmarkKeyDuringReport is a keystroke (j/k, Update) with 100,000 exchanges while the analysis service computes
// one report after another (as it would if every moment brought arrivals and nothing throttled it): the service
// takes the other core. in-report-% is the share of keystrokes that began while a report was being computed.
func BenchmarkKeyDuringReport(b *testing.B) {
	var an *reportingAnalyzer
	m := benchModel(b, sharedStore(), 160, 48, func(c *Config) {
		c.Service = manualService(b, live.Options{NewAnalyzer: func(o analysis.Options) analyzer {
			an = &reportingAnalyzer{Analyzer: analysis.New(o)}
			return an
		}})
	})
	w, sub := m.an, m.anSub
	job := live.Batch{Epoch: m.flow.anEpoch, From: m.flow.heldFrom(), Force: true}
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() { // takes the service's reports and asks for the next at once
		defer close(drained)
		for {
			w.Push(job)
			for taken := false; !taken; {
				select {
				case <-sub.Ready():
					_, taken = sub.Take()
				case <-stop:
					return
				}
			}
		}
	}()
	for an.reports.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	m.Update(keyMsg("g"))
	for range 500 {
		m.Update(keyMsg("pgdown"))
	}
	keys := []tea.KeyPressMsg{keyMsg("j"), keyMsg("k")}
	b.ReportAllocs()
	i, during := 0, 0
	for b.Loop() {
		if an.busy.Load() {
			during++
		}
		m.Update(keys[i&1])
		i++
	}
	b.ReportMetric(100*float64(during)/float64(max(i, 1)), "in-report-%")
	close(stop)
	<-drained
}

func sizeName(sz [2]int) string {
	return itoa(sz[0]) + "x" + itoa(sz[1])
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// BenchmarkManyConnections: a long session's report, 1,000 connections and 10,000 findings, costs a keystroke
// and a frame what is in view, not what the report holds.
func BenchmarkManyConnections(b *testing.B) {
	s := &script{stages: oauthStages}
	for i := range 1000 {
		c := claudeConn(fullStages(analysis.StatusOK)...)
		c.ID = "c" + itoa(i)
		s.conns = append(s.conns, c)
	}
	for i := range 10000 {
		s.findings = append(s.findings, analysis.Finding{Rule: "r", Severity: analysis.SeverityWarn, Summary: "something",
			ExchangeID: uint64(i%1000 + 1)})
	}
	s.connOf = func(ex *recorder.Exchange) string { return "c" + itoa(int(ex.ID%1000)) }
	store := benchStore(10000, false)
	m, err := New(Config{Store: store, Theme: "dark", Service: manualService(b, live.Options{NewAnalyzer: s.analyzer})})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	benchSettle(b, m)
	if len(m.flow.connList) != 1000 || len(m.flow.report.Findings) != 10000 {
		b.Fatalf("%d connections, %d findings", len(m.flow.connList), len(m.flow.report.Findings))
	}
	m.Update(keyMsg("tab"))
	m.Update(keyMsg("tab")) // the tracker
	keys := []tea.KeyPressMsg{keyMsg("k"), keyMsg("j")}
	b.Run("tracker", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m.Update(keys[i&1])
			_ = m.View()
			i++
		}
	})
	m.Update(keyMsg("f"))
	m.Update(keyMsg("G"))
	b.Run("findings", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m.Update(keys[i&1])
			_ = m.View()
			i++
		}
	})
}

// BenchmarkFilterPass is one full filter pass ("widen": every row searched again) over a flow view of n rows,
// the rows' window lifted: what the list's window (MaxRows) spares a keystroke. At 1,000,000 rows — the store's
// count bound — a pass takes about ten times what it takes at 100,000, past the 5 ms a keystroke may take; the
// list keeps the newest MaxRows.
func BenchmarkFilterPass(b *testing.B) {
	for _, n := range []int{MaxRows, 10 * MaxRows} {
		b.Run(itoa(n/1000)+"k", func(b *testing.B) {
			d := newFlowView(recorder.StoreOptions{}, analysis.Options{})
			d.limits.MaxCount = n
			var fed []*recorder.Exchange
			for i := range n {
				ex := benchExchange(i, false)
				ex.ID = uint64(i + 1)
				d.put(ex, &fed)
				fed = fed[:0]
			}
			f, err := parseFilter("status:2xx tools/list")
			if err != nil {
				b.Fatal(err)
			}
			d.setFilter(f)
			if d.len() != n || d.visible() == 0 {
				b.Fatalf("%d rows, %d visible", d.len(), d.visible())
			}
			b.ReportAllocs()
			for b.Loop() {
				d.version++ // the filter cache no longer holds: every row is searched
				d.refilter()
			}
		})
	}
}
