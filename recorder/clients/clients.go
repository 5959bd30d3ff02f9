// Package clients is the registry of MCP client profiles: one value per client of reference/clients-2026-12.md,
// holding what identifies it on the wire (its fingerprints, each with the reference's source and a strength) and
// room for what it does (its behaviour, for a probe that plays it). The recorder's analysis names clients from it;
// adding a client is adding one Profile to profiles.
package clients

import (
	"regexp"
	"strings"
	"sync"
)

// Field is where on the wire a fingerprint is read.
type Field string

// The fields fingerprints read.
const (
	// MetadataURL is a client ID metadata document URL: the client_id of an authorization or token request, or the
	// document the server fetched.
	MetadataURL Field = "metadata-url"
	// RedirectURI is a redirect URI, registered or sent.
	RedirectURI Field = "redirect-uri"
	ClientName  Field = "client-name" // client_name of a registration (or of the metadata document)
	SoftwareID  Field = "software-id" // software_id of a registration
	ClientInfo  Field = "client-info" // clientInfo name of initialize, or of 2026-07-28 _meta
	UserAgent   Field = "user-agent"
	Scope       Field = "scope"       // a scope the client asks for
	RPCID       Field = "jsonrpc-id"  // the JSON-RPC id of the opening request
	RemoteAddr  Field = "remote-addr" // the client's IP address (behind a local tunnel, the one it forwards)
	ClientURI   Field = "client-uri"  // client_uri of a registration or metadata document
	// AssertionKeyID is the kid of a private_key_jwt client assertion's header.
	AssertionKeyID Field = "assertion-kid"
)

// Strength says whether a fingerprint may name a client by itself.
type Strength int

// Strengths.
const (
	// weak: several clients emit it (a loopback /callback, python-httpx, node); it never names a client alone.
	weak Strength = 1
	// Decisive: only this client emits it (a hosted callback, its own metadata document, its user agent).
	Decisive Strength = 2
)

// Fingerprint is one signal of a client. Exactly one of Exact, Prefix, Contains and Pattern is set; Exact,
// Prefix and Contains compare without regard to case.
type Fingerprint struct {
	Field    Field
	Exact    string
	Prefix   string
	Contains string
	Pattern  *regexp.Regexp // anchored by the pattern itself
	Strength Strength
	Source   string // the reference's source of the fact (reference/clients-2026-12.md)
}

// Matches reports whether the fingerprint matches a value of its field.
func (f *Fingerprint) Matches(v string) bool {
	if v == "" {
		return false
	}
	switch {
	case f.Exact != "":
		return strings.EqualFold(v, f.Exact)
	case f.Prefix != "":
		return len(v) >= len(f.Prefix) && strings.EqualFold(v[:len(f.Prefix)], f.Prefix)
	case f.Contains != "":
		return strings.Contains(strings.ToLower(v), strings.ToLower(f.Contains))
	case f.Pattern != nil:
		return f.Pattern.MatchString(v)
	}
	return false
}

// Behaviour is what a client does, for a probe that plays it (filled where the reference knows it; empty is
// unknown).
type Behaviour struct {
	// Opening: "discover" (server/discover, then initialize on a legacy answer) or "initialize".
	Opening string
	// Registration is the client's order of registration paths: "preregistered", "cimd", "dcr".
	Registration []string
	// CIMDNeedsNone: the client uses its metadata document only when the server lists "none" among its token
	// endpoint auth methods.
	CIMDNeedsNone bool
	// DiscoveryOrder lists the metadata the client fetches, in order ("prm-path", "prm-root", "as", "oidc").
	DiscoveryOrder []string
	// EchoesSession is false for a client that never sends Mcp-Session-Id back.
	EchoesSession *bool
	// ManyAddresses: one handshake arrives from many source addresses (a hosted client's nodes).
	ManyAddresses bool
	// ProbeClientInfo are the clientInfo names of a throwaway session the client opens before its real one
	// (mcp-remote's one-off client that tests the transport): the real session that follows is the same run.
	ProbeClientInfo []string

	// What `mcpwatch probe --as` plays (recorder/probe). Empty is unknown: the probe then does what the spec says
	// a client must do and says so. DiscoveryOrder above also lists "prm-header" (the challenge's
	// resource_metadata); "as" and "oidc" follow RFC 8414 / OpenID discovery for the issuer (path-inserted for an
	// issuer with a path, then the root).

	// FirstRequest is the unauthenticated request that starts a connection: "post" (the opening JSON-RPC request),
	// "get" or "head" (the MCP URL).
	FirstRequest string
	// CIMDURL is the client's metadata-document URL (its client_id when it uses CIMD); CIMDAuth the document's
	// token_endpoint_auth_method.
	CIMDURL  string
	CIMDAuth string
	// CIMDLoopbackOnly: the client uses its document only with a loopback callback (Codex).
	CIMDLoopbackOnly bool
	// DCR is the client's dynamic registration body; nil is unknown.
	DCR *Registration
	// Callback is the redirect_uri: "{port}" is an ephemeral loopback port, "{id}" Codex's per-server id.
	Callback string
	// Scope lists where the requested scope comes from, the first that has one: "challenge" (the 401's scope),
	// "prm" (scopes_supported of the resource metadata), "as" (every scope of the AS metadata); "none" asks for
	// none. OfflineAccess adds offline_access when the AS lists it.
	Scope         []string
	OfflineAccess bool
	// Resource: the client sends RFC 8707 resource on authorize and token.
	Resource bool
	// ChecksIss: the client validates RFC 9207 iss when the AS advertises it.
	ChecksIss bool
	// ChecksResource: the client stops when the protected resource metadata's resource is not the URL it
	// connects to (RFC 9728 §3.3).
	ChecksResource bool
	// Versions are the protocol versions offered: for Opening "discover", the server/discover version then the
	// initialize fallback's; for "initialize", its version.
	Versions []string
	// HeaderVersion is the MCP-Protocol-Version header the client sends after a 2026-07-28 discover when it differs
	// from the negotiated one ("" the negotiated one).
	HeaderVersion string
	// DiscoverID is the JSON-RPC id of server/discover (a string or a number as JSON, "" → 1).
	DiscoverID string
	// ClientInfo is the clientInfo name and version it sends.
	ClientInfo [2]string
	// UserAgent on MCP requests and OAuthUserAgent on OAuth requests ("" unknown: the probe names itself).
	UserAgent      string
	OAuthUserAgent string
	// Accept on MCP POSTs ("" the spec's "application/json, text/event-stream").
	Accept string
	// NoInitialized: the client sends no notifications/initialized after initialize.
	NoInitialized bool
	// Sources names the reference section and source of each fact above, by field name.
	Sources map[string]string
}

// Registration is a dynamic client registration body (RFC 7591) as a client sends it. "{redirect}" in
// RedirectURIs is the callback in use.
type Registration struct {
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	ApplicationType         string   `json:"application_type,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
	// Scope: "discovered" sends the scope the client chose, "empty" sends "", "" leaves the member out.
	Scope string `json:"-"`
}

// Profile is one client.
type Profile struct {
	ID           string // stable id, as findings and the TUI show it ("claude", "claude-code", …)
	Name         string // display name, short ("Claude", "VS Code")
	Section      string // its section of reference/clients-2026-12.md
	Fingerprints []Fingerprint
	Behaviour    Behaviour
}

// Match is a profile a value matched, and the fingerprint it matched.
type Match struct {
	Profile     *Profile
	Fingerprint *Fingerprint
}

// Lookup returns the best match of a value of a field: a decisive fingerprint before a weak one, the first
// profile of profiles on a tie. ok is false when nothing matches.
func Lookup(field Field, v string) (m Match, ok bool) {
	if v == "" {
		return Match{}, false
	}
	for _, e := range index()[field] {
		if e.lit != "" && !strings.HasPrefix(v, e.lit) {
			continue // a pattern's literal prefix rules it out without running it
		}
		if !e.f.Matches(v) {
			continue
		}
		if !ok || e.f.Strength > m.Fingerprint.Strength {
			m, ok = Match{Profile: e.p, Fingerprint: e.f}, true
		}
	}
	return m, ok
}

// entry is a fingerprint in the index, with the literal prefix any match of its pattern starts with.
type entry struct {
	p   *Profile
	f   *Fingerprint
	lit string
}

var (
	indexOnce sync.Once
	byField   map[Field][]entry
)

// literalPrefix is the literal text every match of an anchored pattern starts with ("^https://claude\\.(ai|com)/"
// gives "https://claude."); "" when there is none.
func literalPrefix(pat string) string {
	rest, ok := strings.CutPrefix(pat, "^")
	if !ok {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		var lit byte
		switch {
		case c == '\\' && i+1 < len(rest) && strings.IndexByte(`.-/:[](){}?*+|^$\\`, rest[i+1]) >= 0:
			lit = rest[i+1]
			i++
		case strings.IndexByte(`\\.[](){}?*+|^$`, c) >= 0:
			return b.String()
		default:
			lit = c
		}
		if i+1 < len(rest) && strings.IndexByte("?*{", rest[i+1]) >= 0 {
			return b.String() // a quantifier makes the last character optional
		}
		b.WriteByte(lit)
	}
	return b.String()
}

// index groups the fingerprints by field, in registry order (built once, on first use).
func index() map[Field][]entry {
	indexOnce.Do(func() {
		byField = map[Field][]entry{}
		all := make([]*Profile, 0, len(profiles)+1)
		for i := range profiles {
			all = append(all, &profiles[i])
		}
		for _, p := range append(all, &spec) {
			for j := range p.Fingerprints {
				f := &p.Fingerprints[j]
				e := entry{p: p, f: f}
				if f.Pattern != nil {
					e.lit = literalPrefix(f.Pattern.String())
				}
				byField[f.Field] = append(byField[f.Field], e)
			}
		}
	})
	return byField
}

// IsProbeClientInfo reports a clientInfo name some client gives a throwaway session (Behaviour.ProbeClientInfo).
func IsProbeClientInfo(name string) bool {
	for i := range profiles {
		for _, n := range profiles[i].Behaviour.ProbeClientInfo {
			if strings.EqualFold(n, name) {
				return true
			}
		}
	}
	return false
}

// Profiles returns the registry's profiles in order (spec aside). They are the registry's own: read them, never
// change them.
func Profiles() []*Profile {
	out := make([]*Profile, len(profiles))
	for i := range profiles {
		out[i] = &profiles[i]
	}
	return out
}

// Spec returns the profile of what the current revision says a client must do (mcpwatch probe --as spec): it
// names no client, so it is not in Profiles. It is the registry's own: read it, never change it.
func Spec() *Profile { return &spec }

// ByID returns a profile (spec too: the probe's requests as spec are named by it).
func ByID(id string) (*Profile, bool) {
	for i := range profiles {
		if profiles[i].ID == id {
			return &profiles[i], true
		}
	}
	if id == spec.ID {
		return &spec, true
	}
	return nil, false
}

var (
	// A loopback host: localhost or an IPv4/IPv6 loopback address.
	loopback = `(?:localhost|127\.0\.0\.1|\[::1\])`
)

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

func boolp(b bool) *bool { return &b }
