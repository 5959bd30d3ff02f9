package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/oauth/store"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// The outcomes of Verify other than success. Each maps to one response in challenge.
var (
	// errNoToken: the request carries no bearer token (401 without an error code, RFC 6750 §3.1).
	errNoToken = errors.New("no bearer token")
	// errInvalidToken: unknown, revoked, expired, malformed, or issued for another resource (401 invalid_token).
	errInvalidToken = errors.New("invalid token")
	// errInsufficientScope: a valid token without a required scope (403 insufficient_scope).
	errInsufficientScope = errors.New("insufficient scope")
)

// Verify checks the bearer token of a request to the protected resource at resourceURL. It changes nothing and
// writes nothing: on success it returns what the token stands for; otherwise an error wrapping one of ErrNoToken,
// ErrInvalidToken or ErrInsufficientScope with the reason.
//
// TokenInfo.UserID is the grant id, so that a legacy MCP session stays bound to the grant it was opened under
// (refreshing keeps the grant); Extra carries client_id, resource and grant_id.
func (a *AS) Verify(r *http.Request, resourceURL string, required []string) (*auth.TokenInfo, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errNoToken
	}
	fields := strings.Fields(h)
	if len(fields) != 2 || !strings.EqualFold(fields[0], "Bearer") {
		return nil, fmt.Errorf("%w: the Authorization header is not \"Bearer <token>\"", errInvalidToken)
	}
	hash := store.Hash(fields[1])
	var (
		tok   store.AccessToken
		grant store.Grant
		found bool
	)
	a.store.View(func(s *store.State) {
		t, ok := s.AccessTokens.Get(hash)
		if !ok {
			return
		}
		g, ok := s.Grants.Get(t.GrantID)
		if !ok {
			return
		}
		tok, grant, found = t, g, true
	})
	if !found {
		return nil, fmt.Errorf("%w: unknown or revoked token", errInvalidToken)
	}
	if !a.now().Before(tok.Expires) {
		return nil, fmt.Errorf("%w: the token expired at %s", errInvalidToken, tok.Expires.UTC().Format(time.RFC3339))
	}
	if !oauthex.MatchesResource([]string{grant.Resource}, resourceURL) {
		return nil, fmt.Errorf("%w: the token was issued for %s, not %s", errInvalidToken, grant.Resource, resourceURL)
	}
	for _, s := range required {
		if !slices.Contains(tok.Scopes, s) {
			return nil, fmt.Errorf("%w: the token lacks scope %q", errInsufficientScope, s)
		}
	}
	return &auth.TokenInfo{
		Scopes:     slices.Clone(tok.Scopes),
		Expiration: tok.Expires,
		UserID:     grant.ID,
		Extra:      map[string]any{"client_id": grant.ClientID, "resource": grant.Resource, "grant_id": grant.ID},
	}, nil
}

// noSkewCheck is a clock skew so large that the SDK never rejects a token Verify accepted.
const noSkewCheck = 100 * 365 * 24 * time.Hour

// Protect is the bearer check in front of the protected endpoint at path (e.g. /mcp). A request without a valid
// token gets 401 with WWW-Authenticate: Bearer resource_metadata="<absolute URL of the endpoint's metadata>"
// (plus scope when scopes are required, plus error="invalid_token" when a token was sent); a token lacking a
// required scope gets 403 insufficient_scope. On success the go-sdk auth.TokenInfo is put in the request context,
// where the SDK's handlers find it (req.Extra.TokenInfo in tools).
func (a *AS) Protect(path string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o := a.Options()
			ti, err := a.Verify(r, publicurl.URL(r, path), o.RequiredScopes)
			if err != nil {
				a.challenge(w, r, path, &o, err)
				return
			}
			recorder.AddNote(r.Context(), "auth", fmt.Sprintf("token of client %v, grant %s", ti.Extra["client_id"], ti.UserID))
			// auth.RequireBearerToken is the only way to store TokenInfo under the SDK's context key. The token is
			// verified already (against this server's clock), so its verifier returns the result and the skew keeps
			// it from judging the expiry again.
			inject := auth.RequireBearerToken(func(context.Context, string, *http.Request) (*auth.TokenInfo, error) { return ti, nil },
				&auth.RequireBearerTokenOptions{ClockSkew: noSkewCheck})
			inject(next).ServeHTTP(w, r)
		})
	}
}

// challenge maps a Verify error to its response: the one place where status codes and WWW-Authenticate are chosen.
func (a *AS) challenge(w http.ResponseWriter, r *http.Request, path string, o *Options, err error) {
	params := []string{fmt.Sprintf("resource_metadata=%q", publicurl.URL(r, pathProtectedResource+path))}
	if len(o.RequiredScopes) > 0 {
		params = append(params, fmt.Sprintf("scope=%q", strings.Join(o.RequiredScopes, " ")))
	}
	desc := quoteSafe(strings.TrimPrefix(strings.TrimPrefix(err.Error(), errInvalidToken.Error()+": "), errInsufficientScope.Error()+": "))
	status, code := http.StatusUnauthorized, ""
	switch {
	case errors.Is(err, errNoToken):
		desc = "this endpoint requires a bearer token; start at the resource metadata to find the authorization server"
	case errors.Is(err, errInsufficientScope):
		status, code = http.StatusForbidden, "insufficient_scope"
	default:
		code = "invalid_token"
	}
	if code != "" {
		params = append(params, fmt.Sprintf("error=%q", code), fmt.Sprintf("error_description=%q", desc))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	recorder.AddNote(r.Context(), "auth", fmt.Sprintf("%d: %s", status, err.Error()))
	body := map[string]string{"error": code, "error_description": desc}
	if code == "" {
		body["error"] = "unauthorized"
	}
	writeJSON(w, status, body)
}
