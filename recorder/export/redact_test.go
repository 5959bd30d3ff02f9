package export

import (
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
)

func TestRedactHeaders(t *testing.T) {
	ex := &recorder.Exchange{
		ReqHeaders: hdrs(
			"Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig",
			"Proxy-Authorization", "Basic dXNlcjpwYXNzd29yZA==",
			"Cookie", "sid=abcdefgh12345678; theme=dark",
			"X-Api-Key", "key-1234567890",
			"X-CSRF-Token", "csrf-abcdefgh",
			"Mcp-Session-Id", "session-kept-123456",
			"Mcp-Protocol-Version", "2025-06-18",
			"Referer", "https://app.example/cb?code=refcode12345&state=s1",
		),
		RespHeaders: hdrs(
			"Set-Cookie", "sid=abcdefgh12345678; Path=/; HttpOnly",
			"Location", "https://claude.ai/cb?code=loc-code-123456&state=kept-state#access_token=frag-token-123456&token_type=bearer",
			"WWW-Authenticate", `Bearer error="invalid_token", resource_metadata="https://x/.well-known/oauth-protected-resource"`,
		),
	}
	got := Redact([]*recorder.Exchange{ex})[0]
	want := map[string]string{
		"Authorization":        "Bearer [REDACTED]",
		"Proxy-Authorization":  "Basic [REDACTED]",
		"Cookie":               "sid=[REDACTED]; theme=[REDACTED]",
		"X-Api-Key":            "[REDACTED]",
		"X-CSRF-Token":         "[REDACTED]",
		"Mcp-Session-Id":       "session-kept-123456",
		"Mcp-Protocol-Version": "2025-06-18",
		"Referer":              "https://app.example/cb?code=%5BREDACTED%5D&state=s1",
	}
	for name, v := range want {
		if g := got.ReqHeaders.Get(name); g != v {
			t.Errorf("%s: %q, want %q", name, g, v)
		}
	}
	if g := got.RespHeaders.Get("Set-Cookie"); g != "sid=[REDACTED]; Path=/; HttpOnly" {
		t.Errorf("Set-Cookie %q", g)
	}
	if g := got.RespHeaders.Get("Location"); g != "https://claude.ai/cb?code=%5BREDACTED%5D&state=kept-state#access_token=%5BREDACTED%5D&token_type=bearer" {
		t.Errorf("Location %q", g)
	}
	if g := got.RespHeaders.Get("WWW-Authenticate"); g != ex.RespHeaders.Get("WWW-Authenticate") {
		t.Errorf("WWW-Authenticate changed: %q", g)
	}
	if ex.ReqHeaders.Get("Authorization") != "Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig" {
		t.Error("the input was modified")
	}
}

func TestRedactBodies(t *testing.T) {
	tests := []struct {
		name, ct, in, want string
	}{
		{"form", "application/x-www-form-urlencoded; charset=utf-8",
			"grant_type=authorization_code&code=abc&code_verifier=v&client_id=c&client_secret=s&password=p&state=st&code_challenge=ch",
			"grant_type=authorization_code&code=%5BREDACTED%5D&code_verifier=%5BREDACTED%5D&client_id=c&client_secret=%5BREDACTED%5D&password=%5BREDACTED%5D&state=st&code_challenge=ch"},
		{"revocation form", "application/x-www-form-urlencoded", "token=tok&token_type_hint=refresh_token", "token=%5BREDACTED%5D&token_type_hint=refresh_token"},
		{"encoded names", "application/x-www-form-urlencoded", "client%5Fsecret=s&empty=", "client%5Fsecret=%5BREDACTED%5D&empty="},
		{"json token response", "application/json",
			`{"access_token": "a1", "token_type":"Bearer","expires_in":3600,"refresh_token":"r1","id_token":"i1"}`,
			`{"access_token": "[REDACTED]", "token_type":"Bearer","expires_in":3600,"refresh_token":"[REDACTED]","id_token":"[REDACTED]"}`},
		{"json at any depth, camelCase too", "application/json",
			"{\n  \"a\": {\"b\": [{\"accessToken\": \"x\"}, {\"client_secret\":\"y\", \"n\": 1}]},\n  \"registration_access_token\":\"z\"\n}",
			"{\n  \"a\": {\"b\": [{\"accessToken\": \"[REDACTED]\"}, {\"client_secret\":\"[REDACTED]\", \"n\": 1}]},\n  \"registration_access_token\":\"[REDACTED]\"\n}"},
		{"json token request (the seed's form)", "application/json",
			`{"client_id":"c","code":"code-for-claude","code_verifier":"PKCE Stuff","grant_type":"authorization_code"}`,
			`{"client_id":"c","code":"[REDACTED]","code_verifier":"[REDACTED]","grant_type":"authorization_code"}`},
		{"json-rpc code is not an oauth code", "application/json",
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run","arguments":{"code":"print(1)","password":"hunter2"}}}`,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run","arguments":{"code":"print(1)","password":"[REDACTED]"}}}`},
		{"progress tokens and cursors are kept", "application/json",
			`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p1","nextPageToken":"n"}}`,
			`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p1","nextPageToken":"n"}}`},
		{"non-string values are kept", "application/json", `{"token":null,"secret":{"a":1},"password":["x"]}`, `{"token":null,"secret":{"a":1},"password":["x"]}`},
		{"escaped strings", "application/json", `{"access_token":"a\"b\\c\u0041"}`, `{"access_token":"[REDACTED]"}`},
		{"truncated json, cut inside a secret", "application/json", `{"token_type":"Bearer","access_token":"abcdefgh`, `{"token_type":"Bearer","access_token":"[REDACTED]`},
		{"truncated json, cut after a secret", "application/json", `{"access_token":"abcdefgh","scope":"cla`, `{"access_token":"[REDACTED]","scope":"cla`},
		{"no content type, json", "", `{"refresh_token":"r"}`, `{"refresh_token":"[REDACTED]"}`},
		{"no content type, form", "", `code=c1&state=s`, `code=%5BREDACTED%5D&state=s`},
		{"event stream", "text/event-stream",
			"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"access_token\":\"t\"}}\r\n\r\n: comment access_token\ndata:{\"secret\":\"s\"}\n\n",
			"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"access_token\":\"[REDACTED]\"}}\r\n\r\n: comment access_token\ndata:{\"secret\":\"[REDACTED]\"}\n\n"},
		{"consent page", "text/html; charset=utf-8",
			`<meta name="csrf-token" content="m1"><form><input type="hidden" name="csrf_token" value="c1"><input name='state' value='s1'><INPUT VALUE="p1" TYPE=password NAME="password"></form>`,
			`<meta name="csrf-token" content="[REDACTED]"><form><input type="hidden" name="csrf_token" value="[REDACTED]"><input name='state' value='s1'><INPUT VALUE="[REDACTED]" TYPE=password NAME="password"></form>`},
		{"plain text is left alone", "text/plain", "code=abc is not a form here", "code=abc is not a form here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := &recorder.Exchange{ReqHeaders: hdrs("Content-Type", tt.ct), ReqBody: body(tt.in)}
			got := Redact([]*recorder.Exchange{ex})[0]
			if string(got.ReqBody.Data) != tt.want {
				t.Errorf("\n got %s\nwant %s", got.ReqBody.Data, tt.want)
			}
			if got.ReqBody.Size != int64(len(tt.in)) {
				t.Errorf("size %d: the recorded size is the wire's", got.ReqBody.Size)
			}
		})
	}
}

func TestRedactSweepsSecretsEverywhere(t *testing.T) {
	token := "tok-1234567890abcdef"
	exs := []*recorder.Exchange{
		{ID: 1, Method: "POST", URL: "/token", ReqHeaders: hdrs("Content-Type", "application/x-www-form-urlencoded"),
			ReqBody: body("grant_type=refresh_token&refresh_token=rt-abcdefgh-0001"), Status: 200,
			RespHeaders: hdrs("Content-Type", "application/json"), RespBody: body(`{"access_token":"` + token + `"}`)},
		{ID: 2, Method: "POST", URL: "/mcp?debug=" + token, ReqHeaders: hdrs("X-Echo", "I was given "+token),
			ReqBody: body("plain text mentioning " + token + " and rt-abcdefgh-0001 and rt-abcdefgh-0001%2B"),
			Events:  []recorder.SSEEvent{{ID: token, Data: "not json: " + token}},
			Toggles: []recorder.ToggleChange{{Name: "f", What: "header Authorization", Before: "Bearer " + token, After: "Bearer x"}},
			Notes:   []recorder.Note{{Key: "k", Value: token}}, Error: "upstream refused " + token,
			RespBody: recorder.Body{Data: append([]byte{0xff, 0xfe}, []byte(token)...)}},
		{ID: 3, Method: "POST", URL: "/short", ReqHeaders: hdrs("Authorization", "Bearer abc", "Content-Type", "application/json"),
			ReqBody: body(`{"note":"abc is short and common: not swept"}`)},
	}
	got := Redact(exs)
	var all strings.Builder
	for _, ex := range got {
		all.WriteString(ex.URL + string(ex.ReqBody.Data) + string(ex.RespBody.Data) + ex.Error)
		for _, h := range ex.ReqHeaders {
			all.WriteString(h.Value)
		}
		for _, e := range ex.Events {
			all.WriteString(e.ID + e.Data)
		}
		for _, f := range ex.Toggles {
			all.WriteString(f.Before + f.After)
		}
		for _, n := range ex.Notes {
			all.WriteString(n.Value)
		}
	}
	for _, s := range []string{token, "rt-abcdefgh-0001"} {
		if strings.Contains(all.String(), s) {
			t.Errorf("%q survived: %s", s, all.String())
		}
	}
	if !strings.Contains(string(got[2].ReqBody.Data), "abc is short") || got[2].ReqHeaders.Get("Authorization") != "Bearer [REDACTED]" {
		t.Errorf("short secret: %q %q", got[2].ReqBody.Data, got[2].ReqHeaders.Get("Authorization"))
	}
	if got[1].Toggles[0].After != "Bearer x" {
		t.Errorf("fault after %q", got[1].Toggles[0].After)
	}
}

func TestSecretName(t *testing.T) {
	for _, n := range []string{"code", "code_verifier", "access_token", "refresh_token", "id_token", "client_secret", "token",
		"password", "client_assertion", "device_code", "csrf_token", "_csrf", "X-CSRF-Token", "x-xsrf-token", "gorilla.csrf.Token",
		"authenticity_token", "api_key", "X-Api-Key", "accessToken", "subject_token", "registration_access_token", "Secret"} {
		if !secretName(n) {
			t.Errorf("%q should be secret", n)
		}
	}
	for _, n := range []string{"state", "code_challenge", "code_challenge_method", "client_id", "token_type", "token_type_hint",
		"progressToken", "nextPageToken", "max_tokens", "token_endpoint", "redirect_uri", "scope", "resource", "Mcp-Session-Id", "nonce"} {
		if secretName(n) {
			t.Errorf("%q should not be secret", n)
		}
	}
}
