package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// tuiResult holds the TUI's own Go benchmarks (tui/bench_test.go: a frame and keystrokes with 100,000
// exchanges in the store), run with `go test ./tui -run '^$' -bench . -benchmem`.
type tuiResult struct {
	Command string     `json:"command"`
	Benches []tuiBench `json:"benches,omitempty"`
	Skip    string     `json:"skipped,omitempty"`
	Err     string     `json:"error,omitempty"`
}

type tuiBench struct {
	Name    string        `json:"name"`
	PerOp   time.Duration `json:"perOp"`
	Allocs  string        `json:"allocs,omitempty"`
	Metrics string        `json:"metrics,omitempty"` // any other reported metrics, as printed
}

// tuiTarget is the target for a frame or a keystroke at 100k exchanges.
const tuiTarget = 5 * time.Millisecond

var benchLineRE = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(.*)$`)

func runTUIBench(repo string) *tuiResult {
	args := []string{"test", "./tui", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1"}
	r := &tuiResult{Command: "go " + strings.Join(args, " ")}
	if _, err := os.Stat(filepath.Join(repo, "tui")); err != nil {
		r.Skip = "tui/ is not in this tree yet (branch tui is not merged); script/bench runs `" + r.Command + "` as soon as it is"
		return r
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = repo
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		r.Err = err.Error() + ": " + tailString(out.String(), 2000)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		m := benchLineRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[2], 64)
		b := tuiBench{Name: m[1], PerOp: time.Duration(ns)}
		rest := strings.Fields(m[3])
		var metrics []string
		for i := 0; i+1 < len(rest); i += 2 {
			switch rest[i+1] {
			case "allocs/op":
				b.Allocs = rest[i]
			case "B/op":
			default:
				metrics = append(metrics, rest[i]+" "+rest[i+1])
			}
		}
		b.Metrics = strings.Join(metrics, ", ")
		r.Benches = append(r.Benches, b)
	}
	return r
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
