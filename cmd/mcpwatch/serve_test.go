package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	neturl "net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/version"
)

// runCmd runs mcpwatch with args in-process (state under a temporary directory) and returns its exit code, stdout
// and stderr. A command that would run on (a server that started) is stopped after 10 s and exits 0.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	var stdout, stderr lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// A public URL with a path is refused at start with the base URL to give instead (it used to be dropped, so the
// connector URL silently lost the path).
func TestServePublicURLWithPath(t *testing.T) {
	code, _, stderr := runCmd(t, "serve", "--no-tui", "--addr", "127.0.0.1:0", "--no-capture", "--ephemeral",
		"--public-url", "https://pub.example.com/base")
	if code == 0 || !strings.Contains(stderr, `"https://pub.example.com/base" has a path (/base): give the tunnel's base URL, https://pub.example.com`) {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// mcpwatch -h (serve is the default) shows every command, then serve's flags; mcpwatch serve -h shows serve's; a
// flag mistake is one line and where to look, exit 2.
func TestHelp(t *testing.T) {
	// The top-level usage's line for each command (its words, not the command, which flag help also names).
	commands := []string{"run the embedded MCP + OAuth server (the default)", "the same inspector in front of your own MCP server",
		"review a saved capture", "turn a capture file into", "list the toggles and scenarios", "switch toggles of a running instance",
		"print the version", "Generate the autocompletion script"}
	serveFlags := []string{"--addr address", "--public-url URL", "--no-auth", "--state path", "--ephemeral"}
	for _, tc := range []struct {
		args     []string
		commands bool // the top-level usage
		flags    bool // serve's flags
		out      string
		code     int
	}{
		{[]string{"-h"}, true, true, "stdout", 0},
		{[]string{"--help"}, true, true, "stdout", 0},
		{[]string{"-help"}, true, true, "stdout", 0}, // as the flag package took it
		{[]string{"help"}, true, true, "stdout", 0},
		{[]string{"serve", "-h"}, false, true, "stdout", 0},
		{[]string{"help", "serve"}, false, true, "stdout", 0},
		{[]string{"--no-such-flag"}, false, false, "stderr", 2},
		{[]string{"no-such-command"}, false, false, "stderr", 2},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.args...)
			out := stderr
			if tc.out == "stdout" {
				out = stdout
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, c := range commands {
				if strings.Contains(out, c) != tc.commands {
					t.Errorf("%q shown: %v, want %v:\n%s", c, !tc.commands, tc.commands, out)
				}
			}
			for _, f := range serveFlags {
				if strings.Contains(out, f) != tc.flags {
					t.Errorf("flag %q shown: %v, want %v:\n%s", f, !tc.flags, tc.flags, out)
				}
			}
			if tc.code == 2 && (strings.Count(out, "\n") != 2 || !strings.Contains(out, "--help' for usage")) {
				t.Errorf("a usage error is its line and where to look:\n%s", out)
			}
		})
	}
}

// --version, -v and the version command print the same line; help is there for every command.
func TestVersionAndHelpEverywhere(t *testing.T) {
	want := "mcpwatch " + version.String() + "\n"
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		if code, out, errOut := runCmd(t, args...); code != 0 || out != want {
			t.Errorf("%v: exit %d, stdout %q (want %q), stderr %q", args, code, out, want, errOut)
		}
	}
	for _, c := range []string{"serve", "proxy", "open", "export", "toggles", "toggle", "faults", "fault", "version", "completion", "man"} {
		for _, h := range []string{"-h", "--help"} {
			if code, out, errOut := runCmd(t, c, h); code != 0 || !strings.Contains(out, "Usage:") {
				t.Errorf("%s %s: exit %d, stdout %q, stderr %q", c, h, code, out, errOut)
			}
		}
	}
}

// Completions for the four shells and the man page are generated, and name the commands and flags.
func TestCompletionsAndManPage(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, errOut := runCmd(t, "completion", sh)
		if code != 0 || !strings.Contains(out, "mcpwatch") || len(out) < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", sh, code, len(out), errOut)
		}
	}
	code, out, errOut := runCmd(t, "man")
	for _, want := range []string{".TH MCPWATCH 1", "EXIT STATUS", "proxy", `\fB--upstream\fP`, "listen address (loopback only)", "export", "MIT License"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("man: exit %d, %q missing (stderr %q):\n%.3000s", code, want, errOut, out)
		}
	}
	// Completing --format offers the export formats.
	code, out, _ = runCmd(t, "__complete", "export", "x.jsonl", "--format", "")
	if code != 0 || !strings.Contains(out, "har\n") || !strings.Contains(out, "markdown\n") {
		t.Errorf("completing --format: exit %d:\n%s", code, out)
	}
}

// Command lines written for the flag package keep working: -flag for --flag, flags after positional arguments.
func TestSingleDashLongFlags(t *testing.T) {
	got := longFlags([]string{"-no-tui", "-addr=127.0.0.1:0", "-h", "-v", "-", "x", "--json", "--", "-no-capture"})
	want := []string{"--no-tui", "--addr=127.0.0.1:0", "-h", "-v", "-", "x", "--json", "--", "-no-capture"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("longFlags = %q, want %q", got, want)
	}
}

// --scopes and --require-scope reach the authorization server: the metadata lists the scopes, the 401 challenge
// names the required one, a token without it gets 403 insufficient_scope, and a token with it is served.
func TestServeScopeFlags(t *testing.T) {
	mcpURL, _, stop := serveHeadless(t, "--ephemeral", "--auto-approve", "--scopes", "mcp, files:read", "--require-scope", "files:read,files:write", "--require-scope", "files:read")
	defer stop()
	base := strings.TrimSuffix(mcpURL, "/mcp")
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, url, contentType, body string, header ...string) (*http.Response, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}

	_, md := do("GET", base+"/.well-known/oauth-authorization-server", "", "")
	if got := fmt.Sprint(md["scopes_supported"]); got != "[mcp files:read files:write]" {
		t.Errorf("scopes_supported %s, want [mcp files:read files:write]", got)
	}
	const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	mcpHeaders := []string{"Accept", "application/json, text/event-stream"}
	resp, _ := do("POST", mcpURL, "application/json", initialize, mcpHeaders...)
	if challenge := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(challenge, `scope="files:read files:write"`) {
		t.Errorf("no token: %d %s", resp.StatusCode, challenge)
	}

	// The OAuth flow by hand (--auto-approve): a token for the scopes asked for.
	const redirect = "http://127.0.0.1:39999/callback"
	_, reg := do("POST", base+"/register", "application/json", `{"redirect_uris":["`+redirect+`"],"client_name":"scope-test"}`)
	clientID, _ := reg["client_id"].(string)
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	token := func(scope string) string {
		t.Helper()
		q := neturl.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "state": {"s"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "scope": {scope}}
		resp, _ := do("GET", base+"/authorize?"+q.Encode(), "", "")
		loc, err := neturl.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		form := neturl.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect},
			"client_id": {clientID}, "code_verifier": {verifier}}
		_, tk := do("POST", base+"/token", "application/x-www-form-urlencoded", form.Encode())
		access, _ := tk["access_token"].(string)
		if access == "" || tk["scope"] != scope {
			t.Fatalf("token for %q: %v", scope, tk)
		}
		return access
	}
	resp, _ = do("POST", mcpURL, "application/json", initialize, append(mcpHeaders, "Authorization", "Bearer "+token("mcp"))...)
	if challenge := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 403 || !strings.Contains(challenge, `error="insufficient_scope"`) ||
		!strings.Contains(challenge, `scope="files:read files:write"`) {
		t.Errorf("a token without the required scopes: %d %s", resp.StatusCode, challenge)
	}
	resp, _ = do("POST", mcpURL, "application/json", initialize, append(mcpHeaders, "Authorization", "Bearer "+token("files:read files:write"))...)
	if resp.StatusCode != 200 {
		t.Errorf("a token with the required scopes: %d", resp.StatusCode)
	}
}

// Scope flags are checked at start: a scope that RFC 6749 does not allow, or scopes without the authorization
// server.
func TestServeScopeFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--require-scope", `a"b`}, `invalid argument "a\"b" for "--require-scope" flag: scope "a\"b": a scope is printable ASCII`},
		{[]string{"--scopes", "read write"}, `scope "read write": a scope is printable ASCII without spaces`},
		{[]string{"--no-auth", "--require-scope", "x"}, "--scopes and --require-scope need the authorization server"},
		{[]string{"--allow-loopback-cimd", "--public-url", "https://abc.trycloudflare.com"}, "--allow-loopback-cimd cannot be used with --public-url or --tunnel"},
		{[]string{"--allow-loopback-cimd", "--tunnel"}, "--allow-loopback-cimd cannot be used with --public-url or --tunnel"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCmd(t, append([]string{"serve", "--no-tui", "--addr", "127.0.0.1:0", "--no-capture", "--ephemeral"}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want 2 saying %q:\n%s", code, tc.want, stderr)
			}
		})
	}
}

// A second serve on the state file of a running one stops at start, naming the file and the ways out, instead of
// the two overwriting each other's registrations.
func TestServeStateInUse(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	_, _, stop := serveHeadless(t, "--state", state)
	defer stop()
	code, _, stderr := runCmd(t, "serve", "--no-tui", "--addr", "127.0.0.1:0", "--no-capture", "--state", state)
	for _, want := range []string{"oauth state " + state + " is in use by another mcpwatch", "--state PATH", "--ephemeral"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, want 1 saying %q:\n%s", code, want, stderr)
		}
	}
}

// A non-loopback --addr is refused with the loopback address of the port the user gave, not the default's.
func TestServeNonLoopbackAddrNamesThePort(t *testing.T) {
	code, _, stderr := runCmd(t, "--addr", "0.0.0.0:27101", "--no-tui", "--no-capture", "--ephemeral")
	if code != 1 || !strings.Contains(stderr, "give --addr localhost:27101") || !strings.Contains(stderr, "--url http://localhost:27101`") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// --toggle is --fault under the name the TUI and the docs use.
func TestToggleIsFault(t *testing.T) {
	for _, flag := range []string{"--fault", "--toggle"} {
		code, _, stderr := runCmd(t, "--addr", "127.0.0.1:0", "--no-tui", "--no-capture", "--ephemeral", flag, "no-such-toggle")
		if code != 1 || !strings.Contains(stderr, "no-such-toggle") {
			t.Errorf("%s no-such-toggle: exit %d, stderr %q", flag, code, stderr)
		}
	}
}

// Every command's usage mistake is its message and where to look (docs/cli.md), exit 2: the same path for all.
func TestUsageErrorsSayWhereToLook(t *testing.T) {
	for _, args := range [][]string{
		{"export", "x.jsonl", "--format", "xml"}, {"export"}, {"open"}, {"diff", "a.jsonl"}, {"report"}, {"toggle"},
		{"toggle", "set"}, {"proxy"}, {"serve", "extra"}, {"probe"}, {"open", "--no-such-flag"},
	} {
		code, stdout, stderr := runCmd(t, args...)
		want := "Run 'mcpwatch " + args[0] + " --help' for usage.\n"
		if code != 2 || stdout != "" || !strings.HasSuffix(stderr, want) || strings.Contains(stderr, "-h for help") ||
			strings.Count(stderr, "\n") > 3 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and a usage error that ends with %q", args, code, stdout, stderr, want)
		}
	}
}
