//go:build mcpwatchbench

package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// envBenchPprof, set to a loopback address (127.0.0.1:6060), serves net/http/pprof there, so that a benchmark can
// take CPU and heap profiles of a running mcpwatch (docs/benchmarks.md). Only in a `-tags mcpwatchbench` binary.
const envBenchPprof = "MCPWATCH_BENCH_PPROF"

func init() {
	addr := os.Getenv(envBenchPprof)
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", envBenchPprof, err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	go http.Serve(ln, mux) //nolint:errcheck // a benchmark aid; it ends with the process
}
