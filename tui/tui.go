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
	"time"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// Model is the root model.
type Model struct {
	cfg  Config
	ctx  *programContext
	sub  *recorder.Subscription
	flow *flowView
	// tunnelGone is why the quick tunnel ended on its own ("" while it runs).
	tunnelGone string
	// tunnelStarting is set from T until StartTunnel answers.
	tunnelStarting bool

	// The panes of the main view, and the dialogs that open over them (on the stack, m.dialogs).
	tracker  *trackerPane
	list     *listPane
	detail   *detailPane
	panes    [paneCount]pane
	focus    paneID
	dialogs  dialogStack
	helpD    *helpDialog
	togglesP *togglesPanel
	exportP  *exportPrompt
	findings *findingsPane
	// dialogList is every dialog, each opened by its key (dialog.openKey).
	dialogList []dialog

	// The filter line (the footer's text input).
	filtering bool
	filterIn  textinput.Model
	filterErr string

	status    string
	statusErr bool
	statusSeq int

	ignoreCleared bool // the model cleared itself; the store's Cleared update is on its way
	resyncing     bool
	subClosed     bool

	// The analysis service, the TUI's subscription, and what it was handed and has answered.
	an          *live.Service
	anOwn       bool // the TUI made the service (Config.Service was nil): it stops it
	anSub       *live.Subscription
	inProgram   bool   // run by Run: Init and each analysis message start the analysis pump
	anSent      uint64 // jobs handed to the service
	anAcked     uint64 // the last job its messages said it observed
	anPending   bool   // its last message said a report is still owed
	anEpochSent int
	anFromSent  uint64
	// fed is what the data took from the store's updates during this Update, for the service: flushAnalysis hands
	// it over at the end of the Update, and the model keeps none of it.
	fed []*recorder.Exchange

	// The screen's slots, for the panes, the dialogs, the mouse and the cursor.
	layout layout
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
	m := &Model{cfg: cfg}
	dark := cfg.Theme != "light"
	m.ctx = &programContext{cfg: &m.cfg, styles: newStyles(dark), keys: defaultKeyMap(),
		flow: newFlowView(cfg.Limits, cfg.Analysis), dialogs: &m.dialogs, exchange: cfg.Store.Peek}
	m.flow = m.ctx.flow
	m.flow.oldest = storeOldest(cfg.Store)
	m.newPanes()
	m.newDialogs()
	m.filterIn = newInput(&m.ctx.styles, "/")
	m.setFocus(paneList)

	// Subscribe first, then read what is there: an exchange that arrives in between is in both, and the later
	// snapshot wins.
	if cfg.Notice != "" {
		m.status, m.statusErr, m.statusSeq = cfg.Notice, true, 1
	}
	m.an = cfg.Service
	if m.an == nil {
		m.an, m.anOwn = live.New(live.Options{Analysis: cfg.Analysis, Saved: cfg.ReadOnly}), true
	}
	m.anSub = m.an.Subscribe()
	m.sub = cfg.Store.Subscribe(cfg.SubscriptionBuffer)
	m.flow.resync(cfg.Store.SnapshotLast(m.flow.limits.MaxCount), &m.fed) // the rows' window keeps no more
	m.onData()
	m.flushAnalysis()
	return m, nil
}

// Close ends the subscriptions, and stops the analysis service the TUI made.
func (m *Model) Close() {
	if m.sub != nil {
		m.sub.Close()
	}
	if m.anSub != nil {
		m.anSub.Close()
	}
	if m.anOwn {
		m.an.Close()
	}
}

// Run runs the TUI on the terminal until the user quits or ctx ends.
func Run(ctx context.Context, cfg Config, opts ...tea.ProgramOption) error {
	m, err := New(cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	m.inProgram = true
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
	cmds := []tea.Cmd{waitForUpdates(m.sub), m.pumpAnalysis()}
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
		cmds = append(cmds, waitTunnelGone(c))
	}
	return tea.Batch(cmds...)
}

// String is a one-line description (for debugging and tests).
func (m *Model) String() string {
	return fmt.Sprintf("tui: %d exchanges, %d shown, focus %d", m.flow.len(), m.flow.visible(), m.focus)
}
