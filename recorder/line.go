package recorder

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// appendLine appends ex's capture line to dst: exactly the bytes json.Marshal(ex) gives, then a newline, written
// without reflection (the capture writer encodes every exchange; TestAppendLineIsJSONMarshal and
// FuzzAppendLine hold it to json.Marshal byte for byte). A value json.Marshal refuses (a time outside years
// 0–9999, an invalid raw JSON-RPC id) is an error here too.
func appendLine(dst []byte, ex *Exchange) ([]byte, error) {
	return (*lineBodies)(nil).appendLine(dst, ex)
}

// lineBodies remembers where the last bodies encoded into one buffer of lines are, so that a body met again — the
// same bytes: the upstream copy of a proxied exchange refers to its client exchange's request and response
// bodies, and the store shares equal bodies — is copied from its earlier encoding instead of being checked and
// escaped again (most of a line's cost). It lives while one buffer of lines is encoded, while the records are held:
// a body's address stands for its bytes (records are never written). A nil *lineBodies remembers nothing.
type lineBodies struct {
	at     [4]encodedBody // a ring: the bodies of the last two exchanges
	next   int
	copied int // bodies copied (tests)
}

type encodedBody struct {
	data       *byte
	n          int
	start, end int // its encoding's data part in the buffer
}

// minSharedBody is the shortest body looked up (a shorter one costs about as much to escape as to look up).
const minSharedBody = 64

// forget drops what lies beyond the first n bytes of the buffer (a line left out: its bytes are written over).
func (lb *lineBodies) forget(n int) {
	for i := range lb.at {
		if lb.at[i].end > n {
			lb.at[i] = encodedBody{}
		}
	}
}

// appendBody is appendBody, copying the data part of a body encoded earlier into dst.
func (lb *lineBodies) appendBody(dst []byte, b *Body) []byte {
	if lb == nil || len(b.Data) < minSharedBody {
		return appendBody(dst, b)
	}
	p := unsafe.SliceData(b.Data)
	for _, e := range lb.at {
		if e.data == p && e.n == len(b.Data) {
			lb.copied++
			return appendBodyTail(append(dst, dst[e.start:e.end]...), b)
		}
	}
	start := len(dst)
	dst = appendBodyData(dst, b)
	lb.at[lb.next] = encodedBody{data: p, n: len(b.Data), start: start, end: len(dst)}
	lb.next = (lb.next + 1) % len(lb.at)
	return appendBodyTail(dst, b)
}

// appendLine is appendLine, with the bodies remembered.
func (lb *lineBodies) appendLine(dst []byte, ex *Exchange) ([]byte, error) {
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
	dst = appendHeaders(dst, ex.ReqHeaders)
	dst = append(dst, `,"requestBody":`...)
	dst = lb.appendBody(dst, &ex.ReqBody)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(ex.Status), 10)
	dst = append(dst, `,"responseHeaders":`...)
	dst = appendHeaders(dst, ex.RespHeaders)
	dst = append(dst, `,"responseBody":`...)
	dst = lb.appendBody(dst, &ex.RespBody)
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
			dst = appendString(dst, ev.Data)
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
		dst = append(dst, `,"rpc":[`...)
		for i, m := range ex.RPC {
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
	if plainRaw(raw) && json.Valid(raw) { // compact already, nothing to escape
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

// appendString is encoding/json's string encoding with HTML escaping (what json.Marshal does): quotes,
// backslashes and control characters escaped, <, > and & as \u003c \u003e \u0026, U+2028 and U+2029 escaped,
// invalid UTF-8 replaced by \ufffd.
func appendString[S []byte | string](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
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
