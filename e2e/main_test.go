package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

// Binary is the mcpwatch binary TestMain built for this run.
var Binary string

// TestMain builds cmd/mcpwatch once (with -race when this test binary has the race detector, so that a race in
// the server fails the cross-process tests too: the race runtime exits with code 66, which Stop reports).
// Under -short (go test -short ./...: the unit tests alone) the cross-process tests are skipped as a whole: they
// need the npm packages of e2e/node and the Debian packages script/test installs.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped under -short (the cross-process tests need what script/test installs)")
		os.Exit(0)
	}
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mcpwatch-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	Binary = filepath.Join(dir, "mcpwatch")
	args := []string{"build", "-o", Binary}
	if testkit.Race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/mcpwatch")
	gobin, err := goCommand()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	cmd := exec.Command(gobin, args...)
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go %v: %v\n%s", args, err, out)
		return 1
	}
	return m.Run()
}
