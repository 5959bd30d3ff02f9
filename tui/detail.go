package tui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// detailTab is a tab of the detail pane.
type detailTab int

const (
	tabRequest detailTab = iota
	tabResponse
	tabAnalysis
	tabCount
)

func (t detailTab) String() string {
	switch t {
	case tabRequest:
		return "Request"
	case tabResponse:
		return "Response"
	}
	return "Analysis"
}

// detailPane shows one exchange: the request and the response (tabs), headers, bodies as highlighted JSON, the
// SSE events of a stream as they arrive, and the analysis: stage, client, timings, findings and what a toggle
// changed. Its content is built in Update when the exchange, the tab or the width changes; View only slices it.
// The rows keep ids: the pane asks the store for the exchange it shows when the selection or the selected row
// changes (one exchange, held while it is shown); one the store has forgotten is said so.
type detailPane struct {
	ctx     *programContext
	w, h    int
	focused bool
	tab     detailTab
	offset  int

	// What the content was built from: the row (its id and rev; has is unset when nothing is selected) and its
	// exchange as the store gave it (nil: forgotten).
	has      bool
	id       uint64
	rev      uint32
	ex       *recorder.Exchange
	head     string // the title bar's text
	builtTab detailTab
	builtW   int
	builtN   int    // findings of the exchange when built
	builtGen uint64 // the analysis when built (the Analysis tab)
	lines    []string
	// load: the exchange is without the bodies the store keeps in the capture file (BodiesInFile), and the command
	// that reads them back (loadCmd) is yet to be issued
	load bool
}

// bodiesMsg is the exchange of row id (at rev) with its bodies read back from the capture file.
type bodiesMsg struct {
	id  uint64
	rev uint32
	ex  *recorder.Exchange
}

// loadCmd returns the command that reads back the bodies of the exchange shown, when it is without them: the
// store's Peek never waits on the disk, and the pane shows the rest meanwhile.
func (p *detailPane) loadCmd() tea.Cmd {
	if !p.load {
		return nil
	}
	p.load = false
	ex, id, rev := p.ex, p.id, p.rev
	return func() tea.Msg { return bodiesMsg{id: id, rev: rev, ex: ex.WithBodies()} }
}

// loaded takes the bodies read back, if the pane still shows that exchange; its content is built again.
func (p *detailPane) loaded(msg bodiesMsg) {
	if p.has && p.id == msg.id && p.rev == msg.rev && p.ex != nil && p.ex.BodiesInFile() {
		p.ex = msg.ex
		p.builtW = -1
	}
}

func newDetail(ctx *programContext) *detailPane { return &detailPane{ctx: ctx} }

func (p *detailPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *detailPane) SetFocus(f bool)  { p.focused = f }
func (p *detailPane) title() string    { return "Detail" }
func (p *detailPane) contentH() int    { return max(p.h-2, 1) }

func (p *detailPane) ShortHelp() []key.Binding {
	k := p.ctx.keys
	return []key.Binding{k.NextTab, k.Up, k.Down, k.Copy, k.Back}
}

func (p *detailPane) FullHelp() [][]key.Binding {
	k := p.ctx.keys
	return [][]key.Binding{{k.NextTab, k.PrevTab, k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Back}}
}

func (p *detailPane) Update(msg tea.Msg) tea.Cmd {
	k := p.ctx.keys
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, k.NextTab):
			p.setTab((p.tab + 1) % tabCount)
		case key.Matches(msg, k.PrevTab):
			p.setTab((p.tab + tabCount - 1) % tabCount)
		case key.Matches(msg, k.Up):
			p.scroll(-1)
		case key.Matches(msg, k.Down):
			p.scroll(1)
		case key.Matches(msg, k.PageUp):
			p.scroll(-p.contentH())
		case key.Matches(msg, k.PageDown):
			p.scroll(p.contentH())
		case key.Matches(msg, k.Top):
			p.offset = 0
		case key.Matches(msg, k.Bottom):
			p.offset = p.maxOffset()
		}
	case tea.MouseWheelMsg:
		if msg.Button == tea.MouseWheelUp {
			p.scroll(-3)
		} else {
			p.scroll(3)
		}
	}
	return nil
}

func (p *detailPane) setTab(t detailTab) {
	if t != p.tab {
		p.tab = t
		p.offset = 0
	}
}

// click switches tabs when the tab line is clicked.
func (p *detailPane) click(x, y int) {
	if y != 1 {
		return
	}
	for _, t := range p.tabs() {
		if x >= t.x0 && x < t.x1 {
			p.setTab(t.tab)
		}
	}
}

func (p *detailPane) scroll(n int) {
	p.offset = max(min(p.offset+n, p.maxOffset()), 0)
}

func (p *detailPane) maxOffset() int { return max(len(p.lines)-p.contentH(), 0) }

// show builds the content for a row (nil: nothing selected). A stream that the user follows at the bottom stays
// at the bottom as events arrive.
func (p *detailPane) show(r *row) {
	var id uint64
	var rev uint32
	n := 0
	if r != nil {
		id, rev = r.id, r.rev
		n = int(p.ctx.flow.exFinding[id].n)
	}
	var gen uint64
	if p.tab == tabAnalysis {
		gen = p.ctx.flow.anGen
	}
	same := (r != nil) == p.has && id == p.id && rev == p.rev
	if same && p.tab == p.builtTab && p.w == p.builtW && n == p.builtN && gen == p.builtGen {
		return
	}
	sameID := r != nil && p.has && id == p.id && p.tab == p.builtTab
	atBottom := p.offset >= p.maxOffset()
	if !same {
		p.has, p.id, p.rev, p.ex, p.head, p.load = r != nil, id, rev, nil, "", false
		if r != nil {
			p.ex = p.ctx.exchange(id) // one exchange, once per change of the selected row
			p.head = p.titleOf(r)
			p.load = p.ex != nil && p.ex.BodiesInFile()
		}
	}
	p.builtTab, p.builtW, p.builtN, p.builtGen = p.tab, p.w, n, gen
	p.lines = p.build(r)
	switch {
	case !sameID:
		p.offset = 0
	case atBottom && p.ex != nil && p.ex.State == recorder.StateStreaming:
		p.offset = p.maxOffset()
	default:
		p.offset = min(p.offset, p.maxOffset())
	}
}

// exchange is the store's exchange of a row: the one the pane holds when it shows that row as it is, else asked for.
func (p *detailPane) exchange(r *row) *recorder.Exchange {
	if p.has && p.id == r.id && p.rev == r.rev && p.ex != nil {
		return p.ex
	}
	return p.ctx.exchange(r.id)
}

// titleOf is the pane's title for a row: id, method, path and JSON-RPC method.
func (p *detailPane) titleOf(r *row) string {
	t := p.ctx.flow.text(r)
	title := " #" + strconv.FormatUint(r.id, 10) + " " + t.method + " " + sanitize(t.path())
	if t.rpc != "" {
		title += " " + sanitize(t.rpc)
	}
	return title
}

// forgottenText says that the store no longer holds an exchange a row still shows.
func forgottenText(id uint64) string {
	return "#" + strconv.FormatUint(id, 10) + " is no longer in memory: the store forgot it (past its bound, the oldest exchanges go first)"
}

func (p *detailPane) Lines() []string {
	st := &p.ctx.styles
	out := make([]string, 0, p.h)
	if !p.has {
		out = append(out, sectionBar(st, " Detail", "", p.w, p.focused))
		out = append(out, st.Faint.Render("  select an exchange (enter opens it)"))
		return block(out, p.w, p.h)
	}
	title := p.head
	right := ""
	if len(p.lines) > p.contentH() {
		right = strconv.Itoa(min(p.offset+p.contentH(), len(p.lines))) + "/" + strconv.Itoa(len(p.lines)) + " "
	}
	out = append(out, sectionBar(st, title, right, p.w, p.focused))
	out = append(out, p.tabLine())
	end := min(p.offset+p.contentH(), len(p.lines))
	out = append(out, p.lines[p.offset:end]...)
	return block(out, p.w, p.h)
}

// tabLabel is one tab as drawn: its label and the cells it covers.
type tabLabel struct {
	tab    detailTab
	label  string
	x0, x1 int
}

// tabs lays the tab line out (for drawing and for the mouse).
func (p *detailPane) tabs() []tabLabel {
	var out []tabLabel
	x := 1
	for t := range tabCount {
		label := t.String()
		switch t {
		case tabResponse:
			if p.ex != nil && len(p.ex.Events) > 0 {
				label += " · " + plural(len(p.ex.Events), "event", "events")
			}
		case tabAnalysis:
			var extras []string
			if p.builtN > 0 {
				extras = append(extras, plural(p.builtN, "finding", "findings"))
			}
			if p.ex != nil && len(p.ex.Toggles) > 0 {
				extras = append(extras, plural(len(p.ex.Toggles), "toggle", "toggles"))
			}
			if len(extras) > 0 {
				label += " · " + strings.Join(extras, ", ")
			}
		}
		// The brackets mark the current tab where colours and attributes are gone (NO_COLOR, a screen reader).
		if t == p.tab {
			label = "[" + label + "]"
		} else {
			label = " " + label + " "
		}
		lw := ansi.StringWidth(label)
		out = append(out, tabLabel{tab: t, label: label, x0: x, x1: x + lw})
		x += lw + 1
	}
	return out
}

func (p *detailPane) tabLine() string {
	st := &p.ctx.styles
	var b strings.Builder
	b.WriteString(" ")
	for _, t := range p.tabs() {
		if t.tab == p.tab {
			b.WriteString(st.TabOn.Render(t.label))
		} else {
			b.WriteString(st.TabOff.Render(t.label))
		}
		b.WriteString(" ")
	}
	return b.String()
}

// build renders the content of the current tab.
func (p *detailPane) build(r *row) []string {
	if r == nil {
		return nil
	}
	if p.ex == nil {
		return wrapStyled(" "+p.ctx.styles.SevWarn.Render(forgottenText(r.id)), p.w)
	}
	switch p.tab {
	case tabRequest:
		return p.buildRequest(p.ex)
	case tabResponse:
		return p.buildResponse(p.ex)
	}
	return p.buildAnalysis(r, p.ex)
}

func (p *detailPane) headerLines(hs recorder.Headers) []string {
	st := &p.ctx.styles
	var out []string
	for _, h := range hs {
		name := sanitize(h.Name)
		line := name + ": " + sanitize(h.Value)
		for i, part := range wrapPlain(line, p.w-1) {
			if i == 0 && len(part) >= len(name) {
				part = st.HeaderName.Render(part[:len(name)]) + part[len(name):]
			}
			out = append(out, " "+part)
		}
	}
	return out
}

func (p *detailPane) bodyLines(ex *recorder.Exchange, b recorder.Body, what string) []string {
	st := &p.ctx.styles
	if b.Size == 0 && len(b.Data) == 0 {
		return []string{st.Faint.Render(" (no " + what + " body)")}
	}
	if b.Data == nil {
		switch {
		case ex.BodiesInFile():
			return wrapStyled(st.Faint.Render(" ("+strconv.FormatInt(b.Size, 10)+" bytes: reading it back from the capture file…)"), p.w)
		case ex.Note(recorder.NoteBody) != "":
			var out []string
			for _, n := range ex.Notes {
				if n.Key == recorder.NoteBody && strings.HasPrefix(n.Value, what) {
					out = append(out, wrapStyled(st.Faint.Render(" "+sanitize(n.Value)), p.w)...)
				}
			}
			if len(out) > 0 {
				return out
			}
		}
	}
	var out []string
	for _, l := range bodyLines(st, b.Data, p.w-1) {
		out = append(out, " "+l)
	}
	if b.Truncated {
		out = append(out, st.Faint.Render(" … "+strconv.FormatInt(b.Size-int64(len(b.Data)), 10)+" more bytes were not kept (the recorder's body limit)"))
	}
	return out
}

func (p *detailPane) buildRequest(ex *recorder.Exchange) []string {
	st := &p.ctx.styles
	target := ex.URL
	line := st.Bold.Render(ex.Method) + " " + sanitize(target)
	if ex.Proto != "" {
		line += " " + st.Faint.Render(ex.Proto)
	}
	out := wrapStyled(" "+line, p.w)
	if ex.Kind == recorder.Outbound {
		out = append(out, st.Faint.Render(" (a request mcpwatch made itself)"))
	}
	out = append(out, p.headerLines(ex.ReqHeaders)...)
	out = append(out, "")
	out = append(out, p.bodyLines(ex, ex.ReqBody, "request")...)
	return out
}

func (p *detailPane) buildResponse(ex *recorder.Exchange) []string {
	st := &p.ctx.styles
	var out []string
	if ex.Status == 0 {
		if ex.Error != "" {
			return []string{" " + st.Status5xx.Render("no response: "+sanitize(ex.Error))}
		}
		return []string{st.Faint.Render(" waiting for the response…")}
	}
	class := classOf(ex)
	timing := " · first byte after " + fmtDur(ex.Timings.Wait)
	switch ex.State {
	case recorder.StateComplete:
		timing += " · done after " + fmtDur(ex.Timings.Total)
	default:
		timing += " · " + ex.State
	}
	out = append(out, " "+st.statusStyle(class).Render(statusLine(ex.Status))+st.Faint.Render(timing))
	out = append(out, p.headerLines(ex.RespHeaders)...)
	out = append(out, "")
	if len(ex.Events) > 0 || strings.HasPrefix(strings.ToLower(ex.RespHeaders.Get("Content-Type")), "text/event-stream") {
		if ex.BodiesInFile() && ex.RespBody.Data == nil {
			out = append(out, wrapStyled(st.Faint.Render(" (reading the events' data back from the capture file…)"), p.w)...)
		}
		out = append(out, p.eventLines(ex)...)
	} else {
		out = append(out, p.bodyLines(ex, ex.RespBody, "response")...)
	}
	if ex.Error != "" {
		out = append(out, " "+st.Status5xx.Render(sanitize(ex.Error)))
	}
	return out
}

// eventLines lists the events of a stream, each with its arrival time and data.
func (p *detailPane) eventLines(ex *recorder.Exchange) []string {
	st := &p.ctx.styles
	var out []string
	for i, ev := range ex.Events {
		head := " event " + strconv.Itoa(i+1) + " at +" + fmtDur(ev.At)
		if ev.Event != "" {
			head += " · " + sanitize(ev.Event)
		}
		if ev.ID != "" {
			head += " · id " + sanitize(ev.ID)
		}
		out = append(out, st.Section.Render(fit(head, p.w)))
		if lines := bodyLines(st, []byte(ev.Data), p.w-1); len(lines) > 0 {
			for _, l := range lines {
				out = append(out, " "+l)
			}
		} else {
			out = append(out, st.Faint.Render(" (no data)"))
		}
	}
	switch {
	case ex.State == recorder.StateStreaming:
		out = append(out, st.Faint.Render(" … streaming: events show up as they arrive"))
	case len(ex.Events) == 0:
		out = append(out, st.Faint.Render(" (the stream sent no events)"))
	}
	return out
}

func (p *detailPane) buildAnalysis(r *row, ex *recorder.Exchange) []string {
	st := &p.ctx.styles
	d := p.ctx.flow
	var out []string
	kv := func(k, v string) { // the value wraps under itself
		for i, l := range wrapStyled(v, max(p.w-13, 10)) {
			if i == 0 {
				out = append(out, " "+st.HeaderKey.Render(fit(k, 11))+" "+l)
			} else {
				out = append(out, strings.Repeat(" ", 13)+l)
			}
		}
	}
	kv("stage", string(d.stageOf(r)))
	client := string(d.clientOf(r))
	conn := d.connOf(r)
	if c := d.connection(conn); c != nil && c.ClientName != "" {
		client += " · " + sanitize(c.ClientName)
	}
	if client != "" {
		kv("client", client)
	}
	if conn != "" {
		kv("connection", sanitize(conn))
	}
	kv("started", ex.Start.Format("2006-01-02 15:04:05.000"))
	timing := "first byte after " + fmtDur(ex.Timings.Wait)
	if ex.State == recorder.StateComplete {
		timing += ", done after " + fmtDur(ex.Timings.Total)
	} else {
		timing += ", " + ex.State
	}
	kv("timing", timing)
	if ex.RemoteAddr != "" {
		kv("from", sanitize(ex.RemoteAddr))
	}
	if ex.Kind == recorder.Outbound {
		kv("direction", "outbound: a request mcpwatch made")
	}
	if code, msg, ok := ex.RPCError(); ok {
		kv("rpc error", strconv.Itoa(code)+" "+sanitize(msg))
	}
	if ex.RPCSkipped > 0 {
		kv("rpc", strconv.Itoa(ex.RPCSkipped)+" JSON-RPC messages beyond the first "+strconv.Itoa(len(ex.RPC))+" counted, not read (the recorder's bound)")
	}
	if ex.EventsSkipped > 0 {
		kv("events", strconv.Itoa(ex.EventsSkipped)+" events beyond the first "+strconv.Itoa(len(ex.Events))+" counted, not kept (the recorder's bound)")
	}
	for _, n := range ex.Notes {
		kv(sanitize(n.Key), sanitize(n.Value))
	}

	findings := d.findingsOf(ex.ID)
	out = append(out, "", st.Bold.Render(" Findings"))
	if len(findings) == 0 {
		out = append(out, st.Faint.Render("  none"))
	}
	for _, f := range findings {
		out = append(out, p.findingLines(f)...)
	}

	out = append(out, "", st.Bold.Render(" Toggles"))
	if len(ex.Toggles) == 0 {
		out = append(out, st.Faint.Render("  no toggle altered this exchange"))
	}
	for _, fc := range ex.Toggles {
		out = append(out, wrapStyled("  "+st.Toggle.Render(sanitize(fc.Name))+" changed "+sanitize(fc.What), p.w)...)
		out = append(out, wrapStyled("    before: "+orNone(st, fc.Before), p.w)...)
		out = append(out, wrapStyled("    after:  "+orNone(st, fc.After), p.w)...)
	}
	return out
}

func orNone(st *Styles, s string) string {
	if s == "" {
		return st.Faint.Render("(absent)")
	}
	return sanitize(s)
}

// findingLines renders a finding: severity and summary, the fix, the source.
func (p *detailPane) findingLines(f analysis.Finding) []string {
	return findingBlock(&p.ctx.styles, f, p.w, false)
}

func findingBlock(st *Styles, f analysis.Finding, w int, withRef bool) []string {
	head := "  " + st.sevStyle(f.Severity).Render(sevMark(f.Severity)+" "+string(f.Severity)) + " " + sanitize(f.Summary)
	out := wrapStyled(head, w)
	if f.Fix != "" {
		out = append(out, wrapStyled("    fix: "+sanitize(f.Fix), w)...)
	}
	var ref []string
	if f.Rule != "" {
		ref = append(ref, sanitize(f.Rule))
	}
	if withRef && f.ExchangeID != 0 {
		ref = append(ref, "#"+strconv.FormatUint(f.ExchangeID, 10))
	}
	if f.Toggle != "" {
		ref = append(ref, "toggle "+sanitize(f.Toggle))
	}
	if f.Source != "" {
		ref = append(ref, sanitize(f.Source))
	}
	if len(ref) > 0 {
		out = append(out, wrapStyled(st.Faint.Render("    "+strings.Join(ref, " · ")), w)...)
	}
	return out
}

// wrapStyled wraps a styled line at w cells; continuation lines are indented like the first line's text.
func wrapStyled(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	if ansi.StringWidth(s) <= w {
		return []string{s}
	}
	plain := ansi.Strip(s)
	indent := len(plain) - len(strings.TrimLeft(plain, " "))
	if indent > w/3 {
		indent = 0
	}
	first := strings.Split(ansi.Wrap(s, w, ""), "\n")
	if indent == 0 || len(first) < 2 {
		return first
	}
	// Wrap the first line at w, the rest (joined again) at w-indent behind the indent.
	out := []string{first[0]}
	total := ansi.StringWidth(s)
	rest := ansi.Cut(s, ansi.StringWidth(first[0]), total)
	if n := len(ansi.Strip(rest)) - len(strings.TrimLeft(ansi.Strip(rest), " ")); n > 0 {
		rest = ansi.Cut(rest, n, total)
	}
	pad := strings.Repeat(" ", indent)
	for _, l := range strings.Split(ansi.Wrap(rest, w-indent, ""), "\n") {
		out = append(out, pad+l)
	}
	return out
}
