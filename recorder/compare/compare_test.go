package compare

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

func load(t *testing.T, name string) *Side {
	t.Helper()
	res, err := recorder.LoadCapture(filepath.Join("..", "analysis", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Load(res.Exchanges, analysis.Options{})
}

// A capture against itself differs in nothing, although session ids, codes and times are in it.
func TestSameCapture(t *testing.T) {
	for _, name := range []string{"sdk-go-oauth.jsonl", "claude-web-2026.jsonl", "mcp-remote-two-sessions.jsonl"} {
		var b bytes.Buffer
		if Write(&b, load(t, name), load(t, name)) {
			t.Errorf("%s differs from itself:\n%s", name, b.String())
		}
		if !strings.Contains(b.String(), "= connection c1") {
			t.Errorf("%s: no connection line:\n%s", name, b.String())
		}
	}
}

// Two runs of the same client (Claude, 2026-07-28), one against a server that refuses server/discover: the diff
// says where the stage sequences part, which exchange changed and how, and which findings came and went.
func TestDiscoverFallbackVersusNoFallback(t *testing.T) {
	var b bytes.Buffer
	if !Write(&b, load(t, "discover-fallback.jsonl"), load(t, "discover-no-fallback.jsonl")) {
		t.Fatal("no difference")
	}
	out := b.String()
	for _, want := range []string{
		"~ connection c1 (claude)",
		"stages A: probe → challenge",
		"stages B: challenge → resource-metadata",
		"POST /mcp initialize (200) only in A",
		"~ POST /mcp server/discover: status 200 → 401",
		"header WWW-Authenticate added",
		"jsonrpc error removed (was -32601)",
		"+ GET /oauth/mcp-oauth-client-metadata (200) only in B",
		"- finding discover-fallback",
		"+ finding discover-no-fallback",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

// A metadata document that lost its registration endpoint shows as that JSON member removed.
func TestMetadataMemberChange(t *testing.T) {
	var b bytes.Buffer
	Write(&b, load(t, "sdk-go-oauth.jsonl"), load(t, "auth-metadata-no-registration.jsonl"))
	if out := b.String(); !strings.Contains(out, "json registration_endpoint removed") {
		t.Errorf("no registration_endpoint change in:\n%s", out)
	}
}

func loadProbe(t *testing.T, name string) *Side {
	t.Helper()
	res, err := recorder.LoadCapture(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Load(res.Exchanges, analysis.Options{})
}

// Two real runs of `mcpwatch probe --as inspector,claude-code` against one `serve --auto-approve`: new client ids,
// codes, session ids and an ephemeral callback port, and nothing that matters changed.
func TestTwoRunsSame(t *testing.T) {
	var b bytes.Buffer
	if Write(&b, loadProbe(t, "probe-a.jsonl"), loadProbe(t, "probe-b.jsonl")) {
		t.Errorf("two healthy runs differ:\n%s", b.String())
	}
}

// The same probe against `serve --scenario token-exchange-failed` (another port): the token stage breaks.
func TestTokenFailsToday(t *testing.T) {
	var b bytes.Buffer
	if !Write(&b, loadProbe(t, "probe-a.jsonl"), loadProbe(t, "probe-token-fails.jsonl")) {
		t.Fatal("no difference")
	}
	out := b.String()
	for _, want := range []string{
		"~ connection c1 (inspector)",
		"~ connection c2 (claude-code)",
		"stages B: challenge → resource-metadata → auth-metadata → register → authorize → token\n",
		`~ POST /token: status 200 → 400; json error added: "invalid_grant"`,
		"- POST /mcp tools/call (200) only in A",
		"+ finding token-invalid-grant",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "oauth-authorization-server:") {
		t.Errorf("a loopback port change shown as a metadata change:\n%s", out)
	}
}

// Connections are paired by client: B without the Inspector's run pairs Claude Code with Claude Code (c2 of A
// with c1 of B), and the Inspector's connection is only in A.
func TestPairByClient(t *testing.T) {
	res, err := recorder.LoadCapture(filepath.Join("testdata", "probe-b.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var exs []*recorder.Exchange
	for _, ex := range res.Exchanges {
		if ex.Note("probe") != "inspector" {
			exs = append(exs, ex)
		}
	}
	var b bytes.Buffer
	if !Write(&b, loadProbe(t, "probe-a.jsonl"), Load(exs, analysis.Options{})) {
		t.Fatal("no difference")
	}
	out := b.String()
	if !strings.Contains(out, "- connection c1 (inspector) only in A") || !strings.Contains(out, "= connection c2 / c1 (claude-code): same 9 exchanges") {
		t.Errorf("pairing:\n%s", out)
	}
}
