package recorder

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

// BenchmarkUpstreamCopyHeaders is BenchmarkUpstreamCopy's proxied call with the headers a proxied request has (what
// mcpload sends, and the X-Forwarded-* the proxy adds), the upstream copy unrecorded or derived: the copy's two
// header lists are in it. cpu-ns/op is the process's CPU.
func BenchmarkUpstreamCopyHeaders(b *testing.B) {
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`
	hdr := http.Header{
		"Accept":               {"application/json, text/event-stream"},
		"Accept-Encoding":      {"gzip"},
		"Content-Type":         {"application/json"},
		"Mcp-Protocol-Version": {"2025-11-25"},
		"Mcp-Session-Id":       {"3f1c0d2e9b8a4f7e"},
		"User-Agent":           {"Go-http-client/1.1"},
		"X-Forwarded-For":      {"127.0.0.1"},
		"X-Forwarded-Host":     {"127.0.0.1:4000"},
		"X-Forwarded-Proto":    {"http"},
	}
	for _, answer := range []string{"json", "sse"} {
		up := memRoundTripper{sse: answer == "sse"}
		rec := New(NewStore(StoreOptions{}), Options{})
		for _, tc := range []struct {
			name string
			tr   http.RoundTripper
		}{{"unrecorded", up}, {"derived", &Transport{Base: up, Recorder: rec, Derive: true}}} {
			b.Run(answer+"/"+tc.name, func(b *testing.B) {
				h := proxiedHandler(b, rec, tc.tr)
				b.ReportAllocs()
				cpu0 := testkit.ProcessCPU()
				for b.Loop() {
					r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
					r.ContentLength = int64(len(body))
					r.Header = hdr.Clone()
					h.ServeHTTP(httptest.NewRecorder(), r)
				}
				b.ReportMetric(float64((testkit.ProcessCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
