package e2e

import (
	"encoding/json"
	"encoding/xml"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// probeOutput is `mcpwatch probe --json`.
type probeOutput struct {
	Capture string `json:"capture"`
	Failed  bool   `json:"failed"`
	Results []struct {
		Client string `json:"client"`
		URL    string `json:"url"`
		Stages []struct {
			Stage    string `json:"stage"`
			Status   string `json:"status"`
			Detail   string `json:"detail"`
			Findings []struct {
				Rule     string `json:"rule"`
				Severity string `json:"severity"`
			} `json:"findings"`
		} `json:"stages"`
	} `json:"results"`
}

func runProbe(t *testing.T, url string, args ...string) (probeOutput, Result) {
	t.Helper()
	dir := t.TempDir()
	capture := filepath.Join(dir, "probe.jsonl")
	r := Run(t, 3*time.Minute, append([]string{"probe", url, "--auto", "--json", "--capture", capture, "--no-browser"}, args...)...)
	var out probeOutput
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("probe --json: %v\nstdout:\n%s\nstderr:\n%s", err, r.Stdout, r.Stderr)
	}
	if out.Capture != capture {
		t.Errorf("capture %q, want %q", out.Capture, capture)
	}
	return out, r
}

// TestProbeAllAgainstServe plays every profile against the real `mcpwatch serve --auto-approve`: every stage
// passes or is honestly not reproducible (a client ID metadata document only the real client serves). Claude's
// tools/list and tools/call carry MCP-Protocol-Version 2025-11-25 with _meta 2026-07-28 (reference §1, CC#93290):
// serve accepts them by _meta, and the finding under the line says so (TestProbeScenarios: strict-version-header).
func TestProbeAllAgainstServe(t *testing.T) {
	srv := Start(t, "serve", "--auto-approve", "--ephemeral", "--no-capture")
	junit := filepath.Join(t.TempDir(), "probe.xml")
	out, r := runProbe(t, srv.URL+"/mcp", "--all", "--junit", junit)
	want := []string{"claude", "claude-code", "chatgpt", "codex", "cursor", "vscode", "copilot-cli", "gemini-cli", "zed",
		"opencode", "goose", "inspector", "mcp-remote", "spec"}
	var got []string
	for _, res := range out.Results {
		got = append(got, res.Client)
		if len(res.Stages) != 7 {
			t.Errorf("%s: %d stages, want 7", res.Client, len(res.Stages))
		}
		for _, s := range res.Stages {
			switch {
			case s.Stage == "registration" && s.Status == "not reproducible":
				if !strings.Contains(s.Detail, "the server must fetch that document") {
					t.Errorf("%s registration: not reproducible without what the server must do: %q", res.Client, s.Detail)
				}
			case s.Status != "pass":
				t.Errorf("%s %s: %s: %s", res.Client, s.Stage, s.Status, s.Detail)
			}
			for _, f := range s.Findings {
				if f.Severity == "error" {
					t.Errorf("%s %s: error finding %s on a healthy run", res.Client, s.Stage, f.Rule)
				}
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("clients %v, want %v", got, want)
	}
	// CIMD clients are not reproducible against a server that advertises CIMD; DCR-only clients register.
	for _, res := range out.Results {
		reg := res.Stages[1]
		cimd := slices.Contains([]string{"claude", "claude-code", "chatgpt", "codex", "vscode", "copilot-cli", "zed", "opencode", "goose"}, res.Client)
		if cimd != (reg.Status == "not reproducible") {
			t.Errorf("%s registration: %s (%s)", res.Client, reg.Status, reg.Detail)
		}
	}
	if r.Code != 0 || out.Failed {
		t.Errorf("exit code %d failed=%v, want 0 (every profile passes)\nstderr:\n%s", r.Code, out.Failed, tail(r.Stderr, 3000))
	}
	// JUnit: one suite per client, one case per stage.
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &suites); err != nil {
		t.Fatalf("junit: %v\n%s", err, data)
	}
	if len(suites.Suites) != len(want) || suites.Tests != 7*len(want) || suites.Failures != 0 {
		t.Errorf("junit: %d suites, %d tests, %d failures", len(suites.Suites), suites.Tests, suites.Failures)
	}
	// The capture reads like any other: open names the clients the probe played.
	o := Run(t, time.Minute, "open", "--no-tui", out.Capture)
	if o.Code != 0 {
		t.Fatalf("open: %d\n%s", o.Code, o.Stderr)
	}
	for _, c := range []string{"claude-code", "codex", "inspector", "mcp-remote"} {
		if !strings.Contains(o.Stdout, " "+c+" ") {
			t.Errorf("open --no-tui names no %s connection:\n%s", c, tail(o.Stdout, 3000))
		}
	}
	e := Run(t, time.Minute, "export", out.Capture, "--format", "markdown")
	if e.Code != 0 || !strings.Contains(e.Stdout, "# MCP handshake transcript") {
		t.Errorf("export markdown: %d %s", e.Code, e.Stderr)
	}
}

// TestProbeScenarios: against serve with a scenario or toggle, the probe shows the stage that breaks and the
// finding that explains it.
func TestProbeScenarios(t *testing.T) {
	cases := []struct {
		serve       []string
		as          string
		stage, rule string
	}{
		{[]string{"--fault", "no-registration"}, "inspector", "registration", "registration-never-attempted"},
		{[]string{"--fault", "no-auth-metadata"}, "spec", "discovery", "auth-metadata-unreachable"},
		{[]string{"--scenario", "token-exchange-failed"}, "mcp-remote", "token", "token-invalid-grant"},
		{[]string{"--scenario", "stale-client"}, "gemini-cli", "token", "token-invalid-client"},
		// A strict 2026-07-28 server refuses Claude's 2025-11-25 header beside _meta 2026-07-28 with -32020 (CC#93290).
		{[]string{"--fault", "strict-version-header"}, "claude", "list", "protocol-version-header-meta-mismatch"},
		// An error-severity finding fails the stage it is attached to, even when the client went on.
		{[]string{"--scenario", "resource-mismatch"}, "claude", "discovery", "resource-metadata-mismatch"},
		{[]string{"--scenario", "couldnt-reach"}, "claude", "discovery", "resource-metadata-unreachable"},
		// The spec's client compares the resource metadata's resource with the URL it connects to and stops.
		{[]string{"--scenario", "resource-mismatch"}, "spec", "discovery", "resource-metadata-mismatch"},
		// A two-second token and no refresh token: the probe waits for the expiry and the call after it is refused.
		{[]string{"--scenario", "expired"}, "claude", "call", "token-expired-no-refresh"},
		// Not a break: a short-lived token is refreshed on 401 and the call goes through.
		{[]string{"--fault", "short-token=2s"}, "claude", "", ""},
		// Not a break: Claude Code falls back to initialize, before authorization and after it.
		{[]string{"--scenario", "discover-fallback"}, "claude-code", "", "discover-fallback"},
	}
	for _, c := range cases {
		t.Run(c.serve[1]+"/"+c.as, func(t *testing.T) {
			srv := Start(t, append([]string{"serve", "--auto-approve", "--ephemeral", "--no-capture"}, c.serve...)...)
			out, r := runProbe(t, srv.URL+"/mcp", "--as", c.as)
			if want := map[bool]int{true: 0, false: 1}[c.stage == ""]; r.Code != want {
				t.Errorf("exit code %d, want %d", r.Code, want)
			}
			if len(out.Results) != 1 {
				t.Fatalf("%d results", len(out.Results))
			}
			var failed, all []string
			for _, s := range out.Results[0].Stages {
				for _, f := range s.Findings {
					all = append(all, f.Rule)
				}
				if s.Status != "fail" {
					continue
				}
				failed = append(failed, s.Stage)
				var rules []string
				for _, f := range s.Findings {
					rules = append(rules, f.Rule)
				}
				if s.Stage == c.stage && !slices.Contains(rules, c.rule) {
					t.Errorf("%s failed (%s) with findings %v, want %s", s.Stage, s.Detail, rules, c.rule)
				}
			}
			if c.stage == "" && c.rule == "" {
				if call := out.Results[0].Stages[6]; len(failed) > 0 || !strings.Contains(call.Detail, "after expiry: tools/call whoami → 401, refresh → 200") {
					t.Errorf("failed stages %v, call %q; want the call after expiry refreshed", failed, call.Detail)
				}
				return
			}
			if c.stage == "" {
				if len(failed) > 0 || !slices.Contains(all, c.rule) {
					t.Errorf("failed stages %v, findings %v; want none failed and %s", failed, all, c.rule)
				}
				return
			}
			if !slices.Equal(failed, []string{c.stage}) {
				t.Errorf("failed stages %v, want [%s]", failed, c.stage)
			}
			if c.as == "spec" {
				// The spec's client stops at the stage that breaks: nothing after it is played.
				for _, s := range out.Results[0].Stages {
					if s.Stage != c.stage && s.Status != "skipped" {
						t.Errorf("%s: %s after the spec client stopped at %s", s.Stage, s.Status, c.stage)
					}
				}
			}
		})
	}
}

// TestProbeBrowser runs the probe without --auto: it opens the authorization URL with xdg-open (here a stand-in
// browser on PATH that follows redirects with curl) and reads the code when the browser reaches its loopback
// callback listener.
func TestProbeBrowser(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("the stand-in browser needs curl:", err)
	}
	bin := t.TempDir()
	script := "#!/bin/sh\nexec " + curl + " -s -L -o /dev/null --max-time 20 \"$1\"\n"
	if err := os.WriteFile(filepath.Join(bin, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := Start(t, "serve", "--auto-approve", "--ephemeral", "--no-capture")
	capture := filepath.Join(t.TempDir(), "probe.jsonl")
	cmd := Command("probe", srv.URL+"/mcp", "--as", "spec,claude-code", "--json", "--capture", capture)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	r := RunCmd(t, 2*time.Minute, cmd)
	var out probeOutput
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("%v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	if r.Code != 0 {
		t.Errorf("exit code %d\n%s", r.Code, r.Stdout)
	}
	for _, res := range out.Results {
		if s := res.Stages[2]; s.Stage != "authorize" || s.Status != "pass" || !strings.Contains(s.Detail, "code received at http://") {
			t.Errorf("%s authorize: %s %q", res.Client, s.Status, s.Detail)
		}
	}
	if !strings.Contains(r.Stderr, "open this URL in a browser") {
		t.Errorf("no authorization URL printed:\n%s", r.Stderr)
	}
}

// TestProbeAgreesWithTypeScriptSDK: against the TypeScript SDK's example server with OAuth, the probe playing the
// SDK-based clients (the Inspector, mcp-remote, Claude Code: a confidential client here, which must pick
// client_secret_post from the server's list as the SDK does) and the spec gets as far as the real SDK client does — through
// OAuth to a tool call — by the same discovery, registration, authorize and token endpoints.
func TestProbeAgreesWithTypeScriptSDK(t *testing.T) {
	upstream := proxyStartOAuthExample(t)
	run := proxyRunClient(t, upstream, `[{"tool":"greet","args":{"name":"probe"}}]`, "oauth")
	if n := len(run.Results); n == 0 || !strings.Contains(string(run.Results[n-1]), "Hello, probe!") {
		t.Fatalf("the SDK client's results: %s", run.Results)
	}
	out, r := runProbe(t, upstream, "--as", "inspector,mcp-remote,claude-code,spec", "--tool", "greet")
	if r.Code != 0 {
		t.Errorf("probe exit %d\n%s", r.Code, r.Stdout)
	}
	for _, res := range out.Results {
		for _, s := range res.Stages {
			if s.Status != "pass" {
				t.Errorf("%s %s: %s %s (the SDK client got through)", res.Client, s.Stage, s.Status, s.Detail)
			}
		}
	}
	used := func(paths []string, p string) bool {
		return slices.ContainsFunc(paths, func(x string) bool { return strings.HasPrefix(x, p) })
	}
	var sdk []string
	for _, e := range run.Log {
		if u, err := url.Parse(e.URL); err == nil {
			sdk = append(sdk, u.Path)
		}
	}
	res, err := recorder.LoadCapture(out.Capture)
	if err != nil {
		t.Fatal(err)
	}
	var probed []string
	for _, ex := range res.Exchanges {
		probed = append(probed, ex.Path())
	}
	for _, p := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-authorization-server", "/register", "/authorize", "/token", "/mcp"} {
		if used(sdk, p) != used(probed, p) {
			t.Errorf("%s: the SDK client %v, the probe %v", p, used(sdk, p), used(probed, p))
		}
	}
}

// TestProbeHostedCallbackPasted runs `--as claude` without --auto: Claude's callback is claude.ai's, which nothing
// here can receive, so the user pastes the address the browser was sent to. The stand-in browser requests the
// authorization URL on loopback only (no redirect followed, nothing leaves the machine) and "pastes" the Location
// the server answered into the probe's stdin.
func TestProbeHostedCallbackPasted(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("the stand-in browser needs curl:", err)
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "stdin")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n" + curl + " -s -o /dev/null --max-time 20 -w '%{redirect_url}\\n' \"$1\" > " + fifo + "\n"
	if err := os.WriteFile(filepath.Join(dir, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	stdin, err := os.OpenFile(fifo, os.O_RDWR, 0) // read-write: opening does not wait for the writer
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	srv := Start(t, "serve", "--auto-approve", "--ephemeral", "--no-capture")
	capture := filepath.Join(t.TempDir(), "probe.jsonl")
	cmd := Command("probe", srv.URL+"/mcp", "--as", "claude", "--json", "--capture", capture)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Stdin = stdin
	r := RunCmd(t, 2*time.Minute, cmd)
	var out probeOutput
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("%v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	if s := out.Results[0].Stages[2]; s.Status != "pass" || !strings.Contains(s.Detail, "code received at https://claude.ai/api/mcp/auth_callback") {
		t.Errorf("authorize: %s %q\n%s", s.Status, s.Detail, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "paste the address") {
		t.Errorf("no paste prompt:\n%s", r.Stderr)
	}
}

// TestProbeStdinClosed: without --auto and with stdin closed, the hosted callback's paste cannot be read: that is
// the probe's limit, not the server's failure — authorize is not reproducible (with what to do), the stages after
// it are not reached, and the exit code is 0.
func TestProbeStdinClosed(t *testing.T) {
	srv := Start(t, "serve", "--auto-approve", "--ephemeral", "--no-capture")
	capture := filepath.Join(t.TempDir(), "probe.jsonl")
	cmd := Command("probe", srv.URL+"/mcp", "--as", "claude", "--json", "--no-browser", "--capture", capture)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	cmd.Stdin = nil // /dev/null
	r := RunCmd(t, 2*time.Minute, cmd)
	var out probeOutput
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("%v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	if s := out.Results[0].Stages[2]; s.Status != "not reproducible" || !strings.Contains(s.Detail, "--auto") || !strings.Contains(s.Detail, "paste") {
		t.Errorf("authorize: %s %q", s.Status, s.Detail)
	}
	if s := out.Results[0].Stages[3]; s.Status != "skipped" {
		t.Errorf("token: %s %q", s.Status, s.Detail)
	}
	if r.Code != 0 || out.Failed {
		t.Errorf("exit %d failed=%v, want 0", r.Code, out.Failed)
	}
}

// TestProbeSpecNamed: a capture of the spec profile names it in report and diff, not as an unknown client.
func TestProbeSpecNamed(t *testing.T) {
	srv := Start(t, "serve", "--auto-approve", "--ephemeral", "--no-capture")
	out, r := runProbe(t, srv.URL+"/mcp", "--as", "spec")
	if r.Code != 0 {
		t.Fatalf("probe: exit %d\n%s", r.Code, r.Stderr)
	}
	rep := Run(t, time.Minute, "report", out.Capture)
	if rep.Code != 0 || !strings.Contains(rep.Stdout, "mcpwatch probe (spec)") || strings.Contains(rep.Stdout, "unknown (") {
		t.Errorf("report: exit %d, want the client named mcpwatch probe (spec):\n%s\n%s", rep.Code, tail(rep.Stdout, 3000), rep.Stderr)
	}
	d := Run(t, time.Minute, "diff", out.Capture, out.Capture)
	if strings.Contains(d.Stdout, "(unknown)") || !strings.Contains(d.Stdout, "connection c1 (spec)") {
		t.Errorf("diff: exit %d, want the connection's client spec, as diff names every client by its id:\n%s\n%s", d.Code, tail(d.Stdout, 3000), d.Stderr)
	}
}

// TestProbeClaudeReportTransport: Claude opens with server/discover (2026-07-28, stateless) and then sends
// MCP-Protocol-Version: 2025-11-25 beside _meta 2026-07-28 (CC#93290): the report's transport is the stateless
// one the _meta version and the discover answer say, not the header's legacy era.
func TestProbeClaudeReportTransport(t *testing.T) {
	srv := Start(t, "serve", "--auto-approve", "--ephemeral", "--no-capture")
	out, r := runProbe(t, srv.URL+"/mcp", "--as", "claude")
	if r.Code != 0 {
		t.Fatalf("probe: exit %d\n%s", r.Code, r.Stderr)
	}
	rep := Run(t, time.Minute, "report", out.Capture)
	if rep.Code != 0 || !strings.Contains(rep.Stdout, "Streamable HTTP, stateless (server/discover)") {
		t.Errorf("report: exit %d, want a stateless transport:\n%s\n%s", rep.Code, tail(rep.Stdout, 3000), rep.Stderr)
	}
}

// TestProbePublicURL: --public-url probes the server at the public base with the given URL's path (here the local
// URL names a port nothing listens on, so only the public one can pass); a public URL that is not http(s) is a
// usage mistake.
func TestProbePublicURL(t *testing.T) {
	srv := Start(t, "serve", "--auto-approve", "--ephemeral", "--no-capture")
	out, r := runProbe(t, "http://127.0.0.1:1/mcp", "--as", "spec", "--public-url", srv.URL+"/elsewhere")
	if r.Code != 0 || out.Failed {
		t.Errorf("exit %d failed=%v, want 0\n%s", r.Code, out.Failed, r.Stdout)
	}
	if s := out.Results[0].Stages[0]; s.Status != "pass" || !strings.Contains(s.Detail, "POST /mcp") {
		t.Errorf("discovery: %s %q", s.Status, s.Detail)
	}
	u := Run(t, time.Minute, "probe", srv.URL+"/mcp", "--as", "spec", "--public-url", "ftp://x")
	if u.Code != 2 || !strings.Contains(u.Stderr, "--public-url: not an http(s) URL") {
		t.Errorf("bad --public-url: exit %d %q", u.Code, u.Stderr)
	}
}

// TestProbeTunnel: --tunnel starts cloudflared (here the stand-in, first on PATH) to the given server's origin,
// probes the tunnel's public URL with the given path, and stops cloudflared at the end. The stand-in's public
// host is a closed loopback port, so nothing leaves the machine (the probe's discovery fails there).
func TestProbeTunnel(t *testing.T) {
	binDir := t.TempDir()
	proxyBuild(t, "./server/tunnel/testdata/fakecloudflared", binDir, "cloudflared")
	report := t.TempDir()
	srv := Start(t, "serve", "--auto-approve", "--ephemeral", "--no-capture")
	capture := filepath.Join(t.TempDir(), "probe.jsonl")
	cmd := Command("probe", srv.URL+"/mcp", "--as", "spec", "--tunnel", "--json", "--timeout", "3s", "--capture", capture)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FAKE_CLOUDFLARED_DIR="+report, "FAKE_CLOUDFLARED_HOST=127.0.0.1:1")
	r := RunCmd(t, 2*time.Minute, cmd)
	var out probeOutput
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("%v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	args, err := os.ReadFile(filepath.Join(report, "args"))
	if err != nil || !strings.HasSuffix(string(args), " --url "+srv.URL) {
		t.Errorf("cloudflared args %q (%v), want … --url %s", args, err, srv.URL)
	}
	if len(out.Results) != 1 || out.Results[0].URL != "https://127.0.0.1:1/mcp" {
		t.Errorf("probed %+v, want https://127.0.0.1:1/mcp", out.Results)
	}
	if !strings.Contains(r.Stderr, "tunnel up: https://127.0.0.1:1") {
		t.Errorf("no progress line:\n%s", r.Stderr)
	}
	pid, err := os.ReadFile(filepath.Join(report, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	if n <= 0 || syscall.Kill(n, 0) == nil {
		t.Errorf("cloudflared (pid %d) still runs after the probe", n)
	}
}
