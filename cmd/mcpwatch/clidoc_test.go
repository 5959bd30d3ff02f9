package main

import (
	"bytes"
	"testing"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

// docs/cli.md is the command tree as the code has it: a flag added without regenerating the file fails here
// (go test ./cmd/mcpwatch -run TestCLIDoc -update rewrites it).
func TestCLIDoc(t *testing.T) {
	var b bytes.Buffer
	writeCLIDoc(&b)
	testkit.Golden(t, "../../docs", ".md", "cli", b.Bytes())
}
