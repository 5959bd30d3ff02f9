package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// Fixtures of today's clients (issue on today's clients; reference/clients-2026-12.md): each reproduces what a
// real client did that the analysis misread, or a failure the reference documents. They follow the first list.
var clientFixtures = []derived{
	{"mcp-remote-two-sessions", "sdk-go-oauth",
		"mcp-remote's one-off probe client initializes at 2025-11-25 (its SDK's version) and closes its session after the host's initialize negotiated 2025-06-18 on a second session with the same token; each session keeps its own version: healthy.",
		func(c *capture) {
			init := c.rpc("initialize", 1)
			sid := init.RespHeaders.Get("Mcp-Session-Id")
			probe := c.clone(init, 100, -40*time.Millisecond)
			c.reqJSON(probe, func(m map[string]any) {
				p := m["params"].(map[string]any)
				p["clientInfo"] = map[string]any{"name": "mcp-remote-fallback-test", "version": "0.0.0"}
			})
			c.respHeader(probe, "Mcp-Session-Id", "MCP-REMOTE-PROBE-SESSION", "")
			c.reqJSON(init, func(m map[string]any) {
				p := m["params"].(map[string]any)
				p["protocolVersion"] = "2025-06-18"
				p["clientInfo"] = map[string]any{"name": "fixturegen-go (via mcp-remote 0.1.38)", "version": "1.0.0"}
			})
			c.result(init, func(r map[string]any) { r["protocolVersion"] = "2025-06-18" }, "")
			for _, ex := range c.exs {
				if ex.ReqHeaders.Get("Mcp-Session-Id") == sid {
					c.reqHeader(ex, "MCP-Protocol-Version", "2025-06-18")
				}
			}
			del := c.rpcless("DELETE")
			end := init.Start.Add(init.Timings.Total + time.Millisecond)
			d := c.clone(del, 101, end.Sub(del.Start))
			c.reqHeader(d, "Mcp-Session-Id", "MCP-REMOTE-PROBE-SESSION")
			c.reqHeader(d, "MCP-Protocol-Version", "2025-11-25")
		}},
	{"claude-code-discover-401", "sdk-go-oauth",
		"Claude Code 2.1.332 (`claude mcp list`) opens with server/discover, which the server refuses (toggle reject-discover); it falls back to initialize, answered 401, and reports that the server needs authentication.",
		func(c *capture) {
			init := c.rpc("initialize", 0)
			d := c.clone(init, 100, -30*time.Millisecond)
			d.ReqBody = body(`{"jsonrpc":"2.0","id":"server-discover-probe-1","method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"claude-code","version":"2.1.332"},"io.modelcontextprotocol/clientCapabilities":{}}}}`)
			c.reqHeader(d, "MCP-Protocol-Version", "2026-07-28")
			c.reqHeader(d, "Mcp-Method", "server/discover")
			c.respHeader(d, "Www-Authenticate", "", "")
			c.status(d, 200, "application/json", `{"jsonrpc":"2.0","id":"server-discover-probe-1","error":{"code":-32601,"message":"Method not found: \"server/discover\""}}`, "reject-discover")
			c.reqJSON(init, func(m map[string]any) {
				m["id"] = 0
				m["params"].(map[string]any)["clientInfo"] = map[string]any{"name": "claude-code", "version": "2.1.332"}
			})
			for _, ex := range []*recorder.Exchange{d, init} {
				c.reqHeader(ex, "User-Agent", "claude-code/2.1.332 (cli)")
			}
			c.cutAfter(init)
		}},
	{"discover-wrong-jsonrpc-id", "sdk-go-2026",
		"The answer to server/discover carries another id (toggle wrong-jsonrpc-id); the client (the AI SDK) cannot match it and gives up: the server did not refuse discover.",
		func(c *capture) {
			ex := c.rpc("server/discover", 0)
			c.result(ex, nil, "wrong-jsonrpc-id", 99)
			c.cutAfter(ex)
		}},
	{"no-registration-stopped", "sdk-go-oauth",
		"The MCP Inspector reads the authorization server metadata, which offers neither registration nor metadata documents (toggle no-registration), and stops.",
		func(c *capture) {
			c.reqJSON(c.rpc("initialize", 0), func(m map[string]any) {
				m["params"].(map[string]any)["clientInfo"] = map[string]any{"name": "mcp-inspector", "version": "2.12.0"}
			})
			ex := c.first(analysis.StageAuthMetadata)
			c.respJSON(ex, func(m map[string]any) {
				delete(m, "registration_endpoint")
				m["client_id_metadata_document_supported"] = false
			}, "no-registration")
			c.cutAfter(ex)
		}},
	{"ai-sdk-oauth", "sdk-go-oauth",
		"The AI SDK's MCP client with its example callback http://localhost:PORT/callback (the shape Claude Code's callback has too) gets its token and stops (its MCP requests are not here): nothing names the client.",
		func(c *capture) {
			c.replaceAll("http://127.0.0.1:39123/callback", "http://localhost:8090/callback")
			c.replaceAll(url.QueryEscape("http://127.0.0.1:39123/callback"), url.QueryEscape("http://localhost:8090/callback"))
			c.replaceAll(strings.ReplaceAll("http://127.0.0.1:39123/callback", "/", `\/`), strings.ReplaceAll("http://localhost:8090/callback", "/", `\/`))
			for _, ex := range c.exs {
				c.reqHeader(ex, "User-Agent", "node")
			}
			c.reqJSON(c.rpc("initialize", 0), func(m map[string]any) {
				m["params"].(map[string]any)["clientInfo"] = map[string]any{"name": "ai-sdk-mcp-client", "version": "1.0.0"}
			})
			c.cutAfter(c.first(analysis.StageToken))
		}},
	{"claude-code-oauth", "sdk-go-oauth",
		"Claude Code 2.1.332: MCP requests as claude-code/2.1.332 (cli), its OAuth discovery, registration and token requests as Bun/1.3.11 before it has a client id, the browser's authorization: one connection.",
		func(c *capture) {
			c.replaceAll("http://127.0.0.1:39123/callback", "http://localhost:39123/callback")
			c.replaceAll(url.QueryEscape("http://127.0.0.1:39123/callback"), url.QueryEscape("http://localhost:39123/callback"))
			for _, ex := range c.exs {
				switch s := analysis.StageOf(ex, "/mcp"); s {
				case analysis.StageAuthorize, analysis.StageConsent:
					c.reqHeader(ex, "User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
				case analysis.StageResourceMetadata, analysis.StageAuthMetadata, analysis.StageRegister, analysis.StageToken, analysis.StageRefresh:
					c.reqHeader(ex, "User-Agent", "Bun/1.3.11")
				default:
					c.reqHeader(ex, "User-Agent", "claude-code/2.1.332 (cli)")
				}
			}
			c.reqJSON(c.rpc("initialize", 1), func(m map[string]any) {
				m["params"].(map[string]any)["clientInfo"] = map[string]any{"name": "claude-code", "version": "2.1.332"}
			})
		}},
	{"protocol-version-header-meta-accepted", "claude-web-2026",
		"Claude through connectors negotiates 2026-07-28 with server/discover, then sends MCP-Protocol-Version: 2025-11-25 with _meta 2026-07-28 (CC#93290); this server accepts it.",
		func(c *capture) {
			for _, m := range []string{"tools/list", "tools/call"} {
				c.reqHeader(c.rpc(m, 0), "MCP-Protocol-Version", "2025-11-25")
			}
		}},
	{"protocol-version-header-meta-mismatch", "claude-web-2026",
		"The same requests against a strict 2026-07-28 server (toggle strict-version-header): tools/list and tools/call are refused with 400 -32020 HeaderMismatch (CC#93290).",
		func(c *capture) {
			for _, m := range []string{"tools/list", "tools/call"} {
				ex := c.rpc(m, 0)
				c.reqHeader(ex, "MCP-Protocol-Version", "2025-11-25")
				c.status(ex, 400, "application/json", fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32020,"message":"HeaderMismatch: MCP-Protocol-Version header 2025-11-25 does not match _meta protocolVersion 2026-07-28"}}`+"\n", ex.RPC[0].ID), "strict-version-header")
			}
		}},
	{"refresh-token-race", "sdk-go-oauth",
		"The client refreshes twice with one refresh token 300 ms apart from two addresses (Claude's egress nodes, PrefectHQ/fastmcp#4264); the server refuses the second (invalid_grant) instead of tolerating it.",
		func(c *capture) {
			rf := c.first(analysis.StageRefresh)
			d := c.clone(rf, 101, 300*time.Millisecond)
			d.RemoteAddr = "10.0.0.2:40100"
			c.status(d, 400, "application/json", `{"error":"invalid_grant","error_description":"refresh token already used"}`, "")
		}},
	{"refresh-token-replay", "sdk-go-oauth",
		"A refresh token that was already rotated is presented again five minutes later: a replay (or a client that kept a stale token), refused.",
		func(c *capture) {
			rf := c.first(analysis.StageRefresh)
			d := c.clone(rf, 101, 5*time.Minute)
			c.status(d, 400, "application/json", `{"error":"invalid_grant","error_description":"refresh token already used"}`, "")
		}},
	{"register-instead-of-refresh", "sdk-go-oauth",
		"The client holds a refresh token it never used and registers again (a new client id) instead of refreshing (Claude Code re-runs DCR on every authenticate, CC#59460).",
		func(c *capture) {
			reg := c.first(analysis.StageRegister)
			list := c.rpc("tools/list", 0)
			d := c.clone(reg, 102, list.Start.Add(list.Timings.Total+time.Millisecond).Sub(reg.Start))
			c.respJSON(d, func(m map[string]any) { m["client_id"] = "mcpw_registered_again" }, "")
			c.cutAfter(d)
		}},
	{"tool-not-listed", "sdk-go-legacy",
		"An earlier tools/list had retired_tool, the latest does not, and the client calls it (a stale tool list).",
		func(c *capture) {
			list := c.rpc("tools/list", 0)
			old := c.clone(list, 100, -time.Millisecond)
			c.result(old, func(r map[string]any) {
				r["tools"] = append(r["tools"].([]any), map[string]any{"name": "retired_tool", "inputSchema": map[string]any{"type": "object"}})
			}, "")
			call := c.rpc("tools/call", 1)
			c.reqJSON(call, func(m map[string]any) { m["params"].(map[string]any)["name"] = "retired_tool" })
		}},
	{"client-metadata-not-served", "claude-web-2026",
		"The client ID metadata document URL answers the server's fetch with a Cloudflare managed challenge (403 text/html, cf-mitigated: challenge) instead of the document (idx:59670257790); the authorization is refused.",
		func(c *capture) {
			ex := c.first(analysis.StageClientMetadata)
			c.status(ex, 403, "text/html; charset=UTF-8", "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body></body></html>", "")
			c.respHeader(ex, "Cf-Mitigated", "challenge", "")
			au := c.first(analysis.StageAuthorize)
			c.status(au, 400, "text/plain; charset=utf-8", "unknown client_id https://claude.ai/oauth/mcp-oauth-client-metadata\n", "")
			c.cutAfter(au)
		}},
	{"claude-code-login-external-as", "sdk-go-oauth",
		"`claude mcp login` starts at the protected resource metadata (Bun/1.4.6, CC#71610) and authorizes at an authorization server of another host, which this capture does not see; then its MCP requests (claude-code/2.1.332) carry a token issued there: one connection.",
		func(c *capture) {
			for _, ex := range c.byID() {
				switch analysis.StageOf(ex, "/mcp") {
				case analysis.StageChallenge, analysis.StageAuthMetadata, analysis.StageRegister, analysis.StageAuthorize,
					analysis.StageConsent, analysis.StageToken, analysis.StageRefresh:
					c.drop(ex)
				case analysis.StageResourceMetadata:
					c.reqHeader(ex, "User-Agent", "Bun/1.4.6")
				default:
					c.reqHeader(ex, "User-Agent", "claude-code/2.1.332 (cli)")
				}
			}
			c.reqJSON(c.rpc("initialize", 0), func(m map[string]any) {
				m["params"].(map[string]any)["clientInfo"] = map[string]any{"name": "claude-code", "version": "2.1.332"}
			})
		}},
	{"mcp-remote-prepass", "sdk-go-legacy",
		"mcp-remote 0.15.1 in front of an authless server: its pre-pass GETs the MCP URL (undici) and fetches the metadata documents as node (404s), its one-off mcp-remote-fallback-test client opens a session and leaves it, then the host's session (via mcp-remote) lists and calls: one connection, healthy.",
		func(c *capture) {
			get := c.rpcless("GET")
			probe := c.clone(get, 100, 0)
			probe.Start = c.first(analysis.StageInitialize).Start.Add(-100 * time.Millisecond)
			probe.Timings = recorder.Timings{Wait: 2 * time.Millisecond, Total: 2 * time.Millisecond}
			c.reqHeader(probe, "Mcp-Session-Id", "")
			c.status(probe, 400, "text/plain; charset=utf-8", "Bad Request: no session\n", "")
			for i, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server"} {
				d := c.clone(get, uint64(101+i), 0)
				d.Start = probe.Start.Add(time.Duration(10*(i+1)) * time.Millisecond)
				d.URL = path
				d.Timings = recorder.Timings{Wait: time.Millisecond, Total: time.Millisecond}
				c.reqHeader(d, "Mcp-Session-Id", "")
				c.reqHeader(d, "Mcp-Protocol-Version", "")
				c.reqHeader(d, "Accept", "application/json")
				c.reqHeader(d, "User-Agent", "node")
				c.status(d, 404, "text/plain; charset=utf-8", "404 page not found\n", "")
			}
			for _, ex := range c.exs {
				if ex.ID < 101 {
					c.reqHeader(ex, "User-Agent", "undici")
				}
			}
			init, notif := c.rpc("initialize", 0), c.rpc("notifications/initialized", 0)
			for i, ex := range []*recorder.Exchange{init, notif} {
				d := c.clone(ex, uint64(103+i), 0)
				d.Start = probe.Start.Add(time.Duration(40+10*i) * time.Millisecond)
				d.Timings = recorder.Timings{Wait: 2 * time.Millisecond, Total: 2 * time.Millisecond}
				if i == 0 {
					c.reqJSON(d, func(m map[string]any) {
						m["params"].(map[string]any)["clientInfo"] = map[string]any{"name": "mcp-remote-fallback-test", "version": "0.0.0"}
					})
					c.respHeader(d, "Mcp-Session-Id", "FALLBACK-TEST-SESSION", "")
				} else {
					c.reqHeader(d, "Mcp-Session-Id", "FALLBACK-TEST-SESSION")
				}
			}
			c.reqJSON(init, func(m map[string]any) {
				m["params"].(map[string]any)["clientInfo"] = map[string]any{"name": "fixturegen-go (via mcp-remote 0.15.1)", "version": "1.0.0"}
			})
		}},
	{"session-dropped", "claude-web-legacy",
		"The client echoes the Mcp-Session-Id on notifications/initialized and tools/list, then sends tools/call without it; this server tolerates it.",
		func(c *capture) {
			c.reqHeader(c.rpc("tools/call", 0), "Mcp-Session-Id", "")
		}},
}

func init() { fixtures = append(fixtures, clientFixtures...) }

// rpcless returns the first exchange with this HTTP method (DELETE, GET) by id.
func (c *capture) rpcless(method string) *recorder.Exchange {
	for _, ex := range c.byID() {
		if ex.Method == method {
			return ex
		}
	}
	panic("no " + method + " exchange")
}

// replaceAll replaces a string in every request URL, request and response body and header value (a redirect URI
// the client uses throughout), and parses the JSON-RPC messages again.
func (c *capture) replaceAll(old, new string) {
	for _, ex := range c.exs {
		ex.URL = strings.ReplaceAll(ex.URL, old, new)
		for _, b := range []*recorder.Body{&ex.ReqBody, &ex.RespBody} {
			if s := string(b.Data); strings.Contains(s, old) {
				*b = body(strings.ReplaceAll(s, old, new))
			}
		}
		for _, h := range []recorder.Headers{ex.ReqHeaders, ex.RespHeaders} {
			for i := range h {
				h[i].Value = strings.ReplaceAll(h[i].Value, old, new)
			}
		}
		reparse(ex)
	}
}
