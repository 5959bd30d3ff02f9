package oauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The registration shapes of clients-2026-12.md (issue 12): unsupported grants ignored, private_key_jwt, a
// document's list of auth methods, loopback redirect URIs on any port, and the jwt-bearer (ID-JAG) grant explained.

// notes are the notes of every recorded exchange, "key: value".
func (h *harness) notes() []string {
	var out []string
	for _, ex := range h.rec.Store().Snapshot() {
		for _, n := range ex.Notes {
			out = append(out, n.Key+": "+n.Value)
		}
	}
	return out
}

func (h *harness) hasNote(sub string) bool {
	return slices.ContainsFunc(h.notes(), func(n string) bool { return strings.Contains(n, sub) })
}

func jsonDoc(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// Claude's document lists the jwt-bearer grant on a public client; VS Code's lists device_code. Both are accepted,
// the grants this server does not offer dropped, and the exchange says so.
func TestUnsupportedGrantTypesIgnored(t *testing.T) {
	docs := newDocServer(t, "", map[string]string{"/oauth/mcp-oauth-client-metadata": jsonDoc(map[string]any{
		"client_id": "{url}", "client_name": "Claude", "client_uri": "https://claude.ai", "redirect_uris": []string{cb},
		"grant_types":    []string{"authorization_code", "refresh_token", grantJWTBearer},
		"response_types": []string{"code"}, "token_endpoint_auth_method": "none",
	})})
	h := newHarness(t, allowLoopback)
	clientID := docs.URL + "/oauth/mcp-oauth-client-metadata"
	verifier, challenge := pkce()
	code := h.authorizeCode(clientID, cb, challenge)
	tk := h.mustTokens(h.tokenForm("grant_type", "authorization_code", "code", code, "redirect_uri", cb, "client_id", clientID, "code_verifier", verifier))
	h.mustTokens(h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", clientID))
	if !h.hasNote("grant types ignored, not offered here: " + grantJWTBearer) {
		t.Errorf("no note of the ignored grant: %q", h.notes())
	}

	r := h.register(map[string]any{"client_name": "Visual Studio Code", "redirect_uris": []string{"http://127.0.0.1:33418/"},
		"grant_types": []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	if got := strs(r.JSON(t)["grant_types"]); !slices.Equal(got, []string{"authorization_code", "refresh_token"}) {
		t.Errorf("registered grant_types %v: the server replaces the metadata with what it registered (RFC 7591 §3.2.1)", got)
	}
	if !h.hasNote("registration: grant types ignored, not offered here: urn:ietf:params:oauth:grant-type:device_code") {
		t.Errorf("no note of the ignored grant: %q", h.notes())
	}
	// A client left with no grant this server offers is still refused.
	if r := h.register(map[string]any{"redirect_uris": []string{"http://127.0.0.1/"}, "grant_types": []string{"client_credentials"}}); r.Status != http.StatusBadRequest {
		t.Errorf("client_credentials only: %d %s", r.Status, r.Body)
	}
}

// signer makes client assertions.
type signer struct {
	t   *testing.T
	key crypto.Signer
	alg jose.SignatureAlgorithm
	kid string
}

func newRSASigner(t *testing.T, kid string) *signer {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{t: t, key: k, alg: jose.RS256, kid: kid}
}

func (s *signer) jwks() string {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: s.key.Public(), KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"}}})
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// assertion signs claims (a nil value deletes a claim) for clientID with audience aud.
func (s *signer) assertion(clientID, aud string, now time.Time, change map[string]any) string {
	s.t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if s.kid != "" {
		opts = opts.WithHeader("kid", s.kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.key}, opts)
	if err != nil {
		s.t.Fatal(err)
	}
	claims := map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "exp": now.Add(time.Minute).Unix(),
		"iat": now.Unix(), "jti": randomID("")}
	for k, v := range change {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	raw, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		s.t.Fatal(err)
	}
	return raw
}

// jwksServer serves a JWKS that a test may replace, counting fetches.
type jwksServer struct {
	*httptest.Server
	body atomic.Value
	hits atomic.Int32
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	s := &jwksServer{}
	s.body.Store(body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(s.body.Load().(string)))
	}))
	t.Cleanup(s.Close)
	return s
}

// chatGPTDoc is ChatGPT's per-connector document (clients-2026-12.md §3) with the jwks_uri given.
func chatGPTDoc(jwksURI string) string {
	return jsonDoc(map[string]any{
		"client_id": "{url}", "client_name": "ChatGPT", "client_uri": "https://chatgpt.com/",
		"redirect_uris":                         []string{"https://chatgpt.com/connector/oauth/kDmjx77UnKOM"},
		"token_endpoint_auth_method":            "private_key_jwt",
		"token_endpoint_auth_methods_supported": []string{"none", "private_key_jwt"},
		"token_endpoint_auth_signing_alg":       "RS256", "jwks_uri": jwksURI,
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"logo_uri": "https://persistent.oaistatic.com/sonic/misc/openai-logo.png",
	})
}

// ChatGPT's documents authenticate with private_key_jwt (RS256, jwks_uri): the flow completes with assertions;
// a wrong key, audience, expiry, a replayed jti, an HMAC or a missing exp gets 401 invalid_client with the reason.
func TestPrivateKeyJWTMetadataDocument(t *testing.T) {
	key := newRSASigner(t, "cimd-20260428030119")
	keys := newJWKSServer(t, key.jwks())
	const redirect = "https://chatgpt.com/connector/oauth/kDmjx77UnKOM"
	docs := newDocServer(t, "", map[string]string{"/oauth/kDmjx77UnKOM/client.json": chatGPTDoc(keys.URL + "/oauth/jwks.json")})
	h := newHarness(t, allowLoopback)
	clientID := docs.URL + "/oauth/kDmjx77UnKOM/client.json"
	tokenURL := h.srv.URL + pathToken
	now := h.clock.Now()

	verifier, challenge := pkce()
	code := h.authorizeCode(clientID, redirect, challenge)
	tk := h.mustTokens(h.tokenForm("grant_type", "authorization_code", "code", code, "redirect_uri", redirect, "code_verifier", verifier,
		"client_id", clientID, "client_assertion_type", assertionTypeJWT, "client_assertion", key.assertion(clientID, tokenURL, now, nil)))
	if !h.hasNote("authenticated with private_key_jwt (RS256") {
		t.Errorf("no note of the method used: %q", h.notes())
	}
	if !h.hasNote("token endpoint auth private_key_jwt chosen") {
		t.Errorf("no note of the method chosen: %q", h.notes())
	}
	// The refresh names the issuer as audience (PostHog's reading), in an array, and leaves client_id out.
	tk = h.mustTokens(h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh,
		"client_assertion_type", assertionTypeJWT, "client_assertion", key.assertion(clientID, "", now, map[string]any{"aud": []string{"https://other.example", h.srv.URL}})))

	other := newRSASigner(t, key.kid) // same kid, another key
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hmac, _ := jwt.Signed(hs).Claims(map[string]any{"iss": clientID, "sub": clientID, "aud": tokenURL, "exp": now.Add(time.Minute).Unix(), "jti": "x"}).Serialize()
	replayed := key.assertion(clientID, tokenURL, now, nil)
	h.mustTokens(h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", clientID,
		"client_assertion_type", assertionTypeJWT, "client_assertion", replayed))
	for _, tc := range []struct{ name, assertion, want string }{
		{"wrong key", other.assertion(clientID, tokenURL, now, nil), "does not verify"},
		{"wrong audience", key.assertion(clientID, "https://elsewhere.example/token", now, nil), "aud"},
		{"expired", key.assertion(clientID, tokenURL, now, map[string]any{"exp": now.Add(-2 * time.Minute).Unix()}), "expired"},
		{"no exp", key.assertion(clientID, tokenURL, now, map[string]any{"exp": nil}), "no exp"},
		{"too long-lived", key.assertion(clientID, tokenURL, now, map[string]any{"exp": now.Add(2 * time.Hour).Unix()}), "ahead"},
		{"no jti", key.assertion(clientID, tokenURL, now, map[string]any{"jti": nil}), "no jti"},
		{"wrong sub", key.assertion(clientID, tokenURL, now, map[string]any{"sub": "someone"}), "sub"},
		{"replayed jti", replayed, "already used"},
		{"HMAC", hmac, "not a JWT signed with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", clientID,
				"client_assertion_type", assertionTypeJWT, "client_assertion", tc.assertion)
			wantOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
			if d, _ := r.JSON(t)["error_description"].(string); !strings.Contains(d, tc.want) {
				t.Errorf("error_description %q, want it to say %q", d, tc.want)
			}
		})
	}
	if n := keys.hits.Load(); n != 1 {
		t.Errorf("the JWKS was fetched %d times, want 1 (cached)", n)
	}
}

// An unknown kid fetches the JWKS again (the client rotated its key), once: another unknown kid within
// jwksRefetchAfter does not fetch again.
func TestPrivateKeyJWTKeyRotation(t *testing.T) {
	old, rotated := newRSASigner(t, "k1"), newRSASigner(t, "k2")
	keys := newJWKSServer(t, old.jwks())
	docs := newDocServer(t, "", map[string]string{"/client.json": jsonDoc(map[string]any{
		"client_id": "{url}", "client_name": "rotating", "redirect_uris": []string{cb},
		"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": keys.URL + "/jwks.json",
	})})
	h := newHarness(t, allowLoopback)
	clientID, tokenURL, now := docs.URL+"/client.json", h.srv.URL+pathToken, h.clock.Now()
	revoke := func(s *signer) *response {
		return h.post(pathRevoke, "application/x-www-form-urlencoded", formValues("token", "x", "client_id", clientID,
			"client_assertion_type", assertionTypeJWT, "client_assertion", s.assertion(clientID, tokenURL, now, nil)).Encode())
	}
	if r := revoke(old); r.Status != http.StatusOK {
		t.Fatalf("k1: %d %s", r.Status, r.Body)
	}
	// The document offers private_key_jwt only: no assertion, no access.
	r := h.post(pathRevoke, "application/x-www-form-urlencoded", formValues("token", "x", "client_id", clientID).Encode())
	wantOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
	if d := r.JSON(t)["error_description"].(string); !strings.Contains(d, "authenticates with private_key_jwt") {
		t.Errorf("error_description %q", d)
	}
	h.clock.Advance(time.Minute)
	now = h.clock.Now()
	keys.body.Store(rotated.jwks())
	if r := revoke(rotated); r.Status != http.StatusOK {
		t.Fatalf("k2 after rotation: %d %s", r.Status, r.Body)
	}
	if n := keys.hits.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (fetched again once for the unknown kid)", n)
	}
	stranger := newRSASigner(t, "k3")
	for range 5 {
		wantOAuthError(t, revoke(stranger), http.StatusUnauthorized, "invalid_client")
	}
	if n := keys.hits.Load(); n != 2 {
		t.Errorf("%d fetches after 5 unknown kids, want still 2 (refetching is rate-limited)", n)
	}
}

// A registered client with an inline JWKS (EC P-256) authenticates with ES256; an EC key cannot sign RS256.
func TestPrivateKeyJWTRegisteredClient(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &signer{t: t, key: ec, alg: jose.ES256, kid: "ec1"}
	h := newHarness(t)
	var jwks map[string]any
	json.Unmarshal([]byte(s.jwks()), &jwks)
	r := h.register(map[string]any{"client_name": "signed", "redirect_uris": []string{"http://127.0.0.1/cb"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks})
	if r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if _, ok := m["client_secret"]; ok {
		t.Error("a private_key_jwt client got a secret")
	}
	if _, ok := m["jwks"].(map[string]any); !ok {
		t.Errorf("jwks not echoed as an object: %v", m["jwks"])
	}
	clientID, tokenURL, now := m["client_id"].(string), h.srv.URL+pathToken, h.clock.Now()
	verifier, challenge := pkce()
	code := h.authorizeCode(clientID, "http://127.0.0.1:5000/cb", challenge)
	h.mustTokens(h.tokenForm("grant_type", "authorization_code", "code", code, "redirect_uri", "http://127.0.0.1:5000/cb", "code_verifier", verifier,
		"client_id", clientID, "client_assertion_type", assertionTypeJWT, "client_assertion", s.assertion(clientID, tokenURL, now, nil)))

	// A header claiming RS256 over an EC key: refused by the key's type.
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"ec1"}`))
	body := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"` + clientID + `"}`))
	r = h.tokenForm("grant_type", "refresh_token", "refresh_token", "x", "client_id", clientID,
		"client_assertion_type", assertionTypeJWT, "client_assertion", hdr+"."+body+"."+base64.RawURLEncoding.EncodeToString(make([]byte, 256)))
	wantOAuthError(t, r, http.StatusUnauthorized, "invalid_client")
	if d := r.JSON(t)["error_description"].(string); !strings.Contains(d, "not RS256") {
		t.Errorf("error_description %q", d)
	}
	// private_key_jwt without keys, or with a jwks_uri the server would never fetch, is refused at registration.
	for _, md := range []map[string]any{
		{"redirect_uris": []string{"http://127.0.0.1/cb"}, "token_endpoint_auth_method": "private_key_jwt"},
		{"redirect_uris": []string{"http://127.0.0.1/cb"}, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://keys.example/jwks.json"},
	} {
		if r := h.register(md); r.Status != http.StatusBadRequest {
			t.Errorf("%v: %d %s", md, r.Status, r.Body)
		}
	}
}

// A document's token_endpoint_auth_methods_supported is a list of choices: one the server supports is picked
// (the singular method first), and any of those kept may be used.
func TestDocumentAuthMethodsList(t *testing.T) {
	docs := newDocServer(t, "", map[string]string{
		// Codex: the list holds only none.
		"/codex": jsonDoc(map[string]any{"client_id": "{url}", "client_name": "Codex", "redirect_uris": []string{cb},
			"token_endpoint_auth_method": "none", "token_endpoint_auth_methods_supported": []string{"none"}}),
		// No singular method, a secret method first: none is picked.
		"/secret-first": jsonDoc(map[string]any{"client_id": "{url}", "client_name": "X", "redirect_uris": []string{cb},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "none"}}),
		// ChatGPT on 2026-08-03: the list, no singular method, no keys for private_key_jwt.
		"/chatgpt-nokeys": jsonDoc(map[string]any{"client_id": "{url}", "client_name": "ChatGPT", "redirect_uris": []string{cb},
			"token_endpoint_auth_methods_supported": []string{"private_key_jwt", "none"}}),
	})
	h := newHarness(t, allowLoopback, withOptions(func(o *Options) { o.AutoApprove = true }))
	for _, tc := range []struct{ path, note string }{
		{"/codex", ""},
		{"/secret-first", "token endpoint auth none chosen (the document offers client_secret_basic, none; accepted here: none)"},
		{"/chatgpt-nokeys", "token endpoint auth none chosen (the document offers private_key_jwt, none; accepted here: none)"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			clientID := docs.URL + tc.path
			verifier, challenge := pkce()
			code := h.get(authorizeQuery(clientID, cb, challenge)).Location(t).Query().Get("code")
			h.mustTokens(h.tokenForm("grant_type", "authorization_code", "code", code, "redirect_uri", cb, "client_id", clientID, "code_verifier", verifier))
			if tc.note != "" && !h.hasNote(tc.note) {
				t.Errorf("no note %q in %q", tc.note, h.notes())
			}
		})
	}
}

// Loopback redirect URIs that a document or registration lists without a port or with a fixed one match any
// port of the same loopback host with the same path (RFC 8252 §7.3); nothing else is loosened.
func TestLoopbackRedirectAnyPort(t *testing.T) {
	for _, tc := range []struct {
		name       string
		registered []string
		given      string
		ok         bool
	}{
		{"Claude Code, portless localhost", []string{"http://localhost/callback", "http://127.0.0.1/callback"}, "http://localhost:45157/callback", true},
		{"Claude Code, portless 127.0.0.1", []string{"http://localhost/callback", "http://127.0.0.1/callback"}, "http://127.0.0.1:41977/callback", true},
		{"Zed", []string{"http://127.0.0.1/callback"}, "http://127.0.0.1:53211/callback", true},
		{"Copilot CLI, fixed port", []string{"http://127.0.0.1:33418/"}, "http://127.0.0.1:60005/", true},
		{"OpenCode", []string{"http://127.0.0.1/callback", "http://localhost/callback"}, "http://localhost:19876/callback", true},
		{"Codex", []string{"http://127.0.0.1/callback/Zm9vYmFyYmF6cXV4", "http://localhost/callback/Zm9vYmFyYmF6cXV4"}, "http://127.0.0.1:1455/callback/Zm9vYmFyYmF6cXV4", true},
		{"Goose, no path", []string{"http://localhost"}, "http://localhost:8123/", true},
		{"IPv6 loopback", []string{"http://[::1]/cb"}, "http://[::1]:9000/cb", true},
		{"another path", []string{"http://127.0.0.1/callback"}, "http://127.0.0.1:5000/other", false},
		{"another loopback host", []string{"http://127.0.0.1/callback"}, "http://localhost:5000/callback", false},
		{"a path prefix", []string{"http://127.0.0.1/callback"}, "http://127.0.0.1:5000/callback/x", false},
		{"https is exact", []string{"https://app.example/cb"}, "https://app.example:8443/cb", false},
		{"http non-loopback", []string{"http://127.0.0.1/cb"}, "http://127.0.0.2.nip.io:80/cb", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchRedirectURI(tc.registered, tc.given); got != tc.ok {
				t.Errorf("matchRedirectURI(%q, %q) = %v, want %v", tc.registered, tc.given, got, tc.ok)
			}
		})
	}
	// Through a metadata document, as Goose lists it.
	docs := newDocServer(t, "", map[string]string{"/oauth/client-metadata.json": jsonDoc(map[string]any{
		"client_id": "{url}", "client_name": "Goose", "redirect_uris": []string{"http://localhost"}})})
	h := newHarness(t, allowLoopback)
	_, challenge := pkce()
	consentForm(t, h.get(authorizeQuery(docs.URL+"/oauth/client-metadata.json", "http://localhost:8123/", challenge)))
}

// Claude's Enterprise-Managed Authorization sends the jwt-bearer grant with an ID-JAG: 400 unsupported_grant_type
// saying what it is, and the assertion's header and claims recorded, never its signature.
func TestIDJAGGrantExplained(t *testing.T) {
	docs := newDocServer(t, "", map[string]string{"/oauth/mcp-oauth-client-metadata": claudeDoc(cb)})
	h := newHarness(t, allowLoopback)
	clientID := docs.URL + "/oauth/mcp-oauth-client-metadata"
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"oauth-id-jag+jwt","kid":"idp-1"}`))
	claims := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://idp.example","sub":"u1","aud":"` + h.srv.URL + `","client_id":"` + clientID + `","resource":"` + h.srv.URL + `/mcp","scope":"mcp","jti":"j1","exp":1900000000}`))
	const sig = "c2lnbmF0dXJlLW5ldmVyLXJlY29yZGVk"
	r := h.tokenForm("grant_type", grantJWTBearer, "assertion", hdr+"."+claims+"."+sig, "client_id", clientID)
	wantOAuthError(t, r, http.StatusBadRequest, "unsupported_grant_type")
	if d := r.JSON(t)["error_description"].(string); !strings.Contains(d, "ID-JAG") || !strings.Contains(d, "Enterprise-Managed Authorization") {
		t.Errorf("error_description %q", d)
	}
	if !h.hasNote(`id-jag header: {"alg":"RS256","typ":"oauth-id-jag+jwt","kid":"idp-1"}`) || !h.hasNote(`id-jag claims: {"iss":"https://idp.example"`) {
		t.Errorf("header and claims not recorded: %q", h.notes())
	}
	if h.hasNote(sig) {
		t.Error("the signature was recorded")
	}
	// Not a JWT at all: still explained, nothing decoded.
	r = h.tokenForm("grant_type", grantJWTBearer, "assertion", "garbage")
	wantOAuthError(t, r, http.StatusBadRequest, "unsupported_grant_type")
}

// The replay cache is bounded: expired ids are dropped when it is full, and when none has expired the one closest
// to expiry goes; an id is refused until its exp.
func TestJTICacheBounded(t *testing.T) {
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	c := jtiCache{max: 3, perClient: 3}
	for i, ttl := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} {
		if err := c.use("client", fmt.Sprint(i), now.Add(ttl), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.use("client", "1", now.Add(time.Minute), now); err != errReplayedJTI {
		t.Fatalf("replay: %v", err)
	}
	if err := c.use("client", "3", now.Add(5*time.Minute), now); err != nil || c.n != 3 {
		t.Fatalf("full: %v, %d ids", err, c.n)
	}
	if c.held("client", "0") {
		t.Error("the id closest to expiry was kept when the cache was full")
	}
	later := now.Add(150 * time.Second) // "1" expired
	if err := c.use("client", "4", later.Add(time.Minute), later); err != nil || c.n != 3 {
		t.Fatalf("after expiry: %v, %d ids", err, c.n)
	}
	if c.held("client", "1") {
		t.Error("an expired id was kept")
	}
	if err := c.use("client", "1", later.Add(time.Minute), later); err != nil {
		t.Errorf("an id may be used again after its exp: %v", err)
	}
}

// The JWKS cache holds at most maxJWKSCache URLs.
func TestJWKSCacheBounded(t *testing.T) {
	key := newRSASigner(t, "k")
	keys := newJWKSServer(t, key.jwks())
	h := newHarness(t, allowLoopback)
	ctx := localContext(t)
	for i := range maxJWKSCache + 5 {
		if _, _, err := h.as.cimd.clientKeys(ctx, fmt.Sprintf("%s/jwks/%d.json", keys.URL, i), false); err != nil {
			t.Fatal(err)
		}
	}
	h.as.cimd.mu.Lock()
	n := len(h.as.cimd.jwks)
	h.as.cimd.mu.Unlock()
	if n > maxJWKSCache {
		t.Errorf("%d JWKS cached, want at most %d", n, maxJWKSCache)
	}
}

// A JWKS whose key has no kid verifies an assertion that names one (some clients publish keys without kid).
func TestPrivateKeyJWTKeyWithoutKid(t *testing.T) {
	signed := newRSASigner(t, "k1")
	published := &signer{t: t, key: signed.key, alg: jose.RS256} // the same key, published without kid
	keys := newJWKSServer(t, published.jwks())
	docs := newDocServer(t, "", map[string]string{"/client.json": jsonDoc(map[string]any{
		"client_id": "{url}", "client_name": "no kid", "redirect_uris": []string{cb},
		"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": keys.URL + "/jwks.json",
	})})
	h := newHarness(t, allowLoopback)
	clientID := docs.URL + "/client.json"
	r := h.post(pathRevoke, "application/x-www-form-urlencoded", formValues("token", "x", "client_id", clientID,
		"client_assertion_type", assertionTypeJWT, "client_assertion", signed.assertion(clientID, h.srv.URL+pathToken, h.clock.Now(), nil)).Encode())
	if r.Status != http.StatusOK {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
}
