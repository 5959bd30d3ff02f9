//go:build race

package testkit

// Race is whether the race detector is on: allocation counts under -race are the detector's (its instrumentation
// moves values to the heap), and it slows big workloads tenfold, so tests that count allocations skip and tests
// that build big workloads make them smaller. A test that skips its allocation counts under -race has "Alloc" in
// its name: script/test runs those again without -race (`go test -run Alloc`).
const Race = true
