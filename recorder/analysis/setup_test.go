package analysis

import (
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
)

// setupUpdates is n legacy session setups as `serve --no-tui --no-auth --capture` recorded them under `mcpload
// --mode setup` (testdata/bench/serve-setup.jsonl: initialize answered on an event stream with a session id,
// notifications/initialized, DELETE), each with its own session id, ids and times, from 16 clients (remote
// ports), with the snapshots a live recorder publishes (Began, then final): every setup is a connection of its
// own to the analysis, as in script/bench's setup group.
func setupUpdates(tb testing.TB, n int) []*recorder.Exchange {
	tb.Helper()
	res, err := recorder.LoadCapture(filepath.Join("testdata", "bench", "serve-setup.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := res.Exchanges
	if len(tmpl) != 3 {
		tb.Fatalf("%d exchanges in the setup template", len(tmpl))
	}
	slices.SortFunc(tmpl, func(x, y *recorder.Exchange) int { return x.Start.Compare(y.Start) })
	start := tmpl[0].Start
	var out []*recorder.Exchange
	var id uint64
	for k := range n {
		sid := fmt.Sprintf("SID%022d", k)
		addr := fmt.Sprintf("127.0.0.1:%d", 40000+k%16)
		at := start.Add(time.Duration(k) * 500 * time.Microsecond)
		for _, t := range tmpl {
			id++
			ex := *t
			ex.ID, ex.RemoteAddr, ex.Start = id, addr, at.Add(t.Start.Sub(start))
			ex.ReqHeaders, ex.RespHeaders = withSID(t.ReqHeaders, sid), withSID(t.RespHeaders, sid)
			// A body of its own, as every record has: the analysis reads a body once (reqMemo), and one shared by
			// every setup was read once for all of them.
			ex.ReqBody.Data = slices.Clone(t.ReqBody.Data)
			began := ex
			began.State, began.Status, began.RespHeaders, began.RespBody, began.Events = recorder.StatePending, 0, nil, recorder.Body{}, nil
			began.RPC = slices.DeleteFunc(slices.Clone(ex.RPC), func(m recorder.RPC) bool { return m.From == recorder.FromServer })
			out = append(out, &began, &ex)
		}
	}
	return out
}

// withSID is h with its Mcp-Session-Id set to sid.
func withSID(h recorder.Headers, sid string) recorder.Headers {
	h = slices.Clone(h)
	for i := range h {
		if h[i].Name == "Mcp-Session-Id" {
			h[i].Value = sid
		}
	}
	return h
}

// BenchmarkSetups is the analysis of n session setups (setupUpdates), a report taken after every 16 (the live
// service takes one after its batches): the analysis' cost per setup as serve pays it in script/bench's setup
// group, its allocations per setup, and what it holds per setup connection (held-B/setup: the live heap of the
// analyzer and its last report).
func BenchmarkSetups(b *testing.B) {
	for _, n := range []int{1000, 6000} {
		for _, views := range []bool{true, false} {
			benchSetups(b, n, views)
		}
	}
}

// benchSetups is BenchmarkSetups of n setups, its reports with connection views (Report: the TUI's) or without
// (FindingsReport: serve --no-tui's printer).
func benchSetups(b *testing.B, n int, views bool) {
	{
		updates := setupUpdates(b, n)
		runtime.GC()
		report := (*Analyzer).Report
		name := fmt.Sprintf("%d/report", n)
		if !views {
			report, name = (*Analyzer).FindingsReport, fmt.Sprintf("%d/findings", n)
		}
		b.Run(name, func(b *testing.B) {
			var held uint64
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			cpu0 := testkit.ProcessCPU()
			for b.Loop() {
				b.StopTimer()
				base := liveHeap()
				b.StartTimer()
				a := New(Options{})
				for i, u := range updates {
					a.Observe(u)
					if i%(16*6) == 16*6-1 {
						_ = report(a)
					}
				}
				rep := report(a)
				b.StopTimer()
				if views && len(rep.Connections) != n {
					b.Fatalf("%d connections for %d setups", len(rep.Connections), n)
				}
				held = liveHeap() - base
				runtime.KeepAlive(a)
				runtime.KeepAlive(rep)
				b.StartTimer()
			}
			cpu := testkit.ProcessCPU() - cpu0 // the heap measurements' collections too: compare variants, not absolutes
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/setup")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(n), "cpu-ns/setup")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N)/float64(n), "allocs/setup")
			b.ReportMetric(float64(held)/float64(n), "held-B/setup")
		})
	}
}

// setupHeld is the live heap the analysis holds per setup connection after n session setups (the analyzer and
// its last report).
func setupHeld(t *testing.T, n int) float64 {
	t.Helper()
	updates := setupUpdates(t, n)
	base := liveHeap()
	a := New(Options{})
	for _, u := range updates {
		a.Observe(u)
	}
	rep := a.Report()
	held := liveHeap() - base
	if len(rep.Connections) != n {
		t.Fatalf("%d connections for %d setups", len(rep.Connections), n)
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(rep)
	runtime.KeepAlive(updates) // not the analysis' garbage
	return float64(held) / float64(n)
}

// TestSetupConnectionHeld bounds what a session setup's connection costs the analysis to hold: every setup of
// script/bench's setup group is a connection of its own, and the collector marks all of them on every cycle. A
// connection keeps only the stages and marks it saw (3 of 20 stages, 4 of 24 marks for a setup), its findings in
// one list and its sessions' versions in another, what only a proxy's rewriting or a report's view needs behind a
// pointer: 5,800 B per setup on main, 3,494 B now (the report's view of the connection, 1.8 KB of it, is the
// Report's API; TestSetupConnectionHeldWithoutViews is serve --no-tui's case); the struct 2,672 → 608 B, 888 B
// with the arrays a setup's stages, marks, exchanges and session start in (TestHeldPerExchange's setups).
func TestSetupConnectionHeld(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 2,000 setups")
	}
	if per := setupHeld(t, 2000); per > 4400 {
		t.Errorf("the analysis holds %.0f B per setup connection, want ≤ 4,400", per)
	} else {
		t.Logf("%.0f B per setup connection", per)
	}
	// The struct and its malloc header fill the 640-byte size class exactly: a struct smaller than its slot has the
	// collector's pointer iterator scan the slot's tail as a second element (at 880 B the heap scanned per setup
	// was 921 B against 556 at 888, and a full collection with 6,667 setups held took 4.0–4.3 ms against 1.8–3.4).
	// It was 888 B (the 896-byte class) before what a setup never sets went to ext.
	if size := unsafe.Sizeof(conn{}); size != 640-8 {
		t.Errorf("a connection's struct is %d B, want 632: the 640-byte size class with its malloc header (its stage "+
			"table and marks are kept sparse; a setup's stages, marks, exchanges and session in arrays of its own, a "+
			"stage's count in 4 bytes, what a setup never sets in ext)", size)
	}
	if satAdd(math.MaxUint32-1, 1) != math.MaxUint32 || satAdd(math.MaxUint32, 5) != math.MaxUint32 || satAdd(2, 3) != 5 {
		t.Error("a stage's count does not saturate")
	}
}

// TestSetupAllocations bounds the allocations of analysing a session setup (its six snapshots observed): the
// initialize's result is read in place (member) rather than decoded into a map per level (envelope, result,
// capabilities), a connection's stages, marks and exchange ids take one allocation each: 90 before, 32 after.
// An exchange's strong keys are built in the analyzer's buffer and looked up there, copied only when an index
// takes a new or changed entry (pointKey): 32 → 25. Records in the record slab, indexes of hashes written in
// place, a connection's lists in arrays of its own, keys built in the exchange's memo: 25 → 9. Each setup's
// request bodies its own (setupUpdates), as in serve: the initialize's params were decoded into maps for its
// client's name (42 allocations a setup); read in place (reqMemo), 8.
func TestSetupAllocations(t *testing.T) {
	const n = 500
	updates := setupUpdates(t, n)
	a := New(Options{})
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for _, u := range updates {
		a.Observe(u)
	}
	runtime.ReadMemStats(&ms1)
	per := float64(ms1.Mallocs-ms0.Mallocs) / n
	if per > 10 && !testkit.Race {
		t.Errorf("%.1f allocations per session setup observed, want ≤ 10", per)
	} else {
		t.Logf("%.1f allocations per session setup observed", per)
	}
	if rep := a.Report(); len(rep.Connections) != n || len(rep.Findings) != 0 {
		t.Fatalf("%d connections, %d findings", len(rep.Connections), len(rep.Findings))
	}
}

// TestFindingsReportLikeReport: FindingsReport has Report's findings, in the same order, for every fixture, and
// builds no view of a connection.
func TestFindingsReportLikeReport(t *testing.T) {
	for _, fc := range fixtureCases {
		t.Run(fc.name, func(t *testing.T) {
			exs := loadFixture(t, fc.name)
			a := New(Options{Now: lastEnd(exs).Add(judgedAfter)})
			for _, ex := range SettleOrder(exs) {
				a.Observe(ex)
			}
			got := a.FindingsReport()
			for _, c := range a.conns {
				if c.x().view.view != nil {
					t.Fatalf("connection %s has a view", c.id)
				}
			}
			want := a.Report()
			if len(got.Connections) != 0 || !reflect.DeepEqual(got.Findings, want.Findings) {
				t.Fatalf("%d connections; findings\n%+v\nwant\n%+v", len(got.Connections), got.Findings, want.Findings)
			}
		})
	}
}

// TestSetupConnectionHeldWithoutViews: what a setup's connection costs the analysis to hold when its consumer
// reads only findings (serve --no-tui's printer: FindingsReport, no view per connection).
func TestSetupConnectionHeldWithoutViews(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 2,000 setups")
	}
	const n = 2000
	updates := setupUpdates(t, n)
	base := liveHeap()
	a := New(Options{})
	for _, u := range updates {
		a.Observe(u)
	}
	rep := a.FindingsReport()
	held := float64(liveHeap()-base) / n
	runtime.KeepAlive(a)
	runtime.KeepAlive(rep)
	runtime.KeepAlive(updates)
	if held > 2000 {
		t.Errorf("the analysis holds %.0f B per setup connection reporting findings only, want ≤ 2,000 (1,626 measured)", held)
	} else {
		t.Logf("%.0f B per setup connection", held)
	}
}

// TestReportJudgesWhatChanged: a report judges again (connFindings) only the connections that changed since they
// were found to have nothing, or whose next mark passed its grace; the rest cost a comparison. What it finds is
// what judging every connection finds (TestGolden, TestForgetMatchesAFreshAnalysis and the live tests run
// through it).
func TestReportJudgesWhatChanged(t *testing.T) {
	const n = 300
	updates := setupUpdates(t, n+1)
	a := New(Options{})
	for _, u := range updates[:6*n] {
		a.Observe(u)
	}
	at := a.judgeTime()
	a.SetNow(at)
	for _, report := range []func() *Report{a.FindingsReport, a.Report} {
		report()
		before := a.judged
		if rep := report(); len(rep.Findings) != 0 || a.judged != before {
			t.Fatalf("nothing changed: %d connections judged again, %d findings", a.judged-before, len(rep.Findings))
		}
	}
	for _, u := range updates[6*n:] {
		a.Observe(u) // one more setup: its connection is new
	}
	before := a.judged
	a.FindingsReport()
	if got := a.judged - before; got != 1 {
		t.Fatalf("one setup more: %d connections judged, want 1", got)
	}
	// Past the grace, every setup that never listed its tools is told so: each connection is judged again.
	a.SetNow(at.Add(defaultGrace + time.Minute))
	before = a.judged
	rep := a.FindingsReport()
	if got := a.judged - before; got != n+1 || len(rep.Findings) != n+1 {
		t.Fatalf("past the grace: %d connections judged, %d findings, want %d each", got, len(rep.Findings), n+1)
	}
	fresh := New(Options{Now: at.Add(defaultGrace + time.Minute)})
	for _, u := range updates {
		fresh.Observe(u)
	}
	if want := fresh.Report(); !reflect.DeepEqual(rep.Findings, want.Findings) {
		t.Fatalf("findings differ from a fresh analysis judged at the same time")
	}
}

// TestSetupConnectionScanned bounds the heap the collector scans (objects with pointers) for what the analysis
// holds per session setup: every setup of script/bench's setup group is a connection of its own, marked on every
// cycle. A connection's stages and marks keep their times as instants (no pointer): their lists are not scanned.
// 1,459 B per setup before, 1,119 after (2,000 setups). The records without pointers, the indexes of hashes, the
// connection in one object of the 896-byte size class: 1,034–1,080 → 556 B. Its three times as instants after its
// pointer fields (a time.Time's location is a pointer): 551 → 468 B. What a setup never sets (its registration,
// grant and token, tools, rewrites, kept exchanges, findings, view) in ext, made on demand: 468 → 324 B; its
// first session inline and the others in ext (no slice header): 299 B; its stages and marks counted in their
// arrays until they outgrow them (two slice headers less): 253 B.
func TestSetupConnectionScanned(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 2,000 setups")
	}
	const n = 2000
	updates := setupUpdates(t, n)
	scannable := func() uint64 {
		runtime.GC()
		s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	base := scannable()
	a := New(Options{})
	for _, u := range updates {
		a.Observe(u)
	}
	per := float64(int64(scannable())-int64(base)) / n
	runtime.KeepAlive(a)
	runtime.KeepAlive(updates)
	if per > 280 {
		t.Errorf("the collector scans %.0f B per setup connection the analysis holds, want ≤ 280", per)
	} else {
		t.Logf("%.0f B scanned per setup connection", per)
	}
}

// TestSetupConnectionHeldFromStore: what the analysis holds per session setup when its exchanges come as serve
// hands them over, materialised by the store (recorder.Store.Get: each header list's strings point into one buffer
// of their own). A connection kept its session id, user agent and protocol version as strings of those lists, and
// so held the lists; it keeps copies of its own now (the session id cloned, the others shared: one per value):
// 1,773 B per setup before, 1,519 after (the store's own records are not counted).
func TestSetupConnectionHeldFromStore(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 3,000 setups")
	}
	const n = 3000
	updates := setupUpdates(t, n)
	st := recorder.NewStore(recorder.StoreOptions{})
	var ids []uint64
	for i := 1; i < len(updates); i += 2 { // the final snapshots: serve's printer subscribes without Began
		ex := *updates[i]
		ex.ID = 0
		ids = append(ids, st.Add(&ex))
	}
	updates = nil
	exs := make([]*recorder.Exchange, len(ids))
	for i, id := range ids {
		exs[i] = st.Get(id)
	}
	a := New(Options{})
	for _, ex := range exs {
		a.Observe(ex)
	}
	exs = nil
	with := liveHeap()
	runtime.KeepAlive(a)
	a = nil
	per := float64(int64(with)-int64(liveHeap())) / n
	runtime.KeepAlive(st)
	if per > 1650 {
		t.Errorf("the analysis holds %.0f B per setup of materialised exchanges, want ≤ 1,650", per)
	} else {
		t.Logf("%.0f B per setup connection", per)
	}
}

// TestIndexesHoldNoPointer: the analyzer's indexes (strong keys, families, hosts, session ids) and its records'
// map keep the keys' hashes and exchange ids, no pointer (the collector scans none of them; a key was a string of
// its own per entry), and find what the setups said: every session id they were given, each in a connection.
func TestIndexesHoldNoPointer(t *testing.T) {
	a := New(Options{})
	for _, m := range []reflect.Type{reflect.TypeOf(a.keys), reflect.TypeOf(a.weak), reflect.TypeOf(a.hosts),
		reflect.TypeOf(a.sids), reflect.TypeOf(a.exs.spill)} {
		if p := append(pointerFields(m.Key()), pointerFields(m.Elem())...); len(p) > 0 || !slices.Contains([]reflect.Kind{reflect.Array, reflect.Uint64}, m.Key().Kind()) {
			t.Errorf("%v holds pointers: %v", m, p)
		}
	}
	if p := pointerFields(reflect.TypeOf(a.exs.ring).Elem()); len(p) > 0 {
		t.Errorf("the records' ring holds pointers: %v", p)
	}
	const n = 200
	for _, u := range setupUpdates(t, n) {
		a.Observe(u)
	}
	for k := range n {
		sid := fmt.Sprintf("SID%022d", k)
		if c := a.conn(a.keys[a.hkey("sid:"+sid)]); c == nil || c.session != sid || !a.issued(sid) {
			t.Fatalf("session %s: connection %v, issued %v", sid, c, a.issued(sid))
		}
	}
	if len(a.weak) == 0 || len(a.hosts) == 0 {
		t.Fatalf("%d families, %d hosts", len(a.weak), len(a.hosts))
	}
}

// TestUserAgentLookedUpOnce: the analyzer matches a user agent against the client profiles once, not for every
// exchange (a session setup's three carry the same one), and its memo gives what a lookup gives, for more user
// agents than it holds too.
func TestUserAgentLookedUpOnce(t *testing.T) {
	const n = 100
	a := New(Options{})
	for _, u := range setupUpdates(t, n) {
		a.Observe(u)
	}
	if a.uaLookups != 1 {
		t.Fatalf("%d user agent lookups for %d setups of one client, want 1", a.uaLookups, n)
	}
	uas := []string{"claude-code/2.1.3", "node", "Go-http-client/1.1", "python-httpx/0.28.1", "Cursor/1.7", "mcp-remote/0.1.29", "", "node"}
	for range 3 {
		for _, ua := range uas {
			if got, want := a.uaSignal(ua), uaSignal(ua); got != want {
				t.Fatalf("%q: %+v, want %+v", ua, got, want)
			}
		}
	}
}

// TestInitializeResultReadInPlaceAllocs: the result of an initialize answered on an event stream is read in the event's
// data, not in a copy of it.
func TestInitializeResultReadInPlaceAllocs(t *testing.T) {
	var init *recorder.Exchange
	for _, u := range setupUpdates(t, 1) {
		if len(u.Events) > 0 {
			init = u
		}
	}
	if init == nil || rpcResult(init) == nil {
		t.Fatal("no initialize answered on an event stream with a result")
	}
	if n := testing.AllocsPerRun(100, func() { rpcResult(init) }); n != 0 && !testkit.Race {
		t.Fatalf("%.0f allocations to find an initialize's result", n)
	}
}
