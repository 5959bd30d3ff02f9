// Package tui is mcpwatch's terminal UI: a Bubble Tea program that shows every exchange of a client's handshake as
// it happens, with the analysis (stages per connection, findings), toggles, export and copy-as-curl.
//
// The root model routes to panes (tracker, list, detail, findings) that share one program context; keys and
// styles live in keys.go and styles.go. Data comes from a recorder.Store subscription through a channel pump
// (a tea.Cmd), so Update is a pure function of messages and the model is driven directly in tests. The analysis
// runs beside the program, on a goroutine that owns the analyzer and publishes finished reports as messages
// (analysis.go): Update never waits for it. Side effects (switching a toggle, writing an export, clearing the
// store) run in commands and report back as messages.
package tui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// Toggles is what the TUI needs of the toggles (faults) that break things on purpose. cmd wires the real ones.
// The methods are called from commands (goroutines of their own), possibly at the same time: they must be safe
// for concurrent use.
type Toggles interface {
	// List returns every toggle in a stable order, with its current state.
	List() []ToggleInfo
	// Set switches a toggle on (value is "" for a toggle that takes none); the change applies to the next request.
	Set(name, value string) error
	// Unset switches a toggle off.
	Unset(name string) error
}

// ToggleInfo describes one toggle.
type ToggleInfo struct {
	Name       string // e.g. "omit-session-id"
	Summary    string // what it changes, one line
	Active     bool
	Value      string // the current value of an active toggle that takes one
	TakesValue bool   // the toggle needs NAME=VALUE
	ValueHint  string // e.g. "DURATION", "STAGE:STATUS"
}

// Exporter writes exchanges to path in a format (one of Config.ExportFormats). It runs in a command (a goroutine
// of its own); the exchanges are immutable snapshots.
type Exporter func(format, path string, exs []*recorder.Exchange) error

// Config is what the TUI shows and what it can act on.
type Config struct {
	// Store is where the exchanges come from (required). The TUI subscribes to it; `x` clears it.
	Store *recorder.Store
	// Limits are the store's bounds: the TUI holds no more than the store does.
	Limits recorder.StoreOptions
	// SubscriptionBuffer is the subscription's buffer (default 8192); updates beyond it are dropped, counted and
	// recovered from the store.
	SubscriptionBuffer int
	// Analysis options (the MCP path).
	Analysis analysis.Options

	Version      string
	ListenURL    string // http://127.0.0.1:4000
	PublicURL    string // the tunnel's URL, "" if none
	ConnectorURL string // what to paste into the client (`u` copies it)
	Auth         bool   // the OAuth authorization server is on
	Upstream     string // proxy mode: the upstream's URL, shown instead of the auth state
	AuthNote     string // said after the auth state for as long as the TUI runs (e.g. "loopback CIMD allowed")
	// TunnelNote is set while a quick tunnel (--tunnel) is on: what it does to GET event streams. A line under
	// the header says it for as long as the TUI runs; the help (`?`) gives the whole note.
	TunnelNote string
	// TunnelGone, when set, receives why the quick tunnel ended on its own (cloudflared exited): the tunnel's line
	// then says that the public URL no longer reaches mcpwatch, for good.
	TunnelGone <-chan string

	// ReadOnly is set for a saved capture (`mcpwatch open`): toggles are disabled; export and copy work.
	ReadOnly bool
	Source   string // the capture's path, in read-only mode
	// SourceNote says something about the capture (e.g. that a torn last line was skipped).
	SourceNote string

	Toggles       Toggles  // nil: no toggles in this build
	Exporter      Exporter // nil: export is unavailable
	ExportFormats []string // e.g. jsonl, har, markdown, curl; the first is the default
	ExportNote    string   // said in the export prompt (e.g. that secrets are redacted)
	WorkDir       string   // where relative export paths go (shown in the prompt)

	// Notice is shown at start, as a warning in the status line (e.g. that the control socket is missing).
	Notice string

	// Theme forces "dark" or "light"; "" follows the terminal's background.
	Theme string
	// Now is the clock (for the default export file name).
	Now func() time.Time

	newAnalyzer func(analysis.Options) analyzer // tests script the analysis
	// manualAnalysis: no pump for the analysis worker's messages; tests take them from the worker themselves.
	manualAnalysis bool
	minReportEvery time.Duration    // the worker's least time between reports beyond reportNowUpTo (tests, benchmarks)
	clock          func() time.Time // the wall clock absence rules are judged at in a live session (tests; default time.Now)
}

// modalKind is the modal on top of the main view.
type modalKind int

const (
	modalNone modalKind = iota
	modalHelp
	modalToggles
	modalExport
)

// Model is the root model.
type Model struct {
	cfg  Config
	ctx  *programContext
	sub  *recorder.Subscription
	data *data
	// tunnelGone is why the quick tunnel ended on its own ("" while it runs).
	tunnelGone string

	tracker  *trackerPane
	list     *listPane
	detail   *detailPane
	findings *findingsPane
	panes    [paneCount]pane
	focus    paneID

	showFindings bool
	modal        modalKind
	togglesP     *togglesPanel
	exportP      *exportPrompt

	helpOffset int

	filtering bool
	filterIn  textinput.Model
	filterErr string

	toggles []ToggleInfo

	status    string
	statusErr bool
	statusSeq int

	ignoreCleared bool // the model cleared itself; the store's Cleared update is on its way
	resyncing     bool
	subClosed     bool

	// The analysis worker, and what it was handed and has answered.
	worker      *analysisWorker
	anSent      uint64 // jobs handed to the worker
	anAcked     uint64 // the last job its messages said it observed
	anPending   bool   // its last message said a report is still owed
	anEpochSent int
	anFromSent  uint64

	// Layout, for the mouse and the cursor.
	wide   bool
	zoomed bool
	rects  [paneCount]rect
	fRect  rect
}

// New subscribes to the store and loads what it holds.
func New(cfg Config) (*Model, error) {
	if cfg.Store == nil {
		return nil, errors.New("tui: no store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = "the current directory"
	}
	if cfg.SubscriptionBuffer <= 0 {
		cfg.SubscriptionBuffer = 8192
	}
	if cfg.newAnalyzer == nil {
		cfg.newAnalyzer = realAnalyzer
	}
	m := &Model{cfg: cfg}
	dark := cfg.Theme != "light"
	m.ctx = &programContext{cfg: &m.cfg, styles: NewStyles(dark), keys: DefaultKeyMap(),
		data: newData(cfg.Limits, cfg.Analysis)}
	m.data = m.ctx.data
	m.tracker = newTracker(m.ctx)
	m.list = newList(m.ctx)
	m.detail = newDetail(m.ctx)
	m.findings = newFindings(m.ctx)
	m.panes = [paneCount]pane{m.tracker, m.list, m.detail}
	m.togglesP = newTogglesPanel(m.ctx)
	m.exportP = newExportPrompt(m.ctx)
	m.filterIn = newInput(&m.ctx.styles, "/")
	m.setFocus(paneList)

	// Subscribe first, then read what is there: an exchange that arrives in between is in both, and the later
	// snapshot wins.
	if cfg.Notice != "" {
		m.status, m.statusErr, m.statusSeq = cfg.Notice, true, 1
	}
	var clock func() time.Time
	if !cfg.ReadOnly {
		clock = cfg.clock
		if clock == nil {
			clock = time.Now
		}
	}
	m.worker = newAnalysisWorker(cfg.newAnalyzer, cfg.Analysis, cfg.minReportEvery, clock)
	m.sub = cfg.Store.Subscribe(cfg.SubscriptionBuffer)
	m.data.resync(cfg.Store.Snapshot())
	m.onData()
	m.flushAnalysis()
	return m, nil
}

// Close ends the subscription and stops the analysis worker.
func (m *Model) Close() {
	if m.sub != nil {
		m.sub.Close()
	}
	if m.worker != nil {
		m.worker.close()
	}
}

// flushAnalysis hands the worker what the data changed (never blocking: it queues).
func (m *Model) flushAnalysis() {
	d := m.data
	if len(d.anExs) == 0 && d.anEpoch == m.anEpochSent && d.heldFrom() == m.anFromSent {
		return
	}
	j := d.takeAnalysisJob()
	m.anSent++
	j.seq = m.anSent
	m.anEpochSent, m.anFromSent = j.epoch, j.from
	m.worker.push(j)
}

// onAnalysis takes a message of the worker: what it says of exchanges, and a finished report.
func (m *Model) onAnalysis(msg analysisMsg) tea.Cmd {
	m.anAcked = max(m.anAcked, msg.seq)
	m.anPending = msg.pending
	if msg.epoch == m.data.anEpoch {
		m.data.applyInfos(msg.infos)
		if msg.view != nil {
			m.data.setView(msg.view)
		}
		m.onData()
	}
	if m.cfg.manualAnalysis {
		return nil
	}
	return waitForAnalysis(m.worker)
}

// analysisOwed reports whether the worker has not answered everything it was handed yet.
func (m *Model) analysisOwed() bool { return m.anAcked < m.anSent || m.anPending }

// Run runs the TUI on the terminal until the user quits or ctx ends.
func Run(ctx context.Context, cfg Config, opts ...tea.ProgramOption) error {
	m, err := New(cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	p := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithContext(ctx)}, opts...)...)
	_, err = p.Run()
	switch {
	case err == nil, errors.Is(err, tea.ErrInterrupted):
		return nil
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		return nil
	}
	return err
}

// Init starts the pump, asks the terminal for its background colour and reads the toggles.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{waitForUpdates(m.sub)}
	if !m.cfg.manualAnalysis {
		cmds = append(cmds, waitForAnalysis(m.worker))
	}
	if m.cfg.Notice != "" {
		cmds = append(cmds, clearStatusAfter(m.statusSeq))
	}
	if m.cfg.Theme == "" {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	if m.cfg.Toggles != nil && !m.cfg.ReadOnly {
		cmds = append(cmds, listToggles(m.cfg.Toggles), toggleTick())
	}
	if c := m.cfg.TunnelGone; c != nil {
		cmds = append(cmds, func() tea.Msg {
			why, ok := <-c
			if !ok {
				return nil
			}
			return tunnelGoneMsg{why: why}
		})
	}
	return tea.Batch(cmds...)
}

// Update applies a message. It does no IO: commands do, and report back.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	m.flushAnalysis()
	m.sync()
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
		m.data.resync(msg.exchanges)
		m.onData()
		return nil
	case clearedMsg:
		return nil
	case analysisMsg:
		return m.onAnalysis(msg)
	case togglesMsg:
		m.toggles = msg.list
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
	case exportedMsg:
		return m.onExported(msg)
	case tunnelGoneMsg:
		m.tunnelGone = msg.why
		return nil
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

// toInput passes a message to the text input that has focus, if any.
func (m *Model) toInput(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	switch {
	case m.filtering:
		m.filterIn, cmd = m.filterIn.Update(msg)
		if _, ok := msg.(tea.PasteMsg); ok {
			m.applyFilter()
		}
	case m.modal == modalExport && !m.exportP.busy:
		m.exportP.input, cmd = m.exportP.input.Update(msg)
	case m.modal == modalToggles && m.togglesP.editing:
		m.togglesP.input, cmd = m.togglesP.input.Update(msg)
	}
	return cmd
}

func (m *Model) setTheme(dark bool) {
	m.ctx.styles = NewStyles(dark)
	for _, in := range []*textinput.Model{&m.filterIn, &m.exportP.input, &m.togglesP.input} {
		s := textinput.DefaultStyles(dark)
		s.Focused.Prompt = m.ctx.styles.Prompt
		s.Blurred.Prompt = m.ctx.styles.PromptOf
		in.SetStyles(s)
	}
	m.detail.builtW = -1 // rebuild with the new colours
}

func (m *Model) onUpdates(msg updatesMsg) tea.Cmd {
	m.data.dropped = msg.dropped
	m.data.apply(msg.updates, &m.ignoreCleared)
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
		cmds = append(cmds, resyncFrom(m.cfg.Store))
	}
	return tea.Batch(cmds...)
}

// lastDroppedSeen reports whether dropped grew since the last resync.
func (m *Model) lastDroppedSeen(dropped uint64) bool {
	if dropped > m.data.resyncedAt {
		m.data.resyncedAt = dropped
		return true
	}
	return false
}

// onData lets the panes follow what changed.
func (m *Model) onData() {
	m.list.onData()
	m.tracker.onData()
	m.findings.clamp()
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
	if m.modal == modalExport {
		m.modal = modalNone
	}
	p.input.Blur()
	return m.setStatus("saved "+plural(msg.n, "exchange", "exchanges")+" to "+msg.path+" ("+msg.format+")", false)
}

// ---- keys ----

func (m *Model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.ctx.keys
	if key.Matches(msg, k.ForceQuit) {
		return tea.Quit
	}
	switch m.modal {
	case modalHelp:
		switch {
		case key.Matches(msg, k.Back, k.Help, k.Quit):
			m.modal = modalNone
		case key.Matches(msg, k.Up):
			m.helpOffset--
		case key.Matches(msg, k.Down):
			m.helpOffset++
		case key.Matches(msg, k.PageUp):
			m.helpOffset -= 10
		case key.Matches(msg, k.PageDown):
			m.helpOffset += 10
		}
		return nil
	case modalToggles:
		cmd, done := m.togglesP.update(msg, m.toggles)
		if done {
			m.modal = modalNone
		}
		return cmd
	case modalExport:
		action, cmd := m.exportP.key(msg)
		switch action {
		case exportCancel:
			m.modal = modalNone
			m.exportP.input.Blur()
		case exportSave, exportOverwrite:
			p := m.exportP
			return runExport(m.cfg.Exporter, p.formatName(), p.path(), m.data.exchanges(), action == exportOverwrite)
		}
		return cmd
	}
	if m.filtering {
		return m.onFilterKey(msg)
	}

	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Help):
		m.modal = modalHelp
		m.helpOffset = 0
		return nil
	case key.Matches(msg, k.Filter):
		m.filtering = true
		m.filterIn.SetValue(m.data.filter.src)
		m.filterIn.CursorEnd()
		m.filterErr = ""
		return m.filterIn.Focus()
	case key.Matches(msg, k.Toggles):
		m.modal = modalToggles
		m.togglesP.err = ""
		m.togglesP.sel = max(min(m.togglesP.sel, len(m.toggles)-1), 0)
		if m.cfg.ReadOnly {
			return nil
		}
		return listToggles(m.cfg.Toggles)
	case key.Matches(msg, k.Export):
		m.modal = modalExport
		return m.exportP.open(m.data.visible(), m.data.vis != nil)
	case key.Matches(msg, k.Copy):
		return m.copyCurl()
	case key.Matches(msg, k.CopyURL):
		return m.copyConnectorURL()
	case key.Matches(msg, k.Clear):
		return m.clear()
	case key.Matches(msg, k.Findings):
		m.showFindings = !m.showFindings
		return nil
	}

	if m.showFindings {
		switch {
		case key.Matches(msg, k.Back):
			m.showFindings = false
		case key.Matches(msg, k.Enter):
			if f := m.findings.selected(); f != nil && f.ExchangeID != 0 {
				m.openExchange(f.ExchangeID)
			}
		default:
			return m.findings.Update(msg)
		}
		return nil
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
		case m.data.vis != nil:
			m.setFilter("")
		}
		return nil
	}
	return m.panes[m.focus].Update(msg)
}

func (m *Model) setFocus(f paneID) {
	m.focus = f
	for i, p := range m.panes {
		p.SetFocus(paneID(i) == f)
	}
}

// openExchange selects an exchange and shows its detail.
func (m *Model) openExchange(id uint64) {
	if _, ok := m.data.posOf(id); !ok && m.data.vis != nil {
		m.setFilter("") // it is filtered out: show everything
	}
	if _, ok := m.data.posOf(id); !ok {
		return
	}
	m.showFindings = false
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
	m.data.setFilter(f)
	m.list.onData()
}

// setFilter sets the filter from code (enter on a connection, esc).
func (m *Model) setFilter(src string) {
	f, err := parseFilter(src)
	if err != nil {
		return
	}
	m.data.setFilter(f)
	m.filterIn.SetValue(src)
	m.list.onData()
}

func (m *Model) copyCurl() tea.Cmd {
	r := m.list.selected()
	if r == nil {
		return m.setStatus("nothing to copy: no exchange is selected", true)
	}
	s := curlCommand(r.ex, curlBase(r.ex, m.cfg.ListenURL, m.cfg.PublicURL))
	note := ""
	if r.ex.ReqHeaders.Get("Authorization") != "" {
		note = "; it includes the Authorization header"
	}
	return tea.Batch(tea.SetClipboard(s),
		m.setStatus("copied #"+strconv.FormatUint(r.ex.ID, 10)+" as curl to the clipboard (OSC 52)"+note, false))
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
	m.data.clear(m.data.maxID())
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
	if m.modal != modalNone || ms.Button != tea.MouseLeft {
		return
	}
	if m.showFindings {
		if m.fRect.contains(ms.X, ms.Y) {
			m.findings.click(ms.Y - m.fRect.y)
		}
		return
	}
	for i, r := range m.rects {
		if !r.contains(ms.X, ms.Y) {
			continue
		}
		id := paneID(i)
		switch id {
		case paneTracker:
			m.tracker.click(ms.Y - r.y)
		case paneList:
			m.list.click(ms.Y - r.y)
		case paneDetail:
			m.detail.click(ms.X-r.x, ms.Y-r.y)
		}
		if m.focus != id && !(id == paneList && m.focus == paneDetail && !m.wide) {
			m.setFocus(id)
		}
		return
	}
}

func (m *Model) onWheel(msg tea.MouseWheelMsg) {
	if m.modal != modalNone {
		return
	}
	ms := msg.Mouse()
	if m.showFindings {
		m.findings.Update(msg)
		return
	}
	for i, r := range m.rects {
		if r.contains(ms.X, ms.Y) {
			m.panes[i].Update(msg)
			return
		}
	}
}

// ---- layout and view ----

const footerH = 1

// headerHeight is the header's lines: headerH's, and one more for the tunnel's note while a tunnel is on.
func (m *Model) headerHeight(w int) int {
	if m.cfg.TunnelNote != "" && !m.cfg.ReadOnly {
		return headerH(w) + 1
	}
	return headerH(w)
}

// headerH is the header's height: two lines on a wide screen, three on a narrow one (the URLs get a line each).
func headerH(w int) int {
	if w >= 120 {
		return 2
	}
	return 3
}

// sync lays the panes out for the current size and state, and builds the detail of the selection.
func (m *Model) sync() {
	w, h := m.ctx.width, m.ctx.height
	headerH := m.headerHeight(w)
	bodyH := max(h-headerH-footerH, 0)
	m.rects = [paneCount]rect{}
	m.wide = w >= 120
	m.zoomed = !m.wide && m.focus == paneDetail
	switch {
	case m.showFindings:
		m.fRect = rect{0, headerH, w, bodyH}
		m.findings.SetSize(w, bodyH)
	case m.zoomed:
		m.rects[paneDetail] = rect{0, headerH, w, bodyH}
	default:
		trackerH := min(m.tracker.Needed(w), max(bodyH/3, 3))
		rest := bodyH - trackerH
		m.rects[paneTracker] = rect{0, headerH, w, trackerH}
		if m.wide {
			lw := w * 11 / 20
			m.rects[paneList] = rect{0, headerH + trackerH, lw, rest}
			m.rects[paneDetail] = rect{lw + 1, headerH + trackerH, w - lw - 1, rest}
		} else {
			lh := max(rest/2, min(rest, 3))
			m.rects[paneList] = rect{0, headerH + trackerH, w, lh}
			m.rects[paneDetail] = rect{0, headerH + trackerH + lh, w, rest - lh}
		}
	}
	for i, p := range m.panes {
		r := m.rects[i]
		if r.w > 0 && r.h > 0 {
			p.SetSize(r.w, r.h)
		}
	}
	m.detail.show(m.list.selected())
	// The text inputs' widths (set here: View changes nothing).
	m.filterIn.SetWidth(max(w-ansi.StringWidth(m.filterRight(w))-3-ansi.StringWidth(m.filterIn.Prompt), 4))
	m.togglesP.setWidth(w)
	m.exportP.setWidth(w)
	if m.modal == modalHelp {
		n := len(m.helpContent(w))
		rows := helpRows(bodyH)
		maxOff := 0
		if n > rows {
			maxOff = n - rows + 1
		}
		m.helpOffset = max(min(m.helpOffset, maxOff), 0)
	}
}

func helpW(w int) int { return min(w-2, 110) }

func (m *Model) helpContent(w int) []string {
	return helpContent(&m.ctx.styles, m.helpSections(), helpW(w))
}

// minW and minH are the smallest screen the layout is made for (below it, a note asks for more room).
const minW, minH = 40, 10

// View renders the screen.
func (m *Model) View() tea.View {
	var v tea.View
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "mcpwatch"
	w, h := m.ctx.width, m.ctx.height
	if w <= 0 || h <= 0 {
		return v
	}
	if w < minW || h < minH {
		note := wrapWords("mcpwatch needs at least "+strconv.Itoa(minW)+"×"+strconv.Itoa(minH)+" cells ("+
			strconv.Itoa(w)+"×"+strconv.Itoa(h)+" now)", w)
		v.SetContent(strings.Join(block(note, w, h), "\n"))
		return v
	}
	lines := make([]string, 0, h)
	lines = append(lines, m.headerLines(w)...)
	body, cursor := m.bodyLines(w, h-m.headerHeight(w)-footerH)
	lines = append(lines, body...)
	footer, fcursor := m.footerLine(w)
	lines = append(lines, footer)
	if fcursor != nil {
		fcursor.Y = h - 1
		cursor = fcursor
	}
	v.Cursor = cursor
	v.SetContent(strings.Join(lines, "\n"))
	return v
}

func (m *Model) bodyLines(w, bodyH int) ([]string, *tea.Cursor) {
	headerH := m.headerHeight(w)
	var body []string
	switch {
	case m.showFindings:
		body = m.findings.Lines()
	default:
		// Each row is its panes' lines side by side (a "│" between two panes), never cut out of a wider line.
		body = make([]string, bodyH)
		cols := make([][]string, bodyH)
		for i, p := range m.panes {
			r := m.rects[i]
			if r.w <= 0 || r.h <= 0 {
				continue
			}
			for j, l := range p.Lines() {
				y := r.y - headerH + j
				if y < 0 || y >= bodyH {
					break
				}
				if r.x > 0 {
					l = m.ctx.styles.Faint.Render("│") + l
				}
				cols[y] = append(cols[y], l)
			}
		}
		for y := range body {
			body[y] = fit(strings.Join(cols[y], ""), w)
		}
	}
	var box []string
	var cursor *tea.Cursor
	switch m.modal {
	case modalHelp:
		box = helpLines(&m.ctx.styles, m.helpContent(w), helpW(w), bodyH, m.helpOffset)
	case modalToggles:
		box, cursor = m.togglesP.lines(m.toggles, w, bodyH)
	case modalExport:
		box, cursor = m.exportP.lines(w)
	}
	if len(box) > 0 {
		if len(box) > bodyH {
			box = box[:bodyH]
		}
		body = overlay(body, box, w)
		if cursor != nil {
			bw := 0
			for _, l := range box {
				bw = max(bw, ansi.StringWidth(l))
			}
			cursor.X += max((w-bw)/2, 0)
			cursor.Y += headerH + max((bodyH-len(box))/2, 0)
		}
	}
	return body, cursor
}

func (m *Model) headerLines(w int) []string {
	st := &m.ctx.styles
	d := m.data
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

	title := " " + st.Title.Render("mcpwatch")
	if m.cfg.Version != "" {
		title += " " + st.Faint.Render(m.cfg.Version)
	}
	if m.cfg.ReadOnly {
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
	public := st.Faint.Render("none (--public-url)")
	if m.cfg.PublicURL != "" {
		public = st.URL.Render(m.cfg.PublicURL)
	}
	listen := st.HeaderKey.Render("listening") + " " + st.URL.Render(m.cfg.ListenURL) + "  " +
		st.HeaderKey.Render("public") + " " + public
	connector := " " + st.HeaderKey.Render("connector URL") + " " + st.URL.Render(m.cfg.ConnectorURL)
	auth := "auth off"
	if m.cfg.Auth {
		auth = "auth on"
	}
	if m.cfg.AuthNote != "" {
		auth += ", " + st.SevWarn.Render(sanitize(m.cfg.AuthNote))
	}
	if m.cfg.Upstream != "" {
		auth = "proxy → " + sanitize(m.cfg.Upstream)
	}
	var lines []string
	if headerH(w) == 2 {
		right := auth + sep + m.togglesSummary() + " "
		lines = []string{leftRight(title+"  "+listen, counts, w), leftRight(m.withCopyHint(connector, right, w), right, w)}
	} else {
		lines = []string{fit(title+"  "+listen, w), leftRight(m.withCopyHint(connector, auth+" ", w), auth+" ", w),
			leftRight(" "+m.togglesSummary(), counts, w)}
	}
	if m.cfg.TunnelNote != "" {
		lines = append(lines, m.tunnelLine(w))
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
	for _, t := range m.toggles {
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
	d := m.data
	right := st.Faint.Render(strconv.Itoa(d.visible()) + "/" + strconv.Itoa(d.len()) + " · enter keeps · esc clears ")
	if m.filterErr != "" {
		right = st.Error.Render(m.filterErr) + " "
	}
	return trunc(right, min(ansi.StringWidth(right), w*2/3))
}

func (m *Model) footerLine(w int) (string, *tea.Cursor) {
	st := &m.ctx.styles
	d := m.data
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
	var bs []key.Binding
	switch {
	case m.modal == modalToggles:
		bs = m.togglesP.ShortHelp()
	case m.modal == modalExport:
		bs = m.exportP.ShortHelp()
	case m.modal == modalHelp:
	case m.showFindings:
		bs = m.findings.ShortHelp()
	default:
		bs = m.panes[m.focus].ShortHelp()
	}
	k := m.ctx.keys
	bs = append(slices.Clip(bs), k.Help, k.Quit)
	avail := w - 1
	if left != "" {
		avail = max(w-ansi.StringWidth(left)-2, w/2)
	}
	return leftRight(left, helpLine(st, bs, avail)+" ", w), nil
}

// helpSections is the full help: the global keys, the current pane's, and the filter language.
func (m *Model) helpSections() []helpSection {
	k := m.ctx.keys
	var pane helpSection
	switch {
	case m.showFindings:
		pane = helpSection{title: "Findings", keys: flat(m.findings.FullHelp())}
	case m.focus == paneTracker:
		pane = helpSection{title: "Connections", keys: flat(m.tracker.FullHelp())}
	case m.focus == paneDetail:
		pane = helpSection{title: "Detail", keys: flat(m.detail.FullHelp())}
	default:
		pane = helpSection{title: "Exchanges", keys: flat(m.list.FullHelp())}
	}
	h := func(k, d string) key.Binding { return key.NewBinding(key.WithKeys(k), key.WithHelp(k, d)) }
	sections := []helpSection{
		{title: "Global", keys: []key.Binding{k.NextPane, k.Filter, k.Findings, k.Toggles, k.Export, k.Copy, k.CopyURL,
			k.Clear, k.Help, k.Quit}},
		pane,
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

// String is a one-line description (for debugging and tests).
func (m *Model) String() string {
	return fmt.Sprintf("tui: %d exchanges, %d shown, focus %d", m.data.len(), m.data.visible(), m.focus)
}
