package recorder

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/mcpwatch/mcpwatch/internal/jsonscan"
)

// scanRPC reads a JSON-RPC message object (or a batch array of them) the way json.Unmarshal into rawRPC reads it —
// keys matched case-insensitively, the last of a repeated key winning, a value of the wrong type failing the whole
// body — without reflection: the recorder parses every request, response and SSE event it records.
// FuzzParseRPCMatchesEncodingJSON holds it to encoding/json. body starts with '{' or '[' and ends with the value (no
// space after it); ok is false when it is not valid JSON (json.Valid's answer, its depth bound included), checked in
// the same pass: the messages' own bytes are read by the scanner, the members it does not keep by jsonscan.SkipValid
// (FuzzAppendRPCOnePass holds it to the reading in two passes it replaced). At most limit messages are read (limit
// < 0: all); the rest of a batch's elements are only checked and counted (rest). It reads each byte a bounded number
// of times: its cost is linear in the body's size. The messages are appended to raws.
func scanRPC(raws []rawRPC, body []byte, limit int) (_ []rawRPC, rest int, ok bool) {
	s := &rpcScanner{b: body}
	if body[0] == '{' {
		if limit == 0 {
			return nil, 1, jsonscan.SkipValid(body, 0, 0) == len(body)
		}
		r, ok := s.object(0)
		return append(raws, r), 0, ok && s.i == len(body)
	}
	if raws == nil {
		raws = []rawRPC{}
	}
	s.i++ // [
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		return raws, 0, s.i+1 == len(s.b)
	}
	for {
		// an element starts at s.i
		if s.i >= len(s.b) {
			return nil, 0, false
		}
		switch {
		case limit >= 0 && len(raws) >= limit: // beyond the limit: checked and counted, not read
			if s.i = jsonscan.SkipValidDeep(s.b, s.i, 1, &s.deep); s.i < 0 {
				return nil, 0, false
			}
			rest++
		case s.b[s.i] == '{':
			r, ok := s.object(1)
			if !ok {
				return nil, 0, false
			}
			raws = append(raws, r)
		case bytes.HasPrefix(s.b[s.i:], litNull): // null decodes into the zero value
			s.i += len(litNull)
			raws = append(raws, rawRPC{})
		default:
			return nil, 0, false // a number, string, bool or array where a message belongs, or not JSON
		}
		s.ws()
		if s.i >= len(s.b) {
			return nil, 0, false
		}
		switch s.b[s.i] {
		case ']':
			return raws, rest, s.i+1 == len(s.b)
		case ',':
			s.i++
			s.ws()
		default:
			return nil, 0, false
		}
	}
}

var litNull = []byte("null")

type rpcScanner struct {
	b []byte
	i int
	// deep is the level words of the members deeper than 128 levels (jsonscan.SkipValidDeep): allocated once a
	// body, not once a member
	deep []uint64
}

func (s *rpcScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value skips one JSON value and returns its bytes.
func (s *rpcScanner) value() []byte {
	start := s.i
	switch s.b[s.i] {
	case '"':
		s.i++
		for s.b[s.i] != '"' {
			if s.b[s.i] == '\\' {
				s.i++
			}
			s.i++
		}
		s.i++
	case '{', '[':
		depth := 0
		for {
			switch c := s.b[s.i]; c {
			case '"':
				s.value()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				break
			}
		}
	default: // a number, true, false or null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return s.b[start:s.i]
			}
			s.i++
		}
	}
	return s.b[start:s.i]
}

// str decodes a JSON string token as encoding/json does (escapes resolved, invalid UTF-8 replaced by U+FFFD).
func str(tok []byte) string {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var v string
	json.Unmarshal(tok, &v)
	return v
}

// object reads a message object at s.i, inside open arrays, checking its JSON as it goes: ok false when it is not
// valid JSON or a key's value has a type that does not fit (json.Unmarshal would fail). It ends after the object.
func (s *rpcScanner) object(open int) (r rawRPC, ok bool) {
	s.i++ // {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return r, true
	}
	for {
		// a member starts at s.i
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return r, false
		}
		start := s.i
		if s.i = jsonscan.SkipValidDeep(s.b, s.i, open+1, &s.deep); s.i < 0 {
			return r, false
		}
		k := key(s.b[start:s.i])
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return r, false
		}
		s.i++
		s.ws()
		start = s.i
		if s.i = jsonscan.SkipValidDeep(s.b, s.i, open+1, &s.deep); s.i < 0 {
			return r, false
		}
		v := s.b[start:s.i]
		switch {
		case equalFold(k, keyJSONRPC):
			switch v[0] {
			case '"':
				// only whether it is empty is read (appendRPC), as Result's presence: the body's bytes, neither
				// copied nor interned (an escape decodes to at least one character, so empty is empty either way)
				r.JSONRPC = bytesString(v[1 : len(v)-1])
			case 'n':
			default:
				return r, false
			}
		case equalFold(k, keyMethod):
			if !setShortString(&r.Method, v) {
				return r, false
			}
		case equalFold(k, keyID):
			r.ID = v[:len(v):len(v)] // the body's own bytes (appendRPC's bodies are never written again)
		case equalFold(k, keyResult):
			r.Result = v[:len(v):len(v)] // only its presence is used
		case equalFold(k, keyError):
			switch v[0] {
			case 'n':
				r.Error = nil
			case '{':
				if r.Error == nil {
					r.Error = &struct {
						Code    int    `json:"code"`
						Message string `json:"message"`
					}{}
				}
				if !(&rpcScanner{b: v}).errorObject(&r.Error.Code, &r.Error.Message) { // v is valid JSON
					return r, false
				}
			default:
				return r, false
			}
		}
		s.ws()
		if s.i >= len(s.b) {
			return r, false
		}
		switch s.b[s.i] {
		case '}':
			s.i++
			return r, true
		case ',':
			s.i++
			s.ws()
		default:
			return r, false
		}
	}
}

// errorObject reads an error member's object: its JSON already checked (s.b is valid), only its types are.
func (s *rpcScanner) errorObject(code *int, msg *string) bool {
	s.i++ // {
	for {
		s.ws()
		switch s.b[s.i] {
		case '}':
			return true
		case ',':
			s.i++
			continue
		}
		k := key(s.value())
		s.ws()
		s.i++ // :
		s.ws()
		v := s.value()
		switch {
		case equalFold(k, keyCode):
			switch {
			case v[0] == 'n':
			case v[0] == '-' || v[0] >= '0' && v[0] <= '9':
				n, err := strconv.ParseInt(string(v), 10, 64)
				if err != nil {
					return false // a fraction, an exponent, or out of range
				}
				*code = int(n)
			default:
				return false
			}
		case equalFold(k, keyMessage):
			if !setString(msg, v) {
				return false
			}
		}
	}
}

// setString stores a string value; null leaves dst alone; any other type fails.
func setString(dst *string, v []byte) bool {
	switch v[0] {
	case '"':
		*dst = str(v)
		return true
	case 'n':
		return true
	}
	return false
}

// setShortString is setString for the texts that repeat from one message to the next (the method): a short one
// without escapes is interned (intern: looked up without a copy, copied once while in use), the usual ones — the
// words a record writes as one byte, the MCP methods among them — without unique's table: found by wordIndex, as
// the packer finds them. unique.Make was 0.45 µs of a proxied call for the three texts it interned, two of them the
// "2.0" that nothing kept (docs/benchmarks-store.md, "The completion, round eight").
func setShortString(dst *string, v []byte) bool {
	if inner := v[1:max(1, len(v)-1)]; v[0] == '"' && len(inner) <= internMax && bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		s := unsafe.String(unsafe.SliceData(inner), len(inner))
		if i, ok := wordIndex(s); ok {
			*dst = words[i-1]
		} else {
			*dst = intern(s)
		}
		return true
	}
	return setString(dst, v)
}

// The keys read, as bytes to compare with.
var (
	keyJSONRPC = []byte("jsonrpc")
	keyMethod  = []byte("method")
	keyID      = []byte("id")
	keyResult  = []byte("result")
	keyError   = []byte("error")
	keyCode    = []byte("code")
	keyMessage = []byte("message")
)

// key decodes a key token: its bytes as they are when they hold no escape and are valid UTF-8 (no copy).
func key(tok []byte) []byte {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner
	}
	return []byte(str(tok))
}

// equalFold is encoding/json's key matching: an exact match, else a Unicode case-insensitive one.
func equalFold(key, name []byte) bool {
	return bytes.Equal(key, name) || bytes.EqualFold(key, name)
}
