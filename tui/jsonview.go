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

// highlightJSON colours one line of indented JSON and wraps it at w cells (a long string continues, coloured,
// on the next lines).
func highlightJSON(st *Styles, line string, w int) []string {
	spans := lexJSONLine(line)
	var out []string
	for _, r := range cellRanges(line, w) {
		var b strings.Builder
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

// cellRanges cuts a plain line into byte ranges of at most w cells each.
func cellRanges(line string, w int) [][2]int {
	if w <= 0 {
		return nil
	}
	var out [][2]int
	start, cells := 0, 0
	for i, r := range line {
		cw := 1
		if r >= 0x80 {
			cw = ansi.StringWidth(string(r))
		}
		if cells+cw > w && i > start {
			out = append(out, [2]int{start, i})
			start, cells = i, 0
		}
		cells += cw
	}
	return append(out, [2]int{start, len(line)})
}
