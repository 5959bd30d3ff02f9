package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/oauth/store"
)

// tokenResponse is RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// readParams reads a token or revocation request body: application/x-www-form-urlencoded (RFC 6749) or JSON
// (Claude sends its token request as JSON). A body without a usable Content-Type is sniffed. Parameters must not
// repeat, except resource (RFC 8707).
func readParams(r *http.Request) (url.Values, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, invalidRequest("reading the body: " + err.Error())
	}
	if len(body) > maxBodyBytes {
		return nil, oauthErr(http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("the body is larger than %d bytes", maxBodyBytes))
	}
	ct := mediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" && ct != "application/x-www-form-urlencoded" {
		if t := strings.TrimSpace(string(body)); strings.HasPrefix(t, "{") {
			ct = "application/json"
		} else {
			ct = "application/x-www-form-urlencoded"
		}
	}
	var v url.Values
	if ct == "application/json" {
		v, err = jsonParams(body)
	} else {
		v, err = url.ParseQuery(string(body))
		if err != nil {
			err = invalidRequest("the body is not form-encoded: " + err.Error())
		}
	}
	if err != nil {
		return nil, err
	}
	for k, vals := range v {
		if len(vals) > 1 && k != "resource" {
			return nil, invalidRequest(fmt.Sprintf("parameter %s appears more than once", k))
		}
	}
	return v, nil
}

func jsonParams(body []byte) (url.Values, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, invalidRequest("the body is not a JSON object: " + err.Error())
	}
	v := url.Values{}
	for k, x := range m {
		switch x := x.(type) {
		case nil:
		case string:
			v.Set(k, x)
		case []any:
			if k != "resource" {
				return nil, invalidRequest(fmt.Sprintf("parameter %s must be a string, not an array", k))
			}
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, invalidRequest("resource must be a string or an array of strings")
				}
				v.Add(k, s)
			}
		default:
			return nil, invalidRequest(fmt.Sprintf("parameter %s must be a string", k))
		}
	}
	return v, nil
}

// authenticateClient identifies the client of a token or revocation request: HTTP Basic (client_secret_basic),
// client_secret in the body (client_secret_post), a client_assertion (private_key_jwt), or client_id alone (public
// clients, "none"). A client registered with a secret must present it; one that may only use private_key_jwt must
// present an assertion.
func (a *AS) authenticateClient(r *http.Request, p url.Values, o *Options) (*client, error) {
	id, secret := p.Get("client_id"), p.Get("client_secret")
	assertion, assertionType := p.Get("client_assertion"), p.Get("client_assertion_type")
	basic := false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return nil, invalidRequest("the token endpoint takes client credentials as HTTP Basic or in the body, not as " + scheme)
		}
		bid, bsecret, err := parseBasic(strings.TrimSpace(cred))
		if err != nil {
			e := invalidClient("HTTP Basic credentials: " + err.Error())
			e.Challenge = `Basic realm="mcpwatch"`
			return nil, e
		}
		if secret != "" || assertion != "" {
			return nil, invalidRequest("the client authenticated twice (HTTP Basic and credentials in the body); use one method")
		}
		if id != "" && id != bid {
			return nil, invalidRequest("client_id in the body differs from the HTTP Basic user name")
		}
		id, secret, basic = bid, bsecret, true
	}
	if (assertion != "" || assertionType != "") && secret != "" {
		return nil, invalidRequest("the client authenticated twice (client_secret and client_assertion); use one method")
	}
	fail := func(desc string) error {
		e := invalidClient(desc)
		if basic {
			e.Challenge = `Basic realm="mcpwatch"`
		}
		return e
	}
	if assertion != "" || assertionType != "" {
		switch {
		case assertionType != assertionTypeJWT:
			return nil, fail(fmt.Sprintf("client_assertion_type must be %s, not %q", assertionTypeJWT, assertionType))
		case assertion == "":
			return nil, fail("client_assertion_type without client_assertion")
		case id == "":
			id = peekIssuer(assertion) // RFC 7521 §4.2: client_id may be left out
		}
	}
	if id == "" {
		return nil, fail("no client_id: send it in the body (public clients) or authenticate with HTTP Basic")
	}
	c, err := a.lookupClient(r.Context(), id, o)
	if errors.Is(err, errUnknownClient) {
		return nil, fail(fmt.Sprintf("client_id %q is not registered here; it was probably registered with an earlier run of mcpwatch (or another state file): register again", id))
	}
	if err != nil {
		return nil, fail(fmt.Sprintf("client %s: %v", id, err))
	}
	if assertion != "" {
		if !c.usesPrivateKeyJWT() {
			return nil, fail(fmt.Sprintf("client %s sent a client_assertion but did not register private_key_jwt (it uses %s)", id, strings.Join(c.AuthMethods, ", ")))
		}
		key, err := a.verifyAssertion(r, c, assertion)
		if err != nil {
			return nil, fail("private_key_jwt: " + err.Error())
		}
		recorder.AddNote(r.Context(), "oauth", fmt.Sprintf("client %s authenticated with private_key_jwt (%s)", id, key))
		return c, nil
	}
	if c.requiresAssertion() {
		return nil, fail(fmt.Sprintf("client %s authenticates with private_key_jwt: send client_assertion_type=%s and a client_assertion", id, assertionTypeJWT))
	}
	if c.SecretHash != "" {
		if secret == "" {
			return nil, fail(fmt.Sprintf("client %s was registered with %s and must present its client_secret", id, c.Metadata.TokenEndpointAuthMethod))
		}
		if !equalSecret(store.Hash(secret), c.SecretHash) {
			return nil, fail("wrong client_secret")
		}
	} else if c.CIMD && len(c.AuthMethods) > 1 {
		recorder.AddNote(r.Context(), "oauth", fmt.Sprintf("client %s authenticated as a public client (none; its document also offers %s)", id, strings.Join(c.AuthMethods, ", ")))
	}
	return c, nil
}

func parseBasic(cred string) (id, secret string, err error) {
	raw, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return "", "", errors.New("not base64")
	}
	u, s, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errors.New("no colon between client id and secret")
	}
	// RFC 6749 §2.3.1: both are form-encoded before being joined.
	if id, err = url.QueryUnescape(u); err != nil {
		return "", "", errors.New("client id is not form-encoded")
	}
	if secret, err = url.QueryUnescape(s); err != nil {
		return "", "", errors.New("client secret is not form-encoded")
	}
	return id, secret, nil
}

// token is the token endpoint (RFC 6749 §3.2).
func (a *AS) token(w http.ResponseWriter, r *http.Request) error {
	o := a.Options()
	if o.TokenError != "" {
		status := http.StatusBadRequest
		if o.TokenError == "invalid_client" {
			status = http.StatusUnauthorized
		}
		return oauthErr(status, o.TokenError, "forced by a toggle")
	}
	p, err := readParams(r)
	if err != nil {
		return err
	}
	if p.Get("grant_type") == grantJWTBearer { // explained whoever the client is
		return refuseIDJAG(r, p)
	}
	c, err := a.authenticateClient(r, p, &o)
	if err != nil {
		return err
	}
	switch gt := p.Get("grant_type"); gt {
	case "authorization_code":
		return a.exchangeCode(w, r, p, c, &o)
	case "refresh_token":
		return a.refresh(w, r, p, c, &o)
	case "":
		return invalidRequest("grant_type is required")
	default:
		return oauthErr(http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported (authorization_code, refresh_token)", gt))
	}
}

// exchangeCode redeems an authorization code. Every check happens before the code is marked used, so a failed
// attempt changes nothing; a code presented after it was redeemed revokes the grant it created (RFC 6749 §4.1.2).
func (a *AS) exchangeCode(w http.ResponseWriter, r *http.Request, p url.Values, c *client, o *Options) error {
	code := p.Get("code")
	if code == "" {
		return invalidRequest("code is required")
	}
	h := store.Hash(code)
	now := a.now()
	a.mu.Lock()
	a.pruneLocked()
	ac, _ := a.codes.Get(h)
	if ac != nil && !now.Before(ac.Expires.Add(usedCodeMemory)) {
		ac = nil
	}
	var req authRequest
	used, grantID := false, ""
	if ac != nil {
		req, used, grantID = ac.Req, ac.Used, ac.GrantID
	}
	a.mu.Unlock()
	switch {
	case ac == nil:
		return invalidGrant("unknown authorization code")
	case used:
		if err := a.store.Update(func(s *store.State) error { s.RevokeGrant(grantID); return nil }); err != nil {
			a.log.Error("revoking the grant of a replayed code", "grant", grantID, "err", err)
		}
		recorder.AddNote(r.Context(), "oauth", "authorization code replayed: grant "+grantID+" revoked")
		return invalidGrant("the authorization code was already used; the tokens it issued are now revoked")
	case !now.Before(ac.Expires):
		return invalidGrant("the authorization code expired")
	case req.Client.ID != c.ID:
		return invalidGrant("the authorization code was issued to another client")
	}
	redirect := p.Get("redirect_uri")
	switch {
	case req.RedirectGiven && redirect == "":
		return invalidGrant("redirect_uri is required: the authorization request named one")
	case redirect != "" && redirect != req.RedirectURI:
		return invalidGrant(fmt.Sprintf("redirect_uri %q is not the one of the authorization request (%q)", redirect, req.RedirectURI))
	}
	verifier := p.Get("code_verifier")
	switch {
	case verifier == "":
		return invalidRequest("code_verifier is required (PKCE)")
	case !pkceValue.MatchString(verifier):
		return invalidGrant("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")
	}
	sum := sha256.Sum256([]byte(verifier))
	if !equalSecret(base64.RawURLEncoding.EncodeToString(sum[:]), req.Challenge) {
		return invalidGrant("code_verifier does not match the code_challenge (S256)")
	}
	resource, err := a.checkResource(r, p["resource"], req.Resource)
	if err != nil {
		return err
	}

	a.mu.Lock()
	if ac.Used { // a concurrent exchange won
		a.mu.Unlock()
		return invalidGrant("the authorization code was already used")
	}
	ac.Used = true
	grant := &store.Grant{ID: randomID("g_"), ClientID: c.ID, Scopes: req.Scopes, Resource: resource, Created: now}
	ac.GrantID = grant.ID
	a.mu.Unlock()

	resp, err := a.issue(grant, c, o, "", true)
	if err != nil {
		return err
	}
	recorder.AddNote(r.Context(), "oauth", fmt.Sprintf("issued tokens for grant %s (client %s, resource %s)", grant.ID, c.ID, resource))
	noteShortToken(r, o)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// noteShortToken records that the short-token toggle shortened the access token's lifetime.
func noteShortToken(r *http.Request, o *Options) {
	if o.AccessTokenTTL > 0 && o.AccessTokenTTL != defaultAccessTokenTTL {
		recorder.AddToggle(r.Context(), recorder.ToggleChange{Name: toggleShortToken, What: "expires_in",
			Before: fmt.Sprint(int64(defaultAccessTokenTTL / time.Second)), After: fmt.Sprint(int64(o.AccessTokenTTL / time.Second))})
	}
}

// issue creates an access token (and a refresh token unless turned off or the client may not refresh) under a
// grant; newGrant stores the grant too; predecessor is the refresh token whose use this is.
func (a *AS) issue(g *store.Grant, c *client, o *Options, predecessor string, newGrant bool) (*tokenResponse, error) {
	now := a.now()
	access := randomToken(prefixAccess)
	resp := &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(o.accessTTL() / time.Second), Scope: strings.Join(g.Scopes, " ")}
	var refreshHash string
	if !o.DisableRefreshTokens && c.allowsRefresh() {
		resp.RefreshToken = randomToken(prefixRefresh)
		refreshHash = store.Hash(resp.RefreshToken)
	}
	var trimmed []trimmedRefresh
	err := a.store.Update(func(s *store.State) error {
		// Checked in the same change as the grant is made: a client forgotten since it authenticated leaves no
		// grant behind whose token would work.
		if !c.CIMD && !s.Clients.Has(c.ID) {
			return invalidClient(fmt.Sprintf("client %s is no longer registered: register again", c.ID))
		}
		if newGrant {
			admitGrant(s, c.ID, maxGrants)
			g.LastUsed = now
			s.Grants.Put(g.ID, *g)
		} else if !s.Grants.Has(g.ID) {
			return invalidGrant("the grant was revoked")
		}
		s.AccessTokens.Put(store.Hash(access), store.AccessToken{GrantID: g.ID, Scopes: g.Scopes, Issued: now, Expires: now.Add(o.accessTTL())})
		if refreshHash != "" {
			s.RefreshTokens.Put(refreshHash, store.RefreshToken{GrantID: g.ID, Issued: now, Expires: now.Add(o.refreshTTL()),
				State: store.RefreshActive, Predecessor: predecessor})
		}
		trimmed = trimGrantTokens(s, g.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.rememberRetired(trimmed)
	return resp, nil
}

// The grace window for presenting a rotated refresh token again (a lost response retried, two requests racing),
// and how many times.
const (
	refreshGrace   = time.Minute
	maxGraceReuses = 5
)

// refresh redeems a refresh token and rotates it. Within refreshGrace of its first use the token may be presented
// again (a lost response retried, a race): a sibling successor is issued and the first stays valid. Presenting it
// after the window, or after a successor was used, is a replay and revokes the grant with every token of it
// (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2). The exchange's notes say which happened.
func (a *AS) refresh(w http.ResponseWriter, r *http.Request, p url.Values, c *client, o *Options) error {
	if !c.allowsRefresh() {
		return oauthErr(http.StatusBadRequest, "unauthorized_client", "the client did not register the refresh_token grant type")
	}
	rt := p.Get("refresh_token")
	if rt == "" {
		return invalidRequest("refresh_token is required")
	}
	h := store.Hash(rt)
	now := a.now()
	var (
		grant    store.Grant
		scopes   []string
		oerr     error
		replayed string // why the use is a replay: the grant was revoked
		grace    bool   // a reuse within the grace window: a sibling successor issued
		trimmed  []trimmedRefresh
	)
	newRefresh := ""
	access := randomToken(prefixAccess)
	if !o.DisableRefreshTokens {
		newRefresh = randomToken(prefixRefresh)
	}
	err := a.store.Update(func(s *store.State) error {
		t, ok := s.RefreshTokens.Get(h)
		if !ok {
			// A used refresh token trimmed from the state (a grant keeps only its newest) is still a replay.
			if gid, ok := a.retiredGrant(h, now); ok {
				if g, ok := s.Grants.Get(gid); ok && g.ClientID == c.ID {
					s.RevokeGrant(gid)
					replayed = "the refresh token was rotated long ago (many rotations since)"
					return nil
				}
			}
			return invalidGrant("unknown or revoked refresh token")
		}
		g, ok := s.Grants.Get(t.GrantID)
		switch {
		case !ok:
			return invalidGrant("the refresh token's grant was revoked")
		case !now.Before(t.Expires):
			return invalidGrant("the refresh token expired")
		case g.ClientID != c.ID:
			return invalidGrant("the refresh token was issued to another client")
		case t.State == store.RefreshRetired:
			s.RevokeGrant(g.ID)
			replayed = "the refresh token was rotated and a successor of it already used"
			return nil
		case t.State == store.RefreshRotated && (now.Sub(t.RotatedAt) > refreshGrace || len(t.Successors) >= maxGraceReuses):
			s.RevokeGrant(g.ID)
			replayed = fmt.Sprintf("the refresh token was rotated %s ago, outside the %s grace window for a retry", now.Sub(t.RotatedAt).Round(time.Second), refreshGrace)
			return nil
		}
		if _, err := a.checkResource(r, p["resource"], g.Resource); err != nil {
			return err
		}
		scopes = g.Scopes
		req, err := parseScope(p.Get("scope"))
		if err != nil {
			return oauthErr(http.StatusBadRequest, "invalid_scope", err.Error())
		}
		if len(req) > 0 {
			for _, sc := range req {
				if !slices.Contains(g.Scopes, sc) {
					return oauthErr(http.StatusBadRequest, "invalid_scope", fmt.Sprintf("scope %q was not granted; a refresh can only narrow the scopes", sc))
				}
			}
			scopes = req
		}
		switch t.State {
		case store.RefreshActive:
			// The first use of this token: its predecessor and the predecessor's other successors (siblings issued
			// within the grace window) are retired, so that presenting any of them later is a replay.
			if prev, ok := s.RefreshTokens.Get(t.Predecessor); ok {
				for _, sib := range append([]string{prev.Successor}, prev.Successors...) {
					if st, ok := s.RefreshTokens.Get(sib); sib != h && ok && st.State != store.RefreshRetired {
						st.State = store.RefreshRetired
						s.RefreshTokens.Put(sib, st)
					}
				}
				prev.State = store.RefreshRetired
				s.RefreshTokens.Put(t.Predecessor, prev)
			}
			t.State = store.RefreshRotated
			t.RotatedAt = now
		case store.RefreshRotated:
			// A reuse within the grace window: a sibling successor is issued; the successor the client may hold
			// stays valid (a replayed token never takes the grant over: whichever sibling is used first retires
			// the others).
			grace = true
		}
		s.AccessTokens.Put(store.Hash(access), store.AccessToken{GrantID: g.ID, Scopes: scopes, Issued: now, Expires: now.Add(o.accessTTL())})
		if newRefresh != "" {
			nh := store.Hash(newRefresh)
			if t.Successor == "" {
				t.Successor = nh
			}
			t.Successors = append(slices.Clip(t.Successors), nh)
			s.RefreshTokens.Put(nh, store.RefreshToken{GrantID: g.ID, Issued: now, Expires: now.Add(o.refreshTTL()),
				State: store.RefreshActive, Predecessor: h})
		}
		s.RefreshTokens.Put(h, t)
		trimmed = trimGrantTokens(s, g.ID)
		g.LastUsed = now
		s.Grants.Put(g.ID, g)
		grant = g
		return nil
	})
	if err != nil {
		oerr = err
	} else {
		a.rememberRetired(trimmed)
	}
	if replayed != "" {
		recorder.AddNote(r.Context(), "oauth", "refresh token replayed ("+replayed+"): grant revoked")
		return invalidGrant(replayed + ": this is a replay, so the grant is revoked (RFC 9700 §4.14.2)")
	}
	if oerr != nil {
		return oerr
	}
	if grace {
		recorder.AddNote(r.Context(), "oauth", fmt.Sprintf("refresh token reused within the %s grace window (a retry or a race): a sibling refresh token issued, the earlier successor kept", refreshGrace))
	}
	recorder.AddNote(r.Context(), "oauth", "refreshed grant "+grant.ID)
	noteShortToken(r, o)
	writeJSON(w, http.StatusOK, &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int64(o.accessTTL() / time.Second),
		RefreshToken: newRefresh, Scope: strings.Join(scopes, " ")})
	return nil
}

// revoke is token revocation (RFC 7009): a refresh token revokes its whole grant, an access token itself.
// An unknown token is not an error.
func (a *AS) revoke(w http.ResponseWriter, r *http.Request) error {
	o := a.Options()
	p, err := readParams(r)
	if err != nil {
		return err
	}
	c, err := a.authenticateClient(r, p, &o)
	if err != nil {
		return err
	}
	tok := p.Get("token")
	if tok == "" {
		return invalidRequest("token is required")
	}
	h := store.Hash(tok)
	what := ""
	err = a.store.Update(func(s *store.State) error {
		if t, ok := s.AccessTokens.Get(h); ok {
			if g, ok := s.Grants.Get(t.GrantID); ok && g.ClientID != c.ID {
				return invalidRequest("the token was issued to another client")
			}
			s.AccessTokens.Delete(h)
			what = "access token"
			return nil
		}
		if t, ok := s.RefreshTokens.Get(h); ok {
			if g, ok := s.Grants.Get(t.GrantID); ok && g.ClientID != c.ID {
				return invalidRequest("the token was issued to another client")
			}
			s.RevokeGrant(t.GrantID)
			what = "refresh token and its grant " + t.GrantID
		}
		return nil
	})
	if err != nil {
		return err
	}
	if what != "" {
		recorder.AddNote(r.Context(), "oauth", "revoked "+what)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}
