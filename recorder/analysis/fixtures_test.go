package analysis

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
)

// fixtureCase is what a recorded capture must produce.
type fixtureCase struct {
	name  string
	rules []string // exactly the rules that fire (none for a healthy run)
	// toggles: rule → the toggle its finding must name (the fixture's edit recorded it on the exchange).
	toggles map[string]string
	// says: rule → words its summary must contain (the cause, in the finding's own words).
	says map[string]string
	// client the connection is identified as.
	client ClientKind
}

var fixtureCases = []fixtureCase{
	// Healthy runs: no finding.
	{name: "sdk-go-legacy", client: ClientUnknown},
	{name: "sdk-go-2026", client: ClientUnknown},
	{name: "sdk-go-sse", client: ClientUnknown},
	// A tool call answered with a JSON-RPC error is the call's failure (sse_test.go), not a finding.
	{name: "sdk-go-sse-call-error", client: ClientUnknown},
	{name: "sdk-ts-legacy", client: ClientUnknown},
	{name: "sdk-go-oauth", client: ClientUnknown},
	{name: "claude-authless", client: ClientClaude},
	{name: "claude-web-legacy", client: ClientClaude},
	{name: "claude-web-2026", client: ClientClaude},
	// The seed document's handshake works; its client sends no resource parameter (2024-era Claude).
	// Resource indicators are asked of clients from 2025-06-18 on: the seed's 2024-11-05 client is not at fault.
	{name: "seed-claude-2024", client: ClientClaude},

	// Broken runs.
	{name: "challenge-no-resource-metadata", client: ClientClaude, rules: []string{"challenge-no-resource-metadata"},
		toggles: map[string]string{"challenge-no-resource-metadata": "omit-resource-metadata"}},
	{name: "challenge-relative-resource-metadata", client: ClientClaude, rules: []string{"challenge-relative-resource-metadata"},
		toggles: map[string]string{"challenge-relative-resource-metadata": "relative-resource-metadata"},
		says:    map[string]string{"challenge-relative-resource-metadata": `"/.well-known/oauth-protected-resource/mcp"`}},
	{name: "challenge-no-www-authenticate", client: ClientClaude, rules: []string{"challenge-no-www-authenticate"}},
	{name: "challenge-loopback-resource-metadata", client: ClientClaude, rules: []string{"challenge-resource-metadata-loopback"},
		says: map[string]string{"challenge-resource-metadata-loopback": "https://mcp.example.dev"}},
	{name: "resource-metadata-mismatch", client: ClientClaude, rules: []string{"resource-metadata-mismatch"},
		toggles: map[string]string{"resource-metadata-mismatch": "resource-mismatch"},
		says:    map[string]string{"resource-metadata-mismatch": "http://localhost:4000/mcp, but the client reached the server at https://mcp.example.dev"}},
	{name: "resource-metadata-behind-auth", client: ClientClaude, rules: []string{"metadata-behind-auth", "resource-metadata-unreachable"}},
	{name: "resource-metadata-missing", client: ClientClaude, rules: []string{"resource-metadata-unreachable"},
		toggles: map[string]string{"resource-metadata-unreachable": "no-resource-metadata"}},
	{name: "resource-metadata-no-authorization-servers", client: ClientClaude, rules: []string{"resource-metadata-no-authorization-servers"}},
	{name: "auth-metadata-no-s256", client: ClientClaude, rules: []string{"auth-metadata-no-s256"}},
	{name: "auth-metadata-issuer-mismatch", client: ClientClaude, rules: []string{"auth-metadata-issuer-mismatch"},
		says: map[string]string{"auth-metadata-issuer-mismatch": "issuer https://mcp.example.dev/; a document at this URL must give https://mcp.example.dev."}},
	{name: "auth-metadata-no-registration", client: ClientClaude, rules: []string{"auth-metadata-no-registration", "registration-never-attempted"},
		toggles: map[string]string{"auth-metadata-no-registration": "no-registration", "registration-never-attempted": "no-registration"}},
	{name: "auth-metadata-missing", client: ClientClaude, rules: []string{"auth-metadata-unreachable"},
		toggles: map[string]string{"auth-metadata-unreachable": "no-auth-metadata"}},
	{name: "auth-metadata-incomplete", client: ClientClaude, rules: []string{"auth-metadata-incomplete"},
		says: map[string]string{"auth-metadata-incomplete": "lacks token_endpoint"}},
	{name: "auth-metadata-cimd-needs-none", client: ClientClaude, rules: []string{"auth-metadata-cimd-needs-none"}},
	{name: "register-claude-com", client: ClientClaude, rules: []string{"register-rejected"},
		toggles: map[string]string{"register-rejected": "redirect-allow=claude.ai"},
		says:    map[string]string{"register-rejected": "allow claude.ai and claude.com"}},
	{name: "register-secret-unused", client: ClientClaude, rules: []string{"register-secret-unused", "token-invalid-client"}},
	{name: "register-insecure-redirect", client: ClientUnknown, rules: []string{"register-insecure-redirect"},
		says: map[string]string{"register-insecure-redirect": "http://fixture.example/callback"}},
	{name: "stale-client-id", client: ClientClaude, rules: []string{"stale-client-id"},
		says: map[string]string{"stale-client-id": `"mcpw_registered_last_week"`}},
	{name: "redirect-uri-not-registered", client: ClientClaude, rules: []string{"redirect-uri-not-registered"},
		says: map[string]string{"redirect-uri-not-registered": "https://claude.com/api/mcp/auth_callback is not among"}},
	{name: "authorize-no-resource", client: ClientClaude, rules: []string{"authorize-no-resource"}},
	{name: "authorize-pkce-missing", client: ClientClaude, rules: []string{"authorize-pkce-missing", "authorize-error"}},
	{name: "consent-denied", client: ClientClaude, rules: []string{"consent-denied"},
		toggles: map[string]string{"consent-denied": "deny-consent"}},
	{name: "invalid-scope", client: ClientClaude, rules: []string{"challenge-no-scope", "invalid-scope"}},
	{name: "authorize-no-token", client: ClientClaude, rules: []string{"authorize-no-token"}},
	{name: "token-invalid-grant", client: ClientClaude, rules: []string{"token-invalid-grant"},
		toggles: map[string]string{"token-invalid-grant": "token-error=invalid_grant"},
		says:    map[string]string{"token-invalid-grant": "PKCE verification failed"}},
	{name: "token-invalid-target", client: ClientClaude, rules: []string{"token-invalid-target"}},
	{name: "token-error", client: ClientClaude, rules: []string{"token-error"},
		says: map[string]string{"token-error": "unsupported_grant_type"}},
	{name: "id-jag-unsupported", client: ClientClaude, rules: []string{"id-jag-unsupported"},
		says: map[string]string{"id-jag-unsupported": `typ "oauth-id-jag+jwt" issued by "https://idp.example.com"`}},
	{name: "token-response-invalid", client: ClientClaude, rules: []string{"token-response-invalid", "token-issued-unused"}},
	{name: "token-method-not-allowed", client: ClientClaude, rules: []string{"token-method-not-allowed"}},
	{name: "token-issued-unused", client: ClientClaude, rules: []string{"token-issued-unused"}},
	{name: "token-no-store", client: ClientClaude, rules: []string{"token-no-store"}},
	{name: "token-audience-mismatch", client: ClientClaude, rules: []string{"resource-mismatch", "token-rejected"},
		says: map[string]string{"token-rejected": "audience mismatch"}},
	{name: "token-expired", client: ClientClaude, rules: []string{"token-expired-no-refresh"},
		toggles: map[string]string{"token-expired-no-refresh": "short-token=60s"}},
	{name: "token-in-query", client: ClientClaude, rules: []string{"token-in-query"}},
	{name: "refresh-rejected", client: ClientUnknown, rules: []string{"refresh-rejected"},
		says: map[string]string{"refresh-rejected": "refresh token already used"}},
	{name: "initialize-failed", client: ClientUnknown, rules: []string{"initialize-failed"},
		says: map[string]string{"initialize-failed": "-32602 (Unsupported protocol version)"}},
	// tools-never-listed stays silent: the missing session id is the cause, not the tools capability.
	{name: "initialize-no-session-id", client: ClientClaude, rules: []string{"initialize-no-session-id"},
		toggles: map[string]string{"initialize-no-session-id": "omit-session-id"}},
	// Claude never echoes the session id (cam#975); a client that echoed it and then dropped it is another finding.
	{name: "session-not-echoed", client: ClientClaude, rules: []string{"session-never-echoed"}},
	{name: "session-dropped", client: ClientClaude, rules: []string{"session-not-echoed"},
		says: map[string]string{"session-not-echoed": "tools/call without the Mcp-Session-Id"}},
	{name: "session-stale", client: ClientUnknown, rules: []string{"session-stale", "session-no-reinit"},
		says: map[string]string{"session-stale": "SESSION-FROM-BEFORE-THE-RESTART"}},
	{name: "protocol-version-mismatch", client: ClientClaude, rules: []string{"protocol-version-mismatch"},
		says: map[string]string{"protocol-version-mismatch": "negotiated 2025-11-25 but sent MCP-Protocol-Version: 2026-07-28"}},
	{name: "protocol-version-header-missing", client: ClientUnknown, rules: []string{"protocol-version-header-missing"}},
	{name: "get-stream-405", client: ClientClaude, rules: []string{"get-stream-405"},
		toggles: map[string]string{"get-stream-405": "get-stream-405"}},
	{name: "sse-buffered-tunnel", client: ClientClaude, rules: []string{"sse-buffered-tunnel"}},
	{name: "tools-never-listed", client: ClientClaude, rules: []string{"tools-never-listed"},
		toggles: map[string]string{"tools-never-listed": "drop-tools-capability"},
		says:    map[string]string{"tools-never-listed": "declared no tools capability"}},
	{name: "initialized-missing", client: ClientClaude, rules: []string{"initialized-missing"}},
	{name: "wrong-jsonrpc-id", client: ClientClaude, rules: []string{"wrong-jsonrpc-id"},
		toggles: map[string]string{"wrong-jsonrpc-id": "wrong-jsonrpc-id"}},
	{name: "discover-fallback", client: ClientClaude, rules: []string{"discover-fallback"},
		toggles: map[string]string{"discover-fallback": "reject-discover"}},
	{name: "discover-no-fallback", client: ClientClaude, rules: []string{"discover-no-fallback"},
		toggles: map[string]string{"discover-no-fallback": "reject-discover"}},
	{name: "client-metadata-invalid", client: ClientClaude, rules: []string{"client-metadata-invalid", "authorize-failed"}},
	{name: "client-metadata-unreachable", client: ClientClaude, rules: []string{"client-metadata-fetch-failed", "authorize-failed"},
		says: map[string]string{"client-metadata-fetch-failed": "i/o timeout"}},
	{name: "mcp-redirect", client: ClientUnknown, // python-httpx alone names nobody
		rules: []string{"mcp-redirect"}},
	{name: "mcp-not-found", client: ClientUnknown, rules: []string{"mcp-not-found"}},
	{name: "host-forbidden", client: ClientUnknown, // python-httpx alone names nobody
		rules: []string{"host-forbidden"}},
	{name: "bot-blocked", client: ClientUnknown, // python-httpx alone names nobody
		rules: []string{"bot-blocked"}},
	{name: "cors-missing", client: ClientClaude, rules: []string{"cors-missing"}},
	{name: "cors-www-authenticate-hidden", client: ClientClaude, rules: []string{"cors-www-authenticate-hidden"}},
	{name: "www-authenticate-on-200", client: ClientClaude, rules: []string{"www-authenticate-non-401"}},
	{name: "server-error", client: ClientUnknown, rules: []string{"server-error"},
		toggles: map[string]string{"server-error": "fail=call:500"}},
	{name: "sse-initialize-failed", client: ClientUnknown, rules: []string{"initialize-failed"},
		says: map[string]string{"initialize-failed": "-32602 (Unsupported protocol version)"}},
	{name: "slow-initialize", client: ClientUnknown, rules: []string{"slow-response"},
		toggles: map[string]string{"slow-response": "slow=12s"}},

	// Today's clients (derive_clients.go in cmd/fixturegen; reference/clients-2026-12.md).
	// Each session keeps the version its initialize negotiated.
	{name: "mcp-remote-two-sessions", client: ClientMCPRemote},
	// Claude Code fell back: its initialize was answered 401.
	{name: "claude-code-discover-401", client: ClientClaudeCode, rules: []string{"discover-fallback"},
		toggles: map[string]string{"discover-fallback": "reject-discover"}},
	// discover was answered (with a wrong id), not refused.
	{name: "discover-wrong-jsonrpc-id", client: ClientUnknown, rules: []string{"wrong-jsonrpc-id"},
		toggles: map[string]string{"wrong-jsonrpc-id": "wrong-jsonrpc-id"}},
	{name: "no-registration-stopped", client: ClientInspector, rules: []string{"auth-metadata-no-registration", "registration-never-attempted"},
		toggles: map[string]string{"auth-metadata-no-registration": "no-registration", "registration-never-attempted": "no-registration"}},
	// http://localhost:PORT/callback is shared (Claude Code, SDK examples): it names nobody alone.
	{name: "ai-sdk-oauth", client: ClientKind("ai-sdk"), rules: []string{"token-issued-unused"}},
	// Bun/… OAuth requests before registration join Claude Code's connection.
	{name: "claude-code-oauth", client: ClientClaudeCode},
	// `claude mcp login` fetches the metadata first (Bun) and authorizes elsewhere; its MCP requests join.
	{name: "claude-code-login-external-as", client: ClientClaudeCode},
	// mcp-remote's pre-pass (undici GET, node metadata fetches), its one-off client's session and the host's
	// session: one connection, healthy.
	{name: "mcp-remote-prepass", client: ClientMCPRemote},

	// New findings of today's clients: each fires here and not on the healthy run it was derived from.
	{name: "protocol-version-header-meta-accepted", client: ClientClaude, rules: []string{"protocol-version-header-meta-accepted"},
		says: map[string]string{"protocol-version-header-meta-accepted": "MCP-Protocol-Version: 2025-11-25 but _meta protocolVersion 2026-07-28; the server accepted it"}},
	{name: "protocol-version-header-meta-mismatch", client: ClientClaude, rules: []string{"protocol-version-header-meta-mismatch"},
		toggles: map[string]string{"protocol-version-header-meta-mismatch": "strict-version-header"},
		says:    map[string]string{"protocol-version-header-meta-mismatch": "the server refused it with -32020 (HeaderMismatch)"}},
	{name: "refresh-token-race", client: ClientUnknown, rules: []string{"refresh-token-race", "refresh-rejected"},
		says: map[string]string{"refresh-token-race": "from two addresses (127.0.0.1 at request 12, 10.0.0.2 here)"}},
	{name: "refresh-token-replay", client: ClientUnknown, rules: []string{"refresh-token-replay", "refresh-rejected"},
		says: map[string]string{"refresh-token-replay": "first presented at request 12 (5m0s earlier"}},
	{name: "register-instead-of-refresh", client: ClientUnknown, rules: []string{"register-instead-of-refresh"},
		says: map[string]string{"register-instead-of-refresh": "new client id mcpw_registered_again"}},
	{name: "tool-not-listed", client: ClientUnknown, rules: []string{"tool-not-listed"},
		says: map[string]string{"tool-not-listed": `tool "retired_tool"`}},
	{name: "client-metadata-not-served", client: ClientClaude, rules: []string{"client-metadata-not-served", "authorize-failed"},
		says: map[string]string{"client-metadata-not-served": "403 and a bot challenge page (\"Just a moment...\")"}},

	// Proxy mode (mcpwatch proxy in front of an upstream).
	// The script stops after the metadata, as a client would that cannot go on.
	{name: "proxy-upstream-localhost", client: ClientClaude, rules: []string{"upstream-url-rewritten", "registration-never-attempted"},
		says: map[string]string{"upstream-url-rewritten": "in the 401 challenge of POST /mcp, /.well-known/oauth-protected-resource/mcp, /.well-known/oauth-authorization-server; mcpwatch rewrote it to https://mcp.example.dev."}},
	{name: "proxy-upstream-down", client: ClientUnknown, rules: []string{"upstream-unreachable"},
		says: map[string]string{"upstream-unreachable": "connect: connection refused"}},
	// A Keycloak-shaped authorization server on another origin, watched through the proxy's second listener,
	// refuses a Claude-shaped registration declaring the jwt-bearer grant (keycloak/keycloak#50362).
	{name: "proxy-as-keycloak-jwt-bearer", client: ClientClaude, rules: []string{"upstream-url-rewritten", "register-rejected", "as-known-quirk"},
		says: map[string]string{"as-known-quirk": "Keycloak answered POST /realms/mcp/clients-registrations/openid-connect with 400"}},
	// Its login page builds its URLs from the real host in a script: said, with --watch-as=false as the way out.
	{name: "proxy-as-unproxyable-login", client: ClientClaude, rules: []string{"upstream-url-rewritten", "as-unproxyable"},
		says: map[string]string{"as-unproxyable": "--watch-as=false"}},
}

// judgedAfter is how long after a fixture's last exchange absence rules are judged: the capture ended.
const judgedAfter = time.Minute

func loadFixture(t testing.TB, name string) []*recorder.Exchange {
	t.Helper()
	res, err := recorder.LoadCapture(filepath.Join("testdata", name+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if res.TornTail || len(res.Skipped) > 0 || len(res.Exchanges) == 0 {
		t.Fatalf("%s: damaged fixture (torn %v, skipped %v, %d exchanges)", name, res.TornTail, res.Skipped, len(res.Exchanges))
	}
	return res.Exchanges
}

func lastEnd(exs []*recorder.Exchange) time.Time {
	var t time.Time
	for _, ex := range exs {
		if e := exEnd(ex); e.After(t) {
			t = e
		}
	}
	return t
}

func analyzeFixture(t testing.TB, name string) (*Report, []*recorder.Exchange) {
	exs := loadFixture(t, name)
	return Analyze(exs, Options{Now: lastEnd(exs).Add(judgedAfter)}), exs
}

func TestFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.jsonl")
	listed := map[string]bool{}
	for _, c := range fixtureCases {
		listed[c.name] = true
	}
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".jsonl"); !listed[name] {
			t.Errorf("fixture %s has no expectation in fixtureCases", name)
		}
	}
	for _, fc := range fixtureCases {
		t.Run(fc.name, func(t *testing.T) {
			rep, _ := analyzeFixture(t, fc.name)
			var got []string
			byRule := map[string]Finding{}
			for _, f := range rep.Findings {
				got = append(got, f.Rule)
				byRule[f.Rule] = f
			}
			sort.Strings(got)
			want := slices.Clone(fc.rules)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				for _, f := range rep.Findings {
					t.Logf("%s %s #%d: %s", f.Severity, f.Rule, f.ExchangeID, f.Summary)
				}
				t.Fatalf("rules = %v, want %v", got, want)
			}
			for rule, toggle := range fc.toggles {
				if f := byRule[rule]; f.Toggle != toggle {
					t.Errorf("%s names toggle %q, want %q", rule, f.Toggle, toggle)
				}
			}
			for rule, words := range fc.says {
				if f := byRule[rule]; !strings.Contains(f.Summary, words) {
					t.Errorf("%s says %q, want it to contain %q", rule, f.Summary, words)
				}
			}
			for _, f := range rep.Findings {
				if f.Summary == "" || f.Fix == "" || f.Source == "" || f.Connection == "" || f.ExchangeID == 0 {
					t.Errorf("incomplete finding %+v", f)
				}
				if _, ok := fc.toggles[f.Rule]; !ok && f.Toggle != "" {
					t.Errorf("%s names toggle %q, which the fixture does not expect", f.Rule, f.Toggle)
				}
			}
			if len(rep.Connections) != 1 {
				for _, c := range rep.Connections {
					t.Logf("%s %s %v", c.ID, c.Client, c.Exchanges)
				}
				t.Fatalf("%d connections, want the run as one", len(rep.Connections))
			}
			if c := rep.Connections[0]; c.Client != fc.client {
				t.Errorf("client = %s, want %s", c.Client, fc.client)
			}
		})
	}
}

// Every rule of the catalogue fires in some fixture, so each is tested on recorded traffic.
func TestEveryRuleHasAFixture(t *testing.T) {
	seen := map[string]bool{}
	for _, fc := range fixtureCases {
		for _, r := range fc.rules {
			seen[r] = true
		}
	}
	for _, r := range catalogue {
		if !seen[r.ID] {
			t.Errorf("rule %s is exercised by no fixture", r.ID)
		}
	}
}

// TestGolden pins the stage, status, client, connection and era of every exchange of every fixture, the
// connections' stages, and the findings. Run with -update and read the diff.
func TestGolden(t *testing.T) {
	for _, fc := range fixtureCases {
		t.Run(fc.name, func(t *testing.T) {
			exs := loadFixture(t, fc.name)
			a := New(Options{Now: lastEnd(exs).Add(judgedAfter)})
			for _, ex := range SettleOrder(exs) {
				a.Observe(ex)
			}
			got := golden(a, exs)
			testkit.Golden(t, filepath.Join("testdata", "golden"), ".txt", fc.name, []byte(got))
		})
	}
}

func golden(a *Analyzer, exs []*recorder.Exchange) string {
	var b strings.Builder
	byID := slices.Clone(exs)
	slices.SortFunc(byID, func(x, y *recorder.Exchange) int { return int(x.ID) - int(y.ID) })
	for _, ex := range byID {
		in := a.Info(ex.ID)
		fmt.Fprintf(&b, "%3d %-8s %-6s %-42s %3d  %-17s %-7s %-11s %-3s %s\n", ex.ID, ex.Kind, ex.Method, ex.Path(), ex.Status,
			in.Stage, in.Status, in.Client, in.Connection, in.Era)
	}
	rep := a.Report()
	for _, c := range rep.Connections {
		fmt.Fprintf(&b, "connection %s: client=%s name=%q era=%s protocol=%s exchanges=%v\n", c.ID, c.Client, c.ClientName, c.Era, c.Protocol, c.Exchanges)
		var st []string
		for _, s := range c.Stages {
			if s.Count > 0 {
				st = append(st, fmt.Sprintf("%s:%s×%d", s.Stage, s.Status, s.Count))
			} else {
				st = append(st, fmt.Sprintf("%s:%s", s.Stage, s.Status))
			}
		}
		fmt.Fprintf(&b, "  stages %s\n", strings.Join(st, " "))
	}
	for _, f := range rep.Findings {
		fmt.Fprintf(&b, "! %s %s #%d ×%d", f.Severity, f.Rule, f.ExchangeID, f.Count)
		if f.Toggle != "" {
			fmt.Fprintf(&b, " toggle=%s", f.Toggle)
		}
		fmt.Fprintf(&b, ": %s\n", f.Summary)
	}
	return b.String()
}

// snapshots replays a capture as a live recorder publishes it: a Began snapshot when the request arrives (headers
// only), a Changed one when a streaming response starts and one per event as it arrives, the final one when it
// completes, in time order.
func snapshots(exs []*recorder.Exchange) []*recorder.Exchange {
	type ev struct {
		at    time.Time
		order int
		ex    *recorder.Exchange
	}
	var evs []ev
	for _, ex := range exs {
		began := *ex
		began.State, began.Status, began.RespHeaders, began.RespBody, began.Events = recorder.StatePending, 0, nil, recorder.Body{}, nil
		began.ReqBody, began.RPC, began.Timings, began.Error, began.Notes, began.Toggles = recorder.Body{}, nil, recorder.Timings{}, "", nil, nil
		evs = append(evs, ev{ex.Start, 0, &began})
		if isSSE(ex) {
			open := *ex
			open.State, open.RespBody, open.Events, open.Timings.Total = recorder.StateStreaming, recorder.Body{}, nil, 0
			open.RPC = nil
			for _, m := range ex.RPC {
				if m.From == recorder.FromClient {
					open.RPC = append(open.RPC, m)
				}
			}
			evs = append(evs, ev{ex.Start.Add(ex.Timings.Wait), 1, &open})
			for i, e := range ex.Events {
				part := open
				part.Events = ex.Events[: i+1 : i+1]
				part.RPC = slices.Clone(open.RPC)
				for _, m := range ex.RPC {
					if m.From == recorder.FromServer && m.Event >= 0 && m.Event <= i {
						part.RPC = append(part.RPC, m)
					}
				}
				evs = append(evs, ev{ex.Start.Add(max(e.At, ex.Timings.Wait)), 1, &part})
			}
		}
		evs = append(evs, ev{exEnd(ex), 2, ex})
	}
	sort.SliceStable(evs, func(i, j int) bool {
		if !evs[i].at.Equal(evs[j].at) {
			return evs[i].at.Before(evs[j].at)
		}
		if evs[i].order != evs[j].order {
			return evs[i].order < evs[j].order
		}
		return evs[i].ex.ID < evs[j].ex.ID
	})
	out := make([]*recorder.Exchange, len(evs))
	for i, e := range evs {
		out[i] = e.ex
	}
	return out
}

// Observing a capture update by update, as the TUI does, gives the batch analysis's answer.
func TestIncrementalMatchesBatch(t *testing.T) {
	for _, fc := range fixtureCases {
		t.Run(fc.name, func(t *testing.T) {
			exs := loadFixture(t, fc.name)
			now := lastEnd(exs).Add(judgedAfter)
			live := New(Options{Now: now})
			for _, s := range snapshots(exs) {
				live.Observe(s)
			}
			batch := Analyze(exs, Options{Now: now})
			if g, w := summarize(live.Report()), summarize(batch); g != w {
				t.Errorf("incremental:\n%s\nbatch:\n%s", g, w)
			}
		})
	}
}

func summarize(rep *Report) string {
	b, _ := json.MarshalIndent(rep, "", " ")
	return string(b)
}
