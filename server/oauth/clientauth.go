package oauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mcpwatch/mcpwatch/recorder"
)

// private_key_jwt client authentication (RFC 7523 §2.2, RFC 7521 §4.2): the client signs a short-lived JWT with a
// key whose public half its metadata names (jwks_uri or jwks); ChatGPT's metadata documents use it with RS256.
// go-jose/v4 parses and verifies the JWS: every parse takes an explicit allow-list of algorithms, so neither
// "none" nor an HMAC keyed with a public key can get through.

const (
	// assertionTypeJWT is client_assertion_type for a JWT (RFC 7523 §2.2).
	assertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionSkew is the clock skew tolerated on exp, nbf and iat.
	assertionSkew = 60 * time.Second
	// assertionMaxLifetime bounds how far in the future exp may be: the jti is remembered until then. An hour, as
	// Okta allows and authlib's private_key_jwt uses by default (Auth0 allows 5 minutes; ChatGPT's is unknown).
	assertionMaxLifetime = time.Hour
	// maxAssertionBytes bounds a client_assertion.
	maxAssertionBytes = 8 << 10
	// maxJWKSKeys bounds the keys of one JWKS.
	maxJWKSKeys = 20
	// maxJWKSCache bounds the cached JWKS documents (one per jwks_uri).
	maxJWKSCache = 256
	// jwksRefetchAfter: a JWKS is fetched again for an unknown kid at most this often, so that a stranger cannot
	// make the server fetch it in a loop.
	jwksRefetchAfter = 30 * time.Second
	// maxJTIs bounds the remembered assertion ids in all, maxJTIsPerClient those of one owner (grantOwner of the
	// client id). An owner at its bound forgets its own id closest to expiry; at the bound in all, the owner holding
	// the most forgets one, so a stranger's flood of hour-long assertions never flushes another client's ids.
	maxJTIs          = 10000
	maxJTIsPerClient = 1000
)

// assertionAlgs are the signature algorithms a client_assertion may use: asymmetric only.
var assertionAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

func assertionAlgNames() []string {
	out := make([]string, len(assertionAlgs))
	for i, a := range assertionAlgs {
		out[i] = string(a)
	}
	return out
}

// keyAllows says why key cannot verify a signature made with alg, or "" when it can: RSA keys (2048 bits or more)
// RS*/PS*, EC keys ES* of their curve, Ed25519 keys EdDSA; a key's own alg, when set, must match.
func keyAllows(key *jose.JSONWebKey, alg string) string {
	if key.Algorithm != "" && key.Algorithm != alg {
		return fmt.Sprintf("key %q is for %s, not %s", key.KeyID, key.Algorithm, alg)
	}
	if key.Use != "" && key.Use != "sig" {
		return fmt.Sprintf("key %q is for use %q, not sig", key.KeyID, key.Use)
	}
	switch k := key.Public().Key.(type) {
	case *rsa.PublicKey:
		if !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS") {
			return fmt.Sprintf("key %q is an RSA key, which signs with RS* or PS*, not %s", key.KeyID, alg)
		}
		if k.N.BitLen() < 2048 {
			return fmt.Sprintf("key %q is an RSA key of %d bits (at least 2048 needed)", key.KeyID, k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		want := map[elliptic.Curve]string{elliptic.P256(): "ES256", elliptic.P384(): "ES384", elliptic.P521(): "ES512"}[k.Curve]
		if want != alg {
			return fmt.Sprintf("key %q is an EC key on %s, which signs with %s, not %s", key.KeyID, k.Curve.Params().Name, want, alg)
		}
	case ed25519.PublicKey:
		if alg != string(jose.EdDSA) {
			return fmt.Sprintf("key %q is an Ed25519 key, which signs with EdDSA, not %s", key.KeyID, alg)
		}
	default:
		return fmt.Sprintf("key %q is not an RSA, EC or Ed25519 public key", key.KeyID)
	}
	return ""
}

// parseJWKS reads a JWK Set: at most maxJWKSKeys keys, every one an asymmetric key (a private key's public half is
// used; a symmetric key is refused: this server must never verify an HMAC).
func parseJWKS(b []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("not a JWK Set: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("the JWK Set has no keys")
	}
	if len(set.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("the JWK Set has %d keys (at most %d)", len(set.Keys), maxJWKSKeys)
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for i, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		switch k.Key.(type) {
		case *rsa.PublicKey, *rsa.PrivateKey, *ecdsa.PublicKey, *ecdsa.PrivateKey, ed25519.PublicKey, ed25519.PrivateKey:
		default:
			return nil, fmt.Errorf("key %d (%q) is not an RSA, EC or Ed25519 key", i, k.KeyID)
		}
		keys = append(keys, k.Public())
	}
	return keys, nil
}

// jwksEntry is a fetched JWKS.
type jwksEntry struct {
	keys    []jose.JSONWebKey
	fetched time.Time
	expires time.Time
}

// clientKeys returns the keys of a jwks_uri: cached while fresh; refresh fetches again unless the last fetch is
// younger than jwksRefetchAfter. refetched says whether this call fetched.
func (f *cimdFetcher) clientKeys(ctx context.Context, u string, refresh bool) (keys []jose.JSONWebKey, refetched bool, err error) {
	now := f.now()
	f.mu.Lock()
	e := f.jwks[u]
	if e != nil {
		recent := now.Sub(e.fetched) < jwksRefetchAfter // a no-store JWKS too is fetched at most this often
		if recent || (!refresh && now.Before(e.expires)) {
			f.mu.Unlock()
			return e.keys, false, nil
		}
	}
	f.mu.Unlock()
	parsed, err := url.Parse(u)
	if err != nil || f.checkURL(parsed) != nil {
		return nil, false, fmt.Errorf("jwks_uri %q is not a URL this server fetches (https, a public host)", u)
	}
	body, hdr, err := f.get(ctx, u, "the client's JWKS")
	if err != nil {
		return nil, false, err
	}
	keys, err = parseJWKS(body)
	if err != nil {
		return nil, false, fmt.Errorf("the client's JWKS at %s: %w", u, err)
	}
	ttl := cacheLifetime(hdr.Get("Cache-Control"))
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.jwks[u]; !ok && len(f.jwks) >= maxJWKSCache {
		for k, old := range f.jwks { // drop the expired ones, or one at random when none is
			if !now.Before(old.expires) {
				delete(f.jwks, k)
			}
		}
		for k := range f.jwks {
			if len(f.jwks) < maxJWKSCache {
				break
			}
			delete(f.jwks, k)
		}
	}
	f.jwks[u] = &jwksEntry{keys: keys, fetched: now, expires: now.Add(ttl)}
	return keys, true, nil
}

// jtiCache remembers the ids of the assertions used, each until its exp: at most perClient per owner
// (grantOwner of the client id) and max in all. An owner at its bound forgets its expired ids, then its own id
// closest to expiry; at the bound in all, expired ids go, then the id closest to expiry of the owner holding the
// most (a stranger can register clients with its own keys and fill the cache; that must not flush another
// client's ids and let its assertion be replayed). Linear in the ids held, only when a bound is reached.
type jtiCache struct {
	mu             sync.Mutex
	byOwner        map[string]map[string]time.Time // owner → client id + "\x00" + jti → until
	n              int
	max, perClient int
}

var errReplayedJTI = errors.New("the assertion's jti was already used: a client_assertion is single use (RFC 7523 §3)")

func (c *jtiCache) use(clientID, jti string, until, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	owner, key := grantOwner(clientID), clientID+"\x00"+jti
	if c.byOwner == nil {
		c.byOwner = map[string]map[string]time.Time{}
	}
	mine := c.byOwner[owner]
	if t, ok := mine[key]; ok && now.Before(t) {
		return errReplayedJTI
	}
	if mine == nil {
		mine = map[string]time.Time{}
		c.byOwner[owner] = mine
	}
	if len(mine) >= c.perClient {
		c.forget(owner, now)
	}
	if c.n >= c.max {
		for o := range c.byOwner {
			c.dropExpired(o, now)
		}
		if c.n >= c.max {
			top := owner // the requester's own, when it holds as many as any
			for o, ids := range c.byOwner {
				if len(ids) > len(c.byOwner[top]) {
					top = o
				}
			}
			c.forget(top, now)
		}
	}
	c.byOwner[owner] = mine
	if _, ok := mine[key]; !ok {
		c.n++
	}
	mine[key] = until
	return nil
}

// dropExpired forgets an owner's expired ids (and the owner, once it holds none).
func (c *jtiCache) dropExpired(owner string, now time.Time) {
	ids := c.byOwner[owner]
	for k, t := range ids {
		if !now.Before(t) {
			delete(ids, k)
			c.n--
		}
	}
	if len(ids) == 0 {
		delete(c.byOwner, owner)
	}
}

// forget drops an owner's expired ids, or if none had expired its id closest to expiry.
func (c *jtiCache) forget(owner string, now time.Time) {
	ids := c.byOwner[owner]
	before := len(ids)
	c.dropExpired(owner, now)
	if len(ids) < before {
		return
	}
	var soonest string
	for k, t := range ids {
		if soonest == "" || t.Before(ids[soonest]) {
			soonest = k
		}
	}
	if soonest != "" {
		delete(ids, soonest)
		c.n--
	}
	if len(ids) == 0 {
		delete(c.byOwner, owner)
	}
}

// assertionClaims are the claims of a client_assertion.
type assertionClaims struct {
	jwt.Claims
}

// peekIssuer reads a JWT's iss without verifying it (to find the client when client_id is left out).
func peekIssuer(raw string) string {
	tok, err := jwt.ParseSigned(raw, assertionAlgs)
	if err != nil {
		return ""
	}
	var c jwt.Claims
	if tok.UnsafeClaimsWithoutVerification(&c) != nil {
		return ""
	}
	return c.Issuer
}

// verifyAssertion checks a client_assertion for client c (RFC 7523 §3): signed with one of the client's keys in
// an algorithm the key's type allows; iss = sub = client_id; aud the token endpoint or the issuer; exp required,
// not past, not too far ahead; nbf and iat not in the future; jti present and not used before. It returns a short
// description of the key used.
func (a *AS) verifyAssertion(r *http.Request, c *client, raw string) (string, error) {
	if len(raw) > maxAssertionBytes {
		return "", fmt.Errorf("client_assertion is longer than %d bytes", maxAssertionBytes)
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgs)
	if err != nil {
		return "", fmt.Errorf("client_assertion is not a JWT signed with %s: %v", strings.Join(assertionAlgNames(), ", "), err)
	}
	if len(tok.Headers) != 1 {
		return "", errors.New("client_assertion must have exactly one signature")
	}
	h := tok.Headers[0]
	alg, kid := h.Algorithm, h.KeyID
	if c.SigningAlg != "" && alg != c.SigningAlg {
		return "", fmt.Errorf("client_assertion is signed with %s; the client's metadata names %s", alg, c.SigningAlg)
	}
	var claims assertionClaims
	keys, refetched, err := a.keysOf(r.Context(), c, false)
	if err != nil {
		return "", err
	}
	used, why := verifyWith(tok, keys, alg, kid, &claims)
	if used == nil && kid != "" && !slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid }) &&
		c.Metadata.JWKSURI != "" && !refetched {
		// an unknown kid: the client may have rotated its keys; fetch once more (rate-limited)
		if keys, _, err = a.keysOf(r.Context(), c, true); err != nil {
			return "", err
		}
		used, why = verifyWith(tok, keys, alg, kid, &claims)
	}
	if used == nil {
		return "", errors.New(why)
	}

	now := a.now()
	switch {
	case claims.Issuer != c.ID:
		return "", fmt.Errorf("the assertion's iss %q is not the client_id %q", claims.Issuer, c.ID)
	case claims.Subject != c.ID:
		return "", fmt.Errorf("the assertion's sub %q is not the client_id %q", claims.Subject, c.ID)
	}
	iss := issuer(r)
	auds := []string{iss + pathToken, iss, iss + "/"}
	if !slices.ContainsFunc(claims.Audience, func(s string) bool { return slices.Contains(auds, s) }) {
		return "", fmt.Errorf("the assertion's aud %q names neither the token endpoint %s nor the issuer %s", []string(claims.Audience), iss+pathToken, iss)
	}
	switch {
	case claims.Expiry == nil:
		return "", errors.New("the assertion has no exp (required, RFC 7523 §3)")
	case now.After(claims.Expiry.Time().Add(assertionSkew)):
		return "", fmt.Errorf("the assertion expired at %s (now %s)", claims.Expiry.Time().UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case claims.Expiry.Time().After(now.Add(assertionMaxLifetime + assertionSkew)):
		return "", fmt.Errorf("the assertion's exp is more than %s ahead; use a short-lived assertion", assertionMaxLifetime)
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionSkew)):
		return "", errors.New("the assertion is not valid yet (nbf in the future)")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionSkew)):
		return "", errors.New("the assertion was issued in the future (iat)")
	case claims.ID == "":
		return "", errors.New("the assertion has no jti: it is needed to refuse a replayed assertion")
	case len(claims.ID) > 256:
		return "", errors.New("the assertion's jti is longer than 256 characters")
	}
	if err := a.jtis.use(c.ID, claims.ID, claims.Expiry.Time().Add(assertionSkew), now); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s, key %q", alg, used.KeyID), nil
}

// keysOf returns the client's public keys: its inline jwks, or its jwks_uri's (refresh: fetch again, rate-limited).
func (a *AS) keysOf(ctx context.Context, c *client, refresh bool) ([]jose.JSONWebKey, bool, error) {
	if c.Metadata.JWKS != "" {
		keys, err := parseJWKS([]byte(c.Metadata.JWKS))
		return keys, false, err
	}
	if c.Metadata.JWKSURI == "" {
		return nil, false, errors.New("the client has neither jwks_uri nor jwks")
	}
	return a.cimd.clientKeys(ctx, c.Metadata.JWKSURI, refresh)
}

// verifyWith tries the keys that may have made the signature: the one named by kid (or, when no key has that
// kid, those without one), or all when the header names none. It returns the key that verified, or why none did.
func verifyWith(tok *jwt.JSONWebToken, keys []jose.JSONWebKey, alg, kid string, claims *assertionClaims) (*jose.JSONWebKey, string) {
	why := ""
	named := kid != "" && slices.ContainsFunc(keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
	for i := range keys {
		k := &keys[i]
		if kid != "" && k.KeyID != kid && (named || k.KeyID != "") {
			continue
		}
		if w := keyAllows(k, alg); w != "" {
			why = w
			continue
		}
		if err := tok.Claims(k.Key, claims); err == nil {
			return k, ""
		}
		why = fmt.Sprintf("the signature does not verify with key %q", k.KeyID)
	}
	switch {
	case why != "":
		return nil, why
	case kid != "":
		return nil, fmt.Sprintf("the client's JWKS has no key %q", kid)
	}
	return nil, "the client's JWKS has no key for " + alg
}

// grantJWTBearer is the RFC 7523 §2.1 authorization grant, which Claude uses for Enterprise-Managed Authorization
// with an ID-JAG (an identity assertion authorization grant issued by the organisation's identity provider).
const grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// refuseIDJAG answers the jwt-bearer grant: unsupported here, said plainly, with the assertion's JOSE header and
// claims recorded (never its signature) so that the user can see what the client presented.
func refuseIDJAG(r *http.Request, p url.Values) error {
	header, claims := decodeJWTParts(p.Get("assertion"))
	recorder.AddNote(r.Context(), "oauth", "jwt-bearer grant (RFC 7523 §2.1) refused: Enterprise-Managed Authorization is not supported here")
	if header != "" {
		recorder.AddNote(r.Context(), "id-jag header", header)
	}
	if claims != "" {
		recorder.AddNote(r.Context(), "id-jag claims", claims)
	}
	return oauthErr(http.StatusBadRequest, "unsupported_grant_type",
		"grant_type urn:ietf:params:oauth:grant-type:jwt-bearer: this is Enterprise-Managed Authorization, an ID-JAG "+
			"(identity assertion authorization grant, typ oauth-id-jag+jwt) issued by the organisation's identity provider; "+
			"mcpwatch does not accept ID-JAGs. A server that does must verify the assertion's signature against the "+
			"identity provider's keys, check that its aud is this authorization server, its client_id the authenticated "+
			"client and its resource this server, then issue an access token without a browser. Use the authorization "+
			"code grant here (turn off Enterprise-Managed Authorization for this connector).")
}

// decodeJWTParts returns a compact JWT's header and claims as compact JSON, "" for a part that is not JSON; the
// signature is never read.
func decodeJWTParts(raw string) (header, claims string) {
	parts := strings.SplitN(raw, ".", 3)
	dec := func(s string) string {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil || !json.Valid(b) {
			return ""
		}
		var out bytes.Buffer
		if json.Compact(&out, b) != nil {
			return ""
		}
		return out.String()
	}
	if len(parts) >= 2 {
		return dec(parts[0]), dec(parts[1])
	}
	return "", ""
}
