package mcpserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// sseHandler serves the 2024-11-05 HTTP+SSE transport: a GET opens an event stream whose first event names the
// endpoint (?sessionid=...) where the client POSTs its messages; answers travel on the stream.
//
// The SDK's mcp.SSEHandler does the same, but it answers a malformed body and an unknown method with plain-text
// 400s (the answer belongs on the stream, as a JSON-RPC error), gives handlers no RequestExtra (so whoami could not
// see the bearer token), and lets any token POST into any session. So the transport is ours — a small mcp.Transport
// — while the protocol stays the SDK's: every message goes to the mcp.Server, which answers (-32601 for an unknown
// method included) on the stream.
type sseHandler struct {
	server  *mcp.Server
	maxBody int64

	mu       sync.Mutex
	sessions map[string]*sseSession
}

func newSSEHandler(s *mcp.Server, maxBody int64) *sseHandler {
	return &sseHandler{server: s, maxBody: maxBody, sessions: map[string]*sseSession{}}
}

// sseKey marks the context of an SSE session's handlers (the GET's context, which the SDK passes to them) with the
// session id.
type sseKey struct{}

// sseSessionID is the id of the HTTP+SSE session a handler runs in (its ?sessionid=), or "".
func sseSessionID(ctx context.Context) string {
	id, _ := ctx.Value(sseKey{}).(string)
	return id
}

func (h *sseHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.serveStream(w, r)
	case http.MethodPost:
		h.servePost(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, fmt.Sprintf("Method Not Allowed: %s on the SSE transport (GET opens the stream, POST sends a message)", r.Method), http.StatusMethodNotAllowed)
	}
}

// serveStream opens a session and serves its events until the client goes away or the server closes it.
func (h *sseHandler) serveStream(w http.ResponseWriter, r *http.Request) {
	id := rand.Text()
	endpoint, err := r.URL.Parse("?sessionid=" + id)
	if err != nil {
		http.Error(w, "internal error: no endpoint", http.StatusInternalServerError)
		return
	}
	sess := &sseSession{
		id:       id,
		endpoint: endpoint.RequestURI(),
		w:        w,
		incoming: make(chan jsonrpc.Message, 100),
		done:     make(chan struct{}),
	}
	if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
		sess.owner = ti.UserID
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Connection", "keep-alive")

	h.mu.Lock()
	h.sessions[id] = sess
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.sessions, id)
		h.mu.Unlock()
	}()

	ss, err := h.server.Connect(context.WithValue(r.Context(), sseKey{}, id), sess, nil)
	if err != nil {
		http.Error(w, "connection failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer ss.Close() // closes sess: no write reaches w once this handler has returned
	if err := sess.event("endpoint", []byte(sess.endpoint)); err != nil {
		return
	}
	select {
	case <-r.Context().Done():
	case <-sess.done:
	}
}

// servePost hands one message to its session. A body that is not a JSON-RPC message is answered here (400 with
// -32700 or -32600: there is no request to answer on the stream); anything else is accepted with 202 and answered
// on the stream by the server.
func (h *sseHandler) servePost(w http.ResponseWriter, r *http.Request) {
	if mediaType(r.Header.Get("Content-Type")) != "application/json" {
		http.Error(w, "Content-Type must be 'application/json'", http.StatusUnsupportedMediaType)
		return
	}
	id := r.URL.Query().Get("sessionid")
	if id == "" {
		http.Error(w, "sessionid must be provided: POST to the endpoint the stream's first event named", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	sess := h.sessions[id]
	h.mu.Unlock()
	if sess == nil {
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	ti := auth.TokenInfoFromContext(r.Context())
	if sess.owner != "" && (ti == nil || ti.UserID != sess.owner) {
		// As the streamable handler does for Mcp-Session-Id: a session stays with the grant it was opened under.
		http.Error(w, "session user mismatch: this session was opened with a token of another grant", http.StatusForbidden)
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	if int64(len(body)) > h.maxBody {
		writeRPCError(w, http.StatusRequestEntityTooLarge, -32600, fmt.Sprintf("request body exceeds %d bytes", h.maxBody))
		return
	}
	if err != nil {
		writeBodyError(w, r, len(body), err)
		return
	}
	if _, _, fault := checkMessage(body, false); fault != nil {
		if t := bytes.TrimLeft(body, " \t\r\n"); fault.code == -32600 && len(t) > 0 && t[0] == '[' {
			fault.msg = "Invalid Request: the HTTP+SSE transport takes one message per POST, not a batch"
		}
		fault.write(w)
		return
	}
	msg, err := jsonrpc.DecodeMessage(body)
	if err != nil { // what checkMessage lets through and the SDK still refuses, e.g. an id that is an object
		writeRPCError(w, http.StatusBadRequest, -32600, "Invalid Request: "+err.Error())
		return
	}
	if req, ok := msg.(*jsonrpc.Request); ok {
		req.Extra = &mcp.RequestExtra{TokenInfo: ti, Header: r.Header.Clone()}
	}
	select {
	case sess.incoming <- msg:
		w.WriteHeader(http.StatusAccepted)
	case <-sess.done:
		http.Error(w, "session closed", http.StatusNotFound)
	case <-r.Context().Done():
	}
}

// sseSession is one HTTP+SSE session: an mcp.Transport whose connection is itself. Reads come from POSTs, writes
// are "message" events on the GET's response.
type sseSession struct {
	id       string
	endpoint string
	owner    string // TokenInfo.UserID (the grant) of the GET that opened it; "" without auth
	incoming chan jsonrpc.Message

	mu     sync.Mutex // guards w and closed
	w      http.ResponseWriter
	closed bool
	done   chan struct{} // closed by Close
}

// Connect makes the session its own connection. The endpoint event is sent by serveStream once the server's
// Connect has returned: the SDK computes the versions a session can serve (for server/discover) after the
// transport connected, and a client that got the endpoint first could ask before that, and be offered 2026-07-28
// on a transport that has no 2026-07-28 binding (TestGoSDKClient/sse failed so once; the window is microseconds
// wide, too narrow for a test to hit on demand).
func (s *sseSession) Connect(context.Context) (mcp.Connection, error) { return s, nil }

// SupportsProtocolVersion: 2026-07-28 defines no HTTP+SSE binding (the SDK's own SSE transport says the same).
func (s *sseSession) SupportsProtocolVersion(v string) bool { return v < "2026-07-28" }

func (s *sseSession) SessionID() string { return s.id }

func (s *sseSession) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case msg := <-s.incoming:
		return msg, nil
	case <-s.done:
		return nil, io.EOF
	}
}

func (s *sseSession) Write(ctx context.Context, msg jsonrpc.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return err
	}
	return s.event("message", data)
}

// event writes one server-sent event and flushes it.
func (s *sseSession) event(name string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return io.EOF
	}
	var b bytes.Buffer
	b.Grow(len(name) + len(data) + 16)
	b.WriteString("event: ")
	b.WriteString(name)
	b.WriteString("\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return err
	}
	_ = http.NewResponseController(s.w).Flush() // best effort
	return nil
}

// Close ends the session; the GET returns. It may be called more than once.
func (s *sseSession) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	return nil
}
