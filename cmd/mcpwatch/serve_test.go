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
