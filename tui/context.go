package tui

import (
	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// programContext is shared by the root model and every pane and dialog (gh-dash's ProgramContext): the
// configuration, the screen size, the theme, the data, the toggles' state and the dialog stack. The root changes it
// in Update (on resize, on a background colour report, on a message) and pushes sizes down with SetSize; panes only
// read it; dialogs may open and close dialogs on the stack.
type programContext struct {
	cfg    *Config
	width  int
	height int
	styles Styles
	keys   KeyMap
	flow   *flowView
	// exchange is the store's exchange with an id (Config.Store.Peek), nil once the store has forgotten it: the
	// rows keep ids, and what needs a whole exchange (the detail pane, curl, export) asks for it. It never waits
	// on the disk: a large body the store keeps in the capture file is not in it (Exchange.BodiesInFile), and is
	// read back by a command (Exchange.WithBodies: the detail pane's loadCmd, curl, export).
	exchange func(id uint64) *recorder.Exchange
	toggles  []ToggleInfo // the toggles' state, as last read
	dialogs  *dialogStack
}

// component is the one contract of every part of the screen: the panes (tracker, list, detail) and the dialogs
// (help, toggles, export, findings). It is soft-serve's common.Component: it handles its keys, offers its key
// bindings for the footer and the help (help.KeyMap), and renders exactly the size it was given, as lines.
type component interface {
	help.KeyMap
	// title names it in the help ("Exchanges", "Findings", ...).
	title() string
	// SetSize gives it its slot: a pane its rectangle of the layout, a dialog the body it is drawn over.
	SetSize(w, h int)
	Update(msg tea.Msg) tea.Cmd
	// click is a left click at x, y within its slot.
	click(x, y int)
	Lines() []string
}

// dataFollower is a component that follows the data (its selection, its scroll): the root calls onData after every
// change of the flow view.
type dataFollower interface{ onData() }

// pane is a component of the main view that can take the focus.
type pane interface {
	component
	SetFocus(bool)
}
