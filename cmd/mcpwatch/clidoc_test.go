package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/spf13/cobra"
)

// docs/cli.md is the command tree as the code has it: a flag added without regenerating the file fails here
// (go test ./cmd/mcpwatch -run TestCLIDoc -update rewrites it).
func TestCLIDoc(t *testing.T) {
	var b bytes.Buffer
	writeCLIDoc(&b)
	testkit.Golden(t, "../../docs", ".md", "cli", b.Bytes())
}

// A command whose help says an exit status of its own (diff, probe) is named in docs/cli.md's exit codes, which
// otherwise say the codes are the same for every command.
func TestCLIDocOwnExitCodes(t *testing.T) {
	var b bytes.Buffer
	writeCLIDoc(&b)
	section, _, _ := strings.Cut(b.String(), "\n## mcpwatch")
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if strings.Contains(c.Long, "Exit status") {
			n++
			if !strings.Contains(section, "[`"+c.CommandPath()+"`]") {
				t.Errorf("the exit codes do not name %s, whose help says its own:\n%s", c.CommandPath(), section)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
	if n < 2 {
		t.Errorf("%d commands say an exit status of their own, want diff and probe at least", n)
	}
}
