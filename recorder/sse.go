package recorder

import (
	"bytes"
	"strconv"
	"strings"
)

// SSEParser splits a text/event-stream into events as bytes arrive (WHATWG HTML §9.2.6): lines end in CRLF, LF or
// CR; a blank line dispatches; "data" lines join with LF; comments (":") are skipped; "retry" takes digits only; a
// leading byte order mark is dropped. Unlike a browser's EventSource, a block without data (only an id or a retry)
// is returned too: it is what the server sent.
type SSEParser struct {
	buf      []byte
	cur      SSEEvent
	data     []byte // the current event's data lines, joined (appended: an event of many lines costs linear time)
	hasData  bool
	sawField bool
	lastCR   bool
	started  bool // the first line was seen (a BOM can only lead it)
	// MaxLine bounds a line held while waiting for its end, and an event's data; longer ones are cut (the raw body
	// keeps them).
	MaxLine int
}

// Feed consumes p and returns the events it completed.
func (p *SSEParser) Feed(b []byte) []SSEEvent {
	var out []SSEEvent
	if p.MaxLine == 0 {
		p.MaxLine = 1 << 20
	}
	for len(b) > 0 {
		if p.lastCR && b[0] == '\n' { // the LF of a CRLF split across feeds
			b = b[1:]
			p.lastCR = false
			continue
		}
		p.lastCR = false
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			if room := p.MaxLine - len(p.buf); room > 0 {
				p.buf = append(p.buf, b[:min(room, len(b))]...)
			}
			return out
		}
		if room := p.MaxLine - len(p.buf); room > 0 {
			p.buf = append(p.buf, b[:min(room, i)]...)
		}
		if b[i] == '\r' {
			if i+1 < len(b) && b[i+1] == '\n' {
				b = b[i+2:]
			} else {
				if i+1 == len(b) {
					p.lastCR = true
				}
				b = b[i+1:]
			}
		} else {
			b = b[i+1:]
		}
		l := string(p.buf)
		if !p.started {
			p.started = true
			l = strings.TrimPrefix(l, "\ufeff")
		}
		if ev, ok := p.line(l); ok {
			out = append(out, ev)
		}
		p.buf = p.buf[:0]
	}
	return out
}

func (p *SSEParser) line(l string) (SSEEvent, bool) {
	if l == "" {
		if !p.sawField {
			return SSEEvent{}, false
		}
		ev := p.cur
		ev.Data = string(p.data)
		p.cur, p.hasData, p.sawField, p.data = SSEEvent{}, false, false, p.data[:0]
		if cap(p.data) > 64<<10 {
			p.data = nil // a large event's buffer is not kept for the rest of the stream
		}
		return ev, true
	}
	if strings.HasPrefix(l, ":") {
		return SSEEvent{}, false
	}
	field, value, _ := strings.Cut(l, ":")
	value = strings.TrimPrefix(value, " ")
	p.sawField = true
	switch field {
	case "data":
		if p.hasData {
			p.appendData("\n")
		}
		p.appendData(value)
		p.hasData = true
	case "event":
		p.cur.Event = value
	case "id":
		if !strings.ContainsRune(value, 0) {
			p.cur.ID = value
		}
	case "retry":
		if n, err := strconv.Atoi(value); err == nil && n >= 0 && strings.Trim(value, "0123456789") == "" {
			p.cur.Retry = n
		}
	}
	return SSEEvent{}, false
}

// appendData adds to the current event's data, up to MaxLine bytes.
func (p *SSEParser) appendData(s string) {
	if room := p.MaxLine - len(p.data); room > 0 {
		p.data = append(p.data, s[:min(room, len(s))]...)
	}
}
