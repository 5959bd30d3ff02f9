package proxy

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
)

// The proxy's rewrite allocates what the bare ReverseProxy's (SetURL, SetXForwarded) does, but for the public base
// URL publicurl.Base builds outside the guard (1; behind the guard it is the guard's) and the ProxyRequest, which
// escapes through the method value here (1; ReverseProxy allocates it anyway): X-Forwarded-Host and -Proto
// are written into the values SetXForwarded made rather than replacing them (2 allocations more per request, on
// every call and on a stream's way to its first event, issue 18). The upstream still sees the public host.
func TestRewriteAllocations(t *testing.T) {
	p, err := New(Options{Upstream: "http://127.0.0.1:9/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in, _ := http.NewRequest(http.MethodGet, "http://public.example/mcp", nil)
	in.RemoteAddr = "127.0.0.1:4000"
	in.Header.Set("Accept", "text/event-stream")
	target, _ := url.Parse("http://127.0.0.1:9")
	out := in.Clone(in.Context())
	run := func(rewrite func(*httputil.ProxyRequest)) func() {
		return func() {
			out.Header = in.Header.Clone()
			out.URL, out.Host = in.URL, in.Host
			rewrite(&httputil.ProxyRequest{In: in, Out: out})
		}
	}
	bare := testing.AllocsPerRun(100, run(func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() }))
	ours := testing.AllocsPerRun(100, run(p.rewrite))
	if ours > bare+2 {
		t.Errorf("the proxy's rewrite allocates %.0f, the bare ReverseProxy's %.0f: want at most 2 more", ours, bare)
	}
	if got := out.Header.Get("X-Forwarded-Host"); got != "public.example" {
		t.Errorf("X-Forwarded-Host %q", got)
	}
	if got := out.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto %q", got)
	}
}
