package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
)

func TestStatOf(t *testing.T) {
	if s := statOf([]float64{3, 1, 2}); s.med != 2 || s.lo != 1 || s.hi != 3 || s.n != 3 {
		t.Errorf("%+v", s)
	}
	if s := statOf([]float64{4, 1, 2, 3}); s.med != 2.5 {
		t.Errorf("even: %+v", s)
	}
	if s := statOf(nil); s.n != 0 || s.ratio() != "—" {
		t.Errorf("empty: %+v", s)
	}
}

func TestCommandAndRotate(t *testing.T) {
	if c := command([]string{"--mcpwatch", "/tmp/x/mcpwatch", "--repo", ".", "--rounds", "3"}); c != "script/bench --rounds 3" {
		t.Errorf("command %q", c)
	}
	ts := []*target{{Key: "a"}, {Key: "b"}, {Key: "c"}}
	var keys []string
	for _, x := range rotate(ts, 4) {
		keys = append(keys, x.Key)
	}
	if strings.Join(keys, "") != "bca" {
		t.Errorf("rotate: %v", keys)
	}
	if !isFrameBench("View/160x48") || !isFrameBench("FilterKeystroke/x") || isFrameBench("Memory") || isFrameBench("ReportTick") {
		t.Error("isFrameBench")
	}
}

// The report's ratios are medians of per-round ratios and the verdicts follow the targets.
func TestReport(t *testing.T) {
	run := func(tput float64) measurement {
		return measurement{Result: &loadgen.Result{Throughput: tput, Ops: 10, Completed: 10}, CPU: time.Millisecond}
	}
	serve := &target{Key: "serve", Label: "serve", Runs: []measurement{run(90), run(100), run(80)}}
	sdk := &target{Key: "sdk", Label: "sdk", Runs: []measurement{run(100), run(100), run(100)}}
	off := &target{Key: "serve-off", Label: "off", Runs: []measurement{run(100), run(120), run(100)}}
	rep := &report{Date: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC), Command: "script/bench", Machine: "m",
		Groups: []*group{{Key: "serve", Title: "g", Targets: []*target{serve, sdk, off}}},
		procs:  map[string]*target{"serve": serve, "sdk": sdk, "serve-off": off},
		TUI:    &tuiResult{Benches: []tuiBench{{Name: "View/80x24", PerOp: time.Millisecond}, {Name: "ReportTick", PerOp: time.Second}}}}
	var b strings.Builder
	printReport(&b, rep, &options{rounds: 3, duration: time.Second, clients: 16})
	out := b.String()
	for _, want := range []string{
		"| 1 | `serve` (recording on) ÷ go-sdk alone, tools/call throughput, legacy era | **0.90×** (0.80–1.00) | ≥ 0.9× | yes |",
		"| 2 | recording on (store + capture file + output) ÷ recording off, throughput | **0.83×** (0.80–0.90) | ≥ 0.9× | **no** |",
		"TUI `View/80x24`, 100k exchanges | **1.0 ms**/op | ≤ 5 ms | yes",
		"TUI `ReportTick`, 100k exchanges | **1.00 s**/op | — (not a frame) | — |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no line %q in:\n%s", want, out)
		}
	}
}
