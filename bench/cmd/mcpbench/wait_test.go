package main

import (
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
