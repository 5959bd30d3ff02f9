package main

import (
	"bytes"
	"context"
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
		{[]string{"diff", "a.jsonl"}, "give two capture files"},
		{[]string{"report"}, "give one capture file"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), c.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
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
