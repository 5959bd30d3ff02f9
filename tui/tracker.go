package tui

import (
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// trackerPane shows each connection's run through the handshake stages: ✓ done, ✗ failed, · not yet; the
// client; how long it has taken; the worst finding. Several connections stack; the newest stays in view until
// the user moves the selection.
type trackerPane struct {
	ctx     *programContext
	w, h    int
	focused bool
	sel     int  // selected connection
	follow  bool // keep the newest selected
	top     int  // first connection drawn
	needed  struct {
		gen  uint64
		w, n int
	}
	heights    map[*analysis.Connection]int // lines of each block, for the connections and width below
	heightsGen uint64
	heightsW   int
}

// height is the lines of a connection's block (kept until the connections or the width change).
func (p *trackerPane) height(c *analysis.Connection) int {
	if p.heights == nil || p.heightsGen != p.ctx.flow.connsGen || p.heightsW != p.w {
		p.heights, p.heightsGen, p.heightsW = map[*analysis.Connection]int{}, p.ctx.flow.connsGen, p.w
	}
	h, ok := p.heights[c]
	if !ok {
		h = len(p.block(c, false, p.w))
		p.heights[c] = h
	}
	return h
}

func newTracker(ctx *programContext) *trackerPane { return &trackerPane{ctx: ctx, follow: true} }

func (p *trackerPane) SetSize(w, h int)              { p.w, p.h = w, h; p.clamp() }
func (p *trackerPane) SetFocus(f bool)               { p.focused = f }
func (p *trackerPane) title() string                 { return "Connections" }
func (p *trackerPane) conns() []*analysis.Connection { return p.ctx.flow.connList }

func (p *trackerPane) ShortHelp() []key.Binding {
	k := p.ctx.keys
	enter := k.Enter
	enter.SetHelp("enter", "filter by connection")
	return []key.Binding{k.Up, k.Down, enter, k.NextPane}
}

func (p *trackerPane) FullHelp() [][]key.Binding {
	k := p.ctx.keys
	enter := k.Enter
	enter.SetHelp("enter", "show this connection's exchanges")
	return [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom, enter}}
}

// selected is the selected connection, or nil.
func (p *trackerPane) selected() *analysis.Connection {
	cs := p.conns()
	if p.sel < 0 || p.sel >= len(cs) {
		return nil
	}
	return cs[p.sel]
}

// onData keeps the newest connection selected while following.
func (p *trackerPane) onData() {
	if n := len(p.conns()); p.follow && n > 0 {
		p.sel = n - 1
	}
	p.clamp()
}

func (p *trackerPane) clamp() {
	n := len(p.conns())
	p.sel = max(min(p.sel, n-1), 0)
	// The selected connection's block is drawn whole, with as many before it as fit. (The cost is the
	// connections in view, however many there are.)
	if p.sel < p.top || !p.fits(p.top, p.sel) {
		p.top = p.sel
	}
	for p.top > 0 && p.fits(p.top-1, p.sel) {
		p.top--
	}
	p.top = max(min(p.top, n-1), 0)
}

// fits reports whether connections top..last fit under the title.
func (p *trackerPane) fits(top, last int) bool {
	cs := p.conns()
	n := 0
	for i := top; i <= last && i < len(cs); i++ {
		if n += p.height(cs[i]); n > p.h-1 {
			return false
		}
	}
	return true
}

// Needed is the height that shows every connection (the root caps it; the answer is kept until the report or
// the width change).
func (p *trackerPane) Needed(w int) int {
	d := p.ctx.flow
	if p.needed.gen == d.connsGen && p.needed.w == w && p.needed.n > 0 {
		return p.needed.n
	}
	n := p.needs(w)
	p.needed.gen, p.needed.w, p.needed.n = d.connsGen, w, n
	return n
}

func (p *trackerPane) needs(w int) int {
	cs := p.conns()
	if len(cs) == 0 {
		return 2
	}
	n := 1
	for _, c := range cs {
		if w == p.w {
			n += p.height(c)
		} else {
			n += len(p.block(c, false, w))
		}
		if n > 64 {
			break
		}
	}
	return n
}

func (p *trackerPane) Update(msg tea.Msg) tea.Cmd {
	k := p.ctx.keys
	n := len(p.conns())
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, k.Up):
			p.sel--
			p.follow = false
		case key.Matches(msg, k.Down):
			p.sel++
			p.follow = p.sel >= n-1
		case key.Matches(msg, k.Top):
			p.sel, p.follow = 0, false
		case key.Matches(msg, k.Bottom):
			p.sel, p.follow = n-1, true
		}
	case tea.MouseWheelMsg:
		if msg.Button == tea.MouseWheelUp {
			p.sel--
			p.follow = false
		} else {
			p.sel++
			p.follow = p.sel >= n-1
		}
	}
	p.clamp()
	return nil
}

// click selects the connection drawn at line y of the pane.
func (p *trackerPane) click(_, y int) {
	cs := p.conns()
	line := 1
	for i := p.top; i < len(cs); i++ {
		h := p.height(cs[i])
		if y >= line && y < line+h {
			p.sel = i
			p.follow = i == len(cs)-1
			return
		}
		line += h
	}
}

func (p *trackerPane) Lines() []string {
	st := &p.ctx.styles
	cs := p.conns()
	title := " Connections"
	if len(cs) > 0 {
		title += " " + strconv.Itoa(len(cs))
	}
	if len(cs) > 0 && len(p.ctx.flow.report.Connections) == 0 {
		title += " · not grouped by the analysis yet"
	}
	lines := []string{sectionBar(st, title, "", p.w, p.focused)}
	if len(cs) == 0 {
		lines = append(lines, st.Faint.Render("  no client yet: the handshake of each client shows here, stage by stage"))
		return block(lines, p.w, p.h)
	}
	for i := p.top; i < len(cs) && len(lines) < p.h; i++ {
		lines = append(lines, p.block(cs[i], i == p.sel, p.w)...)
	}
	if p.top > 0 {
		lines[0] = sectionBar(st, title, "↑ "+strconv.Itoa(p.top)+" more ", p.w, p.focused)
	}
	return block(lines, p.w, p.h)
}

// hiddenWhenPending are stages a handshake need not reach: they are shown once they happen.
var hiddenWhenPending = []analysis.Stage{analysis.StageRefresh, analysis.StageRevoke, analysis.StageStream,
	analysis.StageTerminate, analysis.StageOther}

// block renders one connection: a summary line, its stages (wrapped), and its worst finding.
func (p *trackerPane) block(c *analysis.Connection, selected bool, w int) []string {
	st := &p.ctx.styles
	// Summary line.
	mark := st.OK.Render("✓")
	failed, pending := false, false
	for _, s := range c.Stages {
		switch {
		case s.Status == analysis.StatusFailed:
			failed = true
		case s.Status == analysis.StatusPending && !slices.Contains(hiddenWhenPending, s.Stage):
			pending = true
		}
	}
	switch {
	case failed:
		mark = st.Failed.Render("✗")
	case pending:
		mark = st.Waiting.Render("…")
	}
	var parts []string
	who := string(c.Client)
	if c.ID == fallbackID {
		who = "all exchanges"
	}
	if who == "" {
		who = string(analysis.ClientUnknown)
	}
	parts = append(parts, st.Bold.Render(who))
	if c.ClientName != "" {
		parts = append(parts, sanitize(c.ClientName))
	} else if c.UserAgent != "" {
		parts = append(parts, sanitize(c.UserAgent))
	}
	if c.Era != "" || c.Protocol != "" {
		parts = append(parts, strings.TrimSpace(c.Era+" "+c.Protocol))
	}
	if !c.Start.IsZero() && c.Last.After(c.Start) {
		parts = append(parts, fmtDur(c.Last.Sub(c.Start)))
	}
	if len(c.Exchanges) > 0 {
		parts = append(parts, plural(len(c.Exchanges), "exchange", "exchanges"))
	}
	if c.ID != fallbackID && c.ID != "" {
		parts = append(parts, st.Faint.Render(sanitize(c.ID)))
	}
	cur := " "
	if selected && len(p.conns()) > 1 {
		cur = "▸"
	}
	head := cur + mark + " " + strings.Join(parts, st.Faint.Render(" · "))
	if selected && p.focused {
		head = selectRow(st, head, w, p.focused)
	}
	out := []string{head}

	// Stages, wrapped under the summary.
	wide := w >= 120
	var toks []string
	for _, s := range c.Stages {
		if s.Status == analysis.StatusSkipped ||
			s.Status == analysis.StatusPending && slices.Contains(hiddenWhenPending, s.Stage) {
			continue
		}
		tok := st.stageMark(s.Status) + " " + string(s.Stage)
		if wide && s.Duration > 0 && s.Status != analysis.StatusPending {
			tok += " " + st.Faint.Render(fmtDur(s.Duration))
		}
		toks = append(toks, tok)
	}
	line := "   "
	for _, t := range toks {
		if width(line)+2+width(t) > w && line != "   " {
			out = append(out, line)
			line = "   "
		}
		if line != "   " {
			line += "  "
		}
		line += t
	}
	if line != "   " {
		out = append(out, line)
	}

	// The worst finding.
	if f := topFinding(c.Findings); f != nil {
		out = append(out, "   "+st.sevStyle(f.Severity).Render(sevMark(f.Severity)+" "+string(f.Severity))+" "+sanitize(f.Summary))
	}
	return out
}

// topFinding is the first finding of the worst severity.
func topFinding(fs []analysis.Finding) *analysis.Finding {
	var best *analysis.Finding
	for i := range fs {
		if best == nil || sevRank(fs[i].Severity) < sevRank(best.Severity) {
			best = &fs[i]
		}
	}
	return best
}

// selectRow draws a selected row: reversed in the focused pane, underlined on a tint in the others (both survive
// NO_COLOR).
func selectRow(st *Styles, line string, w int, focused bool) string {
	plain := fit(ansi.Strip(line), w)
	if focused {
		return st.Selected.Render(plain)
	}
	return st.SelectedBg.Render(plain)
}

// sectionBar is a pane's title line: the title on the left, info on the right.
func sectionBar(st *Styles, title, right string, w int, focused bool) string {
	style := st.Section
	if focused {
		style = st.SectionOn
	}
	return style.Render(leftRight(title, right, w))
}
