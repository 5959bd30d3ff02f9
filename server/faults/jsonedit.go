package faults

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// member is one key of a JSON object with its raw value.
type member struct {
	key   string
	value json.RawMessage
}

// splitObject returns the members of a JSON object in their order, values untouched.
func splitObject(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []member
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key, v})
	}
	return out, nil
}

func joinObject(ms []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// editFunc decides the new value of a member: old is nil when the key is absent. It returns the new value, or
// nil to delete the key, and whether anything changed.
type editFunc func(old json.RawMessage) (json.RawMessage, bool)

// editPath applies fn to the member at path (keys of nested objects), keeping every other byte of every object on
// the way in order. It returns raw unchanged (and false) when the path does not lead to an object member or fn
// changes nothing.
func editPath(raw []byte, path []string, fn editFunc) ([]byte, bool) {
	ms, err := splitObject(raw)
	if err != nil || len(path) == 0 {
		return raw, false
	}
	idx := -1
	for i, m := range ms {
		if m.key == path[0] {
			idx = i
			break
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
		ms[idx].value = nv
		return joinObject(ms), true
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
	case nv == nil && idx >= 0:
		ms = append(ms[:idx], ms[idx+1:]...)
	case nv == nil:
		return raw, false
	case idx >= 0:
		ms[idx].value = nv
	default:
		ms = append(ms, member{path[0], nv})
	}
	return joinObject(ms), true
}

// getPath returns the raw value at path, or nil.
func getPath(raw []byte, path ...string) json.RawMessage {
	for _, k := range path {
		ms, err := splitObject(raw)
		if err != nil {
			return nil
		}
		raw = nil
		for _, m := range ms {
			if m.key == k {
				raw = m.value
				break
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
		panic(fmt.Sprintf("faults: marshal %v: %v", v, err))
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

// short renders a raw JSON value for a FaultChange record.
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
