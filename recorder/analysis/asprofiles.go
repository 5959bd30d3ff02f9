package analysis

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// asProfile is what is known of one authorization server product: how to recognise it and the failures MCP
// clients meet with it. One value per product in asProfiles; a quirk fires the rule "as-known-quirk".
type asProfile struct {
	Name string
	// Issuer matches the server's origin and path (as the proxy noted it, or the issuer of its metadata).
	Issuer *regexp.Regexp
	// Paths are endpoint path fragments only this product uses (in its requests or its metadata).
	Paths []string
	// Fields are vendor fields of its metadata.
	Fields []string
	Quirks []asQuirk
}

// asQuirk is one known failure: on an exchange of Stage answered with an error (a status of 400 or more, or a
// redirect carrying error=) whose body or Location contains Hint (any when empty) — or, with OnSuccess, on any
// answer containing Hint — Says what happened and Fix what to do, with Source.
type asQuirk struct {
	Stage     Stage
	Hint      string
	Says      string
	Fix       string
	Source    string
	OnSuccess bool
	// Missing, on an auth-metadata answer of 200, is a field whose absence is the quirk (Hint unused).
	Missing string
}

// asProfiles: sources are reference/clients-2026-12.md and clients-and-peers.md, and issue 17.
var asProfiles = []asProfile{
	{Name: "Keycloak", Issuer: regexp.MustCompile(`/realms/[^/]+`), Paths: []string{"/protocol/openid-connect/", "/clients-registrations/"},
		Quirks: []asQuirk{
			{StageRegister, "", "Keycloak refused the client's registration or metadata document; Keycloak up to 26.7 refuses a public client declaring the jwt-bearer grant, as Claude's metadata document does",
				"Upgrade Keycloak to 26.8 or later, or allow the client through a client policy; --watch-as shows the document and the refusal", "keycloak/keycloak#50362, PR#50411; anthropics/claude-ai-mcp#487", false, ""},
			{StageAuthorize, "client", "Keycloak refused the client (its metadata document or registration): up to 26.7 it refuses a public client declaring the jwt-bearer grant, and its CIMD executor fails on unknown or plural fields",
				"Upgrade Keycloak to 26.8 or later", "keycloak/keycloak#50362, #51039", false, ""},
		}},
	{Name: "Auth0", Issuer: regexp.MustCompile(`\.auth0\.com\b`), Paths: []string{"/oidc/register"},
		Quirks: []asQuirk{
			{StageAuthorize, "callback", "Auth0 refused the redirect URI (Callback URL mismatch): the client sent a loopback port it did not register",
				"Allow the client's loopback callback with any port in the Auth0 application, or register the exact port the client uses", "github/copilot-cli#4793", false, ""},
		}},
	{Name: "Okta", Issuer: regexp.MustCompile(`\.(okta|oktapreview|okta-emea)\.com\b`), Paths: []string{"/oauth2/v1/", "/oauth2/default/"}},
	{Name: "Microsoft Entra ID", Issuer: regexp.MustCompile(`login\.microsoftonline\.(com|us)|sts\.windows\.net|\.ciamlogin\.com`), Fields: []string{"tenant_region_scope", "cloud_instance_name"},
		Quirks: []asQuirk{
			{StageToken, "AADSTS", "Entra refused the token request; its resources are api:// audiences that a client's resource check (Claude Code) and short scope names (AADSTS9010010) trip over",
				"Use the full scope name (api://<app>/<scope>) and make the protected resource metadata's resource the MCP URL", "anthropics/claude-code#76096; anthropics/claude-ai-mcp#977", false, ""},
		}},
	{Name: "Amazon Cognito", Issuer: regexp.MustCompile(`cognito-idp\.[a-z0-9-]+\.amazonaws\.com|\.amazoncognito\.com`),
		Quirks: []asQuirk{
			{StageToken, "invalid_grant", "Cognito answered invalid_grant: it does when the authorization request carried no scope",
				"Send scope in the 401 challenge or scopes_supported in the resource metadata, so that clients ask for one", "anthropics/claude-code#90190; anthropics/claude-ai-mcp#309", false, ""},
		}},
	{Name: "WorkOS", Issuer: regexp.MustCompile(`\.authkit\.app|api\.workos\.com`)},
	{Name: "Stytch", Issuer: regexp.MustCompile(`stytch\.com`)},
	{Name: "Clerk", Issuer: regexp.MustCompile(`\.clerk\.accounts\.dev|clerk\.[a-z0-9.-]+`)},
	{Name: "Descope", Issuer: regexp.MustCompile(`api\.descope\.com`)},
	// Hydra's authorization endpoint is /oauth2/auth exactly (Spring's and Cognito's are /oauth2/authorize).
	{Name: "Ory Hydra", Issuer: regexp.MustCompile(`\.oryapis\.com|/oauth2/auth(\s|\?|$)`), Paths: []string{"/oauth2/register", "/oauth2/sessions/"},
		Quirks: []asQuirk{
			{Stage: StageAuthorize, Hint: "invalid_state", Says: "Hydra refused the authorization request: it wants a state of at least 8 characters",
				Fix: "The client must send a state of 8 characters or more", Source: "ory/hydra v2.3.0 (measured: e2e TestProxyHydraLoginOnAnotherOriginIsSaid)"},
			{Stage: StageRegister, Hint: `"client_uri":""`, OnSuccess: true, Says: "Hydra echoes the fields a registration left out as empty strings and nulls (client_uri \"\", contacts null), which the TypeScript SDK's client (1.32) refuses (\"Invalid URL\", \"expected array, received null\")",
				Fix: "Send client_uri, logo_uri, tos_uri, policy_uri and contacts in the registration", Source: "ory/hydra v2.3.0 with @modelcontextprotocol/sdk 1.32.2 (measured: e2e)"},
			{Stage: StageAuthMetadata, Missing: "registration_endpoint", Says: "Hydra leaves registration_endpoint out of its metadata unless webfinger.oidc_discovery.client_registration_url is set, even with dynamic registration on: clients say it does not support dynamic client registration",
				Fix: "Set webfinger.oidc_discovery.client_registration_url (WEBFINGER_OIDC_DISCOVERY_CLIENT_REGISTRATION_URL) to <public URL>/oauth2/register", Source: "ory/hydra v2.3.0 driver/config/provider.go OAuth2ClientRegistrationURL (measured: e2e)"},
		}},
	{Name: "Dex", Paths: []string{"/dex/"}},
	{Name: "node-oidc-provider", Paths: []string{"/interaction/"}, Fields: []string{"claims_parameter_supported", "request_object_signing_alg_values_supported"}},
}

// anyASQuirk applies to every product: the client authenticated with private_key_jwt where the server knows none.
var anyASQuirk = asQuirk{StageToken, "invalid_client", "the authorization server refused the client's authentication: ChatGPT signs a private_key_jwt assertion, which servers that only know none refuse",
	"List private_key_jwt in token_endpoint_auth_methods_supported, or leave it out so that the client falls back to none", "PostHog/posthog#80787", false, ""}

// asProfileOf recognises the product behind an authorization server's exchange: by its origin (the proxy's note),
// the request path, and for a metadata document its issuer and vendor fields. nil: not recognised.
func asProfileOf(ex *recorder.Exchange) *asProfile {
	where := ex.Note("authorization-server") + " " + ex.Path()
	md := object(ex.RespBody.Data)
	if iss := str(md, "issuer"); iss != "" {
		where += " " + iss + " " + str(md, "authorization_endpoint")
	}
	for i := range asProfiles {
		p := &asProfiles[i]
		if p.Issuer != nil && p.Issuer.MatchString(where) {
			return p
		}
		for _, s := range p.Paths {
			if strings.Contains(where, s) {
				return p
			}
		}
		for _, f := range p.Fields {
			if has(md, f) {
				return p
			}
		}
	}
	return nil
}

// checkASQuirks fires as-unproxyable where the proxy noted that a page or redirect of the watched server cannot
// work through it, and as-known-quirk on a refused authorization step of an external server watched through the
// proxy whose product is known and has a quirk for that step (or on the quirk every product shares).
func (a *Analyzer) checkASQuirks(r *exRec, ex *recorder.Exchange, c *conn) {
	if why := ex.Note("as-unproxyable"); why != "" {
		a.fire(r, c, ruleASUnproxyable, strings.ToUpper(why[:1])+why[1:]+".")
	}
	if ex.Note("authorization-server") == "" {
		return // judged only on an external server watched through the proxy's second listener
	}
	failed := ex.Status >= 400
	if l := location(ex); l != nil && l.Query().Get("error") != "" {
		failed = true
	}
	switch r.stage() {
	case StageAuthMetadata, StageRegister, StageAuthorize, StageLogin, StageConsent, StageToken, StageRefresh:
	default:
		return
	}
	body := strings.ToLower(bodyText(ex, 4096) + header(ex.RespHeaders, "Location"))
	body = strings.ReplaceAll(body, `": "`, `":"`) // "client_uri": "" as well as "client_uri":""
	name := "The authorization server"
	var quirks []asQuirk
	if p := asProfileOf(ex); p != nil {
		name, quirks = p.Name, p.Quirks
	}
	if strings.Contains(string(ex.ReqBody.Data), "client_assertion") {
		quirks = append(quirks, anyASQuirk)
	}
	for _, q := range quirks {
		if q.Missing != "" {
			if q.Stage == r.stage() && ex.Status == 200 && object(ex.RespBody.Data) != nil && !has(object(ex.RespBody.Data), q.Missing) {
				a.fire(r, c, ruleASKnownQuirk, fmt.Sprintf("%s's metadata (%s) has no %s: %s. %s (%s).", name, ex.Path(), q.Missing, q.Says, q.Fix, q.Source))
				return
			}
			continue
		}
		if q.Stage == r.stage() && (failed || q.OnSuccess && q.Hint != "") && (q.Hint == "" || strings.Contains(body, strings.ToLower(q.Hint))) {
			a.fire(r, c, ruleASKnownQuirk, fmt.Sprintf("%s answered %s %s with %d: %s. %s (%s).", name, ex.Method, ex.Path(), ex.Status, q.Says, q.Fix, q.Source))
			return
		}
	}
}
