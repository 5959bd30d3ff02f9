package recorder

import (
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
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		in.Done()
		in.Wait() // every stream's event is written at about the same time
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
// test (its run never comes), 2,000 streams recorded one after the other leave a few hundred entries at most, not
// 2,000 exchanges kept alive.
func TestLateQueueLetsEndedStreamsGo(t *testing.T) {
	const streams = 2000
	store := NewStore(StoreOptions{MaxCount: 64})
	rec := New(store, Options{PublishDelay: time.Hour})
	mw := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n")
		w.(http.Flusher).Flush()
	}))
	for range streams {
		r, _ := http.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		mw.ServeHTTP(flushDiscard{h: http.Header{}}, r)
	}
	rec.late.mu.Lock()
	n := len(rec.late.ls)
	rec.late.mu.Unlock()
	if n > 2*minLateCompact {
		t.Errorf("the late queue holds %d entries after %d streams ended, want at most %d", n, streams, 2*minLateCompact)
	}
}
