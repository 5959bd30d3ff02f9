package clients

// The behaviour of each client, as reference/clients-2026-12.md records it: what names nothing (profiles holds
// the fingerprints) but what `mcpwatch probe --as` plays. Each value is its profile's Behaviour; Sources gives
// each fact's section and source. A fact the reference calls unknown is left empty.

const (
	v2026 = "2026-07-28"
	v1125 = "2025-11-25"
	v0618 = "2025-06-18"
	v0326 = "2025-03-26"
)

var (
	codeRefresh = []string{"authorization_code", "refresh_token"}
	codeOnly    = []string{"code"}
)

// Claude's Accept is left to the spec: "Accept: */*" on initialize was seen once, in 2026-03, before the switch to
// server/discover (§1 Identity, cam#76), and the TypeScript SDK's servers answer it 406 — played, it failed every
// SDK server Claude is known to reach.
var claudeBehaviour = Behaviour{
	Opening: "discover", Registration: []string{"preregistered", "cimd", "dcr"}, CIMDNeedsNone: true,
	DiscoveryOrder: []string{"prm-path", "prm-root", "as"}, EchoesSession: boolp(false), ManyAddresses: true,
	FirstRequest: "post",
	CIMDURL:      "https://claude.ai/oauth/mcp-oauth-client-metadata", CIMDAuth: "none",
	DCR: &Registration{ClientName: "Claude", RedirectURIs: []string{"{redirect}"}, GrantTypes: codeRefresh,
		TokenEndpointAuthMethod: "client_secret_post"},
	Callback: "https://claude.ai/api/mcp/auth_callback",
	Scope:    []string{"challenge", "as"}, Resource: true,
	Versions: []string{v2026, v1125}, HeaderVersion: v1125,
	ClientInfo: [2]string{"Anthropic/ClaudeAI", "1.0.0"}, UserAgent: "Claude-User", OAuthUserAgent: "python-httpx/0.28.1",
	NoInitialized: true,
	Sources: map[string]string{
		"Opening":        "§1 Opening [typo3-mcp-server#110; cam#975]",
		"Registration":   "§1 Registration [claude.com/docs/connectors/building/authentication]",
		"CIMDNeedsNone":  "§1 Registration [claude.com docs; lion-reader#1519]",
		"DiscoveryOrder": "§1 Discovery [lion-reader#977; lion-reader#986]",
		"EchoesSession":  "§1 Opening [cam#975]",
		"FirstRequest":   "§1 Identity [cam#1043: the first unauthenticated POST of a connect attempt]",
		"CIMDURL":        "§1 Registration [idx:57670918104]",
		"DCR":            "§1 Registration [lion-reader#986; cam#1043; cam#82]",
		"Callback":       "§1 Authorize [support.claude.com 11503834]",
		"Scope":          "§1 Authorize [tldraw#10612; claude.com docs via idx:70746813673]",
		"Resource":       "§1 Authorize [idx:70746813673]",
		"Versions":       "§1 Opening [typo3-mcp-server#110; cam#76]",
		"HeaderVersion":  "§1 Identity [CC#93290]",
		"ClientInfo":     "§1 Identity [cam#473]",
		"UserAgent":      "§1 Identity [cam#82; cam#1043]",
		"NoInitialized":  "§1 Opening [cam#473]",
	}}

var claudeCodeBehaviour = Behaviour{
	Opening: "discover", Registration: []string{"preregistered", "cimd", "dcr"},
	DiscoveryOrder: []string{"prm-header", "prm-path", "prm-root", "as"},
	FirstRequest:   "post",
	CIMDURL:        "https://claude.ai/oauth/claude-code-client-metadata", CIMDAuth: "none",
	DCR: &Registration{ClientName: "Claude Code (mcpwatch-probe)", RedirectURIs: []string{"{redirect}"},
		ApplicationType: "native"},
	Callback: "http://localhost:{port}/callback",
	Scope:    []string{"challenge", "prm"}, OfflineAccess: true, Resource: true,
	Versions: []string{v2026, v1125}, DiscoverID: `"server-discover-probe-1"`,
	ClientInfo: [2]string{"claude-code", "2.1.332"}, UserAgent: "claude-code/2.1.332 (cli)", OAuthUserAgent: "Bun/1.3.11",
	Accept: "application/json, text/event-stream",
	Sources: map[string]string{
		"Opening":        "§2 Opening [idx:61364151426]",
		"Registration":   "§2 Registration [code.claude.com docs via idx:70746813673]",
		"DiscoveryOrder": "§2 Discovery [code.claude.com docs; CC#71610]",
		"CIMDURL":        "§2 Registration [CC#37767]",
		"DCR":            "§2 Registration [elmohq/elmo#684: application_type native; the full body is unknown, client_name as 2.1.332 sent it in e2e]",
		"Callback":       "§2 Authorize [idx:71285486348; CC#66511]",
		"Scope":          "§2 Authorize [basic-memory#1283]",
		"Resource":       "§2 Authorize [CC#76096]",
		"Versions":       "§2 Opening [idx:61364151426]",
		"DiscoverID":     "§2 Identity [idx:61364151426]",
		"ClientInfo":     "§2 Identity [idx:61364151426]",
		"UserAgent":      "§2 Identity [cam#82]",
		"Accept":         "§2 Identity [idx:68919721988]",
	}}

var chatgptBehaviour = Behaviour{
	Registration:   []string{"cimd", "dcr"},
	DiscoveryOrder: []string{"prm-header", "prm-path", "as", "oidc"},
	CIMDURL:        "https://chatgpt.com/oauth/client.json", CIMDAuth: "private_key_jwt",
	Callback:   "https://chatgpt.com/connector_platform_oauth_redirect",
	Resource:   true,
	ClientInfo: [2]string{"ChatGPT", ""}, UserAgent: "openai-mcp/1.0.0 (ChatGPT)", OAuthUserAgent: "Python/3.12 aiohttp/3.13.3",
	Sources: map[string]string{
		"Registration":   "§3 Registration [developers.openai.com/plugins/build/auth]",
		"DiscoveryOrder": "§3 Discovery [developers.openai.com docs; Waishnav/devspace#44] (exact order unknown)",
		"CIMDURL":        "§3 Registration [idx:57670918104; django-oauth-toolkit#1845]",
		"Callback":       "§3 Registration [postiz-app#2092: the shared redirect when the AS advertises iss]",
		"Resource":       "§3 Authorize [developers.openai.com docs]",
		"ClientInfo":     "§3 Identity [apify mcp-clients.json]",
		"UserAgent":      "§3 Identity [cam#82]",
		"DCR":            "§3 Registration: DCR body unknown",
	}}

var codexBehaviour = Behaviour{
	Opening: "initialize", Registration: []string{"preregistered", "cimd", "dcr"}, CIMDNeedsNone: true,
	DiscoveryOrder: []string{"prm-path", "as"}, FirstRequest: "get",
	CIMDURL: "https://chatgpt.com/oauth/codex/{id}/client.json", CIMDAuth: "none", CIMDLoopbackOnly: true,
	DCR:      &Registration{ClientName: "Codex", RedirectURIs: []string{"{redirect}"}, ApplicationType: "native"},
	Callback: "http://127.0.0.1:{port}/callback/{id}",
	Scope:    []string{"none"}, Resource: true, ChecksIss: true,
	Versions:   []string{v0618},
	ClientInfo: [2]string{"codex-mcp-client", "0.147.0"}, UserAgent: "codex-mcp-client/0.147.0", OAuthUserAgent: "codex-mcp-client/0.147.0",
	Sources: map[string]string{
		"Opening":        "§4 Opening [codex#26955]",
		"Registration":   "§4 Registration [Codex docs idx:60148379091]",
		"DiscoveryOrder": "§4 Discovery [codex#13200]",
		"FirstRequest":   "§4 Discovery [codex#13200: GET <mcp path> first]",
		"CIMDURL":        "§4 Registration [idx:59662689681]",
		"DCR":            "§4 Registration [perform_oauth_login.rs; elmohq/elmo#684]",
		"Callback":       "§4 Authorize [codex PR#20237]",
		"Scope":          "§4 Discovery [codex#15643: ignores PRM scopes and the challenge's]",
		"Resource":       "§4 Authorize [codex PR#12866]",
		"ChecksIss":      "§4 Token [mcp-server-cloudflare#449]",
		"Versions":       "§4 Identity [codex#5619]",
		"UserAgent":      "§4 Identity [codex#13200]",
	}}

var cursorBehaviour = Behaviour{
	Registration:   []string{"preregistered", "dcr"},
	DiscoveryOrder: []string{"prm-header", "prm-path", "prm-root", "as"},
	DCR: &Registration{RedirectURIs: []string{"cursor://anysphere.cursor-mcp/oauth/callback",
		"https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"},
		TokenEndpointAuthMethod: "none"},
	Callback:   "http://localhost:8787/callback",
	Scope:      []string{"as"},
	ClientInfo: [2]string{"cursor-vscode", "3.10.17"},
	Sources: map[string]string{
		"Registration": "§5 Registration [idx:70746813673; Altinity#169]",
		"DCR":          "§5 Registration [erp-mafia/accounted#2225; openwork#3059]",
		"Callback":     "§5 Authorize [Cursor docs via idx:70746813673]",
		"Scope":        "§5 Discovery [Cursor docs via idx:70746813673]",
		"ClientInfo":   "§5 Identity [apify mcp-clients.json]",
	}}

var vscodeBehaviour = Behaviour{
	Opening: "initialize", Registration: []string{"cimd", "dcr"},
	DiscoveryOrder: []string{"prm-header", "prm-path", "prm-root", "as", "oidc"},
	CIMDURL:        "https://vscode.dev/oauth/client-metadata.json", CIMDAuth: "none",
	DCR: &Registration{ClientName: "Visual Studio Code", ClientURI: "https://code.visualstudio.com",
		GrantTypes: codeRefresh, ResponseTypes: codeOnly,
		RedirectURIs: []string{"https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect", "http://127.0.0.1/", "http://127.0.0.1:33418/"},
		Scope:        "discovered", TokenEndpointAuthMethod: "none", ApplicationType: "native"},
	Callback: "http://127.0.0.1:33418/",
	Scope:    []string{"challenge", "prm"}, Resource: true,
	ClientInfo: [2]string{"Visual Studio Code", "1.132.0"},
	Sources: map[string]string{
		"Opening":        "§6 Opening [vscode#329848]",
		"Registration":   "§6 Registration [vscode#270811; vscode PR#271403]",
		"DiscoveryOrder": "§6 Discovery [microsoft/vscode oauth.ts]",
		"CIMDURL":        "§6 Registration [idx:70746813673]",
		"DCR":            "§6 Registration [oauth.ts]",
		"Callback":       "§6 Authorize [idx:53772236371]",
		"Scope":          "§6 Authorize [idx:53772236371] (scope=mcp-access observed; its origin inferred)",
		"Resource":       "§6 Authorize [idx:53772236371]",
		"ClientInfo":     "§6 Identity [apify mcp-clients.json]",
	}}

var copilotCLIBehaviour = Behaviour{
	Registration: []string{"cimd", "dcr"},
	CIMDURL:      "https://github.com/copilot/cli/client-metadata.json", CIMDAuth: "none",
	Callback:   "http://127.0.0.1:{port}/",
	ClientInfo: [2]string{"github-copilot-developer", "1.0.87"},
	Sources: map[string]string{
		"Registration": "§7 [copilot-cli#1305; copilot-cli#4901]",
		"CIMDURL":      "§7 [copilot-cli#4901]",
		"Callback":     "§7 [copilot-cli#4793: an ephemeral port, not the document's 33418]",
		"ClientInfo":   "§7 [apify mcp-clients.json]",
		"DCR":          "§7: DCR body unknown",
	}}

var geminiCLIBehaviour = Behaviour{
	Opening: "initialize", Registration: []string{"dcr"},
	DiscoveryOrder: []string{"prm-header", "prm-path", "prm-root", "as", "oidc"}, FirstRequest: "head",
	DCR: &Registration{ClientName: "Gemini CLI MCP Client", RedirectURIs: []string{"{redirect}"}, GrantTypes: codeRefresh,
		ResponseTypes: codeOnly, TokenEndpointAuthMethod: "none", Scope: "discovered"},
	Callback: "http://localhost:{port}/oauth/callback",
	Scope:    []string{"as"}, Resource: true,
	ClientInfo: [2]string{"gemini-cli-mcp-client", "0.56.0"},
	Sources: map[string]string{
		"Opening":        "§8 (TS SDK 1.23 transports, inferred)",
		"Registration":   "§8 [oauth-provider.ts: no CIMD path]",
		"DiscoveryOrder": "§8 [oauth-provider.ts; oauth-utils.ts]",
		"FirstRequest":   "§8 [oauth-provider.ts: HEAD <mcp url>]",
		"DCR":            "§8 [oauth-provider.ts]",
		"Callback":       "§8 [oauth-flow.ts]",
		"Scope":          "§8 [oauth-utils.ts metadataToOAuthConfig]",
		"Resource":       "§8 [oauth-flow.ts]",
		"ClientInfo":     "§8 [mcp-client.ts]",
	}}

var zedBehaviour = Behaviour{
	Opening: "initialize", Registration: []string{"cimd", "dcr"},
	DiscoveryOrder: []string{"prm-header", "prm-path", "prm-root", "as", "oidc"},
	CIMDURL:        "https://zed.dev/oauth/client-metadata.json", CIMDAuth: "none",
	DCR: &Registration{ClientName: "Zed", RedirectURIs: []string{"{redirect}"}, GrantTypes: codeRefresh, ResponseTypes: codeOnly,
		TokenEndpointAuthMethod: "none"},
	Callback: "http://127.0.0.1:{port}/callback",
	Scope:    []string{"challenge", "prm", "none"}, Resource: true,
	Versions: []string{v1125}, ClientInfo: [2]string{"Zed", "0.200.0"},
	Sources: map[string]string{
		"Registration":   "§12 [zed oauth.rs: CIMD whenever advertised, no none check]",
		"DiscoveryOrder": "§12 [oauth.rs]",
		"CIMDURL":        "§12 [oauth.rs]",
		"DCR":            "§12 [oauth.rs]",
		"Callback":       "§12 [oauth.rs]",
		"Scope":          "§12 [oauth.rs]",
		"Resource":       "§12 [oauth.rs: always]",
		"Versions":       "§12 [zuplo.com/learn/mcp/compatibility/clients/zed]",
		"ClientInfo":     "§12 [apify mcp-clients.json]",
	}}

var opencodeBehaviour = Behaviour{
	Opening: "initialize", Registration: []string{"cimd", "dcr"}, CIMDNeedsNone: true,
	CIMDURL: "https://opencode.ai/oauth/opencode/client.json", CIMDAuth: "none",
	DCR: &Registration{ClientName: "OpenCode", ClientURI: "https://opencode.ai", RedirectURIs: []string{"{redirect}"},
		GrantTypes: codeRefresh, ResponseTypes: codeOnly, TokenEndpointAuthMethod: "none"},
	Callback: "http://127.0.0.1:19876/mcp/oauth/callback",
	Scope:    []string{"challenge", "prm"}, Resource: true,
	ClientInfo: [2]string{"opencode", "1.0.0"},
	Sources: map[string]string{
		"Opening":       "§13 (TS SDK 1.x, inferred)",
		"Registration":  "§13 [opencode PR#47737; PR#47743]",
		"CIMDNeedsNone": "§13 [opencode PR#47743]",
		"CIMDURL":       "§13 [opencode PR#47743]",
		"DCR":           "§13 [oauth-provider.ts@0a8a0ed]",
		"Callback":      "§13 [oauth-provider.ts]",
		"Scope":         "§13 → §19 (TS SDK, inferred)",
		"ClientInfo":    "§13 [opencode PR#2289]",
	}}

var gooseBehaviour = Behaviour{
	Registration: []string{"cimd"},
	CIMDURL:      "https://goose-docs.ai/oauth/client-metadata.json", CIMDAuth: "none",
	Callback: "http://localhost:{port}",
	Versions: []string{v0326}, ClientInfo: [2]string{"goose", "1.47.0"},
	Sources: map[string]string{
		"Registration": "§14 [goose PR#8550; goose#9670: no DCR fallback]",
		"CIMDURL":      "§14 [goose PR#8550]",
		"Callback":     "§14 [goose#9181]",
		"Versions":     "§14 [apify mcp-clients.json]",
		"Opening":      "§14 [apify mcp-clients.json: protocol 2025-03-26, an initialize-era client]",
		"ClientInfo":   "§14 [apify mcp-clients.json]",
	}}

var inspectorBehaviour = Behaviour{
	Opening: "initialize", Registration: []string{"dcr"},
	DiscoveryOrder: []string{"prm-header", "prm-path", "prm-root", "as", "oidc"},
	DCR: &Registration{ClientName: "MCP Inspector", ClientURI: "https://github.com/modelcontextprotocol/inspector",
		RedirectURIs: []string{"{redirect}"}, GrantTypes: codeRefresh, ResponseTypes: codeOnly,
		TokenEndpointAuthMethod: "none", ApplicationType: "native", Scope: "empty"},
	Callback: "http://127.0.0.1:6276/oauth/callback",
	Scope:    []string{"challenge", "prm"}, OfflineAccess: true, Resource: true, ChecksIss: true,
	Versions: []string{v1125}, ClientInfo: [2]string{"mcp-inspector", "0.0.0"},
	Accept: "application/json, text/event-stream",
	Sources: map[string]string{
		"Opening":        "§17 [core/mcp/types.ts: legacy era by default]",
		"Registration":   "§17 [core/auth/cimd.ts: CIMD only with --client-metadata-url]",
		"DiscoveryOrder": "§17 → §19 [auth.ts]",
		"DCR":            "§17 [core/auth/providers.ts]",
		"Callback":       "§17 [runner-oauth-callback.ts]",
		"Scope":          "§17 → §19 [auth.ts]",
		"Resource":       "§19 [auth.ts: when PRM exists]",
		"ChecksIss":      "§19 [auth.ts]",
		"ClientInfo":     "§17 [inspectorClient.ts]",
		"Accept":         "§19 [streamableHttp.ts]",
	}}

var mcpRemoteBehaviour = Behaviour{
	Opening: "initialize", Registration: []string{"dcr"}, ProbeClientInfo: []string{"mcp-remote-fallback-test"},
	DiscoveryOrder: []string{"prm-header", "prm-path", "prm-root", "as"}, FirstRequest: "get",
	DCR: &Registration{ClientName: "MCP CLI Proxy", ClientURI: "https://github.com/modelcontextprotocol/mcp-cli",
		RedirectURIs: []string{"{redirect}"}, GrantTypes: codeRefresh, ResponseTypes: codeOnly,
		TokenEndpointAuthMethod: "none", SoftwareID: "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d", SoftwareVersion: "0.1.38",
		Scope: "discovered"},
	Callback: "http://localhost:{port}/oauth/callback",
	Scope:    []string{"challenge", "prm", "as"}, Resource: true,
	Versions: []string{v1125}, ClientInfo: [2]string{"mcpwatch-probe (via mcp-remote 0.1.38)", "0.1.38"},
	Accept: "application/json, text/event-stream",
	Sources: map[string]string{
		"Opening":        "§18 [utils.ts: http-first]",
		"DiscoveryOrder": "§18 [protected-resource-metadata.ts; authorization-server-metadata.ts: root AS only]",
		"FirstRequest":   "§18 [utils.ts: GET <url>]",
		"DCR":            "§18 [node-oauth-client-provider.ts]",
		"Callback":       "§18 [utils.ts calculateDefaultPort]",
		"Scope":          "§18 [node-oauth-client-provider.ts]",
		"ClientInfo":     "§18 [utils.ts]",
		"Accept":         "§18 [utils.ts]",
	}}

// spec is what the current revision (2026-07-28) says a client must do (reference/spec-checklist.md); it names
// no client, so it is not in profiles.
var spec = Profile{ID: "spec", Name: "mcpwatch probe (spec)", Section: "spec-checklist.md",
	// The probe's requests when it plays the spec: its user agent and registration name, so that a capture of
	// them names it (report, diff, open) rather than an unidentified client.
	Fingerprints: []Fingerprint{
		{Field: UserAgent, Exact: "mcpwatch-probe (as spec)", Strength: Decisive, Source: "recorder/probe (the user agent it sends as spec)"},
		{Field: ClientName, Exact: "mcpwatch probe (spec)", Strength: Decisive, Source: "recorder/probe (its registration's client_name as spec)"},
	},
	Behaviour: Behaviour{
		Opening: "discover", Registration: []string{"dcr"},
		DiscoveryOrder: []string{"prm-header", "prm-path", "prm-root", "as", "oidc"}, FirstRequest: "post",
		DCR: &Registration{ClientName: "mcpwatch probe (spec)", RedirectURIs: []string{"{redirect}"}, GrantTypes: codeRefresh,
			ResponseTypes: codeOnly, TokenEndpointAuthMethod: "none", ApplicationType: "native"},
		Callback: "http://127.0.0.1:{port}/callback",
		Scope:    []string{"challenge", "prm", "none"}, Resource: true, ChecksIss: true, ChecksResource: true,
		Versions: []string{v2026, v1125}, ClientInfo: [2]string{"mcpwatch-probe", "spec"},
		Accept: "application/json, text/event-stream",
		Sources: map[string]string{
			"Opening":        "spec-checklist §3 (server/discover; initialize for legacy servers §4)",
			"Registration":   "spec-checklist §7 (DCR; a client with no metadata document of its own)",
			"DiscoveryOrder": "spec-checklist §6 and §7 (header, path-inserted, root; RFC 8414 then OIDC)",
			"DCR":            "spec-checklist §7 (2026-07-28 clients must send application_type)",
			"Scope":          "spec-checklist §6 (Scope Selection Strategy)",
			"Resource":       "spec-checklist §7 (RFC 8707 on authorize and token)",
			"ChecksIss":      "spec-checklist §7 (RFC 9207)",
			"ChecksResource": "RFC 9728 §3.3 (the resource must be the URL the client connects to)",
			"Versions":       "spec-checklist §0",
			"Accept":         "spec-checklist §1/§3",
		},
	}}
