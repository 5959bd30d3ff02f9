package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/server/toggle"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// scenarioAttempt is how far one handshake of e2e/node/scenario_client.mjs got.
type scenarioAttempt struct {
	Reached   string `json:"reached"`
	FailedAt  string `json:"failedAt"`
	Error     string `json:"error"`
	SessionID string `json:"sessionId"`
}

// scenarioOut is what e2e/node/scenario_client.mjs prints: the first attempt, the second (with --attempts 2), and
// the client ids the SDK registered.
type scenarioOut struct {
	scenarioAttempt
	Again         *scenarioAttempt `json:"again"`
	Registrations int              `json:"registrations"`
	ClientIDs     []string         `json:"clientIds"`
}

// TestScenarios runs each scenario of `mcpwatch faults` against a real client and checks that the client fails or
// recovers the way the scenario's story says, and that the recorder's findings name the scenario's toggle as the
// cause, under the rule the story predicts. The clients: the official TypeScript SDK client through the whole
// OAuth handshake (scenario_client.mjs); for discover-fallback, the official Go SDK client, whose default opens
// with server/discover, and a replay of Claude's handshake (TestScenarioDiscoverFallback*).
func TestScenarios(t *testing.T) {
	cases := []struct {
		scenario string
		args     []string // scenario_client.mjs's, besides --url
		check    func(t *testing.T, out scenarioOut, exs []*recorder.Exchange)
		// blame: rule id → the toggles its finding must name as the cause.
		blame map[string][]string
	}{
		{"no-session-id", nil, func(t *testing.T, out scenarioOut, _ []*recorder.Exchange) {
			// The SDK client carries on without a session id; the server still keeps sessions, so the client's next
			// message (notifications/initialized) is refused with 400: it stops right after initialize, as Claude does.
			if out.Reached != "token" || out.FailedAt != "initialize" || out.SessionID != "" ||
				!strings.Contains(out.Error, "without an Mcp-Session-Id header") {
				t.Errorf("want initialize without a session id, then notifications/initialized refused: %+v", out)
			}
		}, map[string][]string{"initialize-no-session-id": {"omit-session-id"}}},
		{"resource-mismatch", nil, func(t *testing.T, out scenarioOut, _ []*recorder.Exchange) {
			if out.FailedAt != "connect" || out.Registrations != 0 || !strings.Contains(out.Error, "does not match expected") {
				t.Errorf("want the resource metadata refused, before registration: %+v", out)
			}
		}, map[string][]string{"resource-metadata-mismatch": {"resource-mismatch"}}},
		{"token-exchange-failed", nil, func(t *testing.T, out scenarioOut, _ []*recorder.Exchange) {
			if out.FailedAt != "token" || !strings.Contains(out.Error, "invalid_grant") && !strings.Contains(strings.ToLower(out.Error), "invalid grant") {
				t.Errorf("want invalid_grant at the token step: %+v", out)
			}
		}, map[string][]string{"token-invalid-grant": {"token-error"}}},
		{"stale-client", []string{"--attempts", "2"}, func(t *testing.T, out scenarioOut, exs []*recorder.Exchange) {
			// SDK 1.32.2 on invalid_client: auth() drops the client and its tokens (invalidateCredentials("all"))
			// and tries again, but an authorization code cannot be exchanged without a client, so finishAuth
			// fails. The next attempt registers anew, and meets the toggle again.
			const noClient = "Existing OAuth client information is required when exchanging an authorization code"
			if out.FailedAt != "token" || out.Error != noClient {
				t.Errorf("first attempt: want the token step failed after the SDK dropped its client: %+v", out)
			}
			if out.Again == nil || out.Again.Reached != "browser" || out.Again.FailedAt != "token" || out.Again.Error != noClient {
				t.Errorf("second attempt: want a new registration and authorization, then the token step refused: %+v", out.Again)
			}
			if out.Registrations != 2 || len(out.ClientIDs) != 2 || out.ClientIDs[0] == out.ClientIDs[1] {
				t.Fatalf("want two registrations with two client ids: %+v", out)
			}
			// The wire: each client id was registered, then refused at the token endpoint with invalid_client.
			var registered, refused []string
			for _, ex := range exs {
				switch {
				case ex.Path() == "/register" && ex.Status == 201:
					var reg struct {
						ClientID string `json:"client_id"`
					}
					json.Unmarshal(ex.RespBody.Data, &reg)
					registered = append(registered, reg.ClientID)
				case ex.Path() == "/token" && ex.Status == 401 && strings.Contains(string(ex.RespBody.Data), `"error":"invalid_client"`):
					q, _ := url.ParseQuery(string(ex.ReqBody.Data))
					refused = append(refused, q.Get("client_id"))
				}
			}
			if !slices.Equal(registered, out.ClientIDs) || !slices.Equal(refused, out.ClientIDs) {
				t.Errorf("registered %v and refused at the token endpoint %v; want each of %v once", registered, refused, out.ClientIDs)
			}
		}, map[string][]string{"token-invalid-client": {"invalid-client-on-token"}}},
		{"couldnt-reach", nil, func(t *testing.T, out scenarioOut, _ []*recorder.Exchange) {
			if out.Reached != "call" || out.FailedAt != "" {
				t.Errorf("want the client to fall back to the origin's metadata and complete: %+v", out)
			}
		}, map[string][]string{"challenge-no-resource-metadata": {"omit-resource-metadata"},
			"resource-metadata-unreachable": {"no-resource-metadata"}}},
		{"redirect-host", []string{"--redirect", "https://claude.ai/api/mcp/auth_callback"}, func(t *testing.T, out scenarioOut, exs []*recorder.Exchange) {
			// Claude's callback on claude.ai, a server that allows claude.com only: no browser ever gets to follow
			// a redirect, the registration itself is refused.
			const why = `redirect URI "https://claude.ai/api/mcp/auth_callback": host "claude.ai" is not on the allowed list (claude.com)`
			if out.FailedAt != "connect" || out.Registrations != 0 || !strings.Contains(out.Error, why) {
				t.Errorf("want the claude.ai registration refused: %+v", out)
			}
			var answers []string
			for _, ex := range exs {
				if ex.Path() == "/register" {
					answers = append(answers, fmt.Sprintf("%d %s", ex.Status, ex.RespBody.Data))
					if !strings.Contains(string(ex.ReqBody.Data), `"redirect_uris":["https://claude.ai/api/mcp/auth_callback"]`) {
						t.Errorf("registration request %s", ex.ReqBody.Data)
					}
				}
			}
			want, _ := json.Marshal(map[string]string{"error": "invalid_redirect_uri", "error_description": why})
			if len(answers) != 1 || answers[0] != "400 "+string(want)+"\n" {
				t.Errorf("registration answers %q, want one 400 %s", answers, want)
			}
		}, map[string][]string{"register-rejected": {"redirect-allow"}}},
		{"expired", []string{"--wait-expiry"}, func(t *testing.T, out scenarioOut, _ []*recorder.Exchange) {
			if out.Reached != "call" || out.FailedAt != "call-after-expiry" {
				t.Errorf("want the call after expiry refused: %+v", out)
			}
		}, map[string][]string{"token-expired-no-refresh": {"short-token", "no-refresh-token"}}},
	}
	covered := []string{"discover-fallback"} // TestScenarioDiscoverFallback*
	for _, tc := range cases {
		covered = append(covered, tc.scenario)
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			srv := Start(t, "serve", "--auto-approve", "--ephemeral", "--scenario", tc.scenario)
			res := Node(t, 2*time.Minute, "scenario_client.mjs", append([]string{"--url", srv.URL + "/mcp"}, tc.args...)...)
			if res.Code != 0 {
				t.Fatalf("scenario_client.mjs crashed (exit %d):\n%s", res.Code, res.Stderr)
			}
			var out scenarioOut
			if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
				t.Fatalf("scenario_client.mjs output: %v\n%s", err, res.Stdout)
			}
			t.Logf("client: %s", res.Stdout)
			srv.Stop()
			exs := loadCaptures(t, srv.StateDir)
			tc.check(t, out, exs)
			checkBlame(t, exs, tc.blame)
		})
	}
	for _, sc := range toggle.Scenarios() {
		if !slices.Contains(covered, sc.Name) {
			t.Errorf("scenario %s has no e2e run", sc.Name)
		}
	}
}

// TestScenarioDiscoverFallback: the Go SDK client opens with server/discover, gets Method not found, falls back to
// initialize and works.
func TestScenarioDiscoverFallback(t *testing.T) {
	srv := Start(t, "serve", "--no-auth", "--scenario", "discover-fallback")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-discover-fallback", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL + "/mcp"}, nil)
	if err != nil {
		t.Fatalf("the Go SDK client did not fall back: %v", err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
		t.Fatal(err)
	}
	cs.Close()
	srv.Stop()
	checkBlame(t, loadCaptures(t, srv.StateDir), map[string][]string{"discover-fallback": {"reject-discover"}})
}

// checkBlame analyses the run's capture and requires, for each rule id, a finding of that rule that names each of
// the toggles as its cause.
func checkBlame(t *testing.T, exs []*recorder.Exchange, blame map[string][]string) {
	t.Helper()
	if len(exs) == 0 {
		t.Fatal("nothing captured")
	}
	last := exs[len(exs)-1].Start
	rep := analysis.Analyze(exs, analysis.Options{Now: last.Add(time.Minute)})
	var lines []string
	for _, f := range rep.Findings {
		lines = append(lines, string(f.Severity)+" "+f.Rule+" fault="+f.Toggle+": "+f.Summary)
	}
	t.Logf("findings:\n%s", strings.Join(lines, "\n"))
	for rule, toggles := range blame {
		found := false
		for _, f := range rep.Findings {
			if f.Rule != rule {
				continue
			}
			named := strings.Split(f.Toggle, ",")
			all := true
			for _, tg := range toggles {
				all = all && slices.Contains(named, tg)
			}
			found = found || all
		}
		if !found {
			t.Errorf("no %s finding names %s as the cause", rule, strings.Join(toggles, " and "))
		}
	}
}

// TestScenarioDiscoverFallbackClaudeReplay replays Claude's handshake against `mcpwatch serve --scenario
// discover-fallback`: its Aug-2026 opening, server/discover at 2026-07-28 (shared/reference/clients-and-peers.md §0),
// is refused with Method not found, and it falls back to the legacy handshake of the seed write-up: initialize
// (401, the resource metadata challenge), the authorization-server metadata, registration as claudeai, authorize,
// the token request as JSON, then initialize with the token, notifications/initialized, tools/list and tools/call —
// at 2025-11-25 (what Claude sends since 2026, claude-ai-mcp#70) and at the seed's 2024-11-05.
func TestScenarioDiscoverFallbackClaudeReplay(t *testing.T) {
	for _, version := range []string{"2025-11-25", "2024-11-05"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			srv := Start(t, "serve", "--auto-approve", "--ephemeral", "--scenario", "discover-fallback")
			c := &replay{t: t, base: srv.URL}

			// 1. The 2026 opening: server/discover, without a token. The toggle answers it as a legacy server does.
			meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},` +
				`"io.modelcontextprotocol/clientInfo":{"name":"Anthropic/ClaudeAI","version":"1.0.0"}}`
			status, _, body := c.post("/mcp", map[string]string{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"},
				`{"jsonrpc":"2.0","id":0,"method":"server/discover","params":{`+meta+`}}`)
			if status != 200 || !strings.Contains(body, `"code":-32601`) {
				t.Fatalf("server/discover: HTTP %d %s; want Method not found", status, body)
			}

			// 2. The fallback: initialize at the legacy version, first without a token.
			initialize := `{"method":"initialize","params":{"protocolVersion":"` + version + `","capabilities":{},` +
				`"clientInfo":{"name":"claude-ai","version":"0.1.0"}},"jsonrpc":"2.0","id":0}`
			status, h, _ := c.post("/mcp", nil, initialize)
			m := regexp.MustCompile(`resource_metadata="([^"]+)"`).FindStringSubmatch(h.Get("WWW-Authenticate"))
			if status != 401 || m == nil {
				t.Fatalf("initialize without a token: HTTP %d %q", status, h.Get("WWW-Authenticate"))
			}
			prm := c.getJSON(m[1])
			asm := c.getJSON(prm["authorization_servers"].([]any)[0].(string) + "/.well-known/oauth-authorization-server")
			status, _, body = c.post(asm["registration_endpoint"].(string), nil, `{"client_name":"claudeai","grant_types":["authorization_code","refresh_token"],`+
				`"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"response_types":["code"],"scope":"claudeai","token_endpoint_auth_method":"none"}`)
			var reg struct {
				ClientID string `json:"client_id"`
			}
			if status != 201 || json.Unmarshal([]byte(body), &reg) != nil || reg.ClientID == "" {
				t.Fatalf("register: HTTP %d %s", status, body)
			}
			verifier := "claude-replay-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"
			sum := sha256.Sum256([]byte(verifier))
			q := url.Values{"client_id": {reg.ClientID}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
				"code_challenge_method": {"S256"}, "redirect_uri": {"https://claude.ai/api/mcp/auth_callback"}, "response_type": {"code"},
				"scope": {"claudeai"}, "state": {"claude-state"}}
			resp, err := noRedirect().Get(asm["authorization_endpoint"].(string) + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location")) // claude.ai's callback: read, not followed
			if resp.StatusCode != 302 || loc == nil || loc.Query().Get("code") == "" {
				t.Fatalf("authorize: HTTP %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			tokBody, _ := json.Marshal(map[string]string{"client_id": reg.ClientID, "code": loc.Query().Get("code"), "code_verifier": verifier,
				"grant_type": "authorization_code", "redirect_uri": "https://claude.ai/api/mcp/auth_callback"})
			status, _, body = c.post(asm["token_endpoint"].(string), nil, string(tokBody))
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			if status != 200 || json.Unmarshal([]byte(body), &tok) != nil || tok.AccessToken == "" {
				t.Fatalf("token: HTTP %d %s", status, body)
			}
			c.token = tok.AccessToken

			// 3. initialize with the token: the version asked is answered, with a session.
			status, h, body = c.post("/mcp", nil, initialize)
			sid := h.Get("Mcp-Session-Id")
			if status != 200 || sid == "" || !strings.Contains(body, `"protocolVersion":"`+version+`"`) {
				t.Fatalf("initialize with the token: HTTP %d session %q %s", status, sid, body)
			}
			session := map[string]string{"Mcp-Session-Id": sid}
			if version != "2024-11-05" {
				session["MCP-Protocol-Version"] = version
			}
			if status, _, body = c.post("/mcp", session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); status != 202 {
				t.Fatalf("notifications/initialized: HTTP %d %s", status, body)
			}
			if status, _, body = c.post("/mcp", session, `{"id":1,"jsonrpc":"2.0","method":"tools/list","params":{}}`); status != 200 || !strings.Contains(body, `"name":"best_person_looker_upper"`) {
				t.Fatalf("tools/list: HTTP %d %s", status, body)
			}
			status, _, body = c.post("/mcp", session, `{"id":2,"jsonrpc":"2.0","method":"tools/call","params":{"name":"best_person_looker_upper","arguments":{"startsWith":"Gr"}}}`)
			if status != 200 || !strings.Contains(body, "Grace Hopper") {
				t.Fatalf("tools/call: HTTP %d %s", status, body)
			}
			srv.Stop()

			exs := loadCaptures(t, srv.StateDir)
			if got := exs[0].Toggles; len(got) != 1 || got[0].Name != "reject-discover" {
				t.Errorf("server/discover records %+v, want reject-discover", got)
			}
			for _, ex := range exs[1:] {
				if len(ex.Toggles) != 0 {
					t.Errorf("exchange %d %s %s records %+v: the toggle alters server/discover only", ex.ID, ex.Method, ex.Path(), ex.Toggles)
				}
			}
			checkBlame(t, exs, map[string][]string{"discover-fallback": {"reject-discover"}})
		})
	}
}

// replay sends a client's requests as written, with the headers Claude sends on MCP requests.
type replay struct {
	t     *testing.T
	base  string
	token string
}

func (c *replay) post(target string, header map[string]string, body string) (int, http.Header, string) {
	c.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = c.base + target
	}
	req, err := http.NewRequest("POST", target, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if strings.HasSuffix(req.URL.Path, "/mcp") {
		req.Header.Set("Accept", "application/json, text/event-stream")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (c *replay) getJSON(u string) map[string]any {
	c.t.Helper()
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Get(u)
	if err != nil {
		c.t.Fatal(err)
	}
	return decodeJSON(c.t, resp)
}
