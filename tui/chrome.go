package tui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// The chrome: the header (addresses, auth, counters, toggles) and the footer (the filter line, the status, the
// short help of the part that takes the keys).

const footerH = 1

// headerHeight is the header's lines: headerH's, one more for the tunnel's note while a tunnel is on or for the
// loopback warning while there is no public URL, and one more for each part that wrapped to a line of its own
// rather than be cut (a long auth state or upstream beside the connector URL).
func (m *Model) headerHeight(w int) int {
	return len(m.headerLines(w))
}

// loopbackOnly reports whether a live run has no public URL: web clients (Claude, ChatGPT) cannot reach it.
func (m *Model) loopbackOnly() bool {
	return !m.cfg.ReadOnly && m.cfg.PublicURL == "" && m.cfg.TunnelNote == ""
}

// loopbackLine is the header's line while there is no public URL: why web clients cannot connect, and the flag
// that fixes it (the help says more). The longest wording that fits is shown.
func (m *Model) loopbackLine(w int) string {
	st := &m.ctx.styles
	for _, s := range []string{
		"! loopback only: Claude and ChatGPT on the web cannot reach this URL; " + m.tunnelWayOut(true) + " · ? more",
		"! loopback only: web clients (Claude, ChatGPT) cannot reach it; " + m.tunnelWayOut(false) + " · ? more",
		"! web clients cannot reach loopback: " + m.tunnelWayOut(false) + " · ? more",
		"! loopback only: " + m.tunnelWayOut(false),
	} {
		if width(s)+1 <= w {
			main, more, _ := strings.Cut(s, " · ")
			line := " " + st.SevWarn.Render(main)
			if more != "" {
				line += st.Faint.Render(" · " + more)
			}
			return fit(line, w)
		}
	}
	return fit(" "+st.SevWarn.Render("! loopback only: "+m.tunnelWayOut(false)), w)
}

// tunnelWayOut is how to get a public URL: T when this run can start a tunnel, else the flag to restart with.
func (m *Model) tunnelWayOut(long bool) string {
	switch {
	case m.cfg.StartTunnel != nil && long:
		return "press T for a tunnel (or restart with --public-url URL)"
	case m.cfg.StartTunnel != nil:
		return "press T for a tunnel"
	case long:
		return "restart with --tunnel (or --public-url URL)"
	}
	return "restart with --tunnel"
}

// headerH is the header's height: two lines on a wide screen, three on a narrow one (the URLs get a line each).
func headerH(w int) int {
	if w >= 120 {
		return 2
	}
	return 3
}

func (m *Model) headerLines(w int) []string {
	st := &m.ctx.styles
	d := m.flow
	sep := st.Faint.Render(" · ")

	counts := plural(d.len(), "exchange", "exchanges")
	if d.evicted > 0 {
		counts += st.Faint.Render(" (" + strconv.FormatUint(d.evicted, 10) + " older let go)")
	}
	counts += sep + plural(len(d.report.Findings), "finding", "findings")
	dropped := strconv.FormatUint(d.dropped, 10) + " dropped"
	if d.dropped > 0 {
		dropped = st.SevWarn.Render(dropped)
	}
	counts += sep + dropped + " "

	// The version is the first thing to go when the first line has no room: the URLs are never cut for it.
	titles := []string{" " + st.Title.Render("mcpwatch")}
	if v := m.cfg.Version; v != "" {
		short := v
		if parts := strings.SplitN(v, "-", 3); len(parts) == 3 {
			short = parts[0] + "-" + parts[1] // dev-f180cd1-20261206T012216Z-dirty → dev-f180cd1
		}
		titles = []string{titles[0] + " " + st.Faint.Render(v), titles[0] + " " + st.Faint.Render(short), titles[0]}
	}
	title := titles[len(titles)-1]
	if m.cfg.ReadOnly {
		title = titles[0]
		prefix := title + "  " + st.Faint.Render("read-only") + "  "
		room := w - width(prefix) - 1
		if headerH(w) == 2 {
			room -= width(counts) + 1
		}
		l1 := prefix + truncLeft(sanitize(m.cfg.Source), room)
		l2 := " " + st.Faint.Render("a saved capture")
		if m.cfg.SourceNote != "" {
			l2 += sep + sanitize(m.cfg.SourceNote)
		}
		state := st.Faint.Render("toggles disabled") + " "
		if headerH(w) == 2 {
			return []string{leftRight(l1, counts, w), leftRight(l2, state, w)}
		}
		return []string{fit(l1, w), fit(l2, w), leftRight(" "+state, counts, w)}
	}
	public := st.SevWarn.Render("none")
	if m.cfg.PublicURL != "" {
		public = st.URL.Render(m.cfg.PublicURL)
	}
	listen := st.HeaderKey.Render("listening") + " " + st.URL.Render(m.cfg.ListenURL)
	publicPart := st.HeaderKey.Render("public") + " " + public
	line1Right := ""
	if headerH(w) == 2 {
		line1Right = counts
	}
	// The public URL goes on a line of its own when the first line has no room for it even without the version.
	first := []string{}
	for _, t := range titles {
		if width(t+"  "+listen+"  "+publicPart)+1+width(line1Right) <= w {
			first = []string{t + "  " + listen + "  " + publicPart}
			break
		}
	}
	if len(first) == 0 {
		first = []string{title + "  " + listen, " " + publicPart}
	}
	connector := " " + st.HeaderKey.Render("connector URL") + " " + st.URL.Render(m.cfg.ConnectorURL)
	// The auth state, longest wording first: the note's flag goes when the line has no room for it.
	var auths []string
	for _, note := range []string{m.cfg.AuthNote, strings.TrimSpace(strings.SplitN(m.cfg.AuthNote, " (", 2)[0])} {
		auth := "auth off"
		if m.cfg.Auth {
			auth = "auth on"
			if m.cfg.ConsentCode != "" {
				auth += sep + "consent code " + st.HeaderKey.Render(sanitize(m.cfg.ConsentCode))
			}
		}
		if note != "" {
			auth += ", " + st.SevWarn.Render(sanitize(note))
		}
		if m.cfg.Upstream != "" {
			auth = "proxy → " + sanitize(m.cfg.Upstream)
		}
		auths = append(auths, auth)
	}
	// pair puts right beside left when both fit, else right on a line of its own below left: neither is cut
	// while it fits the width alone.
	pair := func(left string, rights []string) []string {
		for _, r := range rights {
			if width(left)+1+width(r) <= w {
				return []string{leftRight(left, r, w)}
			}
		}
		for _, r := range rights {
			if width(r) <= w {
				return []string{fit(left, w), leftRight("", r, w)}
			}
		}
		return []string{fit(left, w), leftRight("", rights[len(rights)-1], w)}
	}
	withHint := func(rights []string) string {
		for _, r := range rights {
			if c := m.withCopyHint(connector, r, w); c != connector {
				return c
			}
		}
		return connector
	}
	var lines []string
	if headerH(w) == 2 {
		rights := make([]string, len(auths))
		for i, a := range auths {
			rights[i] = a + sep + m.togglesSummary() + " "
		}
		for _, l := range first[:len(first)-1] {
			lines = append(lines, fit(l, w))
		}
		lines = append(append(lines, pair(first[len(first)-1], []string{counts})...), pair(withHint(rights), rights)...)
	} else {
		rights := make([]string, len(auths))
		for i, a := range auths {
			rights[i] = a + " "
		}
		for _, l := range first {
			lines = append(lines, fit(l, w))
		}
		lines = append(append(lines, pair(withHint(rights), rights)...),
			pair(" "+m.togglesSummary(), []string{counts})...)
	}
	switch {
	case m.cfg.TunnelNote != "":
		lines = append(lines, m.tunnelLine(w))
	case m.loopbackOnly():
		lines = append(lines, m.loopbackLine(w))
	}
	return lines
}

// withCopyHint adds to the connector URL the key that copies it, when the line has room for it beside right
// (the URL itself is never cut for it).
func (m *Model) withCopyHint(connector, right string, w int) string {
	if m.cfg.ConnectorURL == "" {
		return connector
	}
	hint := m.ctx.styles.Faint.Render("  (u copies)")
	if width(connector)+width(hint)+1+width(right) > w {
		return connector
	}
	return connector + hint
}

// tunnelLine is the header's line while a quick tunnel is on: quick tunnels hold a GET event stream until it
// closes (cloudflare/cloudflared#1449); the help has the whole note.
func (m *Model) tunnelLine(w int) string {
	st := &m.ctx.styles
	if m.tunnelGone != "" {
		return fit(" "+st.SevError.Render("✗ tunnel gone: "+sanitize(m.tunnelGone)+"; the public URL no longer reaches mcpwatch (restart for a new one)"), w)
	}
	note := " " + st.SevWarn.Render("! quick tunnel: GET event streams arrive only when they close")
	more := st.Faint.Render(" · ? more")
	if width(note)+width(more) <= w {
		note += more
	}
	return fit(note, w)
}

// togglesSummary is the header's list of active toggles.
func (m *Model) togglesSummary() string {
	st := &m.ctx.styles
	if m.cfg.Toggles == nil {
		return st.Faint.Render("toggles: none available")
	}
	var on []string
	for _, t := range m.ctx.toggles {
		if t.Active {
			on = append(on, toggleLabel(t))
		}
	}
	if len(on) == 0 {
		return "toggles: " + st.Faint.Render("none on")
	}
	return "toggles: " + st.Toggle.Render(strings.Join(on, ", "))
}

// filterRight is what the footer shows right of the filter being typed: the count, or the mistake.
func (m *Model) filterRight(w int) string {
	st := &m.ctx.styles
	d := m.flow
	right := st.Faint.Render(strconv.Itoa(d.visible()) + "/" + strconv.Itoa(d.len()) + " · enter keeps · esc clears ")
	if m.filterErr != "" {
		right = st.Error.Render(m.filterErr) + " "
	}
	return trunc(right, min(ansi.StringWidth(right), w*2/3))
}

func (m *Model) footerLine(w int) (string, *tea.Cursor) {
	st := &m.ctx.styles
	d := m.flow
	if m.filtering {
		right := m.filterRight(w)
		line := leftRight(m.filterIn.View(), right, w)
		return line, m.filterIn.Cursor()
	}
	if m.status != "" {
		style := st.Success
		if m.statusErr {
			style = st.Error
		}
		return fit(" "+style.Render(m.status), w), nil
	}
	left := ""
	if d.vis != nil {
		left = " " + st.HelpKey.Render("filter") + " " + sanitize(d.filter.src) + st.Faint.Render(" ("+
			strconv.Itoa(d.visible())+"/"+strconv.Itoa(d.len())+", esc clears)")
	}
	// The short help of what takes the keys (the top dialog, or the focused pane), and the global keys.
	var bs []key.Binding
	if d := m.dialogs.top(); d != nil {
		bs = d.ShortHelp()
	} else {
		bs = m.panes[m.focus].ShortHelp()
	}
	k := m.ctx.keys
	avail := w - 1
	if left != "" {
		avail = max(w-ansi.StringWidth(left)-2, w/2)
	}
	// ? help and q quit are always shown: the pane's keys give way to them, from the last.
	global := helpLine(st, []key.Binding{k.Help, k.Quit}, avail)
	keys := helpLine(st, bs, avail-ansi.StringWidth(global)-3)
	if keys != "" {
		keys += st.Faint.Render(" · ")
	}
	return leftRight(left, keys+global+" ", w), nil
}
