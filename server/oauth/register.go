package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/oauth/store"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

const maxBodyBytes = 64 << 10

// client is what the server knows of a client, however it was identified.
type client struct {
	ID         string
	SecretHash string // "" for a public client
	Metadata   oauthex.ClientRegistrationMetadata
	// CIMD is true when ID is the URL of a client ID metadata document.
	CIMD bool
	// AuthMethods are the token endpoint authentication methods the client may use here, the one chosen first
	// (a document may offer several in token_endpoint_auth_methods_supported).
	AuthMethods []string
	// SigningAlg is the document's token_endpoint_auth_signing_alg, "" when it named none.
	SigningAlg string
}

// usesPrivateKeyJWT: the client may authenticate with a client_assertion (RFC 7523 §2.2).
func (c *client) usesPrivateKeyJWT() bool { return slices.Contains(c.AuthMethods, authPrivateKeyJWT) }

// requiresAssertion: the client must authenticate with a client_assertion (no other method is open to it).
func (c *client) requiresAssertion() bool {
	return c.usesPrivateKeyJWT() && c.SecretHash == "" && !slices.Contains(c.AuthMethods, authNone)
}

func (c *client) name() string {
	if c.Metadata.ClientName != "" {
		return c.Metadata.ClientName
	}
	return c.ID
}

func (c *client) allowsRefresh() bool {
	return len(c.Metadata.GrantTypes) == 0 || slices.Contains(c.Metadata.GrantTypes, "refresh_token")
}

// errUnknownClient: the client_id is neither registered nor a metadata document URL this server would fetch.
var errUnknownClient = errors.New("unknown client")

// lookupClient finds a registered client, or fetches the client ID metadata document a URL client_id names.
func (a *AS) lookupClient(ctx context.Context, id string, o *Options) (*client, error) {
	if id == "" {
		return nil, errUnknownClient
	}
	var found *client
	a.store.View(func(s *store.State) {
		if c, ok := s.Clients.Get(id); ok {
			found = &client{ID: c.ID, SecretHash: c.SecretHash, Metadata: c.Metadata, AuthMethods: []string{c.Metadata.TokenEndpointAuthMethod}}
		}
	})
	if found != nil {
		return found, nil
	}
	if o.DisableCIMD || !a.cimd.isDocumentURL(id) {
		return nil, errUnknownClient
	}
	doc, fetched, err := a.cimd.fetch(ctx, id)
	if err != nil {
		recorder.AddNote(ctx, "oauth", "client ID metadata document "+id+": "+err.Error())
		return nil, err
	}
	if fetched { // what the server made of the document, once per fetch rather than on every request
		for _, n := range doc.notes {
			recorder.AddNote(ctx, "oauth", "client ID metadata document "+id+": "+n)
		}
	}
	return &client{ID: id, Metadata: doc.md, CIMD: true, AuthMethods: doc.methods, SigningAlg: doc.alg}, nil
}

// Token endpoint authentication methods (RFC 7591 §2, RFC 7523 §2.2).
const (
	authNone          = "none"
	authSecretPost    = "client_secret_post"
	authSecretBasic   = "client_secret_basic"
	authPrivateKeyJWT = "private_key_jwt"
)

// authMethodsSupported is what the metadata advertises and registration accepts.
var authMethodsSupported = []string{authNone, authSecretPost, authSecretBasic, authPrivateKeyJWT}

func isSecretMethod(m string) bool { return m == authSecretPost || m == authSecretBasic }

// grantTypesSupported are the grants this server offers; a client's others are ignored (RFC 7591 §3.2.1 lets the
// server replace the metadata it registers).
var grantTypesSupported = []string{"authorization_code", "refresh_token"}

// registrationRequest is RFC 7591 client metadata as sent. jwks is an object on the wire (the SDK type has a
// string): it is kept as JSON text in Metadata.JWKS. token_endpoint_auth_methods_supported (a list of choices) and
// token_endpoint_auth_signing_alg are read from metadata documents.
type registrationRequest struct {
	oauthex.ClientRegistrationMetadata
	JWKS                 json.RawMessage `json:"jwks,omitempty"`
	AuthMethodsSupported []string        `json:"token_endpoint_auth_methods_supported,omitempty"`
	AuthSigningAlg       string          `json:"token_endpoint_auth_signing_alg,omitempty"`
}

// registrationResponse is RFC 7591 §3.2.1: the registered metadata with the client's credentials; jwks is echoed
// as the object it was sent as.
type registrationResponse struct {
	oauthex.ClientRegistrationMetadata
	JWKS                  json.RawMessage `json:"jwks,omitempty"`
	ClientID              string          `json:"client_id"`
	ClientSecret          string          `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64           `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64          `json:"client_secret_expires_at,omitempty"`
}

// register is dynamic client registration (RFC 7591). Public clients ("none") are the norm; a client that asks
// for client_secret_post or client_secret_basic gets a secret and must present it at the token endpoint.
func (a *AS) register(w http.ResponseWriter, r *http.Request) error {
	o := a.Options()
	if o.DisableRegistration {
		return oauthErr(http.StatusNotFound, "not_found", "dynamic client registration is turned off")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return invalidRequest("reading the body: " + err.Error())
	}
	if len(body) > maxBodyBytes {
		return oauthErr(http.StatusRequestEntityTooLarge, "invalid_client_metadata", fmt.Sprintf("the body is larger than %d bytes", maxBodyBytes))
	}
	if ct := mediaType(r.Header.Get("Content-Type")); ct != "application/json" && ct != "" {
		return oauthErr(http.StatusBadRequest, "invalid_client_metadata", "client metadata must be sent as application/json, not "+ct)
	}
	md, err := decodeClientMetadata(body)
	if err != nil {
		return err
	}
	notes, err := validateClientMetadata(md, &o)
	if err != nil {
		for _, u := range md.RedirectURIs {
			if len(o.RedirectHosts) > 0 && checkRedirectURI(u, nil) == nil && checkRedirectURI(u, o.RedirectHosts) != nil {
				recorder.AddToggle(r.Context(), recorder.ToggleChange{Name: toggleRedirectAllow, What: "registration answer",
					Before: "201 Created", After: "400 invalid_redirect_uri (" + u + ")"})
				break
			}
		}
		return err
	}
	if md.TokenEndpointAuthMethod == authPrivateKeyJWT && md.JWKSURI != "" {
		if u, err := url.Parse(md.JWKSURI); err != nil || a.cimd.checkURL(u) != nil {
			return oauthErr(http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf("jwks_uri %q cannot be fetched: it must be an https URL (its host must be public)", md.JWKSURI))
		}
	}
	if err := checkClientSize(md); err != nil {
		return err
	}
	for _, n := range notes {
		recorder.AddNote(r.Context(), "oauth", "registration: "+n)
	}
	if o.ForceConfidential && md.TokenEndpointAuthMethod == "none" {
		md.TokenEndpointAuthMethod = "client_secret_post"
		recorder.AddToggle(r.Context(), recorder.ToggleChange{Name: toggleRequireSecret, What: "token_endpoint_auth_method",
			Before: "none", After: "client_secret_post (a client_secret issued)"})
	}
	now := a.now()
	c := &store.Client{ID: randomID(prefixClient), IssuedAt: now, Metadata: *md}
	resp := registrationResponse{ClientRegistrationMetadata: *md, ClientID: c.ID, ClientIDIssuedAt: now.Unix()}
	if md.JWKS != "" {
		resp.JWKS = json.RawMessage(md.JWKS)
		resp.ClientRegistrationMetadata.JWKS = ""
	}
	if isSecretMethod(md.TokenEndpointAuthMethod) {
		secret := randomToken(prefixSecret)
		c.SecretHash = store.Hash(secret)
		resp.ClientSecret = secret
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	err = a.store.Update(func(s *store.State) error {
		if err := admitClient(s, now, a.clientBusy, maxClients); err != nil {
			return err
		}
		s.Clients.Put(c.ID, *c)
		return nil
	})
	if err != nil {
		return err
	}
	recorder.AddNote(r.Context(), "oauth", fmt.Sprintf("registered client %s (%q, auth %s)", c.ID, md.ClientName, md.TokenEndpointAuthMethod))
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

// decodeClientMetadata parses a registration body; a value of the wrong type is invalid_client_metadata naming
// the field.
func decodeClientMetadata(body []byte) (*oauthex.ClientRegistrationMetadata, error) {
	var req registrationRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		if msg, ok := typeErrorText(err); ok {
			return nil, oauthErr(http.StatusBadRequest, "invalid_client_metadata", msg)
		}
		return nil, oauthErr(http.StatusBadRequest, "invalid_client_metadata", "the body is not a JSON object of client metadata: "+err.Error())
	}
	md := req.ClientRegistrationMetadata
	md.JWKS = ""
	if j := bytes.TrimSpace(req.JWKS); len(j) > 0 && !bytes.Equal(j, []byte("null")) {
		md.JWKS = string(j)
	}
	return &md, nil
}

// typeErrorText words a JSON type error in client metadata by the member's JSON name, e.g. "redirect_uris must be
// an array of strings, not a JSON string". encoding/json names the field by its path from the decoded value
// ("ClientRegistrationMetadata.redirect_uris" for the embedded struct): the name is the last element.
func typeErrorText(err error) (string, bool) {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field == "" {
		return "", false
	}
	field := te.Field[strings.LastIndexByte(te.Field, '.')+1:]
	want, got := "a string", "a JSON "+te.Value
	switch field {
	case "redirect_uris", "grant_types", "response_types", "contacts":
		want = "an array of strings"
		if te.Type != nil && te.Type.Kind() != reflect.Slice { // an element of the array had the wrong type
			got = "an array holding a JSON " + te.Value
		}
	}
	return fmt.Sprintf("%s must be %s, not %s", field, want, got), true
}

// validateClientMetadata checks registered (or documented) metadata and fills in the server's defaults, which the
// registration response echoes. An omitted token_endpoint_auth_method means a public client ("none"): RFC 7591's
// default (client_secret_basic) would hand a secret to MCP clients that never send one. Grant types this server
// does not offer are dropped rather than refused (Claude's document lists jwt-bearer, VS Code's device_code); notes
// say what was changed.
func validateClientMetadata(md *oauthex.ClientRegistrationMetadata, o *Options) (notes []string, err error) {
	if len(md.RedirectURIs) == 0 {
		return nil, oauthErr(http.StatusBadRequest, "invalid_redirect_uri", "redirect_uris is required: the authorization code grant needs at least one redirect URI")
	}
	for _, u := range md.RedirectURIs {
		if err := checkRedirectURI(u, o.RedirectHosts); err != nil {
			return nil, oauthErr(http.StatusBadRequest, "invalid_redirect_uri", fmt.Sprintf("redirect URI %q: %v", u, err))
		}
	}
	if md.TokenEndpointAuthMethod == "" {
		md.TokenEndpointAuthMethod = authNone
	}
	if !slices.Contains(authMethodsSupported, md.TokenEndpointAuthMethod) {
		return nil, oauthErr(http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf(
			"token_endpoint_auth_method %q is not supported (supported: %s)", md.TokenEndpointAuthMethod, strings.Join(authMethodsSupported, ", ")))
	}
	if md.JWKS != "" && md.JWKSURI != "" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_client_metadata", "jwks and jwks_uri must not both be present (RFC 7591 §2)")
	}
	if md.JWKS != "" && md.TokenEndpointAuthMethod == authPrivateKeyJWT { // otherwise kept as sent, never used
		if _, err := parseJWKS([]byte(md.JWKS)); err != nil {
			return nil, oauthErr(http.StatusBadRequest, "invalid_client_metadata", "jwks: "+err.Error())
		}
	}
	if md.TokenEndpointAuthMethod == authPrivateKeyJWT && md.JWKS == "" && md.JWKSURI == "" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_client_metadata", "private_key_jwt needs the client's public keys: send jwks_uri or jwks")
	}
	if len(md.GrantTypes) == 0 {
		md.GrantTypes = slices.Clone(grantTypesSupported)
	}
	var kept, ignored []string
	for _, g := range md.GrantTypes {
		switch {
		case slices.Contains(kept, g) || slices.Contains(ignored, g):
		case slices.Contains(grantTypesSupported, g):
			kept = append(kept, g)
		case len(ignored) < 10:
			ignored = append(ignored, g)
		}
	}
	if len(ignored) > 0 {
		md.GrantTypes = kept
		notes = append(notes, fmt.Sprintf("grant types ignored, not offered here: %s (kept: %s)", strings.Join(ignored, ", "), strings.Join(kept, ", ")))
	}
	if !slices.Contains(md.GrantTypes, "authorization_code") {
		return nil, oauthErr(http.StatusBadRequest, "invalid_client_metadata", "grant_types must include authorization_code: it is the only way to obtain a token here")
	}
	if len(md.ResponseTypes) == 0 {
		md.ResponseTypes = []string{"code"}
	}
	for _, rt := range md.ResponseTypes {
		if rt != "code" {
			return nil, oauthErr(http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf("response type %q is not supported (supported: code)", rt))
		}
	}
	switch md.ApplicationType {
	case "", "native", "web":
	default:
		return nil, oauthErr(http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf("application_type %q is not native or web", md.ApplicationType))
	}
	for _, f := range []struct{ name, value string }{
		{"client_uri", md.ClientURI}, {"logo_uri", md.LogoURI}, {"tos_uri", md.TOSURI}, {"policy_uri", md.PolicyURI}, {"jwks_uri", md.JWKSURI},
	} {
		if f.value == "" {
			continue
		}
		u, err := url.Parse(f.value)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, oauthErr(http.StatusBadRequest, "invalid_client_metadata", fmt.Sprintf("%s %q is not an http(s) URL", f.name, f.value))
		}
	}
	if len(md.ClientName) > 200 {
		return nil, oauthErr(http.StatusBadRequest, "invalid_client_metadata", "client_name is longer than 200 characters")
	}
	return notes, nil
}

// checkRedirectURI says why raw cannot be a redirect URI: it must be absolute without a fragment, at most
// MaxRedirectURIBytes, and of a form redirect.go allows (https, http on a loopback host, a native app's private-use
// scheme). hosts, when set, is the allow-list of hosts.
func checkRedirectURI(raw string, hosts []string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme == "" {
		return errors.New("not an absolute URL")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return errors.New("a redirect URI must not have a fragment")
	}
	if len(raw) > maxRedirectURIBytes {
		return fmt.Errorf("longer than %d bytes", maxRedirectURIBytes)
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "https":
		if u.Host == "" {
			return errors.New("no host")
		}
	case scheme == "http":
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Errorf("plain http is allowed only for loopback hosts (localhost, 127.0.0.1, [::1]), not %q; use https", u.Hostname())
		}
	case !privateUseScheme(scheme):
		return fmt.Errorf("the %s: scheme is not allowed: a redirect URI is https, http on a loopback host, or a native app's private-use scheme in reverse-domain form (com.example.app:/callback, RFC 8252 §7.1) or one of %s", u.Scheme, strings.Join(appSchemes, ", "))
	}
	if len(hosts) > 0 && !slices.ContainsFunc(hosts, func(h string) bool { return strings.EqualFold(h, u.Hostname()) }) {
		return fmt.Errorf("host %q is not on the allowed list (%s)", u.Hostname(), strings.Join(hosts, ", "))
	}
	return nil
}

func isLoopbackHost(h string) bool {
	h = strings.ToLower(strings.Trim(h, "[]"))
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

// matchRedirectURI reports whether given equals a registered redirect URI, exactly, or — for loopback http
// URIs — apart from the port (RFC 8252 §7.3: native apps get an ephemeral port).
func matchRedirectURI(registered []string, given string) bool {
	if slices.Contains(registered, given) {
		return true
	}
	g, err := url.Parse(given)
	if err != nil || g.Scheme != "http" || !isLoopbackHost(g.Hostname()) {
		return false
	}
	for _, r := range registered {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != g.Scheme || u.Hostname() != g.Hostname() {
			continue
		}
		if loopbackPath(u) == loopbackPath(g) && u.RawQuery == g.RawQuery && u.User.String() == g.User.String() {
			return true
		}
	}
	return false
}

// loopbackPath is a loopback redirect URI's path, an empty one read as "/" (Goose documents http://localhost and
// is called back at http://localhost:PORT/).
func loopbackPath(u *url.URL) string {
	if p := u.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}
