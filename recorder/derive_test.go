package recorder

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

// A reverse proxy behind the recorder's middleware, with a Transport that derives: the upstream copy of an answer
// passed on as it was read is derived from the client's exchange; one the proxy rewrote is recorded on its own.
// (server/proxy's TestDerivedRecordsAreTheRecordedOnes holds both to the records made without deriving.)
func TestTransportDerivesWhatPassesOnUnchanged(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/sse" {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)
	store := NewStore(StoreOptions{})
	rec := New(store, Options{})
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &Transport{Recorder: rec, Derive: true}
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path == "/rewrite" {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			b = bytes.ReplaceAll(b, []byte(`"id":1`), []byte(`"id":2`))
			resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
			resp.Header.Del("Content-Length")
		}
		return nil
	}
	front := httptest.NewServer(rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body) // the body in memory, as server/proxy holds a small one
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		rp.ServeHTTP(w, r)
	})))
	defer front.Close()
	completed := func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			done := 0
			for _, ex := range store.Snapshot() {
				if ex.State == StateComplete {
					done++
				}
			}
			if done >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d exchanges completed, want %d", done, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i, tc := range []struct {
		path    string
		derived bool
	}{{"/json", true}, {"/sse", true}, {"/rewrite", false}} {
		before := derivedRecords.Load()
		resp, err := http.Post(front.URL+tc.path, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		completed(2 * (i + 1)) // the client's exchange completes after the client has the answer
		if got := derivedRecords.Load() - before; got != map[bool]uint64{true: 1, false: 0}[tc.derived] {
			t.Errorf("%s: %d records derived, want derived %v", tc.path, got, tc.derived)
		}
	}
	for _, ex := range store.Snapshot() {
		if ex.State != StateComplete || len(ex.RPC) != 2 || ex.RPC[1].ReplyTo != "ping" && ex.Kind == Outbound {
			t.Errorf("%s %s %s: %d messages %+v", ex.Kind, ex.URL, ex.State, len(ex.RPC), ex.RPC)
		}
	}
	// Every exchange ended, the derived ones too: a stopping server waits for none (a derived exchange stayed
	// counted in flight, and every proxy's stop waited out Wait's bound).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rec.Wait(ctx); err != nil {
		t.Errorf("Wait after every exchange completed: %v", err)
	}
	if open, streams := rec.Requests(); open != 0 || streams != 0 {
		t.Errorf("Requests after every exchange completed: %d open, %d streams", open, streams)
	}
}

// sameHeaders tells a header list made by FromHTTP from the map it was made of, and from any other.
func TestSameHeaders(t *testing.T) {
	h := http.Header{"Content-Type": {"application/json"}, "Set-Cookie": {"a=1", "b=2"}, "Date": {"now"}}
	if !sameHeaders(FromHTTP(h), h) {
		t.Errorf("FromHTTP(h) is not h")
	}
	for name, list := range map[string]Headers{
		"a value differs":         {{"Content-Type", "text/plain"}, {"Date", "now"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}},
		"values in another order": {{"Content-Type", "application/json"}, {"Date", "now"}, {"Set-Cookie", "b=2"}, {"Set-Cookie", "a=1"}},
		"a value more":            {{"Content-Type", "application/json"}, {"Date", "now"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"Set-Cookie", "c=3"}},
		"a value less":            {{"Content-Type", "application/json"}, {"Date", "now"}, {"Set-Cookie", "a=1"}},
		"a name less":             {{"Content-Type", "application/json"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}},
		"a name more":             {{"Content-Type", "application/json"}, {"Date", "now"}, {"Server", "x"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}},
		"a name twice apart":      {{"Content-Type", "application/json"}, {"Date", "now"}, {"Set-Cookie", "a=1"}, {"Date", "now"}, {"Set-Cookie", "b=2"}},
		"names in another order":  {{"Date", "now"}, {"Content-Type", "application/json"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}},
	} {
		if sameHeaders(list, h) {
			t.Errorf("%s: the same", name)
		}
	}
	if sameHeaders(nil, http.Header{"X-Empty": nil}) || !sameHeaders(nil, http.Header{}) {
		t.Errorf("empty lists")
	}
}

// A derived outbound exchange has no timer of its own: its parent's publishes its progress too, while the
// stream is open.
func TestDerivedStreamIsPublishedAsItGoes(t *testing.T) {
	next := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(next)
	target, _ := url.Parse(up.URL)
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(0)
	rec := New(store, Options{PublishDelay: time.Millisecond})
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &Transport{Recorder: rec, Derive: true}
	rp.FlushInterval = -1
	front := httptest.NewServer(rec.Middleware(rp))
	defer front.Close()
	before := derivedRecords.Load()
	resp, err := http.Get(front.URL + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	seen := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for !seen[Inbound] || !seen[Outbound] {
		select {
		case u := <-sub.C:
			if u.Kind == Changed && len(u.Exchange.Events) == 1 && len(u.Exchange.RPC) == 1 {
				seen[u.Exchange.Kind] = true
			}
		case <-timeout:
			t.Fatalf("the stream's event was published for %v only", seen)
		}
	}
	next <- struct{}{}
	io.Copy(io.Discard, resp.Body)
	deadline := time.Now().Add(10 * time.Second)
	for derivedRecords.Load() == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if derivedRecords.Load() == before {
		t.Errorf("the outbound exchange was not derived")
	}
}

// memRoundTripper answers every request in memory: a JSON-RPC answer, or (sse) the same answer in an event.
type memRoundTripper struct{ sse bool }

const memAnswer = `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello"}]}}`

func (m memRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	body, ct := memAnswer, "application/json"
	if m.sse {
		body, ct = "event: message\ndata: "+memAnswer+"\n\n", "text/event-stream"
	}
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {ct}, "Content-Length": {strconv.Itoa(len(body))}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: req}, nil
}

// forwardUpstream sends r on through tr as server/proxy does: its small body read into memory (with GetBody), the
// URL aimed at the upstream.
func forwardUpstream(r *http.Request, tr http.RoundTripper) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(b))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	out.URL.Scheme, out.URL.Host, out.RequestURI = "http", "upstream.test", ""
	return tr.RoundTrip(out)
}

// proxiedCall returns a handler behind rec's middleware that forwards a call through tr as server/proxy does (a
// small body held in memory, the answer copied piece by piece), and a function that makes one call.
func proxiedCall(tb testing.TB, rec *Recorder, tr http.RoundTripper) func() {
	h := proxiedHandler(tb, rec, tr)
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`
	return func() {
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
		r.ContentLength = int64(len(body))
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

// proxiedHandler is proxiedCall's handler.
func proxiedHandler(tb testing.TB, rec *Recorder, tr http.RoundTripper) http.Handler {
	return rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := forwardUpstream(r, tr)
		if err != nil {
			tb.Error(err)
			return
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		var buf [512]byte
		io.CopyBuffer(w, resp.Body, buf[:])
		resp.Body.Close()
	}))
}

// The upstream copy of a proxied JSON-RPC call, recorded on its own and derived from its client's exchange,
// beside the same call with the upstream copy not recorded: deriving it costs a bounded number of allocations (1,
// answered with JSON or with an event — its live state; its header lists are one more where the request has headers
// (two before px20: TestUpstreamCopyHeaderListsOneAllocation):
// 7 on its own; its request body is not copied, its response neither kept nor
// parsed, its headers shared, and the record it completes with is the one subscribers hear — 13 while the store
// materialised another; 8 while its URL was written again each time and its link note had a list of its own:
// px18b; 6, and 8 with an event, while its record and its client's were two allocations, its events' list a third,
// the two link notes' values two texts, its begin took a snapshot nobody asked for, and its request body was
// compared from a replay rather than where it is: px19).
func TestDerivedUpstreamCopyAllocations(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts under -race are the race detector's")
	}
	for _, sse := range []bool{false, true} {
		store := NewStore(StoreOptions{MaxCount: 16})
		rec := New(store, Options{PublishDelay: time.Hour}) // no late publish on a busy machine: it would be counted
		serve := func(tr http.RoundTripper) func() { return proxiedCall(t, rec, tr) }
		before := derivedRecords.Load()
		// the fewest of three runs (leastAllocs): a collection during a run also empties the pools (parsers, timers,
		// held pieces), and their refilling is counted in that run
		allocs := leastAllocs
		up := memRoundTripper{sse: sse}
		unrecorded := allocs(serve(up))
		own := allocs(serve(&Transport{Base: up, Recorder: rec}))
		derived := allocs(serve(&Transport{Base: up, Recorder: rec, Derive: true}))
		if n := derivedRecords.Load() - before; n < 200 {
			t.Fatalf("sse %v: %d upstream copies derived, want every one", sse, n)
		}
		ex := store.Get(store.Stats().Total)
		if ex == nil || ex.Kind != Outbound || len(ex.RPC) != 2 || ex.RPC[1].ReplyTo != "tools/call" || len(ex.RespBody.Data) < 78 ||
			sse != (len(ex.Events) == 1) {
			t.Fatalf("sse %v: the upstream copy: %+v", sse, ex)
		}
		t.Logf("sse %v: %.0f allocations with the upstream copy unrecorded, %.0f recorded on its own, %.0f derived", sse, unrecorded, own, derived)
		if derived-unrecorded > 1 || derived >= own {
			t.Errorf("sse %v: the derived upstream copy adds %.0f allocations (recorded on its own: %.0f), want at most 1 and fewer",
				sse, derived-unrecorded, own-unrecorded)
		}
	}
}

// BenchmarkUpstreamCopy: a proxied call in memory (no network: the recorder's share is most of it) with its
// upstream copy not recorded, recorded on its own, and derived from the client's exchange; answered with JSON
// or with an event. cpu-ns/op is the process's CPU (the garbage collector's included).
func BenchmarkUpstreamCopy(b *testing.B) {
	for _, answer := range []string{"json", "sse"} {
		up := memRoundTripper{sse: answer == "sse"}
		store := NewStore(StoreOptions{})
		rec := New(store, Options{})
		for _, tc := range []struct {
			name string
			tr   http.RoundTripper
		}{{"unrecorded", up}, {"own", &Transport{Base: up, Recorder: rec}}, {"derived", &Transport{Base: up, Recorder: rec, Derive: true}}} {
			b.Run(answer+"/"+tc.name, func(b *testing.B) {
				call := proxiedCall(b, rec, tc.tr)
				b.ReportAllocs()
				cpu0 := testkit.ProcessCPU()
				for b.Loop() {
					call()
				}
				b.ReportMetric(float64((testkit.ProcessCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// An event stream's recording borrows its timer and its parser from pools (put back when the exchange ends): a
// recorded JSON-RPC call answered with one event, beside the same handler unrecorded, adds a bounded number of
// allocations, none of them a timer or a parser.
func TestRecorderStreamAllocations(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts under -race are the race detector's")
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		io.WriteString(w, "event: message\ndata: "+memAnswer+"\n\n")
		w.(http.Flusher).Flush()
	})
	store := NewStore(StoreOptions{MaxCount: 16})
	rec := New(store, Options{}).Middleware(h)
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}`
	serve := func(h http.Handler) func() {
		return func() {
			r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
	}
	bare, recorded := testing.AllocsPerRun(200, serve(h)), testing.AllocsPerRun(200, serve(rec))
	if ex := store.Get(store.Stats().Total); ex == nil || len(ex.Events) != 1 || len(ex.RPC) != 2 || ex.RPC[1].ReplyTo != "tools/call" {
		t.Fatalf("not recorded: %+v", ex)
	}
	t.Logf("%.0f allocations bare, %.0f recorded", bare, recorded)
	if recorded-bare > 16 {
		t.Errorf("recording adds %.0f allocations per streamed exchange, want at most 16", recorded-bare)
	}
}
