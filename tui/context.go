package tui

import (
	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
)

// programContext is shared by the root model and every pane (gh-dash's ProgramContext): the configuration, the
// screen size, the theme and the data. The root changes it in Update (on resize, on a background colour report)
// and pushes sizes down with SetSize; panes only read it.
type programContext struct {
	cfg    *Config
	width  int
	height int
	styles Styles
	keys   KeyMap
	data   *data
}

// pane is one part of the screen (soft-serve's common.Component): it handles its keys, says which keys it has
// for the help, and renders exactly the size it was given, as lines.
type pane interface {
	help.KeyMap
	SetSize(w, h int)
	SetFocus(bool)
	Update(msg tea.Msg) tea.Cmd
	Lines() []string
}

// paneID names the focusable panes of the main view.
type paneID int

const (
	paneTracker paneID = iota
	paneList
	paneDetail
	paneCount
)

// rect is where a pane was drawn, for the mouse.
type rect struct{ x, y, w, h int }

func (r rect) contains(x, y int) bool {
	return x >= r.x && x < r.x+r.w && y >= r.y && y < r.y+r.h
}
