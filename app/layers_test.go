package app

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayers holds the architecture's arrows (CONTRIBUTING.md, "The architecture in one picture"): every import
// among the project's packages (test files aside) points down. cmd wires and imports app; app runs a session and
// imports the rest; server and tui sit on the recorder; internal/ holds leaves any layer may use, but for
// internal/testkit and server/servertest, which only test files import.
func TestLayers(t *testing.T) {
	const mod = "github.com/mcpwatch/mcpwatch"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	// may lists, per layer (a package's first path element under the module), the layers it may import.
	may := map[string][]string{
		"internal": {"internal"},
		"recorder": {"recorder", "internal"},
		"server":   {"server", "recorder", "internal"},
		"tui":      {"tui", "recorder", "internal"},
		"app":      {"app", "server", "tui", "recorder", "internal"},
		"cmd":      {"cmd", "app", "server", "recorder", "internal"}, // the TUI only through app
		"bench":    {"bench", "server", "recorder", "internal"},
		"e2e":      {"e2e", "internal"},
	}
	layer := func(p string) string {
		rest, _ := strings.CutPrefix(p, mod+"/")
		l, _, _ := strings.Cut(rest, "/")
		return l
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		from := layer(f[0])
		allowed, known := may[from]
		if !known {
			t.Errorf("%s: a package in a layer the architecture does not name (%q)", f[0], from)
			continue
		}
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, mod+"/") {
				continue
			}
			checked++
			if imp == mod+"/internal/testkit" || imp == mod+"/server/servertest" {
				// The test kits are for test files: a package that imports one ships it (and goldie) in the binary.
				t.Errorf("%s imports %s outside its tests", f[0], imp)
				continue
			}
			ok := false
			for _, l := range allowed {
				ok = ok || layer(imp) == l
			}
			if !ok {
				t.Errorf("%s imports %s: an arrow the architecture does not have", f[0], imp)
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d imports checked: did go list see the packages?", checked)
	}
}
