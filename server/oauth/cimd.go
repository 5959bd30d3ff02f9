package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// cimdFetcher fetches client ID metadata documents (draft-ietf-oauth-client-id-metadata-document; MCP
// 2025-11-25): the client_id is an https URL whose document describes the client. The fetch has a timeout and a
// size limit, never connects to a private, loopback or link-local address (checked on the address actually dialled,
// so neither DNS rebinding nor a redirect gets around it), follows at most 3 https redirects, and goes through
// recorder.Transport so that it shows up as an outbound exchange.
type cimdFetcher struct {
	client        *http.Client
	allowLoopback bool
	maxBytes      int64
	now           func() time.Time
	log           *slog.Logger

	mu    sync.Mutex
	cache *bounded[cimdEntry] // by document URL, owned by its host
}

type cimdEntry struct {
	md      oauthex.ClientRegistrationMetadata
	expires time.Time
}

const (
	cimdDefaultCache = 5 * time.Minute
	cimdMaxCache     = 24 * time.Hour
	// The cache of documents is bounded: entries in all and per host, and bytes (each entry counted as its
	// document's size); at a bound the oldest entry (of the host, when the host's bound is reached) goes.
	cimdCacheEntries = 256
	cimdCachePerHost = 32
	cimdCacheBytes   = 4 << 20
)

func newCIMDFetcher(cfg Config) *cimdFetcher {
	timeout := cfg.CIMDTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	maxBytes := cfg.CIMDMaxBytes
	if maxBytes <= 0 {
		maxBytes = 64 << 10
	}
	f := &cimdFetcher{allowLoopback: cfg.AllowLoopbackCIMD, maxBytes: maxBytes, now: cfg.Now, cache: newBounded[cimdEntry](cimdCacheEntries, cimdCachePerHost, cimdCacheBytes), log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{Timeout: timeout, Control: f.checkDial}
	base := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf and bypass the address check
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	f.client = &http.Client{
		Transport: &recorder.Transport{Base: base, Recorder: cfg.Recorder},
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return &policyError{"more than 3 redirects"}
			}
			if err := f.checkURL(req.URL); err != nil {
				return &policyError{"a redirect to a URL that is not allowed: " + err.Error()}
			}
			return nil
		},
	}
	return f
}

// isDocumentURL reports whether a client_id is the URL of a metadata document this server would fetch.
func (f *cimdFetcher) isDocumentURL(id string) bool {
	u, err := url.Parse(id)
	return err == nil && f.checkURL(u) == nil && u.Path != "" && u.Path != "/"
}

// checkURL enforces the document URL rules: https (plain http only to loopback when allowed for tests), a host,
// no user info, no fragment, no dot segments.
func (f *cimdFetcher) checkURL(u *url.URL) error {
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && f.allowLoopback && isLoopbackHost(u.Hostname()):
	default:
		return fmt.Errorf("a client ID metadata document URL must be https, not %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	if u.User != nil {
		return errors.New("user info is not allowed")
	}
	if u.Fragment != "" {
		return errors.New("a fragment is not allowed")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return errors.New("dot segments are not allowed in the path")
		}
	}
	return nil
}

var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach private IPv4
}

// checkDial refuses a connection to an address that is not public (loopback allowed only for tests).
func (f *cimdFetcher) checkDial(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("refusing to connect to %s: not an IP address", address)
	}
	ip = ip.Unmap()
	if ip.IsLoopback() {
		if f.allowLoopback {
			return nil
		}
		return &addressError{fmt.Errorf("refusing to connect to %s: a loopback address", ip)}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLinkLocalUnicast() {
		return &addressError{fmt.Errorf("refusing to connect to %s: a private or non-unicast address", ip)}
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return &addressError{fmt.Errorf("refusing to connect to %s: a reserved address (%s)", ip, p)}
		}
	}
	return nil
}

// addressError: the fetcher refused to dial an address. Its text (the address) goes to the log only.
type addressError struct{ err error }

func (e *addressError) Error() string { return e.err.Error() }

// policyError: a rule of the fetcher refused a redirect; its text names only what the client's URLs said.
type policyError struct{ msg string }

func (e *policyError) Error() string { return e.msg }

// fetchFailure words a failed fetch for pages and JSON errors without what Go's errors carry about this side of
// the network (internal host names, addresses, the resolver's address): timeout, refused, not an allowed address,
// no such host, TLS, a refused redirect, or a failure. The detail goes to the log.
func (f *cimdFetcher) fetchFailure(err error, ctx context.Context) string {
	var (
		ne  net.Error
		ae  *addressError
		pe  *policyError
		dns *net.DNSError
	)
	switch {
	case errors.As(err, &ae):
		if strings.Contains(ae.Error(), "loopback") {
			return "the host's address is not allowed (a loopback address)"
		}
		return "the host's address is not allowed (a private or reserved address)"
	case errors.As(err, &pe):
		return pe.msg
	case errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil:
		return fmt.Sprintf("timed out after %s", f.client.Timeout)
	case errors.As(err, &dns):
		return "the host name does not resolve"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "the connection was reset"
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return "the TLS handshake failed (certificate or protocol)"
	}
	return "the connection failed"
}

// cimdDocument is a client ID metadata document: client metadata plus the client_id it must repeat.
type cimdDocument struct {
	registrationRequest
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
}

// fetch returns the document's metadata, from the cache while it is fresh.
func (f *cimdFetcher) fetch(ctx context.Context, id string) (*oauthex.ClientRegistrationMetadata, error) {
	now := f.now()
	f.mu.Lock()
	f.cache.Prune(now)
	if e, ok := f.cache.Get(id); ok && now.Before(e.expires) {
		f.mu.Unlock()
		md := e.md
		return &md, nil
	}
	f.mu.Unlock()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return nil, fmt.Errorf("client ID metadata document: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mcpwatch (client ID metadata document fetch)")
	resp, err := f.client.Do(req)
	if err != nil {
		reason := f.fetchFailure(err, ctx)
		f.log.Warn("client ID metadata document fetch failed", "url", id, "reason", reason, "err", err)
		return nil, errors.New("fetching the client ID metadata document failed: " + reason)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the client ID metadata document returned HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		reason := f.fetchFailure(err, ctx)
		f.log.Warn("client ID metadata document read failed", "url", id, "reason", reason, "err", err)
		return nil, errors.New("reading the client ID metadata document failed: " + reason)
	}
	if int64(len(body)) > f.maxBytes {
		return nil, fmt.Errorf("the client ID metadata document is larger than %d bytes", f.maxBytes)
	}
	var doc cimdDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		if msg, ok := typeErrorText(err); ok {
			return nil, fmt.Errorf("the client ID metadata document is invalid: %s", msg)
		}
		return nil, fmt.Errorf("the client ID metadata document is not a JSON object of client metadata: %w", err)
	}
	if doc.ClientID != id {
		return nil, fmt.Errorf("the document's client_id %q is not its URL %q (they must be equal)", doc.ClientID, id)
	}
	if doc.ClientSecret != "" || doc.ClientSecretExpiresAt != nil {
		return nil, errors.New("the document carries a client secret (a metadata document is public; its client cannot have one)")
	}
	md := doc.ClientRegistrationMetadata
	md.JWKS = ""
	if strings.TrimSpace(md.ClientName) == "" {
		return nil, errors.New("the document has no client_name")
	}
	if md.TokenEndpointAuthMethod != "" && md.TokenEndpointAuthMethod != "none" {
		return nil, fmt.Errorf("token_endpoint_auth_method %q is not supported for a metadata document client (only none)", md.TokenEndpointAuthMethod)
	}
	if err := validateClientMetadata(&md, &Options{}); err != nil {
		var oe *Error
		if errors.As(err, &oe) {
			return nil, fmt.Errorf("the document's metadata is invalid: %s", oe.Description)
		}
		return nil, err
	}
	if ttl := cacheLifetime(resp.Header.Get("Cache-Control")); ttl > 0 {
		host := ""
		if u, err := url.Parse(id); err == nil {
			host = u.Host
		}
		f.mu.Lock()
		f.cache.Add(id, host, int64(len(body)+len(id))+entryOverhead, now.Add(ttl), cimdEntry{md: md, expires: now.Add(ttl)})
		f.mu.Unlock()
	}
	return &md, nil
}

// cacheLifetime reads Cache-Control: no-store/no-cache → 0; max-age=N → N (at most a day); otherwise 5 minutes.
func cacheLifetime(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return 0
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.Atoi(strings.TrimPrefix(d, "max-age="))
			if err != nil || n < 0 {
				return 0
			}
			return min(time.Duration(n)*time.Second, cimdMaxCache)
		}
	}
	return cimdDefaultCache
}
