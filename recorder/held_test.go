package recorder

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"weak"
)

type heldKey struct{}

// A record the store publishes keeps nothing of the live exchange it was recorded by: the lists a live exchange
// keeps in its own buffers (the first events, note and messages) are copied into the record, so that a record
// waiting in a subscriber's queue does not keep the request — its context, its connection's buffers — alive. Each
// connection here carries 64 KiB in its context; the subscriber keeps every record it heard.
func TestPublishedRecordsLetTheirRequestsGo(t *testing.T) {
	store := NewStore(StoreOptions{PublishDelay: -1})
	sub := store.SubscribeWith(SubscribeOptions{Buffer: 4096, NoBegan: true})
	defer sub.Close()
	rec := New(store, Options{})
	h := rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		AddNote(r.Context(), "era", "legacy")
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1\nevent: prime\ndata: \n\n")
		fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
	}))
	const n = 200
	var values []weak.Pointer[[64 << 10]byte]
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		v := new([64 << 10]byte)
		values = append(values, weak.Make(v)) // one connection at a time
		return context.WithValue(ctx, heldKey{}, v)
	}
	srv.Start()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // a connection per request
	for range n {
		resp, err := client.Post(srv.URL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var heard []*Exchange
	for len(heard) < n {
		u := <-sub.C
		if u.Kind == Completed {
			heard = append(heard, u.Exchange)
		}
	}
	if len(heard[n-1].Events) != 2 || len(heard[n-1].RPC) != 2 || len(heard[n-1].Notes) == 0 {
		t.Fatalf("the record lacks what the test is about: %d events, %d messages, %d notes", len(heard[n-1].Events), len(heard[n-1].RPC), len(heard[n-1].Notes))
	}
	runtime.GC()
	runtime.GC()
	kept := 0
	for _, w := range values {
		if w.Value() != nil {
			kept++
		}
	}
	// the last few may still be held by the server's idle connection and the runtime's caches
	if kept > n/10 {
		t.Errorf("%d of %d requests' contexts are still alive while their records are held", kept, n)
	}
	runtime.KeepAlive(heard)
}
