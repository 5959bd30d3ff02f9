package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The progress of the event streams open at once is published by one run of the recorder's late queue, not by a
// timer of each stream's own (each woke a goroutine, and the subscribers, for its update alone): 16 streams whose
// first events were written together, each still open after the delay, take one run or two (a busy machine may
// split them), and each stream's update carries its event's message.
func TestLateQueuePublishesStreamsTogether(t *testing.T) {
	const streams = 16
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(1024)
	var in sync.WaitGroup
	in.Add(streams)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		// Every stream's answer (its header, which queues it, and its event) is written at about the same time,
		// however far apart the requests arrived (a loaded machine spreads 16 connections' arrivals beyond the delay).
		in.Done()
		in.Wait()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "event: message\nid: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n")
		w.(http.Flusher).Flush()
		<-release
	})
	base, rec := serveRecorded(t, store, Options{PublishDelay: 100 * time.Millisecond}, h)
	var done sync.WaitGroup
	for i := range streams {
		done.Add(1)
		go func() {
			defer done.Done()
			resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`, i)))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	changed := map[uint64]*Exchange{}
	timeout := time.After(10 * time.Second)
	for len(changed) < streams {
		select {
		case u := <-sub.C:
			if u.Kind == Changed && len(u.Exchange.Events) == 1 {
				changed[u.Exchange.ID] = u.Exchange
			}
		case <-timeout:
			t.Fatalf("%d of %d streams' progress published", len(changed), streams)
		}
	}
	close(release)
	done.Wait()
	if n := rec.lateRuns(); n > 2 {
		t.Errorf("the late queue ran %d times for %d streams whose events came together, want 1 or 2", n, streams)
	}
	for _, ex := range changed {
		if len(ex.RPC) != 2 || ex.RPC[1].Method != "notifications/progress" {
			t.Errorf("exchange %d published with messages %+v", ex.ID, ex.RPC)
		}
	}
}

// The late queue holds the streams queued and open, and lets those that ended go: with a delay longer than the
// test (its run never comes) and one stream open all along (so the queue is never idle), 2,000 streams recorded
// one after the other leave a few hundred entries at most, not 2,000 exchanges kept alive.
func TestLateQueueLetsEndedStreamsGo(t *testing.T) {
	const streams = 2000
	store := NewStore(StoreOptions{MaxCount: 64})
	rec := New(store, Options{PublishDelay: time.Hour})
	hold, held := make(chan struct{}), make(chan struct{})
	mw := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/hold" {
			close(held)
			<-hold
		}
	}))
	serve := func(path string) {
		r, _ := http.NewRequest("POST", path, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		mw.ServeHTTP(flushDiscard{h: http.Header{}}, r)
	}
	done := make(chan struct{})
	go func() { defer close(done); serve("/hold") }()
	<-held
	for range streams {
		serve("/mcp")
	}
	rec.late.mu.Lock()
	n := len(rec.late.ls)
	rec.late.mu.Unlock()
	close(hold)
	<-done
	if n > 2*minLateCompact {
		t.Errorf("the late queue holds %d entries after %d streams ended, want at most %d", n, streams, 2*minLateCompact)
	}
}

// The request's context is the exchange's own (liveCtx): the exchange is found under liveKey (AddNote), every
// other key is the parent's (net/http's server), and a context derived from it ends when the client goes away, as
// through context.WithValue's.
func TestLiveContextIsTheParents(t *testing.T) {
	store := NewStore(StoreOptions{})
	sub := store.Subscribe(64)
	ended := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		AddNote(r.Context(), "k", "v")
		if r.Context().Value(http.ServerContextKey) == nil {
			t.Error("the server's context value is not found through the request's context")
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-ctx.Done():
			ended <- context.Cause(ctx)
		case <-time.After(10 * time.Second):
			ended <- errors.New("the derived context did not end when the client went away")
		}
	})
	base, _ := serveRecorded(t, store, Options{}, h)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/x", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Errorf("derived context ended with %v", err)
	}
	ex := waitCompleted(t, sub, 1)[0]
	if len(ex.Notes) != 1 || ex.Notes[0].Key != "k" {
		t.Errorf("notes %+v", ex.Notes)
	}
}

// A stream that ends within the delay while no other is open costs the late queue no run (its timer is stopped,
// as a stream's own timer was): 50 streams, one after the other, each ended at once, and no run 3 delays later.
func TestLateQueueIdleAfterStreamsEnded(t *testing.T) {
	const delay = 100 * time.Millisecond
	store := NewStore(StoreOptions{})
	rec := New(store, Options{PublishDelay: delay})
	mw := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n")
	}))
	start := time.Now()
	for range 50 {
		r, _ := http.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		mw.ServeHTTP(flushDiscard{h: http.Header{}}, r)
	}
	if time.Since(start) > delay {
		t.Skip("the machine is too busy: the streams took longer than the delay") // a run is then due
	}
	time.Sleep(3 * delay)
	if n := rec.lateRuns(); n != 0 {
		t.Errorf("the late queue ran %d times for streams that all ended within the delay, want 0", n)
	}
}
