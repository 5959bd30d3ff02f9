package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A scenario whose toggles work with serve only, given to proxy: the error names the scenario the user typed and
// says it is serve-only, rather than blaming a --toggle the user never wrote.
func TestScenarioFlagErrors(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"proxy", "--no-tui", "--addr", "127.0.0.1:0", "--upstream", "http://127.0.0.1:1/mcp", "--scenario", "expired"},
			"mcpwatch: --scenario expired works with mcpwatch serve only: its toggle short-token applies to serve only, not to proxy mode\n"},
		{[]string{"proxy", "--no-tui", "--addr", "127.0.0.1:0", "--upstream", "http://127.0.0.1:1/mcp", "--scenario", "redirect-host"},
			"mcpwatch: --scenario redirect-host works with mcpwatch serve only: its toggle redirect-allow applies to serve only, not to proxy mode\n"},
		{[]string{"proxy", "--no-tui", "--addr", "127.0.0.1:0", "--upstream", "http://127.0.0.1:1/mcp", "--toggle", "short-token=2s"},
			"mcpwatch: --toggle short-token=2s: toggle short-token applies to serve only, not to proxy mode\n"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, &stdout, &stderr)
		if code == 0 || stderr.String() != c.want {
			t.Errorf("%q: exit %d, stderr %q\nwant %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// `mcpwatch faults` marks the scenarios that work with serve only.
func TestFaultsMarksServeOnlyScenarios(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"faults"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, line := range []string{
		"  expired — Connection has expired  (serve only)\n",
		"  redirect-host — redirect_uri mismatch (claude.ai vs claude.com)  (serve only)\n",
		"  no-session-id — Claude stops after initialize\n",
	} {
		if !strings.Contains(stdout.String(), line) {
			t.Errorf("mcpwatch faults: %q missing in\n%s", line, stdout.String())
		}
	}
}

// One word per idea: `mcpwatch toggles` is `mcpwatch faults`, byte for byte.
func TestTogglesIsFaults(t *testing.T) {
	var faults, toggles, stderr bytes.Buffer
	if code := run(context.Background(), []string{"faults"}, &faults, &stderr); code != 0 {
		t.Fatalf("faults: exit %d: %s", code, stderr.String())
	}
	if code := run(context.Background(), []string{"toggles"}, &toggles, &stderr); code != 0 || toggles.String() != faults.String() {
		t.Fatalf("toggles: exit %d, %d bytes against faults' %d: %s", code, toggles.Len(), faults.Len(), stderr.String())
	}
}
