//go:build !mcpwatchbench

package main

import "github.com/mcpwatch/mcpwatch/recorder"

// The shipped binary has no benchmark hooks: it records always and keeps the store's default bound. The hooks
// (MCPWATCH_BENCH_*) are in bench_hooks.go, built only with `-tags mcpwatchbench`.

// benchHooks reports that this binary carries the benchmark hooks.
const benchHooks = false

func benchNoRecord() bool { return false }

func benchRecorder(rec *recorder.Recorder) *recorder.Recorder { return rec }
