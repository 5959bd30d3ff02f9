package oauth

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/server/oauth/store"
)

// codeFor registers a public client and returns it with an authorization code and its verifier.
func (h *harness) codeFor(redirect string, kv ...string) (client, code, verifier string) {
	h.t.Helper()
	client = h.mustRegister(redirect)
	verifier, challenge := pkce()
	code = h.authorizeCode(client, redirect, challenge, kv...)
	return client, code, verifier
}

func TestTokenResponse(t *testing.T) {
	h := newHarness(t)
	client, code, verifier := h.codeFor(cb, "scope", "claudeai")
	r := h.tokenForm("grant_type", "authorization_code", "code", code, "redirect_uri", cb, "client_id", client, "code_verifier", verifier)
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", r.Header)
	}
	m := r.JSON(t)
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || m["scope"] != "claudeai" {
		t.Errorf("response %v", m)
	}
	for k, prefix := range map[string]string{"access_token": prefixAccess, "refresh_token": prefixRefresh} {
		tok, _ := m[k].(string)
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, prefix))
		if !strings.HasPrefix(tok, prefix) || err != nil || len(raw) < 32 {
			t.Errorf("%s %q is not %s + 256 random bits", k, tok, prefix)
		}
	}
	// Stored as hashes only.
	h.as.store.View(func(s *store.State) {
		b, _ := json.Marshal(s)
		for _, k := range []string{"access_token", "refresh_token"} {
			if strings.Contains(string(b), m[k].(string)) {
				t.Errorf("%s stored in clear", k)
			}
		}
		if !s.AccessTokens.Has(store.Hash(m["access_token"].(string))) || !s.RefreshTokens.Has(store.Hash(m["refresh_token"].(string))) {
			t.Error("tokens not stored under their hash")
		}
	})
	// The token works at /mcp, with the client, resource and grant in TokenInfo.
	ti := h.mcp(m["access_token"].(string)).JSON(t)
	extra, _ := ti["Extra"].(map[string]any)
	if ti["UserID"] == "" || extra["client_id"] != client || extra["resource"] != h.srv.URL+"/mcp" || extra["grant_id"] != ti["UserID"] {
		t.Errorf("TokenInfo %v", ti)
	}
}

// Claude sends its token request as JSON.
func TestTokenJSONBody(t *testing.T) {
	h := newHarness(t)
	client, code, verifier := h.codeFor(cb)
	body, _ := json.Marshal(map[string]string{"client_id": client, "code": code, "code_verifier": verifier, "grant_type": "authorization_code", "redirect_uri": cb})
	tk := h.mustTokens(h.post(pathToken, "application/json", string(body)))
	if tk.Access == "" || tk.Refresh == "" {
		t.Errorf("%+v", tk)
	}
	// A number where a string belongs is invalid_request.
	wantOAuthError(t, h.post(pathToken, "application/json", `{"grant_type":"refresh_token","client_id":"`+client+`","refresh_token":7}`), http.StatusBadRequest, "invalid_request")
}

// Each failed code exchange gets its documented error and changes nothing: the code still works afterwards.
func TestTokenCodeExchangeRejects(t *testing.T) {
	h := newHarness(t)
	client, code, verifier := h.codeFor(cb)
	other := h.mustRegister(cb)
	_, wrongVerifier := pkce()
	base := []string{"grant_type", "authorization_code", "code", code, "redirect_uri", cb, "client_id", client, "code_verifier", verifier}
	with := func(kv ...string) []string {
		out := append([]string(nil), base...)
		for i := 0; i+1 < len(kv); i += 2 {
			found := false
			for j := 0; j+1 < len(out); j += 2 {
				if out[j] == kv[i] {
					out[j+1], found = kv[i+1], true
				}
			}
			if !found {
				out = append(out, kv[i], kv[i+1])
			}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		kv     []string
		status int
		code   string
	}{
		{"wrong code_verifier", with("code_verifier", wrongVerifier+"x"), 400, "invalid_grant"},
		{"malformed code_verifier", with("code_verifier", "short"), 400, "invalid_grant"},
		{"no code_verifier", with("code_verifier", ""), 400, "invalid_request"},
		{"wrong redirect_uri", with("redirect_uri", "https://claude.com/api/mcp/auth_callback"), 400, "invalid_grant"},
		{"no redirect_uri", with("redirect_uri", ""), 400, "invalid_grant"},
		{"unknown code", with("code", "mcpw_ac_nope"), 400, "invalid_grant"},
		{"no code", with("code", ""), 400, "invalid_request"},
		{"another client", with("client_id", other), 400, "invalid_grant"},
		{"unknown client", with("client_id", "mcpw_c_gone"), 401, "invalid_client"},
		{"no client", with("client_id", ""), 401, "invalid_client"},
		{"wrong resource", with("resource", "https://other.example/mcp"), 400, "invalid_target"},
		{"no grant_type", with("grant_type", ""), 400, "invalid_request"},
		{"password grant", with("grant_type", "password"), 400, "unsupported_grant_type"},
		{"client_credentials", with("grant_type", "client_credentials"), 400, "unsupported_grant_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			kv := tc.kv
			// An empty value means "leave the parameter out".
			var sent []string
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] != "" {
					sent = append(sent, kv[i], kv[i+1])
				}
			}
			wantOAuthError(t, h.tokenForm(sent...), tc.status, tc.code)
			h.unchanged(before)
		})
	}
	t.Run("repeated parameter", func(t *testing.T) {
		before := h.snapshot()
		wantOAuthError(t, h.post(pathToken, "application/x-www-form-urlencoded", "grant_type=authorization_code&code="+code+"&code="+code+"&client_id="+client),
			http.StatusBadRequest, "invalid_request")
		h.unchanged(before)
	})
	// After all that, the code is still good.
	h.mustTokens(h.tokenForm(base...))
}

// A code is single-use: presenting it again fails and revokes what it issued.
func TestTokenCodeReplayRevokes(t *testing.T) {
	h := newHarness(t)
	client, code, verifier := h.codeFor(cb)
	params := []string{"grant_type", "authorization_code", "code", code, "redirect_uri", cb, "client_id", client, "code_verifier", verifier}
	tk := h.mustTokens(h.tokenForm(params...))
	if r := h.mcp(tk.Access); r.Status != http.StatusOK {
		t.Fatalf("token before replay: %d", r.Status)
	}
	wantOAuthError(t, h.tokenForm(params...), http.StatusBadRequest, "invalid_grant")
	if r := h.mcp(tk.Access); r.Status != http.StatusUnauthorized {
		t.Errorf("access token after replay: %d, want 401", r.Status)
	}
	wantOAuthError(t, h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", client), http.StatusBadRequest, "invalid_grant")
}

func TestTokenCodeExpires(t *testing.T) {
	h := newHarness(t)
	client, code, verifier := h.codeFor(cb)
	h.clock.Advance(defaultCodeTTL + time.Second)
	wantOAuthError(t, h.tokenForm("grant_type", "authorization_code", "code", code, "redirect_uri", cb, "client_id", client, "code_verifier", verifier),
		http.StatusBadRequest, "invalid_grant")
}

// A client registered with a secret must present it, by either method; a public client needs none.
func TestTokenConfidentialClient(t *testing.T) {
	h := newHarness(t)
	redirect := "http://localhost:8090/callback"
	r := h.register(map[string]any{"redirect_uris": []string{redirect}, "token_endpoint_auth_method": "client_secret_basic"})
	m := r.JSON(t)
	client, secret := m["client_id"].(string), m["client_secret"].(string)
	verifier, challenge := pkce()
	code := h.authorizeCode(client, redirect, challenge)
	params := []string{"grant_type", "authorization_code", "code", code, "redirect_uri", redirect, "code_verifier", verifier}
	basic := func(id, s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+s)) }

	before := h.snapshot()
	wantOAuthError(t, h.tokenForm(append(params, "client_id", client)...), http.StatusUnauthorized, "invalid_client")
	wantOAuthError(t, h.tokenForm(append(params, "client_id", client, "client_secret", "mcpw_cs_wrong")...), http.StatusUnauthorized, "invalid_client")
	v := formValues(params...)
	r = h.post(pathToken, "application/x-www-form-urlencoded", v.Encode(), "Authorization", basic(client, "wrong"))
	wantOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Error("invalid_client after HTTP Basic without WWW-Authenticate")
	}
	r = h.post(pathToken, "application/x-www-form-urlencoded", formValues(append(params, "client_secret", secret)...).Encode(), "Authorization", basic(client, secret))
	wantOAuthError(t, r, http.StatusBadRequest, "invalid_request") // two methods at once
	h.unchanged(before)

	tk := h.mustTokens(h.post(pathToken, "application/x-www-form-urlencoded", v.Encode(), "Authorization", basic(client, secret)))
	// client_secret_post works too, for the refresh.
	h.mustTokens(h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", client, "client_secret", secret))
}

// Refresh tokens rotate. Within the grace window the token used may be presented again (a lost response): a
// sibling is issued and the first successor stays good; once one successor is used, the others and the old token
// are replays that revoke the grant.
func TestTokenRefreshRotation(t *testing.T) {
	h := newHarness(t)
	client, tk := h.flow(cb)
	refresh := func(rt string) *response {
		return h.tokenForm("grant_type", "refresh_token", "refresh_token", rt, "client_id", client)
	}
	rt1 := tk.Refresh
	t2 := h.mustTokens(refresh(rt1))
	if t2.Refresh == rt1 || t2.Access == tk.Access {
		t.Fatal("not rotated")
	}
	// The client lost that response and retries: allowed, and the successor issued first is not dropped.
	t3 := h.mustTokens(refresh(rt1))
	// Using the retry's successor retires rt1 and the sibling t2.
	t4 := h.mustTokens(refresh(t3.Refresh))
	if r := h.mcp(t4.Access); r.Status != http.StatusOK {
		t.Fatalf("refreshed access token: %d", r.Status)
	}
	// rt1 now is a replay: the grant goes.
	wantOAuthError(t, refresh(rt1), http.StatusBadRequest, "invalid_grant")
	wantOAuthError(t, refresh(t4.Refresh), http.StatusBadRequest, "invalid_grant")
	if r := h.mcp(t4.Access); r.Status != http.StatusUnauthorized {
		t.Errorf("access token after replay: %d, want 401", r.Status)
	}
}

// notesAt are the oauth notes of the recorded exchanges to path.
func (h *harness) notesAt(path string) string {
	var b strings.Builder
	for _, ex := range h.rec.Store().Snapshot() {
		if strings.HasPrefix(ex.URL, path) {
			for _, n := range ex.Notes {
				b.WriteString(n.Value + "\n")
			}
		}
	}
	return b.String()
}

// Refresh-token theft (RFC 9700 §4.14.2). A stolen token replayed after the client rotated it never takes the
// grant over: outside the grace window the replay revokes the grant; within it the thief gets a sibling, the
// client's successor keeps working, and the first use of either retires the other, so the thief's next use
// revokes the grant. The notes tell a race from a replay.
func TestRefreshTokenTheft(t *testing.T) {
	t.Run("replay outside the grace window", func(t *testing.T) {
		h := newHarness(t)
		client, tk := h.flow(cb)
		refresh := func(rt string) *response {
			return h.tokenForm("grant_type", "refresh_token", "refresh_token", rt, "client_id", client)
		}
		t1 := h.mustTokens(refresh(tk.Refresh))
		h.clock.Advance(refreshGrace + time.Second)
		wantOAuthError(t, refresh(tk.Refresh), http.StatusBadRequest, "invalid_grant") // the thief
		wantOAuthError(t, refresh(t1.Refresh), http.StatusBadRequest, "invalid_grant") // the family is gone
		if r := h.mcp(t1.Access); r.Status != http.StatusUnauthorized {
			t.Errorf("access token of the revoked grant: %d", r.Status)
		}
		if n := h.notesAt(pathToken); !strings.Contains(n, "refresh token replayed") || !strings.Contains(n, "outside the") {
			t.Errorf("notes: %s", n)
		}
	})
	t.Run("replay within the grace window", func(t *testing.T) {
		h := newHarness(t)
		client, tk := h.flow(cb)
		refresh := func(rt string) *response {
			return h.tokenForm("grant_type", "refresh_token", "refresh_token", rt, "client_id", client)
		}
		t1 := h.mustTokens(refresh(tk.Refresh))    // the client
		thief := h.mustTokens(refresh(tk.Refresh)) // the thief, within the window
		if n := h.notesAt(pathToken); !strings.Contains(n, "grace window (a retry or a race)") {
			t.Errorf("notes: %s", n)
		}
		t2 := h.mustTokens(refresh(t1.Refresh)) // the client's successor still works
		wantOAuthError(t, refresh(thief.Refresh), http.StatusBadRequest, "invalid_grant")
		if r := h.mcp(thief.Access); r.Status != http.StatusUnauthorized {
			t.Errorf("the thief's access token after its sibling was used and it replayed: %d", r.Status)
		}
		_ = t2
	})
	t.Run("a retry more than the bound", func(t *testing.T) {
		h := newHarness(t)
		client, tk := h.flow(cb)
		for i := range maxGraceReuses {
			if r := h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", client); r.Status != http.StatusOK {
				t.Fatalf("use %d: %d %s", i, r.Status, r.Body)
			}
		}
		wantOAuthError(t, h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", client), 400, "invalid_grant")
	})
}

func TestTokenRefreshRejects(t *testing.T) {
	h := newHarness(t)
	client, tk := h.flow(cb, "scope", "mcp")
	other := h.mustRegister(cb)
	for _, tc := range []struct {
		name   string
		kv     []string
		status int
		code   string
	}{
		{"unknown token", []string{"refresh_token", "mcpw_rt_nope", "client_id", client}, 400, "invalid_grant"},
		{"no token", []string{"client_id", client}, 400, "invalid_request"},
		{"another client", []string{"refresh_token", tk.Refresh, "client_id", other}, 400, "invalid_grant"},
		{"wider scope", []string{"refresh_token", tk.Refresh, "client_id", client, "scope", "mcp admin"}, 400, "invalid_scope"},
		{"other resource", []string{"refresh_token", tk.Refresh, "client_id", client, "resource", h.srv.URL + "/sse"}, 400, "invalid_target"},
		{"access token as refresh token", []string{"refresh_token", tk.Access, "client_id", client}, 400, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.snapshot()
			wantOAuthError(t, h.tokenForm(append([]string{"grant_type", "refresh_token"}, tc.kv...)...), tc.status, tc.code)
			h.unchanged(before)
		})
	}
	t.Run("expired", func(t *testing.T) {
		h.clock.Advance(defaultRefreshTokenTTL + time.Minute)
		wantOAuthError(t, h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", client), 400, "invalid_grant")
	})
}

func TestTokenNoRefreshWhenNotRegistered(t *testing.T) {
	h := newHarness(t)
	client := h.mustRegister(cb, map[string]any{"grant_types": []string{"authorization_code"}})
	verifier, challenge := pkce()
	code := h.authorizeCode(client, cb, challenge)
	tk := h.mustTokens(h.tokenForm("grant_type", "authorization_code", "code", code, "redirect_uri", cb, "client_id", client, "code_verifier", verifier))
	if tk.Refresh != "" {
		t.Error("a refresh token for a client that did not register the grant")
	}
	h.as.UpdateOptions(func(o *Options) { o.DisableRefreshTokens = true; o.AccessTokenTTL = time.Minute })
	_, tk = h.flow(cb)
	if tk.Refresh != "" || tk.ExpiresIn != 60 {
		t.Errorf("options not applied: %+v", tk)
	}
}

func TestRevoke(t *testing.T) {
	h := newHarness(t)
	client, tk := h.flow(cb)
	other := h.mustRegister(cb)
	revoke := func(kv ...string) *response {
		return h.post(pathRevoke, "application/x-www-form-urlencoded", formValues(kv...).Encode())
	}
	before := h.snapshot()
	wantOAuthError(t, revoke("token", tk.Access, "client_id", other), 400, "invalid_request")
	wantOAuthError(t, revoke("token", tk.Access, "client_id", "mcpw_c_gone"), 401, "invalid_client")
	wantOAuthError(t, revoke("client_id", client), 400, "invalid_request")
	h.unchanged(before)
	if r := revoke("token", "mcpw_at_unknown", "client_id", client); r.Status != http.StatusOK {
		t.Errorf("unknown token: %d, want 200", r.Status)
	}
	// Revoking the access token leaves the grant; revoking the refresh token ends it.
	if r := revoke("token", tk.Access, "client_id", client, "token_type_hint", "access_token"); r.Status != http.StatusOK {
		t.Fatalf("revoke access: %d %s", r.Status, r.Body)
	}
	if r := h.mcp(tk.Access); r.Status != http.StatusUnauthorized {
		t.Errorf("revoked access token: %d", r.Status)
	}
	t2 := h.mustTokens(h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", client))
	if r := revoke("token", t2.Refresh, "client_id", client); r.Status != http.StatusOK {
		t.Fatalf("revoke refresh: %d", r.Status)
	}
	if r := h.mcp(t2.Access); r.Status != http.StatusUnauthorized {
		t.Errorf("access token of a revoked grant: %d", r.Status)
	}
}

// A client refreshing in a loop does not pile up tokens: its grant keeps its newest access and refresh tokens, and
// the newest refresh token still works.
func TestRefreshLoopBounded(t *testing.T) {
	h := newHarness(t)
	client, tk := h.flow(cb)
	rt := tk.Refresh
	for range 50 {
		h.clock.Advance(time.Second)
		rt = h.mustTokens(h.tokenForm("grant_type", "refresh_token", "refresh_token", rt, "client_id", client)).Refresh
	}
	h.as.store.View(func(s *store.State) {
		if s.AccessTokens.Len() > maxAccessPerGrant || s.RefreshTokens.Len() > maxRefreshPerGrant {
			t.Errorf("after 50 refreshes: %d access, %d refresh tokens", s.AccessTokens.Len(), s.RefreshTokens.Len())
		}
	})
	h.mustTokens(h.tokenForm("grant_type", "refresh_token", "refresh_token", rt, "client_id", client))
}
