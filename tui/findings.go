package tui

import (
	"strconv"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// findingsPane lists every finding of the analysis, worst first within the order they appeared; enter opens the
// exchange a finding is about.
//
// It is a body dialog: it fills the body in place of the panes (f opens and closes it, esc closes it), takes the
// keys of its key map and lets the global keys through.
type findingsPane struct {
	ctx  *programContext
	show func(id uint64) // shows an exchange (the root's openExchange)
	w, h int
	sel  int
	top  int
}

func newFindings(ctx *programContext, show func(id uint64)) *findingsPane {
	return &findingsPane{ctx: ctx, show: show}
}

// dialogFindings is the findings' id on the dialog stack.
const dialogFindings = "findings"

func (p *findingsPane) id() string           { return dialogFindings }
func (p *findingsPane) openKey() key.Binding { return p.ctx.keys.Findings }
func (p *findingsPane) open() tea.Cmd        { return nil }
func (p *findingsPane) modal() bool          { return false }
func (p *findingsPane) title() string        { return "Findings" }
func (p *findingsPane) SetSize(w, h int)     { p.w, p.h = w, h; p.clamp() }

func (p *findingsPane) onData() { p.clamp() }

func (p *findingsPane) box() ([]string, *tea.Cursor) { return p.Lines(), nil }

func (p *findingsPane) ShortHelp() []key.Binding {
	k := p.ctx.keys
	enter := k.Enter
	enter.SetHelp("enter", "open its exchange")
	back := k.Back
	back.SetHelp("esc/f", "back")
	return []key.Binding{k.Up, k.Down, enter, back}
}

func (p *findingsPane) FullHelp() [][]key.Binding {
	k := p.ctx.keys
	enter := k.Enter
	enter.SetHelp("enter", "open the finding's exchange")
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, enter, k.Back}}
}

func (p *findingsPane) findings() []analysis.Finding { return p.ctx.flow.report.Findings }

// selected is the selected finding, or nil.
func (p *findingsPane) selected() *analysis.Finding {
	fs := p.findings()
	if p.sel < 0 || p.sel >= len(fs) {
		return nil
	}
	return &fs[p.sel]
}

func (p *findingsPane) clamp() {
	n := len(p.findings())
	p.sel = max(min(p.sel, n-1), 0)
	if p.sel < p.top || !p.fits(p.top, p.sel) {
		p.top = p.sel
	}
	for p.top > 0 && p.fits(p.top-1, p.sel) {
		p.top--
	}
}

// fits reports whether findings a..b fit under the title.
func (p *findingsPane) fits(a, b int) bool {
	fs := p.findings()
	n := 0
	for i := a; i <= b && i < len(fs); i++ {
		if n += len(findingBlock(&p.ctx.styles, fs[i], p.w, true)); n > p.h-1 {
			return false
		}
	}
	return true
}

func (p *findingsPane) Update(msg tea.Msg) tea.Cmd {
	k := p.ctx.keys
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch {
		case key.Matches(msg, k.Back):
			p.ctx.dialogs.close(dialogFindings)
			return nil
		case key.Matches(msg, k.Enter):
			if f := p.selected(); f != nil && f.ExchangeID != 0 {
				p.show(f.ExchangeID)
			}
			return nil
		case key.Matches(msg, k.Up):
			p.sel--
		case key.Matches(msg, k.Down):
			p.sel++
		case key.Matches(msg, k.PageUp):
			p.sel -= 5
		case key.Matches(msg, k.PageDown):
			p.sel += 5
		case key.Matches(msg, k.Top):
			p.sel = 0
		case key.Matches(msg, k.Bottom):
			p.sel = len(p.findings()) - 1
		}
	case tea.MouseWheelMsg:
		if msg.Button == tea.MouseWheelUp {
			p.sel--
		} else {
			p.sel++
		}
	}
	p.clamp()
	return nil
}

func (p *findingsPane) click(_, y int) {
	fs := p.findings()
	line := 1
	for i := p.top; i < len(fs); i++ {
		h := len(findingBlock(&p.ctx.styles, fs[i], p.w, true))
		if y >= line && y < line+h {
			p.sel = i
			return
		}
		line += h
	}
}

func (p *findingsPane) Lines() []string {
	st := &p.ctx.styles
	fs := p.findings()
	counts := map[analysis.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	right := ""
	if len(fs) > 0 {
		right = plural(counts[analysis.SeverityError], "error", "errors") + " · " +
			plural(counts[analysis.SeverityWarn], "warning", "warnings") + " · " +
			plural(counts[analysis.SeverityInfo], "note", "notes") + " "
	}
	out := []string{sectionBar(st, " Findings "+strconv.Itoa(len(fs)), right, p.w, true)}
	if len(fs) == 0 {
		out = append(out, st.Faint.Render("  no findings: what the analysis finds wrong with a handshake shows here"))
		return block(out, p.w, p.h)
	}
	for i := p.top; i < len(fs) && len(out) < p.h; i++ {
		b := findingBlock(st, fs[i], p.w, true)
		if i == p.sel {
			b[0] = selectRow(st, "▸"+b[0][1:], p.w, true)
		}
		out = append(out, b...)
	}
	return block(out, p.w, p.h)
}
