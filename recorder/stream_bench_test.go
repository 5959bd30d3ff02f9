package recorder

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

// BenchmarkRecordStream records serve's legacy-era answer to a tools/call in this goroutine, with no connection:
// the request's body read through the recorder, a priming event and the answer's event written and flushed, the
// exchange completed into the store (no capture file, no subscriber, progress never published: the recorder's own
// work on the HTTP path and its completion). "json" is the same call answered with one JSON body, the 2026 era's
// shape. Compare the recorder's allocations and CPU per exchange between the two, and between commits:
//
//	go test ./recorder -run '^$' -bench RecordStream -benchmem -count 3
func BenchmarkRecordStream(b *testing.B) {
	const (
		call   = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"mcpload 6/0"}}}`
		prime  = "event: prime\nid: 2Q4QP5ASOC4O5EHEJOPZ4HXJOW_0\ndata: \n\n"
		answer = `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"mcpload 6/0"}]}}`
	)
	event := "event: message\nid: 2Q4QP5ASOC4O5EHEJOPZ4HXJOW_1\ndata: " + answer + "\n\n"
	for _, shape := range []string{"stream", "json"} {
		b.Run(shape, func(b *testing.B) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				AddNote(r.Context(), "era", "legacy: session id")
				if shape == "json" {
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, answer)
					return
				}
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusOK)
				io.WriteString(w, prime)
				w.(http.Flusher).Flush()
				io.WriteString(w, event)
				w.(http.Flusher).Flush()
			})
			store := NewStore(StoreOptions{MaxCount: 1024})
			mw := New(store, Options{PublishDelay: time.Hour}).Middleware(h)
			w := flushDiscard{h: http.Header{}}
			r0 := httptest.NewRequest("POST", "/mcp", nil)
			r0.Header.Set("Content-Type", "application/json")
			r0.Header.Set("Mcp-Session-Id", "WW7JYASGSJR4VHHLW2BBMDJVN6")
			body := strings.NewReader(call)
			b.ReportAllocs()
			cpu0 := testkit.ProcessCPU()
			for b.Loop() {
				clear(w.h)
				body.Reset(call)
				r := *r0
				r.Body = io.NopCloser(body)
				mw.ServeHTTP(w, &r)
			}
			b.ReportMetric(float64((testkit.ProcessCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			if ex := store.Get(store.Stats().Total); ex == nil || len(ex.RPC) != 2 || ex.RPC[1].ReplyTo != "tools/call" {
				b.Fatalf("recorded %+v", ex)
			}
		})
	}
}
