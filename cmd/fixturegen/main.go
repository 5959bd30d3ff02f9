// Command fixturegen records and derives the capture fixtures of recorder/analysis (recorder/analysis/testdata/
// README.md tells how each one was made; record.sh there runs it). It lives outside recorder because it drives the
// real server (package server), which the recorder must not import. It is a development tool; the tests only read
// the files it wrote.
//
//	fixturegen drive -url URL -client go-legacy|go-2026|go-sse|go-sse-call-error   drive a running mcpwatch with the Go SDK client
//	fixturegen oauth -out DIR                                     record the OAuth handshakes (in-process server)
//	fixturegen derive -dir DIR                                    write the broken fixtures from the healthy ones
//	fixturegen show [-after D] FILE...                            print the analysis of captures
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fixturegen drive|oauth|derive [flags]")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "drive":
		fs := flag.NewFlagSet("drive", flag.ExitOnError)
		u := fs.String("url", "", "MCP endpoint URL (http://127.0.0.1:PORT/mcp)")
		client := fs.String("client", "go-legacy", "go-legacy, go-2026, go-sse or go-sse-call-error")
		fs.Parse(args)
		err = drive(ctx, *u, *client)
	case "oauth":
		fs := flag.NewFlagSet("oauth", flag.ExitOnError)
		out := fs.String("out", ".", "output directory")
		fs.Parse(args)
		err = recordOAuth(ctx, *out)
	case "show":
		fs := flag.NewFlagSet("show", flag.ExitOnError)
		after := fs.Duration("after", time.Minute, "judge absence rules this long after the last exchange")
		fs.Parse(args)
		for _, p := range fs.Args() {
			if err = show(os.Stdout, p, *after); err != nil {
				break
			}
		}
	case "derive":
		fs := flag.NewFlagSet("derive", flag.ExitOnError)
		dir := fs.String("dir", ".", "fixture directory")
		fs.Parse(args)
		err = derive(*dir)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixturegen:", err)
		os.Exit(1)
	}
}

// drive runs one Go SDK client session against a running server: connect, list and call, close.
func drive(ctx context.Context, endpoint, kind string) error {
	if endpoint == "" {
		return errors.New("-url is required")
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "fixturegen-go", Version: "1.0.0"}, nil)
	var (
		transport mcp.Transport
		opts      *mcp.ClientSessionOptions
	)
	hc := &http.Client{Timeout: 30 * time.Second}
	switch kind {
	case "go-legacy":
		transport = &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}
		opts = &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"}
	case "go-2026":
		transport = &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc}
	case "go-sse", "go-sse-call-error":
		transport = &mcp.SSEClientTransport{Endpoint: endpoint, HTTPClient: hc}
		opts = &mcp.ClientSessionOptions{ProtocolVersion: "2024-11-05"}
	default:
		return fmt.Errorf("unknown client %q", kind)
	}
	cs, err := client.Connect(ctx, transport, opts)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if kind == "go-sse-call-error" {
		return callError(ctx, cs)
	}
	return session(ctx, cs)
}

// callError lists tools, calls one that does not exist (the server answers with a JSON-RPC error, on the SSE
// stream in the 2024-11-05 transport), then a real one, and closes.
func callError(ctx context.Context, cs *mcp.ClientSession) error {
	if _, err := cs.ListTools(ctx, nil); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "no_such_tool", Arguments: map[string]any{}}); err == nil {
		return errors.New("tools/call no_such_tool: no error")
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}}); err != nil {
		return fmt.Errorf("tools/call echo: %w", err)
	}
	return cs.Close()
}

// session lists tools, prompts and resources, calls two tools, and closes.
func session(ctx context.Context, cs *mcp.ClientSession) error {
	if _, err := cs.ListTools(ctx, nil); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if _, err := cs.ListPrompts(ctx, nil); err != nil {
		return fmt.Errorf("prompts/list: %w", err)
	}
	if _, err := cs.ListResources(ctx, nil); err != nil {
		return fmt.Errorf("resources/list: %w", err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "best_person_looker_upper", Arguments: map[string]any{"startsWith": "gr"}})
	if err != nil {
		return fmt.Errorf("tools/call: %w", err)
	}
	if res.IsError {
		return fmt.Errorf("tools/call: tool error %v", res.Content)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}}); err != nil {
		return fmt.Errorf("tools/call echo: %w", err)
	}
	time.Sleep(150 * time.Millisecond) // let the standalone GET stream open, as in a real session
	return cs.Close()
}
