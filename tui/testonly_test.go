package tui

// Accessors only the tests use (deadcode without -test lists them): here, so that the shipped package does not
// carry them.

// topID is the top dialog's id (dialogNone when none is open).
func (s *dialogStack) topID() string {
	if d := s.top(); d != nil {
		return d.id()
	}
	return dialogNone
}

// get returns the exchange with id, or nil.
func (d *flowView) get(id uint64) *row {
	if i, ok := d.index(id); ok {
		return &d.rows[i]
	}
	return nil
}

func (m *Model) helpContent(w int) []string {
	return helpContent(&m.ctx.styles, m.helpSections(), helpW(w))
}

// analysisOwed reports whether the service has not answered everything it was handed yet.
func (m *Model) analysisOwed() bool { return m.anAcked < m.anSent || m.anPending }
