// Command mcpbench measures mcpwatch side by side with its peers, in one run on this machine, and prints a table
// of ratios with the absolute numbers beside them (script/bench builds mcpwatch and runs it):
//
//  1. `mcpwatch serve` tools/call throughput and latency, recording on, against a minimal server on the official
//     MCP Go SDK alone and a plain net/http JSON handler (the limit), in both protocol eras; and whole legacy-era
//     session setups (initialize, notifications/initialized, DELETE) against the same;
//  2. the recorder's cost: recording on (with the capture file), in memory only, and off;
//  3. `mcpwatch proxy` against a direct connection, a bare httputil.ReverseProxy and mitmdump's reverse mode, for
//     throughput, for the first event of an SSE stream, and for latency at a fixed rate well below saturation
//     (paced calls interleaved over the targets: the p99 the proxy adds to the bare ReverseProxy's);
//  4. whole OAuth handshakes per second;
//  5. the TUI's frame time and keystroke handling with 100k exchanges (`go test -bench` in tui/, once it exists);
//  6. memory per recorded exchange and each process's peak RSS.
//
// Every server runs as its own process; the load comes from bench/loadgen, which checks every response. Rounds
// alternate the targets (rotating their order), and within a round the targets take turns (--turns: each
// target's window split in that many, runTurns), so that a noisy machine hurts each alike; a target's throughput
// in a round is its turns' operations over their windows together, and ratios are the median of the per-round
// ratios, with their range. Each long-lived process serves one unmeasured window before the first round. A round
// from whose servers the hypervisor took more than --max-steal percent of the CPU (steal, on a virtual machine with
// a busy host) is run again (runAgainWhileStolen).
//
// The servers run pinned to one set of CPUs and the load generator to another (pin.go; on 2 CPUs: servers on CPU 0,
// the load generator on CPU 1), and the plain net/http handler's row shows how far the load generator can go: it
// must be far faster than every other target, or the ratios measure the harness.
//
//	mcpbench --mcpwatch PATH [--rounds 5] [--turns 4] [--duration 2s] [--clients 16] [--only serve,setup,latency,...]
//	         [--server-cpus 0 --load-cpus 1] [--latency-rate 1000 --latency-duration 5s] [--max-steal 5]
//	mcpbench peer KIND [--addr ADDR] [--upstream URL]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

var errUsage = errors.New("usage")

func main() { exit(run(os.Args[1:])) }

// exit ends the process as run's error says, unless an interrupt is being handled: then the handler cleans up and
// exits (cleanUpOnInterrupt), and the run's error (its servers going away) is not the story.
func exit(err error) {
	if interrupting() {
		select {}
	}
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "mcpbench:", err)
		os.Exit(1)
	}
}

// groups in the order they run and print.
var allGroups = []string{"memory", "serve", "era2026", "setup", "proxy", "sse", "latency", "oauth", "tui"}

func run(args []string) error {
	if len(args) > 0 && args[0] == "peer" {
		return cmdPeer(args[1:])
	}
	fs := flag.NewFlagSet("mcpbench", flag.ContinueOnError)
	var o options
	only := fs.String("only", "", "run only these `groups` (comma-separated: "+strings.Join(allGroups, ",")+")")
	fs.StringVar(&o.mcpwatch, "mcpwatch", "", "the mcpwatch `binary` to measure (script/bench builds it)")
	fs.StringVar(&o.repo, "repo", ".", "the repository `dir` (for the go test benchmarks of tui/)")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; each runs every target once, in a rotated order")
	fs.IntVar(&o.turns, "turns", 4, "turns of a round in the throughput groups: each target's window of the round is split into this many, the targets taking turns (1: a whole window each)")
	fs.DurationVar(&o.duration, "duration", 2*time.Second, "measured window per target and round")
	fs.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "warm-up before each window")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients")
	fs.IntVar(&o.events, "events", 20, "SSE streams opened per target and round for the first-event time")
	fs.StringVar(&o.jsonOut, "json", "", "also write every measurement to this `file` (JSON)")
	fs.Float64Var(&o.latencyRate, "latency-rate", 1000, "latency group: tools/calls per `second` in all, paced and interleaved over its four targets (each gets a quarter: far below every proxy's throughput, so that latency is not queueing)")
	fs.DurationVar(&o.latencyDuration, "latency-duration", 5*time.Second, "latency group: measured window per round (all its targets at once)")
	fs.Float64Var(&o.maxSteal, "max-steal", 5, "run a round again (3 times at most) when the hypervisor took more than this `percent` of the servers' CPU time during it (steal, /proc/stat: a virtual machine's busy host; the latency group's rounds also for the load generator's); 0: never")
	fs.Int64Var(&o.memoryExchanges, "memory-exchanges", 1_000_000, "memory group: `exchanges` mcpwatch proxy records before its peak RSS is read (tools/calls, each recorded twice: the client's and the upstream's; 0: skip)")
	defServer, defLoad := cpuSplit()
	fs.StringVar(&o.serverCPUs, "server-cpus", defServer, "pin every server under measurement to these `cpus` (taskset list; none: not pinned)")
	fs.StringVar(&o.loadCPUs, "load-cpus", defLoad, "pin the load generator (this driver) to these `cpus` (taskset list; none: not pinned)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if o.mcpwatch == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: mcpbench --mcpwatch PATH [flags]  (script/bench builds mcpwatch and runs this)")
		fs.PrintDefaults()
		return errUsage
	}
	o.only = map[string]bool{}
	for _, g := range strings.Split(*only, ",") {
		if g = strings.TrimSpace(g); g != "" {
			if !contains(allGroups, g) {
				return fmt.Errorf("--only %s: unknown group (groups: %s)", g, strings.Join(allGroups, ", "))
			}
			o.only[g] = true
		}
	}
	if o.maxSteal < 0 {
		return fmt.Errorf("--max-steal must not be negative")
	}
	if o.rounds < 1 || o.turns < 1 || o.clients < 1 || o.duration <= 0 || o.latencyRate <= 0 || o.latencyDuration <= 0 {
		return fmt.Errorf("--rounds, --turns, --clients, --duration, --latency-rate and --latency-duration must be positive")
	}
	var err error
	if o.serverCPUs, err = parseCPUs(o.serverCPUs); err != nil {
		return fmt.Errorf("--server-cpus: %w", err)
	}
	if o.loadCPUs, err = parseCPUs(o.loadCPUs); err != nil {
		return fmt.Errorf("--load-cpus: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.self = self
	if done, code, err := repin(&o, args); err != nil || done {
		if err == nil && code != 0 {
			os.Exit(code)
		}
		return err
	}
	serverCPUs, loadCPUs = o.serverCPUs, o.loadCPUs
	cleanUpOnInterrupt()
	return bench(&o)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
