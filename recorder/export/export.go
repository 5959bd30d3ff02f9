// Package export turns recorded exchanges into files to share: HAR 1.2 (for browser DevTools and HAR viewers),
// JSONL (the capture format, re-loadable), a Markdown transcript that tells the handshake's story stage by stage,
// and a bash script of curl commands that replays the requests.
//
// Secrets are redacted by default in every format (see Redact); Options.NoRedact keeps them.
package export

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// Options of an export. The zero value redacts secrets.
type Options struct {
	// NoRedact keeps secrets (Authorization, cookies, OAuth codes, verifiers, tokens, client secrets, CSRF tokens).
	// The zero value redacts, so that no caller leaks them by forgetting a field.
	NoRedact bool
	// Base replaces the scheme and host of inbound requests in curl commands (replay against another server),
	// e.g. http://localhost:4000. Empty: the URL the client used.
	Base string
	// Version is the mcpwatch version named as the HAR creator and in headers (default "dev").
	Version string
	// Analysis options, used when Analysed is nil.
	Analysis analysis.Options
	// Analysed, when set, is the analysis of the session the exchanges come from (the TUI's export: its session's
	// analysis service, live.Service.Analysed): the export writes what the TUI shows instead of analysing the
	// exchanges afresh. Otherwise (a capture file: `mcpwatch export FILE`) the export analyses them itself.
	//
	// An export of a subset (the TUI's filtered view) carries the service's connections that have an exchange in
	// it, and the service's findings whose exchange is in it or whose connection is: a finding about a
	// connection's handshake stays with any part of that connection exported, and findings of connections with no
	// exchange exported are left out.
	Analysed *live.Analysed
	// Progress, when set, is told how far the export got (every thousand exchanges read, and at the end of each
	// pass), from the goroutine that writes.
	Progress func(Progress)
}

// Exchanges are what an export writes, walked rather than held: Len exchanges, the i-th materialised by At(i)
// (with its bodies) each time the export asks for it, and dropped once used. An export walks them a few times
// (see doc), so that it holds a bounded number of them at once whatever their count: a store's million
// exchanges, with their bodies read back from the capture file, would take gigabytes held together. At returns
// nil for one that is gone (a store that forgot it meanwhile): it is left out and counted (Result.Gone). A source
// that can fail to read one (a file) may also have an Err() error method: when it returns an error once the
// exchanges are written, the export fails with it (WriteFileFrom then leaves the old file as it was).
type Exchanges interface {
	Len() int
	At(i int) *recorder.Exchange
}

// Slice is exchanges already in memory, as Exchanges.
type Slice []*recorder.Exchange

// Len is the number of exchanges.
func (s Slice) Len() int { return len(s) }

// At is the i-th exchange.
func (s Slice) At(i int) *recorder.Exchange { return s[i] }

// Result says what an export wrote.
type Result struct {
	Written int // exchanges written
	Gone    int // exchanges At returned nil for (forgotten by a store before or while the export read them): not written
	Unread  int // bodies the exchanges written lack (a recorder.NoteBody note: the capture file no longer had them)
}

// Progress is how far an export got: pass Pass of Passes over the Total exchanges, Done of them read in it.
type Progress struct{ Pass, Passes, Done, Total int }

// progressEvery is how many exchanges an export reads between two calls of Options.Progress.
const progressEvery = 1000

// doc is what every writer works from: the exchanges in order, as keys (light: no exchange is held), each read
// again when it is written (redacted unless asked not to, load); and what the analysis says of them (computed on
// the originals, its text scrubbed of the secrets found). What must be known of the whole set before the first
// byte is written is found in passes over the exchanges, one at a time: prepare's (the order, duplicate ids, the
// secrets to sweep, the analysis when none is given), and the writer's own (Markdown's summary).
type doc struct {
	opts   Options
	src    Exchanges
	keys   []key // the exchanges in the order they are written: by start, then id
	info   map[uint64]analysis.Info
	report *analysis.Report
	red    *redactor // nil with NoRedact
	// renumbered is true when the input held duplicate ids (a capture file appended to by several runs).
	renumbered bool

	res      Result
	goneLate map[int]bool // indexes At returned nil for after prepare's pass
	pass     Progress
	passes   int // prepareFrom's and the writer's
	// found is findings' answer, computed once the report is final (at the first call); byExchange indexes it.
	found      []analysis.Finding
	byExchange map[uint64][]int
	foundDone  bool

	// exs is filled by prepare only (the exchanges as written, all at once, for a writer that takes them so); the
	// streaming writers never read it.
	exs []*recorder.Exchange
}

// key is what the export keeps of an exchange between its passes.
type key struct {
	start time.Time
	wait  time.Duration // Timings.Wait: start+wait orders the exchanges as a live analyzer settled them
	total time.Duration // Timings.Total
	id    uint64        // renumbered when the input's ids were not unique
	i     int           // its index in Exchanges
	out   bool          // outbound
}

// prepareFrom reads every exchange once (the keys, the secrets to sweep) and analyses them when Options.Analysed
// does not say (a second pass, in the order a live analyzer settled them).
// own is how many passes the writer makes after prepareFrom's.
func prepareFrom(src Exchanges, opts Options, own int) *doc {
	if opts.Version == "" {
		opts.Version = "dev"
	}
	d := &doc{opts: opts, src: src, info: map[uint64]analysis.Info{}}
	if !opts.NoRedact {
		d.red = newRedactor()
	}
	passes := 1 + own
	if opts.Analysed == nil {
		passes++
	}
	d.passes = passes
	n := src.Len()
	d.begin(1, passes, n)
	for i := range n {
		d.tick()
		ex := src.At(i)
		if ex == nil {
			d.res.Gone++
			continue
		}
		d.keys = append(d.keys, key{start: ex.Start, wait: ex.Timings.Wait, total: ex.Timings.Total, id: ex.ID, i: i,
			out: ex.Kind == recorder.Outbound})
		if d.red != nil {
			d.red.structural(ex) // notes the secrets; the copy is dropped (load redacts again)
		}
	}
	slices.SortStableFunc(d.keys, func(a, b key) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	// Ids must be unique for the analysis and for cross-references; a capture file reused by several runs
	// restarts them at 1.
	ids := make([]uint64, len(d.keys))
	for i, k := range d.keys {
		ids[i] = k.id
	}
	slices.Sort(ids)
	for i, id := range ids {
		if id == 0 || i > 0 && ids[i-1] == id {
			d.renumbered = true
			break
		}
	}
	ids = nil
	if d.renumbered && opts.Analysed == nil {
		for i := range d.keys {
			d.keys[i].id = uint64(i + 1)
		}
	}

	if opts.Analysed != nil {
		d.info, d.report = subset(opts.Analysed, d.keys)
	} else {
		// The exchanges are a capture that ended, observed in the order a live analyzer settled them
		// (analysis.SettleOrder): what `mcpwatch open` and the live session say of them.
		order := slices.Clone(d.keys)
		slices.SortStableFunc(order, func(x, y key) int {
			if c := x.start.Add(x.wait).Compare(y.start.Add(y.wait)); c != 0 {
				return c
			}
			return cmp.Compare(x.id, y.id)
		})
		a := analysis.New(opts.Analysis)
		d.begin(2, passes, len(order))
		for _, k := range order {
			d.tick()
			if ex := d.raw(k); ex != nil {
				a.Observe(ex)
			}
		}
		order = nil
		a.End()
		for _, k := range d.keys {
			d.info[k.id] = a.Info(k.id)
		}
		d.report = a.Report()
	}
	if d.report == nil {
		d.report = &analysis.Report{}
	}
	if d.red != nil {
		d.red.build()
	}
	return d
}

// begin starts a pass over n exchanges, for Options.Progress.
func (d *doc) begin(pass, passes, n int) {
	d.pass = Progress{Pass: pass, Passes: passes, Total: n}
	if d.opts.Progress != nil {
		d.opts.Progress(d.pass)
	}
}

// tick counts an exchange read in the pass.
func (d *doc) tick() {
	d.pass.Done++
	if d.opts.Progress != nil && (d.pass.Done%progressEvery == 0 || d.pass.Done == d.pass.Total) {
		d.opts.Progress(d.pass)
	}
}

// raw reads the exchange of k again, renumbered as the keys are; nil when it is gone.
func (d *doc) raw(k key) *recorder.Exchange {
	ex := d.src.At(k.i)
	if ex == nil {
		if d.goneLate == nil {
			d.goneLate = map[int]bool{}
		}
		if !d.goneLate[k.i] {
			d.goneLate[k.i] = true
			d.res.Gone++
		}
		return nil
	}
	if ex.ID != k.id {
		c := *ex
		c.ID = k.id
		ex = &c
	}
	return ex
}

// load reads the exchange of k again as the writers see it: renumbered, redacted unless asked not to; nil when
// it is gone.
func (d *doc) load(k key) *recorder.Exchange {
	ex := d.raw(k)
	if ex == nil || d.red == nil {
		return ex
	}
	c := d.red.structural(ex)
	d.red.sweepExchange(c)
	return c
}

// each loads every exchange in order, in a pass of the writer's own (Options.Progress), calling f with its
// position in the keys.
func (d *doc) each(f func(pos int, ex *recorder.Exchange)) {
	d.nextPass(len(d.keys))
	for pos, k := range d.keys {
		d.tick()
		if ex := d.load(k); ex != nil {
			f(pos, ex)
		}
	}
}

// eachAt loads the exchanges at the positions at, in the current pass, calling f with each.
func (d *doc) eachAt(at []int, f func(pos int, ex *recorder.Exchange)) {
	for _, pos := range at {
		d.tick()
		if ex := d.load(d.keys[pos]); ex != nil {
			f(pos, ex)
		}
	}
}

// nextPass starts the next pass, over n exchanges.
func (d *doc) nextPass(n int) {
	d.begin(min(d.pass.Pass+1, d.passes), d.passes, n)
}

// written counts an exchange written (and the bodies it lacks).
func (d *doc) written(ex *recorder.Exchange) {
	d.res.Written++
	d.res.Unread += unread(ex)
}

// unread is how many of its bodies an exchange read back from a store lacks.
func unread(ex *recorder.Exchange) int {
	n := 0
	for _, note := range ex.Notes {
		if note.Key == recorder.NoteBody {
			n++
		}
	}
	return n
}

// prepare is prepareFrom over exchanges in memory, with the exchanges as the writers see them (sorted, renumbered,
// redacted) in d.exs, all at once: for a writer of formatSpec.write's kind.
func prepare(in []*recorder.Exchange, opts Options) *doc {
	d := prepareFrom(Slice(in), opts, 1)
	for _, k := range d.keys {
		if ex := d.load(k); ex != nil {
			d.exs = append(d.exs, ex)
		}
	}
	return d
}

// subset is what an export of the exchanges of keys carries of a session's analysis (see Options.Analysed): the infos of the
// exchanges exported; the connections with an exchange exported; the findings whose exchange is exported or whose
// connection is carried.
func subset(a *live.Analysed, keys []key) (map[uint64]analysis.Info, *analysis.Report) {
	info := a.Infos // looked up by the exchanges exported only: those it has of others are never read
	if info == nil {
		info = map[uint64]analysis.Info{}
	}
	ids := make(map[uint64]bool, len(keys))
	conns := map[string]bool{}
	for _, k := range keys {
		ids[k.id] = true
		if in := info[k.id]; in.Connection != "" {
			conns[in.Connection] = true
		}
	}
	rep := &analysis.Report{Connections: []*analysis.Connection{}, Findings: []analysis.Finding{}}
	if a.Report == nil {
		return info, rep
	}
	for _, c := range a.Report.Connections {
		if conns[c.ID] || slices.ContainsFunc(c.Exchanges, func(id uint64) bool { return ids[id] }) {
			conns[c.ID] = true
			rep.Connections = append(rep.Connections, c)
		}
	}
	for _, f := range a.Report.Findings {
		if ids[f.ExchangeID] || conns[f.Connection] {
			rep.Findings = append(rep.Findings, f)
		}
	}
	return info, rep
}

// text scrubs free text (findings, notes) of the secrets the redactor found.
func (d *doc) text(s string) string {
	if d.red == nil {
		return s
	}
	return d.red.sweep(s)
}

// stage of an exchange, from the analysis (StageOf when the analysis has nothing to say).
func (d *doc) stage(ex *recorder.Exchange) analysis.Stage {
	if s := d.info[ex.ID].Stage; s != "" {
		return s
	}
	return analysis.StageOf(ex, d.mcpPath())
}

func (d *doc) mcpPath() string {
	if d.opts.Analysis.MCPPath != "" {
		return d.opts.Analysis.MCPPath
	}
	return "/mcp"
}

// findings returns every finding once: the report's, then any an exchange's info has that the report lacks. It
// is computed once, when first asked (the report is final by then), and indexed by exchange (exchangeFindings).
func (d *doc) findings() []analysis.Finding {
	if d.foundDone {
		return d.found
	}
	d.foundDone = true
	var out []analysis.Finding
	seen := map[string]bool{}
	add := func(f analysis.Finding) {
		k := fmt.Sprintf("%s|%d|%s|%s", f.Rule, f.ExchangeID, f.Connection, f.Summary)
		if !seen[k] {
			seen[k] = true
			out = append(out, d.scrub(f))
		}
	}
	for _, f := range d.report.Findings {
		add(f)
	}
	for _, c := range d.report.Connections {
		for _, f := range c.Findings {
			add(f)
		}
	}
	for _, k := range d.keys {
		for _, f := range d.info[k.id].Findings {
			if f.ExchangeID == 0 {
				f.ExchangeID = k.id
			}
			add(f)
		}
	}
	d.found = out
	d.byExchange = map[uint64][]int{}
	for i, f := range out {
		d.byExchange[f.ExchangeID] = append(d.byExchange[f.ExchangeID], i)
	}
	return out
}

// exchangeFindings are the findings attached to one exchange.
func (d *doc) exchangeFindings(id uint64) []analysis.Finding {
	d.findings()
	var out []analysis.Finding
	for _, i := range d.byExchange[id] {
		out = append(out, d.found[i])
	}
	return out
}

func (d *doc) scrub(f analysis.Finding) analysis.Finding {
	f.Summary, f.Fix, f.Source = d.text(f.Summary), d.text(f.Fix), d.text(f.Source)
	return f
}

// origin returns the scheme and host the client used for an inbound request: X-Forwarded-Proto/-Host (or
// Forwarded) from a tunnel when present, else http and the Host header.
func origin(ex *recorder.Exchange) (scheme, host string) {
	scheme, host = "http", ex.Host
	if host == "" {
		host = ex.ReqHeaders.Get("Host")
	}
	if fwd := ex.ReqHeaders.Get("Forwarded"); fwd != "" {
		first, _, _ := strings.Cut(fwd, ",")
		for _, kv := range strings.Split(first, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			v = strings.Trim(v, `"`)
			switch strings.ToLower(k) {
			case "proto":
				if v == "https" || v == "http" {
					scheme = v
				}
			case "host":
				if v != "" {
					host = v
				}
			}
		}
	}
	if p := firstValue(ex.ReqHeaders.Get("X-Forwarded-Proto")); p == "https" || p == "http" {
		scheme = p
	}
	if h := firstValue(ex.ReqHeaders.Get("X-Forwarded-Host")); h != "" {
		host = h
	}
	if host == "" {
		host = "localhost"
	}
	return scheme, host
}

func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.ToLower(strings.TrimSpace(v))
}

// absoluteURL is the URL the client asked for: outbound exchanges record it whole, inbound ones record the
// request target, to which the origin is added.
func absoluteURL(ex *recorder.Exchange) string {
	if ex.IsAbsolute() {
		return ex.URL
	}
	scheme, host := origin(ex)
	target := ex.URL
	if !strings.HasPrefix(target, "/") {
		target = "/" + target
	}
	return scheme + "://" + host + target
}

// rawQuery is the query of an exchange's URL, without the '?'.
func rawQuery(ex *recorder.Exchange) string {
	t := ex.Target()
	if _, q, ok := strings.Cut(t, "?"); ok {
		return q
	}
	return ""
}

// pair is a decoded name/value pair of a query string or a form, in order.
type pair struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// parsePairs splits an application/x-www-form-urlencoded string, keeping order and duplicates; an undecodable
// part is kept as it was.
func parsePairs(s string) []pair {
	out := []pair{}
	if s == "" {
		return out
	}
	for _, part := range strings.Split(s, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		out = append(out, pair{k, v})
	}
	return out
}

// serverIP is the server's address when the request named it as an IP literal.
func serverIP(ex *recorder.Exchange) string {
	u, err := url.Parse(absoluteURL(ex))
	if err != nil {
		return ""
	}
	h := u.Hostname()
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return ""
}

func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}
