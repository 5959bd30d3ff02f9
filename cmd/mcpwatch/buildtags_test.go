package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// notEnv is the one MCPWATCH_ string the shipped binary holds that names no environment variable: the heredoc
// delimiter of the curl export (recorder/export/curl.go).
const notEnv = "MCPWATCH_BODY_"

// buildMcpwatch builds ./cmd/mcpwatch with the given tags and returns the binary's bytes.
func buildMcpwatch(t *testing.T, tags string) []byte {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mcpwatch")
	args := []string{"build", "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDefaultBuildReadsNoEnvHooks: the shipped binary (`go build ./cmd/mcpwatch`) holds no MCPWATCH_* variable name,
// so it reads none; the benchmark hooks are only in a binary built with -tags mcpwatchbench, which this test builds
// too, to show that the check sees them when they are there.
func TestDefaultBuildReadsNoEnvHooks(t *testing.T) {
	if benchHooks {
		t.Fatal("the tests run with -tags mcpwatchbench; the default build is what this test checks")
	}
	b := bytes.ReplaceAll(buildMcpwatch(t, ""), []byte(notEnv), nil)
	if i := bytes.Index(b, []byte("MCPWATCH_")); i >= 0 {
		t.Errorf("the default build holds an environment hook %q...; put it behind the mcpwatchbench build tag", b[i:min(i+40, len(b))])
	}
	tagged := buildMcpwatch(t, "mcpwatchbench")
	for _, name := range []string{"MCPWATCH_BENCH_NO_RECORD", "MCPWATCH_BENCH_STORE_MAX", "MCPWATCH_BENCH_PPROF"} {
		if !bytes.Contains(tagged, []byte(name)) {
			t.Errorf("the -tags mcpwatchbench build does not hold %s: the check cannot see the hooks", name)
		}
	}
}
