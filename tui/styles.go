package tui

// Styles. This file is a leaf: it imports nothing from the rest of the UI, only lipgloss. Colours are chosen per
// background (lipgloss.LightDark) so the UI reads on light and dark terminals; nothing depends on colour alone:
// the selection is reversed, statuses are written out, and the marks (✓ ✗ ·) carry the meaning, so the UI stays
// usable when NO_COLOR makes Bubble Tea drop every colour (text attributes survive).

import (
	"image/color"
	"strings"

	"charm.land/lipgloss/v2"
)

// Styles is every style the UI uses.
type Styles struct {
	Dark bool

	Title      Ink // the program name in the header
	HeaderKey  Ink // "connector URL:"
	HeaderVal  Ink
	URL        Ink
	Faint      Ink
	Bold       Ink
	Section    Ink // pane title bars
	SectionOn  Ink // the focused pane's title bar
	Selected   Ink // the selected row of a focused pane
	SelectedBg Ink // the selected row of a pane without focus
	TabOn      Ink
	TabOff     Ink

	Status2xx Ink
	Status3xx Ink
	Status4xx Ink
	Status5xx Ink
	Pending   Ink

	OK      Ink // ✓
	Failed  Ink // ✗
	Waiting Ink // ·

	SevError Ink
	SevWarn  Ink
	SevInfo  Ink

	Toggle Ink // an active toggle

	JSONKey    Ink
	JSONString Ink
	JSONNumber Ink
	JSONLit    Ink // true, false, null
	JSONPunct  Ink

	HeaderName Ink // HTTP header names in the detail pane

	Box      lipgloss.Style // modal boxes
	Prompt   lipgloss.Style // a text input's prompt, focused
	PromptOf lipgloss.Style // and not
	Input    Ink
	Error    Ink
	Success  Ink
	HelpKey  Ink
	HelpDesc Ink
}

// newStyles returns the styles for a dark or a light background.
func newStyles(dark bool) Styles {
	ld := lipgloss.LightDark(dark)
	c := func(light, darkc string) color.Color { return ld(lipgloss.Color(light), lipgloss.Color(darkc)) }

	accent := c("#5f00af", "#af87ff")
	green := c("#005f00", "#87d787")
	cyan := c("#005f87", "#5fd7ff")
	yellow := c("#875f00", "#ffd75f")
	red := c("#af0000", "#ff5f5f")
	faint := c("#6c6c6c", "#8a8a8a")
	sectionBg := c("#d0d0d0", "#303030")
	sectionFg := c("#1c1c1c", "#d0d0d0")
	selBg := c("#bcbcbc", "#444444")

	s := lipgloss.NewStyle
	return Styles{
		Dark:       dark,
		Title:      ink(s().Bold(true).Foreground(accent)),
		HeaderKey:  ink(s().Foreground(faint)),
		HeaderVal:  ink(s()),
		URL:        ink(s().Foreground(cyan).Underline(true)),
		Faint:      ink(s().Foreground(faint)),
		Bold:       ink(s().Bold(true)),
		Section:    ink(s().Background(sectionBg).Foreground(sectionFg)),
		SectionOn:  ink(s().Background(accent).Foreground(c("#ffffff", "#000000")).Bold(true)),
		Selected:   ink(s().Reverse(true)),
		SelectedBg: ink(s().Background(selBg).Underline(true)),
		TabOn:      ink(s().Bold(true).Reverse(true)),
		TabOff:     ink(s().Foreground(faint)),

		Status2xx: ink(s().Foreground(green)),
		Status3xx: ink(s().Foreground(cyan)),
		Status4xx: ink(s().Foreground(yellow)),
		Status5xx: ink(s().Foreground(red).Bold(true)),
		Pending:   ink(s().Foreground(faint)),

		OK:      ink(s().Foreground(green).Bold(true)),
		Failed:  ink(s().Foreground(red).Bold(true)),
		Waiting: ink(s().Foreground(faint)),

		SevError: ink(s().Foreground(red).Bold(true)),
		SevWarn:  ink(s().Foreground(yellow).Bold(true)),
		SevInfo:  ink(s().Foreground(cyan)),

		Toggle: ink(s().Foreground(yellow).Bold(true)),

		JSONKey:    ink(s().Foreground(cyan)),
		JSONString: ink(s().Foreground(green)),
		JSONNumber: ink(s().Foreground(yellow)),
		JSONLit:    ink(s().Foreground(accent)),
		JSONPunct:  ink(s().Foreground(faint)),

		HeaderName: ink(s().Foreground(cyan)),

		Box:      s().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1),
		Prompt:   s().Foreground(accent).Bold(true),
		PromptOf: s().Foreground(faint),

		Input:    ink(s()),
		Error:    ink(s().Foreground(red).Bold(true)),
		Success:  ink(s().Foreground(green).Bold(true)),
		HelpKey:  ink(s().Foreground(accent).Bold(true)),
		HelpDesc: ink(s()),
	}
}

// Ink is a style reduced to the escape sequences around its text. lipgloss.Style.Render measures, pads and
// wraps; the UI only ever colours single lines it has already measured, so an Ink does that part alone, at a
// fraction of the cost (the list renders every visible row on every frame).
type Ink struct{ pre, post string }

func ink(st lipgloss.Style) Ink {
	r := st.Render("x")
	i := strings.Index(r, "x")
	if i < 0 {
		return Ink{}
	}
	return Ink{pre: r[:i], post: r[i+1:]}
}

// Render colours a single line.
func (k Ink) Render(s string) string {
	if s == "" || k.pre == "" {
		return s
	}
	return k.pre + s + k.post
}
