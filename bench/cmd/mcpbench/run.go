package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
	"github.com/mcpwatch/mcpwatch/bench/peers"
)

type options struct {
	mcpwatch, repo, self, jsonOut, dir string
	serverCPUs, loadCPUs               string // taskset lists; empty: not pinned
	rounds, clients, events            int
	turns                              int     // turns of a round in a throughput group (runTurns)
	memoryExchanges                    int64   // exchanges the proxy records (two per tools/call) before its peak RSS is read (memory group)
	latencyRate                        float64 // calls per second of the latency group, all its targets together
	latencyDuration                    time.Duration
	duration, warmup                   time.Duration
	only                               map[string]bool
	// maxSteal is the share of the servers' CPU time (percent; a paced round's load generator's too) the hypervisor
	// may take over a round before the round is run again (runAgainWhileStolen); 0: never
	maxSteal float64
}

func (o *options) want(g string) bool { return len(o.only) == 0 || o.only[g] }

// measurement is one target's run in one round.
type measurement struct {
	Result *loadgen.Result `json:"result,omitempty"`
	CPU    time.Duration   `json:"cpu"`     // CPU time of the measured process over the run, until it went idle again
	Load   time.Duration   `json:"loadCPU"` // CPU time of the load generator (this process) over the run
	// LoadOthers and Others are the CPU time processes other than this run's used over it on the load generator's
	// CPUs and on the servers' (others: a busy machine), when each side is pinned to its own.
	LoadOthers time.Duration `json:"loadOthersCPU"`
	Others     time.Duration `json:"serverOthersCPU"`
	// LoadSteal and Steal are the time the hypervisor took from the load generator's CPUs and from the servers'
	// over the run (cpuSteal: the host's other guests), when each side is pinned to its own.
	LoadSteal time.Duration    `json:"loadSteal,omitempty"`
	Steal     time.Duration    `json:"serverSteal,omitempty"`
	Wall      time.Duration    `json:"wall"`                     // the run's wall time, warm-up included
	First     *loadgen.Latency `json:"firstEvent,omitempty"`     // warm: connections kept alive
	Cold      *loadgen.Latency `json:"firstEventCold,omitempty"` // a new connection on every hop for each stream
	Err       string           `json:"error,omitempty"`
}

// target is one server configuration under load.
type target struct {
	Key   string `json:"key"`
	Label string `json:"label"`
	cfg   loadgen.Config
	proc  *proc
	// fresh, when set, starts a new process for each round (handshakes start from an empty state).
	fresh  func(round int) (*proc, string, error)
	stream bool // a first-event target (GET event streams) rather than a load
	// alone: a first-event target measured on its own, after the others of its group, rather than interleaved
	// with them (mitmdump: it buffers each stream for the whole hold, and what its process does after a stream
	// would fall on the next target's)
	alone bool
	limit bool // the plain handler (or the direct connection): how far the load generator goes
	extra []*proc

	Runs []measurement `json:"runs"`
	Peak int64         `json:"peakRSS,omitempty"` // VmHWM at the end of the run
	RSS  int64         `json:"rss,omitempty"`     // VmRSS at the end of the run
	Skip string        `json:"skipped,omitempty"` // why it did not run
}

type group struct {
	Key   string  `json:"key"`
	Title string  `json:"title"`
	Unit  string  `json:"unit,omitempty"`  // of its throughput (default calls/s)
	Paced float64 `json:"paced,omitempty"` // the calls per second of a paced group (latency at a fixed rate)
	// Streams: a first-event group, its targets measured stream by stream in turn (runStreams)
	Streams bool      `json:"streams,omitempty"`
	Targets []*target `json:"targets"`
	// RunAgain counts the rounds run again because the hypervisor took more than --max-steal of the servers' CPU
	// (runTurns), and StolenKept those kept although it did, every attempt having had as much taken.
	RunAgain   int `json:"roundsRunAgain,omitempty"`
	StolenKept int `json:"stolenRoundsKept,omitempty"`
}

func (g *group) unit() string {
	if g.Unit != "" {
		return g.Unit
	}
	return "calls/s"
}

// report is everything the run measured.
type report struct {
	Date    time.Time          `json:"date"`
	Command string             `json:"command"`
	Machine string             `json:"machine"`
	Pinning string             `json:"pinning"`
	Options map[string]any     `json:"options"`
	Groups  []*group           `json:"groups"`
	Memory  *memoryResult      `json:"memory,omitempty"`
	TUI     *tuiResult         `json:"tui,omitempty"`
	procs   map[string]*target // by key
}

func (r *report) target(key string) *target { return r.procs[key] }

func bench(o *options) error {
	dir, remove, err := tempDir("mcpbench-")
	if err != nil {
		return err
	}
	defer remove()
	o.dir = dir
	rep := &report{
		Date:    time.Now(),
		Command: typedCommand(os.Args[1:]),
		Machine: machine(o.mcpwatch),
		Options: map[string]any{"rounds": o.rounds, "turns": o.turns, "duration": o.duration.String(), "warmup": o.warmup.String(), "clients": o.clients, "events": o.events,
			"latencyRate": o.latencyRate, "latencyDuration": o.latencyDuration.String()},
		procs: map[string]*target{},
	}
	rep.Pinning = o.pinning()
	logf("mcpbench: %s; %s", rep.Machine, rep.Pinning)

	if o.want("memory") {
		logf("memory per recorded exchange (in process)...")
		m, err := measureMemory(o.clients)
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		rep.Memory = m
		if o.memoryExchanges > 0 {
			calls := max(o.memoryExchanges/2, 1)
			logf("peak RSS of mcpwatch proxy after %d recorded exchanges (%d tools/calls; the store at its default bound)...", 2*calls, calls)
			if m.Proxy, err = measureProxyMemory(o, calls); err != nil {
				return fmt.Errorf("memory: proxy: %w", err)
			}
		}
	}

	defer stopAll()
	start := func(name string, env []string, bin string, args ...string) (*proc, error) {
		return startOwn(dir, name, env, bin, args...)
	}
	env := []string{"XDG_STATE_HOME=" + filepath.Join(dir, "state")}
	serveArgs := func(extra ...string) []string {
		return append([]string{"serve", "--no-tui", "--addr", "127.0.0.1:0", "--log", filepath.Join(dir, "mcpwatch.log")}, extra...)
	}
	base := loadgen.Config{Clients: o.clients, Warmup: o.warmup, Duration: o.duration}
	call := func(era loadgen.Era, auth bool) loadgen.Config {
		c := base
		c.Mode, c.Era, c.Auth = loadgen.ModeCall, era, auth
		return c
	}

	// Each server process starts once, when the first group that measures it needs it.
	once := map[string]*proc{}
	lazy := func(name string, env []string, bin string, args ...string) (*proc, error) {
		if p := once[name]; p != nil {
			return p, nil
		}
		p, err := start(name, env, bin, args...)
		if err != nil {
			return nil, err
		}
		once[name] = p
		return p, nil
	}
	plainProc := func() (*proc, error) { return lazy("plain", nil, o.self, "peer", "plain") }
	serveRecProc := func() (*proc, error) {
		return lazy("serve", env, o.mcpwatch, serveArgs("--no-auth", "--capture", filepath.Join(dir, "serve.jsonl"))...)
	}
	serveOffProc := func() (*proc, error) {
		return lazy("serve-off", append(env, envNoRecord+"=1"), o.mcpwatch, serveArgs("--no-auth", "--no-capture")...)
	}
	sdkProc := func() (*proc, error) { return lazy("sdk", nil, o.self, "peer", "sdk") }

	if o.want("serve") {
		serveRec, err := serveRecProc()
		if err != nil {
			return err
		}
		mem, err := start("serve-mem", env, o.mcpwatch, serveArgs("--no-auth", "--no-capture")...)
		if err != nil {
			return err
		}
		off, err := serveOffProc()
		if err != nil {
			return err
		}
		auth, err := start("serve-auth", env, o.mcpwatch, serveArgs("--auto-approve", "--ephemeral", "--capture", filepath.Join(dir, "auth.jsonl"))...)
		if err != nil {
			return err
		}
		sdk, err := sdkProc()
		if err != nil {
			return err
		}
		plain, err := plainProc()
		if err != nil {
			return err
		}
		rep.Groups = append(rep.Groups, &group{Key: "serve", Title: "tools/call, legacy era (initialize at 2025-11-25, Mcp-Session-Id), the echo tool", Targets: []*target{
			{Key: "serve", Label: "mcpwatch serve, recording on (capture file), --no-auth", cfg: call(loadgen.EraLegacy, false), proc: serveRec},
			{Key: "serve-mem", Label: "mcpwatch serve, recording in memory only (--no-capture)", cfg: call(loadgen.EraLegacy, false), proc: mem},
			{Key: "serve-off", Label: "mcpwatch serve, recording off (" + envNoRecord + "=1)", cfg: call(loadgen.EraLegacy, false), proc: off},
			{Key: "serve-auth", Label: "mcpwatch serve, recording on, OAuth bearer check", cfg: call(loadgen.EraLegacy, true), proc: auth},
			{Key: "sdk", Label: "go-sdk v1.8.0 alone (StreamableHTTPHandler, default options)", cfg: call(loadgen.EraLegacy, false), proc: sdk},
			{Key: "plain", Label: "plain net/http JSON handler (the limit)", cfg: call(loadgen.EraLegacy, false), proc: plain, limit: true},
		}})
	}
	if o.want("era2026") {
		serveRec, err := serveRecProc()
		if err != nil {
			return err
		}
		sdk, err := start("sdk-stateless", nil, o.self, "peer", "sdk-stateless")
		if err != nil {
			return err
		}
		plain, err := plainProc()
		if err != nil {
			return err
		}
		rep.Groups = append(rep.Groups, &group{Key: "era2026", Title: "tools/call, 2026-07-28 era (stateless: _meta, Mcp-Method/Mcp-Name), the echo tool", Targets: []*target{
			{Key: "serve-2026", Label: "mcpwatch serve, recording on (capture file), --no-auth", cfg: call(loadgen.Era2026, false), proc: serveRec},
			{Key: "sdk-2026", Label: "go-sdk v1.8.0 alone (StreamableHTTPHandler, Stateless)", cfg: call(loadgen.Era2026, false), proc: sdk},
			{Key: "plain-2026", Label: "plain net/http JSON handler (the limit)", cfg: call(loadgen.Era2026, false), proc: plain, limit: true},
		}})
	}
	if o.want("setup") {
		serveRec, err := serveRecProc()
		if err != nil {
			return err
		}
		off, err := serveOffProc()
		if err != nil {
			return err
		}
		sdk, err := sdkProc()
		if err != nil {
			return err
		}
		plain, err := plainProc()
		if err != nil {
			return err
		}
		su := base
		su.Mode, su.Era = loadgen.ModeSetup, loadgen.EraLegacy
		rep.Groups = append(rep.Groups, &group{Key: "setup", Unit: "sessions/s", Title: "whole legacy-era session setups (initialize → notifications/initialized → DELETE, no call), each response checked", Targets: []*target{
			{Key: "setup-serve", Label: "mcpwatch serve, recording on (capture file), --no-auth", cfg: su, proc: serveRec},
			{Key: "setup-serve-off", Label: "mcpwatch serve, recording off (" + envNoRecord + "=1)", cfg: su, proc: off},
			{Key: "setup-sdk", Label: "go-sdk v1.8.0 alone (StreamableHTTPHandler, default options)", cfg: su, proc: sdk},
			{Key: "setup-plain", Label: "plain net/http JSON handler (the limit)", cfg: su, proc: plain, limit: true},
		}})
	}

	if o.want("proxy") || o.want("sse") || o.want("latency") {
		plain, err := plainProc()
		if err != nil {
			return err
		}
		rp, err := start("revproxy", nil, o.self, "peer", "revproxy", "--upstream", plain.url)
		if err != nil {
			return err
		}
		var mitm *proc
		if o.want("proxy") || o.want("sse") {
			if mitm, err = startMitmdump("mitmdump", dir, plain.url); err != nil {
				return err
			}
		}
		mcpProxy := &target{Key: "proxy", Label: "mcpwatch proxy, recording on (capture file)"}
		proxyOff := &target{Key: "proxy-off", Label: "mcpwatch proxy, recording off (" + envNoRecord + "=1)"}
		if ok, why := hasProxy(o.mcpwatch); ok {
			args := []string{"proxy", "--upstream", plain.url + "/mcp", "--no-tui", "--addr", "127.0.0.1:0", "--log", filepath.Join(dir, "proxy.log")}
			if mcpProxy.proc, err = start("mcpwatch-proxy", env, o.mcpwatch, append(args, "--capture", filepath.Join(dir, "proxy.jsonl"))...); err != nil {
				return err
			}
			if proxyOff.proc, err = start("mcpwatch-proxy-off", append(env, envNoRecord+"=1"), o.mcpwatch, append(args, "--no-capture")...); err != nil {
				return err
			}
		} else {
			mcpProxy.Skip, proxyOff.Skip = why, why
		}
		mk := func(stream bool, c loadgen.Config, mitmdump bool) []*target {
			p, off := *mcpProxy, *proxyOff
			p.cfg, p.stream, p.extra = c, stream, []*proc{plain}
			off.cfg, off.stream, off.extra = c, stream, []*proc{plain}
			ts := []*target{
				{Key: "direct", Label: "direct (the plain upstream, no proxy)", cfg: c, proc: plain, stream: stream, limit: true},
				&p,
				&off,
				{Key: "revproxy", Label: "bare httputil.ReverseProxy (own transport)", cfg: c, proc: rp, stream: stream, extra: []*proc{plain}},
			}
			if mitmdump {
				ts = append(ts, &target{Key: "mitmdump", Label: "mitmdump --mode reverse (mitmproxy " + mitmVersion() + ", defaults)", cfg: c, proc: mitm, stream: stream, alone: true, extra: []*proc{plain}})
			}
			return ts
		}
		c := call(loadgen.EraLegacy, false)
		if o.want("proxy") {
			rep.Groups = append(rep.Groups, &group{Key: "proxy", Title: "proxies in front of the plain upstream: tools/call, legacy era", Targets: mk(false, c, true)})
		}
		if o.want("sse") {
			ts := mk(true, c, true)
			for _, t := range ts {
				t.Key += "-sse"
			}
			rep.Groups = append(rep.Groups, &group{Key: "sse", Streams: true, Title: fmt.Sprintf("first event of a GET event stream (the upstream sends one event, then another %s later); the targets take turns, two streams in a row each, the second measured; mitmdump's on their own", peers.StreamHold), Targets: ts})
		}
		if o.want("latency") {
			paced := c
			paced.Rate, paced.Duration = o.latencyRate, o.latencyDuration
			ts := mk(false, paced, false)
			for _, t := range ts {
				t.Key += "-paced"
			}
			rep.Groups = append(rep.Groups, &group{Key: "latency", Paced: o.latencyRate,
				Title: fmt.Sprintf("proxies in front of the plain upstream: tools/call, legacy era, paced at %s calls/s in all, interleaved: each of the %d targets gets one call in %d of one schedule (%s calls/s), in the same %s windows (an open loop: latency from each call's scheduled time; each target has its own %d clients)",
					num(o.latencyRate), len(ts), len(ts), num(o.latencyRate/float64(len(ts))), o.latencyDuration, o.clients),
				Targets: ts})
		}
	}

	if o.want("oauth") {
		hs := base
		hs.Mode, hs.Era, hs.Refresh = loadgen.ModeHandshake, loadgen.EraLegacy, true
		// Each handshake registers a client, and serve holds 1,000 clients that registered less than a minute ago
		// (it then refuses the next with 503 rather than forget one): a round ends after 900 handshakes or its
		// window, whichever comes first, counted from the fresh server's start (no warm-up: nothing is warm in
		// a fresh process anyway). At ~100 handshakes/s this never bound; at ~350/s warm-up and window exceeded it.
		hs.MaxOps = 900
		hs2026 := hs
		hs2026.Era = loadgen.Era2026
		fresh := func(name string, state bool) func(int) (*proc, string, error) {
			return freshServer(dir, name, state, func(args ...string) (*proc, error) {
				return startBanner(name, env, o.mcpwatch, serveArgs(args...)...)
			})
		}
		rep.Groups = append(rep.Groups, &group{Key: "oauth", Title: "whole OAuth handshakes (challenge → metadata → register → authorize → token → initialize → tools/list → tools/call → refresh → tools/call → DELETE), a fresh server each round", Targets: []*target{
			{Key: "oauth-state", Label: "mcpwatch serve --auto-approve --state FILE (legacy era)", cfg: hs, fresh: fresh("oauth-state", true)},
			{Key: "oauth-ephemeral", Label: "mcpwatch serve --auto-approve --ephemeral (legacy era)", cfg: hs, fresh: fresh("oauth-ephemeral", false)},
			{Key: "oauth-2026", Label: "mcpwatch serve --auto-approve --state FILE (2026 era)", cfg: hs2026, fresh: fresh("oauth-2026", true)},
		}})
	}

	for _, g := range rep.Groups {
		for _, t := range g.Targets {
			rep.procs[t.Key] = t
			if t.proc != nil {
				t.cfg.URL = t.proc.url + "/mcp"
			}
		}
	}

	ctx := context.Background()
	for round := range o.rounds {
		for _, g := range rep.Groups {
			if g.Paced > 0 {
				runInterleaved(ctx, o, g, round)
				continue
			}
			if g.Streams {
				runStreams(ctx, o, g, round)
				continue
			}
			if round == 0 {
				prime(ctx, o, g)
			}
			runTurns(ctx, o, g, round)
		}
	}
	for _, g := range rep.Groups {
		for _, t := range g.Targets {
			if t.proc != nil {
				t.RSS, t.Peak = t.proc.memory()
			}
		}
	}
	stopAll() // the servers measured (and any a group left running) stop before the tui group's benchmarks

	if o.want("tui") {
		logf("TUI benchmarks (go test -bench in tui/)...")
		rep.TUI = runTUIBench(o.repo)
	}

	printReport(os.Stdout, rep, o)
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// command is the command line as the user typed it to script/bench (which adds --mcpwatch and --repo).
// typedCommand is command(args), or, in the driver repin re-executed, the command its parent was given (args then
// end with the placement spelled out for it: the report said --server-cpus and --load-cpus twice).
func typedCommand(args []string) string {
	if c := os.Getenv(envCommand); c != "" && os.Getenv(envPinned) == "1" {
		return c
	}
	return command(args)
}

func command(args []string) string {
	out := []string{"script/bench"}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--mcpwatch" || a == "--repo" || a == "-mcpwatch" || a == "-repo":
			i++
		case strings.HasPrefix(a, "--mcpwatch=") || strings.HasPrefix(a, "--repo="):
		default:
			out = append(out, a)
		}
	}
	return strings.Join(out, " ")
}

// envNoRecord is mcpwatch's benchmark switch: serve without the recorder (cmd/mcpwatch/bench_hooks.go; only in a
// binary built with `-tags mcpwatchbench`, as script/bench builds it).
const envNoRecord = "MCPWATCH_BENCH_NO_RECORD"

func rotate(ts []*target, n int) []*target {
	out := make([]*target, 0, len(ts))
	for i := range ts {
		out = append(out, ts[(i+n)%len(ts)])
	}
	return out
}

// turnConfig is a target's load for one turn of a round: the round's window and warm-up split between the turns
// (the warm-up at least minTurnWarmup).
func (o *options) turnConfig(cfg loadgen.Config) loadgen.Config {
	if cfg.MaxOps > 0 || o.turns <= 1 {
		return cfg
	}
	cfg.Duration = o.duration / time.Duration(o.turns)
	cfg.Warmup = max(o.warmup/time.Duration(o.turns), minTurnWarmup)
	return cfg
}

// minTurnWarmup is the least warm-up of a turn: its clients open their sessions and connections again.
const minTurnWarmup = 100 * time.Millisecond

// freshServer is the fresh of an OAuth target (a new serve for each run, started by start with the serve flags
// after serveArgs'), with a capture file and, with state, a state file in dir of its own: new files for every run,
// not only every round. runTurns runs a round again for steal, calling fresh with the same round; on its first
// attempt's state file (900 clients, each holding a grant used within the hour) the next attempt's serve refused
// most registrations with 503 (server/oauth/limits.go) and measured a bigger state than its round's other targets.
func freshServer(dir, name string, state bool, start func(args ...string) (*proc, error)) func(int) (*proc, string, error) {
	runs := 0
	return func(round int) (*proc, string, error) {
		runs++
		stem := filepath.Join(dir, fmt.Sprintf("%s-%d-%d", name, round, runs))
		args := []string{"--auto-approve", "--capture", stem + ".jsonl"}
		if state {
			args = append(args, "--state", stem+".state.json")
		} else {
			args = append(args, "--ephemeral")
		}
		p, err := start(args...)
		if err != nil {
			return nil, "", err
		}
		return p, p.url + "/mcp", nil
	}
}

// prime runs each target of a throughput group whose process outlives the round once, unmeasured, for a whole
// round's warm-up and window, before the first round: no round then measures a process that has never served (a
// fresh serve records into an empty store and capture file, and its heap and collector have not reached their
// pace; in the 16:28 UTC run of round five its first round cost 157 µs of CPU a call against 177–181 in the next
// two, and that one round of three moved the median ratio).
func prime(ctx context.Context, o *options, g *group) {
	for _, t := range g.Targets {
		if t.Skip != "" || t.fresh != nil || t.stream || t.proc == nil {
			continue
		}
		m := runTarget(ctx, o, t, 0, t.cfg)
		logf("prime     %-16s %s", t.Key, m.short())
	}
}

// runTurns runs one round of a throughput group in o.turns turns: in each turn every target runs for the round's
// window ÷ turns (after a warm-up of its own), one after the other, in the round's rotated order and reversed
// every other turn; a target's measurement of the round combines its turns (loadgen.Combine: operations over the
// windows together, CPU time added up). Whatever else runs on the machine for some seconds (another helper's
// build) then falls on every target of the round alike, where a whole window per target gave it to one or two of
// them. A target whose process is fresh each round (the OAuth group) runs its round whole.
//
// A round from whose servers' CPUs the hypervisor took more than o.maxSteal percent of their time (steal: the host's
// other guests; of the turns' wall time times the number of the servers' CPUs) is run again, maxRunAgain times at
// most: on a virtual machine with a busy host, steal came in bursts of a second or two that took 20–50% of the
// servers' CPU (2026-12-07), falling on some targets' turns and not on others', and a round's ratio measured the
// host. Whether a round is run again depends on the whole round's steal, never on what one target measured (steal
// accrues only while a CPU has work, so a busier server's turns see more of a burst, but the round goes whole).
func runTurns(ctx context.Context, o *options, g *group, round int) {
	var parts map[*target][]measurement
	runAgainWhileStolen(ctx, o, g, round, func() float64 {
		parts = map[*target][]measurement{}
		var steal, wall time.Duration
		for _, t := range turnOrder(g.Targets, round, o.turns) {
			cfg := t.cfg
			if t.fresh == nil {
				cfg = o.turnConfig(cfg)
			}
			m := runTurn(ctx, o, t, round, cfg)
			steal, wall = steal+m.Steal, wall+m.Wall
			parts[t] = append(parts[t], m)
		}
		return cpuShare(steal, wall, serverCPUs)
	})
	for _, t := range rotate(g.Targets, round) {
		if len(parts[t]) == 0 {
			continue
		}
		m := combine(parts[t])
		t.Runs = append(t.Runs, m)
		logf("round %d/%d %-16s %s", round+1, o.rounds, t.Key, m.short())
	}
}

// runAgainWhileStolen runs attempt, one attempt at a round of g, again while the hypervisor took more than
// o.maxSteal percent of the CPU time it measured (attempt returns that share: cpuShare), maxRunAgain times at
// most; the caller keeps what the last attempt measured. It counts the rounds run again (g.RunAgain) and those kept
// although every attempt had as much stolen (g.StolenKept).
func runAgainWhileStolen(ctx context.Context, o *options, g *group, round int, attempt func() float64) {
	for n := 0; ; n++ {
		share := attempt()
		if o.maxSteal <= 0 || share <= o.maxSteal || ctx.Err() != nil {
			return
		}
		if n == maxRunAgain {
			g.StolenKept++
			logf("round %d/%d of %s: the hypervisor took %.0f%% of the measured CPUs' time (steal) in this attempt too: kept", round+1, o.rounds, g.Key, share)
			return
		}
		g.RunAgain++
		logf("round %d/%d of %s: the hypervisor took %.0f%% of the measured CPUs' time (steal, more than --max-steal %g%%): run again", round+1, o.rounds, g.Key, share, o.maxSteal)
	}
}

// cpuShare is d, a time summed over the CPUs of the list cpus (others.stop: steal, other processes' CPU time), as
// a percentage of their time over wall: wall times their number (one when the list is empty).
func cpuShare(steal, wall time.Duration, cpus string) float64 {
	return percentOf(steal, wall*time.Duration(max(len(cpuSet(cpus)), 1)))
}

// runTurn runs one target's turn (runTarget; tests replace it).
var runTurn = runTarget

// maxRunAgain is how many times runTurns runs a round again for steal before it keeps it.
const maxRunAgain = 3

// percentOf is part as a percentage of wall (0 when wall is).
func percentOf(part, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * float64(part) / float64(wall)
}

// turnOrder is the order in which runTurns runs a round's targets: turns times the round's rotated order, reversed
// every other turn (so that each target follows and precedes each other alike), without the skipped targets and
// with the ones that run their round whole (a fresh process, or a count of operations) in the first turn only.
func turnOrder(targets []*target, round, turns int) []*target {
	ts := rotate(targets, round)
	var out []*target
	for k := range max(turns, 1) {
		order := slices.Clone(ts)
		if k%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range order {
			if t.Skip != "" || (k > 0 && (t.fresh != nil || t.cfg.MaxOps > 0)) {
				continue
			}
			out = append(out, t)
		}
	}
	return out
}

// combine is one measurement of a target's turns: their results combined, CPU and wall times added up.
func combine(ms []measurement) measurement {
	if len(ms) == 1 {
		return ms[0]
	}
	var out measurement
	var rs []*loadgen.Result
	var errs []string
	for _, m := range ms {
		out.CPU += m.CPU
		out.Load += m.Load
		out.LoadOthers += m.LoadOthers
		out.Others += m.Others
		out.LoadSteal += m.LoadSteal
		out.Steal += m.Steal
		out.Wall += m.Wall
		if m.Result != nil {
			rs = append(rs, m.Result)
		}
		if m.Err != "" {
			errs = append(errs, m.Err)
		}
	}
	if len(rs) > 0 {
		out.Result = loadgen.Combine(rs...)
	}
	out.Err = strings.Join(errs, "; ")
	return out
}

func runTarget(ctx context.Context, o *options, t *target, round int, cfg loadgen.Config) measurement {
	p := t.proc
	if t.fresh != nil {
		var err error
		var url string
		p, url, err = t.fresh(round)
		if err != nil {
			return measurement{Err: err.Error()}
		}
		defer func() {
			t.RSS, t.Peak = p.memory()
			p.stop()
		}()
		cfg.URL = url
	}
	settle(append([]*proc{p}, t.extra...))
	ot := startOthers(append([]*proc{p}, t.extra...))
	cpu0, load0, t0 := p.cpuTime(), selfCPU(), time.Now()
	var m measurement
	if t.stream {
		lat, err := loadgen.FirstEvent(ctx, p.url+"/mcp", nil, o.events, true)
		m.First = &lat
		if err == nil {
			var cold loadgen.Latency
			cold, err = loadgen.FirstEvent(ctx, p.url+"/mcp", nil, o.events, false)
			m.Cold = &cold
		}
		if err != nil {
			m.Err = err.Error()
		}
	} else {
		res, err := loadgen.Run(ctx, cfg)
		m.Result = res
		if err != nil {
			m.Err = err.Error()
		} else if res.Errors > 0 {
			m.Err = fmt.Sprintf("%d errors: %v", res.Errors, res.Samples)
		}
	}
	m.Load, m.Wall = selfCPU()-load0, time.Since(t0)
	m.setMachine(ot.stop())
	settle(append([]*proc{p}, t.extra...))
	m.CPU = p.cpuTime() - cpu0
	return m
}

// runInterleaved runs one round of a paced group: all its targets in one paced run, interleaved on one schedule
// (loadgen.RunPaced), so that whatever disturbs the machine disturbs each alike. A process that serves more than
// one target (the plain upstream: direct, and behind every proxy) has no CPU time per call of its own. A round with
// more than o.maxSteal percent stolen from the servers' CPUs or the load generator's is run again
// (runAgainWhileStolen).
func runInterleaved(ctx context.Context, o *options, g *group, round int) {
	var ts []*target
	uses := map[*proc]int{}
	for _, t := range rotate(g.Targets, round) {
		if t.Skip != "" {
			continue
		}
		ts = append(ts, t)
		for _, p := range append([]*proc{t.proc}, t.extra...) {
			uses[p]++
		}
	}
	if len(ts) == 0 {
		return
	}
	urls := make([]string, len(ts))
	for i, t := range ts {
		urls[i] = t.cfg.URL
	}
	var ms []measurement
	// steal on the load generator's CPUs counts too: it sends the calls late, which the group's check counts
	runAgainWhileStolen(ctx, o, g, round, func() float64 {
		w := openWindow(uses)
		rs, err := runPaced(ctx, ts[0].cfg, urls)
		load, use, wall := w.close()
		ms = ms[:0]
		for i, t := range ts {
			m := measurement{Load: load, Wall: wall, CPU: w.cpu(t.proc)}
			m.setMachine(use)
			switch {
			case err != nil:
				m.Err = err.Error()
			case rs[i].Errors > 0:
				m.Err = fmt.Sprintf("%d errors: %v", rs[i].Errors, rs[i].Samples)
			case rs[i].Paced.Missed > 0 || rs[i].Paced.Scheduled == 0:
				// Calls never sent have no latency: the run measured less than its window. Calls sent late count
				// their lateness in their latency (timed from the schedule): such a run stays, and the harness
				// check of its group says that the rate was not kept.
				m.Err = "the rate was not kept: " + rs[i].Paced.NotKept
			}
			if rs != nil {
				m.Result = rs[i]
			}
			ms = append(ms, m)
		}
		return max(cpuShare(use.stealServers, wall, serverCPUs), cpuShare(use.stealLoad, wall, loadCPUs))
	})
	for i, t := range ts {
		t.Runs = append(t.Runs, ms[i])
		logf("round %d %-16s %s", round+1, t.Key, ms[i].short())
	}
}

// runPaced runs a paced group's window (loadgen.RunPaced) and firstEvents a first-event group's
// (loadgen.FirstEvents); tests replace them.
var (
	runPaced    = loadgen.RunPaced
	firstEvents = loadgen.FirstEvents
)

// runStreams runs one round of a first-event group: its targets take turns (loadgen.FirstEvents: two streams in a
// row each, the second measured, the order rotating), so that each target's first events are measured at the same
// moments as the others' and a ratio of two targets compares like with like on a shared machine. Measured one
// target after the other (FirstEvent), each target had its own second or so, and whatever else ran on the servers'
// CPUs then (another helper's build, a collection) fell on that target alone: one round's ratio moved by a third.
// The targets marked alone run after, each on its own, as before. The turns of a round with more than o.maxSteal
// percent stolen from the servers' CPUs are run again (runAgainWhileStolen).
func runStreams(ctx context.Context, o *options, g *group, round int) {
	var ts, alone []*target
	uses := map[*proc]int{}
	for _, t := range rotate(g.Targets, round) {
		switch {
		case t.Skip != "":
		case t.alone || t.fresh != nil:
			alone = append(alone, t)
		default:
			ts = append(ts, t)
			for _, p := range append([]*proc{t.proc}, t.extra...) {
				uses[p]++
			}
		}
	}
	if len(ts) > 0 {
		urls := make([]string, len(ts))
		for i, t := range ts {
			urls[i] = t.proc.url + "/mcp"
		}
		var ms []measurement
		runAgainWhileStolen(ctx, o, g, round, func() float64 {
			w := openWindow(uses)
			warm, err := firstEvents(ctx, urls, nil, o.events, true, round)
			var cold []loadgen.Latency
			if err == nil {
				cold, err = firstEvents(ctx, urls, nil, o.events, false, round)
			}
			load, use, wall := w.close()
			ms = ms[:0]
			for i, t := range ts {
				m := measurement{Load: load, Wall: wall, CPU: w.cpu(t.proc)}
				m.setMachine(use)
				if i < len(warm) {
					m.First = &warm[i]
				}
				if i < len(cold) {
					m.Cold = &cold[i]
				}
				if err != nil {
					m.Err = err.Error()
				}
				ms = append(ms, m)
			}
			return cpuShare(use.stealServers, wall, serverCPUs)
		})
		for i, t := range ts {
			t.Runs = append(t.Runs, ms[i])
			logf("round %d/%d %-16s %s", round+1, o.rounds, t.Key, ms[i].short())
		}
	}
	for _, t := range alone {
		m := runTarget(ctx, o, t, round, t.cfg)
		t.Runs = append(t.Runs, m)
		logf("round %d/%d %-16s %s", round+1, o.rounds, t.Key, m.short())
	}
}

// window is a measured window in which several targets run at once (runInterleaved, runStreams): the processes
// they use, settled before and after, and their CPU time when it opened.
type window struct {
	uses   map[*proc]int // the targets using each process
	procs  []*proc
	cpu0   map[*proc]time.Duration
	load0  time.Duration
	others *others
	t0     time.Time
}

// openWindow settles the processes the targets use (uses: how many targets use each) and starts the window.
func openWindow(uses map[*proc]int) *window {
	w := &window{uses: uses, cpu0: map[*proc]time.Duration{}}
	for p := range uses {
		w.procs = append(w.procs, p)
	}
	settle(w.procs)
	for _, p := range w.procs {
		w.cpu0[p] = p.cpuTime()
	}
	w.others = startOthers(w.procs)
	w.load0, w.t0 = selfCPU(), time.Now()
	return w
}

// close ends the window: the load generator's CPU time, what other processes and the hypervisor took of its CPUs
// and of the servers' (startOthers) and the wall time the window lasted; then it settles the processes, so that
// what they do behind the HTTP path (the capture file, the output) counts in their CPU time.
func (w *window) close() (load time.Duration, use machineUse, wall time.Duration) {
	load, wall = selfCPU()-w.load0, time.Since(w.t0)
	use = w.others.stop()
	settle(w.procs)
	return load, use, wall
}

// setMachine records in m what others measured over its run.
func (m *measurement) setMachine(u machineUse) {
	m.LoadOthers, m.Others, m.LoadSteal, m.Steal = u.onLoad, u.onServers, u.stealLoad, u.stealServers
}

// cpu is p's CPU time over the window (after close), or 0 when more than one target used it: it has no CPU time
// per operation of its own.
func (w *window) cpu(p *proc) time.Duration {
	if w.uses[p] != 1 {
		return 0
	}
	return p.cpuTime() - w.cpu0[p]
}

// selfCPU is this process's CPU time so far (the load generator's, when it runs).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadBusy is the share of one CPU the load generator used over the run (1: a whole core).
func (m measurement) loadBusy() float64 {
	if m.Wall <= 0 {
		return 0
	}
	return float64(m.Load) / float64(m.Wall)
}

// settle waits until the processes have stopped using CPU (the capture file's writer and the headless printer
// work behind the HTTP path), so that one target's leftovers do not run during the next one's window; at most 15 s.
func settle(ps []*proc) {
	deadline := time.Now().Add(15 * time.Second)
	last := make([]time.Duration, len(ps))
	for i, p := range ps {
		last[i] = p.cpuTime()
	}
	quiet := 0
	for time.Now().Before(deadline) && quiet < 2 {
		time.Sleep(100 * time.Millisecond)
		busy := false
		for i, p := range ps {
			c := p.cpuTime()
			if c-last[i] > 10*time.Millisecond {
				busy = true
			}
			last[i] = c
		}
		if busy {
			quiet = 0
		} else {
			quiet++
		}
	}
}

func (m measurement) short() string {
	var s string
	switch {
	case m.First != nil:
		s = fmt.Sprintf("first event p50 %s p99 %s", fmtDur(m.First.P50), fmtDur(m.First.P99))
		if m.Cold != nil {
			s += fmt.Sprintf("; new connections: p50 %s", fmtDur(m.Cold.P50))
		}
	case m.Result != nil:
		s = fmt.Sprintf("%8.1f/s p50 %s p99 %s cpu/op %s", m.Result.Throughput, fmtDur(m.Result.Latency.P50), fmtDur(m.Result.Latency.P99), fmtDur(m.cpuPerOp()))
		if p := m.Result.Paced; p != nil {
			s += fmt.Sprintf(" (paced: %d late of %d, %d of them dispatched late, lag p99 %s; other processes used %s of its CPU)", p.Late, p.Scheduled, p.DispatchLate, fmtDur(p.Lag.P99), fmtDur(m.LoadOthers))
		}
	}
	if m.Err != "" {
		s += " ERROR " + m.Err
	}
	return s
}

// cpuPerOp is the measured process's CPU time per completed operation over the whole run.
func (m measurement) cpuPerOp() time.Duration {
	if m.Result == nil || m.Result.Completed == 0 {
		return 0
	}
	return m.CPU / time.Duration(m.Result.Completed)
}

// hasProxy reports whether this mcpwatch has the proxy command.
func hasProxy(bin string) (bool, string) {
	out, _ := exec.Command(bin, "proxy", "-h").CombinedOutput()
	if strings.Contains(string(out), "-upstream") {
		return true, ""
	}
	return false, "this mcpwatch has no proxy command yet (branch proxy is not merged); the row is measured as soon as `mcpwatch proxy --upstream URL` exists"
}

func mitmVersion() string {
	out, err := exec.Command("mitmdump", "--version").Output()
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "Mitmproxy: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// machine describes where the numbers come from.
func machine(mcpwatch string) string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	ver, _ := exec.Command(mcpwatch, "version").Output()
	return fmt.Sprintf("%d CPUs (%s), %s, %s/%s, %s; load average at start %s", onlineCPUs(), cpu, runtime.Version(),
		runtime.GOOS, runtime.GOARCH, strings.TrimSpace(string(ver)), load)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
}
