package toggle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// Options tell the middleware where things are.
type Options struct {
	// MCPPath is the MCP endpoint's path (default "/mcp").
	MCPPath string
	// RegistrationPath is the registration endpoint's path until an auth-server metadata document names another
	// (default "/register").
	RegistrationPath string
}

// maxPeek bounds the request body the middleware reads to classify a request.
const maxPeek = 4 << 20

// Middleware applies the active toggles of set. Put it inside the capture middleware and the Host guard, so the
// recorder sees the altered wire. With no toggle on, it costs one atomic load per request.
func Middleware(set *Set, opts Options) func(http.Handler) http.Handler {
	if opts.MCPPath == "" {
		opts.MCPPath = "/mcp"
	}
	m := &mw{set: set, opts: opts, regPath: opts.RegistrationPath}
	if m.regPath == "" {
		m.regPath = "/register"
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if set.Empty() {
				next.ServeHTTP(w, r)
				return
			}
			m.serve(w, r, next)
		})
	}
}

type mw struct {
	set  *Set
	opts Options

	mu      sync.Mutex
	regPath string // learned from auth-server metadata
}

// request is what the middleware knows of a request before it is served.
type request struct {
	r     *http.Request
	body  []byte
	rpc   []recorder.RPC
	stage analysis.Stage
}

func (m *mw) classify(r *http.Request) *request {
	q := &request{r: r}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxPeek+1))
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		if err == nil && len(body) <= maxPeek {
			q.body = body
		}
	}
	q.rpc = recorder.ParseRPC(q.body, recorder.FromClient, -1)
	ex := &recorder.Exchange{Kind: recorder.Inbound, Method: r.Method, URL: r.RequestURI, Host: r.Host,
		ReqHeaders: recorder.FromHTTP(r.Header), ReqBody: recorder.Body{Data: q.body, Size: int64(len(q.body))}, RPC: q.rpc}
	if ex.URL == "" {
		ex.URL = r.URL.RequestURI()
	}
	q.stage = analysis.StageOf(ex, m.opts.MCPPath)
	return q
}

func (q *request) rpcMethod() string {
	for _, m := range q.rpc {
		if m.Method != "" {
			return m.Method
		}
	}
	return ""
}

func (q *request) rpcID() json.RawMessage {
	for _, m := range q.rpc {
		if len(m.ID) > 0 {
			return m.ID
		}
	}
	return json.RawMessage("null")
}

// isToken reports a token request: the stage says so, or the body carries an authorization_code or refresh_token
// grant (a form or JSON, as Claude sends).
func (q *request) isToken() bool {
	if q.stage == analysis.StageToken || q.stage == analysis.StageRefresh {
		return true
	}
	if q.r.Method != http.MethodPost || len(q.body) == 0 {
		return false
	}
	gt := ""
	if vals, err := url.ParseQuery(string(q.body)); err == nil {
		gt = vals.Get("grant_type")
	}
	if gt == "" {
		var j struct {
			GrantType string `json:"grant_type"`
		}
		if json.Unmarshal(q.body, &j) == nil {
			gt = j.GrantType
		}
	}
	return gt == "authorization_code" || gt == "refresh_token"
}

// isAuthorize reports an authorization request: the stage says so, or it carries response_type and client_id.
func (q *request) isAuthorize() bool {
	if q.stage == analysis.StageAuthorize {
		return true
	}
	v := q.r.URL.Query()
	return q.r.Method == http.MethodGet && v.Get("response_type") != "" && v.Get("client_id") != ""
}

func isPRMPath(p string) bool { return strings.HasPrefix(p, "/.well-known/oauth-protected-resource") }

func isASMetaPath(p string) bool {
	return strings.HasPrefix(p, "/.well-known/oauth-authorization-server") ||
		strings.HasPrefix(p, "/.well-known/openid-configuration") ||
		strings.HasSuffix(p, "/.well-known/openid-configuration")
}

func record(ctx context.Context, t Toggle, what, before, after string) {
	recorder.AddToggle(ctx, recorder.ToggleChange{Name: t.Name(), What: what, Before: before, After: after})
}

func (m *mw) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	q := m.classify(r)
	ctx := r.Context()
	path := r.URL.Path
	s := m.set

	if d, ok := s.Duration(Slow); ok {
		record(ctx, Slow, "response delayed", "", d.String())
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}

	// Toggles that answer in the server's place.
	answer := func(t Toggle, what string, status int, header http.Header, body []byte) {
		record(ctx, t, what, "(answered by the server)", fmt.Sprintf("%d %s", status, bytes.TrimSpace(body)))
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		w.Write(body)
	}
	jsonHdr := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	textHdr := http.Header{"Content-Type": {"text/plain; charset=utf-8"}}

	if f, ok := s.Fail(); ok && f.Stage != string(analysis.StageChallenge) && string(q.stage) == f.Stage {
		answer(Fail, "status", f.Status, textHdr,
			fmt.Appendf(nil, "%d %s (mcpwatch toggle fail=%s:%d)\n", f.Status, http.StatusText(f.Status), f.Stage, f.Status))
		return
	}
	if s.Has(GetStream405) && r.Method == http.MethodGet && path == m.opts.MCPPath {
		answer(GetStream405, "status", http.StatusMethodNotAllowed,
			http.Header{"Allow": {"POST"}, "Content-Type": {"text/plain; charset=utf-8"}}, []byte("Method Not Allowed\n"))
		return
	}
	if s.Has(RejectDiscover) && path == m.opts.MCPPath && q.rpcMethod() == "server/discover" {
		body, _ := json.Marshal(rpcError{JSONRPC: "2.0", ID: q.rpcID(),
			Error: rpcErrorBody{Code: -32601, Message: "Method not found: server/discover"}})
		answer(RejectDiscover, "server/discover answer", http.StatusOK, jsonHdr, append(body, '\n'))
		return
	}
	if s.Has(NoResourceMetadata) && isPRMPath(path) {
		answer(NoResourceMetadata, "status", http.StatusNotFound, textHdr, []byte("404 page not found\n"))
		return
	}
	if s.Has(NoAuthMetadata) && isASMetaPath(path) {
		answer(NoAuthMetadata, "status", http.StatusNotFound, textHdr, []byte("404 page not found\n"))
		return
	}
	m.mu.Lock()
	regPath := m.regPath
	m.mu.Unlock()
	if s.Has(NoRegistration) && r.Method == http.MethodPost && path == regPath {
		answer(NoRegistration, "status", http.StatusNotFound, textHdr, []byte("404 page not found\n"))
		return
	}
	// no-registration leaves the client no registration path at all: no DCR and no metadata documents either.
	for _, t := range []Toggle{NoCIMD, NoRegistration} {
		if s.Has(t) && q.isAuthorize() {
			if cid := r.URL.Query().Get("client_id"); strings.HasPrefix(cid, "https://") || strings.HasPrefix(cid, "http://") {
				answer(t, "status", http.StatusBadRequest, textHdr,
					[]byte("invalid_client: this server does not support client ID metadata documents (mcpwatch toggle "+t.Name()+")\n"))
				return
			}
		}
	}
	if q.isToken() {
		if s.Has(InvalidClientOnToken) {
			answer(InvalidClientOnToken, "token answer", http.StatusUnauthorized, jsonHdr,
				[]byte(`{"error":"invalid_client","error_description":"client authentication failed (mcpwatch toggle invalid-client-on-token)"}`+"\n"))
			return
		}
		if code, ok := s.String(TokenError); ok {
			status := http.StatusBadRequest
			if code == "invalid_client" {
				status = http.StatusUnauthorized
			}
			body, _ := json.Marshal(map[string]string{"error": code, "error_description": "mcpwatch toggle token-error=" + code})
			answer(TokenError, "token answer", status, jsonHdr, append(body, '\n'))
			return
		}
	}

	rw := &rewriter{ResponseWriter: w, m: m, q: q, ctx: ctx}
	next.ServeHTTP(rw, r)
	rw.finish()
}

// rpcError is a JSON-RPC error answer, its members in the usual order.
type rpcError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   rpcErrorBody    `json:"error"`
}

type rpcErrorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// rewriter alters the response on its way out: headers when they are written, JSON bodies when complete, SSE
// bodies event by event.
type rewriter struct {
	http.ResponseWriter
	m   *mw
	q   *request
	ctx context.Context

	wroteHeader bool
	status      int
	mode        int // passthrough, bufferJSON, sseEvents, sseToJSON, jsonToSSE
	buf         bytes.Buffer
	sse         recorder.SSEParser
	lastResp    []byte
}

const (
	modePass = iota
	modeJSON
	modeSSE
	modeSSEToJSON
	modeJSONToSSE
)

func (rw *rewriter) WriteHeader(status int) {
	if rw.wroteHeader {
		return
	}
	rw.wroteHeader = true
	rw.status = status
	s, h, ctx, path := rw.m.set, rw.Header(), rw.ctx, rw.q.r.URL.Path

	if f, ok := s.Fail(); ok && f.Stage == string(analysis.StageChallenge) && status == http.StatusUnauthorized {
		record(ctx, Fail, "status", "401", strconv.Itoa(f.Status))
		rw.status = f.Status
	}
	if s.Has(OmitSessionID) || s.Has(Stateless) {
		if v := h.Get("Mcp-Session-Id"); v != "" {
			t := OmitSessionID
			if !s.Has(t) {
				t = Stateless
			}
			record(ctx, t, "response header Mcp-Session-Id", v, "(removed)")
			h.Del("Mcp-Session-Id")
		} else if s.Has(Stateless) && path == rw.m.opts.MCPPath && status < 300 && rw.q.rpcMethod() == "initialize" {
			// The stateless handler answered: no session was ever made, so there is no id to remove.
			record(ctx, Stateless, "response header Mcp-Session-Id", "(a new session's id)", "(none: no session issued)")
		}
	}
	if status == http.StatusUnauthorized {
		rw.rewriteChallenge()
	}

	ct := strings.ToLower(h.Get("Content-Type"))
	isSSE := strings.HasPrefix(ct, "text/event-stream")
	isJSON := strings.HasPrefix(ct, "application/json")
	onMCP := path == rw.m.opts.MCPPath && rw.q.r.Method == http.MethodPost
	rpcEdits := onMCP && (s.Has(ProtocolVersion) || s.Has(DropToolsCapability) || s.Has(WrongJSONRPCID))
	switch {
	case onMCP && isSSE && s.Has(JSONResponses):
		rw.mode = modeSSEToJSON
	case onMCP && isJSON && s.Has(SSEResponses):
		rw.mode = modeJSONToSSE
	case isSSE && rpcEdits:
		rw.mode = modeSSE
	case isJSON && (rpcEdits || rw.wantsJSONEdit(path)):
		rw.mode = modeJSON
	}
	switch rw.mode {
	case modeSSE:
		// Its events are edited, so its length changes: a stream an upstream framed with a Content-Length (one that
		// answered before flushing anything) goes out chunked.
		h.Del("Content-Length")
		rw.ResponseWriter.WriteHeader(rw.status)
	case modePass:
		rw.ResponseWriter.WriteHeader(rw.status)
	}
	// the others write their header at the end, when the body is known
}

// wantsJSONEdit reports whether a toggle edits this JSON document.
func (rw *rewriter) wantsJSONEdit(path string) bool {
	s := rw.m.set
	switch {
	case isPRMPath(path):
		return s.Has(ResourceMismatch)
	case isASMetaPath(path):
		return true // also learns the registration endpoint
	case rw.q.isToken():
		return s.Has(NoRefreshToken)
	}
	return false
}

func (rw *rewriter) Write(p []byte) (int, error) {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	switch rw.mode {
	case modePass:
		return rw.ResponseWriter.Write(p)
	case modeSSE:
		for _, ev := range rw.sse.Feed(p) {
			ev.Data = string(rw.editRPC([]byte(ev.Data)))
			if _, err := rw.ResponseWriter.Write(encodeEvent(ev)); err != nil {
				return 0, err
			}
		}
		return len(p), nil
	case modeSSEToJSON:
		for _, ev := range rw.sse.Feed(p) {
			if msgs := recorder.ParseRPC([]byte(ev.Data), recorder.FromServer, -1); len(msgs) > 0 && msgs[0].IsResponse {
				rw.lastResp = []byte(ev.Data)
			}
		}
		return len(p), nil
	}
	return rw.buf.Write(p)
}

func (rw *rewriter) Flush() {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if rw.mode == modePass || rw.mode == modeSSE {
		http.NewResponseController(rw.ResponseWriter).Flush()
	}
}

func (rw *rewriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

func (rw *rewriter) finish() {
	if !rw.wroteHeader {
		return
	}
	h := rw.Header()
	switch rw.mode {
	case modeJSON:
		body := rw.buf.Bytes()
		path := rw.q.r.URL.Path
		switch {
		case isPRMPath(path):
			body = rw.editPRM(body)
		case isASMetaPath(path):
			body = rw.editASMeta(body)
		case rw.q.isToken():
			body = rw.editToken(body)
		default:
			body = rw.editRPC(body)
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		rw.ResponseWriter.WriteHeader(rw.status)
		rw.ResponseWriter.Write(body)
	case modeSSEToJSON:
		body := rw.lastResp
		if body == nil {
			body = []byte{}
		}
		body = rw.editRPC(body)
		record(rw.ctx, JSONResponses, "response Content-Type", "text/event-stream", "application/json")
		h.Set("Content-Type", "application/json")
		h.Del("Cache-Control")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		rw.ResponseWriter.WriteHeader(rw.status)
		rw.ResponseWriter.Write(body)
	case modeJSONToSSE:
		msgs := rpcMessages(rw.buf.Bytes())
		if msgs == nil { // not JSON-RPC (an OAuth error, say): as it was
			rw.ResponseWriter.WriteHeader(rw.status)
			rw.ResponseWriter.Write(rw.buf.Bytes())
			return
		}
		record(rw.ctx, SSEResponses, "response Content-Type", "application/json", "text/event-stream")
		h.Set("Content-Type", "text/event-stream")
		h.Del("Content-Length")
		rw.ResponseWriter.WriteHeader(rw.status)
		for _, m := range msgs {
			rw.ResponseWriter.Write(encodeEvent(recorder.SSEEvent{Event: "message", Data: string(rw.editRPC(m))}))
		}
	}
}

// rpcMessages splits a JSON-RPC body into its messages (one, or a batch's), or returns nil when it is not JSON-RPC.
func rpcMessages(body []byte) []json.RawMessage {
	body = bytes.TrimSpace(body)
	if bytes.HasPrefix(body, []byte("[")) {
		var batch []json.RawMessage
		if json.Unmarshal(body, &batch) != nil || len(batch) == 0 {
			return nil
		}
		for _, m := range batch {
			if !isRPC(m) {
				return nil
			}
		}
		return batch
	}
	if !isRPC(body) {
		return nil
	}
	return []json.RawMessage{body}
}

// isRPC reports a JSON-RPC 2.0 message.
func isRPC(msg []byte) bool { return string(bytes.TrimSpace(getPath(msg, "jsonrpc"))) == `"2.0"` }

func encodeEvent(ev recorder.SSEEvent) []byte {
	var b bytes.Buffer
	if ev.Event != "" {
		fmt.Fprintf(&b, "event: %s\n", ev.Event)
	}
	if ev.ID != "" {
		fmt.Fprintf(&b, "id: %s\n", ev.ID)
	}
	if ev.Retry > 0 {
		fmt.Fprintf(&b, "retry: %d\n", ev.Retry)
	}
	for _, line := range strings.Split(ev.Data, "\n") {
		fmt.Fprintf(&b, "data: %s\n", line)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// editRPC applies the JSON-RPC toggles to one message.
func (rw *rewriter) editRPC(msg []byte) []byte {
	s, ctx := rw.m.set, rw.ctx
	if !isRPC(msg) || getPath(msg, "result") == nil && getPath(msg, "error") == nil {
		return msg // not a JSON-RPC response (an OAuth error body has an "error" too)
	}
	method := rw.q.rpcMethod()
	if v, ok := s.String(ProtocolVersion); ok {
		switch method {
		case "initialize":
			old := getPath(msg, "result", "protocolVersion")
			if out, changed := editPath(msg, []string{"result", "protocolVersion"}, setTo(v)); changed {
				record(ctx, ProtocolVersion, "result.protocolVersion", short(old), short(getPath(out, "result", "protocolVersion")))
				msg = out
			}
		case "server/discover":
			old := getPath(msg, "result", "supportedVersions")
			if out, changed := editPath(msg, []string{"result", "supportedVersions"}, setTo([]string{v})); changed {
				record(ctx, ProtocolVersion, "result.supportedVersions", short(old), short(getPath(out, "result", "supportedVersions")))
				msg = out
			}
		}
	}
	if s.Has(DropToolsCapability) && (method == "initialize" || method == "server/discover") {
		old := getPath(msg, "result", "capabilities", "tools")
		if out, changed := editPath(msg, []string{"result", "capabilities", "tools"}, remove); changed {
			record(ctx, DropToolsCapability, "result.capabilities.tools", short(old), "(removed)")
			msg = out
		}
	}
	if s.Has(WrongJSONRPCID) {
		old := getPath(msg, "id")
		if out, changed := editPath(msg, []string{"id"}, setTo(wrongID(old))); changed {
			record(ctx, WrongJSONRPCID, "id", short(old), short(getPath(out, "id")))
			msg = out
		}
	}
	return msg
}

// wrongID returns an id of the same type that the client did not send.
func wrongID(old json.RawMessage) any {
	var n json.Number
	if json.Unmarshal(old, &n) == nil {
		if i, err := n.Int64(); err == nil {
			return i + 1000
		}
	}
	var s string
	if json.Unmarshal(old, &s) == nil {
		return s + "-mcpwatch"
	}
	return "mcpwatch-wrong-id"
}

func (rw *rewriter) editPRM(body []byte) []byte {
	if !rw.m.set.Has(ResourceMismatch) {
		return body
	}
	var res string
	if json.Unmarshal(getPath(body, "resource"), &res) != nil {
		return body
	}
	wrong := strings.TrimRight(res, "/") + "/not-mcp"
	if u, err := url.Parse(res); err == nil && u.Path != "" && u.Path != "/" {
		u.Path = strings.TrimRight(u.Path, "/") + "-not-mcp"
		wrong = u.String()
	}
	out, changed := editPath(body, []string{"resource"}, setTo(wrong))
	if changed {
		record(rw.ctx, ResourceMismatch, "resource", res, wrong)
	}
	return out
}

func (rw *rewriter) editASMeta(body []byte) []byte {
	var reg string
	if json.Unmarshal(getPath(body, "registration_endpoint"), &reg) == nil && reg != "" {
		if u, err := url.Parse(reg); err == nil && u.Path != "" {
			rw.m.mu.Lock()
			rw.m.regPath = u.Path
			rw.m.mu.Unlock()
		}
	}
	if rw.m.set.Has(NoRegistration) {
		old := getPath(body, "registration_endpoint")
		if out, changed := editPath(body, []string{"registration_endpoint"}, remove); changed {
			record(rw.ctx, NoRegistration, "registration_endpoint", short(old), "(removed)")
			body = out
		}
	}
	for _, t := range []Toggle{NoCIMD, NoRegistration} {
		if !rw.m.set.Has(t) {
			continue
		}
		old := getPath(body, "client_id_metadata_document_supported")
		if out, changed := editPath(body, []string{"client_id_metadata_document_supported"}, setTo(false)); changed {
			record(rw.ctx, t, "client_id_metadata_document_supported", short(old), "false")
			body = out
		}
		break
	}
	return body
}

func (rw *rewriter) editToken(body []byte) []byte {
	if !rw.m.set.Has(NoRefreshToken) {
		return body
	}
	old := getPath(body, "refresh_token")
	out, changed := editPath(body, []string{"refresh_token"}, remove)
	if changed {
		record(rw.ctx, NoRefreshToken, "refresh_token", "(redacted)", "(removed)")
	}
	_ = old
	return out
}
