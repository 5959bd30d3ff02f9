package e2e

import (
	"encoding/json"
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

	// The install line names the module go.mod declares.
	readme, _ := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	gomod, _ := os.ReadFile(filepath.Join(repoRoot(), "go.mod"))
	module, _, _ := strings.Cut(strings.TrimPrefix(string(gomod), "module "), "\n")
	if install := "go install " + module + "/cmd/mcpwatch@latest"; !strings.Contains(string(readme), install) {
		t.Errorf("README does not say how to install: %q", install)
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

	// The default server is protected: an initialize without a token is challenged to run OAuth, and the
	// challenge points at the resource metadata, which names this server as the authorization server.
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
	resp.Body.Close()
	prm := srv.URL + "/.well-known/oauth-protected-resource/mcp"
	if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer resource_metadata="`+prm+`"`; resp.StatusCode != http.StatusUnauthorized || got != want {
		t.Errorf("initialize without a token: HTTP %d, WWW-Authenticate %q, want 401 and %q", resp.StatusCode, got, want)
	}
	resp, err = client.Get(prm)
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	err = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if err != nil || md.Resource != srv.URL+"/mcp" || len(md.AuthorizationServers) != 1 || md.AuthorizationServers[0] != srv.URL {
		t.Errorf("resource metadata: %v %+v", err, md)
	}

	srv.Stop()
	lines := HeadlessLines(t, srv.Stdout())
	if len(lines) != 2 || lines[0].RPC != "initialize" || lines[0].Status != "401" || lines[1].Status != "200" {
		t.Errorf("headless stdout = %q, want the challenged initialize and the metadata fetch", srv.Stdout())
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
