package main

import (
	"context"
	"strings"
	"testing"
	"time"
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

// mcpwatch -h (serve is the default) shows every command, then serve's flags; mcpwatch serve -h shows serve's.
func TestHelp(t *testing.T) {
	// The top-level usage's line for each command (its words, not the command, which flag help also names).
	commands := []string{"run the embedded MCP + OAuth server (the default)", "the same inspector in front of your own MCP server",
		"review a saved capture", "turn a capture file into", "list the toggles and scenarios", "switch toggles of a running instance",
		"print the version", "print this text"}
	serveFlags := []string{"-addr address", "-public-url URL", "-no-auth", "-state path", "-ephemeral"}
	for _, tc := range []struct {
		args     []string
		commands bool // the top-level usage
		flags    bool // serve's flags
		out      string
		code     int
	}{
		{[]string{"-h"}, true, true, "stderr", 0},
		{[]string{"--help"}, true, true, "stderr", 0},
		{[]string{"--no-such-flag"}, true, true, "stderr", 2},
		{[]string{"serve", "-h"}, false, true, "stderr", 0},
		{[]string{"help"}, true, false, "stdout", 0},
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
			if strings.Contains(out, "Usage of serve") {
				t.Errorf("the flag package's bare usage line:\n%s", out)
			}
		})
	}
}
