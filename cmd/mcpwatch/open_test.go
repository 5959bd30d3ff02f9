package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
)

func testExchanges() []*recorder.Exchange {
	t0 := time.Date(2026, 7, 28, 10, 0, 0, 0, time.UTC)
	mk := func(id uint64, method, url, body string, status int) *recorder.Exchange {
		return &recorder.Exchange{ID: id, Kind: recorder.Inbound, State: recorder.StateComplete, Start: t0.Add(time.Duration(id) * time.Second),
			Method: method, URL: url, ReqBody: recorder.Body{Data: []byte(body), Size: int64(len(body))}, Status: status,
			RPC: recorder.ParseRPC([]byte(body), recorder.FromClient, -1)}
	}
	return []*recorder.Exchange{
		mk(1, "POST", "/mcp", `{"jsonrpc":"2.0","id":0,"method":"initialize"}`, 200),
		mk(2, "POST", "/mcp", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 202),
		mk(3, "POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, 200),
	}
}

// TestOpenWithoutATerminal: `mcpwatch open` on a pipe prints the exchanges, one line each, and says what it
// skipped; a torn last line is tolerated.
func TestOpenWithoutATerminal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capture.jsonl")
	var b bytes.Buffer
	for _, ex := range testExchanges() {
		if err := json.NewEncoder(&b).Encode(ex); err != nil {
			t.Fatal(err)
		}
	}
	b.WriteString(`{"id":4,"kind":"inbound","meth`) // a crash mid-write
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"open", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], "tools/list") {
		t.Fatalf("stdout:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "the torn last line was skipped") {
		t.Fatalf("stderr: %s", stderr.String())
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"open", path, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--json: exit %d", code)
	}
	if n := strings.Count(stdout.String(), "\n"); n != 3 {
		t.Fatalf("--json: %d lines", n)
	}
	for _, bad := range [][]string{{"open"}, {"open", "a", "b"}} {
		if code := run(context.Background(), bad, &stdout, &stderr); code != 2 {
			t.Fatalf("%v: exit %d, want 2", bad, code)
		}
	}
	if code := run(context.Background(), []string{"open", filepath.Join(t.TempDir(), "none.jsonl")}, &stdout, &stderr); code != 1 {
		t.Fatalf("a missing file: exit %d, want 1", code)
	}
}

// TestOpenPrintsTheAnalysis: `mcpwatch open CAPTURE --no-tui` prints what `serve --no-tui` prints: each line with
// its stage, client and connection, and the findings (here: a Claude run whose initialize had no session id).
func TestOpenPrintsTheAnalysis(t *testing.T) {
	path := filepath.Join("..", "..", "recorder", "analysis", "testdata", "initialize-no-session-id.jsonl")
	res, err := recorder.LoadCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"open", path, "--no-tui"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var exLines, findings []string
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if strings.HasPrefix(l, "! ") {
			findings = append(findings, l)
		} else {
			exLines = append(exLines, l)
		}
	}
	if len(exLines) != len(res.Exchanges) {
		t.Fatalf("%d exchange lines for %d exchanges:\n%s", len(exLines), len(res.Exchanges), stdout.String())
	}
	// The HEAD probe's python-httpx names nobody alone (a shared signal) until Claude-User names the connection.
	for i, l := range exLines {
		if !strings.HasSuffix(l, " claude      c1") && !(i == 0 && strings.HasSuffix(l, " unknown     c1")) {
			t.Errorf("line without client and connection: %q", l)
		}
	}
	for _, stage := range []string{" challenge ", " resource-metadata ", " token ", " initialize "} {
		if !strings.Contains(stdout.String(), stage) {
			t.Errorf("no line of stage%s:\n%s", stage, stdout.String())
		}
	}
	if len(findings) != 1 || !strings.HasPrefix(findings[0], "! warn initialize-no-session-id [c1 #") || !strings.Contains(findings[0], "toggle omit-session-id") {
		t.Errorf("findings:\n%s", strings.Join(findings, "\n"))
	}

	stdout.Reset()
	if code := run(context.Background(), []string{"open", path, "--no-tui", "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--json: exit %d: %s", code, stderr.String())
	}
	var exchanges int
	var rules []string
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var ev headless.Event
		if err := dec.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		switch ev.Event {
		case headless.EventExchange:
			exchanges++
			if ev.Stage == "" || ev.Client != analysis.ClientClaude && !(exchanges == 1 && ev.Client == analysis.ClientUnknown) || ev.Connection != "c1" || ev.Exchange == nil {
				t.Errorf("exchange event %+v", ev)
			}
		case headless.EventFinding:
			rules = append(rules, ev.Finding.Rule)
		}
	}
	if exchanges != len(res.Exchanges) || !slices.Equal(rules, []string{"initialize-no-session-id"}) {
		t.Errorf("--json: %d exchange events, findings %v", exchanges, rules)
	}
}
