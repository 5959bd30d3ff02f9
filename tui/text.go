package tui

import (
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// Every pane renders exactly its height in lines, each exactly its width in cells: that is what keeps the layout
// whole at any size. These helpers measure with x/ansi (escape sequences have no width; wide runes count double).

// width is the cells s takes. It measures what the UI draws (ASCII, SGR sequences and a few symbols: ✓ ✗ ▸ ·
// … │ box drawing) itself and leaves anything else to x/ansi's grapheme-aware StringWidth, which is exact but
// costs ten times more, and every line of every frame is measured.
func width(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x1b: // an escape sequence: CSI (ESC [ ... final byte) is all the UI writes
			if i+1 < len(s) && s[i+1] == '[' {
				j := i + 2
				for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
					j++
				}
				i = j + 1
				continue
			}
			return ansi.StringWidth(s)
		case c >= 0x20 && c < 0x7f:
			n++
			i++
		case c < 0x80:
			return ansi.StringWidth(s)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if !narrow(r) {
				return ansi.StringWidth(s)
			}
			n++
			i += size
		}
	}
	return n
}

// narrow reports a rune known to take one cell and to be a grapheme of its own.
func narrow(r rune) bool {
	switch {
	case r >= 0xa0 && r < 0x300 && r != 0xad: // Latin-1 and Latin Extended, less the soft hyphen
	case r >= 0x2010 && r <= 0x2027: // dashes, quotes, bullet, ellipsis
	case r >= 0x2190 && r <= 0x21ff: // arrows
	case r >= 0x2500 && r <= 0x25ff: // box drawing, blocks, geometric shapes
	case r == 0x2713 || r == 0x2717: // ✓ ✗
	default:
		return false
	}
	return true
}

// fit truncates s (with "…") or pads it with spaces to exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := width(s)
	switch {
	case n == w:
		return s
	case n < w:
		return s + strings.Repeat(" ", w-n)
	}
	t := ansi.Truncate(s, w, "…")
	if d := w - ansi.StringWidth(t); d > 0 {
		t += strings.Repeat(" ", d)
	}
	return t
}

// trunc truncates s to at most w cells without padding.
func trunc(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if width(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// padLeft right-aligns s in w cells.
func padLeft(s string, w int) string {
	n := width(s)
	if n >= w {
		return trunc(s, w)
	}
	return strings.Repeat(" ", w-n) + s
}

// leftRight puts left and right on one line of w cells; the left side gives way when both do not fit.
func leftRight(left, right string, w int) string {
	rw := width(right)
	if rw >= w {
		return fit(right, w)
	}
	return fit(left, w-rw-1) + " " + right
}

// block makes lines exactly h lines of exactly w cells.
func block(lines []string, w, h int) []string {
	out := make([]string, h)
	for i := range h {
		if i < len(lines) {
			out[i] = fit(lines[i], w)
		} else {
			out[i] = strings.Repeat(" ", max(w, 0))
		}
	}
	return out
}

// wrapPlain cuts plain text (no escape sequences) into lines of at most w cells.
func wrapPlain(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRight(line, "\r")
		if ansi.StringWidth(line) <= w {
			out = append(out, line)
			continue
		}
		out = append(out, strings.Split(ansi.Hardwrap(line, w, true), "\n")...)
	}
	return out
}

// overlay draws box (its lines) centred over base (h lines of w cells).
func overlay(base []string, box []string, w int) []string {
	if len(box) == 0 {
		return base
	}
	bw := 0
	for _, l := range box {
		bw = max(bw, ansi.StringWidth(l))
	}
	bw = min(bw, w)
	x := max((w-bw)/2, 0)
	y := max((len(base)-len(box))/2, 0)
	out := append([]string(nil), base...)
	for i, l := range box {
		r := y + i
		if r >= len(out) {
			break
		}
		// The rows the box covers are blanked either side of it: half a line of the view behind reads as noise.
		out[r] = strings.Repeat(" ", x) + fit(l, bw) + strings.Repeat(" ", max(w-x-bw, 0))
	}
	return out
}

// sanitize replaces control characters (a body may hold anything) so that they cannot move the cursor; a tab
// becomes four spaces. Call it on single lines.
func sanitize(s string) string {
	bad := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			bad = true
			break
		}
	}
	if !bad {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			b.WriteRune('�')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// wrapWords wraps plain text at word boundaries (and within a word longer than w).
func wrapWords(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	return strings.Split(ansi.Wrap(s, w, ""), "\n")
}

// truncLeft keeps the end of s (a path's file name matters most), with "…" in front, in at most w cells.
func truncLeft(s string, w int) string {
	n := ansi.StringWidth(s)
	if n <= w {
		return s
	}
	if w <= 1 {
		return trunc("…", w)
	}
	return "…" + ansi.TruncateLeft(s, n-w+1, "")
}
