package tui

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// maxPretty bounds the body that is parsed and indented for display; a larger one is shown as text.
const maxPretty = 256 << 10

// bodyLines renders a body for the detail pane: pretty, highlighted JSON when it is JSON, text otherwise, a note
// for binary data; every line at most w cells.
func bodyLines(st *Styles, data []byte, w int) []string {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if pretty, ok := prettyJSON(data); ok {
		var out []string
		for line := range strings.SplitSeq(pretty, "\n") {
			out = append(out, highlightJSON(st, sanitize(line), w)...)
		}
		return out
	}
	if !utf8.Valid(data) {
		return []string{st.Faint.Render(plural(len(data), "byte", "bytes") + " of binary data (export the capture to see them)")}
	}
	var out []string
	for line := range strings.SplitSeq(string(data), "\n") {
		out = append(out, wrapPlain(sanitize(strings.TrimRight(line, "\r")), w)...)
	}
	return out
}

// prettyJSON indents a JSON document.
func prettyJSON(data []byte) (string, bool) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || len(data) > maxPretty || (data[0] != '{' && data[0] != '[') || !json.Valid(data) {
		return "", false
	}
	var b bytes.Buffer
	if err := json.Indent(&b, data, "", "  "); err != nil {
		return "", false
	}
	return b.String(), true
}

type tokKind uint8

const (
	tokSpace tokKind = iota
	tokKey
	tokString
	tokNumber
	tokLit
	tokPunct
)

type span struct {
	start, end int
	kind       tokKind
}

// lexJSONLine splits one line of indented JSON into tokens; a string followed by ':' is a key.
func lexJSONLine(line string) []span {
	var out []span
	i := 0
	for i < len(line) {
		c := line[i]
		switch {
		case c == ' ':
			j := i
			for j < len(line) && line[j] == ' ' {
				j++
			}
			out = append(out, span{i, j, tokSpace})
			i = j
		case c == '"':
			j := i + 1
			for j < len(line) {
				if line[j] == '\\' {
					j += 2
					continue
				}
				if line[j] == '"' {
					j++
					break
				}
				j++
			}
			j = min(j, len(line))
			kind := tokString
			k := j
			for k < len(line) && line[k] == ' ' {
				k++
			}
			if k < len(line) && line[k] == ':' {
				kind = tokKey
			}
			out = append(out, span{i, j, kind})
			i = j
		case strings.IndexByte("{}[],:", c) >= 0:
			out = append(out, span{i, i + 1, tokPunct})
			i++
		default:
			j := i
			for j < len(line) && strings.IndexByte(" {}[],:\"", line[j]) < 0 {
				j++
			}
			kind := tokNumber
			switch line[i:j] {
			case "true", "false", "null":
				kind = tokLit
			}
			out = append(out, span{i, j, kind})
			i = j
		}
	}
	return out
}

func (st *Styles) tokStyle(k tokKind) *Ink {
	switch k {
	case tokKey:
		return &st.JSONKey
	case tokString:
		return &st.JSONString
	case tokNumber:
		return &st.JSONNumber
	case tokLit:
		return &st.JSONLit
	case tokPunct:
		return &st.JSONPunct
	}
	return nil
}

// highlightJSON colours one line of indented JSON and wraps it at w cells. A value too long for the line
// continues under itself (under the line's indentation and two more when it starts far right), broken after a
// space where it has one, so that a long token or a tool's description reads as one block beside its key.
func highlightJSON(st *Styles, line string, w int) []string {
	spans := lexJSONLine(line)
	if w <= 0 {
		return nil
	}
	ranges, hang := []([2]int){{0, len(line)}}, 0
	if width(line) > w {
		hang = hangOf(line, spans, w)
		ranges = wrapRanges(line, w, w-hang)
	}
	out := make([]string, 0, len(ranges))
	for i, r := range ranges {
		var b strings.Builder
		if i > 0 {
			b.WriteString(strings.Repeat(" ", hang))
		}
		for _, sp := range spans {
			s, e := max(sp.start, r[0]), min(sp.end, r[1])
			if s >= e {
				continue
			}
			if style := st.tokStyle(sp.kind); style != nil {
				b.WriteString(style.Render(line[s:e]))
			} else {
				b.WriteString(line[s:e])
			}
		}
		out = append(out, b.String())
	}
	return out
}

// hangOf is where the continuation lines of a wrapped JSON line start: under its value (after `"key": `), or
// under its indentation and two more when the value starts past the middle, or at the edge of a pane too narrow
// for either.
func hangOf(line string, spans []span, w int) int {
	indent := len(line) - len(strings.TrimLeft(line, " "))
	at := indent
	for _, sp := range spans {
		if sp.kind == tokKey || sp.kind == tokSpace || (sp.kind == tokPunct && line[sp.start] == ':') {
			continue
		}
		at = ansi.StringWidth(line[:sp.start])
		break
	}
	switch {
	case at <= w/2:
		return at
	case indent+2 <= w/2:
		return indent + 2
	}
	return 0
}

// wrapRanges cuts a plain line into byte ranges of at most first cells, then rest cells each: after the last
// space that leaves a line at least half full, else where the line is full. A continuation does not start with
// the spaces it was broken at.
func wrapRanges(line string, first, rest int) [][2]int {
	type rc struct{ at, w int }
	rs := make([]rc, 0, len(line))
	for i, r := range line {
		cw := 1
		if r >= 0x80 {
			cw = ansi.StringWidth(string(r))
		}
		rs = append(rs, rc{i, cw})
	}
	var out [][2]int
	limit := max(first, 1)
	for k := 0; k < len(rs); {
		cells, j, brk := 0, k, -1
		for j < len(rs) && cells+rs[j].w <= limit {
			cells += rs[j].w
			if line[rs[j].at] == ' ' && j > k && 2*cells >= limit {
				brk = j + 1
			}
			j++
		}
		if j == k {
			j = k + 1 // a rune wider than the line
		}
		if j < len(rs) && line[rs[j].at] != ' ' && brk > 0 {
			j = brk
		}
		end := len(line)
		if j < len(rs) {
			end = rs[j].at
		}
		out = append(out, [2]int{rs[k].at, end})
		for j < len(rs) && line[rs[j].at] == ' ' {
			j++
		}
		k = j
		limit = max(rest, 1)
	}
	return out
}
