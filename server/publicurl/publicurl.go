// Package publicurl decides which Host and Origin a request may carry (DNS-rebinding protection that still admits
// the tunnel's public host) and what the server's public base URL is for that request, so that every absolute URL
// the server hands out (the connector URL, metadata documents, 401 challenges) follows the tunnel.
package publicurl

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// Guard admits loopback hosts, the configured public host, and — when no public URL is configured — a host that a
// TLS-terminating tunnel forwarded (X-Forwarded-Proto: https, Host or X-Forwarded-Host naming it). A present Origin
// must be loopback or equal the request's public origin exactly; "null" is refused.
//
// Why this is safe against DNS rebinding: a rebinding page talks plain http to the loopback port, so its Origin is
// http://evil:port, never the https origin the forwarded headers would make public; requests a browser sends
// without an Origin (same-origin GETs) can only read documents that are public anyway.
type Guard struct {
	mu     sync.RWMutex
	public *url.URL // configured public URL (scheme + host), nil when not configured
	seen   *url.URL // the last public base a tunnel forwarded, for display

	// local is the base of the last request admitted as loopback (http://its Host), reused while requests keep
	// that Host: a base is never modified (Base's callers read it, URL copies it).
	local atomic.Pointer[url.URL]
}

// NewGuard returns a guard; public may be empty.
func NewGuard(public string) (*Guard, error) {
	g := &Guard{}
	if public != "" {
		if err := g.SetPublic(public); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// ParsePublic validates a public URL: absolute http(s), a host, and nothing else — no path (a trailing "/" aside),
// query, fragment or user info. mcpwatch serves at the root of its public URL (/mcp, /.well-known/..., /authorize),
// so a path could not be kept in every URL it hands out; it is refused rather than silently dropped.
func ParsePublic(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("public URL %q: %w", s, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("public URL %q: want an absolute http(s) URL such as https://abc.trycloudflare.com", s)
	}
	base := u.Scheme + "://" + u.Host
	switch {
	case u.Path != "" && u.Path != "/" || u.RawPath != "":
		return nil, fmt.Errorf("public URL %q has a path (%s): give the tunnel's base URL, %s; mcpwatch serves at its root (the connector URL is %s/mcp)", s, u.EscapedPath(), base, base)
	case u.RawQuery != "" || u.ForceQuery:
		return nil, fmt.Errorf("public URL %q has a query: give the tunnel's base URL, %s", s, base)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return nil, fmt.Errorf("public URL %q has a fragment: give the tunnel's base URL, %s", s, base)
	case u.User != nil:
		return nil, fmt.Errorf("public URL %q has user info: give the tunnel's base URL, %s", s, base)
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = ""
	return u, nil
}

// SetPublic sets the public URL (from --public-url or a tunnel that just started).
func (g *Guard) SetPublic(s string) error {
	u, err := ParsePublic(s)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.public = u
	g.mu.Unlock()
	return nil
}

// Public returns the configured public base URL, or the last one a tunnel forwarded, or nil.
func (g *Guard) Public() *url.URL {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.public != nil {
		return g.public
	}
	return g.seen
}

type ctxKey struct{}

// Middleware refuses requests with a foreign Host or a cross-site Origin (403 with a reason) and stores the
// request's public base URL in its context.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base, err := g.Check(r)
		if err != nil {
			http.Error(w, "Forbidden: "+err.Error(), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, base)))
	})
}

// Check returns the public base URL of an admitted request, or why it is refused.
func (g *Guard) Check(r *http.Request) (*url.URL, error) {
	host := strings.ToLower(r.Host)
	fwdHost := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Host")))
	fwdProto := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto")))
	external := host
	if fwdHost != "" {
		external = fwdHost
	}
	g.mu.RLock()
	public := g.public
	g.mu.RUnlock()

	var (
		base      *url.URL
		forwarded bool // admitted as a tunnel's forwarded host: remembered for display once fully admitted
	)
	switch {
	case public != nil && (sameHost(external, public.Host) || sameHost(host, public.Host)):
		base = public
	case IsLoopback(host) && fwdHost == "":
		if base = g.local.Load(); base == nil || base.Host != r.Host {
			base = &url.URL{Scheme: "http", Host: r.Host}
			g.local.Store(base)
		}
	case public == nil && fwdProto == "https" && external != "":
		base, forwarded = &url.URL{Scheme: "https", Host: external}, true
	case IsLoopback(host) && IsLoopback(fwdHost):
		base = &url.URL{Scheme: "http", Host: fwdHost}
	default:
		return nil, fmt.Errorf("invalid Host header %q (allowed: localhost%s)", r.Host, allowedHint(public))
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if !originAllowed(origin, base) {
			return nil, fmt.Errorf("cross-site Origin %q", origin)
		}
	}
	if forwarded {
		g.mu.Lock()
		g.seen = base
		g.mu.Unlock()
	}
	return base, nil
}

func allowedHint(public *url.URL) string {
	if public == nil {
		return ", or a tunnel's https host; pass --public-url to name it"
	}
	return ", " + public.Host
}

func originAllowed(origin string, base *url.URL) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // includes "null"
	}
	if IsLoopback(u.Host) && u.Scheme == "http" {
		return true
	}
	return strings.EqualFold(u.Scheme, base.Scheme) && sameHost(u.Host, base.Host)
}

// sameHost compares host[:port] values, treating the scheme's default port as absent.
func sameHost(a, b string) bool {
	return strings.EqualFold(stripDefaultPort(a), stripDefaultPort(b))
}

func stripDefaultPort(h string) string {
	if strings.HasSuffix(h, ":443") || strings.HasSuffix(h, ":80") {
		if host, _, err := net.SplitHostPort(h); err == nil {
			return host
		}
	}
	return h
}

func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// IsLoopback reports whether host[:port] names this machine: localhost, *.localhost, or a loopback IP.
func IsLoopback(hostport string) bool {
	if hostport == "" {
		return false
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(strings.ToLower(host), "[]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	// net.ParseIP(host).IsLoopback() without its allocation: netip also parses zones, which ParseIP refuses.
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.IsLoopback()
}

// Base returns the request's public base URL (scheme://host, no path), as the guard decided it. Outside the
// guard it falls back to the request's own Host over http.
func Base(r *http.Request) *url.URL {
	if u, ok := baseFrom(r.Context()); ok {
		return u
	}
	return &url.URL{Scheme: "http", Host: r.Host}
}

// baseFrom returns the public base URL the guard decided for the request whose context ctx is (or derives from).
func baseFrom(ctx context.Context) (*url.URL, bool) {
	u, ok := ctx.Value(ctxKey{}).(*url.URL)
	return u, ok
}

// Local reports whether the request of ctx came to this machine directly: the guard admitted it with a loopback
// public base (not a tunnel's forwarded host, not the configured public URL). Outside the guard: false.
func Local(ctx context.Context) bool {
	u, ok := baseFrom(ctx)
	return ok && IsLoopback(u.Host)
}

// URL returns the absolute public URL of path for this request.
func URL(r *http.Request, path string) string {
	b := *Base(r)
	b.Path = path
	return b.String()
}
