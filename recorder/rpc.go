package recorder

import (
	"bytes"
	"encoding/json"
	"slices"
)

type rawRPC struct {
	JSONRPC string          `json:"jsonrpc"` // only whether it is empty is read: the scanner's is the body's bytes
	Method  string          `json:"method"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ParseRPC finds the JSON-RPC messages in a body: one object or a batch array. It returns nil for anything else.
func ParseRPC(body []byte, from string, event int) []RPC {
	rpc, _ := appendRPC(nil, 0, -1, body, from, event)
	for i := range rpc {
		if rpc[i].ID != nil {
			rpc[i].ID = bytes.Clone(rpc[i].ID) // the caller's body may be written again: ids of their own
		}
	}
	return rpc
}

// appendRPC appends the JSON-RPC messages of body to dst (see ParseRPC), as long as dst holds fewer than most (most
// < 0: no bound); the messages beyond it are counted (skipped), not read. When it must allocate, it leaves room for
// spare more messages (the answers the exchange will receive). The messages' ids are body's own bytes, not copies:
// body must never be written again (the recorder's bodies and events are only ever appended to).
func appendRPC(dst []RPC, spare, most int, body []byte, from string, event int) (_ []RPC, skipped int) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return dst, 0
	}
	if body[0] != '{' && body[0] != '[' {
		return dst, 0
	}
	limit := -1
	if most >= 0 {
		limit = max(0, most-len(dst))
	}
	var one [1]rawRPC                                  // a body is usually one message: no slice of them is allocated
	raws, skipped, ok := scanRPC(one[:0], body, limit) // checks body is valid JSON as it reads it
	if !ok {
		return dst, 0
	}
	batch := body[0] == '['
	out := slices.Grow(dst, len(raws)+spare) // amortized: a growing exchange is not copied per event
	if out == nil {
		out = []RPC{} // a body that parsed (an empty batch) gives an empty list, not nil
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
	return out, skipped
}

// pairReplies sets ReplyTo on every response whose request is in msgs (one pass; see replyPairer).
func pairReplies(msgs []RPC) {
	var p replyPairer
	p.pair(msgs)
}

// replyPairer sets ReplyTo on responses: a response answers the first request (in msgs' order) with the same id
// from the other side. It keeps the requests seen in a map and examines only the messages added since its last
// call, so recording an exchange costs the same per message however many it has. Messages are only appended to
// msgs between calls (reset it after anything else: the request's messages put in front). A response is paired
// with the requests of its own group and those before it, never changed later: the messages examined before were
// published (shared with subscribers), and an answer cannot come before its question anyway.
type replyPairer struct {
	seen int // msgs[:seen] have been examined
	// side and id of a request → its method (the first such request): the first requests in few, looked up in
	// order (most exchanges have one), the rest in methods
	few     [2]pendingRequest
	nfew    int
	methods map[string]string
}

type pendingRequest struct {
	from, method string
	id           json.RawMessage
}

// pairKey names a request by its side and id; a response looks for the other side's.
func pairKey(from string, id json.RawMessage) string { return from + "\x00" + string(id) }

// method returns the method of the first request from that side with that id, or "".
func (p *replyPairer) method(from string, id json.RawMessage) string {
	for _, q := range p.few[:p.nfew] {
		if q.from == from && bytes.Equal(q.id, id) {
			return q.method
		}
	}
	if p.methods != nil {
		return p.methods[pairKey(from, id)]
	}
	return ""
}

// remember notes a request (method not empty), unless one from that side with that id came before it.
func (p *replyPairer) remember(from string, id json.RawMessage, method string) {
	switch {
	case p.method(from, id) != "":
	case p.nfew < len(p.few):
		p.few[p.nfew] = pendingRequest{from: from, method: method, id: id}
		p.nfew++
	default:
		if p.methods == nil {
			p.methods = map[string]string{}
		}
		p.methods[pairKey(from, id)] = method
	}
}

func otherSide(from string) string {
	if from == FromClient {
		return FromServer
	}
	return FromClient
}

func (p *replyPairer) reset() { *p = replyPairer{} }

// pair examines msgs[p.seen:]: it remembers their requests, then pairs their responses.
func (p *replyPairer) pair(msgs []RPC) {
	if p.seen >= len(msgs) {
		return
	}
	fresh := msgs[p.seen:]
	for i := range fresh {
		if q := &fresh[i]; !q.IsResponse && q.Method != "" && len(q.ID) > 0 {
			p.remember(q.From, q.ID, q.Method)
		}
	}
	for i := range fresh {
		if m := &fresh[i]; m.IsResponse && len(m.ID) > 0 {
			m.ReplyTo = p.method(otherSide(m.From), m.ID)
		}
	}
	p.seen = len(msgs)
}
