package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// ---- toggles panel ----

// togglesPanel lists the toggles and switches them: a change applies to the next request and shows in the
// header. A toggle that takes a value asks for it first.
type togglesPanel struct {
	ctx     *programContext
	sel     int
	editing bool
	input   textinput.Model
	err     string
	busy    bool
	w, h    int
}

func newTogglesPanel(ctx *programContext) *togglesPanel {
	return &togglesPanel{ctx: ctx, input: newInput(&ctx.styles, "value: ")}
}

func (p *togglesPanel) ShortHelp() []key.Binding {
	k := p.ctx.keys
	if p.editing {
		return []key.Binding{k.Accept, k.Cancel}
	}
	back := k.Back
	back.SetHelp("esc/t", "close")
	if p.ctx.cfg.Toggles == nil || p.ctx.cfg.ReadOnly {
		return []key.Binding{back}
	}
	return []key.Binding{k.Up, k.Down, k.Flip, k.Unset, back}
}

func (p *togglesPanel) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }

// dialogToggles is the toggles panel's id on the dialog stack.
const dialogToggles = "toggles"

func (p *togglesPanel) id() string           { return dialogToggles }
func (p *togglesPanel) openKey() key.Binding { return p.ctx.keys.Toggles }
func (p *togglesPanel) modal() bool          { return true }
func (p *togglesPanel) title() string        { return "Toggles" }
func (p *togglesPanel) click(_, _ int)       {}
func (p *togglesPanel) SetSize(w, h int)     { p.w, p.h = w, h; p.setWidth(w) }

// open readies the panel and reads the toggles again.
func (p *togglesPanel) open() tea.Cmd {
	p.err = ""
	p.sel = max(min(p.sel, len(p.ctx.toggles)-1), 0)
	if p.ctx.cfg.ReadOnly {
		return nil
	}
	return listToggles(p.ctx.cfg.Toggles)
}

// Update handles a key (esc, t or q close the panel), and passes anything else to the value's input while it is
// typed.
func (p *togglesPanel) Update(msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		if !p.editing {
			return nil
		}
		var cmd tea.Cmd
		p.input, cmd = p.input.Update(msg)
		return cmd
	}
	cmd, done := p.update(km, p.ctx.toggles)
	if done {
		p.ctx.dialogs.close(dialogToggles)
	}
	return cmd
}

// update handles a key; it returns a command and whether the panel closes.
func (p *togglesPanel) update(msg tea.KeyPressMsg, list []ToggleInfo) (tea.Cmd, bool) {
	k := p.ctx.keys
	t := p.ctx.cfg.Toggles
	if p.editing {
		switch {
		case key.Matches(msg, k.Cancel):
			p.editing = false
			p.input.Blur()
			return nil, false
		case key.Matches(msg, k.Accept):
			v := strings.TrimSpace(p.input.Value())
			if v == "" {
				p.err = "a value is needed (" + list[p.sel].ValueHint + ")"
				return nil, false
			}
			p.editing = false
			p.input.Blur()
			p.busy = true
			return setToggle(t, list[p.sel].Name, v, true), false
		}
		var cmd tea.Cmd
		p.input, cmd = p.input.Update(msg)
		return cmd, false
	}
	switch {
	case key.Matches(msg, k.Back), key.Matches(msg, k.Toggles), key.Matches(msg, k.Quit):
		return nil, true
	case key.Matches(msg, k.Up):
		p.sel = max(p.sel-1, 0)
	case key.Matches(msg, k.Down):
		p.sel = max(min(p.sel+1, len(list)-1), 0)
	case key.Matches(msg, k.Flip):
		if t == nil || p.ctx.cfg.ReadOnly || p.sel >= len(list) {
			return nil, false
		}
		ti := list[p.sel]
		p.err = ""
		switch {
		case ti.Active:
			p.busy = true
			return setToggle(t, ti.Name, "", false), false
		case ti.TakesValue:
			p.editing = true
			p.input.SetValue(ti.Value)
			p.input.CursorEnd()
			p.input.Prompt = ti.Name + "="
			return p.input.Focus(), false
		default:
			p.busy = true
			return setToggle(t, ti.Name, "", true), false
		}
	case key.Matches(msg, k.Unset):
		if t == nil || p.ctx.cfg.ReadOnly || p.sel >= len(list) || !list[p.sel].Active {
			return nil, false
		}
		p.busy = true
		return setToggle(t, list[p.sel].Name, "", false), false
	}
	return nil, false
}

// lines renders the panel's box; cursor is the input's cursor within the box (nil when not editing).
// togglesBoxW is the panel's width on a screen of width w.
func togglesBoxW(w int) int { return min(w-2, 96) }

// setWidth sizes the value input for a screen of width w.
func (p *togglesPanel) setWidth(w int) {
	p.input.SetWidth(max(togglesBoxW(w)-4-ansi.StringWidth(p.input.Prompt)-1, 8))
}

func (p *togglesPanel) Lines() []string { l, _ := p.box(); return l }

func (p *togglesPanel) box() ([]string, *tea.Cursor) { return p.lines(p.ctx.toggles, p.w, p.h) }

func (p *togglesPanel) lines(list []ToggleInfo, w, h int) ([]string, *tea.Cursor) {
	st := &p.ctx.styles
	bw := togglesBoxW(w)
	inner := bw - 4
	var body []string
	switch {
	case p.ctx.cfg.ReadOnly:
		body = append(body, "A saved capture is read-only: toggles are disabled.")
	case p.ctx.cfg.Toggles == nil:
		body = append(body, "No toggles are available in this build.",
			st.Faint.Render("Toggles break one thing on purpose (omit the session id, drop the"),
			st.Faint.Render("resource metadata, …) to see how a client reacts."))
	case len(list) == 0:
		body = append(body, "No toggles are defined.")
	default:
		nameW := 0
		for _, t := range list {
			nameW = max(nameW, len(toggleLabel(t)))
		}
		nameW = min(nameW, inner/2)
		// The selected toggle's summary in full under the list: a row cuts its summary at the box's edge.
		var desc []string
		if p.sel < len(list) {
			desc = wrapWords(toggleLabel(list[p.sel])+": "+sanitize(list[p.sel].Summary), inner)
		}
		rows := max(h-8-len(desc)-1, 3) // the box's border, title, blank, help and status lines, the summary
		top := max(min(p.sel-rows/2, len(list)-rows), 0)
		for i := top; i < len(list) && i < top+rows; i++ {
			t := list[i]
			box := "[ ]"
			if t.Active {
				box = st.Toggle.Render("[x]")
			}
			cur := " "
			if i == p.sel {
				cur = "▸"
			}
			line := cur + box + " " + fit(toggleLabel(t), nameW) + " " + st.Faint.Render(sanitize(t.Summary))
			if i == p.sel {
				line = st.Selected.Render(fit(ansi.Strip(line), inner))
			}
			body = append(body, line)
		}
		if len(desc) > 0 {
			body = append(body, "")
			for _, l := range desc {
				body = append(body, st.Faint.Render(l))
			}
		}
	}
	body = append(body, "")
	var cursor *tea.Cursor
	switch {
	case p.ctx.cfg.Toggles == nil || p.ctx.cfg.ReadOnly:
	case p.editing:
		body = append(body, p.input.View())
		if c := p.input.Cursor(); c != nil {
			c.Y = len(body) + 1 // the box's top border and title, then the blank line after it
			c.X += 2            // the border and the padding
			cursor = c
		}
		if p.err != "" {
			body = append(body, st.Error.Render(p.err))
		}
	case p.err != "":
		body = append(body, st.Error.Render(p.err))
	case p.busy:
		body = append(body, st.Faint.Render("switching…"))
	default:
		body = append(body, st.Faint.Render("a change applies to the next request"))
	}
	body = append(body, helpLine(st, p.ShortHelp(), inner))
	return boxed(st, "Toggles", body, bw), cursor
}

func toggleLabel(t ToggleInfo) string {
	switch {
	case t.Active && t.Value != "":
		return t.Name + "=" + t.Value
	case t.TakesValue && t.ValueHint != "":
		return t.Name + "=" + t.ValueHint
	}
	return t.Name
}
