package recorder

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"
)

// A proxied call's two records — the upstream copy derived from the client's exchange, and that exchange — are
// completed in one store call (one lock, one bound, their updates queued together), the copy first; the client's
// bodies and response headers, the same bytes as the copy's, are packed as references to the copy's parts rather
// than hashed and looked up again; what Get gives back and what the subscribers and OnComplete hear is unchanged.
func TestDerivedPairCompletesInOneStoreCall(t *testing.T) {
	for _, sse := range []bool{false, true} {
		store := NewStore(StoreOptions{PublishDelay: -1})
		sub := store.Subscribe(16)
		var finished []*Exchange
		store.OnComplete(func(ex *Exchange) { finished = append(finished, ex) })
		rec := New(store, Options{})
		call := proxiedCall(t, rec, &Transport{Base: memRoundTripper{sse: sse}, Recorder: rec, Derive: true})
		before := derivedRecords.Load()
		call()
		if derivedRecords.Load() != before+1 {
			t.Fatalf("sse %v: the upstream copy was not derived", sse)
		}
		store.mu.Lock()
		calls, taken := store.completions, store.pk.taken
		store.mu.Unlock()
		if calls != 1 {
			t.Errorf("sse %v: the two records completed in %d store calls, want 1", sse, calls)
		}
		if taken != 3 {
			t.Errorf("sse %v: %d parts of the client's record referred to the upstream copy's, want 3 (both bodies, the response headers)", sse, taken)
		}
		// the copy (id 2) heard first, then the client's exchange (id 1), by the subscribers and OnComplete alike
		var heard []*Exchange
		for len(heard) < 2 {
			select {
			case u := <-sub.C:
				if u.Kind == Completed {
					heard = append(heard, u.Exchange)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("sse %v: %d completions heard", sse, len(heard))
			}
		}
		for i, want := range []uint64{2, 1} {
			if heard[i].ID != want || finished[i] != heard[i] {
				t.Fatalf("sse %v: completion %d is %d (OnComplete's %d), want %d", sse, i, heard[i].ID, finished[i].ID, want)
			}
			got := store.Get(want)
			if !reflect.DeepEqual(stripMemo(got), stripMemo(heard[i])) {
				t.Errorf("sse %v: Get(%d) is not the record heard:\n%+v\n%+v", sse, want, got, heard[i])
			}
		}
		up, in := heard[0], heard[1]
		if up.Kind != Outbound || in.Kind != Inbound || string(up.RespBody.Data) != string(in.RespBody.Data) ||
			string(up.ReqBody.Data) != string(in.ReqBody.Data) || len(up.RPC) != 2 || len(in.RPC) != 2 {
			t.Errorf("sse %v: the records: %+v\n%+v", sse, up, in)
		}
		if in.RespHeaders.Get("Content-Type") == "" || !reflect.DeepEqual(up.RespHeaders, in.RespHeaders) {
			t.Errorf("sse %v: response headers %v and %v", sse, up.RespHeaders, in.RespHeaders)
		}
		// the parts referred to are counted once per record: forgetting the client's record keeps the copy's
		store.mu.Lock()
		store.evictOldest()
		store.mu.Unlock()
		if got := store.Get(2); got == nil || string(got.RespBody.Data) != string(up.RespBody.Data) ||
			string(got.ReqBody.Data) != string(up.ReqBody.Data) || !reflect.DeepEqual(got.RespHeaders, up.RespHeaders) {
			t.Errorf("sse %v: the upstream copy after its client's record went: %+v", sse, got)
		}
		sub.Close()
	}
}

// stripMemo is ex without its memo (compared field by field: the memo is a cache).
func stripMemo(ex *Exchange) *Exchange {
	if ex == nil {
		return nil
	}
	c := *ex
	c.memo = nil
	c.lazy = nil
	return &c
}

// The records of a proxied call completed together (the upstream copy derived from its client's exchange, and that
// exchange, in one allocation: heldPair) keep nothing of either live exchange: the events, note and messages they
// hold are in the pair's own buffers, not in the live exchanges' (which hold the request and its context). Each
// request here carries 64 KiB in its context; the subscriber keeps every record it heard.
func TestDerivedPairLetsItsRequestsGo(t *testing.T) {
	for _, sse := range []bool{false, true} {
		store := NewStore(StoreOptions{PublishDelay: -1})
		sub := store.SubscribeWith(SubscribeOptions{Buffer: 4096, NoBegan: true})
		rec := New(store, Options{})
		h := proxiedHandler(t, rec, &Transport{Base: memRoundTripper{sse: sse}, Recorder: rec, Derive: true})
		const n = 200
		var values []weak.Pointer[[64 << 10]byte]
		srv := httptest.NewUnstartedServer(h)
		srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
			v := new([64 << 10]byte)
			values = append(values, weak.Make(v)) // one connection at a time
			return context.WithValue(ctx, heldKey{}, v)
		}
		srv.Start()
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // a connection per request
		body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`
		for range n {
			resp, err := client.Post(srv.URL+"/mcp", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		srv.Close()
		var heard []*Exchange
		for len(heard) < 2*n {
			u := <-sub.C
			if u.Kind == Completed {
				heard = append(heard, u.Exchange)
			}
		}
		up, in := heard[2*n-2], heard[2*n-1]
		wantEv := 0
		if sse {
			wantEv = 1
		}
		if up.Kind != Outbound || len(up.Events) != wantEv || len(in.Events) != wantEv || len(up.RPC) != 2 || len(in.RPC) != 2 ||
			len(up.Notes) != 1 || len(in.Notes) != 1 {
			t.Fatalf("sse %v: the records lack what the test is about: %+v\n%+v", sse, up, in)
		}
		runtime.GC()
		runtime.GC()
		kept := 0
		for _, w := range values {
			if w.Value() != nil {
				kept++
			}
		}
		if kept > n/10 {
			t.Errorf("sse %v: %d of %d requests' contexts are still alive while their records are held", sse, kept, n)
		}
		runtime.KeepAlive(heard)
		sub.Close()
	}
}

// blockingRT answers as memRoundTripper once release is closed.
type blockingRT struct{ release chan struct{} }

func (b blockingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	<-b.release
	return memRoundTripper{}.RoundTrip(req)
}

// The upstream copy begins without a snapshot of its own when nobody takes Began updates (--no-tui): Get and
// Snapshot of it while it is in flight snapshot it then, and give what the store's entry gave when it was taken at
// its begin (a subscriber taking Began updates, second run); the store counts its bytes as before.
func TestUpstreamCopyInFlightAnswersGet(t *testing.T) {
	var got [2]*Exchange
	for i, began := range []bool{false, true} {
		store := NewStore(StoreOptions{PublishDelay: -1})
		if began {
			sub := store.Subscribe(64)
			defer sub.Close()
		}
		rec := New(store, Options{})
		release := make(chan struct{})
		h := proxiedHandler(t, rec, &Transport{Base: blockingRT{release}, Recorder: rec, Derive: true})
		done := make(chan struct{})
		go func() {
			defer close(done)
			body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}}`
			r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
			r.ContentLength = int64(len(body))
			h.ServeHTTP(httptest.NewRecorder(), r)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for store.Stats().Total < 2 {
			if time.Now().After(deadline) {
				t.Fatal("the upstream copy did not begin")
			}
			time.Sleep(time.Millisecond)
		}
		lazy := lazyEntries(store)
		if want := map[bool]int{false: 2, true: 0}[began]; lazy != want { // the client's exchange and its copy (rpc19b)
			t.Errorf("began %v: %d exchanges begun without a snapshot, want %d", began, lazy, want)
		}
		ex := store.Get(2)
		if ex == nil || ex.ID != 2 || ex.Kind != Outbound || ex.State != StatePending || len(ex.Notes) != 1 ||
			ex.Notes[0] != (Note{Key: NoteInbound, Value: "1"}) || ex.Method != "POST" || ex.URL != "http://upstream.test/mcp" {
			t.Fatalf("began %v: Get of the upstream copy in flight: %+v", began, ex)
		}
		if snap := store.Snapshot(); len(snap) != 2 || !reflect.DeepEqual(stripMemo(snap[1]), stripMemo(ex)) {
			t.Errorf("began %v: Snapshot's upstream copy %+v, Get's %+v", began, snap, ex)
		}
		checkAccount(t, store)
		got[i] = stripMemo(ex)
		got[i].Start = time.Time{}
		close(release)
		<-done
		if ex := store.Get(2); ex == nil || ex.State != StateComplete || len(ex.RPC) != 2 {
			t.Errorf("began %v: the upstream copy completed: %+v", began, ex)
		}
		lazy = lazyEntries(store)
		if lazy != 0 {
			t.Errorf("began %v: %d exchanges still begun without a snapshot", began, lazy)
		}
		checkAccount(t, store)
	}
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("the upstream copy in flight, snapshotted when read:\n%+v\nat its begin:\n%+v", got[0], got[1])
	}
}

// Proxied calls from several goroutines while another reads the store (Get, Snapshot): the upstream copies begun
// without a snapshot are snapshotted under their own lock (run with -race), and the store's count holds.
func TestUpstreamCopiesReadWhileInFlight(t *testing.T) {
	store := NewStore(StoreOptions{PublishDelay: -1, MaxCount: 64})
	rec := New(store, Options{})
	h := proxiedHandler(t, rec, &Transport{Base: memRoundTripper{sse: true}, Recorder: rec, Derive: true})
	stop := make(chan struct{})
	read := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				read <- n
				return
			default:
			}
			for _, ex := range store.SnapshotLast(8) {
				if ex == nil || ex.ID == 0 {
					t.Error("a nil or id-less record in a snapshot")
				}
			}
			if ex := store.Get(store.Stats().Total); ex != nil {
				n++
			}
		}
	}()
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}}`
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
				r.ContentLength = int64(len(body))
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if n := <-read; n == 0 {
		t.Error("nothing read meanwhile")
	}
	if st := store.Stats(); st.Total != 800 {
		t.Errorf("%d exchanges recorded, want 800", st.Total)
	}
	checkAccount(t, store)
}

// The upstream request's body, held in memory as the proxy hands it on (io.NopCloser of a *bytes.Reader), is
// compared with the client's where it is — no replay through GetBody — from its read position, without moving it;
// any other body is replayed as before; a body that differs, is longer or shorter is not the client's.
func TestSameRequestBodyInPlace(t *testing.T) {
	const sent = `{"jsonrpc":"2.0","id":7,"method":"tools/call"}`
	client := &live{ex: Exchange{ReqBody: Body{Data: []byte(sent), Size: int64(len(sent))}}}
	replays := 0
	req := func(body io.ReadCloser, data string) *http.Request {
		r := httptest.NewRequest("POST", "http://upstream.test/mcp", nil)
		r.Body, r.ContentLength = body, int64(len(data))
		r.GetBody = func() (io.ReadCloser, error) { replays++; return io.NopCloser(strings.NewReader(data)), nil }
		return r
	}
	partly := bytes.NewReader([]byte("xx" + sent))
	partly.Seek(2, io.SeekStart)
	for _, tc := range []struct {
		name    string
		r       *http.Request
		same    bool
		replays int
	}{
		{"bytes.Reader", req(io.NopCloser(bytes.NewReader([]byte(sent))), sent), true, 0},
		{"bytes.Reader read from 2", req(io.NopCloser(partly), sent), true, 0},
		{"bytes.Reader, other bytes", req(io.NopCloser(bytes.NewReader([]byte(strings.Replace(sent, "7", "8", 1)))), sent), false, 0},
		{"bytes.Reader, longer", req(io.NopCloser(bytes.NewReader([]byte(sent+" "))), sent), false, 0},
		{"bytes.Reader, shorter", req(io.NopCloser(bytes.NewReader([]byte(sent[1:]))), sent), false, 0},
		{"strings.Reader", req(io.NopCloser(strings.NewReader(sent)), sent), true, 1},
		{"another body", req(io.NopCloser(io.MultiReader(strings.NewReader(sent))), sent), true, 1},
	} {
		replays = 0
		var b Body
		pos := int64(-1)
		if br := InMemoryReader(tc.r.Body); br != nil {
			pos = br.Size() - int64(br.Len())
		}
		if got := client.sameRequestBody(tc.r, &b); got != tc.same || replays != tc.replays {
			t.Errorf("%s: same %v after %d replays, want %v after %d", tc.name, got, replays, tc.same, tc.replays)
		}
		if br := InMemoryReader(tc.r.Body); br != nil && br.Size()-int64(br.Len()) != pos {
			t.Errorf("%s: the body's read position moved", tc.name)
		}
		if tc.same && string(b.Data) != sent {
			t.Errorf("%s: the body %q", tc.name, b.Data)
		}
	}
}

// lazyEntries is how many exchanges in flight the store holds begun without a snapshot (Store.beginLazy).
func lazyEntries(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lazy)
}
