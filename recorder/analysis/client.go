package analysis

import (
	"net/netip"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/clients"
)

// Client identification reads the registry of client profiles (recorder/clients: one value per client, each
// fingerprint with its source in reference/clients-2026-12.md). Each signal names a client with a strength; a
// connection takes its strongest signal (the first one on a tie). A decisive fingerprint ranks by where it was
// read:
//
//	5  a metadata document URL, a redirect URI, a software_id or a client assertion's key only that client uses
//	4  a user agent, registered client_name or client_uri, or an address only that client sends from
//	3  a clientInfo name, a scope
//	2  an unrecognised clientInfo name (a display name; it names no client)
//	1  a weak fingerprint, one several clients share (python-httpx, node, http://localhost:PORT/callback): it
//	   never names a client alone
type signal struct {
	kind     ClientKind
	strength int
	name     string // a display name: clientInfo name/version or client_name
}

// weakStrength is the strength of a fingerprint several clients share.
const weakStrength = 1

// fieldRank is the strength of a decisive fingerprint read at a field.
var fieldRank = map[clients.Field]int{
	clients.MetadataURL: 5, clients.RedirectURI: 5, clients.SoftwareID: 5, clients.AssertionKeyID: 5,
	clients.UserAgent: 4, clients.ClientName: 4, clients.RemoteAddr: 4, clients.ClientURI: 4,
	clients.ClientInfo: 3, clients.Scope: 3,
}

// lookup is the signal a value of a field gives.
func lookup(field clients.Field, v string) signal {
	m, ok := clients.Lookup(field, v)
	if !ok {
		return signal{}
	}
	s := signal{kind: ClientKind(m.Profile.ID), strength: weakStrength}
	if m.Fingerprint.Strength == clients.Decisive {
		s.strength = fieldRank[field]
	}
	return s
}

// uaSignal identifies a client by its User-Agent.
func uaSignal(ua string) signal { return lookup(clients.UserAgent, ua) }

// clientInfoSignal identifies a client by the clientInfo name of initialize (or the 2026-07-28 _meta clientInfo).
func clientInfoSignal(name, version string) signal {
	if name == "" {
		return signal{}
	}
	display := name
	if version != "" {
		display += " " + version
	}
	s := lookup(clients.ClientInfo, name)
	if s.strength <= weakStrength {
		s = signal{kind: ClientUnknown, strength: 2} // it rules out a weak guess
	}
	s.name = shared(display) // one string for every connection of a client, not one each (kept by the connection)
	return s
}

// redirectSignal identifies a client by a redirect URI it registered or sent.
func redirectSignal(raw string) signal { return lookup(clients.RedirectURI, raw) }

// clientNameSignal identifies a client by the client_name of its registration.
func clientNameSignal(name string) signal {
	if name == "" {
		return signal{}
	}
	s := lookup(clients.ClientName, name)
	s.name = name
	return s
}

// addrSignal identifies a client by its address: host, the remote address' (remoteHost), or behind a local tunnel
// or proxy (loopback: host is a loopback address) the first address it forwards.
func addrSignal(ex *recorder.Exchange, host string, loopback bool) signal {
	if loopback {
		fwd, _, _ := strings.Cut(header(ex.ReqHeaders, "X-Forwarded-For"), ",")
		host = strings.TrimSpace(fwd)
	}
	return lookup(clients.RemoteAddr, host)
}

// isLoopback reports whether host is a loopback IP address.
func isLoopback(host string) bool {
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// softwareIDSignal identifies a client by the software_id of its registration.
func softwareIDSignal(id string) signal { return lookup(clients.SoftwareID, id) }

// clientIDSignal identifies a client by a client ID that is a metadata document URL (CIMD).
func clientIDSignal(id string) signal { return lookup(clients.MetadataURL, id) }

// scopeSignal identifies a client by a scope only it asks for.
func scopeSignal(scope string) signal {
	var best signal
	for _, s := range fields(scope) {
		if g := lookup(clients.Scope, s); g.better(best) {
			best = g
		}
	}
	return best
}

// fields splits a space-separated list (a scope), at most 64 items.
func fields(s string) []string {
	var out []string
	for len(s) > 0 && len(out) < 64 {
		i := 0
		for i < len(s) && s[i] == ' ' {
			i++
		}
		j := i
		for j < len(s) && s[j] != ' ' {
			j++
		}
		if j > i {
			out = append(out, s[i:j])
		}
		s = s[j:]
	}
	return out
}

// manyAddresses reports a client whose one handshake arrives from many source addresses (its requests are
// grouped by the client, not by address).
func manyAddresses(k ClientKind) bool {
	p, ok := clients.ByID(string(k))
	return ok && p.Behaviour.ManyAddresses
}

// better reports whether s should replace the current best signal.
func (s signal) better(than signal) bool { return s.strength > than.strength }
