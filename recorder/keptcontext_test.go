package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"
)

// A handler may keep its request's context past its return — the go-sdk keeps an initialize's for the session's
// life — and that context is the exchange's (liveCtx). Once the exchange completed, what it kept of net/http's — the
// response writer, and through it the request and the connection; the request's body, and through it the same — is
// let go (live.letGo): the requests are collected while their contexts are kept.
func TestKeptContextLetsTheRequestGo(t *testing.T) {
	store := NewStore(StoreOptions{PublishDelay: -1})
	rec := New(store, Options{})
	var (
		mu   sync.Mutex
		kept []context.Context
		reqs []weak.Pointer[http.Request]
	)
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Error(err)
		}
		mu.Lock()
		kept = append(kept, r.Context())
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1\nevent: prime\ndata: \n\n")
		fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-11-25\"}}\n\n")
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reqs = append(reqs, weak.Make(r)) // net/http's own request, which its response refers to
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // a connection per session
	const n = 200
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for range n {
		resp, err := client.Post(srv.URL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	srv.Close() // the connections end, as a session's do; the contexts stay kept
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	mu.Lock()
	defer mu.Unlock()
	alive := 0
	for _, w := range reqs {
		if w.Value() != nil {
			alive++
		}
	}
	t.Logf("%d of %d requests alive; %.0f B and %.1f objects retained a kept context (the store's records included)",
		alive, n, float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/n, float64(int64(m1.HeapObjects)-int64(m0.HeapObjects))/n)
	if alive > n/10 {
		t.Errorf("%d of %d requests are alive while only their contexts are kept", alive, n)
	}
	if len(kept) != n {
		t.Fatalf("%d contexts kept, want %d", len(kept), n)
	}
	runtime.KeepAlive(store)
}

// What a handler's goroutine does with the request after the handler returned fails rather than panics: its body
// reads as it ended, its writer refuses; the record is as it was.
func TestLetGoLateUseFails(t *testing.T) {
	store := NewStore(StoreOptions{PublishDelay: -1})
	rec := New(store, Options{})
	late := make(chan struct{})
	var (
		body io.ReadCloser
		w    http.ResponseWriter
	)
	h := rec.Middleware(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Error(err)
		}
		body, w = r.Body, rw
		fmt.Fprint(rw, `{"jsonrpc":"2.0","id":1,"result":{}}`)
		close(late)
	}))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`)))
	<-late
	if n, err := body.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("a late read: %d, %v; want 0, EOF", n, err)
	}
	if err := body.Close(); err != nil {
		t.Errorf("a late close: %v", err)
	}
	if n, err := w.Write([]byte("late")); n != 0 || !errors.Is(err, errHandlerReturned) {
		t.Errorf("a late write: %d, %v; want %v", n, err, errHandlerReturned)
	}
	w.Header().Set("X-Late", "1")
	w.WriteHeader(http.StatusTeapot)
	if rr.Body.String() != `{"jsonrpc":"2.0","id":1,"result":{}}` || rr.Code != http.StatusOK || rr.Header().Get("X-Late") != "" {
		t.Errorf("the late use reached the response: %d %q %v", rr.Code, rr.Body.String(), rr.Header())
	}
	ex := store.Snapshot()
	if len(ex) != 1 || string(ex[0].ReqBody.Data) != `{"jsonrpc":"2.0","id":1,"method":"ping"}` || string(ex[0].RespBody.Data) != `{"jsonrpc":"2.0","id":1,"result":{}}` {
		t.Errorf("the record: %+v", ex)
	}
}

// enteredReader signals when a Read has begun (it then blocks until the pipe's writer sends or closes).
type enteredReader struct {
	r       *io.PipeReader
	entered chan struct{}
	once    sync.Once
}

func (e *enteredReader) Read(p []byte) (int, error) {
	e.once.Do(func() { close(e.entered) })
	return e.r.Read(p)
}

func (e *enteredReader) Close() error { return e.r.Close() }

// A handler may leave the body to a goroutine of its own and return (a reverse proxy's transport goes on sending a
// streaming upload upstream). When nothing of it was read yet and the client sent "Expect: 100-continue", the
// completion leaves the body unread (Recorder's finish); letting the exchange go must not wait either for that
// goroutine's read, which waits on the client: a body not read to its end is not let go, so there is nothing to wait
// for.
func TestLetGoDoesNotWaitForAReadInFlight(t *testing.T) {
	store := NewStore(StoreOptions{PublishDelay: -1})
	rec := New(store, Options{})
	pr, pw := io.Pipe()
	body := &enteredReader{r: pr, entered: make(chan struct{})}
	readDone := make(chan struct{})
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		go func() {
			defer close(readDone)
			_, _ = r.Body.Read(make([]byte, 64)) // blocks: the client's upload stalls
		}()
		<-body.entered
		w.WriteHeader(http.StatusUnauthorized) // the upstream answered before the body
	}))
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	req.Body, req.ContentLength = body, 1<<20
	req.Header.Set("Expect", "100-continue")
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}()
	select {
	case <-returned:
	case <-time.After(2 * time.Second):
		t.Errorf("the middleware did not return while another goroutine's read of the body waited on the client")
	}
	pw.Close() // the client goes away: the read, and anything waiting behind it, ends
	<-readDone
	<-returned
}

// Through net/http's own server, what a handler kept past its return — its writer, a ResponseController made from
// it, its request's body — fails with an error when used afterwards, never a panic (net/http's response panics on
// a Hijack after ServeHTTP returned, and its buffers serve the next response) nor a race (-race).
func TestLetGoLateUseThroughNetHTTP(t *testing.T) {
	store := NewStore(StoreOptions{PublishDelay: -1})
	rec := New(store, Options{})
	type kept struct {
		w    http.ResponseWriter
		rc   *http.ResponseController
		body io.ReadCloser
	}
	keep := make(chan kept, 1)
	returned := make(chan struct{})
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Error(err)
		}
		keep <- kept{w, http.NewResponseController(w), r.Body}
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		close(returned)
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	<-returned
	k := <-keep
	late := make(chan struct{}) // from another goroutine, as a handler's own would
	go func() {
		defer close(late)
		if err := k.rc.SetWriteDeadline(time.Now()); err == nil {
			t.Error("a late SetWriteDeadline succeeded")
		}
		if _, _, err := k.rc.Hijack(); err == nil {
			t.Error("a late Hijack succeeded")
		}
		_ = k.rc.Flush()
		if n, err := k.w.Write([]byte("late")); n != 0 || err == nil {
			t.Errorf("a late write: %d, %v; want %v", n, err, errHandlerReturned)
		}
		if n, err := k.body.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Errorf("a late read: %d, %v; want 0, EOF", n, err)
		}
		if err := k.body.Close(); err != nil {
			t.Errorf("a late close: %v", err)
		}
	}()
	<-late
	if string(got) != `{"jsonrpc":"2.0","id":1,"result":{}}` {
		t.Errorf("the client got %q", got)
	}
	if ex := store.Snapshot(); len(ex) != 1 || string(ex[0].RespBody.Data) != `{"jsonrpc":"2.0","id":1,"result":{}}` {
		t.Errorf("the record: %+v", ex)
	}
}
