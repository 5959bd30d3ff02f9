package tui

import (
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

func helpW(w int) int { return min(w-2, 110) }

// active is the component whose keys the help shows: the top dialog under the help, or the focused pane.
func (m *Model) active() component {
	for i := len(m.dialogs.ds) - 1; i >= 0; i-- {
		if d := m.dialogs.ds[i]; d.id() != dialogHelp {
			return d
		}
	}
	return m.panes[m.focus]
}

// helpSections is the full help (soft-serve's pattern): the global keys, then the active component's own key map
// under its title, and the filter language.
func (m *Model) helpSections() []helpSection {
	k := m.ctx.keys
	a := m.active()
	pane := helpSection{title: a.title(), keys: flat(a.FullHelp())}
	h := func(k, d string) key.Binding { return key.NewBinding(key.WithKeys(k), key.WithHelp(k, d)) }
	global := []key.Binding{k.NextPane, k.Filter, k.Findings, k.Toggles, k.Export, k.Copy, k.CopyURL, k.Clear, k.Help, k.Quit}
	for _, d := range m.dialogList {
		// A dialog's key not listed above goes before help and quit.
		if ok := slices.ContainsFunc(global, func(b key.Binding) bool { return slices.Equal(b.Keys(), d.openKey().Keys()) }); !ok {
			global = slices.Insert(global, len(global)-2, d.openKey())
		}
	}
	if m.cfg.StartTunnel != nil && m.loopbackOnly() {
		global = slices.Insert(global, 7, k.Tunnel)
	}
	if m.cfg.ReadOnly {
		// A saved capture: no toggles to switch, no connector URL to copy.
		global = slices.DeleteFunc(global, func(b key.Binding) bool {
			return slices.Equal(b.Keys(), k.Toggles.Keys()) || slices.Equal(b.Keys(), k.CopyURL.Keys())
		})
	}
	counters := "exchanges: the requests recorded and held in memory (\"older let go\": the oldest, past the memory bound " +
		"or the list's " + strconv.Itoa(MaxRows) + " rows, are no longer listed; an export of the unfiltered list writes all the recorder still " +
		"holds, and the capture file keeps every one). findings: what the analysis found wrong or worth knowing in " +
		"the handshakes (f lists them). dropped: screen updates missed while the TUI fell behind a burst of requests; " +
		"nothing is lost (every exchange is recorded and in the capture file) and the screen reloads from the recorder."
	if m.cfg.ReadOnly {
		counters = "exchanges: those in the capture (\"older let go\": the list shows the newest " + strconv.Itoa(MaxRows) +
			"; an export of the unfiltered list writes them all). findings: what the analysis found wrong or worth knowing in the " +
			"handshakes (f lists them). dropped: screen updates the TUI missed while loading; it reloads what it missed."
	}
	sections := []helpSection{
		{title: "Global", keys: global},
		pane,
		{title: "Counters (top right)", text: counters},
		{title: "Filter (all words must match)", keys: []key.Binding{
			h("word", "method, path, stage, rpc, status"),
			h("stage:token", "a stage (or prefix)"),
			h("status:4xx", "1xx..5xx, 401, err, pending"),
			h("client:claude", "the client"),
			h("method:POST", "the HTTP method"),
			h("finding:any", "any, error, warn, info"),
			h("toggle:any", "altered by a toggle"),
			h("-word", "negates; a,b: either"),
		}},
		{title: "Mouse", keys: []key.Binding{h("wheel", "scroll the pane below"), h("click", "select, focus, switch tab")}},
	}
	if m.loopbackOnly() {
		way := "Restart with --tunnel"
		if m.cfg.StartTunnel != nil {
			way = "Press T to start one from here, or restart with --tunnel"
		}
		// First: the header's loopback line sends the user here.
		sections = append([]helpSection{{title: "Public URL", text: "None: the connector URL " +
			sanitize(m.cfg.ConnectorURL) + " is loopback. Clients on this machine (Claude Code, Cursor, the MCP " +
			"Inspector) reach it; Claude and ChatGPT on the web connect from their own servers and cannot. " + way +
			" (a Cloudflare quick tunnel; needs cloudflared), or tunnel to " + sanitize(m.cfg.ListenURL) +
			" yourself and restart with --public-url URL."}}, sections...)
	}
	if m.cfg.TunnelNote != "" && !m.cfg.ReadOnly {
		// First: the header's tunnel line sends the user here.
		note := sanitize(m.cfg.TunnelNote)
		note = strings.ToUpper(note[:1]) + note[1:]
		sections = append([]helpSection{{title: "Tunnel", text: "The public URL is a Cloudflare quick tunnel. " +
			strings.TrimSuffix(note, ".") + "."}}, sections...)
	}
	return sections
}

func flat(groups [][]key.Binding) []key.Binding {
	var out []key.Binding
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// ---- the help dialog ----

// helpDialog is the full help in a box (?): the sections its owner builds (Model.helpSections), scrolled.
type helpDialog struct {
	ctx      *programContext
	sections func() []helpSection
	w, h     int
	offset   int
}

func newHelpDialog(ctx *programContext, sections func() []helpSection) *helpDialog {
	return &helpDialog{ctx: ctx, sections: sections}
}

// dialogHelp is the help's id on the dialog stack.
const dialogHelp = "help"

func (p *helpDialog) id() string           { return dialogHelp }
func (p *helpDialog) openKey() key.Binding { return p.ctx.keys.Help }
func (p *helpDialog) modal() bool          { return true }
func (p *helpDialog) title() string        { return "Keys" }
func (p *helpDialog) click(_, _ int)       {}

// open starts the help at its top.
func (p *helpDialog) open() tea.Cmd {
	p.offset = 0
	return nil
}

// ShortHelp is empty: the box says how it closes, and the footer keeps only the global keys.
func (p *helpDialog) ShortHelp() []key.Binding { return nil }

func (p *helpDialog) FullHelp() [][]key.Binding {
	k := p.ctx.keys
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown, k.Back}}
}

func (p *helpDialog) content() []string {
	return helpContent(&p.ctx.styles, p.sections(), helpW(p.w))
}

// SetSize sizes the help for a body of w×h, and keeps the offset in range.
func (p *helpDialog) SetSize(w, h int) {
	p.w, p.h = w, h
	n := len(p.content())
	rows := helpRows(h)
	maxOff := 0
	if n > rows {
		maxOff = n - rows + 1
	}
	p.offset = max(min(p.offset, maxOff), 0)
}

func (p *helpDialog) Update(msg tea.Msg) tea.Cmd {
	km, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	k := p.ctx.keys
	switch {
	case key.Matches(km, k.Back, k.Help, k.Quit):
		p.ctx.dialogs.close(dialogHelp)
	case key.Matches(km, k.Up):
		p.offset--
	case key.Matches(km, k.Down):
		p.offset++
	case key.Matches(km, k.PageUp):
		p.offset -= 10
	case key.Matches(km, k.PageDown):
		p.offset += 10
	}
	return nil
}

func (p *helpDialog) box() ([]string, *tea.Cursor) {
	return helpLines(&p.ctx.styles, p.content(), helpW(p.w), p.h, p.offset), nil
}

func (p *helpDialog) Lines() []string { l, _ := p.box(); return l }

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
