package recorder

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// windowState is what the recorder has done when a stream's first bytes go out.
type windowState struct {
	lateQueued   int  // exchanges in the recorder's late queue
	lateArmed    bool // its timer running
	copyInFlight bool // the copy is in the store, in flight
	getHeaders   Headers
	events       int  // events cut by the client's exchange
	bodyBytes    int  // bytes of the response recorded
	copyPend     int  // bytes the copy read and holds, not passed on yet
	getEvents    int  // events a reader of the client's exchange sees
	headersAlone bool // the headers were flushed alone before the first write (they arm the late timer then)
}

// flushProbe is the server's writer under the recorder's middleware: at the first flush — when the first event
// goes out — it notes what the recorder has done so far.
type flushProbe struct {
	http.ResponseWriter
	rec   *Recorder
	once  sync.Once
	state *windowState
	wrote atomic.Bool
}

func (p *flushProbe) Write(b []byte) (int, error) {
	p.wrote.Store(true)
	return p.ResponseWriter.Write(b)
}

// Flush notes the state at the first flush after the body's first write: httputil.ReverseProxy's first flush, of
// the headers alone, runs from a timer and may come before it.
func (p *flushProbe) Flush() {
	if !p.wrote.Load() {
		p.state.headersAlone = true
		p.ResponseWriter.(http.Flusher).Flush()
		return
	}
	p.once.Do(func() {
		q := &p.rec.late
		q.mu.Lock()
		p.state.lateQueued, p.state.lateArmed = len(q.ls), q.armed
		q.mu.Unlock()
		s := p.rec.store
		s.mu.Lock()
		e, ok := s.lazy[2]
		in, inOK := s.lazy[1]
		s.mu.Unlock()
		if ok && inOK {
			p.state.copyInFlight = true
			in.l.mu.Lock()
			e.l.mu.Lock()
			p.state.events, p.state.bodyBytes = len(in.l.ex.Events), len(in.l.ex.RespBody.Data)
			p.state.copyPend = len(e.l.pend.b)
			e.l.mu.Unlock()
			in.l.mu.Unlock()
		}
		// a reader of the client's exchange sees its first event all the same
		if ex := s.Get(1); ex != nil {
			p.state.getEvents = len(ex.Events)
		}
		// a reader of the copy in flight sees its request headers all the same
		if ex := s.Get(2); ex != nil {
			p.state.getHeaders = ex.ReqHeaders
		}
	})
	p.ResponseWriter.(http.Flusher).Flush()
}

// A stream through a recording reverse proxy (the upstream copy derived from the client's exchange): when its
// first event goes out, the recorder has copied its bytes but not cut its event nor passed the piece to the upstream
// copy, nor armed the late timer — neither is needed before the first byte out, and both came between the
// request's arrival and it (issue 18, docs/benchmarks-store.md, "The first event through proxy, round seven"); once
// it went out, both are done, and a reader in the window (Get) sees the event and the copy's headers meanwhile. The
// records are what they were.
func TestFirstEventWindowLeavesTimerAndEvents(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":1}}\n\n")
		w.(http.Flusher).Flush()
		<-release
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	store := NewStore(StoreOptions{})
	sub := store.SubscribeWith(SubscribeOptions{Buffer: 64, NoBegan: true})
	defer sub.Close()
	rec := New(store, Options{})
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: &Transport{Recorder: rec, Derive: true},
	}
	var state windowState
	mw := rec.Middleware(rp)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.ServeHTTP(&flushProbe{ResponseWriter: w, rec: rec, state: &state}, r)
	}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\n" {
			break
		}
	}
	if !state.copyInFlight {
		t.Fatal("the upstream copy was not in flight when the first event went out")
	}
	// (headers flushed alone before — httputil.ReverseProxy's timer may flush them first — armed it for the
	// stream's start, as writeHeader did before the window: TestIdleStreamStartIsPublished)
	if !state.headersAlone && (state.lateQueued != 0 || state.lateArmed) {
		t.Errorf("when the first event went out: %d streams in the late queue, its timer armed %v; want none, not armed", state.lateQueued, state.lateArmed)
	}
	if state.events != 0 || state.bodyBytes == 0 || state.copyPend == 0 {
		t.Errorf("when the first event went out: %d events cut, %d body bytes recorded, the copy holding %d bytes read; want none cut, the bytes copied, the piece held",
			state.events, state.bodyBytes, state.copyPend)
	}
	if state.getEvents != 1 {
		t.Errorf("Get of the client's exchange in the window: %d events, want 1", state.getEvents)
	}
	if state.getHeaders.Get("Accept") != "text/event-stream" {
		t.Errorf("Get of the upstream copy in flight: request headers %v", state.getHeaders)
	}
	// after it: the stream's state is published by the late timer (a Changed update), the copy's list is built
	deadline := time.After(10 * time.Second)
	for changed := false; !changed; {
		select {
		case u := <-sub.C:
			changed = u.Kind == Changed && u.Exchange.ID == 1 && len(u.Exchange.Events) == 1
		case <-deadline:
			t.Fatal("no update of the stream after its first event went out")
		}
	}
	close(release)
	io.Copy(io.Discard, br)
	done := waitCompleted(t, sub, 2)
	for _, ex := range done {
		if ex.ReqHeaders.Get("Accept") != "text/event-stream" {
			t.Errorf("exchange %d completed with request headers %v", ex.ID, ex.ReqHeaders)
		}
		if len(ex.Events) != 1 || len(ex.RPC) != 1 {
			t.Errorf("exchange %d completed with %d events, %d messages", ex.ID, len(ex.Events), len(ex.RPC))
		}
	}
	if out := store.Get(2); out == nil || !strings.Contains(out.URL, u.Host) || out.Kind != Outbound {
		t.Errorf("the upstream copy: %+v", out)
	}
}

// The live exchange (two a proxied call) stays in the allocation size class it had before the first event's window
// gave it fields of its own: an object of more than 512 bytes with pointers is allocated with an 8-byte header, so
// 1,272 bytes at most fit the class of 1,280; past it, the next class is 1,408, 256 bytes more a proxied call.
func TestLiveKeepsItsSizeClass(t *testing.T) {
	const class, header = 1280, 8
	if n := unsafe.Sizeof(live{}); n+header > class {
		t.Errorf("a live exchange is %d bytes: with its allocation header past the size class of %d", n, class)
	}
}

// A flush of the headers alone does not end the first event's window: httputil.ReverseProxy flushes a stream's
// headers from a timer that may run before its first write, and the window's moves (the first write's events cut
// after the flush, the late timer armed then) were skipped for that stream (3 runs of 40 of the test above).
func TestHeadersOnlyFlushKeepsTheWindow(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.SubscribeWith(SubscribeOptions{Buffer: 64, NoBegan: true})
	defer sub.Close()
	rec := New(store, Options{})
	type seen struct{ afterHeaders, afterEvent bool }
	got := make(chan seen, 1)
	out := func() bool {
		store.mu.Lock()
		e, ok := store.lazy[1]
		store.mu.Unlock()
		if !ok {
			return true // no longer in flight as begun: it was published
		}
		e.l.mu.Lock()
		defer e.l.mu.Unlock()
		return e.l.out
	}
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		var s seen
		s.afterHeaders = out()
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n")
		w.(http.Flusher).Flush()
		s.afterEvent = out()
		got <- s
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/mcp", nil))
	if s := <-got; s.afterHeaders || !s.afterEvent {
		t.Errorf("the window ended after the headers' flush: %v, after the event's: %v; want false, true", s.afterHeaders, s.afterEvent)
	}
}

// A stream whose answer's headers are flushed and which then sends nothing for a while (a session's standalone GET
// stream, which may send no event for minutes) is heard by the subscribers as streaming, as it was before the first
// event's window held the late timer: its start is published PublishDelay after its headers went out, not when its
// first event comes (which may be never). Through a recording reverse proxy (whose flush of the headers comes from
// its timer) and straight from a handler.
func TestIdleStreamStartIsPublished(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	idle := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	up := httptest.NewServer(idle)
	defer up.Close()
	u, _ := url.Parse(up.URL)
	for _, proxied := range []bool{false, true} {
		store := NewStore(StoreOptions{})
		sub := store.SubscribeWith(SubscribeOptions{Buffer: 64, NoBegan: true})
		rec := New(store, Options{})
		var h http.Handler = idle
		if proxied {
			h = &httputil.ReverseProxy{
				Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
				Transport: &Transport{Recorder: rec, Derive: true},
			}
		}
		srv := httptest.NewServer(rec.Middleware(h))
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/mcp", nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for streaming := false; !streaming; {
			select {
			case u := <-sub.C:
				streaming = u.Kind == Changed && u.Exchange.ID == 1 && u.Exchange.State == StateStreaming
			case <-deadline:
				t.Fatalf("proxied %v: no update of the stream's start while it sent nothing", proxied)
			}
		}
		resp.Body.Close()
		sub.Close()
		srv.CloseClientConnections()
		srv.Close()
	}
}

// The upstream copy that diverges from its client in the first event's window (a toggle changed the first piece,
// which may be past the body's bound; the proxy dropped it and read the next) is heard by the subscribers after
// its client's exchange, as when the stream's headers queued the client's for the late timer before the copy
// could join it: the window holds the client's place in the queue, and gives it back first.
func TestDivergedCopyInWindowIsHeardAfterItsClient(t *testing.T) {
	const ev = "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":1}}\n\n"
	for _, c := range []struct {
		name  string
		limit int
		drop  bool
	}{{"changed", 0, false}, {"changed past the bound", 60, false}, {"dropped", 0, true}} {
		store := NewStore(StoreOptions{})
		sub := store.SubscribeWith(SubscribeOptions{Buffer: 64, NoBegan: true})
		rec := New(store, Options{BodyLimit: c.limit, PublishDelay: time.Hour})
		up := roundTripFunc(func(req *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: &pieces{ps: [][]byte{[]byte(ev), []byte(ev)}},
				ContentLength: -1, Request: req}, nil
		})
		release := make(chan struct{})
		done := make(chan struct{})
		h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(done)
			resp, err := forwardUpstream(r, &Transport{Base: up, Recorder: rec, Derive: true})
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			buf := make([]byte, 4096)
			n, _ := resp.Body.Read(buf)
			if c.drop {
				n, _ = resp.Body.Read(buf) // the first piece dropped, the next read
			} else {
				buf[n/2] ^= 0x20 // a toggle's change
			}
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
			rec.publishLate()
			<-release
		}))
		go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`)))
		var ids []uint64
		deadline := time.After(10 * time.Second)
		for len(ids) < 2 {
			select {
			case u := <-sub.C:
				if u.Kind == Changed {
					ids = append(ids, u.Exchange.ID)
				}
			case <-deadline:
				t.Fatalf("%s: updates heard: %v", c.name, ids)
			}
		}
		if ids[0] != 1 || ids[1] != 2 {
			t.Errorf("%s: updates of the in-flight exchanges heard in the order %v, want the client's (1), then its copy's (2)", c.name, ids)
		}
		close(release)
		<-done
		sub.Close()
	}
}

// A reader of the upstream copy in flight (Get) while its client's exchange holds a write in the first event's
// window sees the copy with the piece that write passed on — its body and event — as it did when the write
// recorded them at once, whether or not the client's exchange was read first.
func TestGetOfTheCopyInWindowSeesThePiecePassedOn(t *testing.T) {
	const ev = "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":1}}\n\n"
	store := NewStore(StoreOptions{})
	rec := New(store, Options{PublishDelay: time.Hour})
	up := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: &pieces{ps: [][]byte{[]byte(ev)}},
			ContentLength: -1, Request: req}, nil
	})
	var got *Exchange
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := forwardUpstream(r, &Transport{Base: up, Recorder: rec, Derive: true})
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		w.Write(buf[:n]) // held in the window: no flush yet
		got = store.Get(2)
		w.(http.Flusher).Flush()
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`)))
	if got == nil || got.Kind != Outbound {
		t.Fatalf("Get(2) in the window: %+v", got)
	}
	if len(got.Events) != 1 || got.RespBody.Size != int64(len(ev)) || string(got.RespBody.Data) != ev {
		t.Errorf("Get of the upstream copy in the window: %d events, body %q (%d bytes); want the piece passed on: 1 event, %q",
			len(got.Events), got.RespBody.Data, got.RespBody.Size, ev)
	}
}
