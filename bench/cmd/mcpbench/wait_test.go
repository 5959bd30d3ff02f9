package main

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
)

// selfWait counts the time this process's threads waited for a CPU: two threads pinned to the same CPU, each
// spinning for 60 ms, wait for each other about as long.
func TestSelfWait(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc/self/task (not Linux)")
	}
	cpus, err := allowedCPUs()
	if err != nil || len(cpus) == 0 {
		t.Fatalf("allowed CPUs: %v %v", cpus, err)
	}
	var set unix.CPUSet
	set.Set(cpus[0])
	w0 := selfWait()
	var spun, read sync.WaitGroup
	read.Add(1)
	for range 2 {
		spun.Add(1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread, pinned here, ends with the goroutine
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				t.Error(err)
			}
			for t0 := time.Now(); time.Since(t0) < 60*time.Millisecond; {
			}
			spun.Done()
			read.Wait() // alive until read: an ended thread's wait is no longer counted
		}()
	}
	spun.Wait()
	w := selfWait() - w0
	read.Done()
	if w < 20*time.Millisecond {
		t.Fatalf("two threads spinning 60 ms on one CPU waited %s for it in all, want 20 ms or more", w)
	}
	t.Logf("waited %s", w)
}

// A group's table says how long each server waited for its CPU behind other processes: the median share of its
// rounds' wall time, and the worst.
func TestWaitShare(t *testing.T) {
	x := &target{}
	if got := waitShare(x); got != "—" {
		t.Errorf("no runs: %q", got)
	}
	for _, w := range []time.Duration{100, 300, 200} {
		x.Runs = append(x.Runs, measurement{Wall: time.Second, Wait: w * time.Millisecond})
	}
	if got, want := waitShare(x), "20.0% (worst 30.0%)"; got != want {
		t.Errorf("waitShare %q, want %q", got, want)
	}
}

// The harness check of a throughput group says how long its servers waited for their CPU over all their runs.
func TestMachineWait(t *testing.T) {
	res := &loadgen.Result{Ops: 1}
	a := &target{Runs: []measurement{{Result: res, Wall: time.Second, Wait: 10 * time.Millisecond}, {Result: res, Wall: time.Second}}}
	b := &target{Runs: []measurement{{Result: res, Wall: time.Second, Wait: 400 * time.Millisecond}}}
	g := &group{Targets: []*target{a, b}}
	if got, want := machineWait(g), "; the servers waited for their CPU behind other processes 1.0% of a run's time (median; worst 40.0%)"; got != want {
		t.Errorf("machineWait %q, want %q", got, want)
	}
	b.Runs[0].Wait, a.Runs[0].Wait = 0, 0
	if got := machineWait(g); got != "" {
		t.Errorf("not measured: %q", got)
	}
}
