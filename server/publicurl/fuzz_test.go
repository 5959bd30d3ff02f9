package publicurl

// Fuzz target for the Host/Origin guard (script/fuzz runs it briefly; seeds in testdata/fuzz).

import (
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The guard never panics on any Host, Origin or forwarded header, and what it admits follows its rules: the base
// URL it returns has a scheme and a host; an Origin it let through is a loopback http origin or the base's own
// origin; a host other than a loopback one, the public URL's, or a TLS tunnel's forwarded one (with no public
// URL set) is refused.
func FuzzGuard(f *testing.F) {
	f.Add("", "127.0.0.1:4000", "", "", "", "")
	f.Add("https://abc.trycloudflare.com", "abc.trycloudflare.com", "https://abc.trycloudflare.com", "", "", "")
	f.Add("", "evil.example", "http://evil.example", "abc.trycloudflare.com", "https", "")
	f.Add("", "localhost:4000", "null", "[::1]:80, evil", "http,https", "")
	f.Add("https://pub.example:8443", "PUB.example:8443", "https://pub.example:8443", "", "", "X")
	f.Fuzz(func(t *testing.T, public, host, origin, fwdHost, fwdProto, path string) {
		g, err := NewGuard(public)
		if err != nil {
			if public == "" {
				t.Fatalf("no public URL refused: %v", err)
			}
			return
		}
		r := httptest.NewRequest("GET", "http://127.0.0.1/", nil)
		r.Host = host
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if fwdHost != "" {
			r.Header.Set("X-Forwarded-Host", fwdHost)
		}
		if fwdProto != "" {
			r.Header.Set("X-Forwarded-Proto", fwdProto)
		}
		base, err := g.Check(r)
		if err != nil {
			if base != nil {
				t.Fatal("a refusal with a base URL")
			}
			return
		}
		if base == nil || base.Scheme == "" || base.Host == "" {
			t.Fatalf("admitted with base %v", base)
		}
		if origin != "" {
			o, perr := url.Parse(origin)
			loopbackHTTP := perr == nil && o.Scheme == "http" && IsLoopback(o.Host)
			same := perr == nil && strings.EqualFold(o.Scheme, base.Scheme) && sameHost(o.Host, base.Host)
			if !loopbackHTTP && !same {
				t.Fatalf("Origin %q admitted for base %v", origin, base)
			}
		}
		pub := g.Public()
		external := strings.ToLower(firstValue(fwdHost))
		if external == "" {
			external = strings.ToLower(host)
		}
		switch {
		case pub != nil && (sameHost(external, pub.Host) || sameHost(strings.ToLower(host), pub.Host)):
		case IsLoopback(host):
		case pub == nil && strings.EqualFold(firstValue(fwdProto), "https"):
		default:
			t.Fatalf("host %q (forwarded %q, proto %q, public %v) admitted", host, fwdHost, fwdProto, pub)
		}
		r = r.WithContext(t.Context())
		URL(r, "/"+path)
		Base(r)
	})
}

// IsLoopback reads an address as net.ParseIP does (it parses without allocating).
func FuzzIsLoopbackLikeParseIP(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "127.1.2.3:80", "::1", "[::1]:4000", "::ffff:127.0.0.1", "::1%eth0", "[fe80::1%25lo]:80",
		"0127.0.0.1", "127.0.0.01", "localhost", "a.localhost:1", "LOCALHOST", "10.0.0.1", "::", "0:0:0:0:0:0:0:1", "1.2.3.4.5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, hostport string) {
		want := func() bool {
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
			ip := net.ParseIP(host)
			return ip != nil && ip.IsLoopback()
		}()
		if got := IsLoopback(hostport); got != want {
			t.Fatalf("IsLoopback(%q) = %v, net.ParseIP says %v", hostport, got, want)
		}
	})
}
