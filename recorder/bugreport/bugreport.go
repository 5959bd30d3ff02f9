// Package bugreport writes a redacted bug report of one connection of a capture, shaped like the Claude connector
// bug form (server URL, where it fails, transport, registration type, UTC times), with the reference ids clients
// put in their callback or error URLs (Claude's flow_id=ofid_…, error_code=…) matched to the connection, and the
// Markdown transcript of recorder/export (redacted the same way).
package bugreport

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/export"
)

// Options of a report.
type Options struct {
	// Connection is the connection to report ("c2"); empty picks the first with an error finding, else the last.
	Connection string
	// Refs are URLs the user saw (the client's error page or callback URL) holding reference ids.
	Refs []string
	// Version is mcpwatch's version, named in the report.
	Version string
}

// errNoConnection is a capture without the connection asked for (or without any).
var errNoConnection = errors.New("no such connection")

var (
	ofidRE      = regexp.MustCompile(`ofid_[A-Za-z0-9_-]{1,100}`)
	errorCodeRE = regexp.MustCompile(`[?&]error_code=([A-Za-z0-9_.-]{1,100})`)
)

// Ref is a reference id and where it was matched.
type Ref struct {
	ID         string // "ofid_…" or "error_code=…"
	Connection string // "" when nothing in the capture names it
	Exchange   uint64
	From       string // "capture" or "given"
}

// Write writes the report of one connection of exs.
func Write(w io.Writer, exs []*recorder.Exchange, o Options) error {
	a := analysis.New(analysis.Options{})
	for _, ex := range exs {
		a.Observe(ex)
	}
	a.End()
	rep := a.Report()
	c := pick(rep, o.Connection)
	if c == nil {
		if o.Connection != "" {
			var ids []string
			for _, c := range rep.Connections {
				ids = append(ids, c.ID)
			}
			return fmt.Errorf("%w: %s (the capture has %s)", errNoConnection, o.Connection, strings.Join(ids, ", "))
		}
		return fmt.Errorf("%w: the capture has no connection", errNoConnection)
	}
	byID := make(map[uint64]*recorder.Exchange, len(exs))
	for _, ex := range exs {
		byID[ex.ID] = ex
	}
	var mine []*recorder.Exchange
	for _, id := range c.Exchanges {
		if ex := byID[id]; ex != nil {
			mine = append(mine, ex)
		}
	}
	refs := matchRefs(rep, a, exs, o.Refs)

	b := &strings.Builder{}
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("# MCP connector bug report\n\n")
	p("Written by mcpwatch %s from a capture of %d exchanges; connection `%s` of %d. Secrets are redacted.\n\n",
		orDev(o.Version), len(exs), c.ID, len(rep.Connections))
	p("| Field | Value |\n|---|---|\n")
	p("| Server URL | %s |\n", cell(serverURL(c)))
	p("| Client | %s |\n", cell(clientLine(c)))
	p("| Where it fails | %s |\n", cell(whereFails(c)))
	p("| Transport | %s |\n", cell(transport(c, mine)))
	p("| Registration type | %s |\n", cell(registration(c, mine, a)))
	p("| Started (UTC) | %s |\n", c.Start.UTC().Format(time.RFC3339Nano))
	p("| Last request (UTC) | %s |\n", c.Last.UTC().Format(time.RFC3339Nano))
	if f, ok := firstError(c); ok {
		p("| Failing request (UTC) | %s (exchange #%d) |\n", f.At.UTC().Format(time.RFC3339Nano), f.ExchangeID)
	}
	var ids []string
	for _, r := range refs {
		if r.Connection == c.ID || r.Connection == "" {
			s := "`" + r.ID + "`"
			switch {
			case r.Connection == "":
				s += " (given; nothing in the capture names it)"
			case r.Exchange != 0:
				s += fmt.Sprintf(" (exchange #%d)", r.Exchange)
			}
			ids = append(ids, s)
		}
	}
	if len(ids) == 0 {
		ids = []string{"none in the capture (paste the URL the client showed with --ref)"}
	}
	p("| Reference ids | %s |\n", strings.Join(ids, ", "))
	var others []string
	for _, r := range refs {
		if r.Connection != "" && r.Connection != c.ID {
			others = append(others, fmt.Sprintf("`%s` → %s", r.ID, r.Connection))
		}
	}
	if len(others) > 0 {
		p("| Reference ids of other connections | %s |\n", strings.Join(others, ", "))
	}
	p("\n## Findings\n\n")
	if len(c.Findings) == 0 {
		p("None: the analysis saw nothing wrong in this connection.\n")
	}
	for _, f := range c.Findings {
		p("- **%s** `%s` (exchange #%d, %s UTC): %s\n  - Fix: %s\n  - Source: %s\n", f.Severity, f.Rule, f.ExchangeID,
			f.At.UTC().Format("15:04:05.000"), f.Summary, f.Fix, f.Source)
	}
	p("\n## Transcript\n\n")
	var t strings.Builder
	if err := export.WriteMarkdown(&t, mine, export.Options{Version: o.Version}); err != nil {
		return err
	}
	b.WriteString(demote(t.String()))
	_, err := io.WriteString(w, b.String())
	return err
}

// demote moves the transcript's headings one level down (it sits under the report's "Transcript"), leaving
// fenced blocks alone.
func demote(md string) string {
	lines := strings.SplitAfter(md, "\n")
	fenced := false
	for i, l := range lines {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
			continue
		}
		if !fenced && strings.HasPrefix(l, "#") {
			lines[i] = "##" + l
		}
	}
	return strings.Join(lines, "")
}

func orDev(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}

func cell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

// pick chooses the connection to report.
func pick(rep *analysis.Report, id string) *analysis.Connection {
	if id != "" {
		for _, c := range rep.Connections {
			if c.ID == id {
				return c
			}
		}
		return nil
	}
	for _, c := range rep.Connections {
		if _, ok := firstError(c); ok {
			return c
		}
	}
	if n := len(rep.Connections); n > 0 {
		return rep.Connections[n-1]
	}
	return nil
}

func firstError(c *analysis.Connection) (analysis.Finding, bool) {
	for _, f := range c.Findings {
		if f.Severity == analysis.SeverityError {
			return f, true
		}
	}
	return analysis.Finding{}, false
}

func serverURL(c *analysis.Connection) string {
	if c.MCPURL == "" {
		return "unknown (no MCP request in this connection)"
	}
	return c.MCPURL
}

func clientLine(c *analysis.Connection) string {
	s := string(c.Client)
	if c.ClientName != "" {
		s += " (" + c.ClientName + ")"
	}
	if c.UserAgent != "" {
		s += ", User-Agent " + c.UserAgent
	}
	return s
}

func whereFails(c *analysis.Connection) string {
	var last analysis.Stage
	for _, s := range c.Stages {
		if s.Status == analysis.StatusFailed {
			msg := fmt.Sprintf("%s (exchange #%d, %s UTC)", s.Stage, s.Exchange, s.At.UTC().Format("15:04:05.000"))
			if f, ok := firstError(c); ok {
				msg += ": " + f.Summary
			}
			return msg
		}
		if s.Status == analysis.StatusOK {
			last = s.Stage
		}
	}
	if f, ok := firstError(c); ok {
		return fmt.Sprintf("after %s: %s", last, f.Summary)
	}
	if last == "" {
		return "nothing got through"
	}
	return fmt.Sprintf("no failure seen; the last stage reached is %s", last)
}

func transport(c *analysis.Connection, exs []*recorder.Exchange) string {
	for _, ex := range exs {
		if p := ex.Path(); p == "/sse" || strings.HasSuffix(p, "/sse") {
			return "HTTP+SSE (2024-11-05)"
		}
	}
	s := "Streamable HTTP"
	switch c.Era {
	case "2026":
		s += ", stateless (server/discover)"
	case "legacy":
		s += ", sessions (initialize)"
	}
	if c.Protocol != "" {
		s += ", protocol " + c.Protocol
	}
	return s
}

func registration(c *analysis.Connection, exs []*recorder.Exchange, a *analysis.Analyzer) string {
	var stages []analysis.Stage
	for _, ex := range exs {
		stages = append(stages, a.Info(ex.ID).Stage)
	}
	switch {
	case strings.HasPrefix(c.ClientID, "https://") || slices.Contains(stages, analysis.StageClientMetadata):
		return "client ID metadata document (oauth_cimd): " + c.ClientID
	case slices.Contains(stages, analysis.StageRegister):
		return "dynamic client registration (oauth_dcr)"
	case c.ClientID != "":
		return "a client id registered earlier or by hand (custom): " + c.ClientID
	case !slices.Contains(stages, analysis.StageChallenge) && !slices.Contains(stages, analysis.StageAuthMetadata):
		return "none seen (no authorization asked)"
	}
	return "none: the client did not get as far as registering"
}

// matchRefs finds the reference ids in the capture (request URLs, Referer and Location headers) and in the URLs
// the user gave, and matches each to a connection: where the capture names it, or by the state parameter of a
// given URL (the client returns the authorization request's state).
func matchRefs(rep *analysis.Report, a *analysis.Analyzer, exs []*recorder.Exchange, given []string) []Ref {
	var out []Ref
	seen := map[string]bool{}
	add := func(r Ref) {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	find := func(s string) []string {
		ids := ofidRE.FindAllString(s, 4)
		for _, m := range errorCodeRE.FindAllStringSubmatch(s, 4) {
			ids = append(ids, "error_code="+m[1])
		}
		return ids
	}
	states := map[string]*recorder.Exchange{}
	for _, ex := range exs {
		for _, s := range []string{ex.URL, ex.ReqHeaders.Get("Referer"), ex.RespHeaders.Get("Location")} {
			for _, id := range find(s) {
				add(Ref{ID: id, Connection: a.Info(ex.ID).Connection, Exchange: ex.ID, From: "capture"})
			}
		}
		if u, err := url.Parse(ex.URL); err == nil {
			if st := u.Query().Get("state"); st != "" && a.Info(ex.ID).Stage == analysis.StageAuthorize {
				states[st] = ex
			}
		}
	}
	for _, g := range given {
		u, _ := url.Parse(g)
		var ex *recorder.Exchange
		if u != nil {
			ex = states[u.Query().Get("state")]
		}
		for _, id := range find(g) {
			r := Ref{ID: id, From: "given"}
			if ex != nil {
				r.Connection, r.Exchange = a.Info(ex.ID).Connection, ex.ID
			}
			add(r)
		}
	}
	_ = rep
	return out
}
