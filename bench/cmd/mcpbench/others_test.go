package main

import (
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
)

// cpuBusy reads a CPU's busy time from /proc/stat: a thread pinned to it and spinning for 100 ms of wall time adds
// at least 60 ms (the clock ticks are 10 ms; on a busy machine other processes fill the rest of the window), and
// others, with this process as the load generator on that CPU, counts what this process used as its own.
func TestCPUBusyAndOthers(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc/stat (not Linux)")
	}
	cpus, err := allowedCPUs()
	if err != nil || len(cpus) == 0 {
		t.Fatalf("allowed CPUs: %v %v", cpus, err)
	}
	c := cpus[len(cpus)-1]
	if got := cpuSet("0-2,5"); len(got) != 4 || got[0] != 0 || got[2] != 2 || got[3] != 5 {
		t.Errorf("cpuSet(0-2,5) = %v", got)
	}
	defer func(l string) { loadCPUs = l }(loadCPUs)
	loadCPUs = cpuList([]int{c})
	done := make(chan time.Duration)
	var lastOthers time.Duration
	go func() {
		runtime.LockOSThread() // never unlocked: the thread, pinned here, ends with the goroutine
		var set unix.CPUSet
		set.Set(c)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			t.Error(err)
		}
		ot := startOthers(nil)
		b0 := cpuBusy([]int{c})
		for t0 := time.Now(); time.Since(t0) < 100*time.Millisecond; {
		}
		busy := cpuBusy([]int{c}) - b0
		onLoad, _ := ot.stop()
		t.Logf("CPU %d busy %s over 100 ms of spinning; others used %s of it", c, busy, onLoad)
		lastOthers = onLoad
		done <- busy
	}()
	if busy := <-done; busy < 60*time.Millisecond || lastOthers > busy {
		t.Fatalf("CPU %d busy %s over 100 ms of a thread spinning on it, want 60 ms or more (others %s, at most that)", c, busy, lastOthers)
	}
}

// A group's table says how much of the servers' CPU other processes used during each target's runs: the median
// share of its rounds' wall time, and the worst.
func TestOthersShare(t *testing.T) {
	x := &target{}
	if got := othersShare(x); got != "—" {
		t.Errorf("no runs: %q", got)
	}
	for _, o := range []time.Duration{100, 300, 200} {
		x.Runs = append(x.Runs, measurement{Wall: time.Second, Others: o * time.Millisecond})
	}
	if got, want := othersShare(x), "20% (worst 30%)"; got != want {
		t.Errorf("othersShare %q, want %q", got, want)
	}
}

// The harness check of a throughput group says how much of the servers' CPU other processes used over all its runs.
func TestMachineOthers(t *testing.T) {
	res := &loadgen.Result{Ops: 1}
	a := &target{Runs: []measurement{{Result: res, Wall: time.Second, Others: 10 * time.Millisecond}, {Result: res, Wall: time.Second}}}
	b := &target{Runs: []measurement{{Result: res, Wall: time.Second, Others: 400 * time.Millisecond}}}
	g := &group{Targets: []*target{a, b}}
	if got, want := machineOthers(g), "; other processes used 1% of the servers' CPU during a run (median; worst 40%)"; got != want {
		t.Errorf("machineOthers %q, want %q", got, want)
	}
	b.Runs[0].Others, a.Runs[0].Others = 0, 0
	if got := machineOthers(g); got != "" {
		t.Errorf("not measured: %q", got)
	}
}
