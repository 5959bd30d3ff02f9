package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

// TestSSEWithOAuth: the 2024-11-05 HTTP+SSE transport behind the authorization server. whoami over /sse reports the
// grant behind the token as /mcp does (client id, scopes, resource, expiry), and a session stays with the grant it
// was opened under: another grant's token cannot POST into it (403, as /mcp answers), while a refreshed token of
// the same grant can.
func TestSSEWithOAuth(t *testing.T) {
	srv, err := New(Config{AutoApprove: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := testkit.Serve(t, srv.Handler())
	w := &wire{t: t, ts: ts}
	resource := ts.URL + "/sse"
	const redirect = "https://claude.ai/api/mcp/auth_callback"

	// grant runs the OAuth flow (auto-approved) for a new client and returns its token response.
	grant := func(name string) map[string]any {
		t.Helper()
		r := w.do("POST", "/register", map[string]string{"Content-Type": "application/json"},
			fmt.Sprintf(`{"client_name":%q,"redirect_uris":[%q]}`, name, redirect))
		clientID, _ := r.json(t)["client_id"].(string)
		verifier, chal := pkcePair()
		q := url.Values{"client_id": {clientID}, "code_challenge": {chal}, "code_challenge_method": {"S256"}, "redirect_uri": {redirect},
			"response_type": {"code"}, "scope": {"mcp"}, "state": {"s"}, "resource": {resource}}
		loc, err := url.Parse(w.do("GET", "/authorize?"+q.Encode(), nil, "").Header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			t.Fatalf("authorize: %v %v", loc, err)
		}
		form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
			"client_id": {clientID}, "redirect_uri": {redirect}, "resource": {resource}}
		tok := w.do("POST", "/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode()).json(t)
		if tok["access_token"] == nil {
			t.Fatalf("token: %v", tok)
		}
		tok["client_id"] = clientID
		return tok
	}
	first, second := grant("first"), grant("second")
	bearer := func(tok map[string]any) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok["access_token"].(string), "Content-Type": "application/json"}
	}

	// The stream, opened with the first grant's token.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+first["access_token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /sse: %v %v", resp, err)
	}
	defer resp.Body.Close()
	data := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				data <- d
			}
		}
		close(data)
	}()
	nextData := func() string {
		t.Helper()
		select {
		case d := <-data:
			return d
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return ""
	}
	endpoint := nextData()

	post := func(h map[string]string, body string) *reply {
		t.Helper()
		return w.do("POST", endpoint, h, body)
	}
	if r := post(bearer(first), `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"sse-client","version":"1"}}}`); r.Status != http.StatusAccepted {
		t.Fatalf("initialize: %d %s", r.Status, r.Body)
	}
	nextData()
	post(bearer(first), `{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	if r := post(bearer(first), `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`); r.Status != http.StatusAccepted {
		t.Fatalf("whoami: %d %s", r.Status, r.Body)
	}
	var who struct {
		Result struct {
			StructuredContent map[string]any `json:"structuredContent"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(nextData()), &who); err != nil {
		t.Fatal(err)
	}
	sc := who.Result.StructuredContent
	if sc["authenticated"] != true || sc["clientId"] != first["client_id"] || fmt.Sprint(sc["scopes"]) != "[mcp]" ||
		sc["resource"] != resource || sc["tokenExpiry"] == nil || sc["transport"] != "sse" || sc["clientName"] != "sse-client" ||
		sc["sessionId"] != strings.TrimPrefix(endpoint, "/sse?sessionid=") {
		t.Errorf("whoami over /sse: %v", sc)
	}

	// Another grant's token cannot use the session; no token gets the challenge.
	if r := post(bearer(second), `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`); r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "session user mismatch") {
		t.Errorf("another grant's token on the session: %d %s, want 403", r.Status, r.Body)
	}
	if r := post(map[string]string{"Content-Type": "application/json"}, `{"jsonrpc":"2.0","id":3,"method":"tools/list"}`); r.Status != http.StatusUnauthorized {
		t.Errorf("no token: %d %s, want 401", r.Status, r.Body)
	}
	// A refreshed token of the same grant can.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}, "client_id": {first["client_id"].(string)}}
	refreshed := w.do("POST", "/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode()).json(t)
	if r := post(bearer(refreshed), `{"jsonrpc":"2.0","id":4,"method":"ping"}`); r.Status != http.StatusAccepted {
		t.Errorf("the same grant's refreshed token: %d %s", r.Status, r.Body)
	}
	if d := nextData(); !strings.Contains(d, `"id":4`) {
		t.Errorf("after the refused posts, the next event is %s, want the ping's answer", d)
	}
}
