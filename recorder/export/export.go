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
}

// doc is what every writer works from: the exchanges in order (redacted unless asked not to), and what the
// analysis says of them (computed on the originals, its text scrubbed of the secrets found).
type doc struct {
	opts   Options
	exs    []*recorder.Exchange
	info   map[uint64]analysis.Info
	report *analysis.Report
	red    *redactor // nil with NoRedact
	// renumbered is true when the input held duplicate ids (a capture file appended to by several runs).
	renumbered bool
}

func prepare(in []*recorder.Exchange, opts Options) *doc {
	if opts.Version == "" {
		opts.Version = "dev"
	}
	d := &doc{opts: opts, info: map[uint64]analysis.Info{}}
	exs := slices.Clone(in)
	exs = slices.DeleteFunc(exs, func(ex *recorder.Exchange) bool { return ex == nil })
	slices.SortStableFunc(exs, func(a, b *recorder.Exchange) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	// Ids must be unique for the analysis and for cross-references; a capture file reused by several runs
	// restarts them at 1.
	seen := map[uint64]bool{}
	for _, ex := range exs {
		if seen[ex.ID] || ex.ID == 0 {
			d.renumbered = true
			break
		}
		seen[ex.ID] = true
	}
	if d.renumbered && opts.Analysed == nil {
		for i, ex := range exs {
			c := *ex
			c.ID = uint64(i + 1)
			exs[i] = &c
		}
	}

	if opts.Analysed != nil {
		d.info, d.report = subset(opts.Analysed, exs)
	} else {
		// The exchanges are a capture that ended, observed in the order a live analyzer settled them: what
		// `mcpwatch open` and the live session say of them.
		a := analysis.New(opts.Analysis)
		for _, ex := range analysis.SettleOrder(exs) {
			a.Observe(ex)
		}
		a.End()
		for _, ex := range exs {
			d.info[ex.ID] = a.Info(ex.ID)
		}
		d.report = a.Report()
	}
	if d.report == nil {
		d.report = &analysis.Report{}
	}

	if !opts.NoRedact {
		d.red = newRedactor()
		exs = d.red.exchanges(exs)
	}
	d.exs = exs
	return d
}

// subset is what an export of exs carries of a session's analysis (see Options.Analysed): the infos of the
// exchanges exported; the connections with an exchange exported; the findings whose exchange is exported or whose
// connection is carried.
func subset(a *live.Analysed, exs []*recorder.Exchange) (map[uint64]analysis.Info, *analysis.Report) {
	info := make(map[uint64]analysis.Info, len(exs))
	ids := make(map[uint64]bool, len(exs))
	conns := map[string]bool{}
	for _, ex := range exs {
		ids[ex.ID] = true
		in := a.Infos[ex.ID]
		info[ex.ID] = in
		if in.Connection != "" {
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

// findings returns every finding once: the report's, then any an exchange's info has that the report lacks.
func (d *doc) findings() []analysis.Finding {
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
	for _, ex := range d.exs {
		for _, f := range d.info[ex.ID].Findings {
			if f.ExchangeID == 0 {
				f.ExchangeID = ex.ID
			}
			add(f)
		}
	}
	return out
}

// exchangeFindings are the findings attached to one exchange.
func (d *doc) exchangeFindings(id uint64) []analysis.Finding {
	var out []analysis.Finding
	for _, f := range d.findings() {
		if f.ExchangeID == id {
			out = append(out, f)
		}
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
