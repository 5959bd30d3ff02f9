package analysis

import (
	"net/url"
	"strings"
)

// Client identification. Each signal names a client with a strength; a connection takes its strongest signal
// (the first one on a tie). Strengths:
//
//	5  a redirect URI or client ID metadata document URL only that client uses
//	4  a user agent or registered client_name only that client sends
//	3  a clientInfo name
//	2  an unrecognised clientInfo name (it rules out a weak guess), or a user agent most often that client's
//	1  a user agent many programs send (python-httpx, aiohttp), a loopback /callback
//
// Sources are cited per signal; issue refs without a repository are anthropics/claude-ai-mcp#N, CC#N is
// anthropics/claude-code#N (reference/clients-and-peers.md).
type signal struct {
	kind     ClientKind
	strength int
	name     string // a display name: clientInfo name/version or client_name
}

// uaSignal identifies a client by its User-Agent.
func uaSignal(ua string) signal {
	switch {
	case ua == "":
		return signal{}
	// Anthropic's connector backend sends Claude-User on MCP and auth traffic (dbernheisel/phantom_mcp#2; #975).
	case strings.Contains(ua, "Claude-User"):
		return signal{kind: ClientClaude, strength: 4}
	// ... and python-httpx on discovery and HEAD probes (PrefectHQ/fastmcp#1466; tldraw/tldraw#10612;
	// loginov-rocks/Remote-MCP-Auth fixtures getEvent.json). The Python MCP SDK sends it too: a weak guess.
	case strings.HasPrefix(ua, "python-httpx/"):
		return signal{kind: ClientClaude, strength: 1}
	// A bare "Ruby" UA is the one-off reachability check when a Claude connector is saved (#85).
	case ua == "Ruby":
		return signal{kind: ClientClaude, strength: 1}
	// ChatGPT's connector backend: Python/3.x aiohttp/3.x (Waishnav/devspace#44).
	case strings.HasPrefix(ua, "Python/") && strings.Contains(ua, "aiohttp/"):
		return signal{kind: ClientChatGPT, strength: 1}
	// Claude Code identifies as claude-code/<version> (its requests to Anthropic's API carry the same UA; public
	// client notes, e.g. "user-agent: claude-code/2.1.37 (external, cli)").
	case strings.HasPrefix(strings.ToLower(ua), "claude-code/"):
		return signal{kind: ClientClaudeCode, strength: 2}
	}
	return signal{}
}

// clientInfoSignal identifies a client by the clientInfo name of initialize (or the 2026-07-28 _meta clientInfo).
func clientInfoSignal(name, version string) signal {
	if name == "" {
		return signal{}
	}
	display := name
	if version != "" {
		display += " " + version
	}
	s := signal{kind: ClientUnknown, strength: 2, name: display}
	switch ln := strings.ToLower(name); {
	// mcp-remote appends "(via mcp-remote <version>)" to the name of the client it bridges (punkpeye/mcp-remote#63).
	case strings.Contains(ln, "mcp-remote"):
		s.kind, s.strength = ClientMCPRemote, 4
	// The Claude web app's connector backend: "claude-ai" (seed document; apify/mcp-client-capabilities
	// mcp-clients.json), "Anthropic" and "Anthropic/ClaudeAI" (two services probing in one attempt: #217; #473).
	case ln == "claude-ai", ln == "anthropic", ln == "anthropic/claudeai":
		s.kind, s.strength = ClientClaude, 3
	// Claude Code (apify/mcp-client-capabilities). The claude.ai Connect health check has also been seen as
	// "claude-code" (#708): its Claude-User user agent (strength 4) wins then.
	case ln == "claude-code":
		s.kind, s.strength = ClientClaudeCode, 3
	// Cursor: "cursor-vscode" (apify/mcp-client-capabilities).
	case ln == "cursor-vscode":
		s.kind, s.strength = ClientCursor, 3
	// VS Code: "Visual Studio Code" / "Visual-Studio-Code" (apify/mcp-client-capabilities).
	case ln == "visual studio code", ln == "visual-studio-code":
		s.kind, s.strength = ClientVSCode, 3
	// ChatGPT: "ChatGPT" (apify/mcp-client-capabilities); "openai-mcp" is what OpenAI's connector backend sends
	// (public server logs of ChatGPT connectors).
	case ln == "chatgpt", ln == "openai-mcp":
		s.kind, s.strength = ClientChatGPT, 3
	// MCP Inspector: "mcp-inspector" (modelcontextprotocol/inspector client sources).
	case ln == "mcp-inspector", ln == "inspector-client":
		s.kind, s.strength = ClientInspector, 3
	}
	return s
}

// redirectSignal identifies a client by a redirect URI it registered or sent.
func redirectSignal(raw string) signal {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return signal{}
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	switch {
	// Claude web/Desktop: https://claude.ai/api/mcp/auth_callback, and claude.com (support.claude.com/…/11503834;
	// #215; erp-mafia/accounted#77).
	case u.Scheme == "https" && (host == "claude.ai" || host == "claude.com"):
		return signal{kind: ClientClaude, strength: 5}
	// ChatGPT: https://chatgpt.com/connector/oauth/<id> and the legacy /connector_platform_oauth_redirect
	// (makeplane/plane-mcp-server#165; elastic/docs-content#7733).
	case host == "chatgpt.com" || host == "chat.openai.com":
		return signal{kind: ClientChatGPT, strength: 5}
	// Cursor: cursor://anysphere.cursor-mcp/oauth/callback, https://www.cursor.com/agents/mcp/oauth/callback
	// (erp-mafia/accounted#2225).
	case u.Scheme == "cursor" || host == "www.cursor.com" || host == "cursor.com":
		return signal{kind: ClientCursor, strength: 5}
	// VS Code: https://vscode.dev/redirect, https://insiders.vscode.dev/redirect, http://127.0.0.1:33418/
	// (microsoft/vscode#278512).
	case host == "vscode.dev" || host == "insiders.vscode.dev" || u.Scheme == "vscode" ||
		host == "127.0.0.1" && port == "33418":
		return signal{kind: ClientVSCode, strength: 5}
	}
	if !isLoopbackURL(u) {
		return signal{}
	}
	switch {
	// MCP Inspector v1: http://localhost:6274/oauth/callback(/debug); v2 TUI: http://127.0.0.1:6276/oauth/callback
	// (inspector v1/main client/src/lib/auth.ts; clients/tui/README.md).
	case (port == "6274" || port == "6276") && strings.HasPrefix(u.Path, "/oauth/callback"):
		return signal{kind: ClientInspector, strength: 5}
	// mcp-remote: http://localhost:3334/oauth/callback by default, another port when it is busy
	// (punkpeye/mcp-remote#72).
	case port == "3334" && u.Path == "/oauth/callback":
		return signal{kind: ClientMCPRemote, strength: 4}
	// Cursor's loopback callback http://localhost:8787/callback (erp-mafia/accounted#2225).
	case port == "8787" && u.Path == "/callback":
		return signal{kind: ClientCursor, strength: 4}
	// Claude Code: http://localhost:<random>/callback (CC#66511). SDK examples use the same shape: weak, and only
	// in Claude Code's exact form (localhost, not an IP).
	case u.Path == "/callback" && strings.EqualFold(u.Hostname(), "localhost"):
		return signal{kind: ClientClaudeCode, strength: 1}
	}
	return signal{}
}

// clientNameSignal identifies a client by the client_name of its registration.
func clientNameSignal(name string) signal {
	if name == "" {
		return signal{}
	}
	s := signal{name: name}
	switch ln := strings.ToLower(name); {
	// Claude web: client_name "Claude" (loginov-rocks/Remote-MCP-Auth fixtures postRegisterParams.json),
	// "claudeai" in mid-2025 (seed document; modelcontextprotocol/modelcontextprotocol#653).
	case ln == "claude", ln == "claudeai":
		s.kind, s.strength = ClientClaude, 4
	// mcp-remote registers as "MCP CLI Proxy" (anthropics/claude-code#24870 shows the registration).
	case ln == "mcp cli proxy":
		s.kind, s.strength = ClientMCPRemote, 4
	// MCP Inspector registers as "MCP Inspector" (inspector client/src/lib/auth.ts clientMetadata).
	case ln == "mcp inspector":
		s.kind, s.strength = ClientInspector, 4
	}
	return s
}

// clientIDSignal identifies a client by a client ID that is a metadata document URL (CIMD).
func clientIDSignal(id string) signal {
	switch id {
	// Claude web: https://claude.ai/oauth/mcp-oauth-client-metadata (loginov-rocks/Remote-MCP-Auth
	// fixtures claudeAiCmid.json; dmalis/dropthis#20).
	case "https://claude.ai/oauth/mcp-oauth-client-metadata":
		return signal{kind: ClientClaude, strength: 5}
	// Claude Code ≥ 2.1.81: https://claude.ai/oauth/claude-code-client-metadata (loginov claudeCodeCimd.json;
	// CC#36861).
	case "https://claude.ai/oauth/claude-code-client-metadata":
		return signal{kind: ClientClaudeCode, strength: 5}
	}
	return signal{}
}

// scopeSignal: Claude's connector asked for its own "claudeai" scope in mid-2025 (seed document;
// modelcontextprotocol/modelcontextprotocol#653).
func scopeSignal(scope string) signal {
	for _, s := range strings.Fields(scope) {
		if s == "claudeai" {
			return signal{kind: ClientClaude, strength: 3}
		}
	}
	return signal{}
}

// better reports whether s should replace the current best signal.
func (s signal) better(than signal) bool { return s.strength > than.strength }
