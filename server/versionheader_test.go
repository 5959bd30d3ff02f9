package server

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/server/mcpserver"
)

// TestVersionHeaderQuirk: Claude's tools/list after a 2026-07-28 server/discover carries MCP-Protocol-Version:
// 2025-11-25 beside _meta 2026-07-28 (anthropics/claude-code#93290). serve answers it by _meta, the exchange notes
// what was accepted and keeps the header as sent, and the finding says so; under strict-version-header the same
// request gets 400 -32020, the exchange records the toggle, and the finding explains the refusal.
func TestVersionHeaderQuirk(t *testing.T) {
	srv, store, url := newTestServer(t)
	body := `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",` +
		`"io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"Anthropic/ClaudeAI","version":"1.0.0"}}}}`
	send := func() (int, string, *recorder.Exchange) {
		t.Helper()
		req, err := http.NewRequest("POST", url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-11-25")
		req.Header.Set("Mcp-Method", "tools/list")
		req.Header.Set("User-Agent", "Claude-User")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		n := len(store.Snapshot())
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
			if exs := store.Snapshot(); exs[n-1].State == recorder.StateComplete {
				return resp.StatusCode, string(b), exs[n-1]
			}
		}
		t.Fatal("the exchange was not recorded")
		return 0, "", nil
	}
	finding := func() analysis.Finding {
		t.Helper()
		rep := analysis.Analyze(store.Snapshot(), analysis.Options{})
		var out []analysis.Finding
		for _, f := range rep.Findings {
			if f.Rule == "protocol-version-header-meta-accepted" {
				out = append(out, f)
			}
			if f.Rule == "protocol-version-header-meta-mismatch" {
				t.Errorf("an accepted request gets the warning %+v", f)
			}
		}
		if len(out) != 1 {
			t.Fatalf("findings %+v, want one protocol-version-header-meta-accepted (info)", rep.Findings)
		}
		return out[0]
	}

	status, answer, ex := send()
	if status != 200 || !strings.Contains(answer, `"tools":[`) {
		t.Fatalf("accepted: HTTP %d %s", status, answer)
	}
	if got := ex.ReqHeaders.Get("MCP-Protocol-Version"); got != "2025-11-25" {
		t.Errorf("recorded header %q, want it as sent (2025-11-25)", got)
	}
	if n := ex.Note(mcpserver.NoteVersionHeader); !strings.Contains(n, "accepted MCP-Protocol-Version: 2025-11-25 with _meta protocolVersion 2026-07-28") ||
		!strings.Contains(n, "-32020") {
		t.Errorf("note %q", n)
	}
	if len(ex.Toggles) != 0 {
		t.Errorf("faults %+v without a toggle", ex.Toggles)
	}
	if f := finding(); !strings.Contains(f.Summary, "this server accepted it") || f.Toggle != "" || f.Severity != analysis.SeverityInfo {
		t.Errorf("finding %q (fault %q), want it to say the server accepted it", f.Summary, f.Toggle)
	}

	if err := srv.Toggles().Set("strict-version-header"); err != nil {
		t.Fatal(err)
	}
	status, answer, ex = send()
	if status != 400 || !strings.Contains(answer, `"code":-32020`) {
		t.Fatalf("strict: HTTP %d %s, want 400 -32020", status, answer)
	}
	if ex.Note(mcpserver.NoteVersionHeader) != "" {
		t.Errorf("strict: note %q on a refused request", ex.Note(mcpserver.NoteVersionHeader))
	}
	want := []recorder.ToggleChange{{Name: "strict-version-header", What: "request header MCP-Protocol-Version",
		Before: "2025-11-25 accepted beside _meta 2026-07-28: served as 2026-07-28",
		After:  "2025-11-25 refused beside _meta 2026-07-28: 400 -32020 HeaderMismatch"}}
	if !slices.Equal(ex.Toggles, want) {
		t.Errorf("strict: faults %+v, want %+v", ex.Toggles, want)
	}
	// The finding is the connection's (counted twice); the refused exchange names the toggle.
	rep := analysis.Analyze(store.Snapshot()[len(store.Snapshot())-1:], analysis.Options{})
	var f *analysis.Finding
	for i := range rep.Findings {
		if rep.Findings[i].Rule == "protocol-version-header-meta-mismatch" {
			f = &rep.Findings[i]
		}
	}
	if f == nil || !strings.Contains(f.Summary, "refused it with -32020") || f.Toggle != "strict-version-header" {
		t.Errorf("strict: finding %+v, want the refusal explained and blamed on strict-version-header", f)
	}
}
