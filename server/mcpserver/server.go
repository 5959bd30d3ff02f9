// Package mcpserver builds the embedded MCP server on the official Go SDK: the default tools, prompt and resource,
// the hook optional fixture sets (package conformance) plug into, and the HTTP handlers that serve both protocol eras on one endpoint.
package mcpserver

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpwatch/mcpwatch/internal/version"
)

// Options configure the embedded server.
type Options struct {
	// Fixtures, when set, adds a fixture set (--fixtures; the conformance suite's is in package conformance).
	Fixtures *FixtureSet
	// Logger receives the SDK's own warnings and errors (never stdout while the TUI runs); its Info lines are
	// dropped (sdkLogger).
	Logger *slog.Logger
}

// New returns the MCP server with the default tools, prompt and resource, plus a fixture set when asked. The
// returned stop function ends background work (e.g. the conformance suite's watched resource ticker).
func New(opts Options) (*mcp.Server, func()) {
	sopts := &mcp.ServerOptions{
		Instructions: "mcpwatch's embedded MCP server. Try the best_person_looker_upper tool, or whoami to see what the server knows of you.",
		Logger:       sdkLogger(opts.Logger),
		// Declared explicitly so that every era sees the same capabilities; completions and subscribe are
		// added by the conformance fixtures' handlers.
		Capabilities: &mcp.ServerCapabilities{
			//lint:ignore SA1019 logging is deprecated from 2026-07-28 (SEP-2577), but the legacy era's clients and the conformance suite still use it
			Logging:   &mcp.LoggingCapabilities{},
			Tools:     &mcp.ToolCapabilities{ListChanged: true},
			Prompts:   &mcp.PromptCapabilities{ListChanged: true},
			Resources: &mcp.ResourceCapabilities{ListChanged: true},
		},
	}
	if opts.Fixtures != nil && opts.Fixtures.Options != nil {
		opts.Fixtures.Options(sopts)
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpwatch", Title: "mcpwatch embedded server", Version: version.String()}, sopts)
	addDefaults(s)
	stop := func() {}
	if opts.Fixtures != nil && opts.Fixtures.Add != nil {
		stop = opts.Fixtures.Add(s)
	}
	return s, stop
}

// sdkLogger is l for the SDK: its warnings and errors only. The SDK logs at Info for every session it connects
// and disconnects ("server connecting", "server session connected", "session initialized", ...), and the
// stateless handler connects an ephemeral session for every request: three lines in the log file per 2026-era
// call, formatted and written (a system call each) — 20 µs of `serve`'s CPU per call, more than all of mcpwatch's
// own middleware, for lines that say nothing the recorder does not show. nil stays nil (the SDK discards).
func sdkLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	return slog.New(minLevel{l.Handler(), slog.LevelWarn})
}

// minLevel passes on to its handler the records at min or above.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(as), h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.min}
}

// A FixtureSet is the hook a set of fixtures (--fixtures) plugs into the server through: it can adjust the server's
// options before the server is made (capabilities, completion and subscription handlers), then add its tools,
// resources and prompts. The fixtures live in packages of their own (package conformance).
type FixtureSet struct {
	// Options, when set, adjusts the server's options.
	Options func(*mcp.ServerOptions)
	// Add registers the fixtures on the server; the function it returns ends their background work.
	Add func(*mcp.Server) func()
}

// people is the list the seed's tool answers from.
var people = []string{"Ada Lovelace", "Alan Turing", "Barbara Liskov", "Claude Shannon", "Donald Knuth", "Edsger Dijkstra",
	"Frances Allen", "Grace Hopper", "Hedy Lamarr", "John McCarthy", "Ken Thompson", "Leslie Lamport", "Margaret Hamilton",
	"Niklaus Wirth", "Radia Perlman", "Rob Pike", "Tim Berners-Lee", "Vint Cerf"}

// bestPerson answers the seed's question: the best person whose name starts with prefix (case-insensitive).
func bestPerson(prefix string) string {
	p := strings.ToLower(strings.TrimSpace(prefix))
	for _, name := range people {
		if strings.HasPrefix(strings.ToLower(name), p) {
			return name
		}
	}
	return ""
}

type lookerUpperIn struct {
	StartsWith string `json:"startsWith" jsonschema:"the first letters of the person's name"`
}

type echoIn struct {
	Text string `json:"text" jsonschema:"the text to echo back"`
}

// whoAmI is what the server knows of the caller, as whoami reports it.
type whoAmI struct {
	ClientName      string    `json:"clientName,omitempty"`
	ClientVersion   string    `json:"clientVersion,omitempty"`
	ProtocolVersion string    `json:"protocolVersion,omitempty"`
	Mode            string    `json:"mode"`      // "session" or "stateless"
	Transport       string    `json:"transport"` // "streamable-http" or "sse" (the 2024-11-05 HTTP+SSE transport)
	SessionID       string    `json:"sessionId,omitempty"`
	Authenticated   bool      `json:"authenticated"`
	ClientID        string    `json:"clientId,omitempty"`
	Scopes          []string  `json:"scopes,omitempty"`
	Resource        string    `json:"resource,omitempty"`
	TokenExpiry     time.Time `json:"tokenExpiry,omitzero"`
}

func addDefaults(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{
		Name:        "best_person_looker_upper",
		Title:       "Best Person Looker-upper",
		Description: "Helps the agent identify who the best person is.",
	}, func(_ context.Context, _ *mcp.CallToolRequest, in lookerUpperIn) (*mcp.CallToolResult, any, error) {
		name := bestPerson(in.StartsWith)
		text := fmt.Sprintf("The best person whose name starts with %q is %s.", in.StartsWith, name)
		if name == "" {
			text = fmt.Sprintf("Nobody on the list has a name starting with %q.", in.StartsWith)
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
	})

	mcp.AddTool(s, &mcp.Tool{
		Name:        "echo",
		Title:       "Echo",
		Description: "Returns the text it is given.",
	}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})

	mcp.AddTool(s, &mcp.Tool{
		Name:        "whoami",
		Title:       "Who am I",
		Description: "Reports what the server knows of the caller: client, protocol version, session or stateless, and the OAuth grant behind the token.",
	}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoAmI, error) {
		w := caller(ctx, req)
		return nil, w, nil
	})

	s.AddPrompt(&mcp.Prompt{
		Name:        "best_person",
		Title:       "Find the best person",
		Description: "Asks the model to find the best person whose name starts with some letters.",
		Arguments:   []*mcp.PromptArgument{{Name: "startsWith", Description: "the first letters of the name", Required: true}},
	}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		prefix := req.Params.Arguments["startsWith"]
		return &mcp.GetPromptResult{
			Description: "Find the best person",
			Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{
				Text: fmt.Sprintf("Who is the best person whose name starts with %q? Use the best_person_looker_upper tool.", prefix)}}},
		}, nil
	})

	s.AddResource(&mcp.Resource{
		URI:         "mcpwatch://people",
		Name:        "people",
		Title:       "The list of people",
		Description: "Everyone the Best Person Looker-upper knows, one per line.",
		MIMEType:    "text/plain",
	}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
			URI: req.Params.URI, MIMEType: "text/plain", Text: strings.Join(people, "\n") + "\n"}}}, nil
	})
}

// caller reads what the server knows of the caller of a request; ctx is the handler's.
func caller(ctx context.Context, req *mcp.CallToolRequest) whoAmI {
	w := whoAmI{Mode: "stateless", Transport: "streamable-http", ProtocolVersion: req.ProtocolVersion()}
	if ci := req.ClientInfo(); ci != nil {
		w.ClientName, w.ClientVersion = ci.Name, ci.Version
	}
	if req.Session != nil && req.Session.ID() != "" {
		w.Mode, w.SessionID = "session", req.Session.ID()
	}
	if sseSessionID(ctx) != "" { // the 2024-11-05 HTTP+SSE transport: its session id is the endpoint's ?sessionid=
		w.Transport = "sse"
	}
	if req.Extra != nil && req.Extra.TokenInfo != nil {
		ti := req.Extra.TokenInfo
		w.Authenticated = true
		w.Scopes = ti.Scopes
		w.TokenExpiry = ti.Expiration
		if v, ok := ti.Extra["client_id"].(string); ok {
			w.ClientID = v
		}
		if v, ok := ti.Extra["resource"].(string); ok {
			w.Resource = v
		}
	}
	return w
}

// ChangedToolName is the tool the tools-changed toggle adds.
const ChangedToolName = "changed_tool"

// AddChangedTool adds the tools-changed toggle's tool; the SDK then notifies every session with
// notifications/tools/list_changed. s.RemoveTools(ChangedToolName) takes it away (and notifies again).
func AddChangedTool(s *mcp.Server) {
	mcp.AddTool(s, &mcp.Tool{
		Name:        ChangedToolName,
		Title:       "Changed tool",
		Description: "Added by the tools-changed toggle: a client that refetches tools on notifications/tools/list_changed shows it.",
	}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "The tool list changed while you were connected."}}}, nil, nil
	})
}
