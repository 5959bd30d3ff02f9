package recorder

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The middleware's exchange (serve's, the proxy's client side) begins without a snapshot when nobody takes Began
// updates (--no-tui), as the upstream copy does (TestUpstreamCopyInFlightAnswersGet): Get and Snapshot of it while
// it is in flight snapshot it then and give what the store's entry gave when it was taken at its begin (a
// subscriber taking Began updates, second run); once it completes they give its record; the store counts its bytes.
func TestInboundInFlightAnswersGet(t *testing.T) {
	var got [2]*Exchange
	for i, began := range []bool{false, true} {
		store := NewStore(StoreOptions{PublishDelay: -1})
		if began {
			sub := store.Subscribe(64)
			defer sub.Close()
		}
		rec := New(store, Options{})
		release, reached := make(chan struct{}), make(chan struct{})
		h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(reached)
			<-release
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"jsonrpc":"2.0","id":7,"result":{}}`)
		}))
		done := make(chan struct{})
		go func() {
			defer close(done)
			body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}}`
			r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
			r.ContentLength = int64(len(body))
			r.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(httptest.NewRecorder(), r)
		}()
		select {
		case <-reached:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler was not reached")
		}
		lazy := lazyEntries(store)
		if want := map[bool]int{false: 1, true: 0}[began]; lazy != want {
			t.Errorf("began %v: %d exchanges begun without a snapshot, want %d", began, lazy, want)
		}
		ex := store.Get(1)
		if ex == nil || ex.ID != 1 || ex.Kind != Inbound || ex.State != StatePending || ex.Method != "POST" ||
			ex.URL != "/mcp" || ex.ReqHeaders.Get("Content-Type") != "application/json" {
			t.Fatalf("began %v: Get of the exchange in flight: %+v", began, ex)
		}
		if snap := store.Snapshot(); len(snap) != 1 || !reflect.DeepEqual(stripMemo(snap[0]), stripMemo(ex)) {
			t.Errorf("began %v: Snapshot's exchange %+v, Get's %+v", began, snap, ex)
		}
		checkAccount(t, store)
		got[i] = stripMemo(ex)
		got[i].Start = time.Time{}
		close(release)
		<-done
		if ex := store.Get(1); ex == nil || ex.State != StateComplete || len(ex.RPC) != 2 || ex.Status != 200 {
			t.Errorf("began %v: the exchange completed: %+v", began, ex)
		}
		lazy = lazyEntries(store)
		if lazy != 0 {
			t.Errorf("began %v: %d exchanges still begun without a snapshot", began, lazy)
		}
		checkAccount(t, store)
	}
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("the exchange in flight, snapshotted when read:\n%+v\nat its begin:\n%+v", got[0], got[1])
	}
}

// Requests through the middleware from several goroutines while another reads the store (Get, SnapshotLast): the
// exchanges begun without a snapshot are snapshotted under their own lock (run with -race) — as they begin, as
// their handler adds notes and reads the body, as they end — and the store's count holds.
func TestInboundReadWhileInFlight(t *testing.T) {
	store := NewStore(StoreOptions{PublishDelay: -1, MaxCount: 64})
	rec := New(store, Options{})
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		AddNote(r.Context(), "k", "v")
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		io.WriteString(w, benchEvent)
	}))
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
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				r := httptest.NewRequest("POST", "/mcp", strings.NewReader(benchCall))
				r.ContentLength = int64(len(benchCall))
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if n := <-read; n == 0 {
		t.Error("nothing read meanwhile")
	}
	if st := store.Stats(); st.Total != 400 {
		t.Errorf("%d exchanges recorded, want 400", st.Total)
	}
	lazy := lazyEntries(store)
	if lazy != 0 {
		t.Errorf("%d exchanges still begun without a snapshot", lazy)
	}
	checkAccount(t, store)
}
