package analysis

import (
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
)

// What the analyzer retains per held exchange, and what it costs per observed exchange, for the traffic serve and
// proxy record: tools/calls on long sessions, whole session setups, and proxied pairs (a client's exchange and
// the upstream's copy). The collector marks what the analysis holds on every cycle: what counts is the objects it
// keeps that hold pointers (scanned) and their bytes, more than its bytes.

// withBegan is exs with the snapshots a live recorder publishes: Began (pending, no response), then the final one.
func withBegan(exs []*recorder.Exchange) []*recorder.Exchange {
	out := make([]*recorder.Exchange, 0, 2*len(exs))
	for _, ex := range exs {
		began := *ex
		began.State, began.Status, began.RespHeaders, began.RespBody, began.ReqBody, began.RPC, began.Events =
			recorder.StatePending, 0, nil, recorder.Body{}, recorder.Body{}, nil, nil
		out = append(out, &began, ex)
	}
	return out
}

// callUpdates is n exchanges of sessions of calls long (synthRun: a Claude-style handshake, then tools/calls).
func callUpdates(n, calls int) []*recorder.Exchange {
	var id uint64
	var exs []*recorder.Exchange
	start := t0
	for k := 0; len(exs) < n; k++ {
		exs = append(exs, synthRun(k, &id, start, calls)...)
		start = start.Add(10 * time.Minute)
	}
	return withBegan(exs[:n])
}

// proxiedUpdates is n exchanges through the proxy: sessions of calls long, each client exchange followed by the
// upstream's copy (outbound, its note "inbound" naming the client's), so n/2 pairs.
func proxiedUpdates(n, calls int) []*recorder.Exchange {
	var id uint64
	var exs []*recorder.Exchange
	start := t0
	for k := 0; len(exs) < n; k++ {
		var tmp uint64
		for _, in := range synthRun(k, &tmp, start, calls) {
			id++
			in.ID = id
			up := *in
			id++
			up.ID, up.Kind, up.URL = id, recorder.Outbound, "http://127.0.0.1:9000"+in.URL
			up.ReqHeaders = append(in.ReqHeaders[:len(in.ReqHeaders):len(in.ReqHeaders)],
				recorder.Header{Name: "X-Forwarded-For", Value: "127.0.0.1"})
			up.Notes = []recorder.Note{{Key: recorder.NoteInbound, Value: strconv.FormatUint(in.ID, 10)}}
			exs = append(exs, in, &up)
		}
		start = start.Add(10 * time.Minute)
	}
	return withBegan(exs[:n])
}

// pairsOf is updates (each exchange's snapshots in pairs: withBegan's) through the proxy: each exchange's
// snapshots followed by those of the upstream's copy (outbound, its note "inbound" naming the client's).
func pairsOf(updates []*recorder.Exchange) []*recorder.Exchange {
	var out []*recorder.Exchange
	id := uint64(0)
	for i := 0; i+1 < len(updates); i += 2 {
		id += 2
		var pair [4]*recorder.Exchange
		for j, u := range updates[i : i+2] {
			in, up := *u, *u
			in.ID, up.ID = id-1, id
			up.Kind, up.URL = recorder.Outbound, "http://127.0.0.1:9000"+u.URL
			up.ReqHeaders = append(u.ReqHeaders[:len(u.ReqHeaders):len(u.ReqHeaders)],
				recorder.Header{Name: "X-Forwarded-For", Value: "127.0.0.1"})
			up.Notes = []recorder.Note{{Key: recorder.NoteInbound, Value: strconv.FormatUint(in.ID, 10)}}
			pair[j], pair[2+j] = &in, &up
		}
		out = append(out, pair[:]...)
	}
	return out
}

// serveCallUpdates is n exchanges of sessions of calls tools/calls each as serve records mcpload's --mode call
// --era legacy (testdata/bench/serve-calls.jsonl: initialize, notifications/initialized, then tools/calls answered
// on event streams), each session with its own session id and client (remote port), with the snapshots a live
// recorder publishes.
func serveCallUpdates(tb testing.TB, n, calls int) []*recorder.Exchange {
	tb.Helper()
	res, err := recorder.LoadCapture(filepath.Join("testdata", "bench", "serve-calls.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := res.Exchanges
	slices.SortFunc(tmpl, func(x, y *recorder.Exchange) int { return x.Start.Compare(y.Start) })
	if len(tmpl) < 3 || tmpl[0].RPCMethod() != "initialize" || tmpl[2].RPCMethod() != "tools/call" {
		tb.Fatalf("the calls template: %d exchanges", len(tmpl))
	}
	setup, call := tmpl[:2], tmpl[2:]
	var out []*recorder.Exchange
	var id uint64
	start := tmpl[0].Start
	for k := 0; len(out) < n; k++ {
		sid := fmt.Sprintf("SID%023d", k)
		addr := fmt.Sprintf("127.0.0.1:%d", 40000+k%16)
		at := start.Add(time.Duration(k) * time.Hour)
		add := func(t *recorder.Exchange) {
			id++
			ex := *t
			ex.ID, ex.RemoteAddr, ex.Start = id, addr, at
			at = at.Add(300 * time.Microsecond)
			ex.ReqHeaders, ex.RespHeaders = withSID(t.ReqHeaders, sid), withSID(t.RespHeaders, sid)
			out = append(out, &ex)
		}
		for _, t := range setup {
			add(t)
		}
		for i := 0; i < calls && len(out) < n; i++ {
			add(call[i%len(call)])
		}
	}
	return withBegan(out[:n])
}

// heldMix is the traffic measured: its name and n exchanges' updates.
var heldMix = []struct {
	name    string
	updates func(tb testing.TB, n int) []*recorder.Exchange
}{
	{"serve-calls", func(tb testing.TB, n int) []*recorder.Exchange { return serveCallUpdates(tb, n, 1000) }},
	{"calls", func(_ testing.TB, n int) []*recorder.Exchange { return callUpdates(n, 1000) }},
	{"setups", func(tb testing.TB, n int) []*recorder.Exchange { return setupUpdates(tb, (n+2)/3)[:2*n] }},
	{"proxied", func(_ testing.TB, n int) []*recorder.Exchange { return proxiedUpdates(n, 1000) }},
}

// heapState is the live heap after a collection: its objects, bytes, and the bytes the collector scans.
type heapState struct{ objects, bytes, scan uint64 }

func liveState() heapState {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := []metrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	metrics.Read(s)
	return heapState{objects: ms.HeapObjects, bytes: ms.HeapAlloc, scan: s[0].Value.Uint64()}
}

// held is what an analyzer holds per exchange after observing updates (its window holding all of them), and the
// objects of it that hold pointers (the heap's objects minus those of a pointer-free kind are not told apart by
// MemStats: scan is the bytes the collector scans).
func held(updates []*recorder.Exchange) (objects, bytes, scan float64) {
	n := float64(len(updates) / 2)
	base := liveState()
	a := New(Options{MaxExchanges: len(updates)})
	for _, u := range updates {
		a.Observe(u)
	}
	_ = a.FindingsReport()
	h := liveState()
	runtime.KeepAlive(a)
	runtime.KeepAlive(updates)
	return float64(int64(h.objects-base.objects)) / n, float64(int64(h.bytes-base.bytes)) / n, float64(int64(h.scan-base.scan)) / n
}

// BenchmarkHeld reports what the analyzer holds per exchange of each mix, its window full (20,000 exchanges):
// live objects, bytes, and bytes the collector scans.
func BenchmarkHeld(b *testing.B) {
	for _, m := range heldMix {
		updates := m.updates(b, DefaultWindow)
		b.Run(m.name, func(b *testing.B) {
			var o, by, sc float64
			for b.Loop() {
				o, by, sc = held(updates)
			}
			b.ReportMetric(o, "objects/exchange")
			b.ReportMetric(by, "B/exchange")
			b.ReportMetric(sc, "scan-B/exchange")
		})
	}
}

// observeOne is the updates of one exchange of a kind, observed after the exchanges before it (an established
// session, or setups before): kind "call" is a tools/call on an established session, "initialize" and "delete" a
// setup's first and last exchange, "proxied-call" a tools/call's pair through the proxy.
func observeOne(tb testing.TB, kind string, k int) (before, one []*recorder.Exchange) {
	switch kind {
	case "serve-call":
		u := serveCallUpdates(tb, 100+k, 100+k) // one session: its setup, then calls
		return u[:200], u[200:]
	case "call":
		u := callUpdates(100+k, 100+k) // one session: its handshake, then calls
		return u[:200], u[200:]
	case "proxied-call":
		u := proxiedUpdates(100+2*k, 50+k)
		return u[:200], u[200:]
	case "proxied-serve-call":
		u := pairsOf(serveCallUpdates(tb, 100+k, 100+k))
		return u[:400], u[400:]
	case "initialize", "delete":
		u := setupUpdates(tb, 100+k)
		before = u[:600]
		for i := 600; i < len(u); i += 6 {
			if kind == "initialize" {
				one = append(one, u[i:i+2]...)
			} else {
				before = append(before, u[i:i+4]...)
				one = append(one, u[i+4:i+6]...)
			}
		}
		return before, one
	}
	tb.Fatalf("kind %q", kind)
	return nil, nil
}

// BenchmarkObservePer is the analyzer's CPU and allocations per observed exchange (both its snapshots) of each
// kind: a tools/call on an established session (as serve records mcpload's, and in a Claude-style session with
// a bearer token), a setup's initialize and its DELETE, a proxied tools/call (the
// client's exchange and the upstream's copy: per pair).
func BenchmarkObservePer(b *testing.B) {
	const k = 2000
	for _, kind := range []string{"serve-call", "call", "initialize", "delete", "proxied-call"} {
		before, one := observeOne(b, kind, k)
		per := 2
		if kind == "proxied-call" {
			per = 4
		}
		b.Run(kind, func(b *testing.B) { benchObserve(b, before, one, per, "exchange") })
	}
}

// TestHeldPerExchange bounds what the analyzer holds per exchange of tools/calls on long sessions and of proxied
// pairs, its window full (20,000 exchanges): live objects (each one the collector marks) and the bytes it scans.
// A record was an object of 80 bytes with four pointers, in a map of pointers to records: 1.04 objects and 111 B
// scanned per exchange held; the records are in pointer-free chunks now, found through a map of pointer-free
// entries (0.04 objects — the chunks, the map's groups — and 2 B scanned). A session setup is a connection of its
// own: 11 objects held per setup on 7afc0d3 (its three records, the connection, its lists of stages, marks,
// exchanges and sessions, its id and session id, the session's key in the index); 3 now (the connection, its id,
// its session id: the indexes keep hashes, the lists start in arrays of the connection's own).
func TestHeldPerExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 20,000 exchanges")
	}
	for _, m := range heldMix {
		o, by, sc := held(m.updates(t, DefaultWindow))
		t.Logf("%s: %.2f objects, %.0f B, %.0f scan-B per exchange", m.name, o, by, sc)
		if m.name == "setups" {
			limit := 3.5
			if testkit.Race {
				limit = 4.5 // one more object a setup under the race detector
			}
			if o*3 > limit {
				t.Errorf("setups: %.2f live objects per session setup held, want ≤ %.1f", o*3, limit)
			}
			continue
		}
		if o*1000 > 100 || sc > 10 {
			t.Errorf("%s: %.0f live objects and %.0f B scanned per 1,000 exchanges held, want ≤ 100 and ≤ 10,000", m.name, o*1000, sc*1000)
		}
	}
}

// TestObserveAllocations bounds the allocations of observing an exchange (both its snapshots) that a session
// already established makes: a tools/call (as serve records mcpload's; in a session with a bearer token; through
// the proxy, with the upstream's copy) and a DELETE. An index entry that exists is written in place (refMap)
// rather than assigned a copy of its key, the family key and the token's key are built in the exchange's memo,
// link's candidates are scratch, a record takes a slot of the record slab: on 7afc0d3 a tools/call of serve's took
// 4 allocations, one with a token 8, a proxied one 9 (the pair), a DELETE 4; none now.
func TestObserveAllocations(t *testing.T) {
	const k = 500
	for _, kind := range []string{"serve-call", "call", "proxied-call", "delete"} {
		before, one := observeOne(t, kind, k)
		a := New(Options{})
		for _, u := range before {
			a.Observe(u)
		}
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		for _, u := range one {
			a.Observe(u)
		}
		runtime.ReadMemStats(&ms1)
		per := float64(ms1.Mallocs-ms0.Mallocs) / k
		if max := 0.1; per > max && !testkit.Race {
			t.Errorf("%s: %.2f allocations per exchange observed, want ≤ %.1f", kind, per, max)
		} else {
			t.Logf("%s: %.2f allocations per exchange observed", kind, per)
		}
	}
}

// BenchmarkHeldGC is a full collection (runtime.GC) with an analyzer holding a full window (20,000 exchanges) of
// each mix and nothing else of the test's: the marking of what the analysis holds. "none" is the collection
// without an analyzer (the test binary's own heap). ns/op is the mean, min-ns/GC the shortest (the least
// disturbed by the machine's other work). Run with -cpu 1 for the marking of one worker.
func BenchmarkHeldGC(b *testing.B) {
	gc := func(b *testing.B) {
		least := time.Duration(1 << 62)
		for b.Loop() {
			t := time.Now()
			runtime.GC()
			least = min(least, time.Since(t))
		}
		b.ReportMetric(float64(least.Nanoseconds()), "min-ns/GC")
	}
	b.Run("none", gc)
	for _, m := range heldMix {
		b.Run(m.name, func(b *testing.B) {
			updates := m.updates(b, DefaultWindow)
			a := New(Options{MaxExchanges: len(updates)})
			for _, u := range updates {
				a.Observe(u)
			}
			_ = a.FindingsReport()
			updates = nil
			runtime.GC()
			gc(b)
			runtime.KeepAlive(a)
		})
	}
}

// BenchmarkObserveCalls is the analyzer's work per tools/call on an established session as serve records
// mcpload's (both snapshots), its window full: an exchange forgotten for every one observed.
func BenchmarkObserveCalls(b *testing.B) {
	u := serveCallUpdates(b, DefaultWindow+100, DefaultWindow+100)
	a := New(Options{})
	for _, x := range u {
		a.Observe(x)
	}
	began, final := *u[len(u)-2], *u[len(u)-1]
	id, at := final.ID, final.Start
	b.ReportAllocs()
	for b.Loop() {
		id++
		at = at.Add(300 * time.Microsecond)
		b1, f1 := began, final
		b1.ID, b1.Start, f1.ID, f1.Start = id, at, id, at
		a.Observe(&b1)
		a.Observe(&f1)
	}
}

// TestMemosKeepNoLongBuffers: past a burst of exchanges open at once (a stranger's many streams), at most
// maxSpareMemos memos are kept for the next exchanges, and their family buffers only when short: the stranger's
// long user agents are not kept once its exchanges completed.
func TestMemosKeepNoLongBuffers(t *testing.T) {
	a := New(Options{})
	long := strings.Repeat("x", 2000)
	var open []*recorder.Exchange
	for i := range 200 {
		ex := newEx(uint64(i+1), "GET", "/mcp").req("User-Agent", long+strconv.Itoa(i)).req("Mcp-Session-Id", "s"+strconv.Itoa(i)).pending().ex
		a.Observe(ex)
		open = append(open, ex)
	}
	for _, ex := range open {
		done := *ex
		done.State, done.Status = recorder.StateComplete, 200
		a.Observe(&done)
	}
	kept, memos := 0, 0
	for _, m := range a.memoTab {
		if m != nil {
			memos++
			kept += cap(m.famBuf)
		}
	}
	if len(a.memoTab) < 200 || memos > maxSpareMemos || kept > memos*maxFamBuf {
		t.Fatalf("%d memos kept of %d slots, keeping %d B of family buffers", memos, len(a.memoTab), kept)
	}
}

// finalOnly is what `--no-tui`'s analysis hears of exchanges: their final snapshots only (no subscriber takes
// Began updates), and of a proxied pair the upstream's copy first (the store completes the pair so).
func finalOnly(updates []*recorder.Exchange) []*recorder.Exchange {
	var out []*recorder.Exchange
	for _, u := range updates {
		if u.State == recorder.StatePending {
			continue
		}
		if n := len(out); n > 0 && u.Kind == recorder.Outbound && out[n-1].Kind == recorder.Inbound && u.Note(recorder.NoteInbound) == strconv.FormatUint(out[n-1].ID, 10) {
			out[n-1], u = u, out[n-1]
		}
		out = append(out, u)
	}
	return out
}

// BenchmarkObserveFinal is BenchmarkObservePer's tools/calls as `serve --no-tui` and `proxy --no-tui` have them
// observed: final snapshots only, a proxied pair's copy first. cpu-ns/exchange is per call (a proxied pair).
func BenchmarkObserveFinal(b *testing.B) {
	const k = 2000
	for _, kind := range []string{"serve-call", "proxied-call", "proxied-serve-call"} {
		before, one := observeOne(b, kind, k)
		before, one = finalOnly(before), finalOnly(one)
		per := 1
		if strings.HasPrefix(kind, "proxied") {
			per = 2
		}
		b.Run(kind, func(b *testing.B) { benchObserve(b, before, one, per, "call") })
	}
}

// benchObserve measures Observe of one's updates after before's, on a new analyzer each time, per len(one)/per
// units (exchanges or calls): wall and process CPU time and allocations.
func benchObserve(b *testing.B, before, one []*recorder.Exchange, per int, unit string) {
	var ms0, ms1 runtime.MemStats
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		a := New(Options{})
		for _, u := range before {
			a.Observe(u)
		}
		runtime.ReadMemStats(&ms0)
		c0 := testkit.ProcessCPU()
		b.StartTimer()
		for _, u := range one {
			a.Observe(u)
		}
		b.StopTimer()
		cpu += testkit.ProcessCPU() - c0
		runtime.ReadMemStats(&ms1)
		b.StartTimer()
	}
	n := float64(len(one) / per)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/"+unit)
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/n, "cpu-ns/"+unit)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/"+unit)
}
