package tui

import (
	"path/filepath"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mcpwatch/mcpwatch/recorder/export"
)

// A modal sits over the main view and takes every key until it closes.

// newInput is a one-line text input drawn with the terminal's own cursor (the root places it), so that nothing
// blinks in the goldens.
func newInput(st *Styles, prompt string) textinput.Model {
	in := textinput.New()
	in.Prompt = prompt
	in.SetVirtualCursor(false)
	s := textinput.DefaultStyles(st.Dark)
	s.Focused.Prompt = st.Prompt
	s.Blurred.Prompt = st.PromptOf
	in.SetStyles(s)
	return in
}

// boxed draws lines in a modal box of at most w cells inside a screen of width sw; it returns the box's lines.
func boxed(st *Styles, title string, lines []string, w int) []string {
	inner := max(w-4, 10)
	body := make([]string, 0, len(lines)+2)
	body = append(body, st.Bold.Render(trunc(title, inner)), "")
	for _, l := range lines {
		body = append(body, fit(l, inner))
	}
	return strings.Split(st.Box.Width(inner+4).Render(strings.Join(body, "\n")), "\n")
}

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

// ---- export prompt ----

// exportPrompt asks for a format and a path, then writes the exchanges in view (the filter's, when one is
// active) and confirms. An existing file is only overwritten after a second enter.
type exportPrompt struct {
	ctx      *programContext
	format   int
	input    textinput.Model
	err      string
	confirm  bool // the path exists: enter again overwrites
	busy     bool
	n        int  // exchanges to write
	filtered bool // they are the filter's
}

func newExportPrompt(ctx *programContext) *exportPrompt {
	return &exportPrompt{ctx: ctx, input: newInput(&ctx.styles, "path: ")}
}

// open readies the prompt with a default path in the working directory.
func (p *exportPrompt) open(n int, filtered bool) tea.Cmd {
	p.err, p.confirm, p.busy, p.n, p.filtered = "", false, false, n, filtered
	p.format = min(p.format, max(len(p.ctx.cfg.ExportFormats)-1, 0))
	name := "mcpwatch-" + p.ctx.cfg.Now().Format("20060102-150405") + formatExt(p.formatName())
	p.input.SetValue(name)
	p.input.CursorEnd()
	return p.input.Focus()
}

func (p *exportPrompt) formatName() string {
	fs := p.ctx.cfg.ExportFormats
	if len(fs) == 0 {
		return ""
	}
	return fs[p.format]
}

// formatExt is the usual file extension of an export format, from the export package's registry ("" for a name
// it does not know).
func formatExt(format string) string {
	f, err := export.ParseFormat(format)
	if err != nil {
		return ""
	}
	return f.Ext()
}

func (p *exportPrompt) ShortHelp() []key.Binding {
	k := p.ctx.keys
	save := k.Accept
	save.SetHelp("enter", "save")
	if p.confirm {
		save.SetHelp("enter", "overwrite")
	}
	return []key.Binding{save, k.NextFormat, k.Cancel}
}

func (p *exportPrompt) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }

// key handles a key and says what the root should do.
func (p *exportPrompt) key(msg tea.KeyPressMsg) (action exportAction, cmd tea.Cmd) {
	k := p.ctx.keys
	switch {
	case key.Matches(msg, k.Cancel):
		return exportCancel, nil
	case p.busy:
		return exportNone, nil
	case key.Matches(msg, k.NextFormat):
		fs := p.ctx.cfg.ExportFormats
		if len(fs) > 1 {
			old := formatExt(p.formatName())
			p.format = (p.format + 1) % len(fs)
			if v := p.input.Value(); old != "" && strings.HasSuffix(v, old) {
				p.input.SetValue(strings.TrimSuffix(v, old) + formatExt(p.formatName()))
				p.input.CursorEnd()
			}
			p.confirm = false
		}
		return exportNone, nil
	case key.Matches(msg, k.Accept):
		if p.ctx.cfg.Exporter == nil || len(p.ctx.cfg.ExportFormats) == 0 {
			p.err = "no exporter is available in this build"
			return exportNone, nil
		}
		if strings.TrimSpace(p.input.Value()) == "" {
			p.err = "type a path"
			return exportNone, nil
		}
		p.err = ""
		p.busy = true
		if p.confirm {
			return exportOverwrite, nil
		}
		return exportSave, nil
	}
	p.confirm = false
	p.err = ""
	p.input, cmd = p.input.Update(msg)
	return exportNone, cmd
}

type exportAction int

const (
	exportNone exportAction = iota
	exportCancel
	exportSave
	exportOverwrite
)

// path is the path typed, cleaned.
func (p *exportPrompt) path() string { return filepath.Clean(strings.TrimSpace(p.input.Value())) }

// exportBoxW is the prompt's width on a screen of width w.
func exportBoxW(w int) int { return min(w-2, 90) }

// setWidth sizes the path input for a screen of width w.
func (p *exportPrompt) setWidth(w int) {
	p.input.SetWidth(max(exportBoxW(w)-4-ansi.StringWidth(p.input.Prompt)-1, 8))
}

func (p *exportPrompt) lines(w int) ([]string, *tea.Cursor) {
	st := &p.ctx.styles
	bw := exportBoxW(w)
	inner := bw - 4
	what := plural(p.n, "exchange", "exchanges")
	if p.filtered {
		what += " (those the filter shows)"
	}
	body := []string{"Write " + what + "."}
	if note := p.ctx.cfg.ExportNote; note != "" {
		body = append(body, st.Faint.Render(note))
	}
	fs := p.ctx.cfg.ExportFormats
	var fl []string
	for i, f := range fs {
		if i == p.format {
			fl = append(fl, st.TabOn.Render("["+f+"]"))
		} else {
			fl = append(fl, st.TabOff.Render(" "+f+" "))
		}
	}
	if len(fs) == 0 {
		fl = append(fl, st.Faint.Render("(none available)"))
	}
	body = append(body, "", "format: "+strings.Join(fl, " "))
	body = append(body, p.input.View())
	var cursor *tea.Cursor
	if c := p.input.Cursor(); c != nil && !p.busy {
		c.Y = len(body) + 1
		c.X += 2
		cursor = c
	}
	body = append(body, "")
	switch {
	case p.err != "":
		body = append(body, st.Error.Render(p.err))
	case p.confirm:
		body = append(body, st.SevWarn.Render("the file exists: enter again overwrites it"))
	case p.busy:
		body = append(body, st.Faint.Render("writing…"))
	default:
		body = append(body, st.Faint.Render("relative paths are from "+p.ctx.cfg.WorkDir))
	}
	body = append(body, helpLine(st, p.ShortHelp(), inner))
	return boxed(st, "Export", body, bw), cursor
}

// ---- help ----

// helpContent lays the help's sections out for a box of width w: two sections side by side when there is
// room, one under the other otherwise.
func helpContent(st *Styles, sections []helpSection, w int) []string {
	inner := w - 4
	render := func(s helpSection, cw int) []string {
		out := []string{fit(st.Bold.Render(s.title), cw)}
		for _, b := range s.keys {
			if !b.Enabled() {
				continue
			}
			hk := b.Help()
			out = append(out, fit("  "+st.HelpKey.Render(fit(hk.Key, 13))+" "+st.HelpDesc.Render(hk.Desc), cw))
		}
		if s.text != "" {
			for _, l := range wrapWords(s.text, cw-2) {
				out = append(out, fit("  "+st.HelpDesc.Render(l), cw))
			}
		}
		return out
	}
	var out []string
	if inner < 70 {
		for i, s := range sections {
			if i > 0 {
				out = append(out, "")
			}
			out = append(out, render(s, inner)...)
		}
		return out
	}
	cw := (inner - 2) / 2
	for i := 0; i < len(sections); i += 2 {
		if i > 0 {
			out = append(out, "")
		}
		left := render(sections[i], cw)
		var right []string
		if i+1 < len(sections) {
			right = render(sections[i+1], cw)
		}
		for j := range max(len(left), len(right)) {
			l, r := strings.Repeat(" ", cw), ""
			if j < len(left) {
				l = left[j]
			}
			if j < len(right) {
				r = right[j]
			}
			out = append(out, l+"  "+r)
		}
	}
	return out
}

// helpRows is how many lines of help a body of height h shows.
func helpRows(h int) int { return max(h-4, 1) }

// helpLines renders the help box: the lines from offset on, with a note when more follow.
func helpLines(st *Styles, content []string, w, h, offset int) []string {
	rows := helpRows(h)
	lines := content
	if len(content) > rows {
		end := min(offset+rows-1, len(content))
		lines = append(append([]string(nil), content[offset:end]...),
			st.Faint.Render("↓/j shows more · "+strconv.Itoa(len(content)-end)+" lines below"))
		if end == len(content) {
			lines[len(lines)-1] = st.Faint.Render("↑/k scrolls back")
		}
	}
	return boxed(st, "Keys   (esc or ? closes)", lines, w)
}

type helpSection struct {
	title string
	keys  []key.Binding
	text  string // prose under the keys, wrapped
}

// helpLine renders bindings as "key desc · key desc", as many as fit in w.
func helpLine(st *Styles, bs []key.Binding, w int) string {
	sep := st.Faint.Render(" · ")
	out, width := "", 0
	for _, b := range bs {
		if !b.Enabled() {
			continue
		}
		h := b.Help()
		item := st.HelpKey.Render(h.Key) + " " + st.Faint.Render(h.Desc)
		iw := ansi.StringWidth(h.Key) + 1 + ansi.StringWidth(h.Desc)
		if width > 0 {
			iw += 3
		}
		if width+iw > w {
			break
		}
		if width > 0 {
			out += sep
		}
		out += item
		width += iw
	}
	return out
}
