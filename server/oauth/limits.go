package oauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/mcpwatch/mcpwatch/server/oauth/store"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// The budget of the lasting state (docs/budget-oauth.md): registered clients and grants.
//
// Clients: at most MaxClients. Registering one more forgets the oldest idle client: one that holds no grant, has
// no authorization under way (a pending consent or a code) and registered more than clientGrace ago (the moment
// between its registration and its authorization request); if every such client holds a grant, the one whose
// grants issued no token for longest, past clientIdleGrant, goes with its grants. When none qualifies, the
// registration is refused with 503 temporarily_unavailable. A client whose grant issued tokens within the hour, or
// in the middle of its first authorization, is never forgotten to admit a stranger.
//
// Grants: at most MaxGrantsPerClient per client and MaxGrants in all. A new grant past the client's bound revokes
// that client's oldest grant; past the bound in all, the oldest grant of the owner holding the most grants goes
// (owner: the host of a metadata-document client id, the client id of a registered client), so a flood of
// grants pushes out the flooder's own first.
const (
	maxClients         = 1000
	clientGrace        = time.Minute
	clientIdleGrant    = time.Hour // a client whose grants issued no token for this long may be forgotten
	maxGrants          = 10000
	maxGrantsPerClient = 100
)

// The tokens one grant keeps: every refresh issues an access token (alive an hour) and a refresh token (alive 30
// days, kept after its use to catch a replay), so a client refreshing in a loop would pile them up. A grant keeps
// its newest maxAccessPerGrant access tokens and maxRefreshPerGrant refresh tokens; older ones are forgotten from
// the state, but a used (rotated or retired) refresh token forgotten so is remembered in memory as its hash and
// grant (AS.retired: maxRetired in all, maxRetiredPerGrant per grant, oldest first out), so that presenting it
// later is still a replay that revokes the grant (RFC 9700 §4.14.2).
const (
	maxAccessPerGrant  = 10
	maxRefreshPerGrant = 12
	maxRetired         = 100000
	maxRetiredPerGrant = 1000
	maxRetiredBytes    = 48 << 20 // 100,000 entries of a 64-character hash and a grant id, with entryOverhead
)

// trimmedRefresh is a used refresh token forgotten from the state (to be remembered in AS.retired).
type trimmedRefresh struct {
	hash, grant string
	expires     time.Time
}

// trimGrantTokens forgets a grant's oldest tokens past its bounds and returns the used refresh tokens it forgot.
// Call inside Store.Update.
func trimGrantTokens(s *store.State, grantID string) (used []trimmedRefresh) {
	access, refresh := s.TokensOf(grantID)
	for len(access) > maxAccessPerGrant {
		i := oldestBy(access, func(h string) time.Time { t, _ := s.AccessTokens.Get(h); return t.Issued })
		s.AccessTokens.Delete(access[i])
		access = append(access[:i], access[i+1:]...)
	}
	for len(refresh) > maxRefreshPerGrant {
		i := oldestBy(refresh, func(h string) time.Time { t, _ := s.RefreshTokens.Get(h); return t.Issued })
		if t, _ := s.RefreshTokens.Get(refresh[i]); t.State != store.RefreshActive {
			used = append(used, trimmedRefresh{hash: refresh[i], grant: grantID, expires: t.Expires})
		}
		s.RefreshTokens.Delete(refresh[i])
		refresh = append(refresh[:i], refresh[i+1:]...)
	}
	return used
}

// rememberRetired keeps the used refresh tokens trimmed from the state, until they expire.
func (a *AS) rememberRetired(used []trimmedRefresh) {
	if len(used) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, u := range used {
		a.retired.Add(u.hash, u.grant, int64(len(u.hash)+len(u.grant)+entryOverhead), u.expires, u.grant)
	}
}

// retiredGrant is the grant of a used refresh token trimmed from the state, if it is remembered.
func (a *AS) retiredGrant(hash string, now time.Time) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.retired.Prune(now)
	return a.retired.Get(hash)
}

// oldestBy is the index of the key with the earliest time (ties: the smallest key, for a stable choice).
func oldestBy(keys []string, at func(string) time.Time) int {
	best := 0
	for i := 1; i < len(keys); i++ {
		ti, tb := at(keys[i]), at(keys[best])
		if ti.Before(tb) || ti.Equal(tb) && keys[i] < keys[best] {
			best = i
		}
	}
	return best
}

// maxClientMetadataBytes bounds what one registration stores (its metadata as JSON): real clients register a few
// hundred bytes (VS Code, with four redirect URIs, under 1 KiB), and 1,000 clients then hold at most 8 MiB.
const maxClientMetadataBytes = 8 << 10

// checkClientSize refuses metadata larger than MaxClientMetadataBytes.
func checkClientSize(md *oauthex.ClientRegistrationMetadata) error {
	b, err := json.Marshal(md)
	if err != nil {
		return invalidRequest("client metadata: " + err.Error())
	}
	if len(b) > maxClientMetadataBytes {
		return oauthErr(http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf("the client metadata is %d bytes; this server stores at most %d per client", len(b), maxClientMetadataBytes))
	}
	return nil
}

// admitClient makes room for one more registered client, or says why there is none; busy reports a client with an
// authorization under way. First choice: the oldest idle client without a grant. Else the client whose grants have
// been idle longest (no token issued, no refresh) if that is more than clientIdleGrant ago: its grants are revoked
// with it. A client that issued tokens within clientIdleGrant, is mid-authorization or registered within
// clientGrace is never forgotten. Linear in the clients and grants held. Call inside Store.Update.
func admitClient(s *store.State, now time.Time, busy func(clientID string) bool, limit int) error {
	if s.Clients.Len() < limit {
		return nil
	}
	var (
		oldest, idlest string
		at, used       time.Time
	)
	for id, c := range s.Clients.All() {
		if now.Sub(c.IssuedAt) < clientGrace || busy(id) {
			continue
		}
		if !s.HasGrant(id) {
			if oldest == "" || c.IssuedAt.Before(at) || c.IssuedAt.Equal(at) && id < oldest {
				oldest, at = id, c.IssuedAt
			}
			continue
		}
		var last time.Time
		for _, gid := range s.GrantsOf(id) {
			g, _ := s.Grants.Get(gid)
			if u := g.Used(); u.After(last) {
				last = u
			}
		}
		if now.Sub(last) > clientIdleGrant && (idlest == "" || last.Before(used) || last.Equal(used) && id < idlest) {
			idlest, used = id, last
		}
	}
	switch {
	case oldest != "":
		s.Clients.Delete(oldest)
	case idlest != "":
		for _, gid := range s.GrantsOf(idlest) {
			s.RevokeGrant(gid)
		}
		s.Clients.Delete(idlest)
	default:
		return oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", fmt.Sprintf(
			"%d clients are registered, each holding a grant used within %s, in the middle of an authorization or registered less than %s ago; this server refuses a new registration rather than forget one of them: try again later", limit, clientIdleGrant, clientGrace))
	}
	return nil
}

// grantOwner is who a client's grants are counted against at the global bound: the host of a client ID metadata
// document (an https URL: a stranger can mint any number of ids under its own host, https://attacker/1 ...
// /10000, but they all share one owner) and the client id of a registered client.
func grantOwner(clientID string) string {
	if u, err := url.Parse(clientID); err == nil && u.Scheme == "https" && u.Host != "" {
		return u.Host
	}
	return clientID
}

// admitGrant makes room for one more grant of clientID: past the client's own bound its oldest grant goes; past
// the bound in all, the oldest grant of the owner (grantOwner) holding the most grants (ties: the owner whose
// oldest grant is the oldest), never chosen by id order. Linear in the grants held; called only when a grant is
// made. Call inside Store.Update.
func admitGrant(s *store.State, clientID string, limit int) {
	if gs := s.GrantsOf(clientID); len(gs) >= maxGrantsPerClient {
		s.RevokeGrant(oldestGrant(s, gs))
	}
	if s.Grants.Len() < limit {
		return
	}
	count := map[string]int{}
	most := 0
	for c, n := range s.GrantHolders() {
		o := grantOwner(c)
		count[o] += n
		most = max(most, count[o])
	}
	var (
		victim string
		at     time.Time
	)
	for c := range s.GrantHolders() {
		if count[grantOwner(c)] != most {
			continue
		}
		for _, id := range s.GrantsOf(c) {
			g, _ := s.Grants.Get(id)
			if victim == "" || g.Created.Before(at) || g.Created.Equal(at) && id < victim {
				victim, at = id, g.Created
			}
		}
	}
	if victim != "" {
		s.RevokeGrant(victim)
	}
}

// clientBusy reports whether a client has a pending consent or an authorization code. Called inside Store.Update
// (the store's lock, then AS.mu: never the other way round).
func (a *AS) clientBusy(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.consents.Owns(id) || a.codes.Owns(id)
}

func oldestGrant(s *store.State, ids []string) string {
	var (
		oldest string
		at     time.Time
	)
	for _, id := range ids {
		g, _ := s.Grants.Get(id)
		if oldest == "" || g.Created.Before(at) || g.Created.Equal(at) && id < oldest {
			oldest, at = id, g.Created
		}
	}
	return oldest
}
