// Package proxy is `mcpwatch proxy`: a reverse proxy in front of the user's own MCP server. It forwards every
// request as it arrives (request bodies streamed, responses flushed per write so each SSE event reaches the client
// at once), records the upstream side as Outbound exchanges linked to the inbound ones, answers upstream failures
// with a clear 502 or 504, and can rewrite the upstream's own absolute URLs in discovery documents and challenges
// to the public URL (for servers that believe they live on localhost).
package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
)

// Note keys the proxy adds to inbound exchanges.
const (
	// NoteRewrite: a JSON object (see Rewrite) per rewritten header or body.
	NoteRewrite = "rewrite"
	// NoteError: why the proxy answered 502/504, or how a forwarded stream ended early.
	NoteError = "proxy-error"
)

// Defaults.
const (
	defaultDialTimeout   = 10 * time.Second
	DefaultHeaderTimeout = 100 * time.Second // Cloudflare's own limit for an origin's response headers
)

// Options configure a Proxy.
type Options struct {
	// Upstream is the user's server: an absolute http(s) URL. Its scheme and host are where requests go; its path
	// (and query) name the MCP endpoint, shown in the connector URL. Paths are forwarded unchanged, not joined.
	Upstream string
	// Recorder records the upstream side as Outbound exchanges (nil: not recorded).
	Recorder *recorder.Recorder
	Logger   *slog.Logger
	// RewriteURLs rewrites absolute URLs that point at the upstream's own origin, in discovery documents
	// (/.well-known/oauth-protected-resource*, oauth-authorization-server*, openid-configuration*) and in the
	// WWW-Authenticate and Location response headers, to the request's public URL.
	RewriteURLs bool
	// PreserveHost sends the request's public host as Host; by default the upstream receives its own host (as in
	// --upstream) and the public host in X-Forwarded-Host.
	PreserveHost bool
	// HeaderTimeout bounds the wait for the upstream's response headers (0: none), GET event streams included: an
	// upstream that never answers a GET would otherwise hang the client for ever, and a Cloudflare tunnel cuts a
	// response without headers after 100 s anyway (DefaultHeaderTimeout). Once the headers are in, a stream lasts
	// as long as the upstream keeps it open. (The official SDKs send a GET stream's headers at once.) The wait
	// counts from when the request was sent whole (connecting has DialTimeout; a request body streams for as
	// long as it lasts).
	HeaderTimeout time.Duration
	// DialTimeout bounds connecting to the upstream, TLS handshake included (default DefaultDialTimeout).
	DialTimeout time.Duration
	// WatchAS watches the authorization server the upstream's resource metadata names on another origin: its
	// origin is rewritten to the public URL of a second listener (see AS and SetASPublic), which serves it.
	WatchAS bool
	// OnASFinding, when set, hears once each why the watched authorization server may not work through the
	// proxy (a page building URLs of the real origin, a redirect to a third origin), and which server was learnt.
	OnASFinding func(msg string)
}

// Proxy forwards requests to the upstream. It is an http.Handler; mount it behind the capture and guard middleware.
type Proxy struct {
	opts      Options
	upstream  *url.URL // as given
	target    *url.URL // scheme and host only
	transport *http.Transport
	recT      *recorder.Transport
	rp        *httputil.ReverseProxy
	origins   []string // the upstream's own origins, for rewriting
	as        *asState // the watched authorization server (nil: not watched)
	asRP      *httputil.ReverseProxy
	// lastOrigin is the public origin of the last response rewritten (originText)
	lastOrigin atomic.Pointer[origin]
}

// parseUpstream validates an upstream URL: absolute http(s) with a host, no fragment or user info.
func parseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("--upstream %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--upstream %q: want an absolute http(s) URL such as http://localhost:8080/mcp", s)
	}
	if u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("--upstream %q: no user info or fragment, please", s)
	}
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

// New builds a proxy.
func New(opts Options) (*Proxy, error) {
	up, err := parseUpstream(opts.Upstream)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = defaultDialTimeout
	}
	p := &Proxy{
		opts:     opts,
		upstream: up,
		target:   &url.URL{Scheme: up.Scheme, Host: up.Host},
		origins:  ownOrigins(up),
	}
	// The proxy's own transport: http.DefaultTransport keeps only 2 idle connections per host, which halves
	// throughput under load and leaves thousands of sockets in TIME_WAIT.
	p.transport = &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   opts.DialTimeout,
		ForceAttemptHTTP2:     true, // for https upstreams (ALPN); plain http stays HTTP/1.1
		MaxIdleConns:          0,    // no global bound
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Forward bodies exactly as encoded: no transparent gzip that would change what the client receives.
		DisableCompression: true,
		// The transport's own timer (no context, timer and body wrapper per request: 10 allocations less);
		// headerTimeout names the limit in the error (the 504's text and the capture's note).
		ResponseHeaderTimeout: max(opts.HeaderTimeout, 0),
	}
	var rt http.RoundTripper = p.transport
	if opts.HeaderTimeout > 0 {
		rt = &headerTimeout{base: rt, d: opts.HeaderTimeout}
	}
	// Derive: the upstream copy of an exchange refers to what its client's exchange recorded of the same bytes
	// rather than recording and parsing them a second time (recorder/derive.go).
	p.recT = &recorder.Transport{Base: rt, Recorder: opts.Recorder, Derive: true}
	rt = p.recT
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: rt,
		// FlushInterval 0: ReverseProxy flushes every write (-1) of a text/event-stream response and of any
		// response of unknown length (chunked), so each SSE event and chunk reaches the client as it arrives;
		// a response with a Content-Length is complete only at its last byte anyway. A global -1 would also arm a
		// flush timer per response, whose lock contention cut throughput by more than half (measured).
		FlushInterval: 0,
		// Reuse copy buffers: without a pool, ReverseProxy allocates (and the runtime zeroes) 32 KiB per response,
		// half of everything the proxy allocated per request (measured), which the garbage collector then has
		// to reclaim from under the recorder's large live heap.
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		ErrorHandler:   p.errorHandler,
		ModifyResponse: p.modifyResponse,
	}
	if opts.WatchAS {
		p.as = newASState(opts.OnASFinding)
		p.asRP = &httputil.ReverseProxy{
			Rewrite:        p.asRewrite,
			Transport:      rt,
			FlushInterval:  0,
			BufferPool:     bufferPool{},
			ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
			ErrorHandler:   p.errorHandler,
			ModifyResponse: p.asModifyResponse,
		}
	}
	return p, nil
}

// Upstream returns the upstream URL as configured.
func (p *Proxy) Upstream() *url.URL { u := *p.upstream; return &u }

// EndpointPath is the MCP endpoint's path (and query) for the connector URL: the upstream URL's path, or /mcp
// when it has none.
func (p *Proxy) EndpointPath() string {
	path := p.upstream.EscapedPath()
	if path == "" || path == "/" {
		path = "/mcp"
	}
	if p.upstream.RawQuery != "" {
		path += "?" + p.upstream.RawQuery
	}
	return path
}

// HasEndpointPath reports whether --upstream named the MCP endpoint's path.
func (p *Proxy) HasEndpointPath() bool { return p.upstream.Path != "" && p.upstream.Path != "/" }

// Close drops the idle upstream connections.
func (p *Proxy) Close() { p.transport.CloseIdleConnections() }

// ServeHTTP forwards r to the upstream.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Keep the request body readable once the response has started. Without this, net/http closes an HTTP/1.x
	// request body when the response headers are flushed — which the proxy does as soon as the upstream's first
	// SSE event arrives — while the transport may still be reading it (the final read that checks for bytes past
	// Content-Length): the read fails, the transport drops the upstream connection, and the stream is cut after
	// its first event. Streams in both directions need it too. (HTTP/2 is always full duplex.)
	_ = http.NewResponseController(w).EnableFullDuplex()
	wholeBody(r)
	p.rp.ServeHTTP(w, r)
}

// maxWholeBody is the largest request body forwarded in one piece with its headers.
const maxWholeBody = 64 << 10

// wholeBody reads a small request body (a JSON-RPC message, a token request) whole before it is forwarded, so that
// the upstream receives the request line, headers and body in one write instead of two (net/http flushes the
// headers first for a body it cannot see in memory): a write call and a packet less per request. Bodies of
// unknown length (chunked), larger ones, and those announced with Expect: 100-continue stream as they arrive.
// A body that ends before its Content-Length is forwarded as far as it came, followed by the same error. A body
// already in memory (GetBody set: the server's small-body deadline read it whole) is left as it is, not copied
// a second time.
func wholeBody(r *http.Request) {
	if r.ContentLength <= 0 || r.ContentLength > maxWholeBody || r.Body == nil || r.Body == http.NoBody ||
		r.GetBody != nil || r.Header.Get("Expect") != "" {
		return
	}
	buf := make([]byte, r.ContentLength)
	n, err := io.ReadFull(r.Body, buf)
	if err != nil {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf[:n]), errReader{err}), r.Body}
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(buf))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
}

// inMemoryBody hands net/http the outbound request's body as the in-memory reader it is. ReverseProxy (Go 1.26)
// wraps every outbound body in its own no-op closer, a type net/http does not know to be in memory, so it flushed
// the headers in one write and the body in a second one, although wholeBody (or the server's small-body deadline)
// had read it whole: a write call and a packet more per request, and as many more reads upstream. The inbound
// body is such a reader already (a NopCloser around a bytes.Reader, which net/http writes with the headers), and
// when nothing has read it yet it is handed on as it is; otherwise a fresh copy from GetBody (two allocations a
// request: the reader and its closer).
func inMemoryBody(pr *httputil.ProxyRequest) {
	out := pr.Out
	if out.GetBody == nil || out.ContentLength <= 0 || out.Body == nil || out.Body == http.NoBody {
		return
	}
	if unreadInMemory(pr.In.Body, out.ContentLength) {
		out.Body = pr.In.Body // a no-op closer: ReverseProxy's close of it closes nothing, as its own wrapper's
		return
	}
	if b, err := out.GetBody(); err == nil {
		out.Body = b // ReverseProxy still closes its own wrapper; the inbound body stays the server's to close
	}
}

// unreadInMemory reports whether body is io.NopCloser around a bytes.Reader of n bytes that nothing has read yet.
func unreadInMemory(body io.ReadCloser, n int64) bool {
	br := recorder.InMemoryReader(body)
	return br != nil && br.Size() == n && int64(br.Len()) == n
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(p.target) // the target has no path: the request's path is kept as it is
	inMemoryBody(pr)
	// Keep the chain a tunnel started (cloudflared sends the client's address), then add the hop to us.
	if xff := pr.In.Header["X-Forwarded-For"]; len(xff) > 0 {
		pr.Out.Header["X-Forwarded-For"] = append([]string(nil), xff...)
	}
	pr.SetXForwarded()
	if p.as != nil {
		stripCookies(pr.In.Context(), pr.Out.Header, &p.as.cookies, "the watched authorization server", NoteRewrite)
	}
	base := publicurl.Base(pr.In)
	setForwarded(pr.Out.Header, "X-Forwarded-Host", base.Host)
	setForwarded(pr.Out.Header, "X-Forwarded-Proto", base.Scheme)
	if p.opts.PreserveHost {
		pr.Out.Host = base.Host
	}
}

// setForwarded sets the X-Forwarded-* header key (canonical) to v, over the value SetXForwarded gave it: written
// into the one-value slice SetXForwarded made (the outbound request's own) rather than a new one per header, 2
// allocations less per request.
func setForwarded(h http.Header, key, v string) {
	if vs := h[key]; len(vs) == 1 {
		vs[0] = v
		return
	}
	h[key] = []string{v}
}

func (p *Proxy) modifyResponse(resp *http.Response) error {
	ctx := resp.Request.Context() // the inbound request's context: notes land on the inbound exchange
	if resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &streamBody{rc: resp.Body, ctx: ctx}
	}
	if p.as != nil {
		p.as.mcpCookies.learn(resp, &p.as.cookies)
	}
	if !p.opts.RewriteURLs && p.as == nil {
		return nil
	}
	return p.rewriteResponse(resp, publicurl.Base(resp.Request))
}

// streamBody ends a forwarded body cleanly when the client went away (its context was cancelled), so that the
// capture records "stream closed by the client" rather than an aborted handler; any other read error is noted and
// aborts the response, as it must (a truncated body must not look complete).
type streamBody struct {
	rc  io.ReadCloser
	ctx context.Context
}

func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		if errors.Is(err, context.Canceled) {
			return n, io.EOF
		}
		recorder.AddNote(b.ctx, NoteError, "the upstream's response broke off: "+err.Error())
	}
	return n, err
}

func (b *streamBody) Close() error { return b.rc.Close() }

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	if errors.Is(err, context.Canceled) && !isTimeout(err) {
		recorder.AddNote(ctx, NoteError, "the client went away before the upstream answered")
		return // nobody to answer
	}
	status := http.StatusBadGateway
	target := p.target.String()
	if r.URL.Host != "" {
		target = r.URL.Scheme + "://" + r.URL.Host // the authorization server, on its listener
	}
	var msg string
	switch {
	case isTimeout(err):
		status = http.StatusGatewayTimeout
		var te *timeoutError
		if errors.As(err, &te) {
			msg = fmt.Sprintf("the upstream %s sent no response headers within %s (--upstream-timeout)", target, te.After)
		} else {
			msg = fmt.Sprintf("the upstream %s did not answer in time: %v", target, err)
		}
	case isDialError(err):
		msg = fmt.Sprintf("mcpwatch could not reach the upstream %s: %v (is your server running?)", target, err)
	default:
		msg = fmt.Sprintf("the upstream %s failed: %v", target, err)
	}
	line := fmt.Sprintf("%d %s: %s", status, http.StatusText(status), msg)
	recorder.AddNote(ctx, NoteError, line)
	p.opts.Logger.Warn("proxy", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, line+"\n")
}

// copyBufferSize is ReverseProxy's own buffer size.
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

// bufferPool is an httputil.BufferPool over copyBuffers. It pools array pointers, so that neither Get nor Put
// allocates.
type bufferPool struct{}

func (bufferPool) Get() []byte { return copyBuffers.Get().(*[copyBufferSize]byte)[:] }

func (bufferPool) Put(b []byte) {
	if len(b) == copyBufferSize {
		copyBuffers.Put((*[copyBufferSize]byte)(b))
	}
}

// timeoutError is the upstream's failure to send response headers within Options.HeaderTimeout.
type timeoutError struct{ After time.Duration }

func (e *timeoutError) Error() string {
	return fmt.Sprintf("no response headers from the upstream within %s", e.After)
}

// Timeout marks it as a timeout for net.Error-style checks.
func (e *timeoutError) Timeout() bool { return true }

func isTimeout(err error) bool {
	var te *timeoutError
	if errors.As(err, &te) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// headerTimeout names the transport's ResponseHeaderTimeout (Options.HeaderTimeout) in its error, so that the 504
// says which limit was hit. It applies to every method, a GET event stream's too; once the headers are in, the
// body streams for as long as it lasts.
type headerTimeout struct {
	base http.RoundTripper
	d    time.Duration
}

func (t *headerTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil && isHeaderWait(err) {
		return nil, &timeoutError{After: t.d}
	}
	return resp, err
}

// isHeaderWait tells the transport's ResponseHeaderTimeout error (HTTP/1: "net/http: timeout awaiting response
// headers", HTTP/2: "http2: timeout awaiting response headers"; neither type is exported) from other timeouts.
func isHeaderWait(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && strings.Contains(err.Error(), "timeout awaiting response headers")
}
