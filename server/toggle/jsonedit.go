package toggle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// member is one key of a JSON object with its raw value and where it lies in the object's bytes: start is the
// key's opening quote, end is just after the value.
type member struct {
	key        string
	value      json.RawMessage
	start, end int
}

// object is a JSON object split into its members, in their order, values untouched; closing is the offset of its
// closing brace.
type object struct {
	members []member
	closing int
}

// splitObject splits a JSON object (with any whitespace around it) into its members.
func splitObject(raw []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return object{}, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return object{}, errors.New("not a JSON object")
	}
	var o object
	for dec.More() {
		start := int(dec.InputOffset())
		for start < len(raw) && raw[start] != '"' {
			start++ // whitespace and the comma before the key
		}
		kt, err := dec.Token()
		if err != nil {
			return object{}, err
		}
		key, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return object{}, err
		}
		o.members = append(o.members, member{key: key, value: v, start: start, end: int(dec.InputOffset())})
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return object{}, err
	}
	o.closing = int(dec.InputOffset()) - 1
	return o, nil
}

// splice returns raw with raw[from:to] replaced by with.
func splice(raw []byte, from, to int, with []byte) []byte {
	out := make([]byte, 0, len(raw)-(to-from)+len(with))
	out = append(out, raw[:from]...)
	out = append(out, with...)
	return append(out, raw[to:]...)
}

// editFunc decides the new value of a member: old is nil when the key is absent. It returns the new value, or
// nil to delete the key, and whether anything changed.
type editFunc func(old json.RawMessage) (json.RawMessage, bool)

// editPath applies fn to the member at path (keys of nested objects), keeping every other byte as it was: the
// members around it, their order and spacing, the whitespace around the document. It returns raw unchanged (and
// false) when the path does not lead to an object member or fn changes nothing.
func editPath(raw []byte, path []string, fn editFunc) ([]byte, bool) {
	o, err := splitObject(raw)
	if err != nil || len(path) == 0 {
		return raw, false
	}
	ms := o.members
	idx := -1
	for i, m := range ms {
		if m.key == path[0] {
			idx = i // the last one wins, as in encoding/json
		}
	}
	if len(path) > 1 {
		if idx < 0 {
			return raw, false
		}
		nv, changed := editPath(ms[idx].value, path[1:], fn)
		if !changed {
			return raw, false
		}
		return splice(raw, ms[idx].end-len(ms[idx].value), ms[idx].end, nv), true
	}
	var old json.RawMessage
	if idx >= 0 {
		old = ms[idx].value
	}
	nv, changed := fn(old)
	if !changed {
		return raw, false
	}
	switch {
	case nv == nil && idx < 0:
		return raw, false
	case nv == nil && idx > 0: // the comma before it goes with it
		return splice(raw, ms[idx-1].end, ms[idx].end, nil), true
	case nv == nil && len(ms) > 1: // the first of several: up to the next key
		return splice(raw, ms[0].start, ms[1].start, nil), true
	case nv == nil:
		return splice(raw, ms[0].start, ms[0].end, nil), true
	case idx >= 0:
		return splice(raw, ms[idx].end-len(ms[idx].value), ms[idx].end, nv), true
	}
	k, _ := json.Marshal(path[0])
	add := append(append(k, ':'), nv...)
	if len(ms) > 0 {
		return splice(raw, ms[len(ms)-1].end, ms[len(ms)-1].end, append([]byte{','}, add...)), true
	}
	return splice(raw, o.closing, o.closing, add), true
}

// getPath returns the raw value at path, or nil.
func getPath(raw []byte, path ...string) json.RawMessage {
	for _, k := range path {
		o, err := splitObject(raw)
		if err != nil {
			return nil
		}
		raw = nil
		for _, m := range o.members {
			if m.key == k {
				raw = m.value // the last one wins, as in encoding/json
			}
		}
		if raw == nil {
			return nil
		}
	}
	return raw
}

// setTo returns an editFunc that sets a value.
func setTo(v any) editFunc {
	nv, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("toggle: marshal %v: %v", v, err))
	}
	return func(old json.RawMessage) (json.RawMessage, bool) {
		if old != nil && bytes.Equal(bytes.TrimSpace(old), nv) {
			return old, false
		}
		return nv, true
	}
}

// remove is an editFunc that deletes a key.
func remove(old json.RawMessage) (json.RawMessage, bool) { return nil, old != nil }

// short renders a raw JSON value for a ToggleChange record.
func short(v json.RawMessage) string {
	if v == nil {
		return "(absent)"
	}
	s := string(bytes.TrimSpace(v))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
