package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestREADMEFirstScreen runs the README's first command as a new user would (`go run ./cmd/mcpwatch`, from the
// repository root, stdout not a terminal; only `--addr 127.0.0.1:0` is appended, as the default port may be
// taken), checks that it serves MCP on /mcp and exits cleanly on SIGINT, and checks that the second command is
// the test command, script/test.
func TestREADMEFirstScreen(t *testing.T) {
	cmds := readmeFirstCommands(t)
	if len(cmds) != 2 {
		t.Fatalf("README's first code block has %d commands, want 2 (run the tool; run the tests): %q", len(cmds), cmds)
	}
	if cmds[1] != "script/test" {
		t.Errorf("README's second command is %q, want script/test", cmds[1])
	}
	if fi, err := os.Stat(filepath.Join(repoRoot(), "script", "test")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("script/test is missing or not executable: %v", err)
	}

	run := strings.Fields(cmds[0])
	if len(run) < 3 || run[0] != "go" || run[1] != "run" || run[2] != "./cmd/mcpwatch" {
		t.Fatalf("README's first command is %q, want `go run ./cmd/mcpwatch ...`", cmds[0])
	}
	gobin, err := goCommand()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gobin, WithAddr(run[1:])...)
	cmd.Dir = repoRoot()
	srv := StartCmd(t, cmd)
	srv.InterruptChild = true // Ctrl-C on `go run` makes go exit 1 whatever mcpwatch does; judge mcpwatch

	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"readme-test","version":"1"}}}`
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/mcp", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg := firstRPCMessage(t, resp)
	var init struct {
		Result struct {
			ProtocolVersion string
			ServerInfo      struct{ Name string }
		}
	}
	if err := json.Unmarshal(msg, &init); err != nil {
		t.Fatalf("initialize answer %s: %v", msg, err)
	}
	if resp.StatusCode != http.StatusOK || init.Result.ServerInfo.Name != "mcpwatch" || init.Result.ProtocolVersion != "2025-11-25" {
		t.Errorf("initialize: HTTP %d, %s", resp.StatusCode, msg)
	}
	if resp.Header.Get("Mcp-Session-Id") == "" {
		t.Errorf("initialize answer has no Mcp-Session-Id")
	}
	resp.Body.Close()

	srv.Stop()
	lines := HeadlessLines(t, srv.Stdout())
	if len(lines) != 1 || lines[0].RPC != "initialize" || lines[0].Status != "200" {
		t.Errorf("headless stdout = %q, want one initialize line", srv.Stdout())
	}
}

// readmeFirstCommands returns the commands of README.md's first fenced code block, comments stripped.
func readmeFirstCommands(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			if in {
				return cmds
			}
			in = true
			continue
		}
		if !in {
			continue
		}
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			cmds = append(cmds, line)
		}
	}
	t.Fatalf("README.md has no complete fenced code block")
	return nil
}

// firstRPCMessage reads the first JSON-RPC message of a response, JSON or SSE (the first `data:` event).
func firstRPCMessage(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data:"); ok && strings.TrimSpace(data) != "" {
			return []byte(strings.TrimSpace(data))
		}
	}
	t.Fatalf("SSE answer without a data event (HTTP %d): %v", resp.StatusCode, sc.Err())
	return nil
}
