package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/server/oauth/store"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
)

// At the global grant bound, a stranger minting client ID metadata documents under its own host
// (https://z.example/0 ... /N, one grant each) pushes out its own oldest grant, never the live grant of a client
// whose id sorts first (https://a.example/... here, https://chatgpt.com/... in life). The old choice by id order
// revoked the victim's.
func TestGrantEvictionByOwner(t *testing.T) {
	const limit = 40
	t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	st := store.Ephemeral(store.Options{Now: func() time.Time { return t0 }})
	victims := []string{"https://a.example/client.json", "https://b.example/client.json", "registered-victim"}
	put := func(s *store.State, client string, i int) {
		admitGrant(s, client, limit)
		id := fmt.Sprintf("g-%s-%d", client, i)
		s.Grants.Put(id, store.Grant{ID: id, ClientID: client, Created: t0.Add(time.Duration(i) * time.Second)})
	}
	err := st.Update(func(s *store.State) error {
		for i, v := range victims {
			put(s, v, i)
		}
		for i := range 3 * limit {
			put(s, fmt.Sprintf("https://z.example/%d", i), len(victims)+i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st.View(func(s *store.State) {
		if n := s.Grants.Len(); n > limit {
			t.Errorf("%d grants held, bound %d", n, limit)
		}
		for _, v := range victims {
			if !s.HasGrant(v) {
				t.Errorf("%s lost its grant to a flood of metadata-document clients of one host", v)
			}
		}
	})
}

// At the bound in all, pending consents and codes give up the oldest entry of the owner holding the most, not the
// oldest of anyone: a stranger spreading its flood over many freshly registered clients (each under the per-owner
// bound) no longer expires a victim's open consent page while the strangers hold more entries than the victim.
// The old policy dropped the victim's, the oldest, at the first request past the bound.
func TestPendingEvictsFromBiggestOwner(t *testing.T) {
	until := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBounded[int](10, 3, 1<<20)
	b.Add("victim-consent", "victim", 1, until, 0)
	// 100 requests from four owners, round robin: ten times the bound in all, each owner at its own bound (the
	// per-client bound beaten by spreading: 4 x 3 > 10).
	for i := range 100 {
		b.Add(fmt.Sprintf("k%d", i), fmt.Sprintf("stranger-%d", i%4), 1, until, i)
		if b.Len() > 10 {
			t.Fatalf("%d entries held, bound 10", b.Len())
		}
	}
	if _, ok := b.Get("victim-consent"); !ok {
		t.Error("the victim's pending consent was evicted by a flood spread over many owners")
	}
	// The counts stay consistent: the owners' entries add up, and every owner holds at most 3.
	total := 0
	for n, set := range b.withCount {
		total += n * len(set)
		if n > 3 || n > b.most {
			t.Errorf("an owner holds %d entries (most %d)", n, b.most)
		}
	}
	if total != b.Len() {
		t.Errorf("the owners' counts add up to %d, %d entries held", total, b.Len())
	}
	// Ties: the owner whose oldest entry is the oldest goes first.
	c := newBounded[int](2, 5, 1<<20)
	c.Add("a", "A", 1, until, 0)
	c.Add("b", "B", 1, until, 0)
	c.Add("c", "C", 1, until, 0)
	if _, ok := c.Get("a"); ok {
		t.Error("tie: the oldest entry of all should have gone")
	}
}

// The owner of a pending entry or a grant: a metadata-document client's host, a registered client's id.
func TestGrantOwner(t *testing.T) {
	for id, want := range map[string]string{
		"https://attacker.example/1":     "attacker.example",
		"https://claude.ai/oauth/client": "claude.ai",
		"3f9c2a":                         "3f9c2a",
		"http://localhost:1/x":           "http://localhost:1/x",
	} {
		if got := grantOwner(id); got != want {
			t.Errorf("grantOwner(%q) = %q, want %q", id, got, want)
		}
	}
}

func (c *jtiCache) held(clientID, jti string) bool {
	_, ok := c.byOwner[grantOwner(clientID)][clientID+"\x00"+jti]
	return ok
}

// A stranger's flood of hour-long assertions (from clients it registered, and from metadata documents under its
// own host) never flushes a victim's jti, even the one closest to expiry: each owner is bounded on its own and at
// the bound in all the owner holding the most gives one up. The old cache dropped the id closest to expiry, the
// victim's, so the victim's assertion could be replayed.
func TestJTIFloodKeepsVictim(t *testing.T) {
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	c := jtiCache{max: 20, perClient: 5}
	if err := c.use("victim", "v1", now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		client := fmt.Sprintf("stranger-%d", i%4)
		if i%2 == 1 {
			client = fmt.Sprintf("https://attacker.example/%d", i)
		}
		if err := c.use(client, fmt.Sprint(i), now.Add(time.Hour), now); err != nil {
			t.Fatal(err)
		}
		if c.n > 20 || len(c.byOwner[grantOwner(client)]) > 5 {
			t.Fatalf("%d ids held (bound 20), %d by %s (bound 5)", c.n, len(c.byOwner[grantOwner(client)]), client)
		}
	}
	if err := c.use("victim", "v1", now.Add(time.Minute), now); err != errReplayedJTI {
		t.Fatalf("the victim's assertion replayed after a flood: %v", err)
	}
	total := 0
	for _, ids := range c.byOwner {
		total += len(ids)
	}
	if total != c.n || len(c.byOwner) > 20 {
		t.Errorf("%d ids counted, %d held by %d owners", c.n, total, len(c.byOwner))
	}
}

// A stolen refresh token presented after more rotations than a grant keeps (maxRefreshPerGrant) is still a
// replay: the grant is revoked, the thief and the client both lose it. It used to be "unknown": refused, nothing
// revoked, the client's chain alive.
func TestOldRefreshTokenReplayRevokes(t *testing.T) {
	h := newHarness(t)
	client, tk := h.flow(cb)
	stolen, rt := tk.Refresh, tk.Refresh
	var access string
	for range maxRefreshPerGrant + 8 {
		h.clock.Advance(2 * refreshGrace)
		next := h.mustTokens(h.tokenForm("grant_type", "refresh_token", "refresh_token", rt, "client_id", client))
		rt, access = next.Refresh, next.Access
	}
	h.as.store.View(func(s *store.State) {
		if s.RefreshTokens.Has(store.Hash(stolen)) {
			t.Fatal("the first refresh token is still in the state: the test does not reach the trimming")
		}
	})
	wantOAuthError(t, h.tokenForm("grant_type", "refresh_token", "refresh_token", stolen, "client_id", client), 400, "invalid_grant")
	if r := h.mcp(access); r.Status != http.StatusUnauthorized {
		t.Errorf("after the replay of a trimmed refresh token the grant's access token still works: /mcp %d", r.Status)
	}
	wantOAuthError(t, h.tokenForm("grant_type", "refresh_token", "refresh_token", rt, "client_id", client), 400, "invalid_grant")
}

// --allow-loopback-cimd fetches from this machine only for a request that came to a loopback address: a stranger
// behind the user's own tunnel (no --public-url; the guard admits the forwarded https host) cannot make the server
// fetch loopback URLs (a port scanner). Without the check the document below was fetched.
func TestLoopbackCIMDRefusedThroughTunnel(t *testing.T) {
	docs := newDocServer(t, "", map[string]string{"/c": claudeDoc(cb)})
	h := newHarness(t, allowLoopback)
	_, challenge := pkce()
	r := h.get(authorizeQuery(docs.URL+"/c", cb, challenge), "X-Forwarded-Proto", "https", "X-Forwarded-Host", "abc.trycloudflare.com")
	if r.Status == http.StatusOK || docs.hits.Load() != 0 {
		t.Fatalf("through a tunnel: %d, %d fetches of a loopback document\n%s", r.Status, docs.hits.Load(), r.Body)
	}
	if !strings.Contains(r.Body, "loopback") {
		t.Errorf("the page does not say why:\n%s", r.Body)
	}
	// The same request made on this machine still works.
	if r := h.get(authorizeQuery(docs.URL+"/c", cb, challenge)); r.Status != http.StatusOK || docs.hits.Load() != 1 {
		t.Errorf("on loopback: %d, %d fetches", r.Status, docs.hits.Load())
	}
}

// localContext is the context of a request the host guard admitted on loopback (fetches on its behalf may reach
// loopback under --allow-loopback-cimd).
func localContext(t *testing.T) context.Context {
	t.Helper()
	g, err := publicurl.NewGuard("")
	if err != nil {
		t.Fatal(err)
	}
	var ctx context.Context
	g.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { ctx = r.Context() })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	if !publicurl.Local(ctx) {
		t.Fatal("a loopback request's context is not local")
	}
	return ctx
}

// At the bound on clients with every client holding a grant, a registration forgets the client whose grants have
// issued no token for longest, past an hour (with its grants), and never one used within the hour: registration is
// no longer locked out for the grants' 30-day life. The old policy refused every registration with 503.
func TestRegisterEvictsIdlestGrantHolder(t *testing.T) {
	t0 := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	st := store.Ephemeral(store.Options{Now: func() time.Time { return t0 }})
	const limit = 4
	idle := func(s *store.State) {
		for i, used := range []time.Duration{3 * time.Hour, 2 * time.Hour, 30 * time.Minute, 0} {
			id := fmt.Sprintf("client-%d", i)
			s.Clients.Put(id, store.Client{ID: id, IssuedAt: t0.Add(-5 * time.Hour)})
			s.Grants.Put("g"+id, store.Grant{ID: "g" + id, ClientID: id, Created: t0.Add(-4 * time.Hour), LastUsed: t0.Add(-used)})
		}
	}
	never := func(string) bool { return false }
	err := st.Update(func(s *store.State) error {
		idle(s)
		if err := admitClient(s, t0, never, limit); err != nil {
			return err
		}
		if s.Clients.Has("client-0") || s.Grants.Has("gclient-0") || s.Clients.Len() != limit-1 {
			t.Errorf("the client idle for 3 hours was kept (%d clients)", s.Clients.Len())
		}
		s.Clients.Put("new-1", store.Client{ID: "new-1", IssuedAt: t0.Add(-5 * time.Hour)})
		s.Grants.Put("gnew-1", store.Grant{ID: "gnew-1", ClientID: "new-1", Created: t0})
		if err := admitClient(s, t0, never, limit); err != nil {
			return err
		}
		if s.Clients.Has("client-1") {
			t.Error("the client idle for 2 hours was kept")
		}
		s.Clients.Put("new-2", store.Client{ID: "new-2", IssuedAt: t0.Add(-5 * time.Hour)})
		s.Grants.Put("gnew-2", store.Grant{ID: "gnew-2", ClientID: "new-2", Created: t0})
		// Every client left used its grant within the hour: refused, nothing forgotten.
		if err := admitClient(s, t0, never, limit); err == nil || s.Clients.Len() != limit {
			t.Errorf("with every grant used within the hour: %v, %d clients", err, s.Clients.Len())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A refresh records when the grant last issued tokens (what the idle-client choice above reads).
func TestRefreshRecordsLastUsed(t *testing.T) {
	h := newHarness(t)
	client, tk := h.flow(cb)
	h.clock.Advance(2 * time.Hour)
	h.mustTokens(h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", client))
	h.as.store.View(func(s *store.State) {
		for _, gid := range s.GrantsOf(client) {
			if g, _ := s.Grants.Get(gid); !g.Used().Equal(h.clock.Now()) {
				t.Errorf("grant last used %s, refreshed at %s", g.Used(), h.clock.Now())
			}
		}
	})
}
