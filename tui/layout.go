package tui

import (
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// The main view's panes, and their slots. To add a pane: a file with a type that implements pane (copy
// list.go's shape), and here its paneID, its line in newPanes and its slot in layOut. The root then
// routes the keys to it when it has the focus (tab cycles through the panes), the wheel and clicks in its slot, and
// shows its key map in the footer and the help.

// paneID names the focusable panes of the main view, in tab order.
type paneID int

const (
	paneTracker paneID = iota
	paneList
	paneDetail
	paneCount
)

// newPanes makes the panes, in paneID order.
func (m *Model) newPanes() {
	m.tracker = newTracker(m.ctx)
	m.list = newList(m.ctx)
	m.detail = newDetail(m.ctx)
	m.panes = [paneCount]pane{m.tracker, m.list, m.detail}
}

// rect is a slot of the screen.
type rect struct{ x, y, w, h int }

func (r rect) contains(x, y int) bool {
	return x >= r.x && x < r.x+r.w && y >= r.y && y < r.y+r.h
}

// layout is the screen's slots, filled by the root on every change of size or state (layOut); the panes and
// dialogs get their sizes from it, the mouse finds its target in it, and View draws into it.
type layout struct {
	header, body, footer rect
	// panes are the panes' rectangles; a pane not shown has none (a body dialog hides them all).
	panes [paneCount]rect
	// wide: the list and the detail side by side; zoomed: the detail alone (a narrow screen, the detail focused).
	wide, zoomed bool
}

// layOut fills the slots for a screen of w×h.
func (m *Model) layOut(w, h int) layout {
	headerH := m.headerHeight(w)
	bodyH := max(h-headerH-footerH, 0)
	l := layout{
		header: rect{0, 0, w, headerH},
		body:   rect{0, headerH, w, bodyH},
		footer: rect{0, headerH + bodyH, w, footerH},
		wide:   w >= 120,
	}
	l.zoomed = !l.wide && m.focus == paneDetail
	switch {
	case m.dialogs.body() != nil:
	case l.zoomed:
		l.panes[paneDetail] = l.body
	default:
		trackerH := min(m.tracker.Needed(w), max(bodyH/3, 3))
		rest := bodyH - trackerH
		l.panes[paneTracker] = rect{0, headerH, w, trackerH}
		if l.wide {
			lw := w * 11 / 20
			l.panes[paneList] = rect{0, headerH + trackerH, lw, rest}
			l.panes[paneDetail] = rect{lw + 1, headerH + trackerH, w - lw - 1, rest}
		} else {
			lh := max(rest/2, min(rest, 3))
			l.panes[paneList] = rect{0, headerH + trackerH, w, lh}
			l.panes[paneDetail] = rect{0, headerH + trackerH + lh, w, rest - lh}
		}
	}
	return l
}

// sync lays the panes and dialogs out for the current size and state, and builds the detail of the selection.
func (m *Model) sync() {
	w := m.ctx.width
	m.layout = m.layOut(w, m.ctx.height)
	for i, p := range m.panes {
		r := m.layout.panes[i]
		if r.w > 0 && r.h > 0 {
			p.SetSize(r.w, r.h)
		}
	}
	for _, d := range m.dialogs.ds {
		d.SetSize(m.layout.body.w, m.layout.body.h)
	}
	m.detail.show(m.list.selected())
	// The text inputs' widths (set here: View changes nothing).
	m.filterIn.SetWidth(max(w-ansi.StringWidth(m.filterRight(w))-3-ansi.StringWidth(m.filterIn.Prompt), 4))
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

// bodyLines draws the body slot: the panes side by side (or the body dialog in their place), then the modal
// dialogs of the stack over them, bottom to top; the cursor is the top dialog's.
func (m *Model) bodyLines(w, bodyH int) ([]string, *tea.Cursor) {
	headerH := m.headerHeight(w)
	var body []string
	if d := m.dialogs.body(); d != nil {
		body = d.Lines()
	} else {
		// Each row is its panes' lines side by side (a "│" between two panes), never cut out of a wider line.
		body = make([]string, bodyH)
		cols := make([][]string, bodyH)
		for i, p := range m.panes {
			r := m.layout.panes[i]
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
	var cursor *tea.Cursor
	for _, d := range m.dialogs.ds {
		if !d.modal() {
			continue
		}
		box, c := d.box()
		if len(box) == 0 {
			continue
		}
		if len(box) > bodyH {
			box = box[:bodyH]
		}
		body = overlay(body, box, w)
		cursor = c
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
