package loadgen

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
)

// Session is one client's connection to the MCP endpoint: the legacy era's Mcp-Session-Id (empty in the 2026
// era), the bearer token (empty without auth) and the next JSON-RPC id.
type Session struct {
	URL     string
	Era     Era
	ID      string // Mcp-Session-Id
	Token   string
	Version string // the negotiated protocol version
	nextID  int

	callHeader http.Header // tools/call's headers, built once (the token and session do not change during a call loop)
	callTool   string
	buf        []byte
}

func (s *Session) id() int { s.nextID++; return s.nextID }

// meta2026 is the per-request _meta of the 2026-07-28 era (SEP-2575).
var meta2026 = json.RawMessage(`{"io.modelcontextprotocol/protocolVersion":"` + version2026 +
	`","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"mcpload","version":"1"}}`)

func (c *Client) mcpHeader(s *Session, method, name string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}}
	if s.Token != "" {
		h["Authorization"] = []string{"Bearer " + s.Token}
	}
	switch s.Era {
	case Era2026:
		h["Mcp-Protocol-Version"] = []string{version2026}
		h["Mcp-Method"] = []string{method}
		if name != "" {
			h["Mcp-Name"] = []string{name}
		}
	default:
		if s.ID != "" {
			h["Mcp-Session-Id"] = []string{s.ID}
		}
		if s.Version != "" {
			h["Mcp-Protocol-Version"] = []string{s.Version}
		}
	}
	return h
}

// body builds a JSON-RPC request (id > 0) or notification (id 0); in the 2026 era params carry _meta.
func (s *Session) body(id int, method string, params map[string]any) []byte {
	if s.Era == Era2026 {
		if params == nil {
			params = map[string]any{}
		}
		params["_meta"] = meta2026
	}
	m := map[string]any{"jsonrpc": "2.0", "method": method}
	if id > 0 {
		m["id"] = id
	}
	if params != nil {
		m["params"] = params
	}
	b, _ := json.Marshal(m)
	return b
}

// initParams are a legacy-era initialize's params, the same JSON that encoding them from maps gave.
var initParams = []byte(`{"capabilities":{},"clientInfo":{"name":"mcpload","version":"1"},"protocolVersion":"` + legacyVersion + `"}`)

// initializedBody is the legacy era's notifications/initialized.
var initializedBody = []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)

// initMessage is a JSON-RPC response carrying an InitializeResult, decoded in one pass.
type initMessage struct {
	rpcMessageHead
	Result *struct {
		ProtocolVersion string `json:"protocolVersion"`
		ServerInfo      struct {
			Name string `json:"name"`
		} `json:"serverInfo"`
		Capabilities struct {
			Tools *json.RawMessage `json:"tools"`
		} `json:"capabilities"`
	} `json:"result"`
}

// rpc sends a request and returns its checked result.
func (c *Client) rpc(ctx context.Context, s *Session, method, name string, params map[string]any) (*response, json.RawMessage, error) {
	id := s.id()
	r, err := c.do(ctx, method, http.MethodPost, s.URL, c.mcpHeader(s, method, name), s.body(id, method, params))
	if err != nil {
		return nil, nil, err
	}
	res, err := rpcResult(method, r, id)
	return r, res, err
}

// Open starts a session: in the legacy era initialize (which must answer with an Mcp-Session-Id, the protocol
// version asked for, serverInfo and the tools capability) and notifications/initialized (202); in the 2026 era
// server/discover (which must list 2026-07-28).
func (c *Client) Open(ctx context.Context, mcpURL string, era Era, token string) (*Session, error) {
	s := &Session{URL: mcpURL, Era: era, Token: token}
	if era == Era2026 {
		r, res, err := c.rpc(ctx, s, "server/discover", "", nil)
		if err != nil {
			return nil, err
		}
		var d struct {
			SupportedVersions []string `json:"supportedVersions"`
		}
		if json.Unmarshal(res, &d) != nil || !slices.Contains(d.SupportedVersions, version2026) {
			return nil, stepErr("server/discover", r.status, r.body, "supportedVersions does not list %s", version2026)
		}
		s.Version = version2026
		return s, nil
	}
	// initialize and notifications/initialized are appended and decoded in one pass, as tools/call is: setup mode
	// measures whole sessions, and the load generator must stay far faster than the servers.
	id := s.id()
	s.buf = append(append(strconv.AppendInt(append(s.buf[:0], `{"id":`...), int64(id), 10), `,"jsonrpc":"2.0","method":"initialize","params":`...), initParams...)
	s.buf = append(s.buf, '}')
	r, err := c.do(ctx, "initialize", http.MethodPost, s.URL, c.mcpHeader(s, "initialize", ""), s.buf)
	if err != nil {
		return nil, err
	}
	var m initMessage
	if err := rpcAnswer("initialize", r, id, &m, func() bool { return m.Result != nil }); err != nil {
		return nil, err
	}
	init := m.Result
	switch {
	case init.ProtocolVersion != legacyVersion:
		return nil, stepErr("initialize", r.status, r.body, "protocolVersion %q, want %s", init.ProtocolVersion, legacyVersion)
	case init.ServerInfo.Name == "":
		return nil, stepErr("initialize", r.status, r.body, "no serverInfo.name")
	case init.Capabilities.Tools == nil:
		return nil, stepErr("initialize", r.status, r.body, "no tools capability")
	case r.header.Get("Mcp-Session-Id") == "":
		return nil, stepErr("initialize", r.status, r.body, "no Mcp-Session-Id header")
	}
	s.ID, s.Version = r.header.Get("Mcp-Session-Id"), init.ProtocolVersion
	r, err = c.do(ctx, "notifications/initialized", http.MethodPost, s.URL, c.mcpHeader(s, "notifications/initialized", ""), initializedBody)
	if err != nil {
		return nil, err
	}
	if err := expectStatus("notifications/initialized", r, http.StatusAccepted); err != nil {
		return nil, err
	}
	return s, nil
}

// ListTools calls tools/list and checks that the tool is listed.
func (c *Client) ListTools(ctx context.Context, s *Session, tool string) error {
	r, res, err := c.rpc(ctx, s, "tools/list", "", map[string]any{})
	if err != nil {
		return err
	}
	var l struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if json.Unmarshal(res, &l) != nil {
		return stepErr("tools/list", r.status, r.body, "result is not a ListToolsResult")
	}
	for _, t := range l.Tools {
		if t.Name == tool {
			return nil
		}
	}
	return stepErr("tools/list", r.status, r.body, "tool %q is not listed", tool)
}

// CallEcho calls the echo tool with text and checks that it answers with the same text. It is the measured loop's
// operation, so it is light: the body is appended, not marshalled from maps; the headers are built once per
// session; the answer is decoded in one pass.
func (c *Client) CallEcho(ctx context.Context, s *Session, tool, text string) error {
	id := s.id()
	if s.callHeader == nil || s.callTool != tool {
		s.callHeader, s.callTool = c.mcpHeader(s, "tools/call", tool), tool
	}
	s.buf = s.callBody(s.buf[:0], id, tool, text)
	r, err := c.do(ctx, "tools/call", http.MethodPost, s.URL, s.callHeader, s.buf)
	if err != nil {
		return err
	}
	var m callMessage
	if err := rpcAnswer("tools/call", r, id, &m, func() bool { return m.Result != nil }); err != nil {
		return err
	}
	return checkToolAnswer("tools/call", r, m.Result, text)
}

// callBody appends a tools/call request of the echo tool, the same JSON body encodes.
func (s *Session) callBody(b []byte, id int, tool, text string) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, `,"jsonrpc":"2.0","method":"tools/call","params":{`...)
	if s.Era == Era2026 {
		b = append(b, `"_meta":`...)
		b = append(b, meta2026...)
		b = append(b, ',')
	}
	b = append(b, `"arguments":{"text":`...)
	b = appendJSONString(b, text)
	b = append(b, `},"name":`...)
	b = appendJSONString(b, tool)
	return append(b, "}}"...)
}

// appendJSONString appends s as a JSON string: printable ASCII without quotes or backslashes as it is (the load
// generator's texts), anything else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Close ends a legacy session with DELETE (200 or 204; 405 from a server that does not let clients end sessions).
func (c *Client) Close(ctx context.Context, s *Session) error {
	if s.Era == Era2026 || s.ID == "" {
		return nil
	}
	r, err := c.do(ctx, "DELETE", http.MethodDelete, s.URL, c.mcpHeader(s, "", ""), nil)
	if err != nil {
		return err
	}
	return expectStatus("DELETE", r, http.StatusOK, http.StatusNoContent, http.StatusAccepted, http.StatusMethodNotAllowed)
}

func echoText(worker, n int) string {
	return "mcpload " + strconv.Itoa(worker) + "/" + strconv.Itoa(n)
}
