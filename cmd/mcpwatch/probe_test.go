package main

import (
	"bytes"
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// The new commands' usage mistakes exit 2 with a message, never a panic.
func TestProbeDiffReportUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "give the server's MCP URL"},
		{[]string{"probe", "http://127.0.0.1:1/mcp"}, "name a client with --as"},
		{[]string{"probe", "http://127.0.0.1:1/mcp", "--as", "nobody"}, `unknown client "nobody"`},
		{[]string{"probe", "http://127.0.0.1:1/mcp", "--as", "claude", "--all"}, "exclude each other"},
		{[]string{"probe", "http://127.0.0.1:1/mcp", "--as", "spec", "--tunnel", "--public-url", "https://x.example"}, "--tunnel and --public-url exclude each other"},
		{[]string{"diff", "a.jsonl"}, "give two capture files"},
		{[]string{"report"}, "give one capture file"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), c.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}

// A URL that is not http(s) is a usage mistake: exit 2, one line and the help hint, no capture written.
func TestProbeNotHTTP(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"probe", "ftp://x/mcp", "--as", "spec"}, &out, &errb)
	want := "mcpwatch: probe: not an http(s) URL: \"ftp://x/mcp\"\nRun 'mcpwatch probe --help' for usage.\n"
	if code != 2 || errb.String() != want || out.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out.String(), errb.String(), want)
	}
	var files []string
	_ = filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) > 0 {
		t.Errorf("files written: %v", files)
	}
}

// A server that cannot be reached is a failed discovery stage (exit 1), with the capture still written.
func TestProbeUnreachable(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"probe", "http://127.0.0.1:1/mcp", "--as", "spec", "--timeout", "2s"}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "discovery    fail") || !strings.Contains(out.String(), "capture: ") {
		t.Errorf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
}
