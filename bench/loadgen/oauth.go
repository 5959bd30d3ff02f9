package loadgen

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Secret is a credential the run obtained or sent (for tests that check exports redact them).
type Secret struct {
	Kind     string // access_token, refresh_token, code, code_verifier, client_secret
	Value    string
	ClientID string // the client it belongs to
}

// Grant is what an OAuth handshake leaves a client with.
type Grant struct {
	MCPURL        string
	Issuer        string
	TokenEndpoint string
	ClientID      string
	ClientSecret  string // "" for a public client
	RedirectURI   string
	Resource      string
	AccessToken   string
	RefreshToken  string
}

var resourceMetadataRE = regexp.MustCompile(`resource_metadata="([^"]+)"`)

// RedirectURI is where the load generator's clients say they want the authorization answer (a loopback URI that
// nothing listens on: the load generator reads the Location header instead of following it).
const RedirectURI = "http://127.0.0.1/mcpload/callback"

// Authorize runs the OAuth part of a handshake against a protected MCP endpoint, checking every answer: the
// unauthenticated request gets 401 with a resource_metadata challenge; the protected resource metadata names the
// authorization server; its metadata lists the endpoints and S256; registration answers 201 with a client_id;
// the authorization request redirects to the registered URI with a code, the same state and iss (with
// --auto-approve; otherwise the consent page's form is answered with Approve); the token endpoint answers a bearer
// access token, a refresh token and a positive expires_in.
func (c *Client) Authorize(ctx context.Context, mcpURL string, era Era) (*Grant, error) {
	s := &Session{URL: mcpURL, Era: era}
	probe, params := "initialize", map[string]any{"protocolVersion": legacyVersion, "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "mcpload", "version": "1"}}
	if era == Era2026 {
		probe, params = "server/discover", nil
	}
	r, err := c.do(ctx, "challenge", http.MethodPost, mcpURL, c.mcpHeader(s, probe, ""), s.body(s.id(), probe, params))
	if err != nil {
		return nil, err
	}
	m := resourceMetadataRE.FindStringSubmatch(r.header.Get("WWW-Authenticate"))
	if r.status != http.StatusUnauthorized || m == nil {
		return nil, stepErr("challenge", r.status, r.body, "want 401 with WWW-Authenticate resource_metadata, got %q", r.header.Get("WWW-Authenticate"))
	}
	base, _ := url.Parse(mcpURL)

	prmURL, err := resolve(base, m[1])
	if err != nil {
		return nil, stepErr("challenge", r.status, nil, "resource_metadata: %v", err)
	}
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if r, err = c.do(ctx, "resource-metadata", http.MethodGet, prmURL, nil, nil); err != nil {
		return nil, err
	}
	if err := jsonBody("resource-metadata", r, http.StatusOK, &prm); err != nil {
		return nil, err
	}
	if prm.Resource == "" || len(prm.AuthorizationServers) == 0 {
		return nil, stepErr("resource-metadata", r.status, r.body, "no resource or authorization_servers")
	}

	issuer := strings.TrimSuffix(prm.AuthorizationServers[0], "/")
	asURL, err := resolve(base, issuer+"/.well-known/oauth-authorization-server")
	if err != nil {
		return nil, stepErr("auth-metadata", 0, nil, "%v", err)
	}
	var asm struct {
		Issuer                        string   `json:"issuer"`
		AuthorizationEndpoint         string   `json:"authorization_endpoint"`
		TokenEndpoint                 string   `json:"token_endpoint"`
		RegistrationEndpoint          string   `json:"registration_endpoint"`
		CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	}
	if r, err = c.do(ctx, "auth-metadata", http.MethodGet, asURL, nil, nil); err != nil {
		return nil, err
	}
	if err := jsonBody("auth-metadata", r, http.StatusOK, &asm); err != nil {
		return nil, err
	}
	switch {
	case asm.Issuer != issuer:
		return nil, stepErr("auth-metadata", r.status, r.body, "issuer %q, want %q", asm.Issuer, issuer)
	case asm.AuthorizationEndpoint == "" || asm.TokenEndpoint == "" || asm.RegistrationEndpoint == "":
		return nil, stepErr("auth-metadata", r.status, r.body, "an endpoint is missing")
	case !slices.Contains(asm.CodeChallengeMethodsSupported, "S256"):
		return nil, stepErr("auth-metadata", r.status, r.body, "S256 is not supported")
	}

	g := &Grant{MCPURL: mcpURL, Issuer: issuer, TokenEndpoint: asm.TokenEndpoint, RedirectURI: RedirectURI, Resource: prm.Resource}
	authMethod := "none"
	if c.cfg.ConfidentialClients {
		authMethod = "client_secret_post"
	}
	reg := `{"client_name":"mcpload","redirect_uris":["` + RedirectURI + `"],"grant_types":["authorization_code","refresh_token"],` +
		`"response_types":["code"],"token_endpoint_auth_method":"` + authMethod + `"}`
	if r, err = c.do(ctx, "register", http.MethodPost, asm.RegistrationEndpoint, http.Header{"Content-Type": {"application/json"}}, []byte(reg)); err != nil {
		return nil, err
	}
	var regResp struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := jsonBody("register", r, http.StatusCreated, &regResp); err != nil {
		return nil, err
	}
	if regResp.ClientID == "" || (authMethod != "none") != (regResp.ClientSecret != "") {
		return nil, stepErr("register", r.status, r.body, "no client_id, or a client_secret where none was due (or none where one was)")
	}
	g.ClientID, g.ClientSecret = regResp.ClientID, regResp.ClientSecret
	c.observe(g, "client_secret", g.ClientSecret)

	verifier, challenge := pkce()
	c.observe(g, "code_verifier", verifier)
	state := randomString(12)
	q := url.Values{"response_type": {"code"}, "client_id": {g.ClientID}, "redirect_uri": {RedirectURI}, "state": {state},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "resource": {prm.Resource}}
	authURL := asm.AuthorizationEndpoint + "?" + q.Encode()
	if r, err = c.do(ctx, "authorize", http.MethodGet, authURL, nil, nil); err != nil {
		return nil, err
	}
	if r.status == http.StatusOK && strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		if r, err = c.consent(ctx, authURL, r); err != nil {
			return nil, err
		}
	}
	if r.status != http.StatusFound {
		return nil, stepErr("authorize", r.status, r.body, "want 302 to the redirect URI")
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), RedirectURI+"?") {
		return nil, stepErr("authorize", r.status, nil, "redirected to %q, not to the registered redirect URI", r.header.Get("Location"))
	}
	lq := loc.Query()
	code := lq.Get("code")
	switch {
	case lq.Get("error") != "":
		return nil, stepErr("authorize", r.status, nil, "error %s: %s", lq.Get("error"), lq.Get("error_description"))
	case code == "":
		return nil, stepErr("authorize", r.status, nil, "no code in %s", loc.Redacted())
	case lq.Get("state") != state:
		return nil, stepErr("authorize", r.status, nil, "state %q, want %q", lq.Get("state"), state)
	case lq.Get("iss") != issuer:
		return nil, stepErr("authorize", r.status, nil, "iss %q, want %q", lq.Get("iss"), issuer)
	}
	c.observe(g, "code", code)

	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {RedirectURI},
		"client_id": {g.ClientID}, "code_verifier": {verifier}, "resource": {prm.Resource}}
	if err := c.token(ctx, "token", g, form); err != nil {
		return nil, err
	}
	return g, nil
}

var hiddenFieldRE = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)">`)

// consent answers a consent page with Approve, as a user would: the page's hidden fields and its cookie.
func (c *Client) consent(ctx context.Context, authURL string, page *response) (*response, error) {
	form := url.Values{"action": {"approve"}}
	for _, m := range hiddenFieldRE.FindAllStringSubmatch(string(page.body), -1) {
		form.Set(m[1], m[2])
	}
	if form.Get("csrf") == "" || form.Get("consent") == "" {
		return nil, stepErr("consent", page.status, page.body, "the consent page has no form")
	}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for _, sc := range page.header.Values("Set-Cookie") {
		cookie, _, _ := strings.Cut(sc, ";")
		h.Add("Cookie", cookie)
	}
	u, _ := url.Parse(authURL)
	u.RawQuery = ""
	return c.do(ctx, "consent", http.MethodPost, u.String(), h, []byte(form.Encode()))
}

// token posts a token request (form-encoded) and stores the answer in g.
func (c *Client) token(ctx context.Context, step string, g *Grant, form url.Values) error {
	if g.ClientSecret != "" {
		form.Set("client_secret", g.ClientSecret)
	}
	r, err := c.do(ctx, step, http.MethodPost, g.TokenEndpoint, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(form.Encode()))
	if err != nil {
		return err
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := jsonBody(step, r, http.StatusOK, &tok); err != nil {
		return err
	}
	switch {
	case tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "Bearer"):
		return stepErr(step, r.status, r.body, "no bearer access_token")
	case tok.RefreshToken == "":
		return stepErr(step, r.status, r.body, "no refresh_token")
	case tok.ExpiresIn <= 0:
		return stepErr(step, r.status, r.body, "expires_in %d", tok.ExpiresIn)
	case r.header.Get("Cache-Control") != "no-store":
		return stepErr(step, r.status, r.body, "Cache-Control %q, want no-store", r.header.Get("Cache-Control"))
	}
	g.AccessToken, g.RefreshToken = tok.AccessToken, tok.RefreshToken
	c.observe(g, "access_token", tok.AccessToken)
	c.observe(g, "refresh_token", tok.RefreshToken)
	return nil
}

// Refresh redeems g's refresh token for new tokens (stored in g).
func (c *Client) Refresh(ctx context.Context, g *Grant) error {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.RefreshToken}, "client_id": {g.ClientID}}
	return c.token(ctx, "refresh", g, form)
}

func (c *Client) observe(g *Grant, kind, value string) {
	if value != "" && c.cfg.Observe != nil {
		c.cfg.Observe(Secret{Kind: kind, Value: value, ClientID: g.ClientID})
	}
}

func pkce() (verifier, challenge string) {
	verifier = randomString(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
