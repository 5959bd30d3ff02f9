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
	prog     *exportProgress // of the export running (busy)
	seq      int             // counts the exports started, for their ticks
	n        int             // exchanges to write
	filtered bool            // they are the filter's
	older    int             // of them, those older than the list (the rows' window let them go, the store holds them)
	w        int             // the screen's width
}

func newExportPrompt(ctx *programContext) *exportPrompt {
	return &exportPrompt{ctx: ctx, input: newInput(&ctx.styles, "path: ")}
}

// open readies the prompt for the exchanges in view, with a default path in the working directory.
func (p *exportPrompt) open() tea.Cmd {
	d := p.ctx.flow
	p.err, p.confirm, p.busy, p.n, p.filtered = "", false, false, d.visible(), d.vis != nil
	from, to := d.unlisted(p.ctx.cfg.Store.Stats())
	p.older = int(to - from)
	p.n += p.older
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

// dialogExport is the export prompt's id on the dialog stack.
const dialogExport = "export"

func (p *exportPrompt) id() string           { return dialogExport }
func (p *exportPrompt) openKey() key.Binding { return p.ctx.keys.Export }
func (p *exportPrompt) modal() bool          { return true }
func (p *exportPrompt) title() string        { return "Export" }
func (p *exportPrompt) click(_, _ int)       {}
func (p *exportPrompt) SetSize(w, _ int)     { p.w = w; p.setWidth(w) }

func (p *exportPrompt) Lines() []string              { l, _ := p.box(); return l }
func (p *exportPrompt) box() ([]string, *tea.Cursor) { return p.lines(p.w) }

// Update handles a key (esc closes the prompt; enter writes the exchanges in a command that reports back with an
// exportedMsg), and passes anything else to the path's input.
func (p *exportPrompt) Update(msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		if p.busy {
			return nil
		}
		var cmd tea.Cmd
		p.input, cmd = p.input.Update(msg)
		return cmd
	}
	action, cmd := p.key(km)
	switch action {
	case exportCancel:
		p.ctx.dialogs.close(dialogExport)
		p.input.Blur()
	case exportSave, exportOverwrite:
		p.prog = &exportProgress{}
		p.seq++
		return tea.Batch(runExport(p.ctx.cfg.Exporter, p.ctx.exchange, p.formatName(), p.path(),
			p.ctx.flow.exportIDs(p.ctx.cfg.Store.Stats()), action == exportOverwrite, p.prog), exportTick(p.seq))
	}
	return cmd
}

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

// progress says how far the export running got: " 12000 of 40000 read (pass 2 of 3)", or "" before it says.
func (p *exportPrompt) progress() string {
	pr, ok := p.prog.get()
	if !ok || pr.Total == 0 {
		return ""
	}
	s := " " + strconv.Itoa(pr.Done) + " of " + strconv.Itoa(pr.Total) + " read"
	if pr.Passes > 1 {
		s += " (pass " + strconv.Itoa(pr.Pass) + " of " + strconv.Itoa(pr.Passes) + ")"
	}
	return s
}

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
	} else if p.older > 0 {
		what += " (all the store holds: " + strconv.Itoa(p.older) + " older than the list)"
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
		body = append(body, st.Faint.Render("writing…"+p.progress()))
	default:
		body = append(body, st.Faint.Render("relative paths are from "+p.ctx.cfg.WorkDir))
	}
	body = append(body, helpLine(st, p.ShortHelp(), inner))
	return boxed(st, "Export", body, bw), cursor
}
