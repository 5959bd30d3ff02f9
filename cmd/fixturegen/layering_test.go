package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRecorderImportsNoServer: nothing under recorder/ depends on the server (this generator, which drives the real
// server, lives here, outside recorder, for that reason).
func TestRecorderImportsNoServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../recorder/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "github.com/mcpwatch/mcpwatch/server" || strings.HasPrefix(p, "github.com/mcpwatch/mcpwatch/server/") {
			t.Errorf("recorder/... depends on %s", p)
		}
	}
}
