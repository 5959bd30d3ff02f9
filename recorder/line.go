package recorder

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/mcpwatch/mcpwatch/internal/jsonscan"
)

// appendLine appends ex's capture line to dst: exactly the bytes json.Marshal(ex) gives, then a newline, written
// without reflection (the capture writer encodes every exchange; TestAppendLineIsJSONMarshal and
// FuzzAppendLine hold it to json.Marshal byte for byte). A value json.Marshal refuses (a time outside years
// 0–9999, an invalid raw JSON-RPC id) is an error here too.
func appendLine(dst []byte, ex *Exchange) ([]byte, error) {
	return (*lineParts)(nil).appendLine(dst, ex, nil)
}

// lineParts remembers where the last bodies and header lists encoded into one buffer of lines are, so that one
// met again — the same bytes: the upstream copy of a proxied exchange refers to its client exchange's request and
// response bodies and, passed on as they came, response headers, and the store shares equal bodies and header
// lists — is copied from its earlier encoding instead of being checked and escaped again (most of a line's
// cost). It lives while one buffer of lines is encoded, while the records are held: a part's address stands for
// its contents (records are never written). A nil *lineParts remembers nothing.
type lineParts struct {
	// a ring: the bodies, header lists, JSON-RPC message lists and events' data of the last two exchanges — their
	// addresses apart, so that a part is looked for through sixteen words rather than sixteen entries
	ps     [16]unsafe.Pointer // the body's bytes, the header list's lines, the message list's messages, the data's text
	at     [16]encodedPart
	next   int
	copied int // parts copied (tests)
}

type encodedPart struct {
	kind       uint8 // partBody, partHeaders, partRPC, partData
	n          int
	start, end int // its encoding in the buffer (a body's: its data, up to the comma before its size)
}

// The kinds of parts lineParts remembers.
const (
	partBody = iota + 1
	partHeaders
	partRPC
	partData // an event's data: an upstream copy's events hold its client's texts (completeDerived)
)

// Parts shorter than these are encoded as they come (looking them up costs about as much as escaping them).
const (
	minSharedBody    = 64
	minSharedHeaders = 2
)

// maxSharedData is how many events' data of a line are remembered (an answer's event or two): a long stream's
// events would push its bodies and lists out of the ring before its other line met them.
const maxSharedData = 4

// forget drops what lies beyond the first n bytes of the buffer (a line left out: its bytes are written over).
func (lp *lineParts) forget(n int) {
	for i := range lp.at {
		if lp.at[i].end > n {
			lp.ps[i], lp.at[i] = nil, encodedPart{}
		}
	}
}

// find returns the encoding of the part at p, n in dst, if it was encoded already.
func (lp *lineParts) find(dst []byte, kind uint8, p unsafe.Pointer, n int) ([]byte, bool) {
	for i, q := range &lp.ps {
		if q == p {
			if e := &lp.at[i]; e.n == n && e.kind == kind {
				lp.copied++
				return dst[e.start:e.end], true
			}
		}
	}
	return nil, false
}

func (lp *lineParts) remember(kind uint8, p unsafe.Pointer, n, start, end int) {
	lp.ps[lp.next], lp.at[lp.next] = p, encodedPart{kind: kind, n: n, start: start, end: end}
	if lp.next++; lp.next == len(lp.at) {
		lp.next = 0
	}
}

// appendBody is appendBody, copying the data part of a body encoded earlier into dst.
func (lp *lineParts) appendBody(dst []byte, b *Body) []byte {
	if lp == nil || len(b.Data) < minSharedBody {
		return appendBody(dst, b)
	}
	p := unsafe.Pointer(unsafe.SliceData(b.Data))
	if enc, ok := lp.find(dst, partBody, p, len(b.Data)); ok {
		return appendBodyTail(append(dst, enc...), b)
	}
	start := len(dst)
	dst = appendBodyData(dst, b)
	lp.remember(partBody, p, len(b.Data), start, len(dst))
	return appendBodyTail(dst, b)
}

// appendHeaders is appendHeaders, copying a list encoded earlier into dst.
func (lp *lineParts) appendHeaders(dst []byte, h Headers) []byte {
	if lp == nil || len(h) < minSharedHeaders {
		return appendHeaders(dst, h)
	}
	p := unsafe.Pointer(unsafe.SliceData(h))
	if enc, ok := lp.find(dst, partHeaders, p, len(h)); ok {
		return append(dst, enc...)
	}
	start := len(dst)
	dst = appendHeaders(dst, h)
	lp.remember(partHeaders, p, len(h), start, len(dst))
	return dst
}

// appendData is appendString for an event's data, copying one encoded earlier into dst.
func (lp *lineParts) appendData(dst []byte, s string) []byte {
	if lp == nil || len(s) < minSharedBody {
		return appendString(dst, s)
	}
	p := unsafe.Pointer(unsafe.StringData(s))
	if enc, ok := lp.find(dst, partData, p, len(s)); ok {
		return append(dst, enc...)
	}
	start := len(dst)
	dst = appendString(dst, s)
	lp.remember(partData, p, len(s), start, len(dst))
	return dst
}

// appendLine is appendLine, with the parts remembered; when at is not nil it receives where the JSON values of the
// request body (at[0]) and the response body (at[1]) begin and end in dst (the capture file keeps large bodies
// there: bodies.go).
func (lp *lineParts) appendLine(dst []byte, ex *Exchange, at *[2][2]int) ([]byte, error) {
	var err error
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, ex.ID, 10)
	dst = append(dst, `,"kind":`...)
	dst = appendString(dst, ex.Kind)
	dst = append(dst, `,"state":`...)
	dst = appendString(dst, ex.State)
	dst = append(dst, `,"start":"`...)
	if dst, err = ex.Start.AppendText(dst); err != nil {
		return dst, err
	}
	dst = append(dst, `","timings":{"wait":`...)
	dst = strconv.AppendInt(dst, int64(ex.Timings.Wait), 10)
	dst = append(dst, `,"total":`...)
	dst = strconv.AppendInt(dst, int64(ex.Timings.Total), 10)
	dst = append(dst, '}')
	if ex.RemoteAddr != "" {
		dst = append(dst, `,"remoteAddr":`...)
		dst = appendString(dst, ex.RemoteAddr)
	}
	dst = append(dst, `,"method":`...)
	dst = appendString(dst, ex.Method)
	dst = append(dst, `,"url":`...)
	dst = appendString(dst, ex.URL)
	if ex.Host != "" {
		dst = append(dst, `,"host":`...)
		dst = appendString(dst, ex.Host)
	}
	if ex.Proto != "" {
		dst = append(dst, `,"proto":`...)
		dst = appendString(dst, ex.Proto)
	}
	dst = append(dst, `,"requestHeaders":`...)
	dst = lp.appendHeaders(dst, ex.ReqHeaders)
	dst = append(dst, `,"requestBody":`...)
	if at != nil {
		at[0][0] = len(dst)
	}
	dst = lp.appendBody(dst, &ex.ReqBody)
	if at != nil {
		at[0][1] = len(dst)
	}
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(ex.Status), 10)
	dst = append(dst, `,"responseHeaders":`...)
	dst = lp.appendHeaders(dst, ex.RespHeaders)
	dst = append(dst, `,"responseBody":`...)
	if at != nil {
		at[1][0] = len(dst)
	}
	dst = lp.appendBody(dst, &ex.RespBody)
	if at != nil {
		at[1][1] = len(dst)
	}
	if len(ex.Events) > 0 {
		dst = append(dst, `,"events":[`...)
		for i, ev := range ex.Events {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"at":`...)
			dst = strconv.AppendInt(dst, int64(ev.At), 10)
			if ev.ID != "" {
				dst = append(dst, `,"id":`...)
				dst = appendString(dst, ev.ID)
			}
			if ev.Event != "" {
				dst = append(dst, `,"event":`...)
				dst = appendString(dst, ev.Event)
			}
			dst = append(dst, `,"data":`...)
			if i < maxSharedData {
				dst = lp.appendData(dst, ev.Data)
			} else {
				dst = appendString(dst, ev.Data)
			}
			if ev.Retry != 0 {
				dst = append(dst, `,"retry":`...)
				dst = strconv.AppendInt(dst, int64(ev.Retry), 10)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if ex.EventsSkipped != 0 {
		dst = append(dst, `,"eventsSkipped":`...)
		dst = strconv.AppendInt(dst, int64(ex.EventsSkipped), 10)
	}
	if ex.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendString(dst, ex.Error)
	}
	if len(ex.RPC) > 0 {
		dst = append(dst, `,"rpc":`...)
		if dst, err = lp.appendRPCList(dst, ex.RPC); err != nil {
			return dst, err
		}
	}
	if ex.RPCSkipped != 0 {
		dst = append(dst, `,"rpcSkipped":`...)
		dst = strconv.AppendInt(dst, int64(ex.RPCSkipped), 10)
	}
	if len(ex.Toggles) > 0 {
		dst = append(dst, `,"toggles":[`...)
		for i, f := range ex.Toggles {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = appendString(dst, f.Name)
			dst = append(dst, `,"what":`...)
			dst = appendString(dst, f.What)
			if f.Before != "" {
				dst = append(dst, `,"before":`...)
				dst = appendString(dst, f.Before)
			}
			if f.After != "" {
				dst = append(dst, `,"after":`...)
				dst = appendString(dst, f.After)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if len(ex.Notes) > 0 {
		dst = append(dst, `,"notes":[`...)
		for i, n := range ex.Notes {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"key":`...)
			dst = appendString(dst, n.Key)
			dst = append(dst, `,"value":`...)
			dst = appendString(dst, n.Value)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, "}\n"...), nil
}

// appendRPCList appends a JSON-RPC message list as json.Marshal writes it.
func appendRPCList(dst []byte, list []RPC) ([]byte, error) {
	var err error
	dst = append(dst, '[')
	for i, m := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"from":`...)
		dst = appendString(dst, m.From)
		if m.Method != "" {
			dst = append(dst, `,"method":`...)
			dst = appendString(dst, m.Method)
		}
		if len(m.ID) > 0 {
			dst = append(dst, `,"id":`...)
			if dst, err = appendRaw(dst, m.ID); err != nil {
				return dst, err
			}
		}
		if m.ErrorCode != nil {
			dst = append(dst, `,"errorCode":`...)
			dst = strconv.AppendInt(dst, int64(*m.ErrorCode), 10)
		}
		if m.ErrorMessage != "" {
			dst = append(dst, `,"errorMessage":`...)
			dst = appendString(dst, m.ErrorMessage)
		}
		if m.IsResponse {
			dst = append(dst, `,"response":true`...)
		}
		if m.ReplyTo != "" {
			dst = append(dst, `,"replyTo":`...)
			dst = appendString(dst, m.ReplyTo)
		}
		dst = append(dst, `,"event":`...)
		dst = strconv.AppendInt(dst, int64(m.Event), 10)
		if m.Batch {
			dst = append(dst, `,"batch":true`...)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	return dst, nil
}

// appendRPCList is appendRPCList, copying a list encoded earlier into dst.
func (lp *lineParts) appendRPCList(dst []byte, list []RPC) ([]byte, error) {
	if lp == nil {
		return appendRPCList(dst, list)
	}
	p := unsafe.Pointer(unsafe.SliceData(list))
	if enc, ok := lp.find(dst, partRPC, p, len(list)); ok {
		return append(dst, enc...), nil
	}
	start := len(dst)
	dst, err := appendRPCList(dst, list)
	if err == nil {
		lp.remember(partRPC, p, len(list), start, len(dst))
	}
	return dst, err
}

func appendHeaders(dst []byte, h Headers) []byte {
	if h == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, x := range h {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendString(dst, x.Name)
		dst = append(dst, `,"value":`...)
		dst = appendString(dst, x.Value)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendBody is Body.MarshalJSON's form: text when the data is valid UTF-8, else base64.
func appendBody(dst []byte, b *Body) []byte { return appendBodyTail(appendBodyData(dst, b), b) }

// appendBodyData is the start of appendBody's form: the data, up to the comma before its size.
func appendBodyData(dst []byte, b *Body) []byte {
	dst = append(dst, '{')
	if utf8.Valid(b.Data) {
		dst = append(dst, `"text":`...)
		dst = appendString(dst, b.Data)
		dst = append(dst, ',')
	} else {
		dst = append(dst, `"base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, b.Data)
		dst = append(dst, `",`...)
	}
	return dst
}

// appendBodyTail is the end of appendBody's form: the size, and whether the data was cut.
func appendBodyTail(dst []byte, b *Body) []byte {
	dst = append(dst, `"size":`...)
	dst = strconv.AppendInt(dst, b.Size, 10)
	if b.Truncated {
		dst = append(dst, `,"truncated":true`...)
	}
	return append(dst, '}')
}

// appendRaw is json.RawMessage as json.Marshal writes it: compacted, with <, >, & and U+2028/U+2029 escaped.
func appendRaw(dst []byte, raw json.RawMessage) ([]byte, error) {
	if plainRaw(raw) && jsonscan.Valid(raw) { // compact already, nothing to escape
		return append(dst, raw...), nil
	}
	var c bytes.Buffer
	if err := json.Compact(&c, raw); err != nil {
		return dst, err
	}
	var e bytes.Buffer
	json.HTMLEscape(&e, c.Bytes())
	return append(dst, e.Bytes()...), nil
}

// plainRaw reports raw JSON without whitespace, <, >, & or a byte that could start U+2028/U+2029.
func plainRaw(raw []byte) bool {
	for _, b := range raw {
		switch b {
		case ' ', '\t', '\r', '\n', '<', '>', '&', 0xe2:
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

// plainJSON[b] is whether json.Marshal writes the byte b of a string as it is: ASCII from space on, except '"',
// '\\' and the HTML characters <, > and &. Bytes from 0x80 on are UTF-8, looked at rune by rune.
var plainJSON = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// appendString is encoding/json's string encoding with HTML escaping (what json.Marshal does): quotes,
// backslashes and control characters escaped, <, > and & as \u003c \u003e \u0026, U+2028 and U+2029 escaped,
// invalid UTF-8 replaced by \ufffd. Runs of plain bytes are found through a table, eight bytes a step, and copied
// whole: most of a capture line is strings (BenchmarkCaptureEncode: a tools/call line 1.46 → 1.10 µs).
func appendString[S []byte | string](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plainJSON[s[i]] && plainJSON[s[i+1]] && plainJSON[s[i+2]] && plainJSON[s[i+3]] &&
			plainJSON[s[i+4]] && plainJSON[s[i+5]] && plainJSON[s[i+6]] && plainJSON[s[i+7]] {
			i += 8
		}
		for i < len(s) && plainJSON[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		if b := s[i]; b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		n := min(len(s)-i, utf8.UTFMax)
		c, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
