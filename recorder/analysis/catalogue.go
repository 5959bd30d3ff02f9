package analysis

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// Rule is one diagnosis the analysis can make. Findings carry the rule's id, severity, fix and source, and a
// summary sentence written for the exchange at hand.
type Rule struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`  // what the rule detects, in a few words
	Fix      string   `json:"fix"`    // what to change
	Source   string   `json:"source"` // spec section, RFC, or issue the rule comes from
	// Toggles are the toggles (server/toggle, by name) that can produce this rule (their Causes, registered with
	// RegisterToggle); a finding names a toggle that altered its exchange only when it is one of them.
	Toggles []string `json:"toggles,omitempty"`

	check func(ex *recorder.Exchange, stage Stage) string // an exchangeRule's check
}

// catalogue holds every rule in declaration order (the order of the var block below: rule is called as each
// variable is initialized, and Go initializes variables in declaration order once what they depend on is; these
// three are declared first so that every rule can be). A rule whose check read a package variable declared
// after it would be initialized late, out of order: TestFindingsDoc (docs/findings.md) would say so.
// ruleIndex finds a rule by id.
var (
	catalogue     []*Rule
	ruleIndex     = map[string]*Rule{}
	exchangeRules []*Rule // the rules with a check of their own, run on every inbound exchange the server answered
)

// RuleID names a rule: the id a finding carries, and what server/toggle's toggles list as the rules they can cause.
// Each rule's id is one of these constants, declared in the order of the rules below.
type RuleID string

// The rule ids.
const (
	RuleChallengeNoWWWAuthenticate             RuleID = "challenge-no-www-authenticate"
	RuleChallengeNoResourceMetadata            RuleID = "challenge-no-resource-metadata"
	RuleChallengeRelativeResourceMetadata      RuleID = "challenge-relative-resource-metadata"
	RuleChallengeResourceMetadataLoopback      RuleID = "challenge-resource-metadata-loopback"
	RuleChallengeNoScope                       RuleID = "challenge-no-scope"
	RuleWWWAuthenticateNon401                  RuleID = "www-authenticate-non-401"
	RuleMetadataBehindAuth                     RuleID = "metadata-behind-auth"
	RuleResourceMetadataMismatch               RuleID = "resource-metadata-mismatch"
	RuleResourceMetadataNoAuthorizationServers RuleID = "resource-metadata-no-authorization-servers"
	RuleResourceMetadataUnreachable            RuleID = "resource-metadata-unreachable"
	RuleAuthMetadataUnreachable                RuleID = "auth-metadata-unreachable"
	RuleAuthMetadataIncomplete                 RuleID = "auth-metadata-incomplete"
	RuleAuthMetadataNoS256                     RuleID = "auth-metadata-no-s256"
	RuleAuthMetadataIssuerMismatch             RuleID = "auth-metadata-issuer-mismatch"
	RuleAuthMetadataNoRegistration             RuleID = "auth-metadata-no-registration"
	RuleAuthMetadataCIMDNeedsNone              RuleID = "auth-metadata-cimd-needs-none"
	RuleRegistrationNeverAttempted             RuleID = "registration-never-attempted"
	RuleClientMetadataNotServed                RuleID = "client-metadata-not-served"
	RuleCORSMissing                            RuleID = "cors-missing"
	RuleCORSWWWAuthenticateHidden              RuleID = "cors-www-authenticate-hidden"
	RuleRegisterRejected                       RuleID = "register-rejected"
	RuleRegisterInsecureRedirect               RuleID = "register-insecure-redirect"
	RuleRegisterSecretUnused                   RuleID = "register-secret-unused"
	RuleClientMetadataFetchFailed              RuleID = "client-metadata-fetch-failed"
	RuleClientMetadataInvalid                  RuleID = "client-metadata-invalid"
	RuleAuthorizePKCEMissing                   RuleID = "authorize-pkce-missing"
	RuleAuthorizeNoResource                    RuleID = "authorize-no-resource"
	RuleResourceMismatch                       RuleID = "resource-mismatch"
	RuleStaleClientID                          RuleID = "stale-client-id"
	RuleRedirectUriNotRegistered               RuleID = "redirect-uri-not-registered"
	RuleAuthorizeFailed                        RuleID = "authorize-failed"
	RuleAuthorizeError                         RuleID = "authorize-error"
	RuleConsentDenied                          RuleID = "consent-denied"
	RuleInvalidScope                           RuleID = "invalid-scope"
	RuleAuthorizeNoToken                       RuleID = "authorize-no-token"
	RuleTokenMethodNotAllowed                  RuleID = "token-method-not-allowed"
	RuleTokenInvalidGrant                      RuleID = "token-invalid-grant"
	RuleTokenInvalidClient                     RuleID = "token-invalid-client"
	RuleTokenInvalidTarget                     RuleID = "token-invalid-target"
	RuleTokenError                             RuleID = "token-error"
	RuleIDJAGUnsupported                       RuleID = "id-jag-unsupported"
	RuleTokenResponseInvalid                   RuleID = "token-response-invalid"
	RuleTokenNoStore                           RuleID = "token-no-store"
	RuleTokenIssuedUnused                      RuleID = "token-issued-unused"
	RuleTokenRejected                          RuleID = "token-rejected"
	RuleTokenExpiredNoRefresh                  RuleID = "token-expired-no-refresh"
	RuleRefreshRejected                        RuleID = "refresh-rejected"
	RuleRefreshTokenRace                       RuleID = "refresh-token-race"
	RuleRefreshTokenReplay                     RuleID = "refresh-token-replay"
	RuleRegisterInsteadOfRefresh               RuleID = "register-instead-of-refresh"
	RuleTokenInQuery                           RuleID = "token-in-query"
	RuleMCPRedirect                            RuleID = "mcp-redirect"
	RuleMCPNotFound                            RuleID = "mcp-not-found"
	RuleInitializeFailed                       RuleID = "initialize-failed"
	RuleInitializeNoSessionID                  RuleID = "initialize-no-session-id"
	RuleInitializedMissing                     RuleID = "initialized-missing"
	RuleSessionNeverEchoed                     RuleID = "session-never-echoed"
	RuleSessionNotEchoed                       RuleID = "session-not-echoed"
	RuleSessionStale                           RuleID = "session-stale"
	RuleSessionNoReinit                        RuleID = "session-no-reinit"
	RuleProtocolVersionMismatch                RuleID = "protocol-version-mismatch"
	RuleProtocolVersionHeaderMetaMismatch      RuleID = "protocol-version-header-meta-mismatch"
	RuleProtocolVersionHeaderMetaAccepted      RuleID = "protocol-version-header-meta-accepted"
	RuleProtocolVersionHeaderMissing           RuleID = "protocol-version-header-missing"
	RuleDiscoverFallback                       RuleID = "discover-fallback"
	RuleDiscoverNoFallback                     RuleID = "discover-no-fallback"
	RuleGetStream405                           RuleID = "get-stream-405"
	RuleSSEBufferedTunnel                      RuleID = "sse-buffered-tunnel"
	RuleToolsNeverListed                       RuleID = "tools-never-listed"
	RuleToolNotListed                          RuleID = "tool-not-listed"
	RuleWrongJSONRPCID                         RuleID = "wrong-jsonrpc-id"
	RuleHostForbidden                          RuleID = "host-forbidden"
	RuleBotBlocked                             RuleID = "bot-blocked"
	RuleServerError                            RuleID = "server-error"
	RuleSlowResponse                           RuleID = "slow-response"
	RuleUpstreamURLRewritten                   RuleID = "upstream-url-rewritten"
	RuleASKnownQuirk                           RuleID = "as-known-quirk"
	RuleASUnproxyable                          RuleID = "as-unproxyable"
	RuleUpstreamUnreachable                    RuleID = "upstream-unreachable"
)

// Sources: "S26/…", "S1125/…" are files of the MCP specification (reference/spec-checklist.md); issue refs
// without a repository are anthropics/claude-ai-mcp#N, CC#N is anthropics/claude-code#N
// (reference/clients-and-peers.md).
var (
	// Discovery: the 401 challenge.
	ruleChallengeNoWWWAuthenticate = rule(RuleChallengeNoWWWAuthenticate, SeverityError, "401 without WWW-Authenticate",
		`Answer 401 with WWW-Authenticate: Bearer resource_metadata="<absolute URL of the protected resource metadata>".`,
		"RFC 6750 §3; S0618/basic/authorization.mdx §Authorization Server Location; KeeperHub/keeperhub#954")
	ruleChallengeNoResourceMetadata = rule(RuleChallengeNoResourceMetadata, SeverityWarn, "401 challenge without resource_metadata",
		`Add resource_metadata="<absolute URL>" to the Bearer challenge; Claude reports "Couldn't reach the MCP server" without it. Clients that probe the well-known URLs themselves (Claude Code 2.1.332 connects) get through.`,
		"RFC 9728 §5.1; S0618/basic/authorization.mdx (MUST on every 401); hoeloe15/imagine#36; reference/clients-2026-12.md §2 (Discovery)")
	ruleChallengeRelativeResourceMetadata = rule(RuleChallengeRelativeResourceMetadata, SeverityError, "resource_metadata is not an absolute URL",
		"Send resource_metadata as an absolute https URL built from the public (tunnel) host.",
		"RFC 9728 §5.1; anthropics/claude-ai-mcp#335, #134")
	ruleChallengeResourceMetadataLoopback = rule(RuleChallengeResourceMetadataLoopback, SeverityError, "resource_metadata points at a loopback host",
		"Build the URL from the host the client used (behind a tunnel: X-Forwarded-Host, or mcpwatch --public-url); the client cannot fetch localhost.",
		"RFC 9728 §5.1; seed document (tunnel host hard-coded in McpController)")
	ruleChallengeNoScope = rule(RuleChallengeNoScope, SeverityWarn, "challenge without scope, then invalid_scope",
		`Add scope="<the scopes this server needs>" to the 401 challenge; without it Claude asks for every scope the authorization server advertises.`,
		"S26/basic/authorization/index.mdx §Scope Selection Strategy; tldraw/tldraw#10612; #840")
	ruleWWWAuthenticateNon401 = rule(RuleWWWAuthenticateNon401, SeverityWarn, "WWW-Authenticate on a success response",
		"Send the Bearer challenge with status 401; clients ignore it on a 2xx.",
		"RFC 6750 §3; hoeloe15/imagine#36 (citing Anthropic's docs)")

	// Protected resource metadata (RFC 9728).
	ruleMetadataBehindAuth = rule(RuleMetadataBehindAuth, SeverityError, "metadata document requires a token",
		"Serve /.well-known/oauth-protected-resource and the authorization server metadata without authentication (put them outside the bearer middleware).",
		"RFC 9728 §3; RFC 8414 §3; jimprosser/obsidian-web-mcp#18")
	ruleResourceMetadataMismatch = rule(RuleResourceMetadataMismatch, SeverityError, "resource metadata names another resource",
		"Set resource to exactly the MCP URL the client uses (scheme, public host, path, no trailing slash); a path-suffixed document's resource is the origin plus that path.",
		"RFC 9728 §3.3; akutishevsky/withings-mcp#20; elgorro/aiquila#77")
	ruleResourceMetadataNoAuthorizationServers = rule(RuleResourceMetadataNoAuthorizationServers, SeverityError, "resource metadata without authorization_servers",
		"List at least one authorization server issuer in authorization_servers.",
		"S26/basic/authorization/authorization-server-discovery.mdx §Authorization Server Location; RFC 9728 §2")
	ruleResourceMetadataUnreachable = rule(RuleResourceMetadataUnreachable, SeverityError, "no protected resource metadata found",
		"Serve the document at /.well-known/oauth-protected-resource/<mcp path> and at the root, and name it in the 401 challenge.",
		"S1125/basic/authorization.mdx §Protected Resource Metadata Discovery Requirements; #76; #690")

	// Authorization server metadata (RFC 8414 / OpenID discovery).
	ruleAuthMetadataUnreachable = rule(RuleAuthMetadataUnreachable, SeverityError, "no authorization server metadata found",
		"Serve RFC 8414 metadata at /.well-known/oauth-authorization-server (and /.well-known/openid-configuration); without it Claude guesses /authorize, /token and /register on the MCP host.",
		"RFC 8414 §3; S0326/basic/authorization.mdx §Fallbacks; anthropics/claude-ai-mcp drafts/announcement-auth-server-metadata-fallback-deprecation.md; #82")
	ruleAuthMetadataIncomplete = rule(RuleAuthMetadataIncomplete, SeverityError, "authorization server metadata misses required fields",
		"Include issuer, authorization_endpoint, token_endpoint and response_types_supported [\"code\"].",
		"RFC 8414 §2")
	ruleAuthMetadataNoS256 = rule(RuleAuthMetadataNoS256, SeverityError, "authorization server metadata without S256",
		`Add "code_challenge_methods_supported": ["S256"]; MCP clients must refuse to proceed without it.`,
		"S26/basic/authorization/security-considerations.mdx §Authorization Code Protection; RFC 7636")
	ruleAuthMetadataIssuerMismatch = rule(RuleAuthMetadataIssuerMismatch, SeverityError, "issuer differs from the metadata URL",
		"Make issuer byte-identical to the URL the well-known path was built from (no trailing slash unless the path has one).",
		"RFC 8414 §3.3; S26/basic/authorization/authorization-server-discovery.mdx")
	ruleAuthMetadataNoRegistration = rule(RuleAuthMetadataNoRegistration, SeverityWarn, "no registration_endpoint and no client ID metadata documents",
		`Advertise a registration_endpoint (RFC 7591) or "client_id_metadata_document_supported": true; otherwise Claude says "Couldn't register" and Claude Code "Incompatible auth server".`,
		"#350; NateBJones-Projects/OB1#340; render-oss/render-mcp-server#25")
	ruleAuthMetadataCIMDNeedsNone = rule(RuleAuthMetadataCIMDNeedsNone, SeverityInfo, `client ID metadata documents advertised without "none"`,
		`Add "none" to token_endpoint_auth_methods_supported; Claude uses a metadata document only then, and silently registers with DCR otherwise.`,
		"brendanlong/lion-reader#1519; dropseed/plain#108; claude.com/docs/connectors/building/authentication")
	ruleRegistrationNeverAttempted = rule(RuleRegistrationNeverAttempted, SeverityError, "the client read the metadata and never registered",
		`Offer a registration path the client takes: a registration_endpoint (RFC 7591), or "client_id_metadata_document_supported": true with "none" in token_endpoint_auth_methods_supported; otherwise give the client a pre-registered client id. Claude Code says "Incompatible auth server: does not support dynamic client registration"; the MCP Inspector stops without a word.`,
		"S26/basic/authorization/client-registration.mdx; reference/clients-2026-12.md §2 (CC#67258 via CC#90190), §17")
	ruleClientMetadataNotServed = rule(RuleClientMetadataNotServed, SeverityError, "client ID metadata document URL answers no document",
		"The client's document URL answered the server's fetch with a bot challenge (403 HTML, cf-mitigated), 404 or an HTML page: nothing the server can change but where it fetches from; Claude's document was behind a Cloudflare managed challenge for datacenter fetchers (2026-09-02). Offer dynamic registration as well, so the client can fall back.",
		"reference/clients-2026-12.md §1 (idx:59670257790; idx:54599333340); S26/basic/authorization/client-registration.mdx §Client ID Metadata Documents")
	ruleCORSMissing = rule(RuleCORSMissing, SeverityWarn, "no CORS on a browser request",
		"Answer metadata, registration, token and MCP requests with Access-Control-Allow-Origin (and answer the preflight); browser-based clients such as the MCP Inspector run OAuth in the page.",
		"lightdash/lightdash#23091; MCPJam/inspector#331; cloudflare/workers-oauth-provider addCorsHeaders")
	ruleCORSWWWAuthenticateHidden = rule(RuleCORSWWWAuthenticateHidden, SeverityWarn, "WWW-Authenticate not exposed to the browser",
		"Add Access-Control-Expose-Headers: WWW-Authenticate so a browser client can read the challenge.",
		"Infisical/infisical#5192; doitintl/doit-mcp-server#181")

	// Registration (RFC 7591) and client ID metadata documents.
	ruleRegisterRejected = rule(RuleRegisterRejected, SeverityError, "client registration rejected",
		"Accept the client's redirect URIs: allow both https://claude.ai/api/mcp/auth_callback and https://claude.com/api/mcp/auth_callback, ChatGPT's per-connector https://chatgpt.com/connector/oauth/<id>, all three of Cursor's, and loopback URIs on any port.",
		"RFC 7591 §3.2.2; support.claude.com/…/11503834; erp-mafia/accounted#77, #2225; microsoft/vscode#278512")
	ruleRegisterInsecureRedirect = rule(RuleRegisterInsecureRedirect, SeverityWarn, "registered a plain-http redirect URI that is not loopback",
		"Refuse redirect URIs that are neither https nor loopback (invalid_redirect_uri).",
		"S26/basic/authorization/security-considerations.mdx §Communication Security; RFC 8252 §7.3")
	ruleRegisterSecretUnused = rule(RuleRegisterSecretUnused, SeverityWarn, "client secret issued but never sent",
		`Treat the client as public: register it with token_endpoint_auth_method "none" and do not require the secret.`,
		"seed document (Claude never sends the secret); anthropics/claude-ai-mcp#158")
	ruleClientMetadataFetchFailed = rule(RuleClientMetadataFetchFailed, SeverityError, "client ID metadata document could not be fetched",
		"Let the server reach the client_id URL over https (no proxy or firewall in the way), within its timeout.",
		"S26/basic/authorization/client-registration.mdx §Client ID Metadata Documents; cloudflare/workers-oauth-provider README")
	ruleClientMetadataInvalid = rule(RuleClientMetadataInvalid, SeverityError, "client ID metadata document is invalid",
		"The document must be JSON whose client_id equals its URL exactly and that names client_name and redirect_uris.",
		"S26/basic/authorization/client-registration.mdx §Client ID Metadata Documents")

	// Authorization.
	ruleAuthorizePKCEMissing = rule(RuleAuthorizePKCEMissing, SeverityError, "authorization request without S256 PKCE",
		"Send code_challenge with code_challenge_method=S256 (and the authorization server must require it).",
		"OAuth 2.1 §4.1.1; S26/basic/authorization/security-considerations.mdx §Authorization Code Protection")
	ruleAuthorizeNoResource = rule(RuleAuthorizeNoResource, SeverityInfo, "authorization request without resource",
		"From protocol 2025-06-18 on, clients must send resource (RFC 8707) with the MCP server's canonical URL (judged once the connection's version is known; earlier revisions are not asked); a server that needs it should say so in its error.",
		"RFC 8707 §2; S26/basic/authorization/index.mdx §Resource Parameter Implementation")
	ruleResourceMismatch = rule(RuleResourceMismatch, SeverityWarn, "resource parameter differs from the MCP URL",
		"The resource the client asks for must be the MCP URL it calls; check the public URL the resource metadata advertises.",
		"RFC 8707 §2; S26/basic/authorization/index.mdx §Resource Parameter Implementation; #299")
	ruleStaleClientID = rule(RuleStaleClientID, SeverityWarn, "client id from an earlier run",
		"Persist registrations across restarts (mcpwatch --state), answer the token endpoint with 401 invalid_client to make the client register again, or have the client forget it (remove and re-add the connector; rm -rf ~/.mcp-auth for mcp-remote).",
		"seed document (Claude keeps the client per domain); #350; CC#4760; punkpeye/mcp-remote#11")
	ruleRedirectUriNotRegistered = rule(RuleRedirectUriNotRegistered, SeverityError, "redirect URI not among the registered ones",
		"Register every redirect URI the client uses (loopback URIs match on any port); a client whose callback port changed must register again.",
		"RFC 6749 §3.1.2.2; punkpeye/mcp-remote#72; microsoft/vscode#278512")
	ruleAuthorizeFailed = rule(RuleAuthorizeFailed, SeverityError, "authorization request refused",
		"Read the error page: unknown client, unregistered redirect URI or a malformed request; fix the client's registration or the request.",
		"RFC 6749 §4.1.2.1; S26/basic/authorization/security-considerations.mdx §Open Redirection")
	ruleAuthorizeError = rule(RuleAuthorizeError, SeverityError, "authorization ended with an error redirect",
		"The error parameter of the redirect names the cause; fix the request or the server's policy.",
		"RFC 6749 §4.1.2.1")
	ruleConsentDenied = rule(RuleConsentDenied, SeverityInfo, "the user denied consent",
		"Nothing to fix if the denial was intended; the client reports a failed authorization.",
		"RFC 6749 §4.1.2.1 (access_denied)")
	ruleInvalidScope = rule(RuleInvalidScope, SeverityError, "the client asked for a scope the server refused",
		`Name the scopes the server needs in the 401 challenge (scope="…") and accept what clients send (Claude once sent "claudeai"); keep scopes_supported minimal.`,
		"tldraw/tldraw#10612; modelcontextprotocol/modelcontextprotocol#653; #977")
	ruleAuthorizeNoToken = rule(RuleAuthorizeNoToken, SeverityError, "authorization code issued, no token request followed",
		"Check what the client got at its callback (code, state and iss must be there) and that the token endpoint is reachable from the client's network; Claude shows \"Authorization with the MCP server failed\" (mcp_token_exchange_failed).",
		"#215; #313; #340; #480; akutishevsky/withings-mcp#29")

	// Token.
	ruleTokenMethodNotAllowed = rule(RuleTokenMethodNotAllowed, SeverityError, "token endpoint refused the POST",
		"Route POST to the token endpoint the metadata advertises (check gateway and trailing-slash rules).",
		"RFC 6749 §3.2; #313")
	ruleTokenInvalidGrant = rule(RuleTokenInvalidGrant, SeverityError, "token request refused: invalid_grant",
		"The code was unknown, expired, reused, issued to another client, or the code_verifier or redirect_uri did not match the authorization request.",
		"RFC 6749 §5.2; OAuth 2.1 §4.1.3; RFC 7636 §4.6")
	ruleTokenInvalidClient = rule(RuleTokenInvalidClient, SeverityError, "token request refused: invalid_client",
		"Check how the client authenticates (none for public clients); a 401 invalid_client makes Claude register again.",
		"RFC 6749 §5.2; support.anthropic.com/…/11503834")
	ruleTokenInvalidTarget = rule(RuleTokenInvalidTarget, SeverityError, "token request refused: invalid_target",
		"Accept the MCP URL (as the client sends it, with or without a trailing slash) as the resource.",
		"RFC 8707 §2; go-sdk oauthex/audience.go")
	ruleTokenError = rule(RuleTokenError, SeverityError, "token request refused",
		"The error code in the response names the cause (RFC 6749 §5.2).",
		"RFC 6749 §5.2")
	ruleIDJAGUnsupported = rule(RuleIDJAGUnsupported, SeverityError, "Enterprise-Managed Authorization grant (ID-JAG) refused",
		"The connector uses Enterprise-Managed Authorization (Claude Team/Enterprise): it sends grant_type urn:ietf:params:oauth:grant-type:jwt-bearer with an ID-JAG from the organisation's identity provider, and no browser. Accept that grant (verify the assertion with the identity provider's keys; check typ oauth-id-jag+jwt, aud = this authorization server, client_id = the authenticated client, resource = this MCP server; then issue an access token), or turn Enterprise-Managed Authorization off for this connector so that the client uses the authorization code flow. mcpwatch's own server does not accept ID-JAGs.",
		"RFC 7523 §2.1; draft-ietf-oauth-identity-assertion-authz-grant; claude.com/docs/connectors/building/enterprise-managed-auth; clients-2026-12.md §1 (EMA)")
	ruleTokenResponseInvalid = rule(RuleTokenResponseInvalid, SeverityError, "token response without access_token or token_type",
		`Answer 200 with JSON {"access_token", "token_type": "Bearer", "expires_in", "refresh_token"}.`,
		"RFC 6749 §5.1; conformance authorization-code-grant")
	ruleTokenNoStore = rule(RuleTokenNoStore, SeverityWarn, "token response may be cached",
		"Send Cache-Control: no-store with every token response.",
		"RFC 6749 §5.1; conformance authorization-code-grant")
	ruleTokenIssuedUnused = rule(RuleTokenIssuedUnused, SeverityWarn, "token issued but never used",
		"The client got a token and never called the MCP server with it: check that the token response is what it expects (JSON, token_type Bearer, 200) and that the MCP URL it will call is the one it was given.",
		"#215; #566; #690")
	ruleTokenRejected = rule(RuleTokenRejected, SeverityError, "the MCP endpoint rejected a token the server issued",
		"Validate the audience against the resource the token was issued for (tolerate a trailing slash) and the issuer that issued it; Claude shows \"the integration rejected the credentials\".",
		"S26/basic/authorization/index.mdx §Access Token Usage; #299; #566; go-sdk oauthex/audience.go")
	ruleTokenExpiredNoRefresh = rule(RuleTokenExpiredNoRefresh, SeverityWarn, "token expired and no refresh was attempted",
		"Issue a refresh token (without requiring offline_access) and keep access tokens long enough; Claude's refresh is unreliable and it shows \"Connection has expired\".",
		"#228; #702; #840; CC#65036")
	ruleRefreshRejected = rule(RuleRefreshRejected, SeverityError, "refresh token refused",
		"Rotate refresh tokens with a grace period for the previous one (a retried refresh must not revoke the grant).",
		"OAuth 2.1 §4.3.1; cloudflare/workers-oauth-provider (refresh rotation)")
	ruleRefreshTokenRace = rule(RuleRefreshTokenRace, SeverityWarn, "one refresh token used twice at once from two addresses",
		"Tolerate it: keep the previous refresh token valid for a short grace window after rotation (return the same new pair), since Claude's egress nodes refresh in parallel; refusing makes Claude register again and ask for consent.",
		"reference/clients-2026-12.md §1 Token (PrefectHQ/fastmcp#4264), §2 Token (CC#85236); OAuth 2.1 §4.3.1")
	ruleRefreshTokenReplay = rule(RuleRefreshTokenReplay, SeverityWarn, "a rotated refresh token presented again",
		"Refuse a rotated refresh token outside the grace window (invalid_grant) and revoke its grant if it looks stolen (OAuth 2.1 §4.3.1); a client that replays its own old token lost the new one (Claude Code's concurrent sessions, CC#85236).",
		"OAuth 2.1 §4.3.1; reference/clients-2026-12.md §2 Token (CC#85236; CC#84440)")
	ruleRegisterInsteadOfRefresh = rule(RuleRegisterInsteadOfRefresh, SeverityInfo, "the client registered again instead of refreshing",
		"Nothing breaks if registration stays open, but each run mints a client and orphans its refresh token (Claude Code re-runs DCR on every authenticate); prune unused registrations, and answer invalid_grant (not invalid_client) to a dead refresh token so the client refreshes or re-authorizes.",
		"reference/clients-2026-12.md §2 Registration (CC#59460), §1 Token (support.claude.com 11503834)")
	_ = exchangeRule(RuleTokenInQuery, SeverityError, "access token in the URL query",
		"Send the token only in the Authorization: Bearer header.",
		"S26/basic/authorization/index.mdx §Access Token Usage",
		func(ex *recorder.Exchange, stage Stage) string {
			if (mcpStage(stage) || stage == StageChallenge) && query(ex).Get("access_token") != "" {
				return fmt.Sprintf("%s carries access_token in its query string.", ex.Method+" "+ex.Path())
			}
			return ""
		})

	// MCP transport and lifecycle.
	ruleMCPRedirect = rule(RuleMCPRedirect, SeverityError, "MCP endpoint answered with a redirect",
		"Serve the MCP endpoint at the exact path the client uses (no trailing-slash redirect); clients do not follow a 307 on HEAD or POST.",
		"PrefectHQ/fastmcp#1466")
	ruleMCPNotFound = rule(RuleMCPNotFound, SeverityError, "no MCP endpoint at this URL",
		"Use the MCP endpoint's full URL (e.g. https://host/mcp) in the connector; requests go to the exact URL entered.",
		"#62; #930")
	ruleInitializeFailed = rule(RuleInitializeFailed, SeverityError, "initialize refused",
		"Answer initialize with a result carrying protocolVersion (the requested one if supported, else the server's latest), capabilities and serverInfo.",
		"S1125/basic/lifecycle.mdx §Initialization, §Version Negotiation")
	ruleInitializeNoSessionID = rule(RuleInitializeNoSessionID, SeverityWarn, "initialize answered without Mcp-Session-Id",
		"Issue an Mcp-Session-Id with the initialize result; Claude does not go on to list tools without one.",
		"seed document; S1125/basic/transports.mdx §Session Management")
	ruleInitializedMissing = rule(RuleInitializedMissing, SeverityWarn, "notifications/initialized never sent",
		"Look for a session id the client did not echo, or a response it could not read (SSE buffered by a proxy); the client stalled after initialize.",
		"S1125/basic/lifecycle.mdx §Initialization; #473; #99")
	ruleSessionNeverEchoed = rule(RuleSessionNeverEchoed, SeverityWarn, "client never echoes the session id",
		"Claude's connectors never echo Mcp-Session-Id (0 of 30 requests carried it although 23 initialize responses set it) and send initialize again before calls: run stateless, or tolerate a missing id, for it.",
		"S1125/basic/transports.mdx §Session Management; reference/clients-2026-12.md §1 Opening, Known failure modes (cam#975; cam#473)")
	ruleSessionNotEchoed = rule(RuleSessionNotEchoed, SeverityWarn, "client dropped the session id",
		"The client echoed Mcp-Session-Id and then sent a request without it (a second transport, a restart of its HTTP client): tolerate a missing id, or answer 400 so that the client notices.",
		"S1125/basic/transports.mdx §Session Management; #583; #99")
	ruleSessionStale = rule(RuleSessionStale, SeverityWarn, "session id from an earlier run",
		"Answer an unknown session with 404 (the client must initialize again); persist or tolerate sessions across restarts if clients do not.",
		"S1125/basic/transports.mdx §Session Management; #450; CC#48557; CC#27425")
	ruleSessionNoReinit = rule(RuleSessionNoReinit, SeverityError, "session ended and the client did not initialize again",
		"Clients must send a new initialize after a 404 for their session; Claude Code does not (restart it), or run the server stateless.",
		"S1125/basic/transports.mdx §Session Management; CC#8338; CC#9608; #450")
	ruleProtocolVersionMismatch = rule(RuleProtocolVersionMismatch, SeverityWarn, "MCP-Protocol-Version differs from the negotiated version",
		"Accept the negotiated version on the session (mcpwatch rewrites a 2026-07-28 header on a legacy session); clients must send the version they negotiated.",
		"S1125/basic/transports.mdx §Protocol Version Header; CodeWithCJ/SparkyFitness#2155; CC#92835")
	ruleProtocolVersionHeaderMetaMismatch = rule(RuleProtocolVersionHeaderMetaMismatch, SeverityWarn, "MCP-Protocol-Version header disagrees with _meta",
		"Accept the request by its _meta protocol version (2026-07-28) when the header names another version you support (2025-11-25): Claude through connectors sends them that way after server/discover, and a strict stateless server's 400 -32020 (HeaderMismatch) is relayed as -32603 while every tool call fails and the UI says connected.",
		"reference/clients-2026-12.md §1 Identity, Opening (CC#93290); Contradictions 19 (-32020 in released 2026-07-28)")
	ruleProtocolVersionHeaderMetaAccepted = rule(RuleProtocolVersionHeaderMetaAccepted, SeverityInfo, "MCP-Protocol-Version header disagrees with _meta; the server accepted it",
		"Nothing to change on this server: it serves such a request by its _meta protocol version. Keep doing so — Claude through connectors sends a 2025-11-25 header with _meta 2026-07-28 after server/discover, and a strict stateless server refuses it with 400 -32020 (HeaderMismatch) while every tool call fails and the UI says connected (the toggle strict-version-header shows that).",
		"reference/clients-2026-12.md §1 Identity, Opening (CC#93290); Contradictions 19 (-32020 in released 2026-07-28)")
	ruleProtocolVersionHeaderMissing = rule(RuleProtocolVersionHeaderMissing, SeverityWarn, "MCP-Protocol-Version header missing",
		"Clients must send MCP-Protocol-Version on every request after initialize; servers assume 2025-03-26 without it.",
		"S1125/basic/transports.mdx §Protocol Version Header; #70")
	ruleDiscoverFallback = rule(RuleDiscoverFallback, SeverityInfo, "server/discover unsupported; the client fell back to initialize",
		"Serve server/discover (2026-07-28) to skip the fallback; the legacy handshake works meanwhile.",
		"S26/server/discover.mdx; hauptsacheNet/typo3-mcp-server#110; go-sdk PR #1014")
	ruleDiscoverNoFallback = rule(RuleDiscoverNoFallback, SeverityError, "server/discover refused and the client gave up",
		"Serve server/discover, or answer it with -32601 (method not found) so clients fall back to initialize.",
		"S26/server/discover.mdx; S26/basic/versioning.mdx §Backward Compatibility; go-sdk PR #1014")
	ruleGetStream405 = rule(RuleGetStream405, SeverityWarn, "GET stream answered 405 on a session",
		"The spec allows 405 (and 2026-07-28 requires it); serve the GET event stream on legacy sessions if a client needs server-initiated messages. Claude Code 2.1.332 connects without it (an older report said 2.1.84 failed).",
		"S1125/basic/transports.mdx §Listening for Messages from the Server; CC#39790 (older report); reference/clients-2026-12.md §2 (Opening)")
	ruleSSEBufferedTunnel = rule(RuleSSEBufferedTunnel, SeverityWarn, "event stream through a cloudflared quick tunnel",
		"cloudflared quick tunnels buffer GET event streams; answer POSTs with plain JSON and do not rely on the GET stream, or use a named tunnel.",
		"cloudflare/cloudflared#1449; CC#5826")
	ruleToolsNeverListed = rule(RuleToolsNeverListed, SeverityWarn, "tools were never listed",
		"Declare the tools capability in the initialize (or discover) result; clients that do not see it never call tools/list.",
		"seed document; S1125/server/tools.mdx §Capabilities; nowledge-co/community#496; #473")
	ruleToolNotListed = rule(RuleToolNotListed, SeverityWarn, "a tool called that the latest tools/list does not have",
		"The client calls from a stale tool list: send notifications/tools/list_changed (and declare tools.listChanged) when tools change, or keep old tool names answering while clients catch up.",
		"S1125/server/tools.mdx §List Changed Notification; S26/server/utilities/caching.mdx (ttlMs)")
	ruleWrongJSONRPCID = rule(RuleWrongJSONRPCID, SeverityError, "response id does not match the request",
		"Answer each request with its own id.",
		"JSON-RPC 2.0 §5; seed document (\"the id has to match the request\")")

	// HTTP-level.
	ruleHostForbidden = rule(RuleHostForbidden, SeverityError, "the server refused the Host header",
		"Behind a tunnel, start mcpwatch with --public-url https://<tunnel host> (the go-sdk answers 403 \"invalid Host header\" to a non-localhost Host on loopback unless told otherwise).",
		"go-sdk mcp/streamable.go ServeHTTP; go-sdk PR #760; bytebase/bytebase#20585")
	ruleBotBlocked = rule(RuleBotBlocked, SeverityError, "a bot filter blocked the request",
		"Allow the client's traffic through the CDN (Cloudflare Bot Fight Mode / AI Crawl Control block Claude and ChatGPT).",
		"#49; TREK commit a1f4643 (git.k1nq.space)")
	ruleServerError = rule(RuleServerError, SeverityError, "the server failed",
		"Look at the server log for this request.",
		"RFC 9110 §15.6")
	ruleSlowResponse = rule(RuleSlowResponse, SeverityWarn, "slow response",
		"Answer handshake requests within a few seconds (Claude gives up after about 30 s) and tool calls within 300 s.",
		"#85; claude.com/docs/connectors/building/index (300 s)")

	// Proxy mode: the upstream as mcpwatch's proxy saw it.
	ruleUpstreamURLRewritten = rule(RuleUpstreamURLRewritten, SeverityWarn, "the upstream hands out its own local URL",
		"Configure the server's public base URL, or build its URLs from X-Forwarded-Host and X-Forwarded-Proto (mcpwatch and tunnels send them), so that the 401 challenge and the metadata documents name the URL clients use; without mcpwatch's rewrite (--rewrite-urls) a remote client fails here.",
		"RFC 9728 §3, §5.1; S26/basic/authorization/authorization-server-discovery.mdx §Authorization Server Location; seed document (tunnel host hard-coded)")
	ruleASKnownQuirk = rule(RuleASKnownQuirk, SeverityError, "a known failure of the external authorization server's product",
		"The finding names the product, its fix and the source (recorder/analysis/asprofiles.go); see docs/external-as.md.",
		"issue 17; keycloak/keycloak#50362; anthropics/claude-code#76096, #90190; github/copilot-cli#4793; PostHog/posthog#80787")
	ruleASUnproxyable = rule(RuleASUnproxyable, SeverityWarn, "the external authorization server's login may not work through mcpwatch",
		"Run mcpwatch proxy with --watch-as=false: the client then talks to the authorization server directly (its exchanges are not recorded).",
		"issue 17; docs/external-as.md")
	ruleUpstreamUnreachable = rule(RuleUpstreamUnreachable, SeverityError, "mcpwatch could not reach the upstream",
		"Start the server, check --upstream (scheme, host, port), or raise --upstream-timeout for a server that is slow to send its response headers.",
		"RFC 9110 §15.6.3 (502), §15.6.5 (504)")
)

// rule declares a rule of the catalogue. The rules fire it by the variable that holds it, so a misspelt rule is a
// compile error; an id declared twice panics at start (every test would fail).
func rule(id RuleID, sev Severity, title, fix, source string) *Rule {
	if _, dup := ruleIndex[string(id)]; dup {
		panic("analysis: rule " + string(id) + " declared twice")
	}
	r := &Rule{ID: string(id), Severity: sev, Title: title, Fix: fix, Source: source}
	catalogue = append(catalogue, r)
	ruleIndex[string(id)] = r
	return r
}

// exchangeRule declares a rule whose check needs nothing but one exchange and its stage: check returns the
// finding's summary, or "" when the rule does not fire. Such a rule is this one value and nothing else (declared
// as _ = exchangeRule(…)): the analysis runs its check on every exchange a client sent
// and the server answered (not on the upstream's copy in proxy mode, nor when the upstream never answered), in
// declaration order. A rule that needs what happened earlier on the connection is a rule() fired from rules.go.
func exchangeRule(id RuleID, sev Severity, title, fix, source string, check func(ex *recorder.Exchange, stage Stage) string) *Rule {
	r := rule(id, sev, title, fix, source)
	r.check = check
	exchangeRules = append(exchangeRules, r)
	return r
}

// toggleCauses says which rules each toggle can produce: what the toggle changes on the wire and what a client
// then does that a rule sees. A toggle active on an exchange is named by a finding only for these rules (with
// slow=1s on, a token request refused for an unknown client id is not the toggle's doing). The toggles are
// server/toggle's, which registers each one's Causes at start (RegisterToggle): the recorder cannot import the
// server, and the relation is one field of the toggle's value.
var toggleCauses = map[string][]*Rule{}

// RegisterToggle records that the toggle called name can cause the rules causes (none: it causes no rule). It is
// for server/toggle's toggle declarations, at package initialization, before any analysis runs; a toggle
// registered twice or a rule id the catalogue does not have panics at start, so every test fails.
func RegisterToggle(name string, causes []RuleID) {
	if _, dup := toggleCauses[name]; dup {
		panic("analysis: toggle " + name + " registered twice")
	}
	rs := make([]*Rule, 0, len(causes))
	for _, id := range causes {
		r := ruleIndex[string(id)]
		if r == nil {
			panic("analysis: toggle " + name + " causes rule " + string(id) + ", which the catalogue does not have")
		}
		if !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	toggleCauses[name] = rs
}

// toggles lists the toggles that can produce r, sorted.
func (r *Rule) toggles() []string {
	var out []string
	for t, rs := range toggleCauses {
		if slices.Contains(rs, r) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// export is a copy of the rule for callers outside the package, with the toggles that can produce it.
func (r *Rule) export() Rule {
	out := *r
	out.Toggles = r.toggles()
	out.check = nil // the analysis's own
	return out
}

// Rules returns the catalogue of rules, in a stable order.
func Rules() []Rule {
	out := make([]Rule, len(catalogue))
	for i, r := range catalogue {
		out[i] = r.export()
	}
	return out
}

// causedBy reports whether the toggle given as NAME or NAME=VALUE can produce r.
func (r *Rule) causedBy(toggle string) bool {
	name, _, _ := strings.Cut(toggle, "=")
	return slices.Contains(toggleCauses[name], r)
}

// blame names, of the toggles that altered the exchanges behind a finding, the ones that can cause its rule.
func blame(rule *Rule, toggles []string) string {
	var out []string
	for _, f := range toggles {
		if rule.causedBy(f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return strings.Join(out, ",")
}
