package oauth

import (
	"bytes"
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// cimdFetcher fetches client ID metadata documents (draft-ietf-oauth-client-id-metadata-document; MCP
// 2025-11-25): the client_id is an https URL whose document describes the client. The fetch has a timeout and a
// size limit, never connects to a private, loopback or link-local address (checked on the address actually dialled,
// so neither DNS rebinding nor a redirect gets around it), follows at most 3 https redirects, and goes through
// recorder.Transport so that it shows up as an outbound exchange.
type cimdFetcher struct {
	client *http.Client
	// strict never connects to loopback: with allowLoopback, the client for a request that did not come to a
	// loopback address (a tunnel's, so that a stranger cannot use loopback fetches as a port scanner).
	strict        *http.Client
	allowLoopback bool
	maxBytes      int64
	now           func() time.Time
	log           *slog.Logger

	mu    sync.Mutex
	cache *bounded[cimdEntry]   // by document URL, owned by its host
	jwks  map[string]*jwksEntry // by jwks_uri, at most maxJWKSCache
}

type cimdEntry struct {
	doc     docClient
	expires time.Time
}

// docClient is what the server makes of a metadata document: the metadata, the token endpoint authentication
// methods open to the client (the chosen one first), the signing algorithm it named, and notes on what was
// changed or chosen.
type docClient struct {
	md      oauthex.ClientRegistrationMetadata
	methods []string
	alg     string
	notes   []string
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
	f := &cimdFetcher{allowLoopback: cfg.AllowLoopbackCIMD, maxBytes: maxBytes, now: cfg.Now,
		cache: newBounded[cimdEntry](cimdCacheEntries, cimdCachePerHost, cimdCacheBytes), jwks: map[string]*jwksEntry{}, log: cfg.Logger}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.client = f.newClient(cfg, timeout, f.allowLoopback)
	f.strict = f.client
	if f.allowLoopback {
		f.strict = f.newClient(cfg, timeout, false)
	}
	return f
}

// newClient is the guarded client; loopback says whether it may connect to this machine.
func (f *cimdFetcher) newClient(cfg Config, timeout time.Duration, loopback bool) *http.Client {
	dialer := &net.Dialer{Timeout: timeout, Control: f.dialCheck(loopback)}
	base := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf and bypass the address check
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
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
}

// clientFor is the client for a fetch on behalf of the request of ctx: with allowLoopback, one that may connect to
// loopback only when the request itself came to a loopback address.
func (f *cimdFetcher) clientFor(ctx context.Context) *http.Client {
	if f.allowLoopback && publicurl.Local(ctx) {
		return f.client
	}
	return f.strict
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
func (f *cimdFetcher) checkDial(network, address string, c syscall.RawConn) error {
	return f.dialCheck(f.allowLoopback)(network, address, c)
}

// dialCheck is checkDial with loopback allowed or not.
func (f *cimdFetcher) dialCheck(loopback bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error { return checkAddress(address, loopback) }
}

func checkAddress(address string, loopback bool) error {
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
		if loopback {
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

// fetch returns the document's client, from the cache while it is fresh; fetched is false when it came from the
// cache.
func (f *cimdFetcher) fetch(ctx context.Context, id string) (_ *docClient, fetched bool, _ error) {
	now := f.now()
	f.mu.Lock()
	f.cache.Prune(now)
	if e, ok := f.cache.Get(id); ok && now.Before(e.expires) {
		f.mu.Unlock()
		doc := e.doc
		return &doc, false, nil
	}
	f.mu.Unlock()

	body, hdr, err := f.get(ctx, id, "the client ID metadata document")
	if err != nil {
		return nil, false, err
	}
	var raw cimdDocument
	if err := json.Unmarshal(body, &raw); err != nil {
		if msg, ok := typeErrorText(err); ok {
			return nil, false, fmt.Errorf("the client ID metadata document is invalid: %s", msg)
		}
		return nil, false, fmt.Errorf("the client ID metadata document is not a JSON object of client metadata: %w", err)
	}
	if raw.ClientID != id {
		return nil, false, fmt.Errorf("the document's client_id %q is not its URL %q (they must be equal)", raw.ClientID, id)
	}
	if raw.ClientSecret != "" || raw.ClientSecretExpiresAt != nil {
		return nil, false, errors.New("the document carries a client secret (a metadata document is public; its client cannot have one)")
	}
	doc, err := documentClient(&raw)
	if err != nil {
		return nil, false, err
	}
	if ttl := cacheLifetime(hdr.Get("Cache-Control")); ttl > 0 {
		host := ""
		if u, err := url.Parse(id); err == nil {
			host = u.Host
		}
		f.mu.Lock()
		f.cache.Add(id, host, int64(len(body)+len(id))+entryOverhead, now.Add(ttl), cimdEntry{doc: *doc, expires: now.Add(ttl)})
		f.mu.Unlock()
	}
	return doc, true, nil
}

// documentClient checks a document's metadata and chooses its token endpoint authentication: the singular
// token_endpoint_auth_method and the token_endpoint_auth_methods_supported list are the client's choices; those a
// metadata-document client can use here (none, private_key_jwt — never a secret) are kept, the singular one
// preferred.
func documentClient(raw *cimdDocument) (*docClient, error) {
	md := raw.ClientRegistrationMetadata
	md.JWKS = ""
	if j := bytes.TrimSpace(raw.JWKS); len(j) > 0 && !bytes.Equal(j, []byte("null")) {
		md.JWKS = string(j)
	}
	if strings.TrimSpace(md.ClientName) == "" {
		return nil, errors.New("the document has no client_name")
	}
	offered := []string{}
	if md.TokenEndpointAuthMethod != "" {
		offered = append(offered, md.TokenEndpointAuthMethod)
	}
	for _, m := range raw.AuthMethodsSupported {
		if len(offered) < 10 && !slices.Contains(offered, m) {
			offered = append(offered, m)
		}
	}
	if len(offered) == 0 {
		offered = []string{authNone}
	}
	var methods []string
	keys := md.JWKS != "" || md.JWKSURI != ""
	for _, m := range offered {
		if m == authNone || (m == authPrivateKeyJWT && keys) {
			methods = append(methods, m)
		}
	}
	if len(methods) == 0 {
		why := "a metadata document client can use none or private_key_jwt (with jwks_uri or jwks), never a secret"
		if slices.Contains(offered, authPrivateKeyJWT) {
			why = "private_key_jwt needs jwks_uri or jwks in the document"
		}
		return nil, fmt.Errorf("none of the token endpoint auth methods %s can be used: %s", strings.Join(offered, ", "), why)
	}
	var notes []string
	if len(offered) > 1 || methods[0] != offered[0] {
		notes = append(notes, fmt.Sprintf("token endpoint auth %s chosen (the document offers %s; accepted here: %s)",
			methods[0], strings.Join(offered, ", "), strings.Join(methods, ", ")))
	}
	if raw.AuthSigningAlg != "" && !slices.Contains(assertionAlgNames(), raw.AuthSigningAlg) {
		return nil, fmt.Errorf("token_endpoint_auth_signing_alg %q is not supported (supported: %s)", raw.AuthSigningAlg, strings.Join(assertionAlgNames(), ", "))
	}
	md.TokenEndpointAuthMethod = methods[0]
	more, err := validateClientMetadata(&md, &Options{})
	if err != nil {
		var oe *Error
		if errors.As(err, &oe) {
			return nil, fmt.Errorf("the document's metadata is invalid: %s", oe.Description)
		}
		return nil, err
	}
	return &docClient{md: md, methods: methods, alg: raw.AuthSigningAlg, notes: append(notes, more...)}, nil
}

// get fetches a URL the client named (a metadata document, a JWKS) through the guarded client: 200 and at most
// maxBytes, or an error naming what.
func (f *cimdFetcher) get(ctx context.Context, u, what string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mcpwatch (client ID metadata document fetch)")
	client := f.clientFor(ctx)
	if client == f.strict && f.allowLoopback && req.URL.Scheme == "http" {
		return nil, nil, fmt.Errorf("fetching %s refused: --allow-loopback-cimd fetches from this machine only for a request that came to a loopback address, and this one came through a public host", what)
	}
	resp, err := client.Do(req)
	if err != nil {
		reason := f.fetchFailure(err, ctx)
		f.log.Warn("fetch of a client's document failed", "what", what, "url", u, "reason", reason, "err", err)
		return nil, nil, fmt.Errorf("fetching %s failed: %s", what, reason)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("fetching %s returned HTTP %d", what, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		reason := f.fetchFailure(err, ctx)
		f.log.Warn("read of a client's document failed", "what", what, "url", u, "reason", reason, "err", err)
		return nil, nil, fmt.Errorf("reading %s failed: %s", what, reason)
	}
	if int64(len(body)) > f.maxBytes {
		return nil, nil, fmt.Errorf("%s is larger than %d bytes", what, f.maxBytes)
	}
	return body, resp.Header, nil
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
