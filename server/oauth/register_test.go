package oauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/server/oauth/store"
)

// The Claude web app's registration, exactly as the seed write-up records it.
func TestRegisterClaude(t *testing.T) {
	h := newHarness(t)
	r := h.post(pathRegister, "application/json", `{
  "client_name": "claudeai",
  "grant_types": ["authorization_code", "refresh_token"],
  "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
  "response_types": ["code"],
  "scope": "claudeai",
  "token_endpoint_auth_method": "none"
}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if id, _ := m["client_id"].(string); !strings.HasPrefix(id, prefixClient) {
		t.Errorf("client_id %v", m["client_id"])
	}
	if _, ok := m["client_secret"]; ok {
		t.Error("a public client got a secret")
	}
	if m["client_name"] != "claudeai" || m["scope"] != "claudeai" || m["token_endpoint_auth_method"] != "none" ||
		!slices.Equal(strs(m["redirect_uris"]), []string{"https://claude.ai/api/mcp/auth_callback"}) ||
		!slices.Equal(strs(m["grant_types"]), []string{"authorization_code", "refresh_token"}) {
		t.Errorf("metadata not echoed: %v", m)
	}
	if _, ok := m["client_id_issued_at"].(float64); !ok {
		t.Errorf("client_id_issued_at: %v", m["client_id_issued_at"])
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Error("no Cache-Control: no-store")
	}
}

func TestRegisterDefaultsAndNativeClients(t *testing.T) {
	h := newHarness(t)
	// Cursor registers three redirect URIs in one go, one of them a private-use scheme.
	r := h.register(map[string]any{"redirect_uris": []string{
		"cursor://anysphere.cursor-mcp/oauth/callback", "https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback",
	}})
	if r.Status != http.StatusCreated {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["token_endpoint_auth_method"] != "none" || !slices.Equal(strs(m["response_types"]), []string{"code"}) ||
		!slices.Equal(strs(m["grant_types"]), []string{"authorization_code", "refresh_token"}) {
		t.Errorf("defaults: %v", m)
	}
	// A JWKS object is accepted (and ignored).
	if r := h.register(map[string]any{"redirect_uris": []string{"http://127.0.0.1/"}, "jwks": map[string]any{"keys": []any{}}}); r.Status != http.StatusCreated {
		t.Errorf("jwks object: %d %s", r.Status, r.Body)
	}
}

func TestRegisterConfidential(t *testing.T) {
	h := newHarness(t)
	r := h.register(map[string]any{"redirect_uris": []string{"http://localhost:8090/callback"}, "token_endpoint_auth_method": "client_secret_post"})
	if r.Status != http.StatusCreated {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	secret, _ := m["client_secret"].(string)
	if !strings.HasPrefix(secret, prefixSecret) || m["client_secret_expires_at"] != float64(0) {
		t.Fatalf("secret: %v", m)
	}
	// Stored hashed.
	h.as.store.View(func(s *store.State) {
		c, _ := s.Clients.Get(m["client_id"].(string))
		if c.SecretHash != store.Hash(secret) {
			t.Errorf("secret hash %q", c.SecretHash)
		}
		b, _ := json.Marshal(s)
		if strings.Contains(string(b), secret) {
			t.Error("the secret is stored in clear")
		}
	})
}

// Bad metadata gets the documented error and registers nothing.
func TestRegisterRejects(t *testing.T) {
	for _, tc := range []struct {
		name, body, code string
		desc             string // how error_description begins ("" unchecked)
	}{
		{"no redirect_uris", `{"client_name":"x"}`, "invalid_redirect_uri", "redirect_uris is required"},
		{"empty redirect_uris", `{"redirect_uris":[]}`, "invalid_redirect_uri", ""},
		{"http on a public host", `{"redirect_uris":["http://claude.ai/cb"]}`, "invalid_redirect_uri", ""},
		{"javascript", `{"redirect_uris":["javascript:alert(1)"]}`, "invalid_redirect_uri", ""},
		{"data", `{"redirect_uris":["data:text/html,hi"]}`, "invalid_redirect_uri", ""},
		{"relative", `{"redirect_uris":["/callback"]}`, "invalid_redirect_uri", ""},
		{"fragment", `{"redirect_uris":["https://a.example/cb#x"]}`, "invalid_redirect_uri", ""},
		{"one bad among good", `{"redirect_uris":["https://a.example/cb","http://evil.example/cb"]}`, "invalid_redirect_uri", ""},
		{"redirect_uris a string", `{"redirect_uris":"https://a.example/cb"}`, "invalid_client_metadata", "redirect_uris must be an array of strings, not a JSON string"},
		{"redirect_uris of numbers", `{"redirect_uris":[1]}`, "invalid_client_metadata", "redirect_uris must be an array of strings, not an array holding a JSON number"},
		{"grant_types a string", `{"redirect_uris":["https://a.example/cb"],"grant_types":"authorization_code"}`, "invalid_client_metadata", "grant_types must be an array of strings, not a JSON string"},
		{"client_name a number", `{"redirect_uris":["https://a.example/cb"],"client_name":7}`, "invalid_client_metadata", "client_name must be a string, not a JSON number"},
		{"not JSON", `redirect_uris=https://a.example/cb`, "invalid_client_metadata", "the body is not a JSON object of client metadata"},
		{"client_credentials", `{"redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"]}`, "invalid_client_metadata", ""},
		{"no authorization_code", `{"redirect_uris":["https://a.example/cb"],"grant_types":["refresh_token"]}`, "invalid_client_metadata", ""},
		{"implicit", `{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}`, "invalid_client_metadata", ""},
		{"private_key_jwt", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, "invalid_client_metadata", ""},
		{"application_type", `{"redirect_uris":["https://a.example/cb"],"application_type":"desktop"}`, "invalid_client_metadata", ""},
		{"logo_uri javascript", `{"redirect_uris":["https://a.example/cb"],"logo_uri":"javascript:x"}`, "invalid_client_metadata", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			before := h.snapshot()
			r := h.post(pathRegister, "application/json", tc.body)
			wantOAuthError(t, r, http.StatusBadRequest, tc.code)
			if got, _ := r.JSON(t)["error_description"].(string); !strings.HasPrefix(got, tc.desc) {
				t.Errorf("error_description %q, want it to begin %q", got, tc.desc)
			}
			h.unchanged(before)
		})
	}
	t.Run("form content type", func(t *testing.T) {
		h := newHarness(t)
		wantOAuthError(t, h.post(pathRegister, "application/x-www-form-urlencoded", `{"redirect_uris":["https://a.example/cb"]}`), http.StatusBadRequest, "invalid_client_metadata")
	})
	t.Run("redirect host allow-list", func(t *testing.T) {
		h := newHarness(t, withOptions(func(o *Options) { o.RedirectHosts = []string{"claude.ai", "claude.com"} }))
		wantOAuthError(t, h.register(map[string]any{"redirect_uris": []string{"https://chatgpt.com/connector/oauth/x"}}), http.StatusBadRequest, "invalid_redirect_uri")
		h.mustRegister("https://claude.com/api/mcp/auth_callback")
	})
}

// At MaxClients, a registration forgets the oldest client that holds no grant and registered more than
// clientGrace ago; a client with a grant, or one younger than that (its first flow may be under way), is never
// forgotten to admit a stranger: with none to forget, the registration is refused (503 temporarily_unavailable).
func TestRegisterEvictsOldestIdleClient(t *testing.T) {
	h := newHarness(t)
	// A victim holding a grant, registered long ago.
	victim, tk := h.flow(cb)
	h.as.store.Update(func(s *store.State) error {
		c, _ := s.Clients.Get(victim)
		c.IssuedAt = h.clock.Now().Add(-48 * time.Hour)
		s.Clients.Put(victim, c)
		return nil
	})
	var first string
	h.as.store.Update(func(s *store.State) error {
		for i := range maxClients - 1 {
			id := randomID(prefixClient)
			if i == 0 {
				first = id
			}
			s.Clients.Put(id, store.Client{ID: id, IssuedAt: h.clock.Now().Add(-timeMinutes(maxClients - i))})
		}
		return nil
	})
	h.mustRegister("https://a.example/cb")
	h.as.store.View(func(s *store.State) {
		if s.Clients.Len() != maxClients {
			t.Errorf("%d clients, want %d", s.Clients.Len(), maxClients)
		}
		if s.Clients.Has(first) {
			t.Error("the oldest idle client was kept")
		}
		if !s.Clients.Has(victim) {
			t.Error("the client holding a grant was forgotten")
		}
	})
	// Every other client is young (or holds a grant): registrations are refused, nobody is forgotten.
	h.as.store.Update(func(s *store.State) error {
		for id, c := range s.Clients.All() {
			if id != victim {
				c.IssuedAt = h.clock.Now()
				s.Clients.Put(id, c)
			}
		}
		return nil
	})
	wantOAuthError(t, h.register(map[string]any{"redirect_uris": []string{cb}}), http.StatusServiceUnavailable, "temporarily_unavailable")
	if r := h.mcp(tk.Access); r.Status != http.StatusOK {
		t.Errorf("the victim's token after the flood: %d", r.Status)
	}
}

// The attack of issue 13: a stranger holds grants for MaxClients-1 clients; a real client registers; the stranger
// registers again and again. The real client, between its registration and its first grant, is never forgotten:
// the stranger's registrations are refused.
func TestRegisterFloodKeepsClientMidFlow(t *testing.T) {
	h := newHarness(t)
	h.as.store.Update(func(s *store.State) error {
		for i := range maxClients - 1 {
			id, g := fmt.Sprintf("mcpw_c_flood%d", i), fmt.Sprintf("g_flood%d", i)
			s.Clients.Put(id, store.Client{ID: id, IssuedAt: h.clock.Now().Add(-time.Hour)})
			s.Grants.Put(g, store.Grant{ID: g, ClientID: id, Created: h.clock.Now()})
			s.AccessTokens.Put(store.Hash(g), store.AccessToken{GrantID: g, Expires: h.clock.Now().Add(time.Hour)})
		}
		return nil
	})
	victim := h.mustRegister(cb) // registered, not yet authorized
	h.clock.Advance(clientGrace / 2)
	for range 5 {
		wantOAuthError(t, h.register(map[string]any{"redirect_uris": []string{cb}}), http.StatusServiceUnavailable, "temporarily_unavailable")
	}
	// Its consent page is open (an authorization under way): still not forgotten, long after the grace.
	verifier, challenge := pkce()
	page := h.get(authorizeQuery(victim, cb, challenge))
	h.clock.Advance(5 * time.Minute)
	for range 5 {
		wantOAuthError(t, h.register(map[string]any{"redirect_uris": []string{cb}}), http.StatusServiceUnavailable, "temporarily_unavailable")
	}
	form := consentForm(t, page)
	form.Set("action", "approve")
	loc := h.post(pathAuthorize, "application/x-www-form-urlencoded", form.Encode()).Location(t)
	code := loc.Query().Get("code")
	h.mustTokens(h.tokenForm("grant_type", "authorization_code", "code", code, "redirect_uri", cb, "client_id", victim, "code_verifier", verifier))
}

// A client forgotten between its authentication at the token endpoint and the grant leaves no grant whose token
// works: the check and the grant are one change.
func TestNoOrphanGrant(t *testing.T) {
	h := newHarness(t)
	client := h.mustRegister(cb)
	verifier, challenge := pkce()
	code := h.authorizeCode(client, cb, challenge)
	c, err := h.as.lookupClient(t.Context(), client, &Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.as.store.Update(func(s *store.State) error { s.Clients.Delete(client); return nil }) // evicted after authentication
	g := &store.Grant{ID: randomID("g_"), ClientID: client, Resource: h.srv.URL + "/mcp", Created: h.clock.Now()}
	o := h.as.Options()
	if _, err := h.as.issue(g, c, &o, "", true); err == nil {
		t.Fatal("a grant was made for a client that is gone")
	}
	h.as.store.View(func(s *store.State) {
		if s.Grants.Len() != 0 || s.AccessTokens.Len() != 0 {
			t.Errorf("orphans: %d grants, %d access tokens", s.Grants.Len(), s.AccessTokens.Len())
		}
	})
	_ = code
	_ = verifier
}

// Grants are bounded per client (its oldest revoked) and in all (the largest holder's oldest revoked).
func TestGrantsBounded(t *testing.T) {
	h := newHarness(t, withOptions(func(o *Options) { o.AutoApprove = true }))
	grant := func(client string) tokens {
		verifier, ch := pkce()
		loc := h.get(authorizeQuery(client, cb, ch)).Location(t)
		return h.mustTokens(h.tokenForm("grant_type", "authorization_code", "code", loc.Query().Get("code"), "redirect_uri", cb, "client_id", client, "code_verifier", verifier))
	}
	victim := h.mustRegister(cb)
	tk := grant(victim)
	flooder := h.mustRegister(cb)
	for range maxGrantsPerClient + 10 {
		grant(flooder)
	}
	h.as.store.View(func(s *store.State) {
		if n := len(s.GrantsOf(flooder)); n != maxGrantsPerClient {
			t.Errorf("flooder holds %d grants, bound %d", n, maxGrantsPerClient)
		}
	})
	// Fill the global bound directly: the next grant pushes out the largest holder's oldest, not the victim's.
	h.as.store.Update(func(s *store.State) error {
		for i := s.Grants.Len(); i < maxGrants; i++ {
			id := fmt.Sprintf("g_fill_%d", i)
			s.Grants.Put(id, store.Grant{ID: id, ClientID: "big", Created: h.clock.Now()})
			s.AccessTokens.Put(store.Hash(id), store.AccessToken{GrantID: id, Expires: h.clock.Now().Add(time.Hour)})
		}
		return nil
	})
	grant(h.mustRegister(cb))
	h.as.store.View(func(s *store.State) {
		if s.Grants.Len() > maxGrants {
			t.Errorf("%d grants, bound %d", s.Grants.Len(), maxGrants)
		}
	})
	if r := h.mcp(tk.Access); r.Status != http.StatusOK {
		t.Errorf("victim %s lost its grant: %d", victim, r.Status)
	}
}

// A flood of bare registrations (no authorization after them) refuses registrations for at most clientGrace:
// then the flood's oldest clients are idle and make room.
func TestRegisterFloodLocksOutAtMostTheGrace(t *testing.T) {
	h := newHarness(t)
	for i := range maxClients {
		if r := h.register(map[string]any{"redirect_uris": []string{cb}}); r.Status != http.StatusCreated {
			t.Fatalf("registration %d: %d", i, r.Status)
		}
	}
	wantOAuthError(t, h.register(map[string]any{"redirect_uris": []string{cb}}), http.StatusServiceUnavailable, "temporarily_unavailable")
	h.clock.Advance(clientGrace)
	h.flow(cb) // registers (forgetting the flood's oldest) and completes
}

// What one registration stores is bounded: metadata over MaxClientMetadataBytes is refused.
func TestRegisterMetadataBounded(t *testing.T) {
	h := newHarness(t)
	var uris []string
	for i := range 20 {
		uris = append(uris, fmt.Sprintf("https://x.example/%d/%s", i, strings.Repeat("p", 500)))
	}
	wantOAuthError(t, h.register(map[string]any{"redirect_uris": uris}), http.StatusBadRequest, "invalid_client_metadata")
	h.mustRegister(cb, map[string]any{"redirect_uris": uris[:4]})
}
