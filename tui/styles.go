package tui

// Styles. This file is a leaf: it imports nothing from the rest of the UI, only lipgloss. Colours are chosen per
// background (lipgloss.LightDark) so the UI reads on light and dark terminals; nothing depends on colour alone:
// the selection is reversed, statuses are written out, and the marks (✓ ✗ ·) carry the meaning, so the UI stays
// usable when NO_COLOR makes Bubble Tea drop every colour (text attributes survive).

import (
	"image/color"

	"charm.land/lipgloss/v2"
)

// Styles is every style the UI uses.
type Styles struct {
	Dark bool

	Title      lipgloss.Style // the program name in the header
	HeaderKey  lipgloss.Style // "connector URL:"
	HeaderVal  lipgloss.Style
	URL        lipgloss.Style
	Faint      lipgloss.Style
	Bold       lipgloss.Style
	Section    lipgloss.Style // pane title bars
	SectionOn  lipgloss.Style // the focused pane's title bar
	Selected   lipgloss.Style // the selected row of a focused pane
	SelectedBg lipgloss.Style // the selected row of a pane without focus
	TabOn      lipgloss.Style
	TabOff     lipgloss.Style

	Status2xx lipgloss.Style
	Status3xx lipgloss.Style
	Status4xx lipgloss.Style
	Status5xx lipgloss.Style
	Pending   lipgloss.Style

	OK      lipgloss.Style // ✓
	Failed  lipgloss.Style // ✗
	Waiting lipgloss.Style // ·

	SevError lipgloss.Style
	SevWarn  lipgloss.Style
	SevInfo  lipgloss.Style

	Toggle lipgloss.Style // an active toggle

	JSONKey    lipgloss.Style
	JSONString lipgloss.Style
	JSONNumber lipgloss.Style
	JSONLit    lipgloss.Style // true, false, null
	JSONPunct  lipgloss.Style

	HeaderName lipgloss.Style // HTTP header names in the detail pane

	Box      lipgloss.Style // modal boxes
	Input    lipgloss.Style
	Error    lipgloss.Style
	Success  lipgloss.Style
	HelpKey  lipgloss.Style
	HelpDesc lipgloss.Style
}

// NewStyles returns the styles for a dark or a light background.
func NewStyles(dark bool) Styles {
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
		Title:      s().Bold(true).Foreground(accent),
		HeaderKey:  s().Foreground(faint),
		HeaderVal:  s(),
		URL:        s().Foreground(cyan).Underline(true),
		Faint:      s().Foreground(faint),
		Bold:       s().Bold(true),
		Section:    s().Background(sectionBg).Foreground(sectionFg),
		SectionOn:  s().Background(accent).Foreground(c("#ffffff", "#000000")).Bold(true),
		Selected:   s().Reverse(true),
		SelectedBg: s().Background(selBg).Underline(true),
		TabOn:      s().Bold(true).Reverse(true),
		TabOff:     s().Foreground(faint),

		Status2xx: s().Foreground(green),
		Status3xx: s().Foreground(cyan),
		Status4xx: s().Foreground(yellow),
		Status5xx: s().Foreground(red).Bold(true),
		Pending:   s().Foreground(faint),

		OK:      s().Foreground(green).Bold(true),
		Failed:  s().Foreground(red).Bold(true),
		Waiting: s().Foreground(faint),

		SevError: s().Foreground(red).Bold(true),
		SevWarn:  s().Foreground(yellow).Bold(true),
		SevInfo:  s().Foreground(cyan),

		Toggle: s().Foreground(yellow).Bold(true),

		JSONKey:    s().Foreground(cyan),
		JSONString: s().Foreground(green),
		JSONNumber: s().Foreground(yellow),
		JSONLit:    s().Foreground(accent),
		JSONPunct:  s().Foreground(faint),

		HeaderName: s().Foreground(cyan),

		Box:      s().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(0, 1),
		Input:    s(),
		Error:    s().Foreground(red).Bold(true),
		Success:  s().Foreground(green).Bold(true),
		HelpKey:  s().Foreground(accent).Bold(true),
		HelpDesc: s(),
	}
}
