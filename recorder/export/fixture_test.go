package export

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// The secrets of the fixture: each must be gone from every redacted export, and each must survive --no-redact.
var fixtureSecrets = map[string]string{
	"authorization code":         "authcode-SECRET-42xyz",
	"PKCE verifier":              "verifier-SECRET-abcdefghijkl",
	"access token":               "at-SECRET-token-0001",
	"refresh token":              "rt-SECRET-token-0002",
	"refreshed access token":     "at-SECRET-token-0003",
	"refreshed refresh token":    "rt-SECRET-token-0004",
	"registration access token":  "reg-SECRET-access-77",
	"client secret":              "cs-SECRET-client-secret",
	"CSRF token":                 "csrf-SECRET-value-123456",
	"consent cookie":             "cookie-SECRET-987654",
	"revoked token (form token)": "at-SECRET-token-0003",
	"id token":                   "idt-SECRET-jwt-value",
}

// Values that look like secrets but are not: redaction must keep them.
var fixtureKept = []string{
	"5THH7ZASVVE65BFDLUNDI4LJA2",                  // Mcp-Session-Id
	"st4te-value-0123",                            // OAuth state
	"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", // PKCE challenge
	"client-claude-0001",                          // client id
	`"code": -32602`,                              // a JSON-RPC error code
	`"code":"print(1)"`,                           // a tool argument named code, in a JSON-RPC body
}

const tunnel = "garbage-actress-light-legislature.trycloudflare.com"

func hdrs(kv ...string) recorder.Headers {
	var h recorder.Headers
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, recorder.Header{Name: kv[i], Value: kv[i+1]})
	}
	return h
}

func body(s string) recorder.Body { return recorder.Body{Data: []byte(s), Size: int64(len(s))} }

func tunnelHeaders(extra ...string) recorder.Headers {
	h := hdrs("Host", tunnel, "User-Agent", "Claude-User", "Accept-Encoding", "gzip")
	h = append(h, hdrs(extra...)...)
	return append(h, hdrs("Cdn-Loop", "cloudflare; loops=1", "Cf-Connecting-Ip", "160.79.106.35", "Cf-Ray", "8f1c2a3b4c5d6e7f-SJC",
		"X-Forwarded-For", "160.79.106.35", "X-Forwarded-Proto", "https")...)
}

// fixtureExchanges is a Claude-style handshake through a tunnel, as the seed write-up tells it, plus the cases an
// exporter must handle: a refresh, a revocation, a binary upload with a truncated answer, a GET stream cut by
// the client, a toggle that altered an exchange, a tool call with an error, an outbound fetch, and a failed
// request. `go test ./recorder/export -update` rewrites testdata/claude-handshake.jsonl from it.
func fixtureExchanges() []*recorder.Exchange {
	t0 := time.Date(2026, 7, 28, 10, 0, 0, 0, time.UTC)
	var out []*recorder.Exchange
	at := 0 * time.Millisecond
	add := func(gap time.Duration, ex *recorder.Exchange) {
		at += gap
		ex.ID = uint64(len(out) + 1)
		if ex.Kind == "" {
			ex.Kind = recorder.Inbound
		}
		ex.State = recorder.StateComplete
		ex.Start = t0.Add(at)
		if ex.Proto == "" {
			ex.Proto = "HTTP/1.1"
		}
		if ex.Host == "" && ex.Kind == recorder.Inbound {
			ex.Host = tunnel
		}
		if ex.RemoteAddr == "" && ex.Kind == recorder.Inbound {
			ex.RemoteAddr = "127.0.0.1:51000"
		}
		if ex.Timings.Total == 0 {
			ex.Timings = recorder.Timings{Wait: 1200 * time.Microsecond, Total: 1500 * time.Microsecond}
		}
		ex.RPC = append(recorder.ParseRPC(ex.ReqBody.Data, recorder.FromClient, -1), ex.RPC...)
		if len(ex.Events) == 0 {
			ex.RPC = append(ex.RPC, recorder.ParseRPC(ex.RespBody.Data, recorder.FromServer, -1)...)
		}
		pairRPC(ex.RPC)
		out = append(out, ex)
	}
	sse := func(events ...recorder.SSEEvent) (recorder.Body, []recorder.SSEEvent, []recorder.RPC) {
		var b strings.Builder
		var rpc []recorder.RPC
		for i, ev := range events {
			if ev.Event != "" {
				fmt.Fprintf(&b, "event: %s\n", ev.Event)
			}
			if ev.ID != "" {
				fmt.Fprintf(&b, "id: %s\n", ev.ID)
			}
			fmt.Fprintf(&b, "data: %s\n\n", ev.Data)
			rpc = append(rpc, recorder.ParseRPC([]byte(ev.Data), recorder.FromServer, i)...)
		}
		return body(b.String()), events, rpc
	}
	initialize := `{"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude-ai","version":"0.1.0"}},"jsonrpc":"2.0","id":0}`
	rm := "https://" + tunnel + "/.well-known/oauth-protected-resource/mcp"

	// 1. The connector is added: initialize without a token.
	add(0, &recorder.Exchange{Method: "POST", URL: "/mcp",
		ReqHeaders: tunnelHeaders("Content-Length", fmt.Sprint(len(initialize)), "Accept", "application/json, text/event-stream", "Content-Type", "application/json"),
		ReqBody:    body(initialize), Status: 401,
		RespHeaders: hdrs("Content-Type", "application/json", "Www-Authenticate", `Bearer resource_metadata="`+rm+`"`),
		RespBody:    body(`{"error":"invalid_token","error_description":"no bearer token"}`)})
	// 2. The GET stream, also without a token.
	add(180*time.Millisecond, &recorder.Exchange{Method: "GET", URL: "/mcp",
		ReqHeaders: tunnelHeaders("Accept", "text/event-stream"), Status: 401,
		RespHeaders: hdrs("Www-Authenticate", `Bearer resource_metadata="`+rm+`"`)})
	// 3. Resource metadata.
	add(4*time.Second, &recorder.Exchange{Method: "GET", URL: "/.well-known/oauth-protected-resource/mcp",
		ReqHeaders: tunnelHeaders("Accept", "application/json"), Status: 200,
		RespHeaders: hdrs("Content-Type", "application/json", "Cache-Control", "max-age=300"),
		RespBody:    body(`{"resource":"https://` + tunnel + `/mcp","authorization_servers":["https://` + tunnel + `"],"bearer_methods_supported":["header"],"scopes_supported":["claudeai"]}`)})
	// 4. Authorization server metadata.
	add(90*time.Millisecond, &recorder.Exchange{Method: "GET", URL: "/.well-known/oauth-authorization-server",
		ReqHeaders: tunnelHeaders("Accept", "application/json"), Status: 200,
		RespHeaders: hdrs("Content-Type", "application/json"),
		RespBody: body(`{"issuer":"https://` + tunnel + `","authorization_endpoint":"https://` + tunnel + `/authorize","token_endpoint":"https://` + tunnel + `/token",` +
			`"registration_endpoint":"https://` + tunnel + `/register","revocation_endpoint":"https://` + tunnel + `/revoke","response_types_supported":["code"],` +
			`"grant_types_supported":["authorization_code","refresh_token"],"code_challenge_methods_supported":["S256"],"token_endpoint_auth_methods_supported":["none","client_secret_post"]}`)})
	// 5. Dynamic client registration.
	reg := `{"client_name":"claudeai","grant_types":["authorization_code","refresh_token"],"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"response_types":["code"],"scope":"claudeai","token_endpoint_auth_method":"none"}`
	add(120*time.Millisecond, &recorder.Exchange{Method: "POST", URL: "/register",
		ReqHeaders: tunnelHeaders("Content-Type", "application/json", "Content-Length", fmt.Sprint(len(reg))),
		ReqBody:    body(reg), Status: 201,
		RespHeaders: hdrs("Content-Type", "application/json"),
		RespBody: body(`{"client_id":"client-claude-0001","client_id_issued_at":1785232800,"client_secret":"cs-SECRET-client-secret","client_name":"claudeai",` +
			`"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"registration_access_token":"reg-SECRET-access-77","token_endpoint_auth_method":"none"}`)})
	// 6. The browser at the authorization endpoint: the consent page, with a CSRF token and a cookie.
	authQuery := "response_type=code&client_id=client-claude-0001&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback" +
		"&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=st4te-value-0123&scope=claudeai" +
		"&resource=https%3A%2F%2F" + tunnel + "%2Fmcp"
	browser := "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36"
	add(2*time.Second, &recorder.Exchange{Method: "GET", URL: "/authorize?" + authQuery,
		ReqHeaders: hdrs("Host", tunnel, "User-Agent", browser, "Accept", "text/html", "Referer", "https://claude.ai/", "X-Forwarded-Proto", "https"),
		Status:     200,
		RespHeaders: hdrs("Content-Type", "text/html; charset=utf-8",
			"Set-Cookie", "mcpwatch_consent=cookie-SECRET-987654; Path=/authorize; HttpOnly; Secure; SameSite=Lax"),
		RespBody: body(`<!doctype html><title>Allow claudeai?</title><form method="post" action="/authorize">` +
			`<input type="hidden" name="csrf_token" value="csrf-SECRET-value-123456">` +
			`<input type="hidden" name="state" value="st4te-value-0123"><button name="decision" value="allow">Allow</button></form>`)})
	// 7. Consent: the form comes back, the browser goes to Claude with the code.
	consent := "csrf_token=csrf-SECRET-value-123456&state=st4te-value-0123&decision=allow&" + authQuery
	add(3*time.Second, &recorder.Exchange{Method: "POST", URL: "/authorize",
		ReqHeaders: hdrs("Host", tunnel, "User-Agent", browser, "Content-Type", "application/x-www-form-urlencoded",
			"Cookie", "mcpwatch_consent=cookie-SECRET-987654; theme=dark", "Origin", "https://"+tunnel, "X-Forwarded-Proto", "https"),
		ReqBody: body(consent), Status: 302,
		RespHeaders: hdrs("Location", "https://claude.ai/api/mcp/auth_callback?code=authcode-SECRET-42xyz&state=st4te-value-0123")})
	// 8. The token request.
	tok := "grant_type=authorization_code&code=authcode-SECRET-42xyz&code_verifier=verifier-SECRET-abcdefghijkl&client_id=client-claude-0001" +
		"&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback&resource=https%3A%2F%2F" + tunnel + "%2Fmcp"
	add(400*time.Millisecond, &recorder.Exchange{Method: "POST", URL: "/token",
		ReqHeaders: tunnelHeaders("Content-Type", "application/x-www-form-urlencoded", "Content-Length", fmt.Sprint(len(tok))),
		ReqBody:    body(tok), Status: 200,
		RespHeaders: hdrs("Content-Type", "application/json", "Cache-Control", "no-store"),
		RespBody:    body(`{"access_token":"at-SECRET-token-0001","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-SECRET-token-0002","scope":"claudeai","id_token":"idt-SECRET-jwt-value"}`)})
	// 9. Initialize again, with the token: an SSE answer and a session.
	b9, ev9, rpc9 := sse(recorder.SSEEvent{At: 1100 * time.Microsecond, Event: "message", ID: "KZFXUTYRIGGKMY7ZJX5YSMNWZA_0",
		Data: `{"jsonrpc":"2.0","id":0,"result":{"capabilities":{"logging":{},"prompts":{"listChanged":true},"resources":{"listChanged":true},"tools":{"listChanged":true}},"protocolVersion":"2025-06-18","serverInfo":{"name":"mcpwatch","title":"mcpwatch embedded server","version":"dev"}}}`})
	add(600*time.Millisecond, &recorder.Exchange{Method: "POST", URL: "/mcp",
		ReqHeaders: tunnelHeaders("Accept", "application/json, text/event-stream", "Authorization", "Bearer at-SECRET-token-0001", "Content-Type", "application/json"),
		ReqBody:    body(initialize), Status: 200,
		RespHeaders: hdrs("Cache-Control", "no-cache, no-transform", "Content-Type", "text/event-stream", "Mcp-Session-Id", "5THH7ZASVVE65BFDLUNDI4LJA2"),
		RespBody:    b9, Events: ev9, RPC: rpc9, Notes: []recorder.Note{{Key: "era", Value: "legacy: initialize"}}})
	session := []string{"Authorization", "Bearer at-SECRET-token-0001", "Mcp-Session-Id", "5THH7ZASVVE65BFDLUNDI4LJA2", "Mcp-Protocol-Version", "2025-06-18", "Content-Type", "application/json", "Accept", "application/json, text/event-stream"}
	// 10. Initialized.
	add(150*time.Millisecond, &recorder.Exchange{Method: "POST", URL: "/mcp", ReqHeaders: tunnelHeaders(session...),
		ReqBody: body(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), Status: 202,
		Notes: []recorder.Note{{Key: "era", Value: "legacy: session header"}}})
	// 11. tools/list, answered as plain JSON.
	add(80*time.Millisecond, &recorder.Exchange{Method: "POST", URL: "/mcp", ReqHeaders: tunnelHeaders(session...),
		ReqBody: body(`{"id":1,"jsonrpc":"2.0","method":"tools/list","params":{}}`), Status: 200,
		RespHeaders: hdrs("Content-Type", "application/json", "Mcp-Session-Id", "5THH7ZASVVE65BFDLUNDI4LJA2"),
		RespBody: body(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"best_person_looker_upper","title":"Best Person Looker-upper","description":"Helps the agent identify who the best person is.",` +
			`"inputSchema":{"type":"object","properties":{"startsWith":{"type":"string"}},"required":["startsWith"]}},{"name":"echo","title":"Echo","inputSchema":{"type":"object"}}]}}`)})
	// 12. tools/call with a progress notification first; a toggle slowed it down.
	b12, ev12, rpc12 := sse(
		recorder.SSEEvent{At: 200 * time.Millisecond, Event: "message", Data: `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p1","progress":1,"total":2}}`},
		recorder.SSEEvent{At: 520 * time.Millisecond, Event: "message", ID: "6FNYAM3LMSNIHJM3WTTHXRJFI3_1", Data: `{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"The best person whose name starts with 'blah' is Blahnche."}]}}`})
	add(3*time.Second, &recorder.Exchange{Method: "POST", URL: "/mcp", ReqHeaders: tunnelHeaders(session...),
		ReqBody: body(`{"id":2,"jsonrpc":"2.0","method":"tools/call","params":{"name":"best_person_looker_upper","arguments":{"startsWith":"blah"},"_meta":{"progressToken":"p1"}}}`),
		Status:  200, RespHeaders: hdrs("Content-Type", "text/event-stream", "Mcp-Session-Id", "5THH7ZASVVE65BFDLUNDI4LJA2"),
		RespBody: b12, Events: ev12, RPC: rpc12,
		Timings: recorder.Timings{Wait: 150 * time.Millisecond, Total: 530 * time.Millisecond},
		Toggles: []recorder.ToggleChange{{Name: "slow-tools", What: "response delay", Before: "0s", After: "150ms"}}})
	// 13. A tool call whose arguments name "code" (a JSON-RPC body: kept) and that fails validation.
	add(time.Second, &recorder.Exchange{Method: "POST", URL: "/mcp", ReqHeaders: tunnelHeaders(session...),
		ReqBody: body(`{"id":3,"jsonrpc":"2.0","method":"tools/call","params":{"name":"run","arguments":{"code":"print(1)"}}}`), Status: 200,
		RespHeaders: hdrs("Content-Type", "application/json"),
		RespBody:    body(`{"jsonrpc":"2.0","id":3,"error":{"code": -32602,"message":"unknown tool \"run\""}}`)})
	// 14. The GET stream: a priming event, then the client hangs up.
	b14, ev14, _ := sse(recorder.SSEEvent{At: 2 * time.Millisecond, ID: "prime-0"})
	add(200*time.Millisecond, &recorder.Exchange{Method: "GET", URL: "/mcp",
		ReqHeaders: tunnelHeaders("Accept", "text/event-stream", "Authorization", "Bearer at-SECRET-token-0001", "Mcp-Session-Id", "5THH7ZASVVE65BFDLUNDI4LJA2"),
		Status:     200, RespHeaders: hdrs("Content-Type", "text/event-stream", "Cache-Control", "no-cache"),
		RespBody: b14, Events: ev14, Error: "stream closed by the client",
		Timings: recorder.Timings{Wait: 2 * time.Millisecond, Total: 12 * time.Second}})
	// 15. Refresh.
	ref := "grant_type=refresh_token&refresh_token=rt-SECRET-token-0002&client_id=client-claude-0001"
	add(2*time.Second, &recorder.Exchange{Method: "POST", URL: "/token",
		ReqHeaders: tunnelHeaders("Content-Type", "application/x-www-form-urlencoded"),
		ReqBody:    body(ref), Status: 200, RespHeaders: hdrs("Content-Type", "application/json", "Cache-Control", "no-store"),
		RespBody: body(`{"access_token":"at-SECRET-token-0003","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-SECRET-token-0004"}`)})
	// 16. Revocation of the new access token.
	add(time.Second, &recorder.Exchange{Method: "POST", URL: "/revoke",
		ReqHeaders: tunnelHeaders("Content-Type", "application/x-www-form-urlencoded"),
		ReqBody:    body("token=at-SECRET-token-0003&token_type_hint=access_token&client_id=client-claude-0001"), Status: 200})
	// 17. An outbound fetch mcpwatch made itself (a client ID metadata document).
	add(100*time.Millisecond, &recorder.Exchange{Kind: recorder.Outbound, Method: "GET", URL: "https://app.example.com/oauth/client-metadata.json",
		Host: "app.example.com", ReqHeaders: hdrs("Accept", "application/json", "User-Agent", "mcpwatch/dev"), Status: 200,
		RespHeaders: hdrs("Content-Type", "application/json"),
		RespBody:    body(`{"client_id":"https://app.example.com/oauth/client-metadata.json","client_name":"Example App","redirect_uris":["http://127.0.0.1:33418/callback"]}`)})
	// 18. A binary upload whose answer was truncated by the body limit.
	bin := []byte{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xfe}
	add(500*time.Millisecond, &recorder.Exchange{Method: "PUT", URL: "/upload?name=logo.png",
		ReqHeaders: tunnelHeaders("Content-Type", "image/png"), ReqBody: recorder.Body{Data: bin, Size: int64(len(bin))},
		Status: 200, RespHeaders: hdrs("Content-Type", "text/plain; charset=utf-8"),
		RespBody: recorder.Body{Data: []byte("stored 14 bytes as logo.png; here is a long receipt"), Size: 4096, Truncated: true}})
	// 19. A request that got no answer.
	add(300*time.Millisecond, &recorder.Exchange{Method: "POST", URL: "/mcp", ReqHeaders: tunnelHeaders(session...),
		ReqBody: body(`{"id":4,"jsonrpc":"2.0","method":"ping"}`), Error: "client went away before a response",
		Timings: recorder.Timings{Wait: 30 * time.Second, Total: 30 * time.Second}})
	// 20. The session ends.
	add(time.Second, &recorder.Exchange{Method: "DELETE", URL: "/mcp",
		ReqHeaders: tunnelHeaders("Authorization", "Bearer at-SECRET-token-0001", "Mcp-Session-Id", "5THH7ZASVVE65BFDLUNDI4LJA2"), Status: 200})
	return out
}

func pairRPC(msgs []recorder.RPC) {
	for i := range msgs {
		if !msgs[i].IsResponse {
			continue
		}
		for _, q := range msgs {
			if !q.IsResponse && q.Method != "" && string(q.ID) == string(msgs[i].ID) && q.From != msgs[i].From {
				msgs[i].ReplyTo = q.Method
			}
		}
	}
}

func fixtureJSONL() []byte {
	var b strings.Builder
	for _, ex := range fixtureExchanges() {
		line, err := json.Marshal(ex)
		if err != nil {
			panic(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
