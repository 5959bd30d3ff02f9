package tui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// flushAnalysis hands the service what the data changed (never blocking: it queues).
func (m *Model) flushAnalysis() {
	d := m.flow
	if len(m.fed) == 0 && d.anEpoch == m.anEpochSent && d.heldFrom() == m.anFromSent {
		return
	}
	j := d.analysisJob(m.fed)
	m.fed = nil // the service has them now: the model keeps no snapshot
	m.anSent++
	j.Seq = m.anSent
	m.anEpochSent, m.anFromSent = j.Epoch, j.From
	m.an.Push(j)
}

// onAnalysis takes a message of the service: what it says of exchanges, and a finished report.
func (m *Model) onAnalysis(msg analysisMsg) tea.Cmd {
	m.anAcked = max(m.anAcked, msg.seq)
	m.anPending = msg.pending
	if msg.epoch == m.flow.anEpoch {
		m.flow.applyInfos(msg.infos)
		if msg.view != nil {
			m.flow.setView(msg.view)
		}
		m.onData()
	}
	return m.pumpAnalysis()
}

// pumpAnalysis is the command that brings the service's next message, in a program (Run); a model driven by hand
// (Update called directly) takes the messages itself from its subscription.
func (m *Model) pumpAnalysis() tea.Cmd {
	if !m.inProgram {
		return nil
	}
	return waitForAnalysis(m.anSub)
}

// Update applies a message. It does no IO: commands do, and report back.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	m.flushAnalysis()
	m.sync()
	if load := m.detail.loadCmd(); load != nil {
		cmd = tea.Batch(cmd, load)
	}
	return m, cmd
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.ctx.width, m.ctx.height = msg.Width, msg.Height
		return nil
	case tea.BackgroundColorMsg:
		if m.cfg.Theme == "" {
			m.setTheme(msg.IsDark())
		}
		return nil
	case updatesMsg:
		return m.onUpdates(msg)
	case resyncMsg:
		m.resyncing = false
		m.flow.resync(msg.exchanges, &m.fed)
		m.onData()
		return nil
	case clearedMsg:
		return nil
	case analysisMsg:
		return m.onAnalysis(msg)
	case togglesMsg:
		m.ctx.toggles = msg.list
		if msg.change == "" {
			return nil
		}
		m.togglesP.busy = false
		if msg.err != nil {
			m.togglesP.err = msg.err.Error()
			return m.setStatus(msg.err.Error(), true)
		}
		m.togglesP.err = ""
		return m.setStatus(msg.change+": applies to the next request", false)
	case toggleTickMsg:
		return tea.Batch(listToggles(m.cfg.Toggles), toggleTick())
	case exportTickMsg:
		if p := m.exportP; p.busy && msg.seq == p.seq {
			return exportTick(msg.seq) // redrawn after Update: the progress moved
		}
		return nil
	case exportedMsg:
		return m.onExported(msg)
	case bodiesMsg:
		m.detail.loaded(msg)
		return nil
	case curlMsg:
		return m.curlReady(msg.ex)
	case tunnelGoneMsg:
		m.tunnelGone = msg.why
		return nil
	case tunnelStartedMsg:
		m.tunnelStarting = false
		if msg.err != nil {
			first, _, _ := strings.Cut(msg.err.Error(), "\n")
			return m.setStatus("no tunnel: "+first+" (mcpwatch --tunnel prints how to install cloudflared)", true)
		}
		st := msg.started
		m.cfg.PublicURL, m.cfg.ConnectorURL, m.cfg.TunnelNote, m.cfg.TunnelGone = st.PublicURL, st.ConnectorURL, st.Note, st.Gone
		m.sync()
		cmds := []tea.Cmd{m.setStatus("tunnel up: paste "+st.ConnectorURL+" into the client (u copies it)", false)}
		if st.Gone != nil {
			cmds = append(cmds, waitTunnelGone(st.Gone))
		}
		return tea.Batch(cmds...)
	case clearStatusMsg:
		if msg.seq == m.statusSeq {
			m.status = ""
		}
		return nil
	case tea.KeyPressMsg:
		return m.onKey(msg)
	case tea.MouseClickMsg:
		m.onClick(msg.Mouse())
		return nil
	case tea.MouseWheelMsg:
		m.onWheel(msg)
		return nil
	case tea.PasteMsg:
		return m.toInput(msg)
	}
	return m.toInput(msg) // cursor blinks and the like
}

// toInput passes a message to the text input that has focus, if any: the top modal dialog's, or the filter's.
func (m *Model) toInput(msg tea.Msg) tea.Cmd {
	if d := m.dialogs.modalTop(); d != nil {
		return d.Update(msg)
	}
	var cmd tea.Cmd
	if m.filtering {
		m.filterIn, cmd = m.filterIn.Update(msg)
		if _, ok := msg.(tea.PasteMsg); ok {
			m.applyFilter()
		}
	}
	return cmd
}

func (m *Model) setTheme(dark bool) {
	m.ctx.styles = newStyles(dark)
	for _, in := range []*textinput.Model{&m.filterIn, &m.exportP.input, &m.togglesP.input} {
		s := textinput.DefaultStyles(dark)
		s.Focused.Prompt = m.ctx.styles.Prompt
		s.Blurred.Prompt = m.ctx.styles.PromptOf
		in.SetStyles(s)
	}
	m.detail.builtW = -1 // rebuild with the new colours
}

func (m *Model) onUpdates(msg updatesMsg) tea.Cmd {
	m.flow.dropped = msg.dropped
	m.flow.apply(msg.updates, &m.ignoreCleared, &m.fed)
	m.onData()
	var cmds []tea.Cmd
	if msg.closed {
		m.subClosed = true
	} else {
		cmds = append(cmds, waitForUpdates(m.sub))
	}
	// Updates were lost: read the store's state, so that no exchange stays pending or missing.
	if msg.dropped > 0 && !m.resyncing && m.lastDroppedSeen(msg.dropped) {
		m.resyncing = true
		cmds = append(cmds, resyncFrom(m.cfg.Store, m.flow.limits.MaxCount))
	}
	return tea.Batch(cmds...)
}

// lastDroppedSeen reports whether dropped grew since the last resync.
func (m *Model) lastDroppedSeen(dropped uint64) bool {
	if dropped > m.flow.resyncedAt {
		m.flow.resyncedAt = dropped
		return true
	}
	return false
}

// onData lets the panes follow what changed.
func (m *Model) onData() {
	for _, p := range m.panes {
		if f, ok := p.(dataFollower); ok {
			f.onData()
		}
	}
	for _, d := range m.dialogList {
		if f, ok := d.(dataFollower); ok {
			f.onData()
		}
	}
}

func (m *Model) setStatus(s string, isErr bool) tea.Cmd {
	m.statusSeq++
	m.status, m.statusErr = s, isErr
	return clearStatusAfter(m.statusSeq)
}

func (m *Model) onExported(msg exportedMsg) tea.Cmd {
	p := m.exportP
	p.busy = false
	switch {
	case msg.exists:
		p.confirm = true
		return nil
	case msg.err != nil:
		p.err = msg.err.Error()
		return nil
	}
	m.dialogs.close(dialogExport)
	p.input.Blur()
	s := "saved " + plural(msg.n, "exchange", "exchanges") + " to " + msg.path + " (" + msg.format + ")"
	if msg.forgotten > 0 {
		s += "; left out " + strconv.Itoa(msg.forgotten) + " the store had forgotten"
	}
	if msg.unread > 0 {
		s += "; " + plural(msg.unread, "body", "bodies") + " could not be read back from the capture file (each exchange says why in a note)"
	}
	return m.setStatus(s, false)
}

// onKey routes a key: the top dialog gets it first (a modal one every key; a body dialog, such as the findings, the
// keys of its key map), then the filter line while it is typed, then the global keys, then the focused pane.
func (m *Model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.ctx.keys
	if key.Matches(msg, k.ForceQuit) {
		return tea.Quit
	}
	if d := m.dialogs.modalTop(); d != nil {
		return d.Update(msg)
	}
	if m.filtering {
		return m.onFilterKey(msg)
	}
	top := m.dialogs.top()
	if top != nil && key.Matches(msg, flat(top.FullHelp())...) {
		return top.Update(msg)
	}
	if cmd, ok := m.onGlobalKey(msg); ok || top != nil {
		return cmd
	}

	switch {
	case key.Matches(msg, k.NextPane):
		m.setFocus((m.focus + 1) % paneCount)
		return nil
	case key.Matches(msg, k.PrevPane):
		m.setFocus((m.focus + paneCount - 1) % paneCount)
		return nil
	case key.Matches(msg, k.Enter):
		switch m.focus {
		case paneTracker:
			if c := m.tracker.selected(); c != nil && c.ID != fallbackID {
				m.setFilter("conn:" + c.ID)
				m.setFocus(paneList)
			}
		case paneList:
			if m.list.selected() != nil {
				m.setFocus(paneDetail)
			}
		}
		return nil
	case key.Matches(msg, k.Back):
		switch {
		case m.focus == paneDetail:
			m.setFocus(paneList)
		case m.flow.vis != nil:
			m.setFilter("")
		}
		return nil
	}
	return m.panes[m.focus].Update(msg)
}

// onGlobalKey handles the keys that work everywhere but in a modal dialog and the filter line; it reports whether
// msg was one.
func (m *Model) onGlobalKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	k := m.ctx.keys
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit, true
	case key.Matches(msg, k.Filter):
		m.filtering = true
		m.filterIn.SetValue(m.flow.filter.src)
		m.filterIn.CursorEnd()
		m.filterErr = ""
		return m.filterIn.Focus(), true
	case key.Matches(msg, k.Copy):
		return m.copyCurl(), true
	case key.Matches(msg, k.CopyURL):
		return m.copyConnectorURL(), true
	case key.Matches(msg, k.Tunnel):
		switch {
		case m.cfg.StartTunnel == nil || !m.loopbackOnly():
			return m.setStatus("no tunnel to start here: it needs a live run without --public-url", true), true
		case m.tunnelStarting:
			return m.setStatus("the tunnel is starting…", false), true
		}
		m.tunnelStarting = true
		return tea.Batch(m.setStatus("starting a Cloudflare quick tunnel (cloudflared)…", false), startTunnel(m.cfg.StartTunnel)), true
	case key.Matches(msg, k.Clear):
		return m.clear(), true
	}
	// The dialogs' keys: open one (a body dialog open already closes).
	for _, d := range m.dialogList {
		if !key.Matches(msg, d.openKey()) {
			continue
		}
		if m.dialogs.isOpen(d.id()) {
			m.dialogs.close(d.id())
			return nil, true
		}
		m.dialogs.open(d)
		return d.open(), true
	}
	return nil, false
}

func (m *Model) setFocus(f paneID) {
	m.focus = f
	for i, p := range m.panes {
		p.SetFocus(paneID(i) == f)
	}
}

// openExchange selects an exchange and shows its detail.
func (m *Model) openExchange(id uint64) {
	if _, ok := m.flow.posOf(id); !ok && m.flow.vis != nil {
		m.setFilter("") // it is filtered out: show everything
	}
	if _, ok := m.flow.posOf(id); !ok {
		return
	}
	m.dialogs.close(dialogFindings)
	m.list.selectID(id)
	m.setFocus(paneDetail)
}

func (m *Model) onFilterKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.ctx.keys
	switch {
	case key.Matches(msg, k.Accept):
		if m.filterErr != "" {
			return nil
		}
		m.filtering = false
		m.filterIn.Blur()
		return nil
	case key.Matches(msg, k.Cancel):
		m.filtering = false
		m.filterIn.Blur()
		m.filterErr = ""
		m.setFilter("")
		return nil
	}
	var cmd tea.Cmd
	before := m.filterIn.Value()
	m.filterIn, cmd = m.filterIn.Update(msg)
	if m.filterIn.Value() != before {
		m.applyFilter()
	}
	return cmd
}

// applyFilter applies what is typed, as it is typed; a mistake is shown and the last good filter kept.
func (m *Model) applyFilter() {
	f, err := parseFilter(m.filterIn.Value())
	if err != nil {
		m.filterErr = err.Error()
		return
	}
	m.filterErr = ""
	m.flow.setFilter(f)
	m.list.onData()
}

// setFilter sets the filter from code (enter on a connection, esc).
func (m *Model) setFilter(src string) {
	f, err := parseFilter(src)
	if err != nil {
		return
	}
	m.flow.setFilter(f)
	m.filterIn.SetValue(src)
	m.list.onData()
}

func (m *Model) copyCurl() tea.Cmd {
	r := m.list.selected()
	if r == nil {
		return m.setStatus("nothing to copy: no exchange is selected", true)
	}
	ex := m.detail.exchange(r) // the detail pane's, if it holds this one; else the store's
	if ex == nil {
		return m.setStatus("nothing to copy: "+forgottenText(r.id), true)
	}
	if ex.BodiesInFile() { // its request body is read back from the capture file first, off the keystroke path
		return func() tea.Msg { return curlMsg{ex: ex.WithBodies()} }
	}
	return m.curlReady(ex)
}

// curlMsg is an exchange to copy as curl, its bodies read back.
type curlMsg struct{ ex *recorder.Exchange }

// curlReady copies ex as curl to the clipboard.
func (m *Model) curlReady(ex *recorder.Exchange) tea.Cmd {
	s := curlCommand(ex, curlBase(ex, m.cfg.ListenURL, m.cfg.PublicURL))
	note := ""
	if ex.ReqHeaders.Get("Authorization") != "" {
		note = "; it includes the Authorization header"
	}
	return tea.Batch(tea.SetClipboard(s),
		m.setStatus("copied #"+strconv.FormatUint(ex.ID, 10)+" as curl to the clipboard (OSC 52)"+note, false))
}

// copyConnectorURL puts the connector URL (what to paste into the client) on the clipboard, as `c` does a request.
func (m *Model) copyConnectorURL() tea.Cmd {
	if m.cfg.ConnectorURL == "" || m.cfg.ReadOnly {
		return m.setStatus("no connector URL to copy: this is a saved capture", true)
	}
	return tea.Batch(tea.SetClipboard(m.cfg.ConnectorURL),
		m.setStatus("copied the connector URL "+m.cfg.ConnectorURL+" to the clipboard (OSC 52)", false))
}

func (m *Model) clear() tea.Cmd {
	m.flow.clear(m.flow.maxID())
	m.fed = nil
	m.onData()
	m.ignoreCleared = true
	msg := "cleared"
	if !m.cfg.ReadOnly {
		msg += " (the capture file keeps everything)"
	}
	return tea.Batch(clearStore(m.cfg.Store), m.setStatus(msg, false))
}

// ---- mouse ----

func (m *Model) onClick(ms tea.Mouse) {
	if m.dialogs.modalTop() != nil || ms.Button != tea.MouseLeft {
		return
	}
	if d := m.dialogs.body(); d != nil {
		if r := m.layout.body; r.contains(ms.X, ms.Y) {
			d.click(ms.X-r.x, ms.Y-r.y)
		}
		return
	}
	for i, r := range m.layout.panes {
		if !r.contains(ms.X, ms.Y) {
			continue
		}
		id := paneID(i)
		m.panes[i].click(ms.X-r.x, ms.Y-r.y)
		if m.focus != id && !(id == paneList && m.focus == paneDetail && !m.layout.wide) {
			m.setFocus(id)
		}
		return
	}
}

func (m *Model) onWheel(msg tea.MouseWheelMsg) {
	if m.dialogs.modalTop() != nil {
		return
	}
	if d := m.dialogs.body(); d != nil {
		d.Update(msg)
		return
	}
	ms := msg.Mouse()
	for i, r := range m.layout.panes {
		if r.contains(ms.X, ms.Y) {
			m.panes[i].Update(msg)
			return
		}
	}
}
