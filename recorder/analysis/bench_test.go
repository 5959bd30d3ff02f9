package analysis

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// synthRun is one Claude-style connection: discovery, registration, consent, token, initialize, then tool calls
// on the session. Every run has its own client id, code, token and session.
func synthRun(k int, id *uint64, start time.Time, calls int) []*recorder.Exchange {
	var out []*recorder.Exchange
	at := start
	add := func(b *exb) *exb {
		*id++
		b.ex.ID = *id
		b.ex.Start = at
		b.ex.RemoteAddr = fmt.Sprintf("160.79.106.%d:443", k%250)
		at = at.Add(20 * time.Millisecond)
		out = append(out, b.ex)
		return b
	}
	cid, code, tok, sid := fmt.Sprintf("cid-%d", k), fmt.Sprintf("code-%d", k), fmt.Sprintf("at-%d", k), fmt.Sprintf("sid-%d", k)
	ch := `Bearer resource_metadata="http://127.0.0.1:4000/.well-known/oauth-protected-resource/mcp", scope="mcp"`
	add(newEx(0, "HEAD", "/mcp").req("User-Agent", "python-httpx/0.28.1").answer(401, "", "").resp("WWW-Authenticate", ch))
	add(newEx(0, "POST", "/mcp").req("User-Agent", "Claude-User").body("application/json", rpc(0, "initialize")).answer(401, "", "").resp("WWW-Authenticate", ch))
	add(newEx(0, "GET", "/.well-known/oauth-protected-resource/mcp").req("User-Agent", "python-httpx/0.28.1").
		answer(200, "application/json", `{"resource":"http://127.0.0.1:4000/mcp","authorization_servers":["http://127.0.0.1:4000"]}`))
	add(newEx(0, "GET", "/.well-known/oauth-authorization-server").req("User-Agent", "python-httpx/0.28.1").
		answer(200, "application/json", `{"issuer":"http://127.0.0.1:4000","authorization_endpoint":"http://127.0.0.1:4000/authorize","token_endpoint":"http://127.0.0.1:4000/token","registration_endpoint":"http://127.0.0.1:4000/register","response_types_supported":["code"],"code_challenge_methods_supported":["S256"]}`))
	add(newEx(0, "POST", "/register").req("User-Agent", "Claude-User").body("application/json", `{"client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}`).
		answer(201, "application/json", `{"client_id":"`+cid+`"}`))
	add(newEx(0, "GET", "/authorize?response_type=code&client_id="+cid+"&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback&code_challenge=x&code_challenge_method=S256&resource=http%3A%2F%2F127.0.0.1%3A4000%2Fmcp").
		req("User-Agent", "Mozilla/5.0").answer(200, "text/html", "<form></form>"))
	add(newEx(0, "POST", "/authorize").req("User-Agent", "Mozilla/5.0").body(form, "client_id="+cid+"&csrf_token=t&decision=approve").
		answer(302, "", "").resp("Location", "https://claude.ai/api/mcp/auth_callback?code="+code+"&state=s"))
	add(newEx(0, "POST", "/token").req("User-Agent", "Claude-User").body("application/json", `{"grant_type":"authorization_code","code":"`+code+`","client_id":"`+cid+`"}`).
		answer(200, "application/json", `{"access_token":"`+tok+`","token_type":"Bearer","expires_in":3600}`).resp("Cache-Control", "no-store"))
	add(newEx(0, "POST", "/mcp").req("User-Agent", "Claude-User").req("Authorization", "Bearer "+tok).body("application/json",
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","clientInfo":{"name":"Anthropic/ClaudeAI","version":"1"}}}`).
		answer(200, "application/json", `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"x","version":"1"}}}`).
		resp("Mcp-Session-Id", sid))
	mcp := func(b *exb) *exb {
		return b.req("User-Agent", "Claude-User").req("Authorization", "Bearer "+tok).req("Mcp-Session-Id", sid).req("MCP-Protocol-Version", "2025-11-25")
	}
	add(mcp(newEx(0, "POST", "/mcp")).body("application/json", rpc(-1, "notifications/initialized")).answer(202, "", ""))
	add(mcp(newEx(0, "POST", "/mcp")).body("application/json", rpc(1, "tools/list")).answer(200, "application/json", `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`))
	for i := 0; i < calls; i++ {
		add(mcp(newEx(0, "POST", "/mcp")).body("application/json", rpc(2, "tools/call")).answer(200, "application/json", `{"jsonrpc":"2.0","id":2,"result":{"content":[]}}`))
	}
	return out
}

// workload is n exchanges in runs of 100, with the snapshots a live recorder publishes (Began, then final).
func workload(n int) (updates []*recorder.Exchange, exs []*recorder.Exchange) {
	var id uint64
	start := t0
	for k := 0; len(exs) < n; k++ {
		run := synthRun(k, &id, start, 89)
		start = start.Add(10 * time.Minute) // apart enough that each run is its own connection
		exs = append(exs, run...)
	}
	exs = exs[:n]
	for _, ex := range exs {
		began := *ex
		began.State, began.Status, began.RespHeaders, began.RespBody, began.ReqBody, began.RPC = recorder.StatePending, 0, nil, recorder.Body{}, recorder.Body{}, nil
		updates = append(updates, &began, ex)
	}
	return updates, exs
}

// BenchmarkObserve feeds n exchanges (two updates each) and takes a Report after every 1,000, as the TUI would.
// "incremental" is the Analyzer; "reanalyze" recomputes the whole analysis for every report (the naive way), for
// comparison. ns/exchange is the cost per exchange of the whole run.
func BenchmarkObserve(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		updates, exs := workload(n)
		runtime.GC() // the workload's garbage is not the analyzer's
		b.Run(fmt.Sprintf("incremental/%dk", n/1000), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a := New(Options{})
				for i, u := range updates {
					a.Observe(u)
					if (i/2+1)%1000 == 0 && i%2 == 1 {
						_ = a.Report()
					}
				}
				if rep := a.Report(); len(rep.Connections) != (n+99)/100 || len(rep.Findings) != 0 {
					b.Fatalf("%d connections, %d findings", len(rep.Connections), len(rep.Findings))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/exchange")
		})
		if n > 10_000 {
			continue // the naive way is quadratic: 10k is enough to see it
		}
		b.Run(fmt.Sprintf("reanalyze/%dk", n/1000), func(b *testing.B) {
			for b.Loop() {
				for k := 1000; k <= n; k += 1000 {
					_ = Analyze(exs[:k], Options{})
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/exchange")
		})
	}
}

// BenchmarkReport is one Report over the analysis of 100k exchanges (1,000 connections).
func BenchmarkReport(b *testing.B) {
	updates, _ := workload(100_000)
	a := New(Options{})
	for _, u := range updates {
		a.Observe(u)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Report()
	}
}

// BenchmarkAnalyzerHeap is the analyzer's live heap per exchange it holds, after observing n exchanges (two
// updates each, as the live service feeds them) with a window (MaxExchanges) of at least n: what each record,
// index entry and connection costs.
func BenchmarkAnalyzerHeap(b *testing.B) {
	for _, n := range []int{100_000} {
		updates, _ := workload(n)
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			for b.Loop() {
				base := liveHeap()
				a := New(Options{MaxExchanges: n})
				for _, u := range updates {
					a.Observe(u)
				}
				_ = a.Report()
				held := liveHeap()
				b.ReportMetric(float64(held-base)/float64(n), "B/exchange")
				runtime.KeepAlive(a)
			}
		})
	}
}

// BenchmarkAnalyzerGC is what a full collection costs with an analyzer that observed 100,000 exchanges held in a
// window of w: the garbage collector marks the analyzer's records, connections and indexes on every cycle (its
// records hold pointers), so a window smaller than the store's count marks less. ns/op is one runtime.GC (the
// workload is dropped before: what is live is the analyzer's and the test binary's); B/exchange the analyzer's heap over
// the exchanges observed.
func BenchmarkAnalyzerGC(b *testing.B) {
	for _, w := range []int{100_000, DefaultWindow} {
		b.Run(fmt.Sprintf("window-%dk", w/1000), func(b *testing.B) {
			base := liveHeap()
			a := New(Options{MaxExchanges: w})
			updates, _ := workload(100_000)
			for _, u := range updates {
				a.Observe(u)
			}
			_ = a.Report()
			updates = nil // the workload is garbage: the collection marks the analyzer alone
			held := liveHeap() - base
			for b.Loop() {
				runtime.GC()
			}
			b.ReportMetric(float64(held)/100_000, "B/exchange")
			runtime.KeepAlive(a)
		})
	}
}

// liveHeap is the live heap after a collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
