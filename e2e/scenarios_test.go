package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/server/faults"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// scenarioOut is what e2e/node/scenario_client.mjs prints.
type scenarioOut struct {
	Reached       string `json:"reached"`
	FailedAt      string `json:"failedAt"`
	Error         string `json:"error"`
	SessionID     string `json:"sessionId"`
	Registrations int    `json:"registrations"`
}

// TestScenarios runs each scenario of `mcpwatch faults` against a real client and checks that the client fails or
// recovers the way the scenario's story says, and that the recorder's findings name the scenario's toggle as the
// cause. The clients: the official TypeScript SDK client through the whole OAuth handshake (scenario_client.mjs);
// for discover-fallback, the official Go SDK client, whose default opens with server/discover.
func TestScenarios(t *testing.T) {
	cases := []struct {
		scenario   string
		waitExpiry bool
		check      func(t *testing.T, out scenarioOut)
		// blame: the toggles findings must name (at least one finding each).
		blame []string
	}{
		{"no-session-id", false, func(t *testing.T, out scenarioOut) {
			// The SDK client carries on without a session id; the server still keeps sessions and cannot tell the
			// client's next request belongs to the initialized one.
			if out.Reached != "initialize" || out.FailedAt != "call" || out.SessionID != "" ||
				!strings.Contains(out.Error, "invalid during session initialization") {
				t.Errorf("want initialize without a session id, then tools/call refused: %+v", out)
			}
		}, []string{"omit-session-id"}},
		{"resource-mismatch", false, func(t *testing.T, out scenarioOut) {
			if out.FailedAt != "connect" || out.Registrations != 0 {
				t.Errorf("want a failure at discovery, before registration: %+v", out)
			}
		}, []string{"resource-mismatch"}},
		{"token-exchange-failed", false, func(t *testing.T, out scenarioOut) {
			if out.FailedAt != "token" || !strings.Contains(out.Error, "invalid_grant") && !strings.Contains(strings.ToLower(out.Error), "invalid grant") {
				t.Errorf("want invalid_grant at the token step: %+v", out)
			}
		}, []string{"token-error"}},
		{"stale-client", false, func(t *testing.T, out scenarioOut) {
			if out.FailedAt != "token" {
				t.Errorf("want a failure at the token step: %+v", out)
			}
		}, []string{"invalid-client-on-token"}},
		{"couldnt-reach", false, func(t *testing.T, out scenarioOut) {
			if out.Reached != "call" || out.FailedAt != "" {
				t.Errorf("want the client to fall back to the origin's metadata and complete: %+v", out)
			}
		}, []string{"omit-resource-metadata", "no-resource-metadata"}},
		{"redirect-host", false, func(t *testing.T, out scenarioOut) {
			if out.FailedAt != "connect" || out.Registrations != 0 {
				t.Errorf("want registration refused: %+v", out)
			}
		}, []string{"redirect-allow"}},
		{"expired", true, func(t *testing.T, out scenarioOut) {
			if out.Reached != "call" || out.FailedAt != "call-after-expiry" {
				t.Errorf("want the call after expiry refused: %+v", out)
			}
		}, []string{"short-token", "no-refresh-token"}},
	}
	covered := []string{"discover-fallback"} // TestScenarioDiscoverFallback
	for _, tc := range cases {
		covered = append(covered, tc.scenario)
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			srv := Start(t, "serve", "--auto-approve", "--ephemeral", "--scenario", tc.scenario)
			args := []string{"--url", srv.URL + "/mcp"}
			if tc.waitExpiry {
				args = append(args, "--wait-expiry")
			}
			res := Node(t, 2*time.Minute, "scenario_client.mjs", args...)
			if res.Code != 0 {
				t.Fatalf("scenario_client.mjs crashed (exit %d):\n%s", res.Code, res.Stderr)
			}
			var out scenarioOut
			if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
				t.Fatalf("scenario_client.mjs output: %v\n%s", err, res.Stdout)
			}
			t.Logf("client: %+v", out)
			tc.check(t, out)
			srv.Stop()
			checkBlame(t, srv.StateDir, tc.blame)
		})
	}
	for _, sc := range faults.Scenarios {
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
	checkBlame(t, srv.StateDir, []string{"reject-discover"})
}

// checkBlame analyses the run's capture and requires a finding naming each toggle.
func checkBlame(t *testing.T, stateDir string, toggles []string) {
	t.Helper()
	exs := loadCaptures(t, stateDir)
	last := exs[len(exs)-1].Start
	rep := analysis.Analyze(exs, analysis.Options{Now: last.Add(time.Minute)})
	var lines []string
	blamed := map[string]bool{}
	for _, f := range rep.Findings {
		lines = append(lines, string(f.Severity)+" "+f.Rule+" fault="+f.Fault+": "+f.Summary)
		for _, name := range strings.Split(f.Fault, ",") {
			blamed[name] = true
		}
	}
	t.Logf("findings:\n%s", strings.Join(lines, "\n"))
	for _, tg := range toggles {
		if !blamed[tg] {
			t.Errorf("no finding names the toggle %s as the cause", tg)
		}
	}
}
