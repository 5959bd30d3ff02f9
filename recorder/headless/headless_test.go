package headless

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/durfmt"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// syncBuffer is written by the printer goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func fixture(t *testing.T, name string) []*recorder.Exchange {
	t.Helper()
	res, err := recorder.LoadCapture(filepath.Join("..", "analysis", "testdata", name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return analysis.SettleOrder(res.Exchanges)
}

func end(exs []*recorder.Exchange) time.Time {
	var t time.Time
	for _, ex := range exs {
		if e := ex.Start.Add(ex.Timings.Total); e.After(t) {
			t = e
		}
	}
	return t
}

// feed plays a capture through a store into Run, live: absence rules are judged at the last exchange while it
// plays (the clock of a live run), then a minute after its end (the capture ended); it returns the output.
func feed(t *testing.T, name string, opts Options) (string, []*recorder.Exchange) {
	t.Helper()
	exs := fixture(t, name)
	var mu sync.Mutex
	var now time.Time // zero: judge at the last exchange seen
	opts.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	store := recorder.NewStore(recorder.StoreOptions{})
	sub := store.Subscribe(4096)
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), store, sub, &out, opts) }()
	for _, ex := range exs {
		store.Add(ex)
	}
	waitFor(t, func() bool { return exchangeLines(out.String(), opts.JSON) >= len(exs) })
	mu.Lock()
	now = end(exs).Add(time.Minute)
	mu.Unlock()
	sub.Close() // Run judges the findings once more, then returns
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return out.String(), exs
}

// exchangeLines counts the exchange lines (or events) of an output.
func exchangeLines(out string, asJSON bool) int {
	if asJSON {
		return strings.Count(out, `"event":"exchange"`)
	}
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if l != "" && !strings.HasPrefix(l, "! ") && !strings.HasPrefix(l, "# ") {
			n++
		}
	}
	return n
}

func TestTextLinesCarryStageAndClient(t *testing.T) {
	out, exs := feed(t, "initialize-no-session-id", Options{})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var exLines, findings []string
	for _, l := range lines {
		if strings.HasPrefix(l, "! ") {
			findings = append(findings, l)
		} else {
			exLines = append(exLines, l)
		}
	}
	if len(exLines) != len(exs) {
		t.Fatalf("%d exchange lines for %d exchanges:\n%s", len(exLines), len(exs), out)
	}
	for _, want := range []string{"probe", "challenge", "resource-metadata", "auth-metadata", "register", "authorize", "consent", "token", "initialize"} {
		if !strings.Contains(out, " "+want+" ") {
			t.Errorf("no line with stage %s:\n%s", want, out)
		}
	}
	// The HEAD probe's python-httpx names nobody alone (a shared signal): it is printed before Claude-User names
	// the connection.
	for i, l := range exLines {
		if !strings.HasSuffix(l, " claude      c1") && !(i == 0 && strings.HasSuffix(l, " unknown     c1")) {
			t.Errorf("line does not end with client and connection: %q", l)
		}
	}
	if len(findings) != 1 ||
		!strings.HasPrefix(findings[0], "! warn initialize-no-session-id [c1 #") || !strings.Contains(findings[0], ", toggle omit-session-id]: initialize was answered without an Mcp-Session-Id header. — Issue an Mcp-Session-Id") {
		t.Errorf("findings:\n%s", strings.Join(findings, "\n"))
	}
	// A finding is printed right after the exchange that caused it.
	for i, l := range lines {
		if strings.HasPrefix(l, "! warn initialize-no-session-id") && !strings.Contains(lines[i-1], " initialize ") {
			t.Errorf("finding not after its exchange: %q then %q", lines[i-1], l)
		}
	}
}

func TestJSONEvents(t *testing.T) {
	out, exs := feed(t, "challenge-no-resource-metadata", Options{JSON: true})
	var evs []Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		evs = append(evs, ev)
	}
	var exchanges, findings int
	for _, ev := range evs {
		switch ev.Event {
		case EventExchange:
			exchanges++
			// The first, the HEAD probe's python-httpx, names nobody alone.
			if ev.Exchange == nil || ev.Stage == "" || ev.Client != analysis.ClientClaude && !(exchanges == 1 && ev.Client == analysis.ClientUnknown) || ev.Connection != "c1" || ev.Status == "" {
				t.Errorf("exchange event %+v", ev)
			}
		case EventFinding:
			findings++
			f := ev.Finding
			if f == nil || f.Rule != "challenge-no-resource-metadata" || f.Toggle != "omit-resource-metadata" || f.Fix == "" || f.Source == "" {
				t.Errorf("finding event %+v", f)
			}
		default:
			t.Errorf("unexpected event %q", ev.Event)
		}
	}
	if exchanges != len(exs) || findings != 1 {
		t.Fatalf("%d exchange and %d finding events, want %d and 1:\n%s", exchanges, findings, len(exs), out)
	}
	// The HEAD probe's 401 already lacks resource_metadata: its finding follows it at once.
	if evs[0].Stage != analysis.StageProbe || len(evs[0].Findings) != 1 || evs[0].Findings[0] != "challenge-no-resource-metadata" ||
		evs[1].Event != EventFinding || evs[2].Stage != analysis.StageChallenge {
		t.Errorf("first events %+v %+v %+v", evs[0], evs[1], evs[2])
	}
}

// A rule about something that never happened is printed when its grace ends, with nothing else arriving.
func TestAbsenceFindingPrintedOnTick(t *testing.T) {
	exs := fixture(t, "authorize-no-token")
	var mu sync.Mutex
	now := end(exs)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	store := recorder.NewStore(recorder.StoreOptions{})
	sub := store.Subscribe(4096)
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, store, sub, &out, Options{Tick: 5 * time.Millisecond, Now: clock, Analysis: analysis.Options{Grace: 10 * time.Second}})
	}()
	for _, ex := range exs {
		store.Add(ex)
	}
	waitFor(t, func() bool { return strings.Count(out.String(), "\n") >= len(exs) })
	time.Sleep(30 * time.Millisecond)
	if strings.Contains(out.String(), "authorize-no-token") {
		t.Fatal("printed before the grace ended")
	}
	mu.Lock()
	now = now.Add(11 * time.Second)
	mu.Unlock()
	waitFor(t, func() bool { return strings.Contains(out.String(), "! error authorize-no-token [c1 #") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "authorize-no-token"); n != 1 {
		t.Errorf("printed %d times", n)
	}
}

func TestDroppedUpdatesAreReported(t *testing.T) {
	exs := fixture(t, "sdk-go-legacy")
	store := recorder.NewStore(recorder.StoreOptions{PublishDelay: -1}) // each update handed over as it is made
	sub := store.Subscribe(1)
	for _, ex := range exs {
		store.Add(ex) // nobody reads yet: all but one update are dropped
	}
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), store, sub, &out, Options{JSON: true}) }()
	waitFor(t, func() bool { return strings.Contains(out.String(), `"event":"dropped"`) })
	sub.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var ev Event
	if err := json.Unmarshal([]byte(strings.SplitN(out.String(), "\n", 2)[0]), &ev); err != nil || ev.Event != EventDropped || ev.Dropped != uint64(2*len(exs)-1) {
		t.Errorf("first event %+v (%v), want %d dropped", ev, err, 2*len(exs)-1)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Durations keep three significant digits (the TUI shows 149µs; a fixed 100 µs unit printed 100µs).
func TestDuration(t *testing.T) {
	ex := &recorder.Exchange{Method: "POST", URL: "/mcp", Status: 200, Timings: recorder.Timings{Total: 149 * time.Microsecond}}
	if l := Line(ex); !strings.Contains(l, " 149µs") {
		t.Errorf("line %q does not show 149µs", l)
	}
}

// In proxy mode each request is two exchanges: the upstream's copy is marked "→" with the upstream's origin at the
// end of its line, and keeps the columns (time, method, path, JSON-RPC method, status, duration) of every line.
func TestOutboundLinesAreMarked(t *testing.T) {
	out, exs := feed(t, "proxy-upstream-localhost", Options{})
	var upstream string
	var wantUp int
	for _, ex := range exs {
		if ex.Kind == recorder.Outbound {
			wantUp++
			upstream = origin(ex.URL)
		}
	}
	if wantUp == 0 || !strings.HasPrefix(upstream, "http://127.0.0.1:") {
		t.Fatalf("fixture: %d outbound exchanges, upstream %q", wantUp, upstream)
	}
	var in, up int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "! ") {
			continue
		}
		if f := strings.Fields(l); len(f) < 6 || !strings.HasPrefix(f[2], "/") {
			t.Errorf("columns broken: %q", l)
		}
		if strings.HasSuffix(l, " → "+upstream) {
			up++
		} else if !strings.Contains(l, "→") {
			in++
		}
	}
	if up != wantUp || in != len(exs)-wantUp {
		t.Errorf("%d marked and %d unmarked lines, want %d and %d:\n%s", up, in, wantUp, len(exs)-wantUp, out)
	}
}

// fmtLine is the line as the printer once wrote it with fmt; appendLine must write the same bytes.
func fmtLine(ex *recorder.Exchange, in *analysis.Info) string {
	rpc := ex.RPCMethod()
	if rpc == "" {
		rpc = "-"
	}
	status := fmt.Sprint(ex.Status)
	if ex.Error != "" && ex.Status == 0 {
		status = "ERR"
	}
	line := fmt.Sprintf("%s %-6s %-44s %-28s %3s %8s", ex.Start.Format("15:04:05.000"), ex.Method, ex.Path(), rpc, status,
		durfmt.Sig3(ex.Timings.Total))
	if in != nil {
		stage := string(in.Stage)
		if in.Status == analysis.StatusFailed {
			stage += "!"
		}
		conn, client := in.Connection, string(in.Client)
		if conn == "" {
			conn = "-"
		}
		if client == "" {
			client = string(analysis.ClientUnknown)
		}
		line = fmt.Sprintf("%s  %-18s %-11s %s", line, stage, client, conn)
	}
	if code, _, ok := ex.RPCError(); ok {
		line += fmt.Sprintf(" rpc-error=%d", code)
	}
	if ex.Error != "" {
		line += fmt.Sprintf(" error=%q", ex.Error)
	}
	if ex.Kind == recorder.Outbound {
		line += " → " + origin(ex.URL)
	}
	return line
}

func TestLinesAreWhatFmtWrote(t *testing.T) {
	code := -32601
	start := time.Date(2026, 12, 2, 9, 4, 5, 123456789, time.Local)
	exs := []*recorder.Exchange{
		{Kind: recorder.Inbound, Start: start, Method: "POST", URL: "/mcp", Status: 200, Timings: recorder.Timings{Total: 1490 * time.Microsecond},
			RPC: []recorder.RPC{{From: recorder.FromClient, Method: "tools/call"}}},
		{Kind: recorder.Inbound, Start: start, Method: "OPTIONS", URL: "/.well-known/oauth-protected-resource/mcp/with/a/very/long/path/beyond/the/column?x=1", Status: 204},
		{Kind: recorder.Inbound, Start: start, Method: "GET", URL: "/ümlaut/päth", Status: 404, Timings: recorder.Timings{Total: 75 * time.Second}},
		{Kind: recorder.Inbound, Start: start, Method: "POST", URL: "/mcp", Error: "client went away \"before\" a response\n",
			RPC: []recorder.RPC{{From: recorder.FromClient, Method: "a/method/name/longer/than/twenty/eight/characters"}}},
		{Kind: recorder.Outbound, Start: start, Method: "POST", URL: "http://127.0.0.1:8080/mcp?q=1", Status: 502,
			RPC: []recorder.RPC{{From: recorder.FromServer, IsResponse: true, ErrorCode: &code}}},
		// Bytes that are not UTF-8 count a rune each in the padding, as fmt counts them; a very long method.
		{Kind: recorder.Inbound, Start: start.Add(-9 * time.Hour), Method: "PROPFIND\xff", URL: "/\xff\x80mcp/\xe2\x82", Status: 999,
			Timings: recorder.Timings{Total: 850}},
		{Kind: recorder.Inbound, Start: time.Date(2026, 1, 1, 23, 59, 59, 999_999_999, time.UTC), Method: "DELETE", URL: "/mcp",
			Status: 200, Timings: recorder.Timings{Total: 59_999 * time.Millisecond}},
	}
	infos := []*analysis.Info{nil,
		{Stage: analysis.StageInitialize, Status: analysis.StatusFailed, Client: analysis.ClientClaude, Connection: "c12"},
		{Stage: analysis.StageResourceMetadata},
	}
	// Pinned as printed, column for column (the e2e harness parses these columns).
	for i, want := range []string{
		"09:04:05.123 POST   /mcp                                         tools/call                   200   1.49ms",
		"09:04:05.123 OPTIONS /.well-known/oauth-protected-resource/mcp/with/a/very/long/path/beyond/the/column -                            204       0s  initialize!        claude      c12",
		"09:04:05.123 POST   /mcp                                         -                            502       0s  resource-metadata  unknown     - rpc-error=-32601 → http://127.0.0.1:8080",
	} {
		ex, in := [][2]int{{0, 0}, {1, 1}, {4, 2}}[i][0], [][2]int{{0, 0}, {1, 1}, {4, 2}}[i][1]
		if got := string(appendLine(nil, exs[ex], infos[in])); got != want {
			t.Errorf("line %d:\n got %q\nwant %q", i, got, want)
		}
	}
	for i, ex := range exs {
		for _, in := range infos {
			if got, want := string(appendLine(nil, ex, in)), fmtLine(ex, in); got != want {
				t.Errorf("exchange %d, info %v:\n got %q\nwant %q", i, in, got, want)
			}
		}
	}
}

func BenchmarkLine(b *testing.B) {
	ex := &recorder.Exchange{Kind: recorder.Inbound, Start: time.Now(), Method: "POST", URL: "/mcp", Status: 200,
		Timings: recorder.Timings{Total: 1490 * time.Microsecond}, RPC: []recorder.RPC{{From: recorder.FromClient, Method: "tools/call"}}}
	in := &analysis.Info{Stage: analysis.StageCall, Client: analysis.ClientClaude, Connection: "c1"}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for range b.N {
			buf = appendLine(buf[:0], ex, in)
		}
	})
	b.Run("fmt", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = fmtLine(ex, in)
		}
	})
}

// TestLiveAndSavedAgree runs every capture fixture both ways — live, as `serve` prints it (each exchange published
// when it settles, the wall clock past the grace at the end), and saved, as `mcpwatch open` prints it — and
// compares the findings (rule and the start of its exchange: the store numbers exchanges anew). The order of live
// snapshots, streams included, is analysis's TestIncrementalMatchesBatch.
func TestLiveAndSavedAgree(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "analysis", "testdata", "*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	keys := func(out string) []string {
		var ks []string
		for _, l := range strings.Split(out, "\n") {
			var ev Event
			if json.Unmarshal([]byte(l), &ev) == nil && ev.Event == EventFinding && ev.Finding != nil {
				ks = append(ks, ev.Finding.Rule+"@"+ev.Finding.At.Format(time.RFC3339Nano))
			}
		}
		slices.Sort(ks)
		return ks
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		t.Run(name, func(t *testing.T) {
			exs := fixture(t, name)
			var mu sync.Mutex
			var now time.Time
			opts := Options{JSON: true, Tick: time.Hour, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
			store := recorder.NewStore(recorder.StoreOptions{})
			sub := store.Subscribe(4096)
			var out syncBuffer
			res := make(chan error, 1)
			go func() { res <- Run(context.Background(), store, sub, &out, opts) }()
			for _, ex := range exs { // fixture() gives them in the order they settle
				store.Add(ex)
			}
			waitFor(t, func() bool { return exchangeLines(out.String(), true) >= len(exs) })
			mu.Lock()
			now = end(exs).Add(time.Minute)
			mu.Unlock()
			sub.Close()
			if err := <-res; err != nil {
				t.Fatal(err)
			}
			var saved bytes.Buffer
			if err := Print(&saved, exs, Options{JSON: true}); err != nil {
				t.Fatal(err)
			}
			if l, s := keys(out.String()), keys(saved.String()); !slices.Equal(l, s) {
				t.Errorf("live findings %v, saved %v", l, s)
			}
		})
	}
}

// writes signals each Write (the printer flushes once a message).
type writes chan int

func (w writes) Write(b []byte) (int, error) { w <- len(b); return len(b), nil }

// The printer forgets the exchanges the feeder let go at most once each time its set of printed ones doubles: it
// scanned the whole set (every exchange held, up to the store's 100,000) for every message once it held more than
// 8192, whether anything was let go or not.
func TestWatchForgetsInAmortisedTime(t *testing.T) {
	const n = 12000
	svc := live.New(live.Options{Saved: true})
	defer svc.Close()
	sub := svc.Subscribe()
	w := make(writes, 1)
	p := &printer{bw: bufio.NewWriter(w), printed: map[string]uint64{}}
	done := make(chan error, 1)
	go func() { done <- p.watch(context.Background(), sub) }()
	start := time.Unix(1700000000, 0)
	for i := uint64(1); i <= n; i++ {
		ex := &recorder.Exchange{ID: i, Method: "GET", URL: "/health", Status: 200, State: recorder.StateComplete,
			Start: start.Add(time.Duration(i) * time.Millisecond)}
		svc.Push(live.Batch{Epoch: 1, Seq: i, Exchanges: []*recorder.Exchange{ex}, From: 1})
		select {
		case <-w: // its line
		case <-time.After(10 * time.Second):
			t.Fatalf("#%d never printed", i)
		}
	}
	svc.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p.shown.n != n {
		t.Fatalf("%d exchanges shown, want %d", p.shown.n, n)
	}
	if p.prunes > 3 {
		t.Fatalf("the printed set was scanned %d times for %d messages", p.prunes, n)
	}
}

// TestWatchForgetsPrintedFindings: over a long public session every stranger's connection adds findings; the
// printer lets go of those the analysis no longer reports once the feeder let their exchanges go, so the set of
// printed findings stays within a bound of what is held rather than growing with every connection ever seen.
func TestWatchForgetsPrintedFindings(t *testing.T) {
	const n, held = 9000, 200
	svc := live.New(live.Options{Saved: true, Analysis: analysis.Options{MaxExchanges: held}})
	defer svc.Close()
	sub := svc.Subscribe()
	var mu sync.Mutex
	lines := 0
	w := lineCounter{mu: &mu, n: &lines, wrote: make(chan struct{}, 1)}
	p := &printer{bw: bufio.NewWriter(w), printed: map[string]uint64{}}
	done := make(chan error, 1)
	go func() { done <- p.watch(context.Background(), sub) }()
	start := time.Unix(1700000000, 0)
	for i := uint64(1); i <= n; i++ {
		// A 401 on the MCP endpoint without WWW-Authenticate, each from a client of its own: a finding each.
		ex := &recorder.Exchange{ID: i, Kind: recorder.Inbound, Method: "POST", URL: "/mcp", Status: 401, State: recorder.StateComplete,
			RemoteAddr: fmt.Sprintf("10.%d.%d.%d:4000", i>>16&255, i>>8&255, i&255),
			ReqHeaders: recorder.Headers{{Name: "User-Agent", Value: fmt.Sprintf("stranger/%d", i)}},
			Start:      start.Add(time.Duration(i) * time.Millisecond)}
		from := uint64(1) // the feeder holds the last `held` exchanges
		if i > held {
			from = i + 1 - held
		}
		svc.Push(live.Batch{Epoch: 1, Seq: i, Exchanges: []*recorder.Exchange{ex}, From: from})
		select {
		case <-w.wrote: // its line (and its finding)
		case <-time.After(10 * time.Second):
			t.Fatalf("#%d never printed", i)
		}
	}
	svc.Finish()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if lines < n/2 {
		t.Fatalf("%d findings printed for %d strangers: the test does not exercise the set", lines, n)
	}
	if len(p.printed) > 2*4096+held {
		t.Fatalf("%d printed findings remembered after %d printed, %d exchanges held", len(p.printed), lines, held)
	}
}

// lineCounter counts the finding lines written and says that something was written.
type lineCounter struct {
	mu    *sync.Mutex
	n     *int
	wrote chan struct{}
}

func (w lineCounter) Write(b []byte) (int, error) {
	w.mu.Lock()
	*w.n += strings.Count(string(b), "challenge-no-www-authenticate")
	w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(b), nil
}

// An upstream copy's line names its upstream's origin without a copy of it: it allocates no more than the same
// exchange's line as an inbound one, which has no origin.
func TestOutboundLineCopiesNoOrigin(t *testing.T) {
	ex := &recorder.Exchange{Kind: recorder.Outbound, Start: time.Now(), Method: "POST", URL: "http://127.0.0.1:8080/mcp?x=1", Status: 200,
		Timings: recorder.Timings{Total: 1490 * time.Microsecond}, RPC: []recorder.RPC{{From: recorder.FromClient, Method: "tools/call"}}}
	in := &analysis.Info{Stage: analysis.StageCall, Client: analysis.ClientClaude, Connection: "c1"}
	inbound := *ex
	inbound.Kind = recorder.Inbound
	buf := make([]byte, 0, 512)
	base := testing.AllocsPerRun(100, func() { buf = appendLine(buf[:0], &inbound, in) })
	if n := testing.AllocsPerRun(100, func() { buf = appendLine(buf[:0], ex, in) }); n != base {
		t.Errorf("%.0f allocations an upstream copy's line, %.0f the same exchange's as an inbound one", n, base)
	}
	if !strings.HasSuffix(string(buf), " → http://127.0.0.1:8080") {
		t.Errorf("the line %q does not end with its origin", buf)
	}
	for u, want := range map[string]string{"http://h:1/p": "http://h:1", "https://h": "https://h", "http://h?q#f": "http://h", "/mcp": "", "a://b#c/d": "a://b"} {
		if got := origin(u); got != want {
			t.Errorf("origin(%q) = %q, want %q", u, got, want)
		}
	}
}

// The printer's line allocates nothing for an exchange under a minute (its duration was a string of its own, one
// allocation a line, and the padding and clock cost half the line's time), and its clock is AppendFormat's.
func TestLineAllocatesNothing(t *testing.T) {
	ex := &recorder.Exchange{Kind: recorder.Outbound, Start: time.Now(), Method: "POST", URL: "http://127.0.0.1:9000/mcp", Status: 200,
		Timings: recorder.Timings{Total: 1490 * time.Microsecond}, RPC: []recorder.RPC{{From: recorder.FromClient, Method: "tools/call"}}}
	in := &analysis.Info{Stage: analysis.StageCall, Client: analysis.ClientUnknown, Connection: "c1"}
	buf := appendLine(nil, ex, in)
	if n := testing.AllocsPerRun(100, func() { buf = appendLine(buf[:0], ex, in) }); n != 0 {
		t.Errorf("%v allocations a line, want 0", n)
	}
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for _, loc := range []*time.Location{time.UTC, time.Local, time.FixedZone("x", -(9*3600 + 30*60)), time.FixedZone("y", 13*3600+45*60)} {
		for i := range 20_000 {
			tm := at.Add(time.Duration(i) * 4_321_987_654_321).In(loc) // every hour, minute and millisecond turn
			if got, want := string(appendClock(nil, tm)), tm.Format("15:04:05.000"); got != want {
				t.Fatalf("appendClock(%v) = %q, want %q", tm, got, want)
			}
		}
	}
}
