// Package jsonscan reads JSON in place, without decoding it: Valid checks a value as json.Valid does, in one
// pass; SkipString, SkipValue and Member walk a value already known to be valid (json.Valid or Valid), so that a
// reader takes the one member it needs from a message instead of decoding the message into a map. The recorder,
// the analysis and the MCP router all read every request, response and event a stranger sends through these.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// SkipString is the index after the JSON string that starts at b[i] (its opening quote) in valid JSON; len(b)
// when b ends first.
func SkipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// SkipValue is the index after the JSON value that starts at b[i] in valid JSON; linear in the value's bytes.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = SkipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) { // a number or a literal
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// Member is the raw value of obj's member named key — the last one, as json.Unmarshal into a
// map[string]json.RawMessage keeps it — without decoding the object into a map. obj must be one valid JSON
// object (json.Valid), possibly surrounded by whitespace; ok says whether it has such a member.
func Member(obj []byte, key string) (val []byte, ok bool) {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false
	}
	i++
	for {
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return val, ok // '}'
		}
		k := obj[i:SkipString(obj, i)]
		i = SkipSpace(obj, i+len(k)) + 1 // the colon
		i = SkipSpace(obj, i)
		end := SkipValue(obj, i)
		if KeyIs(k, key) {
			val, ok = obj[i:end], true
		}
		if i = SkipSpace(obj, end); i < len(obj) && obj[i] == ',' {
			i++
		}
	}
}

// KeyIs reports whether the quoted JSON string k is key once unquoted (as json.Unmarshal unquotes it: escapes,
// and invalid UTF-8 replaced).
func KeyIs(k []byte, key string) bool {
	in := k[1 : len(k)-1]
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return string(in) == key
	}
	var s string
	return json.Unmarshal(k, &s) == nil && s == key
}
