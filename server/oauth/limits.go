package oauth

import (
	"fmt"
	"net/http"
	"time"

	"github.com/mcpwatch/mcpwatch/server/oauth/store"
)

// The budget of the lasting state (docs/budget-oauth.md): registered clients and grants.
//
// Clients: at most MaxClients. Registering one more forgets the oldest client that holds no grant and registered
// more than clientGrace ago (a younger one may be half-way through its first authorization); when there is none,
// the registration is refused with 503 temporarily_unavailable. A client holding a grant is never forgotten to
// admit a stranger.
//
// Grants: at most MaxGrantsPerClient per client and MaxGrants in all. A new grant past the client's bound revokes
// that client's oldest grant; past the bound in all, the oldest grant of the client holding the most grants goes
// (a flood of grants pushes out the flooder's own first).
const (
	MaxClients         = 1000
	clientGrace        = 15 * time.Minute
	MaxGrants          = 10000
	MaxGrantsPerClient = 100
)

// admitClient makes room for one more registered client, or says why there is none. Call inside Store.Update.
func admitClient(s *store.State, now time.Time) error {
	if s.Clients.Len() < MaxClients {
		return nil
	}
	var (
		oldest string
		at     time.Time
	)
	for id, c := range s.Clients.All() {
		if s.HasGrant(id) || now.Sub(c.IssuedAt) < clientGrace {
			continue
		}
		if oldest == "" || c.IssuedAt.Before(at) {
			oldest, at = id, c.IssuedAt
		}
	}
	if oldest == "" {
		return oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", fmt.Sprintf(
			"%d clients are registered, each holding a grant or registered less than %s ago; this server refuses a new registration rather than forget one of them: try again later", MaxClients, clientGrace))
	}
	s.Clients.Delete(oldest)
	return nil
}

// admitGrant makes room for one more grant of clientID. Call inside Store.Update.
func admitGrant(s *store.State, clientID string) {
	if gs := s.GrantsOf(clientID); len(gs) >= MaxGrantsPerClient {
		s.RevokeGrant(oldestGrant(s, gs))
	}
	if s.Grants.Len() < MaxGrants {
		return
	}
	top, most := "", 0
	for c, n := range s.GrantHolders() {
		if n > most || n == most && c < top {
			top, most = c, n
		}
	}
	if top != "" {
		s.RevokeGrant(oldestGrant(s, s.GrantsOf(top)))
	}
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
