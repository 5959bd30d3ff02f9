package tui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// listPane is the exchange list: one line per exchange, newest at the bottom, following new arrivals until the
// user moves up (G or End follows again). Only the lines in view are rendered, so its cost does not grow with
// the number of exchanges. The selection is an exchange id, so it survives evictions and filter changes.
type listPane struct {
	ctx     *programContext
	w, h    int
	focused bool
	selID   uint64
	top     int  // position of the first line drawn
	follow  bool // select each new arrival
}

func newList(ctx *programContext) *listPane { return &listPane{ctx: ctx, follow: true} }

func (p *listPane) SetSize(w, h int) { p.w, p.h = w, h; p.clamp() }
func (p *listPane) SetFocus(f bool)  { p.focused = f }
func (p *listPane) title() string    { return "Exchanges" }
func (p *listPane) rowsShown() int   { return max(p.h-1, 1) }

func (p *listPane) ShortHelp() []key.Binding {
	k := p.ctx.keys
	return []key.Binding{k.Up, k.Down, k.Enter, k.Filter, k.Bottom}
}

func (p *listPane) FullHelp() [][]key.Binding {
	k := p.ctx.keys
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Enter}}
}

// selected is the selected row, or nil.
func (p *listPane) selected() *row {
	d := p.ctx.flow
	if d.visible() == 0 {
		return nil
	}
	pos, _ := d.posOf(p.selID)
	return d.at(min(pos, d.visible()-1))
}

// pos is the selected position in the filtered view.
func (p *listPane) pos() int {
	d := p.ctx.flow
	pos, _ := d.posOf(p.selID)
	return max(min(pos, d.visible()-1), 0)
}

func (p *listPane) selectPos(pos int) {
	d := p.ctx.flow
	n := d.visible()
	if n == 0 {
		p.selID = 0
		return
	}
	pos = max(min(pos, n-1), 0)
	p.selID = d.at(pos).id
}

// selectID selects an exchange and stops following.
func (p *listPane) selectID(id uint64) {
	p.selID = id
	p.follow = false
	p.clamp()
}

// onData follows new arrivals and keeps the selection in view.
func (p *listPane) onData() {
	if p.follow {
		p.selectPos(p.ctx.flow.visible() - 1)
	}
	p.clamp()
}

// clamp keeps the selection valid and in view.
func (p *listPane) clamp() {
	d := p.ctx.flow
	n := d.visible()
	if n == 0 {
		p.top = 0
		return
	}
	pos := p.pos()
	p.selID = d.at(pos).id
	rows := p.rowsShown()
	if p.follow {
		p.top = max(n-rows, 0)
	}
	if pos < p.top {
		p.top = pos
	}
	if pos >= p.top+rows {
		p.top = pos - rows + 1
	}
	p.top = max(min(p.top, n-rows), 0)
}

func (p *listPane) move(delta int) {
	n := p.ctx.flow.visible()
	pos := p.pos() + delta
	p.selectPos(pos)
	p.follow = pos >= n-1 && delta > 0
	p.clamp()
}

func (p *listPane) Update(msg tea.Msg) tea.Cmd {
	k := p.ctx.keys
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, k.Up):
			p.move(-1)
		case key.Matches(msg, k.Down):
			p.move(1)
		case key.Matches(msg, k.PageUp):
			p.move(-p.rowsShown())
		case key.Matches(msg, k.PageDown):
			p.move(p.rowsShown())
		case key.Matches(msg, k.Top):
			p.selectPos(0)
			p.follow = false
			p.clamp()
		case key.Matches(msg, k.Bottom):
			p.follow = true
			p.onData()
		}
	case tea.MouseWheelMsg:
		if msg.Button == tea.MouseWheelUp {
			p.move(-3)
		} else {
			p.move(3)
		}
	}
	return nil
}

// click selects the exchange drawn at line y of the pane.
func (p *listPane) click(_, y int) {
	if y < 1 {
		return
	}
	pos := p.top + y - 1
	if pos < p.ctx.flow.visible() {
		p.selectPos(pos)
		p.follow = false
		p.clamp()
	}
}

func (p *listPane) Lines() []string {
	st := &p.ctx.styles
	d := p.ctx.flow
	n := d.visible()
	title := " Exchanges " + strconv.Itoa(n)
	if d.vis != nil {
		title += "/" + strconv.Itoa(d.len())
	}
	right := ""
	switch {
	case n == 0:
	case p.follow:
		right = "following "
	default:
		right = "paused · G follows "
	}
	lines := make([]string, 0, p.h)
	lines = append(lines, sectionBar(st, title, right, p.w, p.focused))
	if n == 0 {
		if d.vis != nil {
			lines = append(lines, st.Faint.Render("  nothing matches the filter (esc clears it)"))
		} else if p.ctx.cfg.ReadOnly {
			lines = append(lines, st.Faint.Render("  the capture holds no exchanges"))
		} else {
			lines = append(lines, st.Faint.Render("  waiting for requests…"))
			for _, l := range wrapWords("paste the connector URL (above) into the client's connector settings; every request it makes shows up here as it happens.", p.w-3) {
				lines = append(lines, "  "+l)
			}
		}
		return block(lines, p.w, p.h)
	}
	cols := p.columns()
	for pos := p.top; pos < n && len(lines) < p.h; pos++ {
		r := d.at(pos)
		line := p.render(r, cols)
		if r.id == p.selID {
			line = selectRow(st, line, p.w, p.focused)
		}
		lines = append(lines, line)
	}
	return block(lines, p.w, p.h)
}

// listCols are the column widths for the pane's width.
type listCols struct {
	id, time, stage int
}

func (p *listPane) columns() listCols {
	d := p.ctx.flow
	c := listCols{id: 3, stage: 11}
	if n := len(d.rows); n > 0 {
		c.id = max(len(strconv.FormatUint(d.rows[n-1].id, 10)), 3)
	}
	if p.w >= 100 {
		c.time = 12
		c.stage = 17
	}
	return c
}

// render is one exchange's line: marks, id, time, method, status, duration, stage, path and JSON-RPC method.
func (p *listPane) render(r *row, c listCols) string {
	st := &p.ctx.styles
	d := p.ctx.flow
	t := d.text(r)
	var b strings.Builder
	b.Grow(p.w * 2)
	// The selection (also marked where reverse video is not seen), then marks: the worst finding, a toggle's
	// alteration, an outbound request.
	if r.id == p.selID {
		b.WriteString("▸")
	} else {
		b.WriteByte(' ')
	}
	if m, ok := d.exFinding[r.id]; ok {
		b.WriteString(st.sevStyle(m.sev).Render(sevMark(m.sev)))
	} else {
		b.WriteByte(' ')
	}
	switch {
	case r.flags&rowToggles != 0:
		b.WriteString(st.Toggle.Render("~"))
	case r.flags&rowOutbound != 0:
		b.WriteString(st.Faint.Render("→"))
	default:
		b.WriteByte(' ')
	}
	b.WriteString(st.Faint.Render(padLeft(strconv.FormatUint(r.id, 10), c.id)))
	b.WriteByte(' ')
	if c.time > 0 {
		b.WriteString(st.Faint.Render(r.clock()))
		b.WriteByte(' ')
	}
	b.WriteString(fit(t.method, 6))
	b.WriteByte(' ')
	b.WriteString(st.statusStyle(r.class).Render(fit(statusText(r), 3)))
	b.WriteByte(' ')
	b.WriteString(padLeft(durText(r), 6))
	b.WriteByte(' ')
	b.WriteString(fit(string(d.stageOf(r)), c.stage))
	b.WriteByte(' ')
	var rest string
	if r.flags&rowOutbound != 0 {
		rest = sanitize(t.url)
	} else {
		rest = sanitize(t.path())
	}
	if t.rpc != "" {
		rest += " " + st.Bold.Render(sanitize(t.rpc))
	}
	if t.err != "" {
		rest += " " + st.Status5xx.Render(sanitize(t.err))
	}
	b.WriteString(rest)
	return b.String()
}
