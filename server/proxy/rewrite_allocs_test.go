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

// A tools/call's answer, which has nothing to rewrite, costs the response rewrite no allocation: the public origin
// is the last one's text, the mappings are on the stack and the header keys made once (3 allocations a response
// before: the origin, the mappings' slice, CanonicalHeaderKey("WWW-Authenticate")).
func TestRewriteResponseAllocations(t *testing.T) {
	p, err := New(Options{Upstream: "http://127.0.0.1:9/mcp", RewriteURLs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:9/mcp", nil)
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: http.NoBody, Request: in}
	base := &url.URL{Scheme: "http", Host: "public.example"}
	if n := testing.AllocsPerRun(100, func() { p.rewriteResponse(resp, base) }); n != 0 {
		t.Errorf("the response rewrite allocates %.0f, want 0", n)
	}
	for _, b := range []*url.URL{base, {Scheme: "https", Host: "public.example"}, {Scheme: "https", Host: "other.example"}, base} {
		if got, want := p.originText(b), b.Scheme+"://"+b.Host; got != want {
			t.Errorf("origin %q, want %q", got, want)
		}
	}
}
