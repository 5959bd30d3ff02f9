package export

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// The analysis on main is a placeholder (stages from paths, no clients, no findings). These tests give the
// writers what the full analysis will say of the fixture — every stage, the client, a connection and findings at
// each level — so that the rendering of all of it is pinned before it lands.

var fixtureStages = []analysis.Stage{
	analysis.StageChallenge, analysis.StageChallenge, analysis.StageResourceMetadata, analysis.StageAuthMetadata,
	analysis.StageRegister, analysis.StageAuthorize, analysis.StageConsent, analysis.StageToken,
	analysis.StageInitialize, analysis.StageInitialized, analysis.StageList, analysis.StageCall, analysis.StageCall,
	analysis.StageStream, analysis.StageRefresh, analysis.StageRevoke, analysis.StageClientMetadata,
	analysis.StageOther, analysis.StageOther, analysis.StageTerminate,
}

func analysedDoc(t *testing.T, opts Options) *doc {
	t.Helper()
	exs := loadFixture(t)
	d := prepare(exs, opts)
	if len(fixtureStages) != len(d.exs) {
		t.Fatalf("%d stages for %d exchanges", len(fixtureStages), len(d.exs))
	}
	conn := &analysis.Connection{
		ID: "c1", Client: analysis.ClientClaude, ClientName: "claude-ai 0.1.0", UserAgent: "Claude-User",
		Era: "legacy", Protocol: "2025-06-18", ClientID: "client-claude-0001", SessionID: "5THH7ZASVVE65BFDLUNDI4LJA2",
		Start: d.exs[0].Start, Last: d.exs[len(d.exs)-1].Start,
	}
	for i, ex := range d.exs {
		info := analysis.Info{Stage: fixtureStages[i], Client: analysis.ClientClaude, Connection: "c1"}
		if ex.Kind == recorder.Outbound {
			info = analysis.Info{Stage: fixtureStages[i], Client: analysis.ClientUnknown}
		} else {
			conn.Exchanges = append(conn.Exchanges, ex.ID)
		}
		d.info[ex.ID] = info
	}
	d.info[1] = analysis.Info{Stage: analysis.StageChallenge, Client: analysis.ClientClaude, Connection: "c1", Findings: []analysis.Finding{{
		Rule: "challenge-metadata-path", Severity: analysis.SeverityInfo, ExchangeID: 1, Connection: "c1",
		Summary: "The challenge names path-suffixed resource metadata (/.well-known/oauth-protected-resource/mcp).",
		Fix:     "Nothing to do: clients that ignore the header try both locations.", Source: "RFC 9728 §3.1",
	}}}
	conn.Findings = []analysis.Finding{{
		Rule: "token-not-refreshed", Severity: analysis.SeverityWarn, Connection: "c1",
		// A finding that quotes a secret: the export must scrub it.
		Summary: "The access token at-SECRET-token-0001 was still used after the refresh.",
		Fix:     "Send the new access token after a refresh.", Source: "RFC 6749 §6",
	}}
	d.report = &analysis.Report{
		Connections: []*analysis.Connection{conn},
		Findings: append(append([]analysis.Finding{}, d.info[1].Findings...), conn.Findings[0], analysis.Finding{
			Rule: "ping-unanswered", Severity: analysis.SeverityError, ExchangeID: 19,
			Summary: "A ping got no answer before the client gave up.", Fix: "Answer ping at once.",
			Source: "MCP 2025-06-18, utilities/ping",
		}, analysis.Finding{
			Rule: "capture-gap", Severity: analysis.SeverityInfo,
			Summary: "The capture starts after the client had registered once already.", Fix: "Clear the client's connector and reconnect.",
			Source: "seed write-up",
		}),
	}
	return d
}

func render(t *testing.T, f func(*bytes.Buffer, *doc) error, d *doc) string {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b, d); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestGoldenWithFullAnalysis(t *testing.T) {
	md := render(t, func(b *bytes.Buffer, d *doc) error { return writeMarkdown(b, d) }, analysedDoc(t, Options{}))
	golden(t, "claude-handshake.analysed.md", []byte(md))
	har := render(t, func(b *bytes.Buffer, d *doc) error { return writeHAR(b, d) }, analysedDoc(t, Options{}))
	golden(t, "claude-handshake.analysed.har", []byte(har))

	for _, want := range []string{
		"- **Client:** Claude (claude-ai 0.1.0)",
		"- **Protocol:** legacy era (sessions, `initialize`); protocol version `2025-06-18`",
		"- **Findings:** 4 (1 error, 1 warning, 2 notes)",
		"## Claude (claude-ai 0.1.0)",
		"Connection `c1`: client id `client-claude-0001`, session `5THH7ZASVVE65BFDLUNDI4LJA2`, User-Agent `Claude-User`.",
		"### 5. register — POST `/register`",
		"The client registers itself by dynamic client registration (RFC 7591) as `claudeai`, with the redirect URI `https://claude.ai/api/mcp/auth_callback` and token endpoint auth method `none`. The server answers 201 Created: the client id is `client-claude-0001`.",
		"The user's browser arrives at the authorization endpoint for the client `client-claude-0001`, with a PKCE challenge (S256), a state, the scope `claudeai` and the resource `https://garbage-actress-light-legislature.trycloudflare.com/mcp`; the code is to go to `https://claude.ai/api/mcp/auth_callback`. The server answers 200 OK: the consent page.",
		"The user answers the consent page. The server answers 302 Found: it sends the browser back to the client with an authorization code: `https://claude.ai/api/mcp/auth_callback?code=%5BREDACTED%5D&state=st4te-value-0123`.",
		"The client exchanges the authorization code and its PKCE verifier for tokens. The server answers 200 OK: it issues an access token (Bearer) valid for 3600 s and a refresh token.",
		"The client trades its refresh token for a new access token.",
		"The client revokes a token (RFC 7009).",
		"mcpwatch fetches the client's metadata document `https://app.example.com/oauth/client-metadata.json`: the client id is its URL.",
		"> **Finding — info:** The challenge names path-suffixed resource metadata (/.well-known/oauth-protected-resource/mcp). (`challenge-metadata-path`)\\\n> **Fix:** Nothing to do: clients that ignore the header try both locations.\\\n> **Source:** RFC 9728 §3.1",
		"### Findings on this connection",
		"The access token [REDACTED] was still used after the refresh.",
		"## Other requests",
		"## Findings on the whole capture",
		"  - **error** A ping got no answer before the client gave up. (request 19)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the transcript lacks:\n%s", want)
		}
	}
	if strings.Contains(md+har, "at-SECRET-token-0001") {
		t.Error("a secret quoted in a finding survived")
	}

	var h harFile
	if err := json.Unmarshal([]byte(har), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Log.Pages) != 1 || h.Log.Pages[0].ID != "c1" || h.Log.Pages[0].Title != "claude (claude-ai 0.1.0), legacy era" {
		t.Errorf("pages %+v", h.Log.Pages)
	}
	e := h.Log.Entries[0]
	if e.Pageref != "c1" || e.Stage != "challenge" || e.Client != "claude" || e.Connection != "c1" || len(e.Findings) != 1 {
		t.Errorf("entry 1: %+v", e)
	}
	if h.Log.Entries[16].Pageref != "" || h.Log.Entries[16].Kind != recorder.Outbound {
		t.Errorf("the outbound entry: %+v", h.Log.Entries[16])
	}
	if len(h.Log.Findings) != 4 || len(h.Log.Connections) != 1 {
		t.Errorf("log findings %d connections %d", len(h.Log.Findings), len(h.Log.Connections))
	}
}

func TestMarkdownOutcome(t *testing.T) {
	d := analysedDoc(t, Options{})
	m := &md{d: d, num: map[uint64]int{}}
	for i, ex := range d.exs {
		m.num[ex.ID] = i + 1
	}
	if got := m.outcome(d.exs); got != "reached `terminate`: the handshake went through" {
		t.Errorf("outcome %q", got)
	}
	// Stopped at the token request.
	if got := m.outcome(d.exs[:8]); got != "reached `token`" {
		t.Errorf("outcome up to the token %q", got)
	}
	failed := *d.exs[7]
	failed.Status = 400
	failed.RespBody.Data = []byte(`{"error":"invalid_grant"}`)
	exs := append(append([]*recorder.Exchange{}, d.exs[:7]...), &failed)
	if got := m.outcome(exs); !strings.HasPrefix(got, "stopped at `token`: request 8 (POST `/token`) was answered 400 Bad Request") {
		t.Errorf("outcome of a refused token request %q", got)
	}
}
