package bugreport

import (
	"bytes"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
)

func load(t *testing.T, path string) []*recorder.Exchange {
	t.Helper()
	res, err := recorder.LoadCapture(path)
	if err != nil {
		t.Fatal(err)
	}
	return res.Exchanges
}

// probeTokenFails is a real run: `mcpwatch probe --as inspector,claude-code --auto` against
// `mcpwatch serve --auto-approve --scenario token-exchange-failed` (c1 the Inspector, c2 Claude Code).
var probeTokenFails = filepath.Join("..", "compare", "testdata", "probe-token-fails.jsonl")

// authorizeParam reads a parameter of the n-th authorization request of a capture.
func authorizeParam(t *testing.T, exs []*recorder.Exchange, n int, name string) string {
	t.Helper()
	for _, ex := range exs {
		if ex.Path() == "/authorize" {
			if n == 0 {
				u, err := url.Parse(ex.URL)
				if err != nil {
					t.Fatal(err)
				}
				return u.Query().Get(name)
			}
			n--
		}
	}
	t.Fatalf("no authorization request %d", n)
	return ""
}

func TestReportOfFailedToken(t *testing.T) {
	exs := load(t, probeTokenFails)
	// The error page of the second connection (Claude Code) carries the authorization request's state.
	state := authorizeParam(t, exs, 1, "state")
	ref := "https://claude.ai/settings/connectors?step=end_error&flow_id=ofid_a1b2c3&error_code=mcp_token_exchange_failed&state=" + url.QueryEscape(state)
	var b bytes.Buffer
	if err := Write(&b, exs, Options{Refs: []string{ref, "https://claude.ai/x?flow_id=ofid_zzz"}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"# MCP connector bug report",
		"connection `c1` of 2",
		"| Server URL | http://127.0.0.1:4556/mcp |",
		"| Where it fails | token (exchange #6,",
		"400 invalid_grant",
		"| Registration type | dynamic client registration (oauth_dcr) |",
		"| Started (UTC) | 2026-",
		"| Failing request (UTC) | ",
		"`ofid_zzz` (given; nothing in the capture names it)",
		"| Reference ids of other connections | `ofid_a1b2c3` → c2, `error_code=mcp_token_exchange_failed` → c2 |",
		"- **error** `token-invalid-grant`",
		"## Transcript",
		"### MCP handshake transcript", // the export's headings one level down
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// Redacted: the authorization code and the PKCE verifier of the run are nowhere in the report.
	code := ""
	for _, ex := range exs {
		if ex.Path() == "/token" {
			f, _ := url.ParseQuery(string(ex.ReqBody.Data))
			code = f.Get("code")
			break
		}
	}
	if code == "" || strings.Contains(out, code) {
		t.Errorf("the authorization code %q is in the report (or the capture has none)", code)
	}

	// Asked for c2, the ids matched by state are its own, with the authorization request they were matched on.
	b.Reset()
	if err := Write(&b, exs, Options{Connection: "c2", Refs: []string{ref}}); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "| Reference ids | `ofid_a1b2c3` (exchange #11), `error_code=mcp_token_exchange_failed` (exchange #11) |") ||
		!strings.Contains(out, "| Client | claude-code") {
		t.Errorf("c2's report:\n%s", out)
	}
}

func TestReportOfCIMDRun(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, load(t, filepath.Join("..", "analysis", "testdata", "claude-web-2026.jsonl")), Options{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| Registration type | client ID metadata document (oauth_cimd): https://claude.ai/oauth/mcp-oauth-client-metadata |",
		"| Transport | Streamable HTTP, stateless (server/discover), protocol 2026-07-28 |",
		"| Where it fails | no failure seen; the last stage reached is",
		"None: the analysis saw nothing wrong",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestReportUnknownConnection(t *testing.T) {
	err := Write(&bytes.Buffer{}, load(t, probeTokenFails), Options{Connection: "c9"})
	if !errors.Is(err, errNoConnection) || !strings.Contains(err.Error(), "c1, c2") {
		t.Errorf("err = %v", err)
	}
}
