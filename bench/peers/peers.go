// Package peers holds the servers mcpwatch is measured against in the benchmark table (bench/cmd/mcpbench runs
// each as its own process with `mcpbench peer KIND`):
//
//   - SDK: a minimal MCP server on the official Go SDK alone, with the same echo tool mcpwatch serves, behind the
//     SDK's Streamable HTTP handler with its default options (stateful: the legacy era with sessions; or
//     stateless: the 2026-07-28 era). What mcpwatch serve would cost without anything of its own.
//   - Plain: a plain net/http JSON-RPC handler that answers the same requests with fixed JSON (the limit for an
//     HTTP server in Go on this machine), and a GET event stream for the first-event measurement.
//   - ReverseProxy: a bare net/http/httputil.ReverseProxy with its own transport (the limit for a Go proxy).
package peers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type echoIn struct {
	Text string `json:"text" jsonschema:"the text to echo back"`
}

// SDK is the go-sdk server with the echo tool (defined as mcpwatch's is) behind a Streamable HTTP handler with
// default options, stateful or stateless.
func SDK(stateless bool) http.Handler {
	s := mcp.NewServer(&mcp.Implementation{Name: "sdk-peer", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "echo",
		Title:       "Echo",
		Description: "Returns the text it is given.",
	}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	var opts *mcp.StreamableHTTPOptions
	if stateless {
		opts = &mcp.StreamableHTTPOptions{Stateless: true}
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, opts))
	return mux
}

// StreamHold is how long Plain's GET event stream waits between its first and its second (last) event.
const StreamHold = 50 * time.Millisecond

type plainRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  struct {
		Name      string `json:"name"`
		Arguments struct {
			Text string `json:"text"`
		} `json:"arguments"`
		ProtocolVersion string `json:"protocolVersion"`
	} `json:"params"`
}

type plainResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   any             `json:"error,omitempty"`
}

type text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Plain answers MCP's requests at /mcp with fixed JSON: initialize (with an Mcp-Session-Id it does not track),
// notifications (202), tools/list, tools/call of echo, server/discover, DELETE; GET opens an event stream that
// sends one event at once and one more StreamHold later, then ends.
func Plain() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			plainStream(w, r)
			return
		case http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
			return
		case http.MethodPost:
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var req plainRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&req); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`+"\n")
			return
		}
		if len(req.ID) == 0 { // a notification
			w.WriteHeader(http.StatusAccepted)
			return
		}
		resp := plainResponse{JSONRPC: "2.0", ID: req.ID}
		switch req.Method {
		case "initialize":
			var b [16]byte
			rand.Read(b[:])
			w.Header().Set("Mcp-Session-Id", hex.EncodeToString(b[:]))
			resp.Result = map[string]any{"protocolVersion": req.Params.ProtocolVersion, "capabilities": map[string]any{"tools": map[string]any{}},
				"serverInfo": map[string]any{"name": "plain-peer", "version": "1"}}
		case "server/discover":
			resp.Result = map[string]any{"supportedVersions": []string{"2026-07-28", "2025-11-25"}, "capabilities": map[string]any{"tools": map[string]any{}},
				"serverInfo": map[string]any{"name": "plain-peer", "version": "1"}}
		case "tools/list":
			resp.Result = map[string]any{"tools": []any{map[string]any{"name": "echo", "inputSchema": map[string]any{"type": "object"}}}}
		case "tools/call":
			if req.Params.Name != "echo" {
				resp.Error = map[string]any{"code": -32602, "message": "unknown tool"}
				break
			}
			resp.Result = map[string]any{"content": []text{{Type: "text", Text: req.Params.Arguments.Text}}}
		default:
			resp.Error = map[string]any{"code": -32601, "message": "Method not found"}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
	})
	return mux
}

func plainStream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"first\"}}\n\n")
	http.NewResponseController(w).Flush()
	t := time.NewTimer(StreamHold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	io.WriteString(w, "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"last\"}}\n\n")
}

// ReverseProxy is a bare httputil.ReverseProxy to upstream (scheme and host; the request's path is kept), with
// its own transport that keeps enough idle connections (the default keeps 2 per host, which halves throughput
// under load). It streams event streams as they arrive (ReverseProxy flushes text/event-stream at once).
func ReverseProxy(upstream *url.URL) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
		},
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        0,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}
