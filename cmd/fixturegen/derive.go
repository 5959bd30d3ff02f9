package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// A derived fixture is a healthy capture with one minimal edit that reproduces a known failure. Its story goes to
// the README's table; the analysis tests expect its rules.
type derived struct {
	name, from, story string
	edit              func(c *capture)
}

var fixtures = []derived{
	{"challenge-no-resource-metadata", "claude-web-legacy",
		"The 401s name no resource_metadata (toggle omit-resource-metadata); Claude says \"Couldn't reach the MCP server\" and stops.",
		func(c *capture) {
			for _, ex := range c.unauthorized() {
				c.respHeader(ex, "WWW-Authenticate", `Bearer scope="mcp"`, "omit-resource-metadata")
			}
			c.cutAfter(c.unauthorized()[1])
		}},
	{"challenge-relative-resource-metadata", "claude-web-legacy",
		"The 401s give a relative resource_metadata (toggle relative-resource-metadata); the client cannot resolve it and stops.",
		func(c *capture) {
			for _, ex := range c.unauthorized() {
				c.respHeader(ex, "WWW-Authenticate", `Bearer resource_metadata="/.well-known/oauth-protected-resource/mcp", scope="mcp"`, "relative-resource-metadata")
			}
			c.cutAfter(c.unauthorized()[1])
		}},
	{"challenge-no-www-authenticate", "claude-web-legacy",
		"The 401s carry no WWW-Authenticate at all; the client has no way to discover the authorization server.",
		func(c *capture) {
			for _, ex := range c.unauthorized() {
				c.respHeader(ex, "WWW-Authenticate", "", "")
			}
			c.cutAfter(c.unauthorized()[1])
		}},
	{"challenge-loopback-resource-metadata", "claude-web-legacy",
		"The server builds resource_metadata from its listen address (http://localhost:4000) instead of the tunnel host the client used.",
		func(c *capture) {
			for _, ex := range c.unauthorized() {
				c.respHeader(ex, "WWW-Authenticate", `Bearer resource_metadata="http://localhost:4000/.well-known/oauth-protected-resource/mcp", scope="mcp"`, "")
			}
			c.cutAfter(c.unauthorized()[1])
		}},
	{"resource-metadata-mismatch", "claude-web-legacy",
		"The resource metadata names http://localhost:4000/mcp (the seed's hard-coded tunnel host problem; toggle resource-mismatch); Claude silently rejects the document and stops.",
		func(c *capture) {
			ex := c.first(analysis.StageResourceMetadata)
			c.respJSON(ex, func(m map[string]any) { m["resource"] = "http://localhost:4000/mcp" }, "resource-mismatch")
			c.cutAfter(ex)
		}},
	{"resource-metadata-behind-auth", "claude-web-legacy",
		"The resource metadata sits behind the bearer middleware and answers 401; the client cannot read it.",
		func(c *capture) {
			ex := c.first(analysis.StageResourceMetadata)
			c.status(ex, 401, "application/json", `{"error":"invalid_token","error_description":"a bearer token is required"}`, "")
			c.respHeader(ex, "WWW-Authenticate", `Bearer error="invalid_token"`, "")
			c.cutAfter(ex)
		}},
	{"resource-metadata-missing", "claude-web-legacy",
		"The server has no resource metadata (toggle no-resource-metadata): 404 where the challenge points.",
		func(c *capture) {
			ex := c.first(analysis.StageResourceMetadata)
			c.status(ex, 404, "text/plain; charset=utf-8", "404 page not found\n", "no-resource-metadata")
			c.cutAfter(ex)
		}},
	{"auth-metadata-no-s256", "claude-web-legacy",
		"The authorization server metadata omits code_challenge_methods_supported; MCP clients must refuse to go on.",
		func(c *capture) {
			ex := c.first(analysis.StageAuthMetadata)
			c.respJSON(ex, func(m map[string]any) { delete(m, "code_challenge_methods_supported") }, "")
			c.cutAfter(ex)
		}},
	{"auth-metadata-issuer-mismatch", "claude-web-legacy",
		"The issuer has a trailing slash (https://mcp.example.dev/) that the metadata URL does not; strict clients reject it.",
		func(c *capture) {
			ex := c.first(analysis.StageAuthMetadata)
			c.respJSON(ex, func(m map[string]any) { m["issuer"] = m["issuer"].(string) + "/" }, "")
		}},
	{"auth-metadata-no-registration", "claude-web-legacy",
		"No registration_endpoint and no client ID metadata documents (toggle no-registration); Claude says \"Couldn't register\" and stops.",
		func(c *capture) {
			ex := c.first(analysis.StageAuthMetadata)
			c.respJSON(ex, func(m map[string]any) {
				delete(m, "registration_endpoint")
				delete(m, "client_id_metadata_document_supported")
			}, "no-registration")
			c.cutAfter(ex)
		}},
	{"auth-metadata-missing", "claude-web-legacy",
		"The authorization server metadata answers 404 (toggle no-auth-metadata); Claude would guess /authorize on the MCP host.",
		func(c *capture) {
			ex := c.first(analysis.StageAuthMetadata)
			c.status(ex, 404, "text/plain; charset=utf-8", "404 page not found\n", "no-auth-metadata")
			c.cutAfter(ex)
		}},
	{"auth-metadata-cimd-needs-none", "claude-web-2026",
		"The metadata supports client ID metadata documents but lists only client_secret_basic (an edit of the document only; Claude would fall back to DCR).",
		func(c *capture) {
			c.respJSON(c.first(analysis.StageAuthMetadata), func(m map[string]any) {
				m["token_endpoint_auth_methods_supported"] = []string{"client_secret_basic"}
			}, "")
		}},
	{"resource-metadata-no-authorization-servers", "claude-web-legacy",
		"The resource metadata lists no authorization server; the client has nowhere to go.",
		func(c *capture) {
			ex := c.first(analysis.StageResourceMetadata)
			c.respJSON(ex, func(m map[string]any) { delete(m, "authorization_servers") }, "")
			c.cutAfter(ex)
		}},
	{"auth-metadata-incomplete", "claude-web-legacy",
		"The authorization server metadata has no token_endpoint.",
		func(c *capture) {
			ex := c.first(analysis.StageAuthMetadata)
			c.respJSON(ex, func(m map[string]any) { delete(m, "token_endpoint") }, "")
			c.cutAfter(ex)
		}},
	{"register-claude-com", "claude-web-legacy",
		"Claude registers its claude.com callback and the server allows only claude.ai (toggle redirect-allow=claude.ai): 400 invalid_redirect_uri.",
		func(c *capture) {
			ex := c.first(analysis.StageRegister)
			c.reqJSON(ex, func(m map[string]any) { m["redirect_uris"] = []string{"https://claude.com/api/mcp/auth_callback"} })
			c.status(ex, 400, "application/json", `{"error":"invalid_redirect_uri","error_description":"redirect_uri https://claude.com/api/mcp/auth_callback is not allowed"}`, "redirect-allow=claude.ai")
			c.cutAfter(ex)
		}},
	{"register-secret-unused", "claude-web-legacy",
		"The server registers Claude as a confidential client (toggle require-client-secret); Claude never sends the secret (seed document) and the token request fails.",
		func(c *capture) {
			c.respJSON(c.first(analysis.StageRegister), func(m map[string]any) {
				m["client_secret"] = "s3cr3t-issued-at-registration"
				m["token_endpoint_auth_method"] = "client_secret_post"
			}, "require-client-secret")
			tok := c.first(analysis.StageToken)
			c.status(tok, 401, "application/json", `{"error":"invalid_client","error_description":"client authentication failed"}`, "")
			c.cutAfter(tok)
		}},
	{"register-insecure-redirect", "sdk-go-oauth",
		"The server accepts a plain-http redirect URI on a public host.",
		func(c *capture) {
			ex := c.first(analysis.StageRegister)
			c.reqJSON(ex, func(m map[string]any) { m["redirect_uris"] = []string{"http://fixture.example/callback"} })
			c.respJSON(ex, func(m map[string]any) { m["redirect_uris"] = []string{"http://fixture.example/callback"} }, "")
		}},
	{"stale-client-id", "claude-web-legacy",
		"Claude reuses a client id it registered before mcpwatch restarted without --state: no registration, and the authorization request is refused.",
		func(c *capture) {
			c.drop(c.first(analysis.StageRegister))
			ex := c.first(analysis.StageAuthorize)
			c.query(ex, "client_id", "mcpw_registered_last_week")
			c.status(ex, 400, "text/plain; charset=utf-8", "unknown client_id mcpw_registered_last_week\n", "")
			c.cutAfter(ex)
		}},
	{"redirect-uri-not-registered", "claude-web-legacy",
		"The authorization request uses the claude.com callback, the client registered the claude.ai one.",
		func(c *capture) {
			ex := c.first(analysis.StageAuthorize)
			c.query(ex, "redirect_uri", "https://claude.com/api/mcp/auth_callback")
			c.status(ex, 400, "text/plain; charset=utf-8", "redirect_uri is not registered for this client\n", "")
			c.cutAfter(ex)
		}},
	{"authorize-no-resource", "claude-web-legacy",
		"A 2025-11-25 client leaves resource (RFC 8707) out of its authorization request; the server issues the token anyway, unbound to the MCP URL.",
		func(c *capture) {
			c.query(c.first(analysis.StageAuthorize), "resource", "")
		}},
	{"authorize-pkce-missing", "claude-web-legacy",
		"The authorization request carries no PKCE challenge; the server redirects with invalid_request.",
		func(c *capture) {
			ex := c.first(analysis.StageAuthorize)
			c.query(ex, "code_challenge", "")
			c.query(ex, "code_challenge_method", "")
			con := c.first(analysis.StageConsent)
			c.location(con, func(q url.Values) {
				q.Del("code")
				q.Set("error", "invalid_request")
				q.Set("error_description", "PKCE S256 is required")
			}, "")
			c.cutAfter(con)
		}},
	{"consent-denied", "claude-web-legacy",
		"The consent is denied (toggle deny-consent): the redirect carries error=access_denied.",
		func(c *capture) {
			con := c.first(analysis.StageConsent)
			c.location(con, func(q url.Values) {
				q.Del("code")
				q.Set("error", "access_denied")
			}, "deny-consent")
			c.cutAfter(con)
		}},
	{"invalid-scope", "claude-web-legacy",
		"The challenge names no scope, Claude asks for every scope it knows, and the server refuses with invalid_scope (tldraw/tldraw#10612).",
		func(c *capture) {
			for _, ex := range c.unauthorized() {
				c.respHeader(ex, "WWW-Authenticate", `Bearer resource_metadata="https://mcp.example.dev/.well-known/oauth-protected-resource/mcp"`, "")
			}
			ex := c.first(analysis.StageAuthorize)
			c.query(ex, "scope", "mcp admin offline_access")
			cb, _ := url.Parse(claudeCB)
			q := url.Values{"error": {"invalid_scope"}, "state": {c.queryOf(ex).Get("state")}}
			cb.RawQuery = q.Encode()
			c.status(ex, 302, "", "", "")
			c.respHeader(ex, "Location", cb.String(), "")
			c.cutAfter(ex)
		}},
	{"authorize-no-token", "claude-web-legacy",
		"The consent redirects with a code and Claude never asks for a token (mcp_token_exchange_failed, #215).",
		func(c *capture) { c.cutAfter(c.first(analysis.StageConsent)) }},
	{"token-invalid-grant", "claude-web-legacy",
		"The token request is refused with invalid_grant (toggle token-error=invalid_grant).",
		func(c *capture) {
			ex := c.first(analysis.StageToken)
			c.status(ex, 400, "application/json", `{"error":"invalid_grant","error_description":"PKCE verification failed"}`, "token-error=invalid_grant")
			c.cutAfter(ex)
		}},
	{"token-method-not-allowed", "claude-web-legacy",
		"A gateway answers 405 to the token POST (#313).",
		func(c *capture) {
			ex := c.first(analysis.StageToken)
			c.status(ex, 405, "text/plain; charset=utf-8", "Method Not Allowed\n", "")
			c.cutAfter(ex)
		}},
	{"token-invalid-target", "claude-web-legacy",
		"The authorization server refuses the resource the client asks for (invalid_target, RFC 8707).",
		func(c *capture) {
			ex := c.first(analysis.StageToken)
			c.status(ex, 400, "application/json", `{"error":"invalid_target","error_description":"unknown resource"}`, "")
			c.cutAfter(ex)
		}},
	{"token-error", "claude-web-legacy",
		"The token endpoint refuses the grant type (unsupported_grant_type).",
		func(c *capture) {
			ex := c.first(analysis.StageToken)
			c.status(ex, 400, "application/json", `{"error":"unsupported_grant_type"}`, "")
			c.cutAfter(ex)
		}},
	{"id-jag-unsupported", "claude-web-legacy",
		"Claude (Team/Enterprise, Enterprise-Managed Authorization) exchanges an ID-JAG with the jwt-bearer grant, no browser; the authorization server answers unsupported_grant_type.",
		func(c *capture) {
			for _, s := range []analysis.Stage{analysis.StageRegister, analysis.StageAuthorize, analysis.StageConsent} {
				for _, ex := range c.stage(s) {
					c.drop(ex)
				}
			}
			ex := c.first(analysis.StageToken)
			b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
			jag := b64(`{"alg":"RS256","typ":"oauth-id-jag+jwt","kid":"idp-1"}`) + "." +
				b64(`{"iss":"https://idp.example.com","sub":"u-123","aud":"https://mcp.example.dev","client_id":"https://claude.ai/oauth/mcp-oauth-client-metadata","resource":"https://mcp.example.dev/mcp","scope":"mcp","jti":"jag-1","exp":1795633000}`) +
				"." + b64("signature")
			c.reqJSON(ex, func(m map[string]any) {
				clear(m)
				m["grant_type"] = "urn:ietf:params:oauth:grant-type:jwt-bearer"
				m["assertion"] = jag
				m["client_id"] = "https://claude.ai/oauth/mcp-oauth-client-metadata"
			})
			c.status(ex, 400, "application/json", `{"error":"unsupported_grant_type","error_description":"grant_type urn:ietf:params:oauth:grant-type:jwt-bearer is not supported"}`, "")
			c.cutAfter(ex)
		}},
	{"token-response-invalid", "claude-web-legacy",
		"The token response has no token_type; the client cannot use the token.",
		func(c *capture) {
			ex := c.first(analysis.StageToken)
			c.respJSON(ex, func(m map[string]any) { delete(m, "token_type") }, "")
			c.cutAfter(ex)
		}},
	{"token-issued-unused", "claude-web-legacy",
		"A token is issued and the client never calls the MCP server with it (#566).",
		func(c *capture) { c.cutAfter(c.first(analysis.StageToken)) }},
	{"token-no-store", "claude-web-legacy",
		"The token response has no Cache-Control: no-store.",
		func(c *capture) { c.respHeader(c.first(analysis.StageToken), "Cache-Control", "", "") }},
	{"token-audience-mismatch", "claude-web-legacy",
		"The client asks for a token for https://mcp.example.dev/api; the MCP endpoint at /mcp refuses it (#299).",
		func(c *capture) {
			c.query(c.first(analysis.StageAuthorize), "resource", "https://mcp.example.dev/api")
			c.reqJSON(c.first(analysis.StageToken), func(m map[string]any) { m["resource"] = "https://mcp.example.dev/api" })
			ex := c.rpc("initialize", 1)
			c.status(ex, 401, "application/json", `{"error":"invalid_token","error_description":"token audience mismatch"}`, "")
			c.respHeader(ex, "WWW-Authenticate", `Bearer resource_metadata="https://mcp.example.dev/.well-known/oauth-protected-resource/mcp", scope="mcp", error="invalid_token"`, "")
			c.respHeader(ex, "Mcp-Session-Id", "", "")
			c.cutAfter(ex)
		}},
	{"token-expired", "claude-web-legacy",
		"The token lives 60 s (toggle short-token=60s); two minutes later the tool call is refused and Claude does not refresh (#228).",
		func(c *capture) {
			c.respJSON(c.first(analysis.StageToken), func(m map[string]any) { m["expires_in"] = 60 }, "short-token=60s")
			c.drop(c.first(analysis.StageStream))
			ex := c.first(analysis.StageCall)
			ex.Start = ex.Start.Add(2 * time.Minute)
			c.status(ex, 401, "application/json", `{"error":"invalid_token","error_description":"the token expired"}`, "")
			c.respHeader(ex, "WWW-Authenticate", `Bearer resource_metadata="https://mcp.example.dev/.well-known/oauth-protected-resource/mcp", scope="mcp", error="invalid_token"`, "")
		}},
	{"token-in-query", "claude-web-legacy",
		"The client puts the access token in the query string of a tool call.",
		func(c *capture) {
			ex := c.first(analysis.StageCall)
			c.query(ex, "access_token", strings.TrimPrefix(ex.ReqHeaders.Get("Authorization"), "Bearer "))
		}},
	{"refresh-rejected", "sdk-go-oauth",
		"The refresh is refused with invalid_grant (a rotated refresh token replayed); the session ends.",
		func(c *capture) {
			ex := c.first(analysis.StageRefresh)
			c.status(ex, 400, "application/json", `{"error":"invalid_grant","error_description":"refresh token already used"}`, "")
			c.cutAfter(ex)
		}},
	{"initialize-failed", "sdk-go-legacy",
		"initialize is answered with a JSON-RPC error (a server that refuses the client's protocol version instead of offering its own).",
		func(c *capture) {
			ex := c.rpc("initialize", 0)
			c.status(ex, 200, "application/json", `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Unsupported protocol version","data":{"supported":["2024-11-05"],"requested":"2025-11-25"}}}`, "")
			c.respHeader(ex, "Mcp-Session-Id", "", "")
			c.cutAfter(ex)
		}},
	{"initialize-no-session-id", "claude-web-legacy",
		"initialize is answered without Mcp-Session-Id (toggle omit-session-id); Claude does not go on to list tools (seed document).",
		func(c *capture) {
			ex := c.rpc("initialize", 1)
			c.respHeader(ex, "Mcp-Session-Id", "", "omit-session-id")
			c.cutAfter(ex)
		}},
	{"session-not-echoed", "claude-web-legacy",
		"Claude drops the Mcp-Session-Id after initialize (#975); this server tolerates it and answers as before.",
		func(c *capture) {
			init := c.rpc("initialize", 1)
			for _, ex := range c.exs {
				if ex.Start.After(init.Start) && ex.Kind == recorder.Inbound {
					c.reqHeader(ex, "Mcp-Session-Id", "")
				}
			}
			c.drop(c.first(analysis.StageStream)) // a GET stream needs the session
		}},
	{"session-stale", "sdk-go-legacy",
		"mcpwatch restarted; the client goes on with its old session id, gets 404 and does not initialize again (CC#8338).",
		func(c *capture) {
			c.drop(c.rpc("initialize", 0))
			c.drop(c.first(analysis.StageStream))
			ex := c.rpc("notifications/initialized", 0)
			c.reqHeaderAll("Mcp-Session-Id", "SESSION-FROM-BEFORE-THE-RESTART")
			c.status(ex, 404, "text/plain; charset=utf-8", "session not found\n", "")
			c.cutAfter(ex)
		}},
	{"protocol-version-mismatch", "claude-web-legacy",
		"After negotiating 2025-11-25, Claude sends MCP-Protocol-Version: 2026-07-28 on its session (CodeWithCJ/SparkyFitness#2155); mcpwatch tolerates it.",
		func(c *capture) {
			init := c.rpc("initialize", 1)
			for _, ex := range c.exs {
				if ex.Start.After(init.Start) && ex.ReqHeaders.Get("Mcp-Session-Id") != "" {
					c.reqHeader(ex, "MCP-Protocol-Version", "2026-07-28")
				}
			}
		}},
	{"protocol-version-header-missing", "sdk-go-legacy",
		"The client sends no MCP-Protocol-Version after negotiating 2025-11-25 (#70).",
		func(c *capture) { c.reqHeaderAll("MCP-Protocol-Version", "") }},
	{"get-stream-405", "claude-web-legacy",
		"The GET event stream of the session is answered 405 (toggle get-stream-405); Claude Code 2.1.84+ fails on it (CC#39790).",
		func(c *capture) {
			c.status(c.first(analysis.StageStream), 405, "text/plain; charset=utf-8", "Method Not Allowed\n", "get-stream-405")
		}},
	{"sse-buffered-tunnel", "claude-web-legacy",
		"The GET event stream comes through a cloudflared quick tunnel, which buffers it (cloudflare/cloudflared#1449).",
		func(c *capture) {
			c.reqHeader(c.first(analysis.StageStream), "X-Forwarded-Host", "tall-tree-lamp-river.trycloudflare.com")
		}},
	{"tools-never-listed", "claude-web-legacy",
		"initialize declares no tools capability (toggle drop-tools-capability) and the client never lists tools.",
		func(c *capture) {
			init := c.rpc("initialize", 1)
			c.result(init, func(r map[string]any) { delete(r["capabilities"].(map[string]any), "tools") }, "drop-tools-capability")
			c.drop(c.rpc("tools/list", 0))
			c.drop(c.rpc("tools/call", 0))
		}},
	{"initialized-missing", "claude-web-legacy",
		"Claude never sends notifications/initialized after initialize (#473).",
		func(c *capture) { c.drop(c.rpc("notifications/initialized", 0)) }},
	{"wrong-jsonrpc-id", "claude-web-legacy",
		"The answer to tools/list carries another id (toggle wrong-jsonrpc-id).",
		func(c *capture) {
			c.result(c.rpc("tools/list", 0), nil, "wrong-jsonrpc-id", 99)
		}},
	{"discover-fallback", "claude-web-legacy",
		"Claude opens with server/discover, the server refuses it (toggle reject-discover) and Claude falls back to initialize (typo3-mcp-server#110).",
		func(c *capture) {
			init := c.rpc("initialize", 1)
			d := c.clone(init, 100, -30*time.Millisecond)
			d.ReqBody = body(`{"jsonrpc":"2.0","id":0,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`)
			c.reqHeader(d, "MCP-Protocol-Version", "2026-07-28")
			c.reqHeader(d, "Mcp-Method", "server/discover")
			d.Notes = []recorder.Note{{Key: "era", Value: "2026: server/discover"}}
			c.status(d, 200, "application/json", `{"jsonrpc":"2.0","id":0,"error":{"code":-32601,"message":"Method not found: \"server/discover\""}}`, "reject-discover")
		}},
	{"discover-no-fallback", "claude-web-2026",
		"server/discover is refused (toggle reject-discover) and the client gives up instead of falling back.",
		func(c *capture) {
			ex := c.rpc("server/discover", 1)
			c.status(ex, 200, "application/json", `{"jsonrpc":"2.0","id":0,"error":{"code":-32601,"message":"Method not found: \"server/discover\""}}`, "reject-discover")
			c.cutAfter(ex)
		}},
	{"client-metadata-invalid", "claude-web-2026",
		"The client ID metadata document names another client_id; the authorization is refused.",
		func(c *capture) {
			ex := c.first(analysis.StageClientMetadata)
			c.respJSON(ex, func(m map[string]any) { m["client_id"] = "https://claude.ai/oauth/some-other-client" }, "")
			au := c.first(analysis.StageAuthorize)
			c.status(au, 400, "text/plain; charset=utf-8", "unknown client_id https://claude.ai/oauth/mcp-oauth-client-metadata\n", "")
			c.cutAfter(au)
		}},
	{"client-metadata-unreachable", "claude-web-2026",
		"The server cannot fetch the client ID metadata document (DNS timeout); the authorization is refused.",
		func(c *capture) {
			ex := c.first(analysis.StageClientMetadata)
			ex.Status, ex.RespHeaders, ex.RespBody = 0, nil, recorder.Body{}
			ex.Error = "dial tcp: lookup claude.ai: i/o timeout"
			reparse(ex)
			au := c.first(analysis.StageAuthorize)
			c.status(au, 400, "text/plain; charset=utf-8", "unknown client_id https://claude.ai/oauth/mcp-oauth-client-metadata\n", "")
			c.cutAfter(au)
		}},
	{"mcp-redirect", "claude-web-legacy",
		"A trailing-slash router answers the HEAD probe with 307 to /mcp/ (PrefectHQ/fastmcp#1466); Claude stops.",
		func(c *capture) {
			ex := c.first(analysis.StageProbe)
			c.status(ex, 307, "", "", "")
			c.respHeader(ex, "Location", "/mcp/", "")
			c.respHeader(ex, "WWW-Authenticate", "", "")
			c.cutAfter(ex)
		}},
	{"mcp-not-found", "sdk-go-legacy",
		"The connector URL is the server's root; initialize is POSTed to / and gets a 404 page (#62).",
		func(c *capture) {
			ex := c.rpc("initialize", 0)
			ex.URL = "/"
			c.status(ex, 404, "text/plain; charset=utf-8", "404 page not found\n", "")
			ex.Notes = nil
			c.cutAfter(ex)
		}},
	{"host-forbidden", "claude-web-legacy",
		"The tunnel forwards a Host the server does not know and mcpwatch was started without --public-url: 403.",
		func(c *capture) {
			ex := c.first(analysis.StageProbe)
			c.reqHeader(ex, "X-Forwarded-Proto", "")
			c.reqHeader(ex, "X-Forwarded-Host", "")
			c.reqHeader(ex, "Host", "abc.example.net")
			ex.Host = "abc.example.net"
			c.status(ex, 403, "text/plain; charset=utf-8", "Forbidden: invalid Host header \"abc.example.net\" (allowed: localhost, or a tunnel's https host; pass --public-url to name it)\n", "")
			c.respHeader(ex, "WWW-Authenticate", "", "")
			c.cutAfter(ex)
		}},
	{"bot-blocked", "claude-web-legacy",
		"A CDN bot filter answers Claude's first request with a challenge page (#49).",
		func(c *capture) {
			ex := c.first(analysis.StageProbe)
			c.status(ex, 403, "text/html; charset=UTF-8", "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body></body></html>", "")
			c.respHeader(ex, "Cf-Mitigated", "challenge", "")
			c.respHeader(ex, "WWW-Authenticate", "", "")
			c.cutAfter(ex)
		}},
	{"cors-missing", "claude-web-legacy",
		"A browser client (the MCP Inspector's page, Origin http://localhost:6274) fetches the resource metadata; the answer has no CORS headers.",
		func(c *capture) {
			c.reqHeader(c.first(analysis.StageResourceMetadata), "Origin", "http://localhost:6274")
		}},
	{"cors-www-authenticate-hidden", "claude-web-legacy",
		"A browser client gets the 401 with CORS but WWW-Authenticate is not exposed to it.",
		func(c *capture) {
			ex := c.unauthorized()[1]
			c.reqHeader(ex, "Origin", "http://localhost:6274")
			c.respHeader(ex, "Access-Control-Allow-Origin", "http://localhost:6274", "")
		}},
	{"www-authenticate-on-200", "claude-authless",
		"An authless server sends its Bearer challenge on the 200 initialize; clients ignore it there.",
		func(c *capture) {
			c.respHeader(c.rpc("initialize", 0), "WWW-Authenticate", `Bearer resource_metadata="https://mcp.example.dev/.well-known/oauth-protected-resource/mcp"`, "")
		}},
	{"server-error", "sdk-go-legacy",
		"A tool call fails with 500 (toggle fail=call:500).",
		func(c *capture) {
			c.status(c.rpc("tools/call", 0), 500, "text/plain; charset=utf-8", "internal error\n", "fail=call:500")
		}},
	{"sse-initialize-failed", "sdk-go-sse",
		"On the 2024-11-05 HTTP+SSE transport, initialize is answered with a JSON-RPC error on the GET stream (its POST got 202); the client gives up.",
		func(c *capture) {
			stream, init := c.first(analysis.StageStream), c.rpc("initialize", 0)
			stream.Events = stream.Events[:2]
			stream.Events[1].Data = `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Unsupported protocol version","data":{"supported":["2025-11-25"],"requested":"2024-11-05"}}}`
			var raw strings.Builder
			for _, ev := range stream.Events {
				fmt.Fprintf(&raw, "event: %s\ndata: %s\n\n", ev.Event, ev.Data)
			}
			stream.RespBody = body(raw.String())
			stream.Timings.Total = init.Start.Sub(stream.Start) + init.Timings.Total + 5*time.Millisecond
			reparse(stream)
			c.cutAfter(init)
		}},
	{"slow-initialize", "sdk-go-legacy",
		"initialize takes 12 s to answer (toggle slow=12s).",
		func(c *capture) {
			ex := c.rpc("initialize", 0)
			ex.Timings.Wait += 12 * time.Second
			ex.Timings.Total += 12 * time.Second
			c.fault(ex, "slow=12s", "response delay", "0s", "12s")
		}},
}

// derive writes every derived fixture and the README's table.
func derive(dir string) error {
	for _, f := range fixtures {
		res, err := recorder.LoadCapture(filepath.Join(dir, f.from+".jsonl"))
		if err != nil {
			return err
		}
		c := &capture{exs: res.Exchanges}
		if err := c.apply(f.edit); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, ex := range c.exs {
			if err := enc.Encode(ex); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, f.name+".jsonl"), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return writeReadmeTable(filepath.Join(dir, "README.md"))
}

const tableBegin, tableEnd = "<!-- derived fixtures: begin (fixturegen derive writes this table) -->", "<!-- derived fixtures: end -->"

func writeReadmeTable(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, tableBegin), strings.Index(s, tableEnd)
	if i < 0 || j < i {
		return fmt.Errorf("%s: table markers not found", path)
	}
	var t strings.Builder
	t.WriteString(tableBegin + "\n| fixture | edited from | story |\n|---|---|---|\n")
	for _, f := range fixtures {
		fmt.Fprintf(&t, "| `%s` | `%s` | %s |\n", f.name, f.from, strings.ReplaceAll(f.story, "|", "\\|"))
	}
	return os.WriteFile(path, []byte(s[:i]+t.String()+s[j:]), 0o644)
}

// capture is a loaded capture being edited.
type capture struct {
	exs []*recorder.Exchange
	err error
}

func (c *capture) apply(edit func(*capture)) (err error) {
	defer func() {
		if p := recover(); p != nil { // a missing exchange: report which fixture
			err = fmt.Errorf("edit failed: %v", p)
		}
	}()
	edit(c)
	return c.err
}

func (c *capture) stage(s analysis.Stage) []*recorder.Exchange {
	var out []*recorder.Exchange
	for _, ex := range c.byID() {
		if analysis.StageOf(ex, "/mcp") == s {
			out = append(out, ex)
		}
	}
	return out
}

// unauthorized lists the 401s on the MCP endpoint (the HEAD probe's and the challenges).
func (c *capture) unauthorized() []*recorder.Exchange {
	var out []*recorder.Exchange
	for _, ex := range c.byID() {
		if ex.Status == 401 && ex.Path() == "/mcp" {
			out = append(out, ex)
		}
	}
	return out
}

func (c *capture) nth(s analysis.Stage, n int) *recorder.Exchange {
	exs := c.stage(s)
	if n >= len(exs) {
		panic(fmt.Sprintf("no %s exchange #%d", s, n))
	}
	return exs[n]
}

func (c *capture) first(s analysis.Stage) *recorder.Exchange { return c.nth(s, 0) }

// rpc returns the n-th exchange whose JSON-RPC method is m.
func (c *capture) rpc(m string, n int) *recorder.Exchange {
	for _, ex := range c.byID() {
		if ex.RPCMethod() == m {
			if n == 0 {
				return ex
			}
			n--
		}
	}
	panic("no " + m + " exchange")
}

func (c *capture) byID() []*recorder.Exchange {
	s := slices.Clone(c.exs)
	slices.SortFunc(s, func(a, b *recorder.Exchange) int { return int(a.ID) - int(b.ID) })
	return s
}

// cutAfter ends the capture at ex: the client stopped there. Exchanges that started later are removed, except
// the server's own requests made while serving ex (a metadata document fetch).
func (c *capture) cutAfter(ex *recorder.Exchange) {
	end := ex.Start.Add(ex.Timings.Total)
	c.exs = slices.DeleteFunc(c.exs, func(x *recorder.Exchange) bool {
		nested := x.Kind == recorder.Outbound && !x.Start.After(end)
		return x.Start.After(ex.Start) && x.ID != ex.ID && !nested
	})
}

func (c *capture) drop(ex *recorder.Exchange) {
	c.exs = slices.DeleteFunc(c.exs, func(x *recorder.Exchange) bool { return x == ex })
}

// clone inserts a copy of ex with a new id, shifted in time.
func (c *capture) clone(ex *recorder.Exchange, id uint64, shift time.Duration) *recorder.Exchange {
	b, _ := json.Marshal(ex)
	var d recorder.Exchange
	_ = json.Unmarshal(b, &d)
	d.ID = id
	d.Start = d.Start.Add(shift)
	c.exs = append(c.exs, &d)
	return &d
}

func (c *capture) fault(ex *recorder.Exchange, name, what, before, after string) {
	if name != "" {
		ex.Toggles = append(ex.Toggles, recorder.ToggleChange{Name: name, What: what, Before: before, After: after})
	}
}

func setHeader(h recorder.Headers, name, value string) recorder.Headers {
	for i := range h {
		if strings.EqualFold(h[i].Name, name) {
			if value == "" {
				return append(h[:i:i], h[i+1:]...)
			}
			h[i].Value = value
			return h
		}
	}
	if value == "" {
		return h
	}
	return append(h, recorder.Header{Name: name, Value: value})
}

// respHeader sets (or, with "", removes) a response header; a named toggle records the change.
func (c *capture) respHeader(ex *recorder.Exchange, name, value, toggle string) {
	before := ex.RespHeaders.Get(name)
	ex.RespHeaders = setHeader(ex.RespHeaders, name, value)
	c.fault(ex, toggle, "response header "+name, before, value)
}

func (c *capture) reqHeader(ex *recorder.Exchange, name, value string) {
	ex.ReqHeaders = setHeader(ex.ReqHeaders, name, value)
}

// reqHeaderAll sets a request header on every exchange that has it.
func (c *capture) reqHeaderAll(name, value string) {
	for _, ex := range c.exs {
		if ex.ReqHeaders.Get(name) != "" {
			c.reqHeader(ex, name, value)
		}
	}
}

func body(s string) recorder.Body { return recorder.Body{Data: []byte(s), Size: int64(len(s))} }

// status replaces the response: status, content type and body (SSE events go; "" keeps the body).
func (c *capture) status(ex *recorder.Exchange, code int, ctype, text, toggle string) {
	before := fmt.Sprint(ex.Status)
	ex.Status = code
	if ctype != "" || text != "" {
		ex.RespHeaders = setHeader(ex.RespHeaders, "Content-Type", ctype)
		ex.RespHeaders = setHeader(ex.RespHeaders, "Content-Length", "")
		ex.RespBody = body(text)
		ex.Events = nil
	} else if code >= 300 && code < 400 {
		ex.RespBody, ex.Events = recorder.Body{}, nil
		ex.RespHeaders = setHeader(ex.RespHeaders, "Content-Type", "")
	}
	c.fault(ex, toggle, "status", before, fmt.Sprint(code))
	reparse(ex)
}

func (c *capture) respJSON(ex *recorder.Exchange, edit func(map[string]any), toggle string) {
	var m map[string]any
	if err := json.Unmarshal(ex.RespBody.Data, &m); err != nil {
		panic(fmt.Sprintf("exchange %d: response is not JSON", ex.ID))
	}
	before := string(ex.RespBody.Data)
	edit(m)
	b, _ := json.Marshal(m)
	ex.RespBody = body(string(b) + "\n")
	c.fault(ex, toggle, "response body", before, string(b))
}

func (c *capture) reqJSON(ex *recorder.Exchange, edit func(map[string]any)) {
	var m map[string]any
	if err := json.Unmarshal(ex.ReqBody.Data, &m); err != nil {
		panic(fmt.Sprintf("exchange %d: request is not JSON", ex.ID))
	}
	edit(m)
	b, _ := json.Marshal(m)
	ex.ReqBody = body(string(b))
	reparse(ex)
}

func (c *capture) queryOf(ex *recorder.Exchange) url.Values {
	u, _ := url.Parse(ex.URL)
	return u.Query()
}

// query sets (or, with "", removes) a query parameter of the request URL.
func (c *capture) query(ex *recorder.Exchange, k, v string) {
	u, _ := url.Parse(ex.URL)
	q := u.Query()
	if v == "" {
		q.Del(k)
	} else {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	ex.URL = u.String()
}

func (c *capture) location(ex *recorder.Exchange, edit func(url.Values), toggle string) {
	u, _ := url.Parse(ex.RespHeaders.Get("Location"))
	q := u.Query()
	edit(q)
	u.RawQuery = q.Encode()
	c.respHeader(ex, "Location", u.String(), toggle)
}

// result edits the JSON-RPC answer of an exchange (a JSON body or the SSE event carrying it); a non-zero id
// replaces the answer's id.
func (c *capture) result(ex *recorder.Exchange, edit func(map[string]any), toggle string, id ...int) {
	change := func(raw []byte) ([]byte, bool) {
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil || m["result"] == nil {
			return nil, false
		}
		if edit != nil {
			edit(m["result"].(map[string]any))
		}
		if len(id) > 0 {
			m["id"] = id[0]
		}
		b, _ := json.Marshal(m)
		return b, true
	}
	before := string(ex.RespBody.Data)
	if len(ex.Events) == 0 {
		b, ok := change(ex.RespBody.Data)
		if !ok {
			panic(fmt.Sprintf("exchange %d: no result", ex.ID))
		}
		ex.RespBody = body(string(b) + "\n")
	} else {
		var raw strings.Builder
		for i := range ex.Events {
			if b, ok := change([]byte(ex.Events[i].Data)); ok {
				ex.Events[i].Data = string(b)
			}
			ev := ex.Events[i]
			if ev.Event != "" {
				fmt.Fprintf(&raw, "event: %s\n", ev.Event)
			}
			if ev.ID != "" {
				fmt.Fprintf(&raw, "id: %s\n", ev.ID)
			}
			fmt.Fprintf(&raw, "data: %s\n\n", ev.Data)
		}
		ex.RespBody = body(raw.String())
	}
	c.fault(ex, toggle, "response body", before, string(ex.RespBody.Data))
	reparse(ex)
}

// reparse recomputes the JSON-RPC messages of an edited exchange.
func reparse(ex *recorder.Exchange) {
	msgs := recorder.ParseRPC(ex.ReqBody.Data, recorder.FromClient, -1)
	if len(ex.Events) > 0 {
		for i, ev := range ex.Events {
			msgs = append(msgs, recorder.ParseRPC([]byte(ev.Data), recorder.FromServer, i)...)
		}
	} else {
		msgs = append(msgs, recorder.ParseRPC(ex.RespBody.Data, recorder.FromServer, -1)...)
	}
	for i := range msgs {
		if !msgs[i].IsResponse {
			continue
		}
		for _, q := range msgs {
			if !q.IsResponse && q.Method != "" && bytes.Equal(q.ID, msgs[i].ID) && q.From != msgs[i].From {
				msgs[i].ReplyTo = q.Method
			}
		}
	}
	ex.RPC = msgs
}
