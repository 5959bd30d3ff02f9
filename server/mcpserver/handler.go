package mcpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The legacy protocol revisions: initialize, sessions, GET streams. Anything else in MCP-Protocol-Version is
// the stateless era (2026-07-28) or garbage, which the stateless handler answers with -32022.
var legacyVersions = []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}

// Era names the handler a request was routed to.
const (
	EraLegacy    = "legacy"
	EraStateless = "2026"
)

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
	// OnRoute, when set, is told which era each /mcp request was routed to and why.
	OnRoute func(r *http.Request, era, why string)
}

// Handler serves /mcp for both protocol eras: a stateful SDK handler (initialize, Mcp-Session-Id, GET stream,
// DELETE, resumable SSE) and a stateless one (2026-07-28: server/discover, per-request _meta), chosen per request.
type Handler struct {
	server    *mcp.Server
	stateful  *mcp.StreamableHTTPHandler
	stateless *mcp.StreamableHTTPHandler
	sse       *mcp.SSEHandler
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
	return &Handler{
		server: s,
		opts:   opts,
		stateful: mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
			EventStore:                 mcp.NewMemoryEventStore(nil),
			SessionTimeout:             opts.SessionTimeout,
			Logger:                     opts.Logger,
			DisableLocalhostProtection: true,
			MaxRequestBodyBytes:        opts.MaxBodyBytes,
		}),
		stateless: mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
			Stateless:                    true,
			Logger:                       opts.Logger,
			DisableLocalhostProtection:   true,
			MaxRequestBodyBytes:          opts.MaxBodyBytes,
			PropagateRequestCancellation: true,
		}),
		sse: mcp.NewSSEHandler(get, &mcp.SSEOptions{DisableLocalhostProtection: true, MaxRequestBodyBytes: opts.MaxBodyBytes}),
	}
}

// SSE is the 2024-11-05 HTTP+SSE transport (GET opens the stream, POSTs go to the endpoint it names).
func (h *Handler) SSE() http.Handler { return h.sse }

// ServeHTTP routes one /mcp request to the era it belongs to. First match wins:
//  1. Mcp-Session-Id present → legacy (a session exists only there).
//  2. MCP-Protocol-Version present and not a legacy revision → stateless (the SDK rejects garbage there with -32022).
//  3. POST body: a batch → legacy; server/discover → stateless; params._meta carries the protocol version → stateless.
//  4. Otherwise → legacy: initialize, header-less calls, GET and DELETE.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	era, why := h.route(w, r)
	if era == "" {
		return // already answered: 413, or a body that is not JSON-RPC
	}
	if h.opts.OnRoute != nil {
		h.opts.OnRoute(r, era, why)
	}
	if era == EraStateless {
		h.stateless.ServeHTTP(w, r)
		return
	}
	if sid := r.Header.Get("Mcp-Session-Id"); sid != "" && !h.opts.StrictSessionVersion {
		h.fixSessionVersion(r, sid)
	}
	h.stateful.ServeHTTP(w, r)
}

func (h *Handler) route(w http.ResponseWriter, r *http.Request) (era, why string) {
	var body []byte
	if r.Method == http.MethodPost && r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, h.opts.MaxBodyBytes+1))
		r.Body.Close()
		if int64(len(body)) > h.opts.MaxBodyBytes {
			writeRPCError(w, http.StatusRequestEntityTooLarge, -32600,
				fmt.Sprintf("request body exceeds %d bytes", h.opts.MaxBodyBytes))
			return "", ""
		}
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		r.ContentLength = int64(len(body))
		if !json.Valid(body) && mediaType(r.Header.Get("Content-Type")) == "application/json" {
			writeRPCError(w, http.StatusBadRequest, -32700, "Parse error: the body is not valid JSON")
			return "", ""
		}
	}
	if r.Header.Get("Mcp-Session-Id") != "" {
		return EraLegacy, "session id"
	}
	if v := r.Header.Get("Mcp-Protocol-Version"); v != "" && !slices.Contains(legacyVersions, v) {
		return EraStateless, "protocol version header " + v
	}
	if r.Method != http.MethodPost {
		return EraLegacy, r.Method
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		return EraLegacy, "batch"
	}
	var peek struct {
		Method json.RawMessage `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(body, &peek) != nil {
		if mediaType(r.Header.Get("Content-Type")) != "application/json" {
			return EraLegacy, "not JSON" // the SDK answers 415 with the reason
		}
		writeRPCError(w, http.StatusBadRequest, -32600, "Invalid Request: the body is not a JSON-RPC message object")
		return "", ""
	}
	var method string
	_ = json.Unmarshal(peek.Method, &method)
	if method == "server/discover" {
		return EraStateless, "server/discover"
	}
	var params struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(peek.Params, &params) == nil {
		if _, ok := params.Meta[mcp.MetaKeyProtocolVersion]; ok {
			return EraStateless, "_meta protocol version"
		}
	}
	return EraLegacy, "legacy body"
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
	mt, _, _ := mime.ParseMediaType(ct)
	return mt
}

// errReader returns err (or io.EOF) once the peeked bytes are consumed.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// writeRPCError answers with a JSON-RPC error without an id, the shape the spec allows for transport errors.
func writeRPCError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"jsonrpc": "2.0", "id": nil, "error": map[string]any{"code": code, "message": msg},
	})
}
