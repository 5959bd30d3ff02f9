package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Secrets sent to the server during the run: no export may contain them unless --no-redact.
const (
	e2eBearer = "e2e-SECRET-bearer-token-1"
	e2eCode   = "e2e-SECRET-code-42"
)

// exportDriveHandshake runs a real MCP client (the Go SDK's) through a session, plus a few raw requests with
// secrets, a binary body and a 404.
func exportDriveHandshake(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	raw := func(ctx context.Context, method, path string, body []byte, headers ...string) http.Header {
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	// A legacy-era session by hand (the SDK client below speaks the 2026 era), with a bearer token.
	jsonHdrs := []string{"Content-Type", "application/json", "Accept", "application/json, text/event-stream", "Authorization", "Bearer " + e2eBearer}
	h := raw(ctx, "POST", "/mcp", []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e-raw","version":"1"}}}`), jsonHdrs...)
	sid := h.Get("Mcp-Session-Id")
	if sid == "" {
		t.Fatal("initialize: no Mcp-Session-Id")
	}
	session := append(jsonHdrs, "Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-06-18")
	raw(ctx, "POST", "/mcp", []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), session...)
	// The GET stream, cut by the client after a moment.
	sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	req, _ := http.NewRequestWithContext(sctx, "GET", base+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	scancel()
	raw(ctx, "DELETE", "/mcp", nil, session...)
	raw(ctx, "GET", "/?code="+e2eCode+"&state=keep-this-state", nil, "Cookie", "sid="+e2eBearer)
	raw(ctx, "POST", "/upload", []byte{0x89, 'P', 'N', 'G', 0, 0xff, 0xfe}, "Content-Type", "image/png")

	client := mcp.NewClient(&mcp.Implementation{Name: "mcpwatch-e2e-export", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) == 0 {
		t.Fatalf("tools/list: %v %v", tools, err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "it's $HOME and `id`"}})
	if err != nil || res.IsError {
		t.Fatalf("tools/call: %+v %v", res, err)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestExportedHARValidatesAndImports(t *testing.T) {
	capture := filepath.Join(t.TempDir(), "run.jsonl")
	srv := Start(t, "serve", "--no-auth", "--capture", capture)
	exportDriveHandshake(t, srv.URL)
	srv.Stop()

	res, err := recorder.LoadCapture(capture)
	if err != nil {
		t.Fatal(err)
	}
	if res.TornTail || len(res.Skipped) > 0 || len(res.Exchanges) < 8 {
		t.Fatalf("capture: torn %v skipped %v, %d exchanges", res.TornTail, res.Skipped, len(res.Exchanges))
	}

	dir := t.TempDir()
	harPath := filepath.Join(dir, "run.har")
	if r := Run(t, time.Minute, "export", capture, "--format", "har", "--out", harPath); r.Code != 0 {
		t.Fatalf("export: exit %d\n%s", r.Code, r.Stderr)
	}

	v := Node(t, time.Minute, "validate-har.mjs", harPath)
	var summary struct {
		Entries  int      `json:"entries"`
		Stages   []string `json:"stages"`
		Problems []string `json:"problems"`
	}
	if jerr := json.Unmarshal([]byte(v.Stdout), &summary); jerr != nil {
		t.Fatalf("validator output %q (exit %d, %v)\n%s", v.Stdout, v.Code, jerr, v.Stderr)
	}
	if v.Code != 0 || len(summary.Problems) > 0 {
		t.Fatalf("the HAR does not validate (exit %d):\n%s", v.Code, strings.Join(summary.Problems, "\n"))
	}
	if summary.Entries != len(res.Exchanges) {
		t.Errorf("%d HAR entries for %d captured exchanges", summary.Entries, len(res.Exchanges))
	}
	for _, st := range []string{"initialize", "initialized", "stream", "terminate", "discover", "list", "call"} {
		if !slices.Contains(summary.Stages, st) {
			t.Errorf("no entry with stage %q: %v", st, summary.Stages)
		}
	}

	// Every format exports the real capture, without the secrets the run sent.
	for _, f := range []string{"har", "jsonl", "markdown", "curl"} {
		r := Run(t, time.Minute, "export", capture, "--format", f)
		stdout := r.Stdout
		if r.Code != 0 || stdout == "" {
			t.Errorf("%s: exit %d\n%s", f, r.Code, r.Stderr)
			continue
		}
		for _, s := range []string{e2eBearer, e2eCode} {
			if strings.Contains(stdout, s) {
				t.Errorf("%s export holds the secret %q", f, s)
			}
		}
		if !strings.Contains(stdout, "keep-this-state") {
			t.Errorf("%s export lost the (non-secret) state", f)
		}
	}
	b, _ := os.ReadFile(harPath)
	if !strings.Contains(string(b), `"encoding": "base64"`) && !strings.Contains(string(b), `"_encoding": "base64"`) {
		t.Error("the binary body is not base64 in the HAR")
	}
}

// The golden HARs of recorder/export (the fixture handshake, with the placeholder analysis and with a full one:
// pages, findings, connections) pass the same checks.
func TestGoldenHARsValidateAndImport(t *testing.T) {
	golden, _ := filepath.Glob(filepath.Join(repoRoot(), "recorder", "export", "testdata", "golden", "*.har"))
	if len(golden) < 2 {
		t.Fatalf("golden HARs: %v", golden)
	}
	for _, path := range golden {
		if r := Node(t, time.Minute, "validate-har.mjs", path); r.Code != 0 {
			t.Errorf("%s: exit %d\n%s%s", filepath.Base(path), r.Code, r.Stdout, r.Stderr)
		}
	}
}
