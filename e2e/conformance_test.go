package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestConformance runs the official conformance suite (pinned in e2e/node) in server mode against
// `mcpwatch serve --fixtures conformance`, once per requirement set, and reads its per-scenario results (-o DIR:
// one directory per scenario run, each with a checks.json). Every scenario the requirement set scores must pass;
// of the scenarios run but not scored, only the tasks extension (tasks-*) may fail: go-sdk v1.8.0 has no
// io.modelcontextprotocol/tasks support.
func TestConformance(t *testing.T) {
	for _, req := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(req, func(t *testing.T) {
			t.Parallel()
			// --no-auth: the suite cannot send a bearer token.
			args := []string{"serve", "--fixtures", "conformance", "--no-auth"}
			srv := Start(t, args...)
			out := t.TempDir()
			res := Conformance(t, 3*time.Minute, "server", "--url", srv.URL+"/mcp", "--requirements", req, "-o", out)
			if res.Code != 0 {
				t.Errorf("conformance exited with code %d\n%s", res.Code, tail(res.Stdout+res.Stderr, 6000))
			}
			reqs := readRequirements(t, req)
			runs := readConformanceResults(t, out)
			checkConformance(t, req, reqs, runs)

			srv.Stop()
			// Every request the suite made is one line on mcpwatch's stdout, and none was a server error.
			lines := HeadlessLines(t, srv.Stdout())
			if len(lines) < len(runs) {
				t.Errorf("mcpwatch printed %d headless lines for %d scenarios", len(lines), len(runs))
			}
			for _, l := range lines {
				if strings.HasPrefix(l.Status, "5") || l.Status == "ERR" {
					t.Errorf("server error during the conformance run: %s", l.Raw)
				}
			}
		})
	}
}

// requirements is the server part of the suite's requirements/<rev>.yaml.
type requirements struct {
	scored    []string
	notScored map[string]string // scenario → reason (extension, pending, added-after-release)
}

// readRequirements reads the installed suite's requirement set, so that the test follows the pinned suite instead
// of a copied list. The file is a small fixed-shape YAML: top-level `server:` with `  - name` items, and
// `not_scored:` with `  - scenario: name` / `    leg: server` / `    reason: why` entries.
func readRequirements(t *testing.T, rev string) requirements {
	t.Helper()
	path := requireNodeFile(t, filepath.Join("node_modules", "@modelcontextprotocol", "conformance", "requirements", rev+".yaml"))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := requirements{notScored: map[string]string{}}
	var section, scenario, leg, reason string
	flush := func() {
		if scenario != "" && leg == "server" {
			r.notScored[scenario] = reason
		}
		scenario, leg, reason = "", "", ""
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") { // a top-level key
			flush()
			section = strings.TrimSuffix(strings.TrimSpace(line), ":")
			continue
		}
		item := strings.TrimSpace(line)
		switch section {
		case "server":
			if name, ok := strings.CutPrefix(item, "- "); ok {
				r.scored = append(r.scored, strings.TrimSpace(name))
			}
		case "not_scored":
			if v, ok := strings.CutPrefix(item, "- scenario:"); ok {
				flush()
				scenario = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(item, "leg:"); ok {
				leg = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(item, "reason:"); ok {
				reason = strings.TrimSpace(v)
			}
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(r.scored) == 0 {
		t.Fatalf("%s: no scored server scenarios found; has the file's shape changed?", path)
	}
	return r
}

// scenarioRun is one scenario's checks.json.
type scenarioRun struct {
	passed, failed, warnings, other int
	failures                        []string
}

var resultDirRE = regexp.MustCompile(`^server-(.+)-\d{4}-\d{2}-\d{2}T[0-9-]+Z$`)

// readConformanceResults reads DIR/server-<scenario>-<timestamp>/checks.json.
func readConformanceResults(t *testing.T, dir string) map[string]scenarioRun {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]scenarioRun{}
	for _, e := range entries {
		m := resultDirRE.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			t.Errorf("unexpected entry in the suite's output directory: %s", e.Name())
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "checks.json"))
		if err != nil {
			t.Errorf("scenario %s: %v", m[1], err)
			continue
		}
		var checks []struct {
			ID, Name, Status, ErrorMessage string
		}
		if err := json.Unmarshal(data, &checks); err != nil {
			t.Errorf("scenario %s: checks.json: %v", m[1], err)
			continue
		}
		var run scenarioRun
		for _, c := range checks {
			switch c.Status {
			case "SUCCESS":
				run.passed++
			case "FAILURE":
				run.failed++
				run.failures = append(run.failures, fmt.Sprintf("%s: %s", c.ID, c.ErrorMessage))
			case "WARNING":
				run.warnings++
			default: // SKIPPED, INFO
				run.other++
			}
		}
		if _, dup := runs[m[1]]; dup {
			t.Errorf("scenario %s ran twice", m[1])
		}
		runs[m[1]] = run
	}
	return runs
}

func checkConformance(t *testing.T, rev string, reqs requirements, runs map[string]scenarioRun) {
	t.Helper()
	var summary strings.Builder
	var scoredPass, scoredChecks, passed, failed int
	fmt.Fprintf(&summary, "conformance --requirements %s, per scenario (checks passed/failed):\n", rev)
	for _, name := range reqs.scored {
		run, ok := runs[name]
		switch {
		case !ok:
			t.Errorf("scored scenario %s did not run", name)
			fmt.Fprintf(&summary, "  MISSING %s\n", name)
			continue
		case run.failed > 0 || run.passed == 0:
			t.Errorf("scored scenario %s: %d passed, %d failed: %s", name, run.passed, run.failed, strings.Join(run.failures, "; "))
		default:
			scoredPass++
		}
		scoredChecks += run.passed
		fmt.Fprintf(&summary, "  %s %-48s %3d/%d%s\n", mark(run), name, run.passed, run.failed, warn(run))
	}
	var rest []string
	for name := range runs {
		if !slices.Contains(reqs.scored, name) {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	for _, name := range rest {
		run := runs[name]
		reason, known := reqs.notScored[name]
		if !known {
			t.Errorf("scenario %s ran but is neither scored nor listed as not scored for %s", name, rev)
		}
		if run.failed > 0 && !(reason == "extension" && strings.HasPrefix(name, "tasks-")) {
			t.Errorf("not-scored scenario %s (%s) failed: %s", name, reason, strings.Join(run.failures, "; "))
		}
		fmt.Fprintf(&summary, "  %s %-48s %3d/%d%s  (not scored: %s)\n", mark(run), name, run.passed, run.failed, warn(run), reason)
	}
	for _, run := range runs {
		passed += run.passed
		failed += run.failed
	}
	fmt.Fprintf(&summary, "scored: %d/%d scenarios pass (%d checks); all scenarios: %d checks passed, %d failed",
		scoredPass, len(reqs.scored), scoredChecks, passed, failed)
	t.Log(summary.String())
}

func mark(r scenarioRun) string {
	if r.failed > 0 {
		return "✗"
	}
	return "✓"
}

func warn(r scenarioRun) string {
	if r.warnings > 0 {
		return fmt.Sprintf(" (%d warnings)", r.warnings)
	}
	return ""
}
