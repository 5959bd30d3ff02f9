package tui

// Key bindings. This file is a leaf: it imports nothing from the rest of the UI, only bubbles/key, so that the
// bindings can be read (and changed) in one place. The conventions are those of mitmproxy, lazygit and k9s.

import "charm.land/bubbles/v2/key"

// KeyMap holds every binding of the program.
type KeyMap struct {
	// Moving.
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Top      key.Binding
	Bottom   key.Binding // also: follow new arrivals again
	NextPane key.Binding
	PrevPane key.Binding
	Enter    key.Binding
	Back     key.Binding
	NextTab  key.Binding
	PrevTab  key.Binding

	// Actions.
	Filter    key.Binding
	Toggles   key.Binding
	Export    key.Binding
	Copy      key.Binding
	CopyURL   key.Binding
	Tunnel    key.Binding
	Clear     key.Binding
	Findings  key.Binding
	Help      key.Binding
	Quit      key.Binding
	ForceQuit key.Binding

	// Inside the toggles panel.
	Flip  key.Binding
	Unset key.Binding

	// Inside prompts.
	Accept     key.Binding
	Cancel     key.Binding
	NextFormat key.Binding
}

// defaultKeyMap returns the bindings.
func defaultKeyMap() KeyMap {
	return KeyMap{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+u", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+d", "ctrl+f"), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "first")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "last, follow")),
		NextPane: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next pane")),
		PrevPane: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		Enter:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		NextTab:  key.NewBinding(key.WithKeys("right", "l", "]"), key.WithHelp("→/l", "next tab")),
		PrevTab:  key.NewBinding(key.WithKeys("left", "h", "["), key.WithHelp("←/h", "previous tab")),

		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Toggles:   key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "toggles")),
		Export:    key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "export")),
		Copy:      key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy as curl")),
		CopyURL:   key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "copy connector URL")),
		Tunnel:    key.NewBinding(key.WithKeys("T"), key.WithHelp("T", "start a tunnel (public URL)")),
		Clear:     key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "clear")),
		Findings:  key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "findings")),
		Help:      key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),

		Flip:  key.NewBinding(key.WithKeys("enter", "space"), key.WithHelp("enter/space", "switch on/off")),
		Unset: key.NewBinding(key.WithKeys("d", "backspace", "delete"), key.WithHelp("d", "switch off")),

		Accept:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "accept")),
		Cancel:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
		NextFormat: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next format")),
	}
}
