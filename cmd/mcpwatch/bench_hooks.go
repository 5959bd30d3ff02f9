//go:build mcpwatchbench

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// This file is compiled only with `-tags mcpwatchbench` (script/bench and the e2e soak test build such a binary):
// the shipped binary reads no MCPWATCH_* variable (bench_off.go; TestDefaultBuildReadsNoEnvHooks).

// benchHooks reports that this binary carries the benchmark hooks.
const benchHooks = true

// envBenchNoRecord, set to 1, serves without the recorder: nothing is recorded, no capture file is written and no
// exchange is printed. It exists for the benchmarks (script/bench measures what recording costs against it) and is
// of no use otherwise.
const envBenchNoRecord = "MCPWATCH_BENCH_NO_RECORD"

func benchNoRecord() bool { return os.Getenv(envBenchNoRecord) == "1" }

// benchRecorder is rec, or nil when the benchmarks turned recording off.
func benchRecorder(rec *recorder.Recorder) *recorder.Recorder {
	if benchNoRecord() {
		return nil
	}
	if rec != nil {
		benchStore.Store(rec.Store())
	}
	return rec
}

// benchStore is the store of the recorder benchRecorder last saw: /debug/store on the pprof listener
// (envBenchPprof) serves its Stats as JSON, so that the memory benchmark reads how many exchanges the store holds
// at its bound (bench/cmd/mcpbench, memory.go).
var benchStore atomic.Pointer[recorder.Store]

func serveStoreStats(w http.ResponseWriter, _ *http.Request) {
	s := benchStore.Load()
	if s == nil {
		http.Error(w, "no store", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.Stats())
}

// envBenchStoreMax, set to N, keeps at most N exchanges in memory instead of the store's default
// (recorder.DefaultStoreMaxCount), so that the soak test (e2e) can see memory level off once the store is full. For
// tests and benchmarks only.
const envBenchStoreMax = "MCPWATCH_BENCH_STORE_MAX"

// envBenchPprof, set to a loopback address (127.0.0.1:6060), serves net/http/pprof there on its own listener, so
// that a benchmark can take CPU profiles and execution traces (/debug/pprof/trace) of the process under load
// (docs/benchmarks-store.md). For benchmarks only.
const envBenchPprof = "MCPWATCH_BENCH_PPROF"

func init() {
	if addr := os.Getenv(envBenchPprof); addr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace) // runtime/trace: what runs between a request and its answer
		mux.HandleFunc("/debug/store", serveStoreStats)   // the store's Stats (benchStore)
		go func() {
			if err := http.ListenAndServe(addr, mux); err != nil {
				fmt.Fprintln(os.Stderr, envBenchPprof+":", err)
			}
		}()
	}
	if n, err := strconv.Atoi(os.Getenv(envBenchStoreMax)); err == nil && n > 0 {
		storeLimits.MaxCount = n
	}
}
