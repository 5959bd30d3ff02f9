package recorder

import (
	"bytes"
	"encoding/json"
)

type rawRPC struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ParseRPC finds the JSON-RPC messages in a body: one object or a batch array. It returns nil for anything else.
func ParseRPC(body []byte, from string, event int) []RPC { return appendRPC(nil, 0, body, from, event) }

// appendRPC appends the JSON-RPC messages of body to dst (see ParseRPC). When it must allocate, it leaves room for
// spare more messages (the answers the exchange will receive).
func appendRPC(dst []RPC, spare int, body []byte, from string, event int) []RPC {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return dst
	}
	if body[0] != '{' && body[0] != '[' || !json.Valid(body) {
		return dst
	}
	raws, ok := scanRPC(body)
	if !ok {
		return dst
	}
	batch := body[0] == '['
	out := dst
	if out == nil || cap(out)-len(out) < len(raws) {
		out = append(make([]RPC, 0, len(dst)+len(raws)+spare), dst...)
	}
	for _, r := range raws {
		if r.JSONRPC == "" && r.Method == "" && r.Result == nil && r.Error == nil {
			continue // not JSON-RPC
		}
		m := RPC{From: from, Method: r.Method, Event: event, Batch: batch}
		if len(r.ID) > 0 && !bytes.Equal(r.ID, []byte("null")) {
			m.ID = r.ID
		}
		if r.Method == "" && (r.Result != nil || r.Error != nil) {
			m.IsResponse = true
			if m.ID == nil && r.ID != nil {
				m.ID = r.ID // an error answer to an unparseable request carries id null
			}
		}
		if r.Error != nil {
			code := r.Error.Code
			m.ErrorCode, m.ErrorMessage = &code, r.Error.Message
		}
		out = append(out, m)
	}
	return out
}

// pairReplies sets ReplyTo on responses whose request is in msgs.
func pairReplies(msgs []RPC) {
	for i := range msgs {
		if !msgs[i].IsResponse || len(msgs[i].ID) == 0 {
			continue
		}
		for _, q := range msgs {
			if !q.IsResponse && q.Method != "" && bytes.Equal(q.ID, msgs[i].ID) && q.From != msgs[i].From {
				msgs[i].ReplyTo = q.Method
				break
			}
		}
	}
}
