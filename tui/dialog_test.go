package tui

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

func stackIDs(s *dialogStack) []string {
	var ids []string
	for _, d := range s.ds {
		ids = append(ids, d.id())
	}
	return ids
}

// The stack: open pushes (an open dialog comes to the top), close removes wherever it is, the body dialog is the
// one that is not modal.
func TestDialogStack(t *testing.T) {
	h := newHarness(t, 80, 24, nil)
	s := &dialogStack{}
	if s.top() != nil || s.topID() != dialogNone || s.body() != nil || s.modalTop() != nil {
		t.Fatal("an empty stack has a dialog")
	}
	s.open(h.m.findings)
	s.open(h.m.helpD)
	s.open(h.m.togglesP)
	if got := stackIDs(s); !slices.Equal(got, []string{dialogFindings, dialogHelp, dialogToggles}) {
		t.Fatalf("stack %v", got)
	}
	s.open(h.m.helpD)
	if got := stackIDs(s); !slices.Equal(got, []string{dialogFindings, dialogToggles, dialogHelp}) {
		t.Fatalf("reopening the help: stack %v, want it on top", got)
	}
	if s.body() != dialog(h.m.findings) || s.modalTop() != dialog(h.m.helpD) {
		t.Fatalf("body %v, modal top %v", s.body(), s.modalTop())
	}
	s.close(dialogToggles)
	if got := stackIDs(s); !slices.Equal(got, []string{dialogFindings, dialogHelp}) || !s.isOpen(dialogHelp) || s.isOpen(dialogToggles) {
		t.Fatalf("closing the middle dialog: stack %v", got)
	}
}

// A modal dialog opens over the findings (a body dialog): the top one takes the keys, the help lists the keys of
// the dialog under it, and esc pops one dialog at a time.
func TestDialogOverFindings(t *testing.T) {
	h := newHarness(t, 120, 40, nil)
	h.feed(0, handshake()...)
	h.press("f")
	if got := stackIDs(&h.m.dialogs); !slices.Equal(got, []string{dialogFindings}) {
		t.Fatalf("f: stack %v", got)
	}
	if h.m.layout.panes != [paneCount]rect{} {
		t.Fatalf("the findings fill the body, yet the panes have slots: %v", h.m.layout.panes)
	}
	h.press("?")
	if got := stackIDs(&h.m.dialogs); !slices.Equal(got, []string{dialogFindings, dialogHelp}) {
		t.Fatalf("? over the findings: stack %v", got)
	}
	if s := h.screen(); !strings.Contains(s, "Findings") || !strings.Contains(s, "open the finding's exchange") {
		t.Fatalf("the help over the findings does not list their keys:\n%s", s)
	}
	h.press("f") // the help takes every key: f does not close the findings under it
	if got := stackIDs(&h.m.dialogs); !slices.Equal(got, []string{dialogFindings, dialogHelp}) {
		t.Fatalf("f in the help: stack %v", got)
	}
	h.press("esc")
	if got := stackIDs(&h.m.dialogs); !slices.Equal(got, []string{dialogFindings}) {
		t.Fatalf("esc in the help: stack %v, want the findings left", got)
	}
	h.press("esc")
	if h.m.dialogs.topID() != dialogNone || h.m.layout.panes[paneList].w == 0 {
		t.Fatalf("esc in the findings: stack %v, list slot %v", stackIDs(&h.m.dialogs), h.m.layout.panes[paneList])
	}
}

// The layout's slots tile the screen: header, body and footer one under the other, the panes inside the body.
func TestLayoutSlots(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {160, 50}, {40, 10}} {
		h := newHarness(t, sz[0], sz[1], nil)
		l := h.m.layout
		if l.header.y != 0 || l.body.y != l.header.h || l.footer.y != l.body.y+l.body.h || l.footer.y+l.footer.h != sz[1] {
			t.Fatalf("%v: slots do not tile the screen: %+v", sz, l)
		}
		for i, r := range l.panes {
			if r.w > 0 && (r.y < l.body.y || r.y+r.h > l.body.y+l.body.h || r.x+r.w > sz[0]) {
				t.Fatalf("%v: pane %d's slot %+v is outside the body %+v", sz, i, r, l.body)
			}
		}
	}
}

// sampleNotesDialog is a dialog as a contributor adds one (CONTRIBUTING.md, "Add a TUI pane or dialog"): a modal box with its own key.
type sampleNotesDialog struct {
	ctx   *programContext
	w     int
	opens int
}

func (p *sampleNotesDialog) id() string       { return "notes" }
func (p *sampleNotesDialog) modal() bool      { return true }
func (p *sampleNotesDialog) title() string    { return "Notes" }
func (p *sampleNotesDialog) click(_, _ int)   {}
func (p *sampleNotesDialog) SetSize(w, _ int) { p.w = w }
func (p *sampleNotesDialog) openKey() key.Binding {
	return key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "notes"))
}
func (p *sampleNotesDialog) open() tea.Cmd { p.opens++; return nil }
func (p *sampleNotesDialog) ShortHelp() []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "close the notes"))}
}
func (p *sampleNotesDialog) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }
func (p *sampleNotesDialog) Update(msg tea.Msg) tea.Cmd {
	if km, ok := msg.(tea.KeyPressMsg); ok && key.Matches(km, p.ctx.keys.Back) {
		p.ctx.dialogs.close(p.id())
	}
	return nil
}
func (p *sampleNotesDialog) box() ([]string, *tea.Cursor) {
	return boxed(&p.ctx.styles, "Notes", []string{"a note"}, min(p.w-2, 40)), nil
}
func (p *sampleNotesDialog) Lines() []string { l, _ := p.box(); return l }

// A dialog added in one line of newDialogs is opened by its key, takes the keys, shows its short help in the
// footer, closes on esc, and its key is listed in the help: the root needs nothing else.
func TestNewDialogTakesOneLine(t *testing.T) {
	h := newHarness(t, 120, 40, nil)
	d := &sampleNotesDialog{ctx: h.m.ctx}
	h.m.dialogList = append(h.m.dialogList, d) // the one line in newDialogs
	h.press("n")
	if h.m.dialogs.topID() != "notes" || d.opens != 1 {
		t.Fatalf("n: top %q, opened %d times", h.m.dialogs.topID(), d.opens)
	}
	s := h.screen()
	if !strings.Contains(s, "a note") || !strings.Contains(s, "close the notes") {
		t.Fatalf("the dialog or its short help is not drawn:\n%s", s)
	}
	h.press("t") // a modal takes every key: no toggles over it
	if got := stackIDs(&h.m.dialogs); !slices.Equal(got, []string{"notes"}) {
		t.Fatalf("t in the notes: stack %v", got)
	}
	h.press("esc", "?")
	if s := h.screen(); h.m.dialogs.topID() != dialogHelp || !regexp.MustCompile(` n +notes `).MatchString(s) {
		t.Fatalf("the help does not list the dialog's key:\n%s", s)
	}
}
