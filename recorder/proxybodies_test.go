package recorder_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/servertest"
)

// BenchmarkProxyLargeBodies: what the store holds per proxied tools/call answered with a 16 KiB result (every
// answer different), `mcpwatch proxy` recording the client's exchange and the upstream copy, with a capture
// file: memory is the store keeping every body (as with --no-capture, and as every store did before bodies were
// kept in the capture file), capture-file the store as the product runs it (Store.UseCapture: bodies of at least
// FileBodyMin bytes dropped from memory once written). It reports what the store's byte bound counts per call
// (counted-B/call) and the live heap after a full GC per call (heap-B/call): figures that do not depend on how
// busy the machine is.
//
//	go test ./recorder -run '^$' -bench ProxyLargeBodies -benchtime 5000x
func BenchmarkProxyLargeBodies(b *testing.B) {
	for _, tc := range []struct {
		name string
		use  func(*recorder.Store, *recorder.CaptureFile)
	}{
		{"memory", func(s *recorder.Store, c *recorder.CaptureFile) { s.OnComplete(c.Append) }},
		{"capture-file", (*recorder.Store).UseCapture},
	} {
		b.Run(tc.name, func(b *testing.B) { proxyLargeBodies(b, 16<<10, tc.use) })
	}
}

func proxyLargeBodies(b *testing.B, size int, use func(*recorder.Store, *recorder.CaptureFile)) {
	pad := strings.Repeat("x", size-80)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, _, _ := strings.Cut(strings.TrimPrefix(string(body), `{"jsonrpc":"2.0","id":`), ",")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"%s %s"}]}}`, id, id, pad)
	}))
	defer up.Close()
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{})
	capture, err := recorder.OpenCapture(filepath.Join(b.TempDir(), "capture.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	use(store, capture)
	p, err := proxy.New(proxy.Options{Upstream: up.URL, Recorder: rec, RewriteURLs: true, HeaderTimeout: proxy.DefaultHeaderTimeout})
	if err != nil {
		b.Fatal(err)
	}
	srv := servertest.Serve(b, server.Config{Recorder: rec, Handler: p})
	defer func() { p.Close(); capture.Close() }()
	url := srv.LocalURL() + "/mcp"
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	n := 0
	call := func() {
		n++
		req, _ := http.NewRequest("POST", url, strings.NewReader(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`, n)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	written := func(want uint64) { // the recorder publishes after the response; the writer writes after that
		deadline := time.Now().Add(60 * time.Second)
		for w, _ := capture.Written(); w < want; w, _ = capture.Written() {
			if time.Now().After(deadline) {
				b.Fatalf("the capture wrote %d of %d exchanges", w, want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for range 100 {
		call()
	}
	written(2 * 100)
	st0, h0 := store.Stats(), heap()
	b.ResetTimer()
	for b.Loop() {
		call()
	}
	b.StopTimer()
	calls := n - 100
	written(uint64(2 * n))
	st, h1 := store.Stats(), heap()
	if st.Count != 2*n {
		b.Fatalf("the store holds %d exchanges of %d calls", st.Count, n)
	}
	b.ReportMetric(float64(st.Bytes-st0.Bytes)/float64(calls), "counted-B/call")
	b.ReportMetric((float64(h1)-float64(h0))/float64(calls), "heap-B/call")
	b.ReportMetric(min(float64(recorder.DefaultStoreMaxCount/2), float64(recorder.DefaultStoreMaxBytes)/(float64(st.Bytes)/float64(n))), "calls-in-default-bound")
	runtime.KeepAlive(store)
}
