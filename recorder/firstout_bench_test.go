package recorder

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"
)

// sseRoundTripper answers every request with an event stream of one event, in memory.
type sseRoundTripper struct{}

const sseFirstEvent = "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":1}}\n\n"

func (sseRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"text/event-stream"}, "Cache-Control": {"no-cache"}},
		Body:   io.NopCloser(strings.NewReader(sseFirstEvent)), ContentLength: -1, Request: req}, nil
}

// windowWriter stamps the first flush of an answer.
type windowWriter struct {
	*httptest.ResponseRecorder
	first    time.Time
	firstCPU time.Duration
}

func (w *windowWriter) Flush() {
	if w.first.IsZero() {
		w.first, w.firstCPU = time.Now(), processCPU()
	}
	w.ResponseRecorder.Flush()
}

// BenchmarkFirstEventWindow is a GET event stream through a reverse proxy in process (the upstream in memory),
// recording both exchanges (the upstream copy derived) or nothing: window-ns/op is the time from the request's
// arrival to its answer's first flush — the first event's window, warm — window-cpu-ns/op the process's CPU time in
// it (Linux; run it on one CPU, taskset -c 0, so that nothing of the process runs beside it; what else runs on the
// machine moves it less than the wall-clock time), and ns/op the
// whole stream with its recording. Compare on and off in one run (issue 18, docs/benchmarks-store.md, "The first
// event through proxy, round seven").
func BenchmarkFirstEventWindow(b *testing.B) {
	u, _ := url.Parse("http://upstream.test")
	for _, on := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[on]
		b.Run(name, func(b *testing.B) {
			store := NewStore(StoreOptions{})
			rec := New(store, Options{})
			var tr http.RoundTripper = sseRoundTripper{}
			if on {
				tr = &Transport{Base: tr, Recorder: rec, Derive: true}
			}
			var h http.Handler = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }, Transport: tr}
			if on {
				h = rec.Middleware(h)
			}
			var window, cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r := httptest.NewRequest(http.MethodGet, "/mcp", nil)
				r.Header.Set("Accept", "text/event-stream")
				w := &windowWriter{ResponseRecorder: httptest.NewRecorder()}
				t0, c0 := time.Now(), processCPU()
				h.ServeHTTP(w, r)
				window += w.first.Sub(t0)
				cpu += w.firstCPU - c0
			}
			b.ReportMetric(float64(window.Nanoseconds())/float64(b.N), "window-ns/op")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "window-cpu-ns/op")
		})
	}
}
