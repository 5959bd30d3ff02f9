package recorder

import (
	"bytes"
	"strconv"
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
func (p *SSEParser) Feed(b []byte) []SSEEvent { return p.AppendFeed(nil, b) }

// AppendFeed consumes b and appends the events it completed to dst (Feed without a new slice per call). A line is
// looked at in place: only an event's id, its type and its data become strings.
func (p *SSEParser) AppendFeed(dst []SSEEvent, b []byte) []SSEEvent {
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
		i := lineEnd(b)
		if i < 0 {
			if room := p.MaxLine - len(p.buf); room > 0 {
				p.buf = append(p.buf, b[:min(room, len(b))]...)
			}
			return dst
		}
		// the line: in b itself when no part of it is held from an earlier feed
		var l []byte
		if len(p.buf) == 0 {
			l = b[:max(0, min(i, p.MaxLine))]
		} else {
			if room := p.MaxLine - len(p.buf); room > 0 {
				p.buf = append(p.buf, b[:min(room, i)]...)
			}
			l = p.buf
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
		if !p.started {
			p.started = true
			l = bytes.TrimPrefix(l, []byte("\ufeff"))
		}
		if ev, ok := p.line(l); ok {
			dst = append(dst, ev)
		}
		p.buf = p.buf[:0]
	}
	return dst
}

// lineEnd is the index of b's first CR or LF, or -1: bytes.IndexAny(b, "\r\n"), which looks at a byte at a time,
// as two vectorised searches (an event's data line is most of a stream's bytes).
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}

func (p *SSEParser) line(l []byte) (SSEEvent, bool) {
	if len(l) == 0 {
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
	if l[0] == ':' {
		return SSEEvent{}, false
	}
	field, value, _ := bytes.Cut(l, []byte(":"))
	value = bytes.TrimPrefix(value, []byte(" "))
	p.sawField = true
	switch string(field) {
	case "data":
		if p.hasData {
			p.appendData([]byte("\n"))
		}
		p.appendData(value)
		p.hasData = true
	case "event":
		p.cur.Event = eventType(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.cur.ID = string(value)
		}
	case "retry":
		if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 && len(bytes.Trim(value, "0123456789")) == 0 {
			p.cur.Retry = n
		}
	}
	return SSEEvent{}, false
}

// eventType returns an event's type as a string, without a new one for the type MCP servers send.
func eventType(v []byte) string {
	switch string(v) {
	case "message":
		return "message"
	}
	return string(v)
}

// appendData adds to the current event's data, up to MaxLine bytes.
func (p *SSEParser) appendData(s []byte) {
	if room := p.MaxLine - len(p.data); room > 0 {
		p.data = append(p.data, s[:min(room, len(s))]...)
	}
}
