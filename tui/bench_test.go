package tui

import (
	"runtime"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// The TUI's cost with a full store (recorder.StoreOptions' default MaxCount, 100,000 exchanges):
//
//	go test ./tui -run '^$' -bench . -benchmem
//
// View renders a whole frame; the keystroke benchmarks run Update with one key press, as the program does. The
// analysis is the one in recorder/analysis (its own cost is its package's to measure).

const benchN = 100000

// benchStore fills a store with n exchanges: the handshake's, over and over, each run a client of its own (its
// own client id, token and session, a second apart). With distinct, every URL is different as well (a query
// parameter counts up), which is the filter's worst case: no two exchanges share the text it searches.
func benchStore(n int, distinct bool) *recorder.Store {
	store := recorder.NewStore(recorder.StoreOptions{})
	tmpl := handshake()
	for i := range n {
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
		store.Add(&ex)
	}
	return store
}

func replaceHeaders(hs recorder.Headers, r *strings.Replacer) recorder.Headers {
	out := make(recorder.Headers, len(hs))
	for i, h := range hs {
		out[i] = recorder.Header{Name: h.Name, Value: r.Replace(h.Value)}
	}
	return out
}

func benchModel(b *testing.B, store *recorder.Store, w, h int) *Model {
	b.Helper()
	m, err := New(Config{Store: store, Version: "dev", ListenURL: "http://127.0.0.1:4000",
		ConnectorURL: "http://127.0.0.1:4000/mcp", Theme: "dark"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	if m.data.len() != benchN {
		b.Fatalf("%d exchanges loaded", m.data.len())
	}
	return m
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
			m.data.version++ // as new traffic does: the filter cache no longer holds
			b.StartTimer()
		}
		if m.data.filter.src != "" {
			b.Fatalf("filter %q", m.data.filter.src)
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
			m.data.version++ // the filter cache no longer holds: every exchange is searched
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
			m.data.version++
			b.StartTimer()
			m.Update(keyMsg("t"))
			b.StopTimer()
			m.Update(tea.KeyPressMsg{Code: tea.KeyBackspace})
			b.StartTimer()
		}
		if m.data.visible() == 0 {
			b.Fatal("the filter matches nothing")
		}
	})
}

// BenchmarkArrivals applies a batch of 100 new exchanges to a full model (the oldest are evicted, as the store
// does), then renders.
func BenchmarkArrivals(b *testing.B) {
	m := benchModel(b, sharedStore(), 160, 48)
	tmpl := handshake()
	next := uint64(benchN + 1)
	batch := make([]recorder.Update, 100)
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			ex := *tmpl[int(next)%len(tmpl)]
			ex.ID = next
			next++
			batch[i] = recorder.Update{Kind: recorder.Completed, Exchange: &ex}
		}
		m.Update(updatesMsg{updates: batch})
		_ = m.View()
	}
	if m.data.len() != benchN {
		b.Fatalf("held %d, want %d", m.data.len(), benchN)
	}
}

// BenchmarkMemory reports the heap the model adds to a full store: its rows (it holds the store's snapshots,
// shared, not copied) and the analyzer's own memory (what recorder/analysis keeps per exchange observed).
func BenchmarkMemory(b *testing.B) {
	for b.Loop() {
		heap := func() uint64 {
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return ms.HeapAlloc
		}
		base := heap()
		store := benchStore(benchN, false)
		withStore := heap()
		// The TUI's own: rows, with an analyzer that keeps nothing.
		tuiOnly, err := New(Config{Store: store, Theme: "dark", newAnalyzer: func(analysis.Options) analyzer { return nopAnalyzer{} }})
		if err != nil {
			b.Fatal(err)
		}
		withTUI := heap()
		tuiOnly.Close()
		tuiOnly = nil
		afterTUI := heap()
		m := benchModel(b, store, 160, 48)
		withModel := heap()
		b.ReportMetric(float64(withStore-base), "store-B")
		b.ReportMetric(float64(withTUI-withStore)/benchN, "tui-B/exchange")
		b.ReportMetric(float64(withModel-afterTUI)/benchN, "tui+analysis-B/exchange")
		runtime.KeepAlive(m)
		runtime.KeepAlive(store)
	}
}

// nopAnalyzer keeps nothing (to tell the TUI's memory from the analysis').
type nopAnalyzer struct{}

func (nopAnalyzer) Observe(*recorder.Exchange) {}
func (nopAnalyzer) Info(uint64) analysis.Info  { return analysis.Info{} }
func (nopAnalyzer) Report() *analysis.Report   { return &analysis.Report{} }

// BenchmarkReportTick is what the report costs when it is taken (on a tick, beyond reportNowUpTo exchanges):
// the analysis' Report over 100,000 exchanges, and the TUI's maps of connections and findings.
func BenchmarkReportTick(b *testing.B) {
	m := benchModel(b, sharedStore(), 160, 48)
	b.ReportAllocs()
	for b.Loop() {
		m.data.reportDirty = true
		m.Update(reportTickMsg{})
	}
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
	m, err := New(Config{Store: store, Theme: "dark", newAnalyzer: s.analyzer})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	if len(m.data.connList) != 1000 || len(m.data.report.Findings) != 10000 {
		b.Fatalf("%d connections, %d findings", len(m.data.connList), len(m.data.report.Findings))
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
