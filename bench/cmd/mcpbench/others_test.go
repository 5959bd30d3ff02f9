package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
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
		onLoad := ot.stop().onLoad
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
	// a share of the servers' time: wall time × their number
	defer func(s string) { serverCPUs = s }(serverCPUs)
	serverCPUs = "0,1"
	if got, want := othersShare(x), "10% (worst 15%)"; got != want {
		t.Errorf("servers on two CPUs: othersShare %q, want %q", got, want)
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
	// steal, as a share of the servers' time: wall time × their number (as --max-steal counts it)
	defer func(s string) { serverCPUs = s }(serverCPUs)
	a.Runs[0].Steal, a.Runs[1].Steal, b.Runs[0].Steal = 40*time.Millisecond, 0, 100*time.Millisecond
	for servers, want := range map[string]string{"0": "; the hypervisor took 4% of their time (steal: median; worst 10%)", "0,1": "; the hypervisor took 2% of their time (steal: median; worst 5%)"} {
		serverCPUs = servers
		if got := machineOthers(g); got != want {
			t.Errorf("servers on %s: machineOthers %q, want %q", servers, got, want)
		}
	}
}

// cpuBusy and cpuSteal read their columns of the chosen CPUs' lines: busy is user, nice, system, irq and softirq
// (not idle, iowait or steal), steal the eighth column alone.
func TestCPUBusyAndStealColumns(t *testing.T) {
	path := t.TempDir() + "/stat"
	const stat = "cpu  1000 1000 1000 1000 1000 1000 1000 1000 0 0\n" +
		"cpu0 1 2 3 400 500 6 7 800 0 0\n" +
		"cpu1 10 20 30 4000 5000 60 70 8000 0 0\n" +
		"intr 123\n"
	if err := os.WriteFile(path, []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(p string) { procStat = p }(procStat)
	procStat = path
	tick := 10 * time.Millisecond
	for _, c := range []struct {
		cpus        []int
		busy, steal time.Duration
	}{
		{[]int{0}, 19 * tick, 800 * tick},
		{[]int{1}, 190 * tick, 8000 * tick},
		{[]int{0, 1}, 209 * tick, 8800 * tick},
		{[]int{2}, 0, 0},
		{nil, 0, 0},
	} {
		if got := cpuBusy(c.cpus); got != c.busy {
			t.Errorf("cpuBusy(%v) = %s, want %s", c.cpus, got, c.busy)
		}
		if got := cpuSteal(c.cpus); got != c.steal {
			t.Errorf("cpuSteal(%v) = %s, want %s", c.cpus, got, c.steal)
		}
	}
}

// A throughput round from whose servers the hypervisor took more than --max-steal is run again, 3 times at most,
// and only its last attempt is kept; the decision looks at steal alone, never at what the targets measured.
func TestRunTurnsRunsAStolenRoundAgain(t *testing.T) {
	defer func(f func(context.Context, *options, *target, int, loadgen.Config) measurement) { runTurn = f }(runTurn)
	mk := func() *group {
		return &group{Key: "proxy", Targets: []*target{{Key: "a"}, {Key: "b"}}}
	}
	for _, c := range []struct {
		name       string
		servers    string // serverCPUs
		maxSteal   float64
		steal      []time.Duration // of each attempt's every turn, per 100 ms of wall
		attempts   int
		runAgain   int
		stolenKept int
	}{
		{"quiet", "0", 5, []time.Duration{0}, 1, 0, 0},
		{"at the bound", "0", 5, []time.Duration{5 * time.Millisecond}, 1, 0, 0},
		{"one stolen attempt", "0", 5, []time.Duration{30 * time.Millisecond, time.Millisecond}, 2, 1, 0},
		{"always stolen", "0", 5, []time.Duration{30 * time.Millisecond}, 4, 3, 1},
		{"never run again", "0", 0, []time.Duration{30 * time.Millisecond}, 1, 0, 0},
		// steal is summed over the servers' CPUs: 8 ms of 2 × 100 ms is 4% of their CPU time, 12 ms 6%
		{"two server CPUs, under the bound", "0,1", 5, []time.Duration{8 * time.Millisecond}, 1, 0, 0},
		{"two server CPUs, over it", "2-3", 5, []time.Duration{12 * time.Millisecond, 0}, 2, 1, 0},
		{"not pinned", "", 5, []time.Duration{0}, 1, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func(s string) { serverCPUs = s }(serverCPUs)
			serverCPUs = c.servers
			g := mk()
			o := &options{turns: 2, rounds: 1, maxSteal: c.maxSteal, duration: time.Second}
			calls := 0
			runTurn = func(_ context.Context, _ *options, tg *target, _ int, _ loadgen.Config) measurement {
				attempt := calls / 4 // two targets, two turns
				calls++
				steal := c.steal[min(attempt, len(c.steal)-1)]
				return measurement{Wall: 100 * time.Millisecond, Steal: steal, CPU: time.Duration(attempt+1) * time.Millisecond,
					Result: &loadgen.Result{Ops: uint64(10 * (attempt + 1)), Completed: uint64(10 * (attempt + 1))}}
			}
			runTurns(context.Background(), o, g, 0)
			if calls != 4*c.attempts {
				t.Errorf("%d turns run, want %d (%d attempts)", calls, 4*c.attempts, c.attempts)
			}
			if g.RunAgain != c.runAgain || g.StolenKept != c.stolenKept {
				t.Errorf("run again %d, kept stolen %d; want %d, %d", g.RunAgain, g.StolenKept, c.runAgain, c.stolenKept)
			}
			for _, x := range g.Targets {
				if len(x.Runs) != 1 {
					t.Fatalf("%s: %d runs, want 1", x.Key, len(x.Runs))
				}
				// the last attempt's two turns, combined
				if got, want := x.Runs[0].CPU, 2*time.Duration(c.attempts)*time.Millisecond; got != want {
					t.Errorf("%s: CPU %s, want %s (the last attempt's turns only)", x.Key, got, want)
				}
			}
			if s := machineOthers(g); c.runAgain > 0 && !strings.Contains(s, fmt.Sprintf("%d round(s) run again", c.runAgain)) {
				t.Errorf("harness check %q does not say that %d rounds were run again", s, c.runAgain)
			}
		})
	}
}

// The paced group's rounds and the first-event group's are run again for steal as the throughput groups' are: the
// paced group's for steal on the servers' CPUs or on the load generator's (it sends the calls late), the first-event
// group's for the servers' only. Only the last attempt is kept. The steal is a /proc/stat of the test's own, raised
// by each attempt of the fake window.
func TestPacedAndStreamRoundsRunAgainForSteal(t *testing.T) {
	stat := t.TempDir() + "/stat"
	var steal0, steal1 int
	write := func() {
		t.Helper()
		b := fmt.Sprintf("cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 10 0 10 100 0 0 0 %d 0 0\ncpu1 10 0 10 100 0 0 0 %d 0 0\n", steal0, steal1)
		if err := os.WriteFile(stat, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write()
	defer func(p, s, l string) { procStat, serverCPUs, loadCPUs = p, s, l }(procStat, serverCPUs, loadCPUs)
	procStat, serverCPUs, loadCPUs = stat, "0", "1"
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	p := &proc{name: "idle", cmd: cmd}
	defer func(rp func(context.Context, loadgen.Config, []string) ([]*loadgen.Result, error),
		fe func(context.Context, []string, http.Header, int, bool, int) ([]loadgen.Latency, error)) {
		runPaced, firstEvents = rp, fe
	}(runPaced, firstEvents)

	type ticks struct{ servers, load int } // stolen during each attempt
	for _, c := range []struct {
		name     string
		stream   bool
		stolen   []ticks
		attempts int
	}{
		{"paced, quiet", false, []ticks{{0, 0}}, 1},
		{"paced, servers' steal once", false, []ticks{{5, 0}, {0, 0}}, 2},
		{"paced, the load generator's steal once", false, []ticks{{0, 5}, {0, 0}}, 2},
		{"paced, always", false, []ticks{{5, 5}}, 4},
		{"stream, quiet", true, []ticks{{0, 0}}, 1},
		{"stream, servers' steal twice", true, []ticks{{5, 0}, {5, 0}, {0, 0}}, 3},
		{"stream, the load generator's steal: kept", true, []ticks{{0, 5}}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := &group{Key: "g", Paced: 1000, Targets: []*target{{Key: "a", proc: p}, {Key: "b", proc: p}}}
			attempts := 0
			steal := func() int {
				s := c.stolen[min(attempts, len(c.stolen)-1)]
				steal0, steal1 = steal0+s.servers, steal1+s.load
				write()
				attempts++
				return attempts
			}
			runPaced = func(_ context.Context, _ loadgen.Config, urls []string) ([]*loadgen.Result, error) {
				n := steal()
				var rs []*loadgen.Result
				for range urls {
					rs = append(rs, &loadgen.Result{Ops: uint64(n), Paced: &loadgen.Paced{Scheduled: 10}})
				}
				return rs, nil
			}
			firstEvents = func(_ context.Context, urls []string, _ http.Header, _ int, warm bool, _ int) ([]loadgen.Latency, error) {
				n := 0
				if warm {
					n = steal()
				}
				ls := make([]loadgen.Latency, len(urls))
				for i := range ls {
					ls[i].N = n
				}
				return ls, nil
			}
			o := &options{rounds: 1, maxSteal: 5}
			if c.stream {
				g.Paced, g.Streams = 0, true
				runStreams(context.Background(), o, g, 0)
			} else {
				runInterleaved(context.Background(), o, g, 0)
			}
			if attempts != c.attempts {
				t.Errorf("%d attempts, want %d", attempts, c.attempts)
			}
			if g.RunAgain != min(c.attempts-1, maxRunAgain) {
				t.Errorf("RunAgain %d, want %d", g.RunAgain, c.attempts-1)
			}
			for _, x := range g.Targets {
				if len(x.Runs) != 1 {
					t.Fatalf("%s: %d runs, want 1", x.Key, len(x.Runs))
				}
				m := x.Runs[0]
				if c.stream && (m.First == nil || m.First.N != attempts) || !c.stream && (m.Result == nil || m.Result.Ops != uint64(attempts)) {
					t.Errorf("%s: not the last attempt's measurement (%+v)", x.Key, m)
				}
				// the steal its table shows: the kept attempt's, from each side's CPUs (10 ms a clock tick)
				last := c.stolen[min(attempts-1, len(c.stolen)-1)]
				if m.Steal != time.Duration(last.servers)*10*time.Millisecond || m.LoadSteal != time.Duration(last.load)*10*time.Millisecond {
					t.Errorf("%s: steal %s on the servers' CPUs and %s on the load generator's, want the kept attempt's %d and %d ticks", x.Key, m.Steal, m.LoadSteal, last.servers, last.load)
				}
			}
		})
	}
}

// Every run of an OAuth target starts its serve on files of its own, a round run again for steal (runTurns calls
// fresh again with the same round) included: the discarded attempt's state file holds its 900 clients, each with
// a grant used within the hour, and a serve that loaded it would refuse most registrations of the next attempt
// (503, server/oauth/limits.go) and measure a bigger state than its round's other targets.
func TestFreshServerFilesPerRun(t *testing.T) {
	seen := map[string]string{}
	for _, state := range []bool{true, false} {
		var got [][]string
		f := freshServer(t.TempDir(), "oauth-x", state, func(args ...string) (*proc, error) {
			got = append(got, args)
			return &proc{url: "http://127.0.0.1:1"}, nil
		})
		for _, round := range []int{0, 0, 1, 0} {
			if _, url, err := f(round); err != nil || url != "http://127.0.0.1:1/mcp" {
				t.Fatalf("fresh(%d) = %q, %v", round, url, err)
			}
		}
		for i, args := range got {
			files := 0
			for j, a := range args {
				if (a == "--capture" || a == "--state") && j+1 < len(args) {
					files++
					if prev, ok := seen[args[j+1]]; ok {
						t.Errorf("run %d (state %v): %s %s, the file of an earlier run (%s)", i, state, a, args[j+1], prev)
					}
					seen[args[j+1]] = fmt.Sprintf("run %d, state %v", i, state)
				}
			}
			if want := map[bool]int{true: 2, false: 1}[state]; files != want {
				t.Errorf("run %d (state %v): %d files in %q, want %d", i, state, files, args, want)
			}
			if !state && !slices.Contains(args, "--ephemeral") {
				t.Errorf("run %d: %q without --ephemeral", i, args)
			}
		}
	}
}

// others.stop reads the steal of each side on its own CPUs, setMachine puts each where it belongs, and combine
// adds a round's turns' steal up.
func TestStealFromStatToMeasurement(t *testing.T) {
	path := t.TempDir() + "/stat"
	write := func(s0, s1 int) {
		stat := fmt.Sprintf("cpu0 1 0 0 0 0 0 0 %d 0 0\ncpu1 1 0 0 0 0 0 0 %d 0 0\n", s0, s1)
		if err := os.WriteFile(path, []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	defer func(p, s, l string) { procStat, serverCPUs, loadCPUs = p, s, l }(procStat, serverCPUs, loadCPUs)
	procStat, serverCPUs, loadCPUs = path, "0", "1"
	write(100, 1000)
	ot := startOthers(nil)
	write(103, 1020) // servers' CPU: 3 ticks stolen, the load generator's: 20
	var m measurement
	m.setMachine(ot.stop())
	if m.Steal != 30*time.Millisecond || m.LoadSteal != 200*time.Millisecond {
		t.Errorf("steal on the servers %s, on the load generator %s; want 30ms, 200ms", m.Steal, m.LoadSteal)
	}
	c := combine([]measurement{m, m, {Steal: time.Millisecond}})
	if c.Steal != 61*time.Millisecond || c.LoadSteal != 400*time.Millisecond {
		t.Errorf("combined: steal on the servers %s, on the load generator %s; want 61ms, 400ms", c.Steal, c.LoadSteal)
	}
}
