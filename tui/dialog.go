package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// Dialogs: the parts drawn over the panes, on a stack (charmbracelet/crush's internal/ui/dialog Overlay). Opening
// one pushes it; esc (or its own closing key) pops it; the top dialog gets the keys first; the root draws the
// panes, then the stack over them, bottom to top.
//
// Two kinds share the contract. A modal dialog (help, toggles, export) is a box centred over the body that takes
// every key until it closes. A body dialog (findings) fills the body slot in place of the panes: it takes the keys
// of its own key map, and the global keys (help, filter, toggles, export, ...) pass through to the root, so that
// a modal can open over it.
//
// To add a dialog: a file with a type that implements dialog (copy toggles.go for a modal box, findings.go for a
// view that fills the body), its key in keys.go, and one line in newDialogs below: the root opens it on its key,
// routes the keys to it, sizes it, draws it, and lists its key in the help and its key map under it.

// newDialogs makes every dialog (a new one is one line here); the root opens each on its key (dialog.openKey).
func (m *Model) newDialogs() {
	m.helpD = newHelpDialog(m.ctx, m.helpSections)
	m.togglesP = newTogglesPanel(m.ctx)
	m.exportP = newExportPrompt(m.ctx)
	m.findings = newFindings(m.ctx, m.openExchange)
	m.dialogList = []dialog{m.helpD, m.togglesP, m.exportP, m.findings}
}

// dialogNone is the id of no dialog (dialogStack.topID when none is open); each dialog's id is a constant in its
// own file.
const dialogNone = ""

// dialog is a component drawn over the panes.
type dialog interface {
	component
	// id names it on the stack.
	id() string
	// openKey is the global key that opens it (and closes a body dialog that is open).
	openKey() key.Binding
	// open readies it as it opens (from the program context's state) and returns its first command.
	open() tea.Cmd
	// modal reports whether the dialog is a box that takes every key (else it fills the body and takes the keys
	// of its key map).
	modal() bool
	// box renders the dialog (Lines, for a body dialog) and places the text cursor within it (nil: none).
	box() ([]string, *tea.Cursor)
}

// dialogStack is the dialogs open, bottom first.
type dialogStack struct{ ds []dialog }

// open pushes d (it comes to the top if it was open already).
func (s *dialogStack) open(d dialog) {
	s.close(d.id())
	s.ds = append(s.ds, d)
}

// close removes the dialog id wherever it is in the stack.
func (s *dialogStack) close(id string) {
	for i, d := range s.ds {
		if d.id() == id {
			s.ds = append(s.ds[:i:i], s.ds[i+1:]...)
			return
		}
	}
}

// isOpen reports whether the dialog id is on the stack.
func (s *dialogStack) isOpen(id string) bool {
	for _, d := range s.ds {
		if d.id() == id {
			return true
		}
	}
	return false
}

// top is the dialog that gets the keys first, or nil.
func (s *dialogStack) top() dialog {
	if len(s.ds) == 0 {
		return nil
	}
	return s.ds[len(s.ds)-1]
}

// body is the open dialog that fills the body in place of the panes, or nil.
func (s *dialogStack) body() dialog {
	for _, d := range s.ds {
		if !d.modal() {
			return d
		}
	}
	return nil
}

// modalTop is the top dialog when it is modal (it takes every key), or nil.
func (s *dialogStack) modalTop() dialog {
	if d := s.top(); d != nil && d.modal() {
		return d
	}
	return nil
}
