package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/loadgen"
	"github.com/mcpwatch/mcpwatch/recorder"
)

// stat is the median of per-round values and their range.
type stat struct {
	med, lo, hi float64
	n           int
}

func statOf(xs []float64) stat {
	if len(xs) == 0 {
		return stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med: m, lo: s[0], hi: s[len(s)-1], n: len(s)}
}

func (s stat) ratio() string {
	if s.n == 0 {
		return "—"
	}
	if s.n == 1 {
		return fmt.Sprintf("**%.2f×**", s.med)
	}
	return fmt.Sprintf("**%.2f×** (%.2f–%.2f)", s.med, s.lo, s.hi)
}

// perRound collects f(a's run, b's run) over the rounds where both ran without error.
func perRound(a, b *target, f func(x, y measurement) (float64, bool)) []float64 {
	var out []float64
	if a == nil || b == nil {
		return nil
	}
	for i := range min(len(a.Runs), len(b.Runs)) {
		x, y := a.Runs[i], b.Runs[i]
		if x.Err != "" || y.Err != "" {
			continue
		}
		if v, ok := f(x, y); ok {
			out = append(out, v)
		}
	}
	return out
}

func throughputRatio(x, y measurement) (float64, bool) {
	if x.Result == nil || y.Result == nil || y.Result.Throughput == 0 {
		return 0, false
	}
	return x.Result.Throughput / y.Result.Throughput, true
}

// addedP99 is how much later x's p99 latency is than y's in one round (a duration, in ns).
func addedP99(x, y measurement) (float64, bool) {
	if x.Result == nil || y.Result == nil || x.Result.Latency.N == 0 || y.Result.Latency.N == 0 {
		return 0, false
	}
	return float64(x.Result.Latency.P99 - y.Result.Latency.P99), true
}

// addedP50 is addedP99 for the median.
func addedP50(x, y measurement) (float64, bool) {
	if x.Result == nil || y.Result == nil || x.Result.Latency.N == 0 || y.Result.Latency.N == 0 {
		return 0, false
	}
	return float64(x.Result.Latency.P50 - y.Result.Latency.P50), true
}

// signedDur formats a difference of durations (ns), negative when the first was faster.
func signedDur(f float64) string {
	if f < 0 {
		return "−" + d(-f)
	}
	return d(f)
}

func firstEventRatio(x, y measurement) (float64, bool) {
	if x.First == nil || y.First == nil || y.First.P50 == 0 {
		return 0, false
	}
	return float64(x.First.P50) / float64(y.First.P50), true
}

func coldEventRatio(x, y measurement) (float64, bool) {
	if x.Cold == nil || y.Cold == nil || y.Cold.P50 == 0 {
		return 0, false
	}
	return float64(x.Cold.P50) / float64(y.Cold.P50), true
}

// medians of a target's runs.
type summary struct {
	tput, p50, p99, cpu stat
	first50, first99    stat
	cold50              stat
	errors              int
	errText             string
}

func summarise(t *target) summary {
	var s summary
	if t == nil {
		return s
	}
	var tp, p50, p99, cpu, f50, f99, c50 []float64
	for _, m := range t.Runs {
		if m.Err != "" {
			s.errors++
			if s.errText == "" {
				s.errText = m.Err
			}
		}
		if m.Result != nil && m.Result.Ops > 0 {
			tp = append(tp, m.Result.Throughput)
			p50 = append(p50, float64(m.Result.Latency.P50))
			p99 = append(p99, float64(m.Result.Latency.P99))
			cpu = append(cpu, float64(m.cpuPerOp()))
		}
		if m.First != nil && m.First.N > 0 {
			f50 = append(f50, float64(m.First.P50))
			f99 = append(f99, float64(m.First.P99))
		}
		if m.Cold != nil && m.Cold.N > 0 {
			c50 = append(c50, float64(m.Cold.P50))
		}
	}
	s.tput, s.p50, s.p99, s.cpu, s.first50, s.first99 = statOf(tp), statOf(p50), statOf(p99), statOf(cpu), statOf(f50), statOf(f99)
	s.cold50 = statOf(c50)
	return s
}

func d(f float64) string { return fmtDur(time.Duration(f)) }

func num(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	if f < 100 {
		s = fmt.Sprintf("%.1f", f)
	}
	// thousands separators
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

func mib(b int64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// verdict judges a median against a target: at least (ge) or at most.
func verdict(s stat, limit float64, ge bool) string {
	if s.n == 0 {
		return "not measured"
	}
	if (ge && s.med >= limit) || (!ge && s.med <= limit) {
		return "yes"
	}
	return "**no**"
}

func printReport(w io.Writer, rep *report, o *options) {
	fmt.Fprintf(w, "## Benchmarks (%s)\n\n", rep.Date.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Command: `%s`  \nMachine: %s  \nPlacement: %s  \n", strings.TrimSpace(rep.Command), rep.Machine, rep.Pinning)
	turns := ""
	if o.turns > 1 {
		turns = fmt.Sprintf(" in %d turns (the targets take turns, each running %s after a %s warm-up of its own, the order reversed every other turn; a round's throughput is its turns' operations over their windows together), each process having served one unmeasured window of a round before the first round",
			o.turns, o.duration/time.Duration(o.turns), max(o.warmup/time.Duration(o.turns), minTurnWarmup))
	}
	fmt.Fprintf(w, "Method: every server is its own process; %d rounds, each running every target of a group for %s after a %s warm-up with %d concurrent clients (bench/loadgen, which checks every response)%s, the targets' order rotated each round. Ratios are the median of the per-round ratios (range in brackets); latencies the median of the rounds' percentiles; CPU/op is the server process's CPU time per operation (/proc/PID/stat), the work it does after answering (capture file, output) included.\n\n",
		o.rounds, o.duration, o.warmup, o.clients, turns)

	t := rep.target
	fmt.Fprintln(w, "| # | comparison | ratio | target | met | numbers (medians) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	row := func(n, what, ratio, target, met, numbers string) {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", n, what, ratio, target, met, numbers)
	}
	callNumbers := func(a, b *target, unit string) string {
		sa, sb := summarise(a), summarise(b)
		s := fmt.Sprintf("%s vs %s %s; p50 %s vs %s; p99 %s vs %s; CPU/op %s vs %s", num(sa.tput.med), num(sb.tput.med), unit,
			d(sa.p50.med), d(sb.p50.med), d(sa.p99.med), d(sb.p99.med), d(sa.cpu.med), d(sb.cpu.med))
		if sa.errors+sb.errors > 0 {
			s += fmt.Sprintf("; %d runs with errors: %s", sa.errors+sb.errors, firstNonEmpty(sa.errText, sb.errText))
		}
		return s
	}
	tputRow := func(n, what, a, b, unit string, limit float64, hasTarget bool) {
		ta, tb := t(a), t(b)
		if ta == nil || tb == nil {
			return
		}
		if ta.Skip != "" || tb.Skip != "" {
			row(n, what, "—", targetText(limit, hasTarget, true), "not measured", firstNonEmpty(ta.Skip, tb.Skip))
			return
		}
		s := statOf(perRound(ta, tb, throughputRatio))
		met := "—"
		if hasTarget {
			met = verdict(s, limit, true)
		}
		row(n, what, s.ratio(), targetText(limit, hasTarget, true), met, callNumbers(ta, tb, unit))
	}
	headroomRow(w, rep, row)
	tputRow("1", "`serve` (recording on) ÷ go-sdk alone, tools/call throughput, legacy era", "serve", "sdk", "calls/s", 0.9, true)
	tputRow("1", "`serve` (recording on) ÷ go-sdk alone, tools/call throughput, 2026 era", "serve-2026", "sdk-2026", "calls/s", 0.9, true)
	tputRow("1", "`serve` (recording on) ÷ plain net/http handler (the limit), legacy era", "serve", "plain", "calls/s", 0, false)
	tputRow("1", "`serve` (recording on) ÷ plain net/http handler (the limit), 2026 era", "serve-2026", "plain-2026", "calls/s", 0, false)
	tputRow("1", "`serve` recording off ÷ go-sdk alone, tools/call throughput, legacy era (what serve's own layers cost)", "serve-off", "sdk", "calls/s", 0.95, true)
	tputRow("1", "`serve` with the OAuth bearer check ÷ go-sdk alone (no auth), legacy era", "serve-auth", "sdk", "calls/s", 0, false)
	tputRow("1", "`serve` (recording on) ÷ go-sdk alone, session setups (initialize, initialized, DELETE), legacy era", "setup-serve", "setup-sdk", "sessions/s", 0.8, true)
	tputRow("1", "`serve` recording off ÷ go-sdk alone, session setups (context)", "setup-serve-off", "setup-sdk", "sessions/s", 0, false)
	tputRow("1", "`serve` (recording on) ÷ recording off, session setups (what recording costs a setup)", "setup-serve", "setup-serve-off", "sessions/s", 0, false)
	tputRow("2", "recording on (store + capture file + output) ÷ recording off, throughput", "serve", "serve-off", "calls/s", 0.9, true)
	tputRow("2", "recording in memory only (`--no-capture`) ÷ recording off, throughput", "serve-mem", "serve-off", "calls/s", 0, false)
	if a, b := t("serve"), t("serve-off"); a != nil && b != nil {
		sa, sb := summarise(a), summarise(b)
		if sb.cpu.med > 0 {
			row("2", "recording on ÷ off, server CPU per call", fmt.Sprintf("**%.2f×**", sa.cpu.med/sb.cpu.med), "—", "—",
				fmt.Sprintf("%s vs %s per call", d(sa.cpu.med), d(sb.cpu.med)))
		}
	}
	tputRow("3", "`proxy` (recording on) ÷ direct, throughput", "proxy", "direct", "calls/s", 0, false)
	tputRow("3", "`proxy` (recording on) ÷ bare httputil.ReverseProxy, throughput", "proxy", "revproxy", "calls/s", 0.9, true)
	if a, b := t("proxy"), t("revproxy"); a != nil && b != nil && a.Skip == "" && b.Skip == "" {
		sa, sb := summarise(a), summarise(b)
		if sb.cpu.med > 0 {
			r, met := sa.cpu.med/sb.cpu.med, "yes"
			if r > 1.25 {
				met = "**no**"
			}
			row("3", "`proxy` (recording on) ÷ bare ReverseProxy, server CPU per call", fmt.Sprintf("**%.2f×**", r), "≤ 1.25×", met,
				fmt.Sprintf("%s vs %s per call (medians of the rounds)", d(sa.cpu.med), d(sb.cpu.med)))
		}
	}
	tputRow("3", "`proxy` (recording on) ÷ mitmdump reverse mode, throughput", "proxy", "mitmdump", "calls/s", 4, true)
	tputRow("3", "`proxy` recording off ÷ bare ReverseProxy (what the proxy costs without recording)", "proxy-off", "revproxy", "calls/s", 0, false)
	tputRow("3", "`proxy` recording on ÷ off (what recording both sides costs)", "proxy", "proxy-off", "calls/s", 0, false)
	tputRow("3", "bare ReverseProxy ÷ mitmdump (context)", "revproxy", "mitmdump", "calls/s", 0, false)
	firstRow := func(what, a, b string, limit float64, hasTarget bool) {
		ta, tb := t(a), t(b)
		if ta == nil || tb == nil {
			return
		}
		if ta.Skip != "" || tb.Skip != "" {
			row("3", what, "—", targetText(limit, hasTarget, false), "not measured", firstNonEmpty(ta.Skip, tb.Skip))
			return
		}
		s := statOf(perRound(ta, tb, firstEventRatio))
		cold := statOf(perRound(ta, tb, coldEventRatio))
		sa, sb := summarise(ta), summarise(tb)
		met := "—"
		if hasTarget {
			met = verdict(s, limit, false)
		}
		row("3", what, s.ratio(), targetText(limit, hasTarget, false), met,
			fmt.Sprintf("first event p50 %s vs %s, p99 %s vs %s (connections kept alive); with new connections on every hop: %.2f×, p50 %s vs %s",
				d(sa.first50.med), d(sb.first50.med), d(sa.first99.med), d(sb.first99.med), cold.med, d(sa.cold50.med), d(sb.cold50.med)))
	}
	firstRow("first SSE event through `proxy` ÷ direct", "proxy-sse", "direct-sse", 2, true)
	firstRow("first SSE event through `proxy` ÷ bare ReverseProxy", "proxy-sse", "revproxy-sse", 1.15, true)
	firstRow("first SSE event through `proxy`, recording off ÷ direct (context)", "proxy-off-sse", "direct-sse", 0, false)
	firstRow("first SSE event through bare ReverseProxy ÷ direct (context)", "revproxy-sse", "direct-sse", 0, false)
	firstRow("first SSE event through mitmdump ÷ direct (context: it buffers the stream)", "mitmdump-sse", "direct-sse", 0, false)
	addedRow := func(what, a, b string, limit time.Duration, hasTarget bool) {
		ta, tb := t(a), t(b)
		if ta == nil || tb == nil {
			return
		}
		tgt := "—"
		if hasTarget {
			tgt = "≤ " + fmtDur(limit)
		}
		if ta.Skip != "" || tb.Skip != "" {
			row("3", what, "—", tgt, "not measured", firstNonEmpty(ta.Skip, tb.Skip))
			return
		}
		s := statOf(perRound(ta, tb, addedP99))
		s50 := statOf(perRound(ta, tb, addedP50))
		sa, sb := summarise(ta), summarise(tb)
		met := "—"
		if hasTarget {
			met = verdict(s, float64(limit), false)
		}
		value := "—"
		if s.n > 0 {
			value = "**" + signedDur(s.med) + "**"
			if s.n > 1 {
				value += fmt.Sprintf(" (%s – %s)", signedDur(s.lo), signedDur(s.hi))
			}
		}
		added50 := "—"
		if s50.n > 0 {
			added50 = signedDur(s50.med)
		}
		numbers := fmt.Sprintf("p99 %s vs %s, p50 %s vs %s (p50 added %s) at %s calls/s", d(sa.p99.med), d(sb.p99.med), d(sa.p50.med), d(sb.p50.med),
			added50, num(sa.tput.med))
		if sd := summarise(t("direct-paced")); sd.p99.n > 0 {
			numbers += fmt.Sprintf("; direct p99 %s, p50 %s", d(sd.p99.med), d(sd.p50.med))
		}
		if sp := summarise(t("proxy")); sp.tput.n > 0 && sa.tput.n > 0 {
			numbers += fmt.Sprintf("; the rate is %.0f%% of `proxy`'s throughput at saturation in this run", 100*sa.tput.med/sp.tput.med)
		}
		if sa.errors+sb.errors > 0 {
			numbers += fmt.Sprintf("; %d runs with errors: %s", sa.errors+sb.errors, firstNonEmpty(sa.errText, sb.errText))
		}
		row("3", what, value, tgt, met, numbers)
	}
	addedRow("p99 latency added by `proxy` (recording on) over the bare ReverseProxy, paced calls", "proxy-paced", "revproxy-paced", time.Millisecond, true)
	addedRow("p99 latency added by `proxy`, recording off, over the bare ReverseProxy, paced calls (context)", "proxy-off-paced", "revproxy-paced", 0, false)
	addedRow("p99 latency added by the bare ReverseProxy over direct, paced calls (context)", "revproxy-paced", "direct-paced", 0, false)
	for _, k := range []string{"oauth-state", "oauth-ephemeral", "oauth-2026"} {
		if x := t(k); x != nil {
			s := summarise(x)
			errs := ""
			if s.errors > 0 {
				errs = fmt.Sprintf("; %d runs with errors: %s", s.errors, s.errText)
			}
			row("4", "whole OAuth handshakes per second: "+x.Label, fmt.Sprintf("**%s/s**", num(s.tput.med)), "—", "—",
				fmt.Sprintf("p50 %s, p99 %s per handshake; CPU/handshake %s%s", d(s.p50.med), d(s.p99.med), d(s.cpu.med), errs))
		}
	}
	if r := rep.TUI; r != nil {
		switch {
		case r.Skip != "":
			row("5", "TUI frame and keystroke, 100k exchanges", "—", "≤ 5 ms", "not measured", r.Skip)
		case len(r.Benches) == 0:
			row("5", "TUI frame and keystroke, 100k exchanges", "—", "≤ 5 ms", "not measured", "`"+r.Command+"` failed: "+r.Err)
		default:
			for _, b := range r.Benches {
				met, target := "yes", "≤ 5 ms"
				if b.PerOp > tuiTarget {
					met = "**no**"
				}
				if !isFrameBench(b.Name) {
					met, target = "—", "— (not a frame)"
				}
				extra := ""
				if b.Metrics != "" {
					extra = "; " + b.Metrics
				}
				row("5", "TUI `"+b.Name+"`, 100k exchanges", "**"+fmtDur(b.PerOp)+"**/op", target, met, fmt.Sprintf("%s allocs/op%s", b.Allocs, extra))
			}
		}
	}
	if m := rep.Memory; m != nil {
		met := "yes"
		if m.HeapPerExchange > 700 {
			met = "**no**"
		}
		row("6", "memory per recorded tools/call exchange (live heap after GC, store + analysis; its bodies, in memory here, included)", fmt.Sprintf("**%s B**", num(m.HeapPerExchange)), "≤ 700 B", met,
			fmt.Sprintf("over %s exchanges; capture file %s B per line; allocated %s B per exchange (load generator included)",
				num(float64(m.Exchanges)), num(m.CapturePerExchange), num(m.AllocPerExchange)))
		if m.CountedPerExchange > 0 {
			ratio := m.EstimatePerExchange / m.CountedPerExchange
			// Context, not the density target: below its bound the store keeps every body in memory; what it holds
			// in the same bytes is measured at the bound, in the row of `proxy`'s store below.
			row("6", "bytes the store counts a tools/call exchange below its bound, bodies in memory: the old estimate ÷ now (context: the density target is judged at the bound, below)", fmt.Sprintf("**%.2f×**", ratio), "—", "—",
				fmt.Sprintf("%s B counted now vs %s B by `Exchange.Size`'s estimate, which the store counted before; bodies of 4 KiB and more are kept in the capture file once written (none here); the count bound is %s (100,000 before)",
					num(m.CountedPerExchange), num(m.EstimatePerExchange), num(float64(recorder.DefaultStoreMaxCount))))
		}
	}
	if m := rep.Memory; m != nil && m.Proxy != nil {
		p := m.Proxy
		switch {
		case p.Skip != "":
			row("6", "peak RSS of `proxy` after many recorded exchanges, store at its default bound", "—", "≤ 256 MiB", "not measured", p.Skip)
		default:
			met := "yes"
			if p.Peak > 256<<20 {
				met = "**no**"
			}
			if p.Lines < 1_000_000 {
				met += fmt.Sprintf(" (after %s exchanges, not 1,000,000)", num(float64(p.Lines)))
			}
			errs := ""
			if p.Errors > 0 {
				errs = fmt.Sprintf("; %d failed calls: %s", p.Errors, p.ErrSample)
			}
			row("6", fmt.Sprintf("peak RSS of `proxy --no-tui` after %s recorded exchanges (capture lines: %s tools/calls, each the client's and the upstream's exchange), store at its default bound", num(float64(p.Lines)), num(float64(p.Calls))),
				"**"+mib(p.Peak)+"**", "≤ 256 MiB", met, fmt.Sprintf("RSS at the end %s; %s; past the bound the store forgets the oldest, the capture file keeps every line%s", mib(p.RSS), fmtDur(p.Took), errs))
			storeCapacityRow(row, p)
		}
	}
	if a, b := t("serve"), t("sdk"); a != nil && b != nil && a.Peak > 0 && b.Peak > 0 {
		n := uint64(0)
		for _, k := range []string{"serve", "serve-2026", "setup-serve"} {
			if x := t(k); x != nil {
				for _, m := range x.Runs {
					if m.Result != nil {
						n += m.Result.Answered
					}
				}
			}
		}
		row("6", "peak RSS (VmHWM) of `serve` (recording on) ÷ go-sdk alone, at the end of the run", fmt.Sprintf("**%.1f×**", float64(a.Peak)/float64(b.Peak)), "—", "—",
			fmt.Sprintf("%s vs %s, after %s exchanges recorded (recording off: %s; in memory only: %s)", mib(a.Peak), mib(b.Peak), num(float64(n)), mib(peakOf(t("serve-off"))), mib(peakOf(t("serve-mem")))))
	}
	if x := t("proxy"); x != nil && x.Peak > 0 {
		row("6", "peak RSS of `proxy` (recording on)", "—", "—", "—", fmt.Sprintf("%s (bare ReverseProxy %s, mitmdump %s)", mib(x.Peak), mib(peakOf(t("revproxy"))), mib(peakOf(t("mitmdump")))))
	}

	for _, g := range rep.Groups {
		fmt.Fprintf(w, "\n**%s**\n\n", g.Title)
		stream := len(g.Targets) > 0 && g.Targets[0].stream
		if g.Paced > 0 {
			fmt.Fprintln(w, "| target | calls/s | p50 | p99 | max | send lag p99 | calls sent late | server CPU/call | taken by the hypervisor (steal): servers' CPUs / load generator's | runs with errors |")
			fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
		} else if stream {
			fmt.Fprintln(w, "| target | first event p50 | p99 | max | p50, new connections | taken by the hypervisor (steal) | runs with errors |")
			fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
		} else {
			fmt.Fprintln(w, "| target | ops/s | p50 | p99 | server CPU/op | other processes on the servers' CPU | taken by the hypervisor (steal) | peak RSS | runs with errors |")
			fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
		}
		for _, x := range g.Targets {
			if x.Skip != "" {
				fmt.Fprintf(w, "| %s | not measured: %s |\n", x.Label, x.Skip)
				continue
			}
			s := summarise(x)
			errs := fmt.Sprint(s.errors)
			if s.errors > 0 {
				errs += ": " + tailString(s.errText, 200)
			}
			if stream {
				var mx []float64
				for _, m := range x.Runs {
					if m.First != nil {
						mx = append(mx, float64(m.First.Max))
					}
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", x.Label, d(s.first50.med), d(s.first99.med), d(statOf(mx).hi), d(s.cold50.med), stealShareOf(x), errs)
				continue
			}
			if g.Paced > 0 {
				var mx, lag, late []float64
				for _, m := range x.Runs {
					if m.Result != nil && m.Result.Paced != nil {
						p := m.Result.Paced
						mx = append(mx, float64(m.Result.Latency.Max))
						lag = append(lag, float64(p.Lag.P99))
						if p.Scheduled > 0 {
							late = append(late, 100*float64(p.Late)/float64(p.Scheduled))
						}
					}
				}
				cpu := d(s.cpu.med)
				if s.cpu.med == 0 {
					cpu = "— (serves other targets too)"
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.1f%% | %s | %s / %s | %s |\n", x.Label, num(s.tput.med), d(s.p50.med), d(s.p99.med), d(statOf(mx).med), d(statOf(lag).med), statOf(late).med, cpu, stealShareOf(x), loadStealShareOf(x), errs)
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.Label, num(s.tput.med), d(s.p50.med), d(s.p99.med), d(s.cpu.med), othersShare(x), stealShareOf(x), mib(x.Peak), errs)
		}
	}
	if r := rep.TUI; r != nil && r.Err != "" && len(r.Benches) > 0 {
		fmt.Fprintf(w, "\nTUI benchmarks: `%s` reported an error: %s\n", r.Command, r.Err)
	}
}

// isFrameBench reports a TUI benchmark of a frame or of a keystroke (the 5 ms target); the others measure memory
// or the analysis' report, taken on a tick off the keystroke path.
func isFrameBench(name string) bool {
	if strings.HasPrefix(name, "FilterPass/") && name != "FilterPass/100k" {
		return false // a pass over more rows than the list keeps (tui.MaxRows): why it keeps no more, not a keystroke
	}
	for _, p := range []string{"View", "Key", "Filter", "Arrivals", "ManyConnections"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// othersShare is how much of the servers' CPUs' time processes other than the run's used during a target's runs
// (wall time × the number of the servers' CPUs, cpuShare): the median over the rounds, and the worst. A round in
// which others used much of it measured the machine as much as the server.
func othersShare(t *target) string {
	return medianWorst(t, func(m measurement) float64 { return cpuShare(m.Others, m.Wall, serverCPUs) })
}

// stealShareOf is how much the hypervisor took from the servers' CPUs during a target's runs (measurement.Steal),
// as a share of their time (the runs' wall time × the number of the servers' CPUs, as --max-steal counts it in
// cpuShare): the median over its rounds, and the worst; "—" when the servers are not pinned (not measured).
func stealShareOf(t *target) string {
	return stealShare(t, serverCPUs, func(m measurement) time.Duration { return m.Steal })
}

// loadStealShareOf is stealShareOf for the load generator's CPUs (measurement.LoadSteal): a paced round's calls go
// out late when the hypervisor takes them.
func loadStealShareOf(t *target) string {
	return stealShare(t, loadCPUs, func(m measurement) time.Duration { return m.LoadSteal })
}

// stealShare is the median and the worst over t's runs of the time of(m), summed over the CPUs of the list cpus,
// as a share of their time (cpuShare); "—" when cpus is empty (not pinned, so not measured).
func stealShare(t *target, cpus string, of func(measurement) time.Duration) string {
	if len(cpuSet(cpus)) == 0 {
		return "—"
	}
	return medianWorst(t, func(m measurement) float64 { return cpuShare(of(m), m.Wall, cpus) })
}

// medianWorst is the median and the worst over t's runs (those with a wall time) of share, a percentage.
func medianWorst(t *target, share func(measurement) float64) string {
	var xs []float64
	for _, m := range t.Runs {
		if m.Wall > 0 {
			xs = append(xs, share(m))
		}
	}
	s := statOf(xs)
	if s.n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f%% (worst %.0f%%)", s.med, s.hi)
}

func peakOf(t *target) int64 {
	if t == nil {
		return 0
	}
	return t.Peak
}

func targetText(limit float64, has, ge bool) string {
	switch {
	case !has:
		return "—"
	case ge:
		return "≥ " + strconv.FormatFloat(limit, 'f', -1, 64) + "×"
	default:
		return "≤ " + strconv.FormatFloat(limit, 'f', -1, 64) + "×"
	}
}

func firstNonEmpty(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}

// perWhat names a group's operation.
func perWhat(g *group) string {
	if g.unit() == "sessions/s" {
		return "session"
	}
	return "call"
}

// pacedHeadroomRow is the harness check of a paced group: the load generator sent every target's calls on their
// schedule (each run that did not is a run with errors, out of the ratios), and how late it released them.
func pacedHeadroomRow(g *group, row func(n, what, ratio, target, met, numbers string)) {
	kept, runs := 0, 0
	var lag99, lim99, late []float64
	for _, x := range g.Targets {
		for _, m := range x.Runs {
			if m.Result == nil || m.Result.Paced == nil {
				continue
			}
			p := m.Result.Paced
			runs++
			if p.NotKept == "" && m.Err == "" {
				kept++
			}
			lag99 = append(lag99, float64(p.Lag.P99))
			if p.Scheduled > 0 {
				late = append(late, float64(p.Late)/float64(p.Scheduled))
			}
			if x.limit {
				lim99 = append(lim99, float64(m.Result.Latency.P99))
			}
		}
	}
	if runs == 0 {
		return
	}
	// the targets of a round share its window, and so what other processes used of the load generator's CPU
	var others []float64
	for _, x := range g.Targets {
		if x.Skip == "" && len(x.Runs) > 0 {
			for _, m := range x.Runs {
				if m.Wall > 0 {
					others = append(others, 100*float64(m.LoadOthers)/float64(m.Wall))
				}
			}
			break
		}
	}
	met := "yes"
	if kept < runs {
		met = "**no**"
	}
	so := statOf(others)
	sl := statOf(late)
	row("0", fmt.Sprintf("harness check, %s: every run sent its calls on schedule at %s calls/s in all (≤ 1%% of them more than %s late)", g.Key, num(g.Paced), fmtDur(loadgen.LateAfter)),
		fmt.Sprintf("**%d of %d** runs", kept, runs), "all", met,
		fmt.Sprintf("calls sent more than %s late: median %.1f%%, worst %.1f%% of a run; send lag from the schedule, p99 of each run: median %s, worst %s (the load generator's own delay and the wait for a free client, inside every latency below: a late run stays in the numbers, a run with calls never sent does not); other processes used %.0f%% of the load generator's CPU in a round (median; worst %.0f%%: the machine's share of the lateness); direct p99 %s",
			fmtDur(loadgen.LateAfter), 100*sl.med, 100*sl.hi, d(statOf(lag99).med), d(statOf(lag99).hi), so.med, so.hi, d(statOf(lim99).med)))
}

// harnessHeadroom is how much faster than the fastest other server the plain handler must be for the ratios to
// measure the servers rather than the load generator.
const harnessHeadroom = 2.0

// headroomRow shows, for each call group with the plain handler, the plain handler's throughput against the
// fastest other target in the same run: the load generator reached the plain handler's rate, so a server far
// below it is the bottleneck of its own row.
func headroomRow(w io.Writer, rep *report, row func(n, what, ratio, target, met, numbers string)) {
	for _, g := range rep.Groups {
		if g.Paced > 0 {
			pacedHeadroomRow(g, row)
			continue
		}
		var plain *target
		var best *target
		bestT := 0.0
		for _, x := range g.Targets {
			if x.stream || x.Skip != "" {
				continue
			}
			if x.limit {
				plain = x
				continue
			}
			if s := summarise(x); s.tput.med > bestT {
				best, bestT = x, s.tput.med
			}
		}
		if plain == nil || best == nil {
			continue
		}
		s := statOf(perRound(plain, best, throughputRatio))
		sp := summarise(plain)
		var busy, perCall []float64
		for _, m := range plain.Runs {
			if m.Result != nil && m.Result.Completed > 0 {
				busy = append(busy, m.loadBusy())
				perCall = append(perCall, float64(m.Load)/float64(m.Result.Completed))
			}
		}
		row("0", "harness check, "+g.Key+": plain net/http handler ÷ the fastest other target ("+best.Key+")", s.ratio(),
			fmt.Sprintf("≥ %.2g×", harnessHeadroom), verdict(s, harnessHeadroom, true),
			fmt.Sprintf("%s vs %s %s; the load generator reached the plain handler's rate (using %.0f%% of a CPU, %s of CPU per %s), so the other rows measure their servers%s",
				num(sp.tput.med), num(bestT), g.unit(), 100*statOf(busy).med, d(statOf(perCall).med), perWhat(g), machineOthers(g)))
	}
}

// machineOthers says how much of the servers' CPU processes other than the run's used during a group's runs
// (othersShare, over all its targets' runs): a quiet machine's runs measure the servers; a busy one's measure it
// too. Empty when not measured (servers not pinned, or a report written before it was).
func machineOthers(g *group) string {
	var xs, st []float64
	for _, x := range g.Targets {
		for _, m := range x.Runs {
			if m.Wall > 0 && m.Result != nil {
				xs = append(xs, cpuShare(m.Others, m.Wall, serverCPUs))
				st = append(st, cpuShare(m.Steal, m.Wall, serverCPUs))
			}
		}
	}
	var out string
	if s := statOf(xs); s.n > 0 && s.hi > 0 {
		out = fmt.Sprintf("; other processes used %.0f%% of the servers' CPU during a run (median; worst %.0f%%)", s.med, s.hi)
	}
	if s := statOf(st); s.n > 0 && s.hi > 0 {
		out += fmt.Sprintf("; the hypervisor took %.0f%% of their time (steal: median; worst %.0f%%)", s.med, s.hi)
	}
	if g.RunAgain > 0 {
		out += fmt.Sprintf("; %d round(s) run again because the hypervisor took more than --max-steal of it", g.RunAgain)
	}
	if g.StolenKept > 0 {
		out += fmt.Sprintf("; **%d round(s) kept although it did, in every attempt**", g.StolenKept)
	}
	return out
}

// storeCapacityRow is issue 18's "at least 10× more exchanges than today in the same bytes", measured where it is
// judged: the exchanges `proxy --no-tui` holds at its default bound at the end of the run ÷ those the same bytes
// held by the estimate of 2026-12-02 (DefaultStoreMaxBytes ÷ 1,724 B).
func storeCapacityRow(row func(group, what, value, target, met, notes string), p *proxyMemory) {
	const what = "exchanges `proxy --no-tui` holds at its default bound ÷ the old estimate's count in the same bytes (128 MiB ÷ 1,724 B)"
	old := float64(recorder.DefaultStoreMaxBytes) / oldEstimate
	if p.Held == 0 {
		row("6", what, "—", "≥ 10×", "not measured", "the store's stats were not read: "+p.StatsErr)
		return
	}
	ratio := float64(p.Held) / old
	met := "yes"
	if ratio < 10 {
		met = "**no**"
	}
	if p.Evicted == 0 && p.Held < recorder.DefaultStoreMaxCount {
		met += " (the store never reached its bound)"
	}
	forgotten := "none"
	if p.Evicted > 0 {
		forgotten = num(float64(p.Evicted))
	}
	row("6", what, fmt.Sprintf("**%.2f×**", ratio), "≥ 10×", met,
		fmt.Sprintf("%s exchanges held (%s B counted, %s B each; %s forgotten) against %s; with a capture file the store lets go of the bodies of its oldest written exchanges before it forgets any (they stay in the capture file); the count bound is %s",
			num(float64(p.Held)), num(float64(p.StoreBytes)), num(float64(p.StoreBytes)/float64(p.Held)), forgotten, num(old), num(float64(recorder.DefaultStoreMaxCount))))
}
