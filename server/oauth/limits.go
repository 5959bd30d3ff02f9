package oauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/mcpwatch/mcpwatch/server/oauth/store"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// The budget of the lasting state (docs/budget-oauth.md): registered clients and grants.
//
// Clients: at most MaxClients. Registering one more forgets the oldest idle client: one that holds no grant, has
// no authorization under way (a pending consent or a code) and registered more than clientGrace ago (the moment
// between its registration and its authorization request). When none is idle, the registration is refused with
// 503 temporarily_unavailable. A client holding a grant, or in the middle of its first authorization, is never
// forgotten to admit a stranger.
//
// Grants: at most MaxGrantsPerClient per client and MaxGrants in all. A new grant past the client's bound revokes
// that client's oldest grant; past the bound in all, the oldest grant of the client holding the most grants goes
// (a flood of grants pushes out the flooder's own first).
const (
	MaxClients         = 1000
	clientGrace        = time.Minute
	MaxGrants          = 10000
	MaxGrantsPerClient = 100
)

// MaxClientMetadataBytes bounds what one registration stores (its metadata as JSON): real clients register a few
// hundred bytes (VS Code, with four redirect URIs, under 1 KiB), and 1,000 clients then hold at most 8 MiB.
const MaxClientMetadataBytes = 8 << 10

// checkClientSize refuses metadata larger than MaxClientMetadataBytes.
func checkClientSize(md *oauthex.ClientRegistrationMetadata) error {
	b, err := json.Marshal(md)
	if err != nil {
		return invalidRequest("client metadata: " + err.Error())
	}
	if len(b) > MaxClientMetadataBytes {
		return oauthErr(http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf("the client metadata is %d bytes; this server stores at most %d per client", len(b), MaxClientMetadataBytes))
	}
	return nil
}

// admitClient makes room for one more registered client, or says why there is none; busy reports a client with an
// authorization under way. Call inside Store.Update.
func admitClient(s *store.State, now time.Time, busy func(clientID string) bool) error {
	if s.Clients.Len() < MaxClients {
		return nil
	}
	var (
		oldest string
		at     time.Time
	)
	for id, c := range s.Clients.All() {
		if s.HasGrant(id) || now.Sub(c.IssuedAt) < clientGrace || busy(id) {
			continue
		}
		if oldest == "" || c.IssuedAt.Before(at) {
			oldest, at = id, c.IssuedAt
		}
	}
	if oldest == "" {
		return oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", fmt.Sprintf(
			"%d clients are registered, each holding a grant, in the middle of an authorization or registered less than %s ago; this server refuses a new registration rather than forget one of them: try again later", MaxClients, clientGrace))
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
