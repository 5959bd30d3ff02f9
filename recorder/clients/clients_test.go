package clients

import (
	"strings"
	"testing"
)

// Every fingerprint is well formed: one matcher, a strength, a source.
func TestProfilesWellFormed(t *testing.T) {
	ids := map[string]bool{}
	for _, p := range profiles {
		if p.ID == "" || p.Name == "" || p.Section == "" || ids[p.ID] {
			t.Errorf("profile %+v: empty or duplicate id, name or section", p.ID)
		}
		ids[p.ID] = true
		for _, f := range p.Fingerprints {
			n := 0
			for _, set := range []bool{f.Exact != "", f.Prefix != "", f.Contains != "", f.Pattern != nil} {
				if set {
					n++
				}
			}
			if n != 1 || f.Source == "" || f.Field == "" || (f.Strength != weak && f.Strength != Decisive) {
				t.Errorf("%s: malformed fingerprint %+v", p.ID, f)
			}
			if f.Pattern != nil && !strings.HasPrefix(f.Pattern.String(), "^") {
				t.Errorf("%s: pattern %s is not anchored", p.ID, f.Pattern)
			}
		}
	}
}

// Each client of the reference's fingerprint table is named by a signal of its row, and each signal the table
// marks shared names nobody alone (it matches only weakly).
func TestFingerprintTable(t *testing.T) {
	named := []struct {
		id    string
		field Field
		value string
	}{
		{"claude", MetadataURL, "https://claude.ai/oauth/mcp-oauth-client-metadata"},
		{"claude", ClientName, "Claude"},
		{"claude", RedirectURI, "https://claude.ai/api/mcp/auth_callback"},
		{"claude", UserAgent, "Claude-User"},
		{"claude", UserAgent, "Anthropic/1.0.0"},
		{"claude", ClientInfo, "Anthropic/ClaudeAI"},
		{"claude", ClientInfo, "claude-ai"},
		{"claude", RemoteAddr, "160.79.106.160"},
		{"claude", RemoteAddr, "160.79.111.3"},
		{"claude-code", MetadataURL, "https://claude.ai/oauth/claude-code-client-metadata"},
		{"claude-code", UserAgent, "claude-code/2.1.332 (cli)"},
		{"claude-code", ClientInfo, "claude-code"},
		{"claude-desktop-local", UserAgent, "claude-code/2.1.181 (external, claude-desktop, agent-sdk/0.3.181)"},
		{"chatgpt", MetadataURL, "https://chatgpt.com/oauth/client.json"},
		{"chatgpt", MetadataURL, "https://chatgpt.com/oauth/mcp/client.json"},
		{"chatgpt", MetadataURL, "https://chatgpt.com/oauth/kDmjx77UnKOM/client.json"},
		{"chatgpt", RedirectURI, "https://chatgpt.com/connector_platform_oauth_redirect"},
		{"chatgpt", RedirectURI, "https://chatgpt.com/connector/oauth/jKP_NLo_VszT"},
		{"chatgpt", UserAgent, "openai-mcp/1.0.0 (ChatGPT)"},
		{"chatgpt", ClientInfo, "ChatGPT"},
		{"codex", MetadataURL, "https://chatgpt.com/oauth/codex/AbCdEfGhIj_-/client.json"},
		{"codex", ClientName, "Codex"},
		{"codex", RedirectURI, "http://127.0.0.1:41977/callback/AbCdEfGhIj_-"},
		{"codex", UserAgent, "codex-mcp-client/0.147.0-alpha.1"},
		{"codex", ClientInfo, "codex-mcp-client"},
		{"cursor", RedirectURI, "cursor://anysphere.cursor-mcp/oauth/callback"},
		{"cursor", ClientInfo, "cursor-vscode"},
		{"vscode", MetadataURL, "https://vscode.dev/oauth/client-metadata.json"},
		{"vscode", RedirectURI, "https://insiders.vscode.dev/redirect"},
		{"vscode", ClientInfo, "Visual Studio Code"},
		{"copilot-cli", MetadataURL, "https://github.com/copilot/cli/client-metadata.json"},
		{"copilot-cli", ClientInfo, "github-copilot-developer"},
		{"gemini-cli", ClientName, "Gemini CLI MCP Client"},
		{"gemini-cli", ClientInfo, "gemini-cli-mcp-client"},
		{"gemini-web", RedirectURI, "https://oauth-redirect.googleusercontent.com/r/user_bound_custom-mcp-1234-mcp_swiggy_com"},
		{"gemini-enterprise", RedirectURI, "https://vertexaisearch.cloud.google.com/oauth-redirect"},
		{"grok", RedirectURI, "https://grok.com/connectors-oauth-exchange-code/"},
		{"zed", MetadataURL, "https://zed.dev/oauth/client-metadata.json"},
		{"zed", ClientName, "Zed"},
		{"zed", ClientInfo, "Zed"},
		{"opencode", ClientName, "OpenCode"},
		{"opencode", RedirectURI, "http://127.0.0.1:19876/mcp/oauth/callback"},
		{"opencode", MetadataURL, "https://opencode.ai/oauth/opencode/client.json"},
		{"opencode", ClientInfo, "opencode"},
		{"goose", MetadataURL, "https://goose-docs.ai/oauth/client-metadata.json"},
		{"goose", ClientInfo, "goose"},
		{"windsurf", ClientInfo, "Windsurf"},
		{"windsurf", ClientInfo, "windsurf-client"},
		{"librechat", ClientName, "LibreChat MCP Client"},
		{"librechat", RedirectURI, "https://chat.example.com/api/mcp/notion/oauth/callback"},
		{"librechat", ClientInfo, "@librechat/api-client"},
		{"inspector", ClientName, "MCP Inspector"},
		{"inspector", RedirectURI, "http://127.0.0.1:6276/oauth/callback"},
		{"inspector", ClientInfo, "mcp-inspector"},
		{"mcp-remote", ClientName, "MCP CLI Proxy"},
		{"mcp-remote", SoftwareID, "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d"},
		{"mcp-remote", ClientInfo, "Claude Desktop (via mcp-remote 0.1.38)"},
		{"python-sdk", ClientInfo, "mcp"},
		{"chatgpt", AssertionKeyID, "cimd-20260428030119"},
		{"chatgpt", ClientURI, "https://chatgpt.com/"},
		{"codex", ClientURI, "https://chatgpt.com/codex"},
		{"vscode", ClientURI, "https://code.visualstudio.com"},
		{"opencode", ClientURI, "https://opencode.ai"},
		{"inspector", ClientURI, "https://github.com/modelcontextprotocol/inspector"},
		{"mcp-remote", ClientURI, "https://github.com/modelcontextprotocol/mcp-cli"},
		{"mcp-remote", ClientInfo, "mcp-remote-fallback-test"},
		{"inspector", ClientInfo, "inspector-cli"},
		{"claude-code", ClientName, "Claude Code (mcpwatch)"},
		{"ai-sdk", ClientInfo, "ai-sdk-mcp-client"},
		{"ai-sdk", UserAgent, "ai-sdk/2.0.99 node.js/22"},
		{"cloudflare-agents", ClientName, "Cloudflare-AI-Playground-abcdefghijklmnopqrstu"},
		{"cloudflare-agents", RedirectURI, "https://playground.ai.cloudflare.com/agents/playground/Cloudflare-AI-Playground-abc/callback"},
	}
	for _, tt := range named {
		m, ok := Lookup(tt.field, tt.value)
		if !ok || m.Profile.ID != tt.id || m.Fingerprint.Strength != Decisive {
			got := "nothing"
			if ok {
				got = m.Profile.ID
			}
			t.Errorf("%s %q names %s, want %s (decisive)", tt.field, tt.value, got, tt.id)
		}
	}
	shared := []struct {
		field Field
		value string
	}{
		{UserAgent, "python-httpx/0.28.1"},
		{UserAgent, "node"},
		{UserAgent, "Bun/1.3.11"},
		{UserAgent, "Python/3.12 aiohttp/3.13.3"},
		{UserAgent, "Ruby"},
		{RedirectURI, "http://localhost:45157/callback"},
		{RedirectURI, "http://127.0.0.1:45157/callback"},
		{RedirectURI, "http://localhost:8787/callback"},
		{RedirectURI, "http://127.0.0.1:33418/"},
		{RedirectURI, "http://localhost:40123/oauth/callback"},
		{RPCID, "server-discover-probe-1"},
		{ClientURI, "https://claude.ai"},
	}
	for _, ip := range []string{"160.79.103.255", "160.79.112.0", "10.160.79.106"} {
		if _, ok := Lookup(RemoteAddr, ip); ok {
			t.Errorf("%s is outside Claude's 160.79.104.0/21 and matched", ip)
		}
	}
	for _, tt := range shared {
		if m, ok := Lookup(tt.field, tt.value); ok && m.Fingerprint.Strength != weak {
			t.Errorf("%s %q is shared but names %s decisively", tt.field, tt.value, m.Profile.ID)
		}
	}
	// Every client with a decisive fingerprint is covered above.
	covered := map[string]bool{}
	for _, tt := range named {
		covered[tt.id] = true
	}
	for _, p := range profiles {
		for _, f := range p.Fingerprints {
			if f.Strength == Decisive && !covered[p.ID] {
				t.Errorf("profile %s is named by no case of this test", p.ID)
				break
			}
		}
	}
}

func TestLiteralPrefix(t *testing.T) {
	for pat, want := range map[string]string{
		`^https://claude\.(ai|com)/`:          "https://claude.",
		`^http://localhost:\d+/callback$`:     "http://localhost:",
		`^https://(www\.)?cursor\.com/`:       "https://",
		`^http://127\.0\.0\.1(:\d+)?/$`:       "http://127.0.0.1",
		`^abc?`:                               "ab",
		`no anchor`:                           "",
		`^claude-code/\S+ \(.*claude-desktop`: "claude-code/",
	} {
		if got := literalPrefix(pat); got != want {
			t.Errorf("literalPrefix(%s) = %q, want %q", pat, got, want)
		}
	}
}
