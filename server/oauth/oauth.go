// Package oauth is mcpwatch's embedded OAuth 2.1 authorization server and the resource-server side of the MCP
// endpoint, shaped by what real MCP clients do (Claude, ChatGPT, Cursor, VS Code, the MCP Inspector, the SDKs):
//
//   - discovery: protected resource metadata (RFC 9728) and authorization server metadata (RFC 8414, plus the
//     OpenID discovery URL clients probe), every absolute URL following the request's public base URL;
//   - clients: dynamic registration (RFC 7591) and client ID metadata documents (fetched, SSRF-guarded, recorded);
//   - authorize: a consent page (CSRF-protected) or auto-approval; redirects carry state and iss (RFC 9207);
//   - token: authorization_code with PKCE S256 only, refresh_token with rotation, resource indicators (RFC 8707),
//     JSON or form bodies; clients authenticate with none, a client secret or private_key_jwt (RFC 7523 §2.2);
//     the jwt-bearer grant (ID-JAG) is refused with an explanation; revocation (RFC 7009);
//   - the bearer check in front of /mcp: 401 with a resource_metadata challenge, 403 insufficient_scope, the token's
//     audience checked against the endpoint's public URL.
//
// Handlers return errors; errors are turned into responses in one place (errors.go): OAuth JSON errors, error pages
// for what cannot be redirected, and error redirects. The behaviour knobs a toggle may change live are one Options
// value read once per request.
package oauth

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/oauth/store"
	"github.com/mcpwatch/mcpwatch/server/toggle"
)

// Default lifetimes.
const (
	defaultAccessTokenTTL  = time.Hour
	defaultRefreshTokenTTL = 30 * 24 * time.Hour
	defaultCodeTTL         = 5 * time.Minute
)

// defaultScopes is what scopes_supported lists when Options.Scopes is nil.
var defaultScopes = []string{"mcp"}

// Options are the authorization server's behaviour knobs. They are read once per request, so a change (a toggle)
// applies from the next request on. The zero value is the normal, spec-correct behaviour. Replace slices rather
// than modifying them in place: a request may be reading the old value.
type Options struct {
	// AutoApprove skips the consent page: every valid authorization request is approved at once.
	AutoApprove bool
	// DenyConsent answers every valid authorization request with access_denied.
	DenyConsent bool
	// DisableRegistration turns dynamic client registration off: no registration_endpoint in the metadata, and
	// /register answers 404.
	DisableRegistration bool
	// DisableCIMD turns client ID metadata documents off (client_id_metadata_document_supported is omitted and a
	// URL client_id is an unknown client).
	DisableCIMD bool
	// RedirectHosts, when not empty, is the list of hosts a redirect URI may name (registration and authorize).
	RedirectHosts []string
	// ForceConfidential registers every client as confidential (client_secret_post, a secret issued), whatever
	// token_endpoint_auth_method it asked for; the token endpoint then requires the secret.
	ForceConfidential bool
	// DisableRefreshTokens issues access tokens without refresh tokens.
	DisableRefreshTokens bool
	// TokenError, when set, answers every token request with this OAuth error code (e.g. "invalid_grant").
	TokenError string
	// AccessTokenTTL, RefreshTokenTTL and CodeTTL are lifetimes; zero means the default.
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	CodeTTL         time.Duration
	// Scopes is scopes_supported; nil means DefaultScopes, an empty non-nil slice advertises none. A client may
	// request scopes that are not listed (Claude insists on its own "claudeai").
	Scopes []string
	// ConsentCode, when set, is asked for on the consent page before an approval (consentcode.go).
	ConsentCode string
	// RequiredScopes are needed at the protected endpoints: named in the 401 challenge's scope parameter, granted
	// when a client requests no scope, and a token without them gets 403 insufficient_scope.
	RequiredScopes []string
}

// The toggles (server/toggle) that set knobs of Options: when a knob alters an answer, the exchange records it
// under the toggle's name, with what it changed. Named through the registry, so that a misspelt toggle does not
// compile.
var (
	toggleDenyConsent   = toggle.DenyConsent.Name()
	toggleRequireSecret = toggle.RequireClientSecret.Name()
	toggleRedirectAllow = toggle.RedirectAllow.Name()
	toggleShortToken    = toggle.ShortToken.Name()
)

func (o *Options) accessTTL() time.Duration {
	return orDefault(o.AccessTokenTTL, defaultAccessTokenTTL)
}
func (o *Options) refreshTTL() time.Duration {
	return orDefault(o.RefreshTokenTTL, defaultRefreshTokenTTL)
}
func (o *Options) codeTTL() time.Duration { return orDefault(o.CodeTTL, defaultCodeTTL) }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// scopesSupported is what the metadata documents list.
func (o *Options) scopesSupported() []string {
	s := o.Scopes
	if s == nil {
		s = defaultScopes
	}
	out := slices.Clone(s)
	for _, r := range o.RequiredScopes {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// Config is fixed for the life of the server.
type Config struct {
	// Store keeps clients, grants and tokens; required (store.Ephemeral for memory only).
	Store *store.Store
	// Recorder records the outbound requests the server makes (client ID metadata document fetches); may be nil.
	Recorder *recorder.Recorder
	// Logger gets the server's own log lines (never stdout); nil discards.
	Logger *slog.Logger
	// ResourcePaths are the protected endpoints' paths; the first is the MCP endpoint (default: /mcp, /sse).
	ResourcePaths []string
	// AllowLoopbackCIMD lets client ID metadata documents (and the JWKS they name) be fetched over plain http and
	// from loopback addresses: for engineers testing a client of their own (serve --allow-loopback-cimd), never on
	// a public listener, as it opens the fetcher to this machine.
	AllowLoopbackCIMD bool
	// CIMDTimeout bounds a document fetch (default 5 s); CIMDMaxBytes its size (default 64 KiB).
	CIMDTimeout  time.Duration
	CIMDMaxBytes int64
	// Options is the initial behaviour.
	Options Options
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// LoopbackCIMDNote is the banner's (and the TUI header's) line while serve --allow-loopback-cimd is on.
const LoopbackCIMDNote = "--allow-loopback-cimd: client ID metadata documents and JWKS are fetched from this machine too (for testing a client of your own; never behind a public URL)"

// LoopbackCIMDHeader says the same in the TUI header, after the auth state.
const LoopbackCIMDHeader = "loopback CIMD allowed (--allow-loopback-cimd)"

// AS is the authorization server and the bearer check of the resources it protects.
type AS struct {
	cfg   Config
	store *store.Store
	opts  atomic.Pointer[Options]
	cimd  *cimdFetcher
	jtis  jtiCache
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	codes    *bounded[*authCode]       // by store.Hash(code), owned by the client id
	consents *bounded[*pendingConsent] // by consent id, owned by the client id
	retired  *bounded[string]          // used refresh tokens trimmed from the state: hash → grant id, owned by the grant
}

// New returns an authorization server over cfg.Store.
func New(cfg Config) (*AS, error) {
	if cfg.Store == nil {
		return nil, errors.New("oauth: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if len(cfg.ResourcePaths) == 0 {
		cfg.ResourcePaths = []string{"/mcp", "/sse"}
	}
	for _, p := range cfg.ResourcePaths {
		if len(p) < 2 || p[0] != '/' {
			return nil, fmt.Errorf("oauth: resource path %q must start with / and name an endpoint", p)
		}
	}
	for _, list := range []struct {
		name   string
		scopes []string
	}{{"scopes", cfg.Options.Scopes}, {"required scopes", cfg.Options.RequiredScopes}} {
		for _, sc := range list.scopes {
			if err := CheckScope(sc); err != nil {
				return nil, fmt.Errorf("oauth: %s: %w", list.name, err)
			}
		}
	}
	a := &AS{
		cfg:      cfg,
		store:    cfg.Store,
		log:      cfg.Logger,
		now:      cfg.Now,
		codes:    newBounded[*authCode](maxCodes, maxCodesPerClient, maxCodeBytes),
		consents: newBounded[*pendingConsent](maxConsents, maxConsentsPerClient, maxConsentBytes),
		retired:  newBounded[string](maxRetired, maxRetiredPerGrant, maxRetiredBytes),
		jtis:     jtiCache{max: maxJTIs, perClient: maxJTIsPerClient},
	}
	a.cimd = newCIMDFetcher(cfg)
	o := cfg.Options
	a.opts.Store(&o)
	return a, nil
}

// Options returns the current behaviour.
func (a *AS) Options() Options { return *a.opts.Load() }

// SetOptions replaces the behaviour; it applies from the next request on.
func (a *AS) SetOptions(o Options) { a.opts.Store(&o) }

// UpdateOptions changes the behaviour with f, atomically with respect to other UpdateOptions calls.
func (a *AS) UpdateOptions(f func(*Options)) {
	for {
		old := a.opts.Load()
		o := *old
		f(&o)
		if a.opts.CompareAndSwap(old, &o) {
			return
		}
	}
}

// Close releases the state file (its lock); the server must not be used afterwards.
func (a *AS) Close() error { return a.store.Close() }

// StatePath is the state file, or "" when the state is kept in memory only.
func (a *AS) StatePath() string { return a.store.Path() }

// MCPPath is the path of the MCP endpoint (the first protected resource).
func (a *AS) MCPPath() string { return a.cfg.ResourcePaths[0] }

// CheckScope says why s cannot be a scope: RFC 6749 §3.3 scope tokens are one or more printable ASCII characters
// other than space, '"' and '\' (which would also break the quoted scope parameter of WWW-Authenticate).
func CheckScope(s string) error {
	if s == "" {
		return errors.New("an empty scope")
	}
	for _, c := range []byte(s) {
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("scope %q: a scope is printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)", s)
		}
	}
	return nil
}
