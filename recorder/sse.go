package recorder

import (
	"bytes"
	"strconv"
	"unsafe"
)

// SSEParser splits a text/event-stream into events as bytes arrive (WHATWG HTML §9.2.6): lines end in CRLF, LF or
// CR; a blank line dispatches; "data" lines join with LF; comments (":") are skipped; "retry" takes digits only; a
// leading byte order mark is dropped. Unlike a browser's EventSource, a block without data (only an id or a retry)
// is returned too: it is what the server sent.
type SSEParser struct {
	buf  []byte
	cur  SSEEvent
	data []byte // the current event's data lines, joined (appended: an event of many lines costs linear time)
	// dataIn is the current event's one data line so far, in the bytes of an AppendFeedInPlace (nil: the data is
	// in data): an event of one data line, the usual one, becomes the string of those bytes without a copy.
	dataIn   []byte
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
	return p.appendFeed(dst, b, false)
}

// AppendFeedInPlace is AppendFeed for bytes that are never written again while the events live (a recorded
// body, which is only ever appended to): an event's id, type and single data line are strings of b's own bytes,
// not copies (the recorder cuts a stream's events from the body it keeps, so that an event costs no string of its
// own). What spans two feeds, or is joined from several data lines, is copied as in AppendFeed.
func (p *SSEParser) AppendFeedInPlace(dst []SSEEvent, b []byte) []SSEEvent {
	return p.appendFeed(dst, b, true)
}

func (p *SSEParser) appendFeed(dst []SSEEvent, b []byte, inPlace bool) []SSEEvent {
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
		held := len(p.buf) > 0
		if !held {
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
		if ev, ok := p.line(l, inPlace && !held); ok {
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

// line takes one line; inPlace: l is in bytes that are never written again (its texts need no copy).
func (p *SSEParser) line(l []byte, inPlace bool) (SSEEvent, bool) {
	if len(l) == 0 {
		if !p.sawField {
			return SSEEvent{}, false
		}
		ev := p.cur
		if p.dataIn != nil {
			ev.Data = unsafe.String(unsafe.SliceData(p.dataIn), len(p.dataIn))
		} else {
			ev.Data = string(p.data)
		}
		p.cur, p.hasData, p.sawField, p.data, p.dataIn = SSEEvent{}, false, false, p.data[:0], nil
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
		switch {
		case !p.hasData && inPlace && len(value) > 0:
			p.dataIn = value // its first line, in place (a value is within MaxLine: so is its line)
		case p.hasData:
			if p.dataIn != nil { // a second line: the first is joined with it, copied
				p.appendData(p.dataIn)
				p.dataIn = nil
			}
			p.appendData([]byte("\n"))
			fallthrough
		default:
			p.appendData(value)
		}
		p.hasData = true
	case "event":
		p.cur.Event = eventType(value, inPlace)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.cur.ID = text(value, inPlace)
		}
	case "retry":
		if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 && len(bytes.Trim(value, "0123456789")) == 0 {
			p.cur.Retry = n
		}
	}
	return SSEEvent{}, false
}

// eventType returns an event's type as a string, without a new one for the types MCP servers send (the go-sdk
// primes a resumable stream with an event of type "prime").
func eventType(v []byte, inPlace bool) string {
	switch string(v) {
	case "message":
		return "message"
	case "prime":
		return "prime"
	}
	return text(v, inPlace)
}

// text is v as a string: v's own bytes when they are never written again (inPlace), else a copy.
func text(v []byte, inPlace bool) string {
	if inPlace {
		return unsafe.String(unsafe.SliceData(v), len(v))
	}
	return string(v)
}

// appendData adds to the current event's data, up to MaxLine bytes.
func (p *SSEParser) appendData(s []byte) {
	if room := p.MaxLine - len(p.data); room > 0 {
		p.data = append(p.data, s[:min(room, len(s))]...)
	}
}
