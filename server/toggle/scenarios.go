package toggle

import (
	"fmt"
	"slices"
	"strings"
)

// Scenario is a named set of toggles that reproduces a failure users report, with its story.
type Scenario struct {
	Name    string
	Title   string   // what the user sees in the client
	Toggles []string // specs
	Story   string   // what happens and why
	Expect  string   // how a spec-following client reacts (what the e2e test checks)
	Source  string
}

// scenarios are the known failures mcpwatch can reproduce (Scenarios hands out copies).
var scenarios = []Scenario{
	{Name: "no-session-id", Title: "Claude stops after initialize",
		Toggles: []string{"omit-session-id"},
		Story: "initialize is answered 200 but without Mcp-Session-Id. The Claude web app then never asks for tools/list: " +
			"the connector looks connected and has no tools. Clients that treat sessions as optional carry on, but the " +
			"server still keeps one, so their next request lands outside it.",
		Expect: "the TypeScript SDK client initializes without a session id, then its notifications/initialized is refused (400, -32600: no Mcp-Session-Id) and it stops; the recorder flags initialize answered without Mcp-Session-Id (initialize-no-session-id)",
		Source: "seed write-up (\"the Claude app requires it\")"},
	{Name: "resource-mismatch", Title: "Authorization with the MCP server failed",
		Toggles: []string{"resource-mismatch"},
		Story: "The protected resource metadata names a resource other than the URL the user typed. Clients that validate it " +
			"(RFC 9728 §3.3) reject the document and never start OAuth; Claude shows a generic authorization failure.",
		Expect: "the TypeScript SDK client refuses the metadata and fails before registration; the recorder names the mismatch (resource-metadata-mismatch)",
		Source: "akutishevsky/withings-mcp#20; elgorro/aiquila#77"},
	{Name: "token-exchange-failed", Title: "Authorization with the MCP server failed (mcp_token_exchange_failed)",
		Toggles: []string{"token-error=invalid_grant"},
		Story: "The user approves, the client reaches its callback, and the token request fails. Claude reports " +
			"error_code=mcp_token_exchange_failed and nothing in the server log explains it.",
		Expect: "the TypeScript SDK client fails at the token step with invalid_grant; the recorder shows a token error after authorize (token-invalid-grant)",
		Source: "anthropics/claude-ai-mcp#215, #340"},
	{Name: "stale-client", Title: "A client id from an earlier run (re-registration)",
		Toggles: []string{"invalid-client-on-token"},
		Story: "The token endpoint answers 401 invalid_client, as it does for a client id the server forgot. A client that " +
			"follows the documented path throws its registration away and registers again; one that caches it is stuck. " +
			"While the toggle is on, every client is refused: watch whether a new registration follows, not a recovery.",
		Expect: "the TypeScript SDK client (1.32.2) drops its registration and tokens on invalid_client but cannot exchange the code " +
			"without a client, so that attempt fails (\"Existing OAuth client information is required when exchanging an authorization " +
			"code\"); its next attempt registers anew, under a new client id, which the toggle refuses too; the recorder explains " +
			"invalid_client (token-invalid-client)",
		Source: "support.anthropic.com 11503834; anthropics/claude-code#4760 (mcp-remote caches ~/.mcp-auth)"},
	{Name: "discover-fallback", Title: "A 2026 client meets a legacy server",
		Toggles: []string{"reject-discover"},
		Story: "server/discover is answered Method not found, as a server from before 2026-07-28 does. Claude and the Go SDK " +
			"fall back to initialize; a client that does not is stuck at its first request.",
		Expect: "the Go SDK client, and a replay of Claude's handshake (server/discover at 2026-07-28, then OAuth and initialize at " +
			"2025-11-25 or the seed's 2024-11-05), fall back to initialize and call tools; the recorder notes the fallback (discover-fallback)",
		Source: "hauptsacheNet/typo3-mcp-server#110; go-sdk PR #1014"},
	{Name: "couldnt-reach", Title: "Couldn't reach the MCP server",
		Toggles: []string{"omit-resource-metadata", "no-resource-metadata"},
		Story: "The 401 carries no resource_metadata and the well-known protected resource metadata is missing, so a client " +
			"has nothing to start OAuth from but the MCP origin's own authorization-server metadata.",
		Expect: "the TypeScript SDK client falls back to the origin's authorization-server metadata and still completes; the recorder flags the missing metadata (challenge-no-resource-metadata, resource-metadata-unreachable)",
		Source: "hoeloe15/imagine#36; anthropics/claude-ai-mcp drafts/announcement-auth-server-metadata-fallback-deprecation.md"},
	{Name: "redirect-host", Title: "redirect_uri mismatch (claude.ai vs claude.com)",
		Toggles: []string{"redirect-allow=claude.com"},
		Story: "The server accepts redirect URIs on claude.com only, while the client registers claude.ai's callback: " +
			"registration fails with invalid_redirect_uri and the user sees a sign-in error.",
		Expect: "the TypeScript SDK client registering claude.ai's callback is refused at registration with invalid_redirect_uri, " +
			"before any browser is involved; the recorder names the redirect URI (register-rejected)",
		Source: "support.claude.com 11503834; anthropics/claude-ai-mcp#431"},
	{Name: "expired", Title: "Connection has expired",
		Toggles: []string{"short-token=2s", "no-refresh-token"},
		Story: "Access tokens live two seconds and no refresh token is issued. After the first call the next one is 401; " +
			"a client without a refresh token must send the user through OAuth again.",
		Expect: "the TypeScript SDK client's call after expiry is refused with 401; the recorder flags an expired token and no refresh (token-expired-no-refresh)",
		Source: "anthropics/claude-ai-mcp#228, #702, #840"},
}

// Scenarios returns the known failures mcpwatch can reproduce, in order (copies).
func Scenarios() []Scenario {
	out := make([]Scenario, len(scenarios))
	for i, s := range scenarios {
		s.Toggles = slices.Clone(s.Toggles)
		out[i] = s
	}
	return out
}

// LookupScenario returns the scenario named name (a copy), or an error listing them.
func LookupScenario(name string) (Scenario, error) {
	for _, s := range scenarios {
		if s.Name == name {
			s.Toggles = slices.Clone(s.Toggles)
			return s, nil
		}
	}
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.Name
	}
	return Scenario{}, fmt.Errorf("unknown scenario %q; scenarios: %s", name, strings.Join(names, ", "))
}
