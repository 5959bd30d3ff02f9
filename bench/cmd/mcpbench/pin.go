package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Pinning: the servers under measurement run on one set of CPUs and the load generator (this process) on
// another, so that the load generator never takes CPU time from the server it measures and every ratio measures
// the server. On a 2-core machine: servers on CPU 0, the load generator on CPU 1. Each process inherits its set
// when it starts (taskset from util-linux), so the Go runtime sizes GOMAXPROCS to it: every server, mcpwatch and
// peers alike, runs with the same cores. In the proxy groups the plain upstream shares the servers' CPUs with the
// proxy in front of it (the direct row is the plain upstream alone on them).
//
// envPinned marks the re-executed driver, already on its CPUs; envCommand hands it the command as the user typed
// it (the report's Command line), without the placement repin spells out for it.
const (
	envPinned  = "MCPBENCH_PINNED"
	envCommand = "MCPBENCH_COMMAND"
)

// cpuSplit is the default split of this machine's CPUs: the first half for the servers, the rest for the load
// generator; nothing below 2 CPUs.
func cpuSplit() (server, load string) {
	set, err := allowedCPUs()
	if err != nil || len(set) < 2 {
		return "", ""
	}
	h := len(set) / 2
	return cpuList(set[:h]), cpuList(set[h:])
}

// allowedCPUs lists the CPUs this process may run on.
func allowedCPUs() ([]int, error) {
	var s unix.CPUSet
	if err := unix.SchedGetaffinity(0, &s); err != nil {
		return nil, err
	}
	var out []int
	for i := range 1024 {
		if s.IsSet(i) {
			out = append(out, i)
		}
	}
	return out, nil
}

func cpuList(cpus []int) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

// parseCPUs checks a taskset-style list ("0", "0,2", "0-3"; "none" or empty: not pinned).
func parseCPUs(s string) (string, error) {
	if s == "" || s == "none" {
		return "", nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b >= 1024 {
			return "", fmt.Errorf("CPU list %q: want numbers or ranges such as 0 or 0-1,3 (or none)", s)
		}
	}
	return s, nil
}

// pinned returns the command line that runs bin on cpus (taskset -c CPUS bin args...), or bin itself.
func pinned(cpus, bin string, args ...string) (string, []string) {
	if cpus == "" {
		return bin, args
	}
	return "taskset", append([]string{"-c", cpus, bin}, args...)
}

// repin re-executes this driver on the load generator's CPUs unless it already runs there; it reports whether it
// did (and the exit code to leave with).
func repin(o *options, args []string) (bool, int, error) {
	if o.loadCPUs == "" && o.serverCPUs == "" {
		return false, 0, nil
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return false, 0, fmt.Errorf("pinning servers and the load generator to separate CPUs needs taskset (Debian: util-linux); or pass --server-cpus none --load-cpus none")
	}
	if o.loadCPUs == "" || os.Getenv(envPinned) == "1" {
		return false, 0, nil
	}
	// the child sees only its own CPUs, so it gets the placement spelled out rather than computing it again
	typed := command(args)
	args = append(append([]string{}, args...), "--server-cpus", orNone(o.serverCPUs), "--load-cpus", o.loadCPUs)
	bin, argv := pinned(o.loadCPUs, o.self, args...)
	cmd := exec.Command(bin, argv...)
	cmd.Env = append(os.Environ(), envPinned+"=1", envCommand+"="+typed)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// the child cleans up on an interrupt (cleanUpOnInterrupt); this process waits for it, passing on the signals it
	// gets (a Ctrl-C at the terminal reaches both: the child takes the two as one)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return true, 1, err
	}
	go func() {
		for s := range sigs {
			cmd.Process.Signal(s)
		}
	}()
	if err := cmd.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return true, 128 + int(ws.Signal()), nil // as a shell reports a child a signal ended
			}
			return true, ee.ExitCode(), nil
		}
		return true, 1, err
	}
	return true, 0, nil
}

// pinning describes the placement for the report.
func (o *options) pinning() string {
	if o.serverCPUs == "" && o.loadCPUs == "" {
		return fmt.Sprintf("not pinned: servers and the load generator share the %d CPUs", onlineCPUs())
	}
	s := func(c string) string {
		if c == "" {
			return "any CPU"
		}
		return "CPU " + c
	}
	return fmt.Sprintf("servers on %s, the load generator on %s (taskset; each server's GOMAXPROCS follows its set)", s(o.serverCPUs), s(o.loadCPUs))
}

func orNone(cpus string) string {
	if cpus == "" {
		return "none"
	}
	return cpus
}

// onlineCPUs is the machine's CPU count, whatever this process's own set (the pinned driver sees one).
func onlineCPUs() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "processor") {
			n++
		}
	}
	return max(n, runtime.NumCPU())
}
