package oauth

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// Well-known paths and the endpoints' paths.
const (
	pathProtectedResource = "/.well-known/oauth-protected-resource"
	pathAuthServer        = "/.well-known/oauth-authorization-server"
	pathOpenID            = "/.well-known/openid-configuration"
	pathRegister          = "/register"
	pathAuthorize         = "/authorize"
	pathToken             = "/token"
	pathRevoke            = "/revoke"
)

// Mount adds the authorization server's routes to r: metadata documents, registration, authorize (GET: the
// request; POST: the consent form), token and revocation. The public endpoints answer CORS preflights.
func (a *AS) Mount(r chi.Router) {
	get := []string{http.MethodGet, http.MethodHead}
	post := []string{http.MethodPost}

	prm := CORS(methods(get, a.handle(a.protectedResourceMetadata)))
	r.Handle(pathProtectedResource, prm)
	r.Handle(pathProtectedResource+"/*", prm)

	asm := CORS(methods(get, a.handle(a.authServerMetadata)))
	r.Handle(pathAuthServer, asm)
	r.Handle(pathAuthServer+"/*", asm)
	r.Handle(pathOpenID, asm)
	r.Handle(pathOpenID+"/*", asm)
	r.Handle("/{prefix}"+pathOpenID, asm)

	r.Handle(pathRegister, CORS(methods(post, a.handle(a.register))))
	r.Handle(pathAuthorize, methods([]string{http.MethodGet, http.MethodPost}, a.handle(a.authorize)))
	r.Handle(pathToken, CORS(methods(post, a.handle(a.token))))
	r.Handle(pathRevoke, CORS(methods(post, a.handle(a.revoke))))
}

// methods answers 405 (with Allow) for a method not in allowed.
func methods(allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range allowed {
			if r.Method == m {
				next.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeOAuthError(w, oauthErr(http.StatusMethodNotAllowed, "invalid_request",
			"method "+r.Method+" is not allowed on "+r.URL.Path+" (allowed: "+strings.Join(allowed, ", ")+")"))
	})
}

// issuer is the authorization server's identifier for this request: the public base URL the client used,
// without a trailing slash (RFC 8414 §2; clients compare it byte for byte).
func issuer(r *http.Request) string { return publicurl.Base(r).String() }

// resourceFor maps the part of a well-known URL after the well-known prefix to the resource path it describes:
// "" is the MCP endpoint, "/mcp" is /mcp; anything else is not ours.
func (a *AS) resourceFor(suffix string) (string, bool) {
	if suffix == "" || suffix == "/" {
		return a.MCPPath(), true
	}
	suffix = strings.TrimSuffix(suffix, "/")
	for _, p := range a.cfg.ResourcePaths {
		if suffix == p {
			return p, true
		}
	}
	return "", false
}

// protectedResourceMetadata serves RFC 9728 metadata. The root document and the path-suffixed one both describe
// the MCP endpoint: resource is its public URL, which Claude requires to equal the URL the user typed.
func (a *AS) protectedResourceMetadata(w http.ResponseWriter, r *http.Request) error {
	path, ok := a.resourceFor(strings.TrimPrefix(r.URL.Path, pathProtectedResource))
	if !ok {
		return oauthErr(http.StatusNotFound, "not_found", "no protected resource at "+strings.TrimPrefix(r.URL.Path, pathProtectedResource)+
			"; the MCP endpoint's metadata is at "+publicurl.URL(r, pathProtectedResource+a.MCPPath()))
	}
	o := a.Options()
	md := oauthex.ProtectedResourceMetadata{
		Resource:               publicurl.URL(r, path),
		AuthorizationServers:   []string{issuer(r)},
		ScopesSupported:        o.scopesSupported(),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "mcpwatch",
	}
	writeJSON(w, http.StatusOK, md) // no-store: it follows the request's host and the live options
	return nil
}

// authServerMetadata is RFC 8414 metadata with the SDK's wire type; jwks_uri is shadowed so that it is omitted
// (the SDK type always writes it, and an empty jwks_uri fails URL validation in some clients).
type authServerMetadata struct {
	oauthex.AuthServerMeta
	JWKSURI string `json:"jwks_uri,omitempty"`
}

// authServerMetadata serves the same document at the RFC 8414 URL, its path-inserted forms for the protected
// resources, and the OpenID discovery URLs clients probe. The issuer is the public base URL of the request in
// every form, because the endpoints and the iss parameter on redirects are the same for all of them.
func (a *AS) authServerMetadata(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Path
	var suffix string
	switch {
	case strings.HasPrefix(p, pathAuthServer):
		suffix = strings.TrimPrefix(p, pathAuthServer)
	case strings.HasPrefix(p, pathOpenID):
		suffix = strings.TrimPrefix(p, pathOpenID)
	default: // /{prefix}/.well-known/openid-configuration
		suffix = strings.TrimSuffix(p, pathOpenID)
	}
	if _, ok := a.resourceFor(suffix); !ok {
		return oauthErr(http.StatusNotFound, "not_found", "no authorization server metadata at "+p+
			"; it is at "+publicurl.URL(r, pathAuthServer))
	}
	o := a.Options()
	iss := issuer(r)
	md := authServerMetadata{AuthServerMeta: oauthex.AuthServerMeta{
		Issuer:                                          iss,
		AuthorizationEndpoint:                           iss + pathAuthorize,
		TokenEndpoint:                                   iss + pathToken,
		RevocationEndpoint:                              iss + pathRevoke,
		ScopesSupported:                                 o.scopesSupported(),
		ResponseTypesSupported:                          []string{"code"},
		ResponseModesSupported:                          []string{"query"},
		GrantTypesSupported:                             []string{"authorization_code", "refresh_token"},
		TokenEndpointAuthMethodsSupported:               authMethodsSupported,
		TokenEndpointAuthSigningAlgValuesSupported:      assertionAlgNames(),
		RevocationEndpointAuthMethodsSupported:          authMethodsSupported,
		RevocationEndpointAuthSigningAlgValuesSupported: assertionAlgNames(),
		CodeChallengeMethodsSupported:                   []string{"S256"},
		ClientIDMetadataDocumentSupported:               !o.DisableCIMD,
		AuthorizationResponseIssParameterSupported:      true,
	}}
	if !o.DisableRegistration {
		md.RegistrationEndpoint = iss + pathRegister
	}
	writeJSON(w, http.StatusOK, md) // no-store: it follows the request's host and the live options
	return nil
}
