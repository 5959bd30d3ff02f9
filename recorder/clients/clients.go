// Package clients is the registry of MCP client profiles: one value per client of reference/clients-2026-12.md,
// holding what identifies it on the wire (its fingerprints, each with the reference's source and a strength) and
// room for what it does (its behaviour, for a probe that plays it). The recorder's analysis names clients from it;
// adding a client is adding one Profile to Profiles.
package clients

import (
	"regexp"
	"strings"
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
	Scope       Field = "scope"      // a scope the client asks for
	RPCID       Field = "jsonrpc-id" // the JSON-RPC id of the opening request
)

// Strength says whether a fingerprint may name a client by itself.
type Strength int

// Strengths.
const (
	// Weak: several clients emit it (a loopback /callback, python-httpx, node); it never names a client alone.
	Weak Strength = 1
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
}

// Profile is one client.
type Profile struct {
	ID           string // stable id, as findings and the TUI show it ("claude", "claude-code", …)
	Name         string // display name
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
// profile of Profiles on a tie. ok is false when nothing matches.
func Lookup(field Field, v string) (m Match, ok bool) {
	if v == "" {
		return Match{}, false
	}
	for i := range Profiles {
		p := &Profiles[i]
		for j := range p.Fingerprints {
			f := &p.Fingerprints[j]
			if f.Field != field || !f.Matches(v) {
				continue
			}
			if !ok || f.Strength > m.Fingerprint.Strength {
				m, ok = Match{Profile: p, Fingerprint: f}, true
			}
		}
	}
	return m, ok
}

// ByID returns a profile.
func ByID(id string) (*Profile, bool) {
	for i := range Profiles {
		if Profiles[i].ID == id {
			return &Profiles[i], true
		}
	}
	return nil, false
}

var (
	// A loopback host: localhost or an IPv4/IPv6 loopback address.
	loopback = `(?:localhost|127\.0\.0\.1|\[::1\])`
)

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

func boolp(b bool) *bool { return &b }
