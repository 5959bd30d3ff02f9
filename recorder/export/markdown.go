package export

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/internal/durfmt"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/clients"
)

// maxShownBody is how much of a body the transcript shows; the HAR and JSONL exports have all of it.
const maxShownBody = 16 << 10

// Transport headers the transcript leaves out (the HAR keeps them): they say nothing about the handshake.
var boringHeaders = map[string]bool{
	"content-length": true, "connection": true, "keep-alive": true, "transfer-encoding": true, "te": true,
	"date": true, "vary": true, "x-content-type-options": true, "via": true, "cdn-loop": true, "priority": true,
	"x-forwarded-for": true, "x-forwarded-proto": true, "x-forwarded-host": true, "x-real-ip": true,
	"true-client-ip": true, "forwarded": true, "upgrade-insecure-requests": true, "pragma": true,
}

func boringHeader(name string) bool {
	n := strings.ToLower(name)
	return boringHeaders[n] || strings.HasPrefix(n, "cf-") || strings.HasPrefix(n, "sec-ch-")
}

// WriteMarkdown writes a transcript that tells the story of the handshake the way a person would: a summary
// (clients, protocol era, how far it got, findings), then for each connection, request by request in the order
// they happened, the stage, a sentence on what the client did and what the server answered, the request and the
// response (headers that matter, bodies pretty-printed, SSE events one by one), and the findings on it.
func WriteMarkdown(w io.Writer, exs []*recorder.Exchange, opts Options) error {
	return Write(w, Markdown, exs, opts)
}

// writeMarkdown reads the exchanges twice after prepareFrom: once for the summary at the top (clients, protocol,
// each connection's outcome), then group by group for the table and the sections, written as they are built.
func writeMarkdown(w io.Writer, d *doc) error {
	bw := bufio.NewWriter(w)
	m := &md{d: d, w: bw, num: map[uint64]int{}}
	named := map[uint64]bool{}
	for _, f := range d.findings() {
		named[f.ExchangeID] = true
	}
	for i, k := range d.keys {
		if named[k.id] {
			m.num[k.id] = i + 1
		}
	}
	m.write()
	return bw.Flush()
}

type md struct {
	d *doc
	w *bufio.Writer
	// num is an exchange's number in the transcript, by id, for the exchanges findings name (where); the
	// exchanges written are numbered by their position.
	num map[uint64]int
	// The groups each exchange is in, by position: the first, and the others for the few in several.
	groupOf    []int32
	moreGroups map[int][]int
	facts      mdFacts
}

// mdFacts is what the summary says of the whole capture, gathered in one pass over the exchanges.
type mdFacts struct {
	infos, agents  []string // the clientInfo and User-Agent the requests gave (clients)
	eras, versions []string // era
	all            outcomeAcc
	byGroup        []outcomeAcc
}

func (m *md) p(format string, args ...any) { fmt.Fprintf(m.w, format, args...) }

// group is one connection's exchanges, by position in the keys (conn nil: exchanges no connection claims).
type group struct {
	conn *analysis.Connection
	at   []int
}

// groups puts each exchange with the connections that claim it (the connection its info names, or, when it names
// none, those that list it), in the report's order, and the rest in a last group; it notes each exchange's groups.
func (m *md) groups() []group {
	d := m.d
	m.groupOf = make([]int32, len(d.keys))
	m.moreGroups = map[int][]int{}
	if len(d.report.Connections) == 0 {
		at := make([]int, len(d.keys))
		for i := range at {
			at[i] = i
		}
		return []group{{at: at}}
	}
	out := make([]group, len(d.report.Connections))
	byID := map[string][]int{}
	listed := map[uint64][]int{}
	for ci, c := range d.report.Connections {
		out[ci].conn = c
		byID[c.ID] = append(byID[c.ID], ci)
		for _, id := range c.Exchanges {
			if l := listed[id]; len(l) == 0 || l[len(l)-1] != ci {
				listed[id] = append(l, ci)
			}
		}
	}
	var rest []int
	var cis []int
	for pos, k := range d.keys {
		conn := d.info[k.id].Connection
		cis = append(cis[:0], byID[conn]...)
		if conn == "" {
			cis = append(cis, listed[k.id]...)
			slices.Sort(cis)
			cis = slices.Compact(cis)
		}
		if len(cis) == 0 {
			rest = append(rest, pos)
			m.groupOf[pos] = int32(len(out))
			continue
		}
		for j, ci := range cis {
			out[ci].at = append(out[ci].at, pos)
			if j == 0 {
				m.groupOf[pos] = int32(ci)
			} else {
				m.moreGroups[pos] = append(m.moreGroups[pos], ci)
			}
		}
	}
	if len(rest) > 0 {
		out = append(out, group{at: rest})
	}
	return out
}

// gather reads every exchange once for the summary: what identifies the clients, the eras and versions, and the
// outcome of the whole capture and of each group.
func (m *md) gather(groups []group) {
	d := m.d
	f := &m.facts
	f.all = newOutcome()
	f.byGroup = make([]outcomeAcc, len(groups))
	for i := range f.byGroup {
		f.byGroup[i] = newOutcome()
	}
	add := func(xs *[]string, s string) {
		if s != "" && !slices.Contains(*xs, s) {
			*xs = append(*xs, s)
		}
	}
	for _, c := range d.report.Connections {
		add(&f.eras, c.Era)
		add(&f.versions, c.Protocol)
	}
	d.each(func(pos int, ex *recorder.Exchange) {
		num := pos + 1
		m.observe(&f.all, ex, num)
		m.observe(&f.byGroup[m.groupOf[pos]], ex, num)
		for _, g := range m.moreGroups[pos] {
			m.observe(&f.byGroup[g], ex, num)
		}
		if len(d.report.Connections) == 0 {
			if e := ex.Note("era"); e != "" {
				era, _, _ := strings.Cut(e, ":")
				add(&f.eras, strings.TrimSpace(era))
			}
		}
		if ex.RPCMethod() == "initialize" {
			if r := rpcResult(ex); r != nil {
				add(&f.versions, str(r, "protocolVersion"))
			}
		}
		if v := ex.ReqHeaders.Get("MCP-Protocol-Version"); v != "" {
			add(&f.versions, v)
		}
		if ex.Kind == recorder.Outbound {
			return
		}
		if ex.RPCMethod() == "initialize" {
			if ci := jsonPath(jsonObject(ex.ReqBody.Data), "params", "clientInfo"); ci != nil {
				add(&f.infos, strings.TrimSpace(str(ci, "name")+" "+str(ci, "version")))
			}
		}
		if ua := ex.ReqHeaders.Get("User-Agent"); ua != "" && len(f.agents) < 3 {
			add(&f.agents, ua)
		}
	})
}

func (m *md) write() {
	d := m.d
	m.p("# MCP handshake transcript\n\n")
	if len(d.keys) == 0 {
		m.p("No requests were recorded.\n")
		return
	}
	first, last := d.keys[0], d.keys[len(d.keys)-1]
	end := last.start.Add(last.total)
	in, out := 0, 0
	for _, k := range d.keys {
		if k.out {
			out++
		} else {
			in++
		}
	}
	m.p("Recorded by mcpwatch on %s, from %s to %s (%s): %s", first.start.Format("2006-01-02"),
		first.start.Format("15:04:05 MST"), end.Format("15:04:05 MST"), durfmt.Sig3(end.Sub(first.start)), plural(in, "request"))
	if out > 0 {
		m.p(", and %s mcpwatch made itself", plural(out, "outbound request"))
	}
	m.p(".\n\n")

	groups := m.groups()
	m.gather(groups)
	m.p("- **Client:** %s\n", m.clients())
	m.p("- **Protocol:** %s\n", m.era())
	if len(groups) == 1 || groups[0].conn == nil {
		m.p("- **Outcome:** %s\n", m.facts.all)
	} else {
		m.p("- **Outcome:**\n")
		for i, g := range groups {
			if g.conn != nil {
				m.p("  - %s: %s\n", m.groupName(g), m.facts.byGroup[i])
			}
		}
	}
	fs := d.findings()
	if len(fs) == 0 {
		m.p("- **Findings:** none\n")
	} else {
		m.p("- **Findings:** %s\n", countFindings(fs))
		for _, f := range fs {
			m.p("  - **%s** %s%s\n", f.Severity, mdText(f.Summary), m.where(f))
		}
	}
	if d.red != nil {
		m.p("- **Secrets:** redacted (`%s`): Authorization credentials, cookies, OAuth codes, PKCE verifiers, tokens, client secrets, CSRF tokens.\n", Redacted)
	} else {
		m.p("- **Secrets:** NOT redacted — this transcript holds the live secrets of the handshake.\n")
	}
	m.p("\nTransport headers (Content-Length, Connection, Date, X-Forwarded-\\*, Cf-\\*) are left out below; the HAR export has every header and every byte.\n")

	shown := map[string]bool{}
	n := 0
	for _, g := range groups {
		n += len(g.at)
	}
	d.nextPass(2 * n) // each exchange read twice: its row in the table, its section
	for _, g := range groups {
		m.group(g, len(groups) > 1)
		if g.conn != nil {
			shown[g.conn.ID] = true
		}
	}
	// Findings on no exchange and no connection shown above.
	var loose []analysis.Finding
	for _, f := range fs {
		if f.ExchangeID == 0 && (f.Connection == "" || !shown[f.Connection]) {
			loose = append(loose, f)
		}
	}
	if len(loose) > 0 {
		m.p("\n## Findings on the whole capture\n\n")
		for _, f := range loose {
			m.finding(f)
		}
	}
	if d.renumbered {
		m.p("\n_The capture held several runs: its exchanges were renumbered in the order they started._\n")
	}
}

func countFindings(fs []analysis.Finding) string {
	n := map[analysis.Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	var parts []string
	for _, s := range []struct {
		sev  analysis.Severity
		word string
	}{{analysis.SeverityError, "error"}, {analysis.SeverityWarn, "warning"}, {analysis.SeverityInfo, "note"}} {
		if n[s.sev] > 0 {
			parts = append(parts, plural(n[s.sev], s.word))
		}
	}
	return fmt.Sprintf("%d (%s)", len(fs), strings.Join(parts, ", "))
}

func (m *md) where(f analysis.Finding) string {
	if n := m.num[f.ExchangeID]; n > 0 {
		return fmt.Sprintf(" (request %d)", n)
	}
	return ""
}

// clientName is the registry's name of a client (recorder/clients).
func clientName(k analysis.ClientKind) string {
	if k == "" || k == analysis.ClientUnknown {
		return "an unidentified client"
	}
	if p, ok := clients.ByID(string(k)); ok {
		return p.Name
	}
	return string(k)
}

func (m *md) groupName(g group) string {
	if g.conn == nil {
		return "Other requests"
	}
	n := clientName(g.conn.Client)
	if g.conn.ClientName != "" {
		n += " (" + m.d.text(g.conn.ClientName) + ")"
	}
	return n
}

// clients names the clients: the analysis's connections, else what the requests say of themselves.
func (m *md) clients() string {
	d := m.d
	var names []string
	add := func(s string) {
		if s != "" && !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	for _, c := range d.report.Connections {
		add(m.groupName(group{conn: c}))
	}
	if len(names) == 0 {
		for _, k := range d.keys {
			if c := d.info[k.id].Client; c != "" && c != analysis.ClientUnknown {
				add(clientName(c))
			}
		}
	}
	if len(names) > 0 {
		return strings.Join(names, ", ")
	}
	// The analysis did not say: quote what identifies the client.
	infos, agents := m.facts.infos, m.facts.agents
	s := "not identified"
	var parts []string
	if len(infos) > 0 {
		parts = append(parts, "clientInfo "+codeList(infos))
	}
	if len(agents) > 0 {
		parts = append(parts, "User-Agent "+codeList(agents))
	}
	if len(parts) > 0 {
		s += " — " + strings.Join(parts, "; ")
	}
	return s
}

func codeList(xs []string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = code(x)
	}
	return strings.Join(out, ", ")
}

// era says which protocol generation the clients spoke and the versions they negotiated.
func (m *md) era() string {
	eras, versions := m.facts.eras, m.facts.versions
	var parts []string
	for _, e := range eras {
		switch e {
		case "legacy":
			parts = append(parts, "legacy era (sessions, `initialize`)")
		case "2026":
			parts = append(parts, "2026-07-28 era (stateless, `server/discover`)")
		default:
			parts = append(parts, e+" era")
		}
	}
	if len(versions) > 0 {
		parts = append(parts, "protocol version "+codeList(versions))
	}
	if len(parts) == 0 {
		return "unknown (no MCP request was answered)"
	}
	return strings.Join(parts, "; ")
}

// ok reports whether an exchange did what its stage is for (a 401 is what a challenge is).
func (m *md) ok(ex *recorder.Exchange) bool {
	if ex.Status == 401 && m.d.stage(ex) == analysis.StageChallenge {
		return true
	}
	if _, _, rpcErr := ex.RPCError(); rpcErr {
		return false
	}
	return ex.Status >= 200 && ex.Status < 400 && ex.Error == "" ||
		ex.Status >= 200 && ex.Status < 300 && ex.State == recorder.StateComplete && m.d.stage(ex) == analysis.StageStream
}

func stageIndex(s analysis.Stage) int {
	if s == analysis.StageOther {
		return -1
	}
	return slices.Index(analysis.StageOrder(), s)
}

// outcome says how far a run got: the furthest stage that went through, or where it stopped.
func (m *md) outcome(exs []*recorder.Exchange) string {
	o := newOutcome()
	for _, ex := range exs {
		m.observe(&o, ex, m.num[ex.ID])
	}
	return o.String()
}

// outcomeAcc is outcome's reading of a run, an exchange at a time (observe), in the order they started.
type outcomeAcc struct {
	best     int // stageIndex of furthest, -1 for none
	furthest analysis.Stage
	failed   string // how the last exchange that failed since the last that went through stopped the run; "" none
}

func newOutcome() outcomeAcc { return outcomeAcc{best: -1} }

// observe reads the exchange numbered num.
func (m *md) observe(o *outcomeAcc, ex *recorder.Exchange, num int) {
	s := m.d.stage(ex)
	i := stageIndex(s)
	if i < 0 || ex.Kind == recorder.Outbound {
		return
	}
	if m.ok(ex) {
		if i >= o.best {
			o.best, o.furthest = i, s
		}
		o.failed = ""
		return
	}
	o.failed = fmt.Sprintf("stopped at `%s`: request %d (%s %s) %s", s, num, ex.Method, code(ex.Path()), answerPhrase(ex))
}

func (o outcomeAcc) String() string {
	switch {
	case o.failed != "":
		return o.failed
	case o.best >= 0:
		s := fmt.Sprintf("reached `%s`", o.furthest)
		if f := o.furthest; f == analysis.StageCall || f == analysis.StageList || f == analysis.StageStream || f == analysis.StageTerminate || f == analysis.StageInitialized {
			s += ": the handshake went through"
		}
		return s
	}
	return "no request reached a stage of the handshake"
}

// answerPhrase is how an exchange ended, as a verb phrase.
func answerPhrase(ex *recorder.Exchange) string {
	if ex.Status == 0 {
		if ex.Error != "" {
			return "got no answer (" + ex.Error + ")"
		}
		return "got no answer"
	}
	s := fmt.Sprintf("was answered %d %s", ex.Status, http.StatusText(ex.Status))
	if c, msg, ok := ex.RPCError(); ok {
		s += fmt.Sprintf(" with JSON-RPC error %d (%s)", c, msg)
	}
	return strings.TrimSpace(s)
}

func (m *md) group(g group, several bool) {
	d := m.d
	if several || g.conn != nil {
		m.p("\n## %s\n\n", mdText(m.groupName(g)))
		if c := g.conn; c != nil {
			var facts []string
			if c.ClientID != "" {
				facts = append(facts, "client id "+code(d.text(c.ClientID)))
			}
			if c.SessionID != "" {
				facts = append(facts, "session "+code(d.text(c.SessionID)))
			}
			if c.UserAgent != "" {
				facts = append(facts, "User-Agent "+code(d.text(c.UserAgent)))
			}
			if len(facts) > 0 {
				m.p("Connection `%s`: %s.\n\n", c.ID, strings.Join(facts, ", "))
			}
		}
	} else {
		m.p("\n## Requests\n\n")
	}
	m.p("| # | Stage | Request | Answer |\n|---|---|---|---|\n")
	d.eachAt(g.at, func(pos int, ex *recorder.Exchange) {
		req := ex.Method + " " + ex.Path()
		if r := ex.RPCMethod(); r != "" {
			req += " " + r
		}
		ans := "—"
		if ex.Status != 0 {
			ans = fmt.Sprint(ex.Status)
			if c, _, ok := ex.RPCError(); ok {
				ans += fmt.Sprintf(" (JSON-RPC %d)", c)
			}
		} else if ex.Error != "" {
			ans = "no answer"
		}
		if ex.Kind == recorder.Outbound {
			req = "outbound: " + req
		}
		m.p("| %d | %s | %s | %s |\n", pos+1, d.stage(ex), tableCell(req), ans)
	})
	d.eachAt(g.at, func(pos int, ex *recorder.Exchange) {
		m.exchange(ex, pos+1)
		d.written(ex)
	})
	if g.conn != nil {
		var cf []analysis.Finding
		for _, f := range d.findings() {
			if f.ExchangeID == 0 && f.Connection == g.conn.ID {
				cf = append(cf, f)
			}
		}
		if len(cf) > 0 {
			m.p("\n### Findings on this connection\n\n")
			for _, f := range cf {
				m.finding(f)
			}
		}
	}
}

func tableCell(s string) string {
	return "`" + strings.NewReplacer("|", `\|`, "`", "'").Replace(s) + "`"
}

// exchange writes the section of the exchange numbered num.
func (m *md) exchange(ex *recorder.Exchange, num int) {
	d := m.d
	m.p("\n### %d. %s — %s %s\n\n", num, d.stage(ex), ex.Method, code(ex.Path()))
	m.p("%s\n", m.story(ex))
	for _, f := range ex.Toggles {
		m.p("\n> **Toggle %s** changed the %s", code(f.Name), mdText(f.What))
		switch {
		case f.Before != "" && f.After != "":
			m.p(": %s → %s", code(f.Before), code(f.After))
		case f.Before != "":
			m.p(" (it was %s)", code(f.Before))
		case f.After != "":
			m.p(" (to %s)", code(f.After))
		}
		m.p(".\n")
	}
	var notes []string
	for _, n := range ex.Notes {
		notes = append(notes, fmt.Sprintf("%s: %s", n.Key, d.text(n.Value)))
	}
	if len(notes) > 0 {
		m.p("\n_Notes: %s._\n", mdText(strings.Join(notes, "; ")))
	}

	// The request.
	var head strings.Builder
	target := ex.Target()
	fmt.Fprintf(&head, "%s %s %s\n", ex.Method, target, httpVersion(ex))
	if ex.ReqHeaders.Get("Host") == "" {
		_, host := origin(ex)
		if ex.Kind == recorder.Outbound {
			host = ex.Host
		}
		if host != "" {
			fmt.Fprintf(&head, "Host: %s\n", host)
		}
	}
	for _, h := range ex.ReqHeaders {
		if !boringHeader(h.Name) {
			fmt.Fprintf(&head, "%s: %s\n", h.Name, h.Value)
		}
	}
	m.p("\n**Request**\n\n%s", fenced(head.String(), "http"))
	if q := parsePairs(rawQuery(ex)); len(q) > 0 {
		m.p("\nQuery parameters, decoded:\n\n")
		for _, p := range q {
			m.p("- %s: %s\n", code(p.Name), code(p.Value))
		}
	}
	m.body(ex.ReqBody, ex.ReqHeaders.Get("Content-Type"), nil)

	// The response.
	if ex.Status == 0 {
		m.p("\n**No response.**")
		if ex.Error != "" {
			m.p(" %s", mdText(capitalize(ex.Error)+"."))
		}
		m.p("\n")
	} else {
		var rh strings.Builder
		fmt.Fprintf(&rh, "%s %d %s\n", httpVersion(ex), ex.Status, http.StatusText(ex.Status))
		for _, h := range ex.RespHeaders {
			if !boringHeader(h.Name) {
				fmt.Fprintf(&rh, "%s: %s\n", h.Name, h.Value)
			}
		}
		m.p("\n**Response** (%s)\n\n%s", durfmt.Sig3(ex.Timings.Total), fenced(rh.String(), "http"))
		m.body(ex.RespBody, ex.RespHeaders.Get("Content-Type"), ex.Events)
		if ex.Error != "" {
			m.p("\n_%s._\n", mdText(capitalize(ex.Error)))
		}
	}
	for _, f := range d.exchangeFindings(ex.ID) {
		m.p("\n")
		m.finding(f)
	}
}

func (m *md) finding(f analysis.Finding) {
	m.p("> **Finding — %s:** %s", f.Severity, mdText(f.Summary))
	if f.Rule != "" {
		m.p(" (%s)", code(f.Rule))
	}
	if f.Toggle != "" {
		m.p(" Caused by the toggle %s.", code(f.Toggle))
	}
	if f.Fix != "" {
		m.p("\\\n> **Fix:** %s", mdText(f.Fix))
	}
	if f.Source != "" {
		m.p("\\\n> **Source:** %s", mdText(f.Source))
	}
	m.p("\n")
}

// body shows a body: JSON pretty-printed, forms as fields, event streams event by event.
func (m *md) body(b recorder.Body, contentType string, events []recorder.SSEEvent) {
	if len(b.Data) == 0 && len(events) == 0 {
		if b.Size > 0 {
			m.p("\n_(a body of %d bytes, not recorded)_\n", b.Size)
		}
		return
	}
	mt := mediaType(contentType)
	trunc := ""
	if b.Truncated {
		trunc = fmt.Sprintf("\n_(body truncated: %d of %d bytes recorded)_\n", len(b.Data), b.Size)
	}
	switch {
	case mt == "text/event-stream" || len(events) > 0:
		if len(events) > 0 {
			m.p("\n%s:\n", plural(len(events), "server-sent event"))
		} else {
			m.p("\nThe stream carried no event; what it carried:\n")
		}
		for i, ev := range events {
			var meta []string
			if ev.Event != "" {
				meta = append(meta, "event "+code(ev.Event))
			}
			if ev.ID != "" {
				meta = append(meta, "id "+code(ev.ID))
			}
			if ev.Retry > 0 {
				meta = append(meta, fmt.Sprintf("retry %d ms", ev.Retry))
			}
			meta = append(meta, "after "+durfmt.Sig3(ev.At))
			m.p("\n%d. %s\n", i+1, strings.Join(meta, ", "))
			if ev.Data != "" {
				m.p("\n%s", indent(m.text([]byte(ev.Data), ""), "   "))
			}
		}
		if len(events) == 0 && len(b.Data) > 0 {
			m.p("\n%s", m.text(b.Data, "text"))
		}
	case !b.IsText():
		m.p("\n_(%d bytes of binary data; the HAR and JSONL exports have them in base64)_\n", b.Size)
		return
	case mt == "application/x-www-form-urlencoded":
		m.p("\nForm fields, decoded:\n\n")
		for _, p := range parsePairs(string(b.Data)) {
			m.p("- %s: %s\n", code(p.Name), code(p.Value))
		}
	default:
		lang := "text"
		switch {
		case strings.Contains(mt, "html"):
			lang = "html"
		case strings.Contains(mt, "xml"):
			lang = "xml"
		}
		m.p("\n%s", m.text(b.Data, lang))
	}
	m.p("%s", trunc)
}

// text fences a body: pretty-printed when it is JSON.
func (m *md) text(data []byte, lang string) string {
	var pretty bytes.Buffer
	t := bytes.TrimSpace(data)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t) && json.Indent(&pretty, t, "", "  ") == nil {
		data, lang = pretty.Bytes(), "json"
	}
	s := string(data)
	more := ""
	if len(s) > maxShownBody {
		cut := maxShownBody
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		more = fmt.Sprintf("\n_(%d more bytes not shown; the HAR and JSONL exports have them)_\n", len(s)-cut)
		s = s[:cut]
	}
	return fenced(s, lang) + more
}

// fenced puts s in a code block whose fence is longer than any run of backticks in s.
func fenced(s, lang string) string {
	run, longest := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	f := strings.Repeat("`", max(3, longest+1))
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return f + lang + "\n" + s + f + "\n"
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" && l != "\n" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// code is s as inline code (with a longer backtick fence when s holds backticks), on one line.
func code(s string) string {
	s = oneLine(s)
	if s == "" {
		return "` `"
	}
	if !strings.Contains(s, "`") {
		return "`" + s + "`"
	}
	return "`` " + s + " ``"
}

// mdText puts text on one line. It is not escaped: findings are written by the analysis and may hold `code`.
func mdText(s string) string { return oneLine(s) }

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}
