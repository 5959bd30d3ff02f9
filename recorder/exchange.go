// Package recorder turns every request and response that crosses the listener into an Exchange, keeps them in a
// bounded store, streams them to subscribers without ever blocking the HTTP path, and appends them to a capture
// file (JSONL) that survives a crash.
package recorder

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says which way an exchange went.
const (
	Inbound  = "inbound"  // a client's request to mcpwatch
	Outbound = "outbound" // a request mcpwatch made itself (a client ID metadata document fetch, an upstream in proxy mode)
)

// State of an exchange's life: request received, response streaming, done.
const (
	StatePending   = "pending"
	StateStreaming = "streaming"
	StateComplete  = "complete"
)

// Header is one header line; headers are kept as ordered pairs with duplicates, as they crossed the wire.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Headers is an ordered list of header lines.
type Headers []Header

// Get returns the first value of name (case-insensitive), or "".
func (h Headers) Get(name string) string {
	for _, x := range h {
		if strings.EqualFold(x.Name, name) {
			return x.Value
		}
	}
	return ""
}

// Values returns every value of name, in order.
func (h Headers) Values(name string) []string {
	var out []string
	for _, x := range h {
		if strings.EqualFold(x.Name, name) {
			out = append(out, x.Value)
		}
	}
	return out
}

// HTTP converts to net/http's form.
func (h Headers) HTTP() http.Header {
	out := make(http.Header, len(h))
	for _, x := range h {
		out.Add(x.Name, x.Value)
	}
	return out
}

// FromHTTP lists an http.Header as pairs. Go's map has no order, so names are sorted; values keep their order.
func FromHTTP(h http.Header) Headers { return fromHTTPIn(nil, 0, h) }

// Body is a request or response body, bounded: Data holds at most the recorder's per-body limit, Size the full
// length seen, Truncated whether Data is shorter than Size.
type Body struct {
	Data      []byte
	Size      int64
	Truncated bool
}

type bodyJSON struct {
	Text      *string `json:"text,omitempty"`
	Base64    string  `json:"base64,omitempty"`
	Size      int64   `json:"size"`
	Truncated bool    `json:"truncated,omitempty"`
}

// MarshalJSON writes valid UTF-8 as text and anything else as base64: {"text":…,"size":N[,"truncated":true]} or
// {"base64":…,"size":N[,"truncated":true]}.
func (b Body) MarshalJSON() ([]byte, error) {
	return appendBody(make([]byte, 0, len(b.Data)+48), &b), nil
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (b *Body) UnmarshalJSON(data []byte) error {
	var j bodyJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	b.Size, b.Truncated = j.Size, j.Truncated
	switch {
	case j.Text != nil:
		b.Data = []byte(*j.Text)
	case j.Base64 != "":
		d, err := base64.StdEncoding.DecodeString(j.Base64)
		if err != nil {
			return err
		}
		b.Data = d
	default:
		b.Data = nil
	}
	return nil
}

// IsText reports whether the body is valid UTF-8 (what exporters show as text rather than base64).
func (b Body) IsText() bool { return utf8.Valid(b.Data) }

// SSEEvent is one server-sent event of a streaming response, with the time it arrived relative to the start.
type SSEEvent struct {
	At    time.Duration `json:"at"`
	ID    string        `json:"id,omitempty"`
	Event string        `json:"event,omitempty"`
	Data  string        `json:"data"`
	Retry int           `json:"retry,omitempty"`
}

// Direction of a JSON-RPC message relative to the server.
const (
	FromClient = "client"
	FromServer = "server"
)

// RPC is one JSON-RPC message found in a body or an SSE event. Its fields are ordered for size (the two flags
// together: 112 bytes, so that a request and its answer fit a 224-byte allocation); its JSON keeps the order of
// before (MarshalJSON), which the capture file's lines follow.
type RPC struct {
	From   string          `json:"from"`             // FromClient or FromServer
	Method string          `json:"method,omitempty"` // requests and notifications
	ID     json.RawMessage `json:"id,omitempty"`     // requests and responses; absent on notifications
	// Responses: the error, if any.
	ErrorCode    *int   `json:"errorCode,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
	// For a response, the method of the request it answers when that request was in the same exchange.
	ReplyTo string `json:"replyTo,omitempty"`
	// Event is the index of the SSE event the message came in, or -1 for a plain body.
	Event      int  `json:"event"`
	IsResponse bool `json:"response,omitempty"`
	// Batch is true when the message was part of a JSON-RPC batch.
	Batch bool `json:"batch,omitempty"`
}

// rpcJSON is RPC's JSON form: its keys in the order they have always had.
type rpcJSON struct {
	From         string          `json:"from"`
	Method       string          `json:"method,omitempty"`
	ID           json.RawMessage `json:"id,omitempty"`
	ErrorCode    *int            `json:"errorCode,omitempty"`
	ErrorMessage string          `json:"errorMessage,omitempty"`
	IsResponse   bool            `json:"response,omitempty"`
	ReplyTo      string          `json:"replyTo,omitempty"`
	Event        int             `json:"event"`
	Batch        bool            `json:"batch,omitempty"`
}

// MarshalJSON writes the message with its keys in their documented order (from, method, id, errorCode,
// errorMessage, response, replyTo, event, batch), whatever the order of the struct's fields.
func (m RPC) MarshalJSON() ([]byte, error) {
	return json.Marshal(rpcJSON{From: m.From, Method: m.Method, ID: m.ID, ErrorCode: m.ErrorCode, ErrorMessage: m.ErrorMessage,
		IsResponse: m.IsResponse, ReplyTo: m.ReplyTo, Event: m.Event, Batch: m.Batch})
}

// IsNotification reports a message without an id that is not a response.
func (m RPC) IsNotification() bool { return !m.IsResponse && len(m.ID) == 0 && m.Method != "" }

// ToggleChange records one toggle that altered an exchange, with the original and altered form of what it changed.
type ToggleChange struct {
	Name   string `json:"name"`
	What   string `json:"what"` // e.g. "response header Mcp-Session-Id", "status", "response body"
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

// Note is a free-form annotation added while the request is served (e.g. which protocol era it was routed to).
type Note struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Timings of an exchange, relative to its start.
type Timings struct {
	// Wait is the time until the response headers were written (time to first byte).
	Wait time.Duration `json:"wait"`
	// Total is the time until the response ended (streams: until they closed).
	Total time.Duration `json:"total"`
}

// Exchange is one HTTP request and its response, exactly as they crossed the wire (after toggles altered it).
type Exchange struct {
	ID         uint64    `json:"id"`
	Kind       string    `json:"kind"`
	State      string    `json:"state"`
	Start      time.Time `json:"start"`
	Timings    Timings   `json:"timings"`
	RemoteAddr string    `json:"remoteAddr,omitempty"`

	Method     string  `json:"method"`
	URL        string  `json:"url"` // as requested: path and query for inbound, absolute for outbound
	Host       string  `json:"host,omitempty"`
	Proto      string  `json:"proto,omitempty"`
	ReqHeaders Headers `json:"requestHeaders"`
	ReqBody    Body    `json:"requestBody"`

	Status      int        `json:"status"`
	RespHeaders Headers    `json:"responseHeaders"`
	RespBody    Body       `json:"responseBody"`
	Events      []SSEEvent `json:"events,omitempty"`
	// EventsSkipped counts the events beyond the recorder's Options.MaxEvents: counted, not kept (their bytes are
	// in RespBody as far as it goes).
	EventsSkipped int    `json:"eventsSkipped,omitempty"`
	Error         string `json:"error,omitempty"`

	RPC []RPC `json:"rpc,omitempty"`
	// RPCSkipped counts the JSON-RPC messages beyond the recorder's Options.MaxRPC: counted, not read or paired.
	RPCSkipped int            `json:"rpcSkipped,omitempty"`
	Toggles    []ToggleChange `json:"toggles,omitempty"`
	Notes      []Note         `json:"notes,omitempty"`

	// memo is what RPCMethod, RPCError and Size found in the parts that only grow, computed by snapshot as they
	// grow, so that an exchange published after each group of its events costs the same per event. It is
	// immutable once made (a snapshot and the live exchange share it; extending it makes a new value), and nil on
	// a compact record small enough to look at whole (compactMemo): those are most records, and without the memo
	// Exchange is in the 448-byte allocation class rather than 480.
	memo *exMemo
	// lazy is set on a record read from the store without the bodies it keeps in the capture file (bodies.go).
	lazy *lazyBodies
}

// exMemo: rpc covers RPC[:rpc.n], events Events[:events.n]; headers are summed for the lengths they had.
// Its counts of lines and indexes are 32-bit (a record's lines are bounded far below that).
type exMemo struct {
	rpc             rpcMemo
	events          int
	eventBytes      int64
	reqH, respH     int32
	reqHBy, respHBy int64
}

type rpcMemo struct {
	n      int
	method int32 // 1 + the index of the first client message with a method, or 0
	err    int32 // 1 + the index of the first server message with an error, or 0
}

// Target returns the request target: the URL's path and query, without scheme, host or fragment. Only an
// absolute URL (outbound exchanges, or an absolute-form request target) has a scheme and host to remove; a "://"
// later in the URL (a query naming another URL: /authorize?resource=http://…) is part of the target.
func (e *Exchange) Target() string {
	u := e.URL
	if i := schemeEnd(u); i > 0 {
		// The authority ends at the first "/", "?" or "#" (RFC 3986 §3.2).
		switch j := strings.IndexAny(u[i:], "/?#"); {
		case j < 0:
			u = "/"
		case u[i+j] == '/':
			u = u[i+j:]
		default:
			u = "/" + u[i+j:]
		}
	}
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u = u[:i]
	}
	return u
}

// IsAbsolute reports a URL that starts with a scheme and "://" (outbound exchanges record their URL so; an
// inbound request target is "/path?query", "*", or an absolute-form target from a proxy-style request).
func (e *Exchange) IsAbsolute() bool { return schemeEnd(e.URL) > 0 }

// schemeEnd returns the index just past "scheme://" when u starts with a scheme (RFC 3986 §3.1: a letter, then
// letters, digits, "+", "-" or "."), else 0.
func schemeEnd(u string) int {
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			if strings.HasPrefix(u[i:], "://") {
				return i + 3
			}
			return 0
		default:
			return 0
		}
	}
	return 0
}

// Path returns the URL's path without the query.
func (e *Exchange) Path() string {
	u := e.Target()
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	return u
}

// Note returns the value of the first note named key.
func (e *Exchange) Note(key string) string {
	for _, n := range e.Notes {
		if n.Key == key {
			return n.Value
		}
	}
	return ""
}

// RPCMethod returns the method of the first client message: what the exchange asked for.
func (e *Exchange) RPCMethod() string {
	if i := e.rpcMemo().method; i > 0 {
		return e.RPC[i-1].Method
	}
	return ""
}

// RPCError returns the first JSON-RPC error code the server answered with, if any.
func (e *Exchange) RPCError() (code int, msg string, ok bool) {
	if i := e.rpcMemo().err; i > 0 {
		m := e.RPC[i-1]
		return *m.ErrorCode, m.ErrorMessage, true
	}
	return 0, "", false
}

// rpcMemo extends the memo over the messages it does not cover yet (none, for a published snapshot).
func (e *Exchange) rpcMemo() rpcMemo {
	var r rpcMemo
	if e.memo != nil {
		r = e.memo.rpc
	}
	if r.n > len(e.RPC) || r.method > 0 && !isMethod(&e.RPC[r.method-1]) || r.err > 0 && !isError(&e.RPC[r.err-1]) {
		r = rpcMemo{} // RPC was replaced by another slice (a copy's, not appended to): look again
	}
	for ; r.n < len(e.RPC) && (r.method == 0 || r.err == 0); r.n++ {
		m := &e.RPC[r.n]
		if r.method == 0 && isMethod(m) {
			r.method = int32(r.n + 1)
		}
		if r.err == 0 && isError(m) {
			r.err = int32(r.n + 1)
		}
	}
	if r.method != 0 && r.err != 0 {
		r.n = len(e.RPC) // both found: later messages change nothing
	}
	return r
}

// Size is an estimate of the memory an exchange holds, used by the store's byte bound.
func (e *Exchange) Size() int64 {
	m := e.sizeMemo()
	n := int64(512+len(e.URL)+len(e.ReqBody.Data)+len(e.RespBody.Data)) + m.reqHBy + m.respHBy + m.eventBytes
	n += int64(len(e.RPC)) * 96
	for _, f := range e.Toggles {
		n += int64(len(f.Before) + len(f.After) + 64)
	}
	return n
}

func isMethod(m *RPC) bool { return m.From == FromClient && m.Method != "" }
func isError(m *RPC) bool  { return m.From == FromServer && m.ErrorCode != nil }

// sizeMemo extends the memo of Size over what it does not cover yet (nothing, for a published snapshot).
func (e *Exchange) sizeMemo() exMemo {
	var m exMemo
	if e.memo != nil {
		m = *e.memo
	}
	if int(m.reqH) != len(e.ReqHeaders) {
		m.reqH, m.reqHBy = int32(len(e.ReqHeaders)), headerBytes(e.ReqHeaders)
	}
	if int(m.respH) != len(e.RespHeaders) {
		m.respH, m.respHBy = int32(len(e.RespHeaders)), headerBytes(e.RespHeaders)
	}
	if m.events > len(e.Events) {
		m.events, m.eventBytes = 0, 0
	}
	for _, ev := range e.Events[m.events:] {
		m.eventBytes += int64(len(ev.Data) + len(ev.ID) + len(ev.Event) + 48)
	}
	m.events = len(e.Events)
	return m
}

func headerBytes(h Headers) int64 {
	var n int64
	for _, x := range h {
		n += int64(len(x.Name) + len(x.Value) + 32)
	}
	return n
}

// snapshot returns a copy that shares the append-only slices, cut to their current length so that neither side's
// appends are visible to the other. Callers hold the exchange's lock. It brings the memo up to date first (each
// message and event is looked at once) and gives it to both: the live exchange goes on from the snapshot's memo,
// which nobody writes again. The snapshot and its memo are one allocation.
func (e *Exchange) snapshot() *Exchange {
	s := &snapshotRec{m: e.sizeMemo()}
	s.m.rpc = e.rpcMemo()
	e.memo = &s.m
	s.ex = *e
	c := &s.ex
	c.ReqHeaders = clip(e.ReqHeaders)
	c.RespHeaders = clip(e.RespHeaders)
	c.ReqBody.Data = clip(e.ReqBody.Data)
	c.RespBody.Data = clip(e.RespBody.Data)
	c.Events = clip(e.Events)
	c.RPC = clip(e.RPC)
	c.Toggles = clip(e.Toggles)
	c.Notes = clip(e.Notes)
	return c
}

// frozen is snapshot without bringing the memo up to date: it writes nothing in e, which may be published
// already (Store.Add's copy).
func (e *Exchange) frozen() *Exchange {
	c := new(Exchange)
	e.freezeInto(c)
	return c
}

// freezeInto is frozen into c.
func (e *Exchange) freezeInto(c *Exchange) {
	*c = *e
	c.ReqHeaders, c.RespHeaders = clip(e.ReqHeaders), clip(e.RespHeaders)
	c.ReqBody.Data, c.RespBody.Data = clip(e.ReqBody.Data), clip(e.RespBody.Data)
	c.Events, c.RPC, c.Toggles, c.Notes = clip(e.Events), clip(e.RPC), clip(e.Toggles), clip(e.Notes)
}

type snapshotRec struct {
	ex Exchange
	m  exMemo
}

func clip[S ~[]E, E any](s S) S { return s[:len(s):len(s)] }
