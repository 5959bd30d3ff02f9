package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
)

func TestStatOf(t *testing.T) {
	if s := statOf([]float64{3, 1, 2}); s.med != 2 || s.lo != 1 || s.hi != 3 || s.n != 3 {
		t.Errorf("%+v", s)
	}
	if s := statOf([]float64{4, 1, 2, 3}); s.med != 2.5 {
		t.Errorf("even: %+v", s)
	}
	if s := statOf(nil); s.n != 0 || s.ratio() != "—" {
		t.Errorf("empty: %+v", s)
	}
}

func TestCommandAndRotate(t *testing.T) {
	if c := command([]string{"--mcpwatch", "/tmp/x/mcpwatch", "--repo", ".", "--rounds", "3"}); c != "script/bench --rounds 3" {
		t.Errorf("command %q", c)
	}
	// the driver re-executed on the load generator's CPUs reports what its parent was given, not the placement
	// appended for it
	t.Setenv(envPinned, "1")
	t.Setenv(envCommand, "script/bench --server-cpus 0 --load-cpus 1")
	if c := typedCommand([]string{"--mcpwatch", "x", "--server-cpus", "0", "--load-cpus", "1", "--server-cpus", "0", "--load-cpus", "1"}); c != "script/bench --server-cpus 0 --load-cpus 1" {
		t.Errorf("command of the pinned driver %q", c)
	}
	ts := []*target{{Key: "a"}, {Key: "b"}, {Key: "c"}}
	var keys []string
	for _, x := range rotate(ts, 4) {
		keys = append(keys, x.Key)
	}
	if strings.Join(keys, "") != "bca" {
		t.Errorf("rotate: %v", keys)
	}
	if !isFrameBench("View/160x48") || !isFrameBench("FilterKeystroke/x") || isFrameBench("Memory") || isFrameBench("ReportTick") ||
		!isFrameBench("FilterPass/100k") || isFrameBench("FilterPass/1000k") {
		t.Error("isFrameBench")
	}
}

// The report's ratios are medians of per-round ratios and the verdicts follow the targets.
func TestReport(t *testing.T) {
	run := func(tput float64) measurement {
		return measurement{Result: &loadgen.Result{Throughput: tput, Ops: 10, Completed: 10}, CPU: time.Millisecond}
	}
	serve := &target{Key: "serve", Label: "serve", Runs: []measurement{run(90), run(100), run(80)}}
	sdk := &target{Key: "sdk", Label: "sdk", Runs: []measurement{run(100), run(100), run(100)}}
	off := &target{Key: "serve-off", Label: "off", Runs: []measurement{run(100), run(120), run(100)}}
	rep := &report{Date: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC), Command: "script/bench", Machine: "m",
		Groups: []*group{{Key: "serve", Title: "g", Targets: []*target{serve, sdk, off}}},
		procs:  map[string]*target{"serve": serve, "sdk": sdk, "serve-off": off},
		TUI:    &tuiResult{Benches: []tuiBench{{Name: "View/80x24", PerOp: time.Millisecond}, {Name: "ReportTick", PerOp: time.Second}}}}
	var b strings.Builder
	printReport(&b, rep, &options{rounds: 3, duration: time.Second, clients: 16})
	out := b.String()
	for _, want := range []string{
		"| 1 | `serve` (recording on) ÷ go-sdk alone, tools/call throughput, legacy era | **0.90×** (0.80–1.00) | ≥ 0.9× | yes |",
		"| 2 | recording on (store + capture file + output) ÷ recording off, throughput | **0.83×** (0.80–0.90) | ≥ 0.9× | **no** |",
		"TUI `View/80x24`, 100k exchanges | **1.0 ms**/op | ≤ 5 ms | yes",
		"TUI `ReportTick`, 100k exchanges | **1.00 s**/op | — (not a frame) | — |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in:\n%s", want, out)
		}
	}
}

// The setup group's rows: serve ÷ the SDK against the 0.8× target, the harness check against the plain handler
// (the group's limit) in sessions per second.
func TestReportSetup(t *testing.T) {
	run := func(tput float64) measurement {
		return measurement{Result: &loadgen.Result{Throughput: tput, Ops: 10, Completed: 10}, CPU: time.Millisecond, Load: time.Millisecond, Wall: 2 * time.Millisecond}
	}
	serve := &target{Key: "setup-serve", Runs: []measurement{run(70), run(85), run(90)}}
	off := &target{Key: "setup-serve-off", Runs: []measurement{run(95), run(95), run(95)}}
	sdk := &target{Key: "setup-sdk", Runs: []measurement{run(100), run(100), run(100)}}
	plain := &target{Key: "setup-plain", limit: true, Runs: []measurement{run(300), run(300), run(300)}}
	rep := &report{Groups: []*group{{Key: "setup", Unit: "sessions/s", Title: "setups", Targets: []*target{serve, off, sdk, plain}}},
		procs: map[string]*target{"setup-serve": serve, "setup-serve-off": off, "setup-sdk": sdk, "setup-plain": plain}}
	var b strings.Builder
	printReport(&b, rep, &options{rounds: 3, duration: time.Second, clients: 16})
	out := b.String()
	for _, want := range []string{
		"| 0 | harness check, setup: plain net/http handler ÷ the fastest other target (setup-sdk) | **3.00×** (3.00–3.00) | ≥ 2× | yes | 300 vs 100 sessions/s;",
		"of CPU per session)",
		"| 1 | `serve` (recording on) ÷ go-sdk alone, session setups (initialize, initialized, DELETE), legacy era | **0.85×** (0.70–0.90) | ≥ 0.8× | yes | 85.0 vs 100 sessions/s;",
		"| 1 | `serve` recording off ÷ go-sdk alone, session setups (context) | **0.95×** (0.95–0.95) | — | — |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in:\n%s", want, out)
		}
	}
}

// The latency group's rows: the p99 the proxy adds to the ReverseProxy's, the median of the per-round
// differences, against the 1 ms target. A run that sent calls late stays in the numbers (its latencies count the
// lateness, timed from the schedule) and fails the harness check; a run with calls never sent is out.
func TestReportLatency(t *testing.T) {
	const late, missed = 1, 2
	run := func(p50, p99 time.Duration, kept int) measurement {
		p := &loadgen.Paced{Rate: 1000, Scheduled: 2000, Sent: 2000, Lag: loadgen.Latency{N: 2000, P99: 200 * time.Microsecond}}
		m := measurement{Result: &loadgen.Result{Throughput: 1000, Ops: 2000, Completed: 2500,
			Latency: loadgen.Latency{N: 2000, P50: p50, P99: p99, Max: 2 * p99}, Paced: p}}
		switch kept {
		case late:
			p.Late, p.NotKept = 100, "late"
		case missed:
			p.Sent, p.Missed, p.NotKept = 1900, 100, "missed"
			m.Err = "the rate was not kept: missed"
		}
		return m
	}
	ms, us := time.Millisecond, time.Microsecond
	direct := &target{Key: "direct-paced", limit: true, Runs: []measurement{run(ms/4, ms, 0), run(ms/4, ms, 0), run(ms/4, ms, 0)}}
	for i, o := range []time.Duration{500 * ms, 100 * ms, 300 * ms} { // what others used of the load generator's CPU
		direct.Runs[i].LoadOthers, direct.Runs[i].Wall = o, time.Second
	}
	rp := &target{Key: "revproxy-paced", Runs: []measurement{run(ms/2, 2*ms, 0), run(ms/2, 2*ms, 0), run(ms/2, 2*ms, 0)}}
	proxy := &target{Key: "proxy-paced", Runs: []measurement{run(ms, 2*ms+300*us, 0), run(ms, 2*ms+500*us, late), run(ms, 9*ms, missed)}}
	for i, st := range []struct{ servers, load time.Duration }{{10 * ms, 0}, {30 * ms, 50 * ms}, {20 * ms, 0}} { // steal
		proxy.Runs[i].Wall, proxy.Runs[i].Steal, proxy.Runs[i].LoadSteal = time.Second, st.servers, st.load
	}
	off := &target{Key: "proxy-off-paced", Runs: []measurement{run(ms, 4*ms, 0), run(ms, 4*ms, 0), run(ms, 3*ms, 0)}}
	defer func(s, l string) { serverCPUs, loadCPUs = s, l }(serverCPUs, loadCPUs)
	serverCPUs, loadCPUs = "0", "1"
	rep := &report{Groups: []*group{{Key: "latency", Paced: 1000, Title: "paced", Targets: []*target{direct, proxy, off, rp}}},
		procs: map[string]*target{"direct-paced": direct, "revproxy-paced": rp, "proxy-paced": proxy, "proxy-off-paced": off}}
	var b strings.Builder
	printReport(&b, rep, &options{rounds: 3, duration: time.Second, clients: 16})
	out := b.String()
	for _, want := range []string{
		"| 0 | harness check, latency: every run sent its calls on schedule at 1,000 calls/s in all (≤ 1% of them more than 1.0 ms late) | **10 of 12** runs | all | **no** | calls sent more than 1.0 ms late: median 0.0%, worst 5.0% of a run;",
		"other processes used 30% of the load generator's CPU in a round (median; worst 50%: the machine's share of the lateness); direct p99 1.0 ms |",
		"| 3 | p99 latency added by `proxy` (recording on) over the bare ReverseProxy, paced calls | **400 µs** (300 µs – 500 µs) | ≤ 1.0 ms | yes | p99 ",
		"(p50 added 500 µs) at 1,000 calls/s; direct p99 1.0 ms, p50 250 µs; 1 runs with errors: the rate was not kept: missed |",
		"| 3 | p99 latency added by `proxy`, recording off, over the bare ReverseProxy, paced calls (context) | **2.0 ms** (1.0 ms – 2.0 ms) | — | — |",
		"| 3 | p99 latency added by the bare ReverseProxy over direct, paced calls (context) | **1.0 ms** (1.0 ms – 1.0 ms) | — | — |",
		"| target | calls/s | p50 | p99 | max | send lag p99 | calls sent late | server CPU/call | taken by the hypervisor (steal): servers' CPUs / load generator's | runs with errors |",
		"| 1,000 | 1.0 ms | 2.5 ms | 5.0 ms | 200 µs | 0.0% | — (serves other targets too) | 2% (worst 3%) / 0% (worst 5%) | 1: the rate was not kept: missed |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in:\n%s", want, out)
		}
	}
	// Over the target: not met.
	proxy.Runs = []measurement{run(ms, 4*ms, 0), run(ms, 4*ms, 0), run(ms, 4*ms, 0)}
	b.Reset()
	printReport(&b, rep, &options{rounds: 3, duration: time.Second, clients: 16})
	if want := "| 3 | p99 latency added by `proxy` (recording on) over the bare ReverseProxy, paced calls | **2.0 ms** (2.0 ms – 2.0 ms) | ≤ 1.0 ms | **no** |"; !strings.Contains(b.String(), want) {
		t.Errorf("no line %q in:\n%s", want, b.String())
	}
}

// A first-event group's table says how much the hypervisor took from the servers' CPUs in each target's rounds, as
// the throughput tables do: a share of their time (wall time × their number, as --max-steal counts it), not
// measured ("—") when they are not pinned. Header, separator and rows have as many columns.
func TestReportStreamTableShowsSteal(t *testing.T) {
	us, ms := time.Microsecond, time.Millisecond
	first := func(p50, steal time.Duration) measurement {
		return measurement{First: &loadgen.Latency{N: 100, P50: p50, P99: 2 * p50, Max: 3 * p50}, Cold: &loadgen.Latency{N: 100, P50: p50}, Wall: time.Second, Steal: steal}
	}
	proxy := &target{Key: "proxy-sse", Label: "proxy", stream: true, Runs: []measurement{first(500*us, 40*ms), first(600*us, 0), first(550*us, 20*ms)}}
	rep := &report{Groups: []*group{{Key: "sse", Streams: true, Title: "first events", Targets: []*target{proxy}}}, procs: map[string]*target{"proxy-sse": proxy}}
	defer func(s string) { serverCPUs = s }(serverCPUs)
	for _, c := range []struct{ servers, steal string }{{"0", "2% (worst 4%)"}, {"0,1", "1% (worst 2%)"}, {"", "—"}} {
		serverCPUs = c.servers
		var b strings.Builder
		printReport(&b, rep, &options{rounds: 3, duration: time.Second, clients: 16})
		lines := []string{
			"| target | first event p50 | p99 | max | p50, new connections | taken by the hypervisor (steal) | runs with errors |",
			"|---|---|---|---|---|---|---|",
			"| proxy | 550 µs | 1.1 ms | 1.8 ms | 550 µs | " + c.steal + " | 0 |",
		}
		for _, want := range lines {
			if !strings.Contains(b.String(), want) || strings.Count(want, "|") != strings.Count(lines[0], "|") {
				t.Errorf("servers on %q: no line %q (of %d columns) in:\n%s", c.servers, want, strings.Count(lines[0], "|")-1, b.String())
			}
		}
	}
}

// The memory group's rows: the live heap per recorded exchange against its 700 B target, and the bytes counted per
// exchange below the bound as context (the density target is judged at the bound, in the proxy's row).
func TestReportStoreCapacity(t *testing.T) {
	for _, c := range []struct {
		heap, est, counted float64
		want               []string
	}{
		{700, 1724, 496, []string{"| **700 B** | ≤ 700 B | yes |", "| **3.48×** | — | — |"}},
		{701, 1724, 170, []string{"| **701 B** | ≤ 700 B | **no** |", "| **10.14×** | — | — |"}},
	} {
		rep := &report{Memory: &memoryResult{Exchanges: 10, HeapPerExchange: c.heap, EstimatePerExchange: c.est, CountedPerExchange: c.counted}}
		var b strings.Builder
		printReport(&b, rep, &options{rounds: 1, duration: time.Second, clients: 16})
		for _, w := range c.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%v: no %q in:\n%s", c, w, b.String())
			}
		}
	}
}

// The rows of issue 18's targets that compare with a peer other than the one the group's first rows use: serve
// with recording off ÷ the SDK (≥ 0.95×), the proxy's CPU per call ÷ the ReverseProxy's (≤ 1.25×) and the first
// event through the proxy ÷ through the ReverseProxy (≤ 1.15×).
func TestReportPeerRows(t *testing.T) {
	call := func(tput float64, cpu time.Duration) measurement {
		return measurement{Result: &loadgen.Result{Throughput: tput, Ops: 10, Completed: 10}, CPU: 10 * cpu}
	}
	first := func(p50 time.Duration) measurement {
		return measurement{First: &loadgen.Latency{P50: p50, P99: p50}, Cold: &loadgen.Latency{P50: p50}}
	}
	tg := func(key string, ms ...measurement) *target { return &target{Key: key, Label: key, Runs: ms} }
	procs := map[string]*target{
		"serve-off":    tg("serve-off", call(96, time.Millisecond), call(94, time.Millisecond), call(97, time.Millisecond)),
		"sdk":          tg("sdk", call(100, time.Millisecond), call(100, time.Millisecond), call(100, time.Millisecond)),
		"proxy":        tg("proxy", call(70, 130*time.Microsecond), call(70, 130*time.Microsecond), call(70, 130*time.Microsecond)),
		"revproxy":     tg("revproxy", call(90, 100*time.Microsecond), call(90, 100*time.Microsecond), call(90, 100*time.Microsecond)),
		"proxy-sse":    tg("proxy-sse", first(110*time.Microsecond), first(120*time.Microsecond), first(100*time.Microsecond)),
		"revproxy-sse": tg("revproxy-sse", first(100*time.Microsecond), first(100*time.Microsecond), first(100*time.Microsecond)),
	}
	rep := &report{procs: procs}
	var b strings.Builder
	printReport(&b, rep, &options{rounds: 3, duration: time.Second, clients: 16})
	out := b.String()
	for _, want := range []string{
		"| 1 | `serve` recording off ÷ go-sdk alone, tools/call throughput, legacy era (what serve's own layers cost) | **0.96×** (0.94–0.97) | ≥ 0.95× | yes |",
		"| 3 | `proxy` (recording on) ÷ bare ReverseProxy, server CPU per call | **1.30×** | ≤ 1.25× | **no** |",
		"| 3 | first SSE event through `proxy` ÷ bare ReverseProxy | **1.10×** (1.00–1.20) | ≤ 1.15× | yes |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in:\n%s", want, out)
		}
	}
}

// The row of issue 18's store capacity measured in `proxy --no-tui`: the exchanges it holds at its default bound
// ÷ the old estimate's count in the same bytes (128 MiB ÷ 1,724 B = 77,852), target ≥ 10×; not measured when the
// store's stats were not read.
func TestReportProxyStoreCapacity(t *testing.T) {
	for _, c := range []struct {
		held    int
		evicted uint64
		want    string
	}{
		{270_000, 730_000, "| **3.47×** | ≥ 10× | **no** |"},
		{800_000, 200_000, "| **10.28×** | ≥ 10× | yes |"},
		{500_000, 0, "| **6.42×** | ≥ 10× | **no** (the store never reached its bound) |"},
		{0, 0, "| — | ≥ 10× | not measured |"},
	} {
		p := &proxyMemory{Calls: 500_000, Lines: 1_000_000, Peak: 200 << 20, RSS: 190 << 20, Held: c.held, StoreBytes: 130_000_000, Evicted: c.evicted}
		rep := &report{Memory: &memoryResult{Exchanges: 10, HeapPerExchange: 700, EstimatePerExchange: 1724, CountedPerExchange: 496, Proxy: p}}
		var b strings.Builder
		printReport(&b, rep, &options{rounds: 1, duration: time.Second, clients: 16})
		if !strings.Contains(b.String(), c.want) || !strings.Contains(b.String(), "| **200 MiB** | ≤ 256 MiB | yes |") {
			t.Errorf("%v: no %q in:\n%s", c, c.want, b.String())
		}
	}
}

// A round of a throughput group runs its targets in turns: the round's rotated order, reversed every other turn;
// skipped targets never, and a target whose process is fresh each round (or that runs by count) once, whole.
func TestTurnOrder(t *testing.T) {
	ts := []*target{{Key: "a"}, {Key: "b"}, {Key: "c"}, {Key: "s", Skip: "no"}}
	keys := func(xs []*target) string {
		var out []string
		for _, x := range xs {
			out = append(out, x.Key)
		}
		return strings.Join(out, "")
	}
	if got := keys(turnOrder(ts, 1, 4)); got != "bca"+"acb"+"bca"+"acb" {
		t.Errorf("round 1, 4 turns: %s", got)
	}
	if got := keys(turnOrder(ts, 0, 1)); got != "abc" {
		t.Errorf("1 turn: %s", got)
	}
	ts[1].fresh = func(int) (*proc, string, error) { return nil, "", nil }
	if got := keys(turnOrder(ts, 0, 3)); got != "abc"+"ca"+"ac" {
		t.Errorf("a fresh target: %s", got)
	}
}
