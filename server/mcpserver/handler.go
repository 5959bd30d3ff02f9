package mcpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/jsonscan"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The legacy protocol revisions: initialize, sessions, GET streams. Anything else in MCP-Protocol-Version is
// the stateless era (2026-07-28) or garbage, which the stateless handler answers with -32022.
var legacyVersions = []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}

// The stateless-era revisions the SDK serves (a _meta protocolVersion it accepts).
var statelessVersions = []string{"2026-07-28"}

// Era names the handler a request was routed to.
const (
	EraLegacy    = "legacy"
	EraStateless = "2026"
)

// NoteVersionHeader is the exchange note that says a request's MCP-Protocol-Version header was accepted
// although it disagreed with _meta (recorder/analysis reads it).
const NoteVersionHeader = "version-header"

// HandlerOptions configure the /mcp and /sse handlers.
type HandlerOptions struct {
	Logger *slog.Logger
	// SessionTimeout closes legacy sessions idle this long (default 30 minutes).
	SessionTimeout time.Duration
	// MaxBodyBytes bounds a POST body (default mcp.DefaultMaxRequestBodyBytes); larger bodies get 413.
	MaxBodyBytes int64
	// StrictSessionVersion answers a legacy session's request that carries a 2026-era MCP-Protocol-Version
	// header with the SDK's 400/-32022. By default the header is rewritten to the session's negotiated version,
	// because Claude has been seen sending the newest version on a session it negotiated down
	// (CodeWithCJ/SparkyFitness#2155). The recorder still sees the header as sent.
	StrictSessionVersion bool
	// StrictVersionHeader, when it returns true, leaves a stateless-era request whose MCP-Protocol-Version header
	// is a legacy revision while its _meta names a 2026 revision to the SDK's 400/-32020 HeaderMismatch (the
	// strict-version-header toggle). By default such a request is served by its _meta version: Claude through
	// connectors sends MCP-Protocol-Version: 2025-11-25 beside _meta 2026-07-28 after a 2026-07-28 server/discover
	// (anthropics/claude-code#93290). Only that pair is accepted; an unknown version either side stays strict.
	StrictVersionHeader func() bool
	// OnVersionHeader, when set, is told of each such request: the header as sent, the _meta version, and whether
	// it was accepted (the header the SDK sees rewritten to the _meta version) or left to the SDK's -32020.
	OnVersionHeader func(r *http.Request, header, meta string, accepted bool)
	// ForceStateless, when it returns true, routes every request to the stateless handler: no sessions are
	// issued, GET and DELETE get 405 (the stateless toggle).
	ForceStateless func() bool
	// OnRoute, when set, is told which era each /mcp request was routed to and why.
	OnRoute func(r *http.Request, era, why string)
	// OnForcedStateless, when set, is told of each request that ForceStateless moved from the legacy era to the
	// stateless one (after OnRoute), with why it would have been legacy: a fact, not a sentence to parse.
	OnForcedStateless func(r *http.Request, legacyWhy string)
}

// Handler serves /mcp for both protocol eras: a stateful SDK handler (initialize, Mcp-Session-Id, GET stream,
// DELETE, resumable SSE) and a stateless one (2026-07-28: server/discover, per-request _meta), chosen per request.
type Handler struct {
	server    *mcp.Server
	stateful  *mcp.StreamableHTTPHandler
	stateless *mcp.StreamableHTTPHandler
	sse       *sseHandler
	events    *eventStore // the stateful handler's
	opts      HandlerOptions
}

// NewHandler returns the dual-era handler over one server. The SDK's localhost Host check is disabled: the
// publicurl guard in front of every route does that job and also admits the public (tunnel) host.
func NewHandler(s *mcp.Server, opts HandlerOptions) *Handler {
	if opts.SessionTimeout == 0 {
		opts.SessionTimeout = 30 * time.Minute
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = mcp.DefaultMaxRequestBodyBytes
	}
	get := func(*http.Request) *mcp.Server { return s }
	logger := sdkLogger(opts.Logger)
	events := newEventStore(maxEventBytes)
	return &Handler{
		server: s,
		opts:   opts,
		events: events,
		stateful: mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
			EventStore:                 events,
			SessionTimeout:             opts.SessionTimeout,
			Logger:                     logger,
			DisableLocalhostProtection: true,
			MaxRequestBodyBytes:        opts.MaxBodyBytes,
		}),
		stateless: mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
			Stateless:                    true,
			Logger:                       logger,
			DisableLocalhostProtection:   true,
			MaxRequestBodyBytes:          opts.MaxBodyBytes,
			PropagateRequestCancellation: true,
		}),
		sse: newSSEHandler(s, opts.MaxBodyBytes),
	}
}

// SSE is the 2024-11-05 HTTP+SSE transport (GET opens the stream, POSTs go to the endpoint it names). Like /mcp,
// it leaves the Host check to the publicurl guard in front of it.
func (h *Handler) SSE() http.Handler { return h.sse }

// ServeHTTP routes one /mcp request to the era it belongs to. First match wins:
//  1. Mcp-Session-Id present → legacy (a session exists only there).
//  2. MCP-Protocol-Version present and not a legacy revision → stateless (the SDK rejects garbage there with -32022).
//  3. POST body: a batch → legacy; server/discover → stateless; params._meta carries the protocol version → stateless.
//  4. Otherwise → legacy: initialize, header-less calls, GET and DELETE.
//
// A legacy POST other than initialize needs a session: without Mcp-Session-Id it is answered 400 here. A stateless
// request with a legacy MCP-Protocol-Version header and a 2026 _meta version (Claude's quirk) is served by _meta
// unless StrictVersionHeader (fixVersionHeader).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	era, why, call := h.route(w, r)
	if era == "" {
		return // already answered: 413, or a body that is not JSON-RPC
	}
	forcedFrom := "" // why the request would have been legacy, when the stateless toggle moved it
	if era == EraLegacy && h.opts.ForceStateless != nil && h.opts.ForceStateless() {
		forcedFrom, era, why = why, EraStateless, "toggle stateless ("+why+")"
	}
	if era == EraLegacy && call.json && call.method != "initialize" && r.Header.Get("Mcp-Session-Id") == "" {
		// The SDK would open a throwaway session and answer HTTP 200 with a JSON-RPC error of code 0 ("method ... is
		// invalid during session initialization"). The spec: a server that requires a session SHOULD answer a
		// request without Mcp-Session-Id, other than initialize, with 400 Bad Request.
		what := "this message"
		switch {
		case call.batch:
			what = "a batch"
		case call.method != "":
			what = fmt.Sprintf("%q", call.method)
		}
		writeRPCErrorID(w, call.id, http.StatusBadRequest, -32600, fmt.Sprintf(
			"Invalid Request: %s without an Mcp-Session-Id header; this server keeps sessions: send initialize first, then the Mcp-Session-Id its response carried with every request", what))
		return
	}
	if h.opts.OnRoute != nil {
		h.opts.OnRoute(r, era, why)
	}
	if forcedFrom != "" && h.opts.OnForcedStateless != nil {
		h.opts.OnForcedStateless(r, forcedFrom)
	}
	if era == EraStateless {
		h.fixVersionHeader(r, call)
		h.stateless.ServeHTTP(w, r)
		return
	}
	if sid := r.Header.Get("Mcp-Session-Id"); sid != "" && !h.opts.StrictSessionVersion {
		h.fixSessionVersion(r, sid)
	}
	if r.Method != http.MethodPost {
		h.stateful.ServeHTTP(w, r)
		return
	}
	// The legacy SDK path answers an unknown method with a plain-text 400; give it the protocol's -32601.
	mw := &methodNotFoundWriter{ResponseWriter: w}
	defer mw.release() // also when the handler panics (the recorder recovers and returns to net/http): see release
	h.stateful.ServeHTTP(mw, r)
	mw.finish(call)
}

// flushHold is how long methodNotFoundWriter holds the flush of an event stream's priming event. With an event
// store (ours: resumable streams) the SDK opens every event stream it answers a POST with by a priming event
// (SEP-1699: an event id and no data, so that a client cut off before the answer can resume), written and flushed
// on its own, then the answer, flushed: each flush is a write system call, and on loopback the reader's wake-up.
// Held, the priming event goes out in the answer's write when the answer comes within flushHold (what a server
// answers at once: initialize, a quick tool); otherwise on its own when flushHold has passed, as before. The
// answer's own flush is never held: after the handler returns, the recorder completes its record (the capture
// file's Append waits while the disk is behind) before net/http writes anything held (review19b).
var flushHold = 5 * time.Millisecond // a variable for tests

// methodNotFoundWriter holds back a plain-text 400 until it knows whether it is the SDK's "JSON RPC not handled"
// (an unknown method), which it turns into a JSON-RPC -32601 answer; and it holds the flush after an event
// stream's priming event, which the answer's flush makes anyway (flushHold). Everything else passes through
// untouched.
//
// The SDK writes a stream's events from the session's goroutine, not the handler's, one at a time; a held flush's
// timer flushes from its own: mu orders them, and finished (the handler returned, net/http owns the writer again)
// stops a late timer from touching it.
type methodNotFoundWriter struct {
	http.ResponseWriter
	held   bool
	status int
	buf    bytes.Buffer

	mu       sync.Mutex
	wrote    bool        // a body byte was written
	holdNext bool        // the next flush may be held: the last write was the priming event
	hold     *time.Timer // the held flush's deadline
	holding  bool        // a flush is held
	finished bool        // the handler returned
}

func (m *methodNotFoundWriter) WriteHeader(status int) {
	if status == http.StatusBadRequest && strings.HasPrefix(m.Header().Get("Content-Type"), "text/plain") {
		m.held, m.status = true, status
		return
	}
	m.ResponseWriter.WriteHeader(status)
}

func (m *methodNotFoundWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held {
		return m.buf.Write(p)
	}
	first := !m.wrote
	m.wrote = true
	m.holdNext = first && isPrimingEvent(p) && strings.HasPrefix(m.Header().Get("Content-Type"), "text/event-stream")
	return m.ResponseWriter.Write(p)
}

func (m *methodNotFoundWriter) Flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held {
		return
	}
	if m.holdNext && !m.finished {
		// The answer's flush takes it along; or the handler's return, or the timer.
		m.holdNext = false
		if !m.holding {
			m.holding = true
			if m.hold == nil {
				m.hold = time.AfterFunc(flushHold, m.flushHeld)
			} else {
				m.hold.Reset(flushHold)
			}
		}
		return
	}
	if m.holding {
		m.holding = false
		m.hold.Stop()
	}
	http.NewResponseController(m.ResponseWriter).Flush()
}

// flushHeld flushes what is held when nothing took it along within flushHold.
func (m *methodNotFoundWriter) flushHeld() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holding && !m.finished {
		m.holding = false
		http.NewResponseController(m.ResponseWriter).Flush()
	}
}

func (m *methodNotFoundWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// isPrimingEvent reports whether p is an event stream's priming event as the SDK writes it (a "prime" event with
// an id and no data).
func isPrimingEvent(p []byte) bool {
	return bytes.HasPrefix(p, []byte("event: prime\n")) && bytes.HasSuffix(p, []byte("\ndata: \n\n")) &&
		bytes.Count(p, []byte("\n")) == 4
}

// release marks the handler returned, and flushes a priming event still held (its answer never came, or the
// handler panicked): out now, not after what runs once the handler returned (the recorder's completion, which on a
// panic its middleware runs after recovering it) nor, on a panic with http.ErrAbortHandler, dropped with the
// response's buffer by net/http. The timer touches the writer no more. ServeHTTP defers it, so that a handler that
// panics with a flush held leaves no timer that flushes the writer after net/http took it back (its buffers then
// serve the connection's next response, or another connection's).
func (m *methodNotFoundWriter) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.finished = true
	if m.holding {
		m.holding = false
		m.hold.Stop()
		http.NewResponseController(m.ResponseWriter).Flush()
	}
}

func (m *methodNotFoundWriter) finish(call peeked) {
	m.release()
	if !m.held {
		return
	}
	msg := strings.TrimSpace(m.buf.String())
	if !strings.HasPrefix(msg, "JSON RPC not handled") {
		m.ResponseWriter.WriteHeader(m.status)
		m.ResponseWriter.Write(m.buf.Bytes())
		return
	}
	if len(call.id) == 0 || string(call.id) == "null" { // a notification gets no answer
		m.Header().Del("Content-Type")
		m.Header().Del("X-Content-Type-Options")
		m.ResponseWriter.WriteHeader(http.StatusAccepted)
		return
	}
	m.Header().Del("X-Content-Type-Options")
	m.Header().Set("Content-Type", "application/json")
	m.ResponseWriter.WriteHeader(http.StatusOK)
	json.NewEncoder(m.ResponseWriter).Encode(newRPCError(call.id, -32601, fmt.Sprintf("Method not found: %q", call.method)))
}

// peeked is what the router read of a POST body.
type peeked struct {
	json   bool // a POST with a JSON content type whose body is a JSON-RPC message or a batch
	batch  bool
	id     json.RawMessage
	method string
	// metaVersion is params._meta's protocol version when it is a string ("" otherwise).
	metaVersion string
}

func (h *Handler) route(w http.ResponseWriter, r *http.Request) (era, why string, call peeked) {
	var (
		body    []byte
		isBatch bool
		meta    bool
	)
	if r.Method == http.MethodPost && r.Body != nil {
		var err error
		body, err = readBody(r.Body, h.opts.MaxBodyBytes+1, r.ContentLength)
		r.Body.Close()
		if int64(len(body)) > h.opts.MaxBodyBytes {
			writeRPCError(w, http.StatusRequestEntityTooLarge, -32600,
				fmt.Sprintf("request body exceeds %d bytes", h.opts.MaxBodyBytes))
			return "", "", call
		}
		if err != nil {
			writeBodyError(w, r, len(body), err)
			return "", "", call
		}
		mb := new(memBody)
		mb.Reset(body)
		r.Body = mb
		r.ContentLength = int64(len(body))
		// A body that is not JSON (or not a JSON-RPC object) with a JSON content type gets the protocol's answer
		// here; with another content type the SDK answers 415 and says why.
		isJSON := mediaType(r.Header.Get("Content-Type")) == "application/json"
		call.json = isJSON
		if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
			if isJSON && !jsonscan.Valid(body) { // a malformed batch: the SDK would answer "malformed payload" in plain text
				writeRPCError(w, http.StatusBadRequest, -32700, "Parse error: the body is not valid JSON")
				return "", "", call
			}
			isBatch, call.batch = true, true
		} else if isJSON {
			var fault *rpcFault
			if call, meta, fault = checkMessage(body, needsMeta(r)); fault != nil { // malformed JSON too: -32700
				fault.write(w)
				return "", "", call
			}
			call.json = true
		}
	}
	switch v := r.Header.Get("Mcp-Protocol-Version"); {
	case r.Header.Get("Mcp-Session-Id") != "":
		return EraLegacy, "session id", call
	case v != "" && !slices.Contains(legacyVersions, v):
		return EraStateless, versionHeaderWhy(v), call
	case r.Method != http.MethodPost:
		return EraLegacy, r.Method, call
	case isBatch:
		return EraLegacy, "batch", call
	case call.method == "server/discover":
		return EraStateless, "server/discover", call
	case meta:
		return EraStateless, "_meta protocol version", call
	}
	return EraLegacy, "legacy body", call
}

// whyVersionHeader2026 is versionHeaderWhy of the stateless revision, built once: it routes every 2026-era call.
var whyVersionHeader2026 = "protocol version header " + statelessVersions[0]

// routeNotes are RouteNote's notes of the routes whose reason is a constant, built once: a recording server notes
// the route of every /mcp request (a session's setup takes three of them, each call one).
var routeNotes = func() map[[2]string]string {
	m := map[[2]string]string{}
	for _, r := range [][2]string{
		{EraLegacy, "session id"}, {EraLegacy, http.MethodGet}, {EraLegacy, http.MethodDelete}, {EraLegacy, "batch"},
		{EraLegacy, "legacy body"}, {EraStateless, whyVersionHeader2026}, {EraStateless, "server/discover"},
		{EraStateless, "_meta protocol version"},
	} {
		m[r] = r[0] + ": " + r[1]
	}
	return m
}()

// RouteNote is the note that says which era a request was routed to and why (OnRoute's era and why), such as
// "legacy: session id".
func RouteNote(era, why string) string {
	if n, ok := routeNotes[[2]string{era, why}]; ok {
		return n
	}
	return era + ": " + why
}

// versionHeaderWhy is why a request with this MCP-Protocol-Version header was routed to the stateless era.
func versionHeaderWhy(v string) string {
	if v == statelessVersions[0] {
		return whyVersionHeader2026
	}
	return "protocol version header " + v
}

// needsMeta reports whether the era of r, and what is served, can depend on params._meta's protocol version: not
// when the headers decide (a session id: legacy; a version header that is not a legacy revision: stateless, and
// fixVersionHeader has nothing to fix). Neither hot path — a legacy call on its session, a 2026-era call with its
// header — decodes _meta then.
func needsMeta(r *http.Request) bool {
	if r.Header.Get("Mcp-Session-Id") != "" {
		return false
	}
	v := r.Header.Get("Mcp-Protocol-Version")
	return v == "" || slices.Contains(legacyVersions, v)
}

// rpcFault is the answer to a body that is not a usable JSON-RPC message.
type rpcFault struct {
	status, code int
	id           json.RawMessage
	msg          string
}

func (f *rpcFault) write(w http.ResponseWriter) { writeRPCErrorID(w, f.id, f.status, f.code, f.msg) }

// messagePeek is what checkMessage reads of a message's members.
type messagePeek struct {
	JSONRPC jsonrpcMember   `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  methodMember    `json:"method"`
	Params  paramsMember    `json:"params"`
	Result  presentMember   `json:"result"`
	Error   presentMember   `json:"error"`
}

// checkMessage reads a POSTed JSON body as one JSON-RPC message (not a batch): its id and method, and, when
// wantMeta, params._meta's protocol version (metaProtocolVersion; meta reports that _meta holds the key); or the
// protocol's answer when it is not one: malformed JSON → -32700; valid JSON that is not a message object (null, a
// number, no "jsonrpc":"2.0", a method that is not a string, neither a method nor a result or error) → -32600,
// with the id when there is one. The body is decoded once; of its members only the id is copied (the rest is
// checked or read as it is decoded).
func checkMessage(body []byte, wantMeta bool) (call peeked, meta bool, fault *rpcFault) {
	var peek messagePeek
	peek.Params.skip = !wantMeta
	// null, numbers, strings, booleans and arrays are valid JSON but not a message (null would unmarshal quietly).
	// An object is validated and decoded in one json.Unmarshal: its syntax error is the body's.
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		if !jsonscan.Valid(body) {
			return call, false, &rpcFault{http.StatusBadRequest, -32700, nil, "Parse error: the body is not valid JSON"}
		}
		return call, false, &rpcFault{http.StatusBadRequest, -32600, nil, "Invalid Request: the body is not a JSON-RPC message object"}
	}
	if !jsonscan.Valid(body) {
		return call, false, &rpcFault{http.StatusBadRequest, -32700, nil, "Parse error: the body is not valid JSON"}
	}
	if !scanMembers(body, &peek.JSONRPC, &peek.ID, &peek.Method, &peek.Params, &peek.Result, &peek.Error) {
		// a key that json.Unmarshal may match otherwise than as written (escaped, another case, not ASCII): it
		// decodes the body (valid JSON, whose members never fail) into a struct of its own, on the heap
		dec := new(messagePeek)
		dec.Params.skip = !wantMeta
		json.Unmarshal(body, dec)
		peek = *dec
	}
	if !peek.JSONRPC.v2 {
		return call, false, &rpcFault{http.StatusBadRequest, -32600, peek.ID, `Invalid Request: "jsonrpc" must be "2.0"`}
	}
	if peek.Method.present {
		if !peek.Method.ok {
			return call, false, &rpcFault{http.StatusBadRequest, -32600, peek.ID, `Invalid Request: "method" must be a string`}
		}
		call.method = peek.Method.name
	}
	if !peek.Method.present && !bool(peek.Result) && !bool(peek.Error) {
		return call, false, &rpcFault{http.StatusBadRequest, -32600, peek.ID,
			`Invalid Request: a message needs a "method" (request or notification) or a "result" or "error" (response)`}
	}
	call.id = peek.ID
	call.metaVersion = peek.Params.version
	return call, peek.Params.meta, nil
}

// messageKeys are the members checkMessage reads, as json.Unmarshal matches them to its struct's fields.
var messageKeys = [...]string{"jsonrpc", "id", "method", "params", "result", "error"}

// scanMembers reads the members of body, a valid JSON object, into the fields as json.Unmarshal into checkMessage's
// struct would (each member's value, as written, to its field's UnmarshalJSON, in order, so that the last of
// duplicate members counts; other members skipped), without its reflection and its decoder's allocations: the
// router reads every POST. It reports false, having read nothing, when a key is not plain ASCII as written (an
// escape, a byte beyond ASCII) or is one of the names in another case: json.Unmarshal's matching (case-insensitive,
// with Unicode folding) decides those. Two passes over the keys (the first only checks them), each linear, and
// nothing kept between them: a body of repeated members costs no memory.
func scanMembers(body []byte, jsonrpc *jsonrpcMember, id *json.RawMessage, method *methodMember, params *paramsMember, result, errm *presentMember) bool {
	if !eachMember(body, nil) {
		return false
	}
	eachMember(body, func(key int, value []byte) {
		switch key {
		case 0:
			jsonrpc.UnmarshalJSON(value)
		case 1:
			id.UnmarshalJSON(value)
		case 2:
			method.UnmarshalJSON(value)
		case 3:
			params.UnmarshalJSON(value)
		case 4:
			result.UnmarshalJSON(value)
		case 5:
			errm.UnmarshalJSON(value)
		}
	})
	return true
}

// eachMember calls read, when not nil, with each member of body (a valid JSON object) whose key is one of
// messageKeys as written (its index there) and its value as written, in order. It returns false at the first key
// that is not plain ASCII as written or that is one of messageKeys in another case (see scanMembers).
func eachMember(body []byte, read func(key int, value []byte)) bool {
	i := jsonscan.SkipSpace(body, 0) + 1 // past '{'
	for {
		i = jsonscan.SkipSpace(body, i)
		if body[i] == '}' {
			return true
		}
		start := i + 1 // the key, a string: valid JSON
		end := start
		for body[end] != '"' {
			if c := body[end]; c == '\\' || c >= 0x80 {
				return false
			}
			end++
		}
		key := body[start:end]
		i = jsonscan.SkipSpace(body, end+1) + 1 // past ':'
		i = jsonscan.SkipSpace(body, i)
		vend := jsonscan.SkipValue(body, i)
		for k, name := range messageKeys {
			if string(key) == name {
				if read != nil {
					read(k, body[i:vend])
				}
				break
			}
			if len(key) == len(name) && strings.EqualFold(string(key), name) {
				return false
			}
		}
		i = jsonscan.SkipSpace(body, vend)
		if body[i] == ',' {
			i++
		}
	}
}

// The members of a message that checkMessage only checks, read as json.Unmarshal meets them (the last of duplicate
// members counts, as it would in a json.RawMessage; null is a value like any other). Their UnmarshalJSON gets
// valid JSON and never fails: what a member holds is checkMessage's to judge.
type (
	// jsonrpcMember is whether "jsonrpc" is "2.0" as written.
	jsonrpcMember struct{ v2 bool }
	// methodMember is "method": present, and its name when it is a string (ok).
	methodMember struct {
		present, ok bool
		name        string
	}
	// presentMember is whether the member is there ("result", "error").
	presentMember bool
	// paramsMember is params._meta's protocol version (metaProtocolVersion), unless skip.
	paramsMember struct {
		skip    bool
		version string
		meta    bool
	}
)

func (m *jsonrpcMember) UnmarshalJSON(b []byte) error { m.v2 = string(b) == `"2.0"`; return nil }

func (m *methodMember) UnmarshalJSON(b []byte) error {
	m.present = true
	m.name, m.ok = plainString(b)
	if !m.ok {
		var name string // on the heap only here: m stays where its caller has it
		m.ok = json.Unmarshal(b, &name) == nil
		m.name = name
	}
	return nil
}

func (m *presentMember) UnmarshalJSON([]byte) error { *m = true; return nil }

func (m *paramsMember) UnmarshalJSON(b []byte) error {
	if !m.skip {
		m.version, m.meta = metaProtocolVersion(b)
	}
	return nil
}

// plainString returns the JSON string v (valid JSON) without decoding it when it is printable ASCII without
// escapes, which is what json.Unmarshal would make of it; ok is false for anything else (decode it then).
func plainString(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	in := v[1 : len(v)-1]
	for _, c := range in {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(in), true
}

// metaProtocolVersion reads params._meta's protocol version (valid JSON params): meta reports that _meta holds
// the key, version is its value when it is a string. Params in which no key can be "_meta" (json.Unmarshal matches
// field names case-insensitively, and a key may be escaped: it needs a '_' or a '\\') are not decoded: a legacy
// tools/call's params. _meta's members are decoded into a map as before, but their values are not copied: only a
// string's text is kept (metaValue).
func metaProtocolVersion(params []byte) (version string, meta bool) {
	if bytes.IndexByte(params, '_') < 0 && bytes.IndexByte(params, '\\') < 0 {
		return "", false
	}
	var p struct {
		Meta map[string]metaValue `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return "", false
	}
	v, meta := p.Meta[mcp.MetaKeyProtocolVersion]
	return v.s, meta
}

// metaValue is a member of _meta: the string it holds, "" when it is not a string.
type metaValue struct{ s string }

func (v *metaValue) UnmarshalJSON(b []byte) error {
	var ok bool
	if v.s, ok = plainString(b); !ok && (len(b) == 0 || b[0] != '"' || json.Unmarshal(b, &v.s) != nil) {
		v.s = ""
	}
	return nil
}

// readBody reads r to its end, or to limit bytes, as io.ReadAll(io.LimitReader(r, limit)) does; a body that
// announced its length (hint, at most limit) is read into one buffer of its size.
func readBody(r io.Reader, limit, hint int64) ([]byte, error) {
	if hint < 0 || hint >= limit {
		return io.ReadAll(io.LimitReader(r, limit))
	}
	b := make([]byte, 0, hint+1) // the byte beyond: room to see the end without growing
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := min(int64(cap(b)), limit) - int64(len(b))
		if room <= 0 {
			return b, nil
		}
		n, err := r.Read(b[len(b) : int64(len(b))+room])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// memBody is a request body read whole, as the SDK reads it again (io.NopCloser(bytes.NewReader(b)) in one
// allocation).
type memBody struct{ bytes.Reader }

func (*memBody) Close() error { return nil }

// fixVersionHeader serves Claude's header quirk by its _meta version: a stateless-era request whose
// MCP-Protocol-Version header is a legacy revision while _meta names a 2026 revision gets the _meta version in the
// header the SDK sees (the recorder keeps the header as sent), unless StrictVersionHeader says to refuse it.
func (h *Handler) fixVersionHeader(r *http.Request, call peeked) {
	hv := r.Header.Get("Mcp-Protocol-Version")
	if len(r.Header.Values("Mcp-Protocol-Version")) != 1 || !slices.Contains(legacyVersions, hv) ||
		!slices.Contains(statelessVersions, call.metaVersion) {
		return
	}
	accepted := h.opts.StrictVersionHeader == nil || !h.opts.StrictVersionHeader()
	if accepted {
		r.Header.Set("Mcp-Protocol-Version", call.metaVersion)
	}
	if h.opts.OnVersionHeader != nil {
		h.opts.OnVersionHeader(r, hv, call.metaVersion, accepted)
	}
}

// fixSessionVersion rewrites a 2026-era MCP-Protocol-Version header on a legacy session to the version that
// session negotiated.
func (h *Handler) fixSessionVersion(r *http.Request, sid string) {
	v := r.Header.Get("Mcp-Protocol-Version")
	if v == "" || slices.Contains(legacyVersions, v) {
		return
	}
	for ss := range h.server.Sessions() {
		if ss.ID() != sid {
			continue
		}
		if p := ss.InitializeParams(); p != nil && slices.Contains(legacyVersions, p.ProtocolVersion) {
			r.Header.Set("Mcp-Protocol-Version", p.ProtocolVersion)
		}
		return
	}
}

func mediaType(ct string) string {
	if ct == "application/json" { // what clients send: what mime.ParseMediaType would return, without its map
		return ct
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt
}

// writeBodyError answers a body that could not be read whole: 408 when it did not arrive in time (the server's
// body deadline: a client that announced more bytes than it sent), 400 otherwise.
func writeBodyError(w http.ResponseWriter, r *http.Request, got int, err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		writeRPCError(w, http.StatusRequestTimeout, -32600, fmt.Sprintf(
			"Request Timeout: the request body did not arrive in time (Content-Length %d, %d bytes received)", r.ContentLength, got))
		return
	}
	writeRPCError(w, http.StatusBadRequest, -32700, fmt.Sprintf("Parse error: reading the body failed after %d bytes: %v", got, err))
}

// writeRPCError answers with a JSON-RPC error without an id, the shape the spec allows for transport errors.
func writeRPCError(w http.ResponseWriter, status, code int, msg string) {
	writeRPCErrorID(w, nil, status, code, msg)
}

// writeRPCErrorID answers with a JSON-RPC error for the message with this id (null when unknown).
func writeRPCErrorID(w http.ResponseWriter, id json.RawMessage, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(newRPCError(id, code, msg))
}

type rpcError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func newRPCError(id json.RawMessage, code int, msg string) rpcError {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	e := rpcError{JSONRPC: "2.0", ID: id}
	e.Error.Code, e.Error.Message = code, msg
	return e
}
