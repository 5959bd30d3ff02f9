// Package headless prints exchanges as they complete, one line each with their stage and client, and the
// findings of the handshake analysis as they appear, for `mcpwatch serve --no-tui` and for runs whose stdout is
// not a terminal.
package headless

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/internal/durfmt"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// Options choose the output form and, for Run and Print (which analyse themselves), the analysis. Watch prints a
// session's analysis service, whose own options carry the analysis and its clock: JSON alone matters there.
type Options struct {
	// JSON prints events as JSON lines (see Event) instead of text.
	JSON bool
	// Analysis configures the handshake analysis (the MCP path in proxy mode, the grace of absence rules;
	// MaxExchanges, the analysis' window: analysis.DefaultWindow unless set).
	Analysis analysis.Options
	// Tick is how often rules about something that never happened are judged while nothing arrives (default 1s).
	Tick time.Duration
	// Now is the clock those rules are judged by (default time.Now; Print: the end of the capture).
	Now func() time.Time
}

// Event is one line of --json output.
//
//	{"event":"exchange", "stage":…, "status":…, "client":…, "connection":…, "era":…, "findings":[rule ids], "exchange":{…}}
//	{"event":"finding", "finding":{"rule", "severity", "summary", "fix", "source", "exchange", "connection", "toggle", "at", "count"}}
//	{"event":"dropped", "dropped":N}
//
// An exchange event is written when the exchange completes; a finding event when the finding first appears (once
// per rule and connection; its count then grows in the analysis, not in the output) — right after the exchange
// that revealed it, or, for a rule about a connection as a whole or about something that never happened, at the
// next tick; a dropped event when the printer missed updates because it could not keep up.
type Event struct {
	Event      string               `json:"event"`
	Stage      analysis.Stage       `json:"stage,omitempty"`
	Status     analysis.StageStatus `json:"status,omitempty"`
	Client     analysis.ClientKind  `json:"client,omitempty"`
	Connection string               `json:"connection,omitempty"`
	Era        string               `json:"era,omitempty"`
	Findings   []string             `json:"findings,omitempty"`
	Exchange   *recorder.Exchange   `json:"exchange,omitempty"`
	Finding    *analysis.Finding    `json:"finding,omitempty"`
	Dropped    uint64               `json:"dropped,omitempty"`
}

// Event names.
const (
	EventExchange = "exchange"
	EventFinding  = "finding"
	EventDropped  = "dropped"
)

// Run prints every completed exchange from sub (a subscription to store) to w until ctx ends or sub closes, and
// every finding when it appears. Updates the subscription lost are reported as one line so that a gap is never
// silent. It runs an analysis service of its own over sub (Watch prints a session's service).
func Run(ctx context.Context, store *recorder.Store, sub *recorder.Subscription, w io.Writer, opts Options) error {
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	svc := live.New(live.Options{Analysis: opts.Analysis, Clock: opts.Now, JudgeEvery: opts.Tick})
	defer svc.Close()
	lsub := svc.Subscribe()
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	go svc.Follow(fctx, sub, store)
	return Watch(ctx, lsub, w, opts)
}

// Watch prints what a session's analysis service publishes (the service is fed from the store, Service.Follow)
// until ctx ends or the service finishes: each exchange once, when it is complete, with its stage, client and
// connection, then the findings the analysis named when it observed it; each finding of a report when it first
// appears (rules about a connection as a whole, or about something that never happened, judged at the
// service's clock every Options.Tick); and a line when the feeder missed updates. The service's Options carry
// the analysis options and the clock: opts.JSON alone matters here.
func Watch(ctx context.Context, sub *live.Subscription, w io.Writer, opts Options) error {
	p := &printer{bw: bufio.NewWriter(w), opts: opts, printed: map[string]uint64{}}
	return p.watch(ctx, sub)
}

func (p *printer) watch(ctx context.Context, sub *live.Subscription) error {
	var reported uint64
	epoch := 0
	for {
		m, ok := sub.Next(ctx)
		if !ok {
			return p.bw.Flush()
		}
		if m.Dropped > reported {
			if err := p.dropped(m.Dropped - reported); err != nil {
				return err
			}
			reported = m.Dropped
		}
		if m.Epoch != epoch {
			epoch = m.Epoch
			p.shown.reset()
		}
		for _, in := range m.Infos {
			if p.shown.has(in.ID) || in.Exchange == nil || in.Exchange.State != recorder.StateComplete && in.Exchange.State != "" {
				continue
			}
			p.shown.add(in.ID)
			if err := p.exchange(in.Exchange, in.Info); err != nil {
				return err
			}
		}
		// Forget the exchanges the feeder let go once they are half the set (amortised O(1) an exchange).
		if p.shown.forget(m.From) {
			p.prunes++
		}
		if m.Report != nil {
			if err := p.print(m.Report.Findings); err != nil {
				return err
			}
			p.forgetFindings(m.Report.Findings, m.From)
		}
		// Flush per message, so a tail -f or a pipe sees each line at once.
		if err := p.bw.Flush(); err != nil {
			return err
		}
		if m.Final {
			return nil
		}
	}
}

// Print prints a saved capture as Run prints a live run: each exchange's line (or event) with its stage, client
// and connection, in the order the analysis settles them (recorded order: when their response started), each
// finding right after the exchange that revealed it, then the rules about a connection as a whole or about
// something that never happened, judged at Options.Now (default: the end of the capture, as the TUI judges a
// saved one).
func Print(w io.Writer, exs []*recorder.Exchange, opts Options) error {
	if opts.Now == nil {
		opts.Now = func() time.Time { return time.Time{} }
	}
	p := &printer{bw: bufio.NewWriter(w), opts: opts, printed: map[string]uint64{}}
	an := analysis.New(opts.Analysis)
	for _, ex := range analysis.SettleOrder(exs) {
		an.Observe(ex)
		an.SetNow(opts.Now())
		if err := p.exchange(ex, an.Info(ex.ID)); err != nil {
			return err
		}
	}
	an.End() // a saved capture: judged as the live session judged it once the grace had passed
	an.SetNow(opts.Now())
	if err := p.print(an.Report().Findings); err != nil {
		return err
	}
	return p.bw.Flush()
}

type printer struct {
	bw      *bufio.Writer
	opts    Options
	printed map[string]uint64 // finding keys already printed → the finding's exchange
	shown   idSet             // exchanges already printed (Watch)
	line    []byte            // the line being written (reused)
	// printedKept is the size of printed after it was last pruned; prunes counts the prunes (tests).
	printedKept, prunes int
}

// exchange prints an exchange's line (or event) and the findings the analysis named when it observed it.
func (p *printer) exchange(ex *recorder.Exchange, in analysis.Info) error {
	if p.opts.JSON {
		ev := Event{Event: EventExchange, Stage: in.Stage, Status: in.Status, Client: in.Client, Connection: in.Connection,
			Era: in.Era, Exchange: ex}
		for _, f := range in.Findings {
			ev.Findings = append(ev.Findings, f.Rule)
		}
		if err := p.json(ev); err != nil {
			return err
		}
	} else {
		p.line = append(appendLine(p.line[:0], ex, &in), '\n')
		if _, err := p.bw.Write(p.line); err != nil {
			return err
		}
	}
	// What the exchange revealed is in its Info: O(1), whatever the number of connections. Rules about a
	// connection as a whole come with the next report.
	return p.print(in.Findings)
}

// forgetFindings lets go of the printed findings that the analysis no longer reports and whose exchange the feeder
// let go, once the set doubled since the last time (amortised O(1) a finding): over a long public session every
// connection a stranger opens adds findings, and the analysis forgets them as the store does.
func (p *printer) forgetFindings(report []analysis.Finding, from uint64) {
	if len(p.printed) <= 2*max(p.printedKept, 4096) {
		return
	}
	reported := make(map[string]bool, len(report))
	for _, f := range report {
		reported[f.Key()] = true
	}
	maps.DeleteFunc(p.printed, func(k string, id uint64) bool { return id < from && !reported[k] })
	p.printedKept = len(p.printed)
	p.prunes++
}

func (p *printer) print(fs []analysis.Finding) error {
	for _, f := range fs {
		k := f.Key()
		if _, done := p.printed[k]; done {
			continue
		}
		p.printed[k] = f.ExchangeID
		if p.opts.JSON {
			if err := p.json(Event{Event: EventFinding, Finding: &f}); err != nil {
				return err
			}
			continue
		}
		if _, err := fmt.Fprintln(p.bw, findingLine(f)); err != nil {
			return err
		}
	}
	return nil
}

func (p *printer) dropped(n uint64) error {
	if p.opts.JSON {
		return p.json(Event{Event: EventDropped, Dropped: n})
	}
	_, err := fmt.Fprintf(p.bw, "# %d updates were not shown: the output could not keep up\n", n)
	return err
}

func (p *printer) json(ev Event) error {
	return json.NewEncoder(p.bw).Encode(ev)
}

// Line is the text form of an exchange without its analysis: time, method, path, JSON-RPC method, status,
// duration, then what is worth knowing: "rpc-error=CODE", "error=…", and for an outbound exchange (mcpwatch's own
// request: the upstream's copy of a request in proxy mode, a client ID metadata document fetch) "→" and the
// origin it went to.
func Line(ex *recorder.Exchange) string { return string(appendLine(nil, ex, nil)) }

// appendLine appends an exchange's line to dst — Line, or with the stage (with "!" when it failed), client and
// connection after the duration when in is set — without fmt: the printer writes one for every exchange, and
// formatting with fmt cost two dozen allocations a line.
func appendLine(dst []byte, ex *recorder.Exchange, in *analysis.Info) []byte {
	rpc := ex.RPCMethod()
	if rpc == "" {
		rpc = "-"
	}
	dst = appendClock(dst, ex.Start)
	dst = append(dst, ' ')
	dst = appendPadded(dst, ex.Method, 6, false)
	dst = append(dst, ' ')
	dst = appendPadded(dst, ex.Path(), 44, false)
	dst = append(dst, ' ')
	dst = appendPadded(dst, rpc, 28, false)
	dst = append(dst, ' ')
	if ex.Error != "" && ex.Status == 0 {
		dst = appendPadded(dst, "ERR", 3, true)
	} else {
		var n [20]byte
		dst = appendPadded(dst, strconv.AppendInt(n[:0], int64(ex.Status), 10), 3, true)
	}
	dst = append(dst, ' ')
	var d [32]byte
	dst = appendPadded(dst, durfmt.AppendSig3(d[:0], ex.Timings.Total), 8, true)
	if in != nil {
		stage := string(in.Stage)
		if in.Status == analysis.StatusFailed {
			stage += "!"
		}
		conn := in.Connection
		if conn == "" {
			conn = "-"
		}
		client := string(in.Client)
		if client == "" {
			client = string(analysis.ClientUnknown)
		}
		dst = append(dst, "  "...)
		dst = appendPadded(dst, stage, 18, false)
		dst = append(dst, ' ')
		dst = appendPadded(dst, client, 11, false)
		dst = append(dst, ' ')
		dst = append(dst, conn...)
	}
	if code, _, ok := ex.RPCError(); ok {
		dst = append(dst, " rpc-error="...)
		dst = strconv.AppendInt(dst, int64(code), 10)
	}
	if ex.Error != "" {
		dst = append(dst, " error="...)
		dst = strconv.AppendQuote(dst, ex.Error)
	}
	if ex.Kind == recorder.Outbound {
		dst = append(dst, " → "...)
		dst = append(dst, origin(ex.URL)...)
	}
	return dst
}

// appendPadded appends s padded with spaces to width characters (runes, as fmt counts them), on the left when
// right is set (right-aligned), else on the right. The printer pads five columns of every line: the spaces are
// appended at once, and an ASCII s (nearly every one) is counted by its length.
func appendPadded[S string | []byte](dst []byte, s S, width int, right bool) []byte {
	pad := width - runeCount(s)
	if right {
		dst = appendSpaces(dst, pad)
		return append(dst, s...)
	}
	return appendSpaces(append(dst, s...), pad)
}

// spaces is what appendSpaces appends from.
const spaces = "                                                                "

// appendSpaces appends n spaces (none when n ≤ 0).
func appendSpaces(dst []byte, n int) []byte {
	for n > len(spaces) {
		dst = append(dst, spaces...)
		n -= len(spaces)
	}
	if n > 0 {
		dst = append(dst, spaces[:n]...)
	}
	return dst
}

// runeCount is utf8.RuneCountInString(s): the length of an ASCII s.
func runeCount[S string | []byte](s S) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return utf8.RuneCountInString(string(s))
		}
	}
	return len(s)
}

// appendClock appends t as t.AppendFormat(dst, "15:04:05.000") does (the fraction cut, not rounded), without
// parsing the layout for every line.
func appendClock(dst []byte, t time.Time) []byte {
	h, m, s := t.Clock()
	ms := t.Nanosecond() / int(time.Millisecond)
	return append(dst, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
}

// origin is the scheme and host of an absolute URL ("" for anything else): the start of u, not a copy (the
// printer writes it for every upstream copy a proxy records).
func origin(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return u[:len(scheme)+len("://")+len(rest)]
}

// findingLine is the text form of a finding, prefixed so that it stands out:
//
//	! warn session-not-echoed [c1 #12]: The client sent … — Claude often omits … (source: …)
func findingLine(f analysis.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "! %s %s [%s #%d", f.Severity, f.Rule, f.Connection, f.ExchangeID)
	if f.Toggle != "" {
		fmt.Fprintf(&b, ", toggle %s", f.Toggle)
	}
	fmt.Fprintf(&b, "]: %s — %s (source: %s)", f.Summary, f.Fix, f.Source)
	return b.String()
}
