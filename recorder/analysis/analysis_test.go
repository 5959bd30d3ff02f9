package analysis

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/clients"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// exb builds a synthetic exchange.
type exb struct{ ex *recorder.Exchange }

func newEx(id uint64, method, target string) *exb {
	return &exb{&recorder.Exchange{ID: id, Kind: recorder.Inbound, State: recorder.StateComplete, Start: t0.Add(time.Duration(id) * time.Second),
		Method: method, URL: target, Host: "127.0.0.1:4000", RemoteAddr: "127.0.0.1:50000", Status: 200,
		Timings: recorder.Timings{Wait: time.Millisecond, Total: 2 * time.Millisecond}}}
}

func (b *exb) req(k, v string) *exb {
	b.ex.ReqHeaders = append(b.ex.ReqHeaders, recorder.Header{Name: k, Value: v})
	return b
}

func (b *exb) resp(k, v string) *exb {
	b.ex.RespHeaders = append(b.ex.RespHeaders, recorder.Header{Name: k, Value: v})
	return b
}

func (b *exb) body(ctype, s string) *exb {
	b.req("Content-Type", ctype)
	b.ex.ReqBody = recorder.Body{Data: []byte(s), Size: int64(len(s))}
	b.ex.RPC = append(recorder.ParseRPC(b.ex.ReqBody.Data, recorder.FromClient, -1), b.ex.RPC...)
	return b
}

func (b *exb) answer(status int, ctype, s string) *exb {
	b.ex.Status = status
	if ctype != "" {
		b.resp("Content-Type", ctype)
	}
	b.ex.RespBody = recorder.Body{Data: []byte(s), Size: int64(len(s))}
	b.ex.RPC = append(b.ex.RPC, recorder.ParseRPC(b.ex.RespBody.Data, recorder.FromServer, -1)...)
	return b
}

func (b *exb) at(d time.Duration) *exb { b.ex.Start = t0.Add(d); return b }

func (b *exb) from(addr string) *exb { b.ex.RemoteAddr = addr; return b }

func (b *exb) outbound() *exb { b.ex.Kind = recorder.Outbound; return b }

func (b *exb) note(k, v string) *exb {
	b.ex.Notes = append(b.ex.Notes, recorder.Note{Key: k, Value: v})
	return b
}

func (b *exb) pending() *exb {
	b.ex.State, b.ex.Status = recorder.StatePending, 0
	return b
}

func rpc(id int, method string) string {
	if id < 0 {
		return `{"jsonrpc":"2.0","method":"` + method + `"}`
	}
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":{}}`, id, method)
}

const form = "application/x-www-form-urlencoded"

func TestStageOf(t *testing.T) {
	cimd := `{"client_id":"https://claude.ai/oauth/mcp-oauth-client-metadata","client_name":"Claude","redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}`
	tests := []struct {
		name    string
		ex      *exb
		mcpPath string
		want    Stage
	}{
		// Discovery documents, at every form a client probes (S26 authorization-server-discovery.mdx).
		{"PRM root", newEx(1, "GET", "/.well-known/oauth-protected-resource"), "", StageResourceMetadata},
		{"PRM path-suffixed", newEx(1, "GET", "/.well-known/oauth-protected-resource/v1/mcp"), "", StageResourceMetadata},
		{"PRM behind auth", newEx(1, "GET", "/.well-known/oauth-protected-resource").answer(401, "", ""), "", StageResourceMetadata},
		{"AS root", newEx(1, "GET", "/.well-known/oauth-authorization-server"), "", StageAuthMetadata},
		{"AS path-inserted", newEx(1, "GET", "/.well-known/oauth-authorization-server/tenant1"), "", StageAuthMetadata},
		{"OIDC path-inserted", newEx(1, "GET", "/.well-known/openid-configuration/tenant1"), "", StageAuthMetadata},
		{"OIDC path-appended", newEx(1, "GET", "/tenant1/.well-known/openid-configuration"), "", StageAuthMetadata},
		// OAuth endpoints of an arbitrary upstream, by request shape.
		{"token, form, any path", newEx(1, "POST", "/oauth2/v1/token").body(form, "grant_type=authorization_code&code=c&code_verifier=v"), "", StageToken},
		{"token, JSON (Claude)", newEx(1, "POST", "/api/oauth").body("application/json", `{"grant_type":"authorization_code","code":"c"}`), "", StageToken},
		{"client credentials", newEx(1, "POST", "/x").body(form, "grant_type=client_credentials"), "", StageToken},
		{"refresh", newEx(1, "POST", "/oauth/token").body(form, "grant_type=refresh_token&refresh_token=r"), "", StageRefresh},
		{"token by path, body not read yet", newEx(1, "POST", "/token").pending(), "", StageToken},
		{"register, any path", newEx(1, "POST", "/api/clients").body("application/json", `{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"client_name":"Claude"}`), "", StageRegister},
		{"register by path", newEx(1, "POST", "/oauth/register").pending(), "", StageRegister},
		{"authorize by query", newEx(1, "GET", "/login/oauth/authorize?response_type=code&client_id=abc&redirect_uri=https%3A%2F%2Fx"), "", StageAuthorize},
		{"authorize by client_id and redirect_uri", newEx(1, "GET", "/o/start?client_id=a&redirect_uri=b"), "", StageAuthorize},
		{"authorize by path", newEx(1, "GET", "/authorize"), "", StageAuthorize},
		{"authorization request as a form POST", newEx(1, "POST", "/oauth/par").body(form, "response_type=code&client_id=a"), "", StageAuthorize},
		{"consent form, any path", newEx(1, "POST", "/interaction/abc").body(form, "csrf_token=x&decision=approve"), "", StageConsent},
		{"consent form to /authorize", newEx(1, "POST", "/authorize").body(form, "client_id=a&redirect_uri=b&response_type=code&approve=1"), "", StageConsent},
		{"consent page", newEx(1, "GET", "/consent"), "", StageConsent},
		{"revoke", newEx(1, "POST", "/oauth2/revoke").body(form, "token=t&token_type_hint=refresh_token"), "", StageRevoke},
		{"revoke by path", newEx(1, "POST", "/revoke").body(form, "token=t"), "", StageRevoke},
		{"CIMD fetch (outbound)", newEx(1, "GET", "https://claude.ai/oauth/mcp-oauth-client-metadata").outbound().answer(200, "application/json", cimd), "", StageClientMetadata},
		{"CIMD fetch in flight", newEx(1, "GET", "https://client.example/meta.json").outbound().pending(), "", StageClientMetadata},
		{"upstream GET in flight (proxy)", newEx(1, "GET", "https://upstream.example/favicon.ico").outbound().pending(), "", StageOther},
		{"upstream MCP POST (proxy)", newEx(1, "POST", "http://127.0.0.1:9000/mcp").outbound().body("application/json", rpc(1, "tools/list")), "", StageList},
		{"CIMD fetch failed", func() *exb {
			b := newEx(1, "GET", "https://client.example/meta.json").outbound().answer(0, "", "")
			b.ex.Error = "dial tcp: i/o timeout"
			return b
		}(), "", StageClientMetadata},
		// MCP.
		{"challenge", newEx(1, "POST", "/mcp").body("application/json", rpc(0, "initialize")).answer(401, "", "").resp("WWW-Authenticate", `Bearer resource_metadata="x"`), "", StageChallenge},
		{"challenge on a custom MCP path", newEx(1, "GET", "/v1/mcp").answer(401, "", ""), "/v1/mcp", StageChallenge},
		{"Bearer 401 anywhere", newEx(1, "GET", "/api/things").answer(401, "", "").resp("WWW-Authenticate", "Bearer"), "", StageChallenge},
		{"HEAD probe", newEx(1, "HEAD", "/mcp"), "", StageProbe},
		{"HEAD probe answered 401", newEx(1, "HEAD", "/mcp").answer(401, "", "").resp("WWW-Authenticate", "Bearer"), "", StageProbe},
		{"HEAD on the origin", newEx(1, "HEAD", "/"), "", StageProbe},
		{"GET probe", newEx(1, "GET", "/mcp"), "", StageProbe},
		{"GET stream", newEx(1, "GET", "/mcp").req("Accept", "text/event-stream"), "", StageStream},
		{"GET stream refused", newEx(1, "GET", "/mcp").req("Accept", "text/event-stream").answer(405, "", ""), "", StageStream},
		{"GET stream, proxy path", newEx(1, "GET", "/api/mcp/").req("Accept", "text/event-stream"), "/api/mcp", StageStream},
		{"2024-11-05 SSE", newEx(1, "GET", "/sse").req("Accept", "text/event-stream"), "", StageStream},
		{"DELETE", newEx(1, "DELETE", "/mcp"), "", StageTerminate},
		{"discover", newEx(1, "POST", "/mcp").body("application/json", rpc(0, "server/discover")), "", StageDiscover},
		{"initialize", newEx(1, "POST", "/mcp").body("application/json", rpc(0, "initialize")), "", StageInitialize},
		{"initialized", newEx(1, "POST", "/mcp").body("application/json", rpc(-1, "notifications/initialized")), "", StageInitialized},
		{"tools/list", newEx(1, "POST", "/mcp").body("application/json", rpc(1, "tools/list")), "", StageList},
		{"resources/templates/list", newEx(1, "POST", "/mcp").body("application/json", rpc(1, "resources/templates/list")), "", StageList},
		{"tools/call", newEx(1, "POST", "/mcp").body("application/json", rpc(2, "tools/call")), "", StageCall},
		// 2026-07-28: subscriptions/listen replaces the GET stream and resources/subscribe (S26/basic/patterns/
		// subscriptions.mdx): the server's event stream.
		{"subscriptions/listen", newEx(1, "POST", "/mcp").body("application/json", rpc(7, "subscriptions/listen")), "", StageStream},
		{"ping", newEx(1, "POST", "/mcp").body("application/json", rpc(3, "ping")), "", StageOther},
		{"2026 request in flight, by Mcp-Method", newEx(1, "POST", "/mcp").req("Mcp-Method", "tools/call").pending(), "", StageCall},
		{"JSON-RPC on the wrong path", newEx(1, "POST", "/").body("application/json", rpc(0, "initialize")).answer(404, "text/plain", "404"), "", StageInitialize},
		{"the client answering the server", newEx(1, "POST", "/mcp").body("application/json", `{"jsonrpc":"2.0","id":7,"result":{}}`), "", StageOther},
		{"SSE transport POST", newEx(1, "POST", "/sse?sessionid=abc").body("application/json", rpc(1, "tools/list")), "", StageList},
		{"a server's note wins", func() *exb {
			b := newEx(1, "POST", "/x")
			b.ex.Notes = []recorder.Note{{Key: "stage", Value: "consent"}}
			return b
		}(), "", StageConsent},
		{"favicon", newEx(1, "GET", "/favicon.ico"), "", StageOther},
		{"MCP POST in flight, no header", newEx(1, "POST", "/mcp").pending(), "", StageOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StageOf(tt.ex.ex, tt.mcpPath); got != tt.want {
				t.Errorf("StageOf = %s, want %s", got, tt.want)
			}
		})
	}
	if StageOf(nil, "") != StageOther {
		t.Error("StageOf(nil) should be other")
	}
}

func TestClientIdentification(t *testing.T) {
	initialize := func(name string) *exb {
		return newEx(1, "POST", "/mcp").body("application/json",
			`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"`+name+`","version":"1"}}}`)
	}
	register := func(name string, redirects ...string) *exb {
		b, _ := json.Marshal(map[string]any{"client_name": name, "redirect_uris": redirects})
		return newEx(1, "POST", "/register").body("application/json", string(b)).answer(201, "application/json", `{"client_id":"c1"}`)
	}
	authorize := func(clientID, redirect string) *exb {
		q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "code_challenge": {"x"}, "code_challenge_method": {"S256"}, "resource": {"http://127.0.0.1:4000/mcp"}}
		return newEx(1, "GET", "/authorize?"+q.Encode())
	}
	tests := []struct {
		name string
		ex   *exb
		want ClientKind
	}{
		{"UA Claude-User", newEx(1, "POST", "/mcp").req("User-Agent", "Claude-User"), ClientClaude},
		// Shared signals name nobody alone (reference/clients-2026-12.md's fingerprint table, "(shared)").
		{"UA python-httpx (Anthropic's probes, and the Python SDK's)", newEx(1, "HEAD", "/mcp").req("User-Agent", "python-httpx/0.28.1"), ClientUnknown},
		{"UA Ruby (connector saved, and any Ruby program)", newEx(1, "HEAD", "/mcp").req("User-Agent", "Ruby"), ClientUnknown},
		{"UA aiohttp (ChatGPT's OAuth, and any aiohttp program)", newEx(1, "GET", "/.well-known/openid-configuration").req("User-Agent", "Python/3.12 aiohttp/3.11.18"), ClientUnknown},
		{"UA openai-mcp (ChatGPT)", newEx(1, "POST", "/mcp").req("User-Agent", "openai-mcp/1.0.0 (ChatGPT)"), ClientChatGPT},
		{"UA Bun (Claude Code's OAuth, and any Bun program)", newEx(1, "GET", "/.well-known/oauth-authorization-server").req("User-Agent", "Bun/1.3.11"), ClientUnknown},
		{"UA Claude Desktop's local runtime", newEx(1, "POST", "/mcp").req("User-Agent", "claude-code/2.1.181 (external, claude-desktop, agent-sdk/0.3.181)"), ClientKind("claude-desktop-local")},
		{"UA claude-code", newEx(1, "POST", "/mcp").req("User-Agent", "claude-code/2.1.37 (cli)"), ClientClaudeCode},
		{"clientInfo claude-ai (seed)", initialize("claude-ai"), ClientClaude},
		{"clientInfo Anthropic", initialize("Anthropic"), ClientClaude},
		{"clientInfo Anthropic/ClaudeAI", initialize("Anthropic/ClaudeAI"), ClientClaude},
		{"clientInfo claude-code", initialize("claude-code"), ClientClaudeCode},
		{"clientInfo claude-code from Claude's backend (#708)", initialize("claude-code").req("User-Agent", "Claude-User"), ClientClaude},
		{"clientInfo cursor-vscode", initialize("cursor-vscode"), ClientCursor},
		{"clientInfo Visual Studio Code", initialize("Visual Studio Code"), ClientVSCode},
		{"clientInfo openai-mcp", initialize("openai-mcp"), ClientChatGPT},
		{"clientInfo mcp-inspector", initialize("mcp-inspector"), ClientInspector},
		{"clientInfo via mcp-remote", initialize("claude-ai (via mcp-remote 0.1.29)"), ClientMCPRemote},
		{"clientInfo of the Python SDK beats python-httpx", initialize("mcp").req("User-Agent", "python-httpx/0.28.1"), ClientKind("python-sdk")},
		{"2026 _meta clientInfo", newEx(1, "POST", "/mcp").req("MCP-Protocol-Version", "2026-07-28").body("application/json",
			`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"cursor-vscode","version":"2"}}}}`), ClientCursor},
		{"redirect claude.ai", register("x", "https://claude.ai/api/mcp/auth_callback"), ClientClaude},
		{"redirect claude.com", register("x", "https://claude.com/api/mcp/auth_callback"), ClientClaude},
		{"redirect chatgpt connector", register("x", "https://chatgpt.com/connector/oauth/abc123"), ClientChatGPT},
		{"redirect chatgpt legacy", register("x", "https://chatgpt.com/connector_platform_oauth_redirect"), ClientChatGPT},
		{"redirect cursor scheme", register("x", "cursor://anysphere.cursor-mcp/oauth/callback", "https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"), ClientCursor},
		{"redirect vscode.dev", register("x", "https://vscode.dev/redirect", "http://127.0.0.1:33418/"), ClientVSCode},
		{"redirect VS Code loopback, also Copilot CLI's", register("x", "http://127.0.0.1:33418/"), ClientUnknown},
		{"redirect mcp-remote", register("x", "http://localhost:3334/oauth/callback"), ClientMCPRemote},
		{"redirect Inspector", register("x", "http://localhost:6274/oauth/callback", "http://localhost:6274/oauth/callback/debug"), ClientInspector},
		{"redirect Inspector v2", authorize("c", "http://127.0.0.1:6276/oauth/callback"), ClientInspector},
		{"redirect Claude Code loopback, also SDK examples' and the AI SDK's", register("x", "http://localhost:51234/callback"), ClientUnknown},
		{"redirect Codex", authorize("c", "http://127.0.0.1:41234/callback/AbCdEfGhIj_-"), ClientKind("codex")},
		{"CIMD Codex", authorize("https://chatgpt.com/oauth/codex/AbCdEfGhIj_-/client.json", "http://127.0.0.1:41234/callback/AbCdEfGhIj_-"), ClientKind("codex")},
		{"CIMD ChatGPT per connector", authorize("https://chatgpt.com/oauth/kDmjx77UnKOM/client.json", "https://chatgpt.com/connector/oauth/kDmjx77UnKOM"), ClientChatGPT},
		{"software_id mcp-remote", newEx(1, "POST", "/register").body("application/json", `{"redirect_uris":["http://localhost:40001/oauth/callback"],"software_id":"2e6dc280-f3c3-4e01-99a7-8181dbd1d23d"}`).answer(201, "application/json", `{"client_id":"c1"}`), ClientMCPRemote},
		{"localhost /oauth/callback is mcp-remote's and Gemini CLI's", register("x", "http://localhost:40001/oauth/callback"), ClientUnknown},
		{"loopback IP /callback is too generic", register("x", "http://127.0.0.1:51234/callback"), ClientUnknown},
		{"client_name Claude", register("Claude", "https://example.com/cb"), ClientClaude},
		{"client_name claudeai (seed)", register("claudeai", "https://example.com/cb"), ClientClaude},
		{"client_name MCP CLI Proxy", register("MCP CLI Proxy", "http://localhost:35535/oauth/callback"), ClientMCPRemote},
		{"client_name MCP Inspector", register("MCP Inspector", "http://localhost:9999/x"), ClientInspector},
		{"CIMD Claude", authorize("https://claude.ai/oauth/mcp-oauth-client-metadata", "https://claude.ai/api/mcp/auth_callback"), ClientClaude},
		{"CIMD Claude Code", authorize("https://claude.ai/oauth/claude-code-client-metadata", "http://localhost:5555/callback"), ClientClaudeCode},
		{"scope claudeai (seed)", newEx(1, "GET", "/authorize?response_type=code&client_id=x&redirect_uri=https%3A%2F%2Fexample.com&scope=claudeai"), ClientClaude},
		{"nothing known", newEx(1, "POST", "/mcp").req("User-Agent", "curl/8.5.0"), ClientUnknown},
		// ChatGPT's client assertion is signed with its own key (kid cimd-20260428030119).
		{"ChatGPT's assertion key", newEx(1, "POST", "/token").body(form, "grant_type=authorization_code&code=c&client_id=x&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion="+
			base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"cimd-20260428030119"}`))+".e30.c2ln"), ClientChatGPT},
		{"client_uri of VS Code's registration", newEx(1, "POST", "/register").body("application/json", `{"client_name":"My Server","client_uri":"https://code.visualstudio.com","redirect_uris":["http://127.0.0.1:33418/"]}`).answer(201, "application/json", `{"client_id":"c1"}`), ClientVSCode},
		// Claude's egress range names it, also behind a local tunnel and without a user agent (cam#923).
		{"Claude's address", newEx(1, "HEAD", "/mcp").from("160.79.106.170:41234"), ClientClaude},
		{"Claude's address forwarded by a tunnel", newEx(1, "HEAD", "/mcp").from("127.0.0.1:50000").req("X-Forwarded-For", "160.79.104.9"), ClientClaude},
		{"a forwarded address from a remote peer is not trusted", newEx(1, "HEAD", "/mcp").from("203.0.113.9:50000").req("X-Forwarded-For", "160.79.104.9"), ClientUnknown},
		// A request still waiting for its answer is named by its own user agent, a shared one by nobody.
		{"pending, Claude-User", newEx(1, "POST", "/mcp").req("User-Agent", "Claude-User").pending(), ClientClaude},
		{"pending, python-httpx", newEx(1, "GET", "/.well-known/oauth-protected-resource").req("User-Agent", "python-httpx/0.28.1").pending(), ClientUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{})
			a.Observe(tt.ex.ex)
			if got := a.Info(tt.ex.ex.ID).Client; got != tt.want {
				t.Errorf("client = %s, want %s", got, tt.want)
			}
		})
	}
}

// A client identified by a strong signal keeps it against weaker ones later in the connection.
func TestClientStrongestSignalWins(t *testing.T) {
	a := New(Options{})
	a.Observe(newEx(1, "POST", "/register").req("User-Agent", "python-httpx/0.28.1").body("application/json",
		`{"client_name":"MCP Inspector","redirect_uris":["http://localhost:6274/oauth/callback"]}`).answer(201, "application/json", `{"client_id":"i1"}`).ex)
	a.Observe(newEx(2, "GET", "/authorize?response_type=code&client_id=i1&redirect_uri=http%3A%2F%2Flocalhost%3A6274%2Foauth%2Fcallback&code_challenge=x&code_challenge_method=S256&resource=r").req("User-Agent", "Mozilla/5.0").ex)
	rep := a.Report()
	if len(rep.Connections) != 1 || rep.Connections[0].Client != ClientInspector || rep.Connections[0].ClientName != "MCP Inspector" {
		t.Fatalf("connections = %+v", rep.Connections)
	}
}

func TestAbsenceRulesWaitForTheGrace(t *testing.T) {
	exs := loadFixture(t, "authorize-no-token")
	end := lastEnd(exs)
	fired := func(now time.Time) bool {
		a := New(Options{Grace: 10 * time.Second})
		for _, ex := range exs {
			a.Observe(ex)
		}
		a.SetNow(now)
		for _, f := range a.Report().Findings {
			if f.Rule == "authorize-no-token" {
				return true
			}
		}
		return false
	}
	if fired(end.Add(5 * time.Second)) {
		t.Error("fired within the grace period")
	}
	if !fired(end.Add(15 * time.Second)) {
		t.Error("did not fire after the grace period")
	}
	// An analyzer fed live, without a clock yet: judged at the last exchange, inside the grace.
	live := New(Options{})
	for _, ex := range exs {
		live.Observe(ex)
	}
	if rep := live.Report(); len(rep.Findings) != 0 {
		t.Errorf("findings at the last exchange: %+v", rep.Findings)
	}
	// A capture that ended (Analyze, `mcpwatch open`, export): judged as the live session judged it once the grace
	// had passed, and told relative to the capture's end.
	if rep := Analyze(exs, Options{}); len(rep.Findings) != 1 || rep.Findings[0].Rule != "authorize-no-token" ||
		!strings.Contains(rep.Findings[0].Summary, "before the capture ended") {
		t.Errorf("findings of the ended capture: %+v", rep.Findings)
	}
	// A token request after the grace retracts it.
	a := New(Options{Grace: 10 * time.Second})
	for _, ex := range exs {
		a.Observe(ex)
	}
	a.SetNow(end.Add(time.Minute))
	if len(a.Report().Findings) != 1 {
		t.Fatal("want the finding before the token request")
	}
	var code string
	for _, ex := range exs {
		if l := location(ex); l != nil && l.Query().Get("code") != "" {
			code = l.Query().Get("code")
		}
	}
	late := newEx(100, "POST", "/token").at(end.Add(50*time.Second).Sub(t0)).body(form, "grant_type=authorization_code&code="+code).
		answer(400, "application/json", `{"error":"invalid_grant"}`)
	a.Observe(late.ex)
	for _, f := range a.Report().Findings {
		if f.Rule == "authorize-no-token" {
			t.Error("still fires after the token request")
		}
	}
}

// Info gives an exchange's stage, client, connection and the findings about it, connection rules included.
func TestInfo(t *testing.T) {
	exs := loadFixture(t, "token-issued-unused")
	a := New(Options{Now: lastEnd(exs).Add(time.Minute)})
	for _, ex := range exs {
		a.Observe(ex)
	}
	var tokenEx uint64
	for _, ex := range exs {
		if StageOf(ex, "") == StageToken {
			tokenEx = ex.ID
		}
	}
	in := a.Info(tokenEx)
	if in.Stage != StageToken || in.Client != ClientClaude || in.Connection != "c1" || in.Status != StatusOK {
		t.Errorf("info = %+v", in)
	}
	if len(in.Findings) != 1 || in.Findings[0].Rule != "token-issued-unused" || in.Findings[0].Connection != "c1" {
		t.Errorf("findings = %+v", in.Findings)
	}
	if in := a.Info(999999); in.Stage != "" || in.Connection != "" || in.Findings != nil {
		t.Error("unknown exchange should give the zero Info")
	}
	// An exchange in flight has a provisional stage and no connection unless a header names one.
	a.Observe(newEx(500, "POST", "/token").pending().ex)
	if in := a.Info(500); in.Stage != StageToken || in.Status != StatusPending || in.Connection != "" {
		t.Errorf("pending info = %+v", in)
	}
}

// In proxy mode the upstream's copy of a request belongs to the client's exchange: it forms no connection and is
// not judged twice.
func TestProxyCopiesPairWithTheClientRequest(t *testing.T) {
	a := New(Options{})
	in := newEx(1, "POST", "/mcp").req("User-Agent", "Claude-User").body("application/json", rpc(0, "initialize")).
		answer(200, "application/json", `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}}}}`).pending()
	up := newEx(2, "POST", "http://127.0.0.1:9000/mcp").outbound().note(recorder.NoteInbound, "1").req("User-Agent", "Claude-User").body("application/json", rpc(0, "initialize")).
		answer(200, "application/json", `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}}}}`)
	a.Observe(in.ex) // the client's request arrives
	a.Observe(up.ex) // the proxy's request to the upstream completes
	done := *in.ex
	done.State, done.Status = recorder.StateComplete, 200
	a.Observe(&done) // the client's answer (no Mcp-Session-Id: one finding, not two)
	rep := a.Report()
	if len(rep.Connections) != 1 || len(rep.Connections[0].Exchanges) != 1 || len(rep.Findings) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if in := a.Info(2); in.Connection != "c1" || in.Stage != StageInitialize || in.Client != ClientClaude || in.Status != StatusOK {
		t.Errorf("upstream copy info %+v", in)
	}
}

// Concurrent requests of different clients to the same path: each upstream copy belongs to the client exchange
// its note "inbound" names, whatever the order they interleave in.
func TestProxyCopiesPairByNoteUnderConcurrency(t *testing.T) {
	const n = 16
	a := New(Options{})
	var ins []*recorder.Exchange
	for i := 1; i <= n; i++ { // 16 clients' POST /mcp arrive, each on its own session
		b := newEx(uint64(i), "POST", "/mcp").req("User-Agent", fmt.Sprintf("client-%d", i)).req("Mcp-Session-Id", fmt.Sprintf("S%d", i)).
			body("application/json", rpc(i, "tools/list")).answer(200, "application/json", fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":{"tools":[]}}`, i))
		b.ex.RemoteAddr = fmt.Sprintf("10.0.0.%d:4000", i)
		b.note(recorder.NoteOutbound, fmt.Sprint(n+i))
		ins = append(ins, b.ex)
		began := *b.ex
		began.State, began.Status = recorder.StatePending, 0
		a.Observe(&began)
	}
	// The upstream's copies complete in another order than their client requests arrived.
	for _, i := range []int{7, 3, 16, 1, 9, 12, 2, 5, 14, 8, 4, 15, 10, 6, 13, 11} {
		up := newEx(uint64(n+i), "POST", "http://127.0.0.1:9000/mcp").outbound().note(recorder.NoteInbound, fmt.Sprint(i)).
			req("Mcp-Session-Id", fmt.Sprintf("S%d", i)).body("application/json", rpc(i, "tools/list")).
			answer(200, "application/json", fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":{"tools":[]}}`, i))
		a.Observe(up.ex)
		a.Observe(ins[i-1])
	}
	if c := len(a.Report().Connections); c != n {
		t.Fatalf("%d connections, want %d (the upstream copies form none)", c, n)
	}
	for i := 1; i <= n; i++ {
		in, up := a.Info(uint64(i)), a.Info(uint64(n+i))
		if in.Connection == "" || up.Connection != in.Connection || up.Stage != StageList {
			t.Errorf("upstream copy #%d: connection %q stage %s; its client request #%d is on %q", n+i, up.Connection, up.Stage, i, in.Connection)
		}
	}
}

// Two connections that one exchange shows to be the same run are merged, and their findings with them.
func TestMergeConnections(t *testing.T) {
	a := New(Options{})
	// Two unrelated-looking starts: different user agents and addresses.
	reg := newEx(1, "POST", "/register").req("User-Agent", "agent-a").body("application/json", `{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}`).
		answer(201, "application/json", `{"client_id":"X1"}`)
	tok := newEx(2, "POST", "/token").req("User-Agent", "agent-b").body(form, "grant_type=authorization_code&code=abc").
		answer(200, "application/json", `{"access_token":"AT1","token_type":"Bearer"}`) // no Cache-Control: a finding on b
	tok.ex.RemoteAddr = "10.0.0.9:1"
	a.Observe(reg.ex)
	a.Observe(tok.ex)
	if n := len(a.Report().Connections); n != 2 {
		t.Fatalf("%d connections before the link, want 2", n)
	}
	before := a.Report()
	// A refresh that names both the client id (connection 1) and the refresh token... of connection 2's grant.
	a.Observe(newEx(3, "POST", "/token").req("User-Agent", "agent-c").body(form, "grant_type=authorization_code&code=abc&client_id=X1").
		answer(400, "application/json", `{"error":"invalid_grant"}`).ex)
	rep := a.Report()
	if len(rep.Connections) != 1 {
		t.Fatalf("%d connections after the link, want 1", len(rep.Connections))
	}
	c := rep.Connections[0]
	if c.ID != "c1" || len(c.Exchanges) != 3 || c.Exchanges[0] != 1 || c.Exchanges[2] != 3 {
		t.Errorf("merged connection = %+v", c)
	}
	rules := map[string]bool{}
	for _, f := range c.Findings {
		rules[f.Rule] = true
		if f.Connection != "c1" {
			t.Errorf("finding %s on %s", f.Rule, f.Connection)
		}
	}
	if !rules["token-no-store"] || !rules["token-invalid-grant"] {
		t.Errorf("findings after merge = %+v", c.Findings)
	}
	// The earlier report is untouched.
	if len(before.Connections) != 2 || len(before.Connections[0].Exchanges) != 1 {
		t.Errorf("an earlier report changed: %+v", before.Connections)
	}
	if a.Info(2).Connection != "c1" {
		t.Errorf("exchange 2 is on %s", a.Info(2).Connection)
	}
}

// A report never holds a token, a code or a secret in clear, only hash prefixes.
func TestReportKeepsNoSecrets(t *testing.T) {
	for _, name := range []string{"claude-web-legacy", "sdk-go-oauth", "register-secret-unused"} {
		rep, exs := analyzeFixture(t, name)
		b, _ := json.Marshal(rep)
		out := string(b)
		var secrets []string
		for _, ex := range exs {
			for _, k := range []string{"access_token", "refresh_token", "client_secret"} {
				if s := str(object(ex.RespBody.Data), k); s != "" {
					secrets = append(secrets, s)
				}
			}
			if t := bearer(ex); t != "" {
				secrets = append(secrets, t)
			}
			if l := location(ex); l != nil && l.Query().Get("code") != "" {
				secrets = append(secrets, l.Query().Get("code"))
			}
			p := params(ex)
			for _, k := range []string{"code", "code_verifier", "refresh_token"} {
				if p.Get(k) != "" {
					secrets = append(secrets, p.Get(k))
				}
			}
		}
		if len(secrets) == 0 {
			t.Fatalf("%s: no secrets found to look for", name)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s: the report contains a secret (%.6s…)", name, s)
			}
		}
		if c := rep.Connections[0]; name != "register-secret-unused" && (!strings.HasPrefix(c.Token, "sha256:") || len(c.Token) != len("sha256:")+12) {
			t.Errorf("%s: token = %q, want a hash prefix", name, c.Token)
		}
	}
}

// A later Observe never changes what an earlier Report returned.
func TestReportIsASnapshot(t *testing.T) {
	exs := SettleOrder(loadFixture(t, "sdk-go-legacy"))
	a := New(Options{})
	for _, ex := range exs[:3] {
		a.Observe(ex)
	}
	rep := a.Report()
	snap, _ := json.Marshal(rep)
	// Out-of-order arrival forces an insert in the middle of the exchange list.
	for i := len(exs) - 1; i >= 3; i-- {
		a.Observe(exs[i])
	}
	again, _ := json.Marshal(rep)
	if string(snap) != string(again) {
		t.Errorf("an earlier report changed:\n%s\n%s", snap, again)
	}
}

func TestReset(t *testing.T) {
	a := New(Options{})
	for _, ex := range loadFixture(t, "claude-web-legacy") {
		a.Observe(ex)
	}
	a.Reset()
	if rep := a.Report(); len(rep.Connections) != 0 || len(rep.Findings) != 0 || a.Info(1).Stage != "" {
		t.Errorf("after Reset: %+v", rep)
	}
}

func TestCatalogue(t *testing.T) {
	if len(catalogue) < 25 {
		t.Errorf("%d rules, want at least 25", len(catalogue))
	}
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] {
			t.Errorf("duplicate rule %s", r.ID)
		}
		seen[r.ID] = true
		switch r.Severity {
		case SeverityError, SeverityWarn, SeverityInfo:
		default:
			t.Errorf("%s: severity %q", r.ID, r.Severity)
		}
		if r.Title == "" || r.Fix == "" || r.Source == "" || !regexp.MustCompile(`^[a-z0-9-]+$`).MatchString(r.ID) {
			t.Errorf("incomplete rule %+v", r)
		}
		if got, ok := RuleByID(r.ID); !ok || !reflect.DeepEqual(got, r) {
			t.Errorf("RuleByID(%s) = %+v, %v", r.ID, got, ok)
		}
	}
	if _, ok := RuleByID("no-such-rule"); ok {
		t.Error("RuleByID found a rule that does not exist")
	}
}

func TestParseBearer(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want map[string]string
	}{
		{`Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", scope="a b"`, true,
			map[string]string{"resource_metadata": "https://h/.well-known/oauth-protected-resource/mcp", "scope": "a b"}},
		{`Bearer resource_metadata=https://h/x`, true, map[string]string{"resource_metadata": "https://h/x"}}, // the seed's unquoted form
		{`Bearer`, true, map[string]string{}},
		{`bearer error="invalid_token"`, true, map[string]string{"error": "invalid_token"}},
		{`Basic realm="x", Bearer realm="y", error="invalid_token"`, true, map[string]string{"realm": "y", "error": "invalid_token"}},
		{`Bearer scope="a\"b"`, true, map[string]string{"scope": `a"b`}},
		{`Basic realm="x"`, false, nil},
		{``, false, nil},
	}
	for _, tt := range tests {
		c, ok := parseBearer(tt.in)
		if ok != tt.ok {
			t.Errorf("%q: ok = %v", tt.in, ok)
			continue
		}
		for k, v := range tt.want {
			if c.params[k] != v {
				t.Errorf("%q: %s = %q, want %q", tt.in, k, c.params[k], v)
			}
		}
	}
}

// Bad input never panics.
func TestGarbageIn(t *testing.T) {
	a := New(Options{})
	junk := []*recorder.Exchange{
		{ID: 1},
		{ID: 2, Method: "POST", URL: "%zz?%%", ReqBody: recorder.Body{Data: []byte("{not json")}},
		{ID: 3, Method: "GET", URL: "/authorize?client_id=%", Status: 302, RespHeaders: recorder.Headers{{Name: "Location", Value: "::bad"}}},
		{ID: 4, Method: "POST", URL: "/token", Status: 200, ReqBody: recorder.Body{Data: []byte(`{"grant_type":["x"]}`)}, RespBody: recorder.Body{Data: []byte(`{"access_token":5}`)}},
		{ID: 5, Method: "POST", URL: "/mcp", Status: 401, RespHeaders: recorder.Headers{{Name: "WWW-Authenticate", Value: `Bearer resource_metadata="`}}},
		{ID: 6, Kind: recorder.Outbound, Method: "GET", URL: "https://x/y", Status: 200, RespBody: recorder.Body{Data: []byte(`[]`)}},
		{ID: 7, Method: "POST", URL: "/register", Status: 201, ReqBody: recorder.Body{Data: []byte(`{"redirect_uris":"nope"}`)}, RespBody: recorder.Body{Data: []byte(`{"client_id":{}}`)}},
	}
	for _, ex := range junk {
		a.Observe(ex)
		_ = a.Info(ex.ID)
	}
	a.Observe(nil)
	_ = a.Report()
}

// docs/findings.md lists the catalogue; it is rewritten with -update.
func TestFindingsDoc(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Findings\n\nWhat `mcpwatch` can diagnose in a handshake: every rule of the analysis (`recorder/analysis`), its severity, what it\ndetects, the fix it suggests, and where the rule comes from. Issue refs without a repository are\n`anthropics/claude-ai-mcp#N`; `CC#N` is `anthropics/claude-code#N`; `S26/…`, `S1125/…` are files of the MCP specification\n(2026-07-28, 2025-11-25). This file is generated from the code: `go test ./recorder/analysis -run TestFindingsDoc -update`.\n\n")
	b.WriteString("A finding names the toggle (`mcpwatch toggles`) that altered its exchange only when that toggle can cause the rule: the\nlast column.\n\n")
	b.WriteString("| rule | severity | detects | fix | source | toggles that can cause it |\n|---|---|---|---|---|---|\n")
	esc := strings.NewReplacer("|", "\\|", "\n", " ")
	for _, r := range Rules() {
		var toggles []string
		for _, tg := range r.Toggles {
			toggles = append(toggles, "`"+tg+"`")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", r.ID, r.Severity, esc.Replace(r.Title), esc.Replace(r.Fix), esc.Replace(r.Source), strings.Join(toggles, ", "))
	}
	testkit.Golden(t, "../../docs", ".md", "findings", []byte(b.String())) // -update rewrites it
}

// An HTML error page contributes its title to the summary (the embedded authorization server's pages say why).
func TestSummaryQuotesAnHTMLErrorTitle(t *testing.T) {
	a := New(Options{})
	a.Observe(newEx(1, "POST", "/authorize").body(form, "consent=c&csrf=x&action=approve").
		answer(403, "text/html; charset=utf-8", "<!doctype html><html><head><title>Forged consent form &mdash; mcpwatch</title></head></html>").ex)
	f := a.Info(1).Findings
	if len(f) != 1 || f[0].Rule != "authorize-failed" || !strings.Contains(f[0].Summary, `consent form was refused with 403 ("Forged consent form — mcpwatch")`) {
		t.Errorf("findings %+v", f)
	}
}

// A literal URL in a query (legal unencoded) is part of the request target: an authorization request whose
// resource names the MCP URL is not a request for /mcp (no mcp-redirect on its 302, the stage from its own path).
func TestURLInTheQuery(t *testing.T) {
	const res = "resource=http://127.0.0.1:47311/mcp"
	tests := []struct {
		name  string
		ex    *exb
		stage Stage
	}{
		{"authorization request", newEx(1, "GET", "/authorize?response_type=code&client_id=c1&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcb&code_challenge=x&code_challenge_method=S256&state=s&"+res).
			answer(302, "", "").resp("Location", "http://127.0.0.1:5000/cb?code=abc&state=s"), StageAuthorize},
		{"consent page", newEx(1, "GET", "/consent?"+res).answer(200, "text/html", "<html></html>"), StageConsent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{})
			a.Observe(tt.ex.ex)
			in := a.Info(1)
			if in.Stage != tt.stage || in.Status != StatusOK {
				t.Errorf("stage %s (%s), want %s (ok)", in.Stage, in.Status, tt.stage)
			}
			for _, f := range a.Report().Findings {
				t.Errorf("finding %s: %s", f.Rule, f.Summary)
			}
		})
	}
}

// The catalogue's rules list the toggles that can cause them (registered by server/toggle, which toggles_test.go
// links into this test binary).
func TestToggleRules(t *testing.T) {
	if len(toggleCauses) == 0 {
		t.Fatal("no toggle registered: server/toggle is not linked")
	}
	for toggle, rules := range toggleCauses {
		for _, rl := range rules {
			r, ok := RuleByID(rl.ID)
			if !ok {
				t.Errorf("toggle %s: rule %q is not catalogued", toggle, rl.ID)
				continue
			}
			if !slices.Contains(r.Toggles, toggle) {
				t.Errorf("rule %s does not list toggle %s", rl.ID, toggle)
			}
		}
	}
	if !CanCause("slow=12s", "slow-response") || CanCause("slow=1s", "stale-client-id") || CanCause("no-such-toggle", "slow-response") {
		t.Error("CanCause reads NAME=VALUE wrongly")
	}
}

// A toggle that names a rule the catalogue does not have, or is registered twice, panics at start.
func TestRegisterToggleRefusesUnknownRulesAndDuplicates(t *testing.T) {
	for name, reg := range map[string]func(){
		"unknown rule": func() { RegisterToggle("no-such-toggle", []RuleID{RuleSlowResponse, "no-such-rule"}) },
		"twice":        func() { RegisterToggle("slow", []RuleID{RuleSlowResponse}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: RegisterToggle did not panic", name)
				}
			}()
			reg()
		}()
	}
	if _, ok := toggleCauses["no-such-toggle"]; ok {
		t.Error("a refused toggle was registered")
	}
}

// A finding names the toggle that altered its exchange only when that toggle can cause its rule.
func TestFindingBlamesOnlyACausingToggle(t *testing.T) {
	staleToken := func(fault string) *recorder.Exchange {
		b := newEx(1, "POST", "/token").body(form, "grant_type=authorization_code&code=c&client_id=mcpw_from_last_week").
			answer(401, "application/json", `{"error":"invalid_client"}`)
		b.ex.Toggles = []recorder.ToggleChange{{Name: fault, What: "status"}}
		return b.ex
	}
	initNoTools := func(fault string) []*recorder.Exchange {
		b := newEx(1, "POST", "/mcp").body("application/json", rpc(0, "initialize")).
			answer(200, "application/json", `{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{}}}`).
			resp("Mcp-Session-Id", "S1")
		b.ex.Toggles = []recorder.ToggleChange{{Name: fault, What: "response body"}}
		init2 := newEx(2, "POST", "/mcp").req("Mcp-Session-Id", "S1").body("application/json", rpc(-1, "notifications/initialized")).answer(202, "", "")
		return []*recorder.Exchange{b.ex, init2.ex}
	}
	tests := []struct {
		name, rule, fault string
		exs               []*recorder.Exchange
		blamed            bool
	}{
		{"slow does not refuse a client id", "stale-client-id", "slow=1s", []*recorder.Exchange{staleToken("slow=1s")}, false},
		{"token-error=invalid_client does", "stale-client-id", "token-error=invalid_client", []*recorder.Exchange{staleToken("token-error=invalid_client")}, true},
		{"invalid-client-on-token does", "stale-client-id", "invalid-client-on-token", []*recorder.Exchange{staleToken("invalid-client-on-token")}, true},
		{"slow does not drop the tools capability", "tools-never-listed", "slow=1s", initNoTools("slow=1s"), false},
		{"drop-tools-capability does", "tools-never-listed", "drop-tools-capability", initNoTools("drop-tools-capability"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Analyze(tt.exs, Options{Now: t0.Add(time.Hour)})
			var found bool
			for _, f := range rep.Findings {
				if f.Rule != tt.rule {
					continue
				}
				found = true
				want := ""
				if tt.blamed {
					want = tt.fault
				}
				if f.Toggle != want {
					t.Errorf("%s names toggle %q, want %q", f.Rule, f.Toggle, want)
				}
			}
			if !found {
				t.Fatalf("no %s finding in %+v", tt.rule, rep.Findings)
			}
		})
	}
}

// Every field the registry's fingerprints read has a rank here: a decisive fingerprint of an unranked field would
// name nobody.
func TestFieldsRanked(t *testing.T) {
	for _, p := range clients.Profiles() {
		for _, f := range p.Fingerprints {
			if _, ok := fieldRank[f.Field]; !ok && f.Field != clients.RPCID {
				t.Errorf("%s: field %s has no rank", p.ID, f.Field)
			}
		}
	}
}

// An issuer with a terminating "/" is served at the same well-known URL as without it (RFC 8414 §3.1): it is
// consistent when the resource metadata named exactly that identifier (the TypeScript SDK's demo server does), and
// a mismatch when the resource metadata named the other form (a client comparing the two refuses it).
func TestIssuerWithTerminatingSlash(t *testing.T) {
	run := func(named string) []string {
		exs := []*recorder.Exchange{
			newEx(1, "GET", "/.well-known/oauth-protected-resource/mcp").from("127.0.0.1:5000").req("User-Agent", "node").
				answer(200, "application/json", `{"resource":"http://127.0.0.1:4000/mcp","authorization_servers":["`+named+`"]}`).ex,
			newEx(2, "GET", "/.well-known/oauth-authorization-server").from("127.0.0.1:5000").req("User-Agent", "node").
				answer(200, "application/json", `{"issuer":"http://127.0.0.1:4000/","authorization_endpoint":"http://127.0.0.1:4000/authorize","token_endpoint":"http://127.0.0.1:4000/token","registration_endpoint":"http://127.0.0.1:4000/register","response_types_supported":["code"],"code_challenge_methods_supported":["S256"]}`).ex,
		}
		var rules []string
		for _, f := range Analyze(exs, Options{}).Findings {
			rules = append(rules, f.Rule)
		}
		return rules
	}
	if got := run("http://127.0.0.1:4000/"); slices.Contains(got, "auth-metadata-issuer-mismatch") {
		t.Errorf("issuer http://127.0.0.1:4000/ named so by the resource metadata: %v, want no issuer mismatch", got)
	}
	if got := run("http://127.0.0.1:4000"); !slices.Contains(got, "auth-metadata-issuer-mismatch") {
		t.Errorf("issuer http://127.0.0.1:4000/ where the resource metadata named http://127.0.0.1:4000: %v, want the mismatch", got)
	}
}
