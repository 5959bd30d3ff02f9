package export

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// An inbound request whose query holds a literal URL (legal unencoded) is still a request target: the HAR URL is
// the absolute URL the client used (the HAR schema requires one) and the curl line names the host.
func TestURLInTheQueryStaysATarget(t *testing.T) {
	const target = "/authorize?response_type=code&client_id=c1&state=s&resource=http://127.0.0.1:47311/mcp"
	const want = "http://mcp.example.dev" + target
	ex := &recorder.Exchange{ID: 1, Kind: recorder.Inbound, State: recorder.StateComplete,
		Start: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Method: "GET", URL: target, Host: "mcp.example.dev",
		Proto: "HTTP/1.1", ReqHeaders: hdrs("Host", "mcp.example.dev"), Status: 302,
		RespHeaders: hdrs("Location", "https://claude.ai/api/mcp/auth_callback?code=abc&state=s")}
	exs := []*recorder.Exchange{ex}
	opts := Options{NoRedact: true}

	var har struct {
		Log struct {
			Entries []struct {
				Request struct {
					URL         string `json:"url"`
					QueryString []pair `json:"queryString"`
				} `json:"request"`
			} `json:"entries"`
		} `json:"log"`
	}
	if err := json.Unmarshal(export(t, HAR, exs, opts), &har); err != nil || len(har.Log.Entries) != 1 {
		t.Fatalf("HAR: %v, %d entries", err, len(har.Log.Entries))
	}
	req := har.Log.Entries[0].Request
	if u, err := url.Parse(req.URL); req.URL != want || err != nil || !u.IsAbs() {
		t.Errorf("HAR url = %q, want %q", req.URL, want)
	}
	if n := len(req.QueryString); n != 4 || req.QueryString[3] != (pair{"resource", "http://127.0.0.1:47311/mcp"}) {
		t.Errorf("HAR queryString = %+v", req.QueryString)
	}

	curl := export(t, Curl, exs, opts)
	if !bytes.Contains(curl, []byte(" "+shq(want))) {
		t.Errorf("curl line without the host:\n%s", curl)
	}
	md := string(export(t, Markdown, exs, opts))
	if !strings.Contains(md, "GET `/authorize`") {
		t.Errorf("markdown does not name the path /authorize:\n%s", md)
	}
}
