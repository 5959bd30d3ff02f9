package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// tsClientOut is what e2e/node/tsclient.mjs prints.
type tsClientOut struct {
	Transport       string   `json:"transport"`
	Offered         string   `json:"offered"`
	SDKVersions     []string `json:"sdkVersions"`
	ProtocolVersion string   `json:"protocolVersion"`
	SessionID       *string  `json:"sessionId"`
	ServerInfo      struct {
		Name, Version string
	} `json:"serverInfo"`
	Tools      []string `json:"tools"`
	BestPerson string   `json:"bestPerson"`
	Echo       string   `json:"echo"`
	WhoAmI     struct {
		ClientName, ClientVersion, ProtocolVersion, Mode, SessionID, Transport string
	} `json:"whoami"`
	Prompts    []string `json:"prompts"`
	Resources  []string `json:"resources"`
	People     string   `json:"people"`
	Terminated *bool    `json:"terminated"`
}

// TestTypeScriptClient runs the official TypeScript SDK client (@modelcontextprotocol/sdk 1.32.2) against
// `mcpwatch serve`: over Streamable HTTP at every protocol revision the SDK's client accepts, and over the legacy
// HTTP+SSE transport. SDK 1.32.2 speaks only the legacy (initialize + session) era: it has no server/discover and
// no 2026-07-28, and its Client always offers 2025-11-25, so the other revisions are offered by rewriting that one
// field of its initialize request (see tsclient.mjs). Each run is also checked on mcpwatch's headless stdout:
// one line per request, with the JSON-RPC methods the client sent.
func TestTypeScriptClient(t *testing.T) {
	const sdkLatest = "2025-11-25"
	cases := []struct {
		transport, offer string
	}{
		{"streamable", ""}, // the SDK as it is: offers 2025-11-25
		{"streamable", "2025-06-18"},
		{"streamable", "2025-03-26"},
		{"streamable", "2024-11-05"},
		{"sse", ""},
		{"sse", "2024-11-05"},
	}
	for _, tc := range cases {
		name := tc.transport + "/" + tc.offer
		if tc.offer == "" {
			name = tc.transport + "/sdk-default"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := Start(t, "serve", "--no-auth") // this test is about the protocol; oauth_test.go runs the SDK's OAuth
			path := "/mcp"
			if tc.transport == "sse" {
				path = "/sse"
			}
			args := []string{"--url", srv.URL + path, "--transport", tc.transport}
			if tc.offer != "" {
				args = append(args, "--offer", tc.offer)
			}
			res := Node(t, time.Minute, "tsclient.mjs", args...)
			if res.Code != 0 {
				t.Fatalf("tsclient.mjs exited with code %d:\n%s", res.Code, res.Stderr)
			}
			var out tsClientOut
			if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
				t.Fatalf("tsclient.mjs output: %v\n%s", err, res.Stdout)
			}
			want := tc.offer
			if want == "" {
				want = sdkLatest
			}
			checkTSClientOut(t, tc.transport, want, out)

			srv.Stop() // the headless printer drains on shutdown: every exchange is on stdout now
			var got []string
			for _, l := range HeadlessLines(t, srv.Stdout()) {
				got = append(got, fmt.Sprintf("%s %s %s %s", l.Method, l.Path, l.RPC, l.Status))
			}
			wantLines := expectedTSClientLines(tc.transport)
			slices.Sort(got)
			slices.Sort(wantLines)
			if !slices.Equal(got, wantLines) {
				t.Errorf("headless lines (method path rpc status), sorted:\n got: %q\nwant: %q\nstdout:\n%s", got, wantLines, srv.Stdout())
			}
		})
	}
}

func checkTSClientOut(t *testing.T, transport, version string, out tsClientOut) {
	t.Helper()
	if out.ProtocolVersion != version {
		t.Errorf("negotiated protocol version %q, want %q (the SDK accepts %v)", out.ProtocolVersion, version, out.SDKVersions)
	}
	if out.ServerInfo.Name != "mcpwatch" {
		t.Errorf("serverInfo.name = %q, want mcpwatch", out.ServerInfo.Name)
	}
	for _, tool := range []string{"best_person_looker_upper", "echo", "whoami"} {
		if !slices.Contains(out.Tools, tool) {
			t.Errorf("tools/list lacks %s: %v", tool, out.Tools)
		}
	}
	if !strings.Contains(out.BestPerson, "Grace Hopper") {
		t.Errorf("best_person_looker_upper(startsWith Gr) = %q, want Grace Hopper", out.BestPerson)
	}
	if out.Echo != "hello from the TypeScript SDK" {
		t.Errorf("echo = %q", out.Echo)
	}
	w := out.WhoAmI
	if w.ClientName != "mcpwatch-e2e-tsclient" || w.ClientVersion != "1.32.2" {
		t.Errorf("whoami client = %q %q, want mcpwatch-e2e-tsclient 1.32.2", w.ClientName, w.ClientVersion)
	}
	if w.ProtocolVersion != version {
		t.Errorf("whoami protocolVersion = %q, want %q", w.ProtocolVersion, version)
	}
	if w.Mode != "session" {
		t.Errorf("whoami mode = %q, want session", w.Mode)
	}
	switch transport {
	case "streamable":
		if out.SessionID == nil || *out.SessionID == "" || w.SessionID != *out.SessionID {
			t.Errorf("whoami sessionId = %q, transport's Mcp-Session-Id = %v", w.SessionID, out.SessionID)
		}
		if out.Terminated == nil || !*out.Terminated {
			t.Errorf("the session was not terminated (DELETE)")
		}
		if w.Transport != "streamable-http" {
			t.Errorf("whoami transport = %q, want streamable-http", w.Transport)
		}
	case "sse":
		if w.Transport != "sse" {
			t.Errorf("whoami transport = %q, want sse", w.Transport)
		}
	}
	if !slices.Contains(out.Prompts, "best_person") {
		t.Errorf("prompts/list = %v, want best_person", out.Prompts)
	}
	if !slices.Contains(out.Resources, "mcpwatch://people") {
		t.Errorf("resources/list = %v, want mcpwatch://people", out.Resources)
	}
	if !strings.Contains(out.People, "\nGrace Hopper\n") {
		t.Errorf("resources/read mcpwatch://people = %q", out.People)
	}
}

// expectedTSClientLines is "METHOD PATH RPC STATUS" for every request tsclient.mjs makes.
func expectedTSClientLines(transport string) []string {
	calls := []string{"initialize", "notifications/initialized", "tools/list", "tools/call", "tools/call", "tools/call",
		"prompts/list", "resources/list", "resources/read"}
	var lines []string
	if transport == "sse" {
		// The 2024-11-05 transport: a GET stream carries every answer; each POST is accepted with 202.
		lines = append(lines, "GET /sse - 200")
		for _, c := range calls {
			lines = append(lines, "POST /sse "+c+" 202")
		}
		return lines
	}
	for _, c := range calls {
		status := "200"
		if c == "notifications/initialized" {
			status = "202"
		}
		lines = append(lines, "POST /mcp "+c+" "+status)
	}
	// The SDK opens the standalone GET stream after initialized, and terminateSession sends DELETE.
	return append(lines, "GET /mcp - 200", "DELETE /mcp - 204")
}
