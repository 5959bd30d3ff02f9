package analysis

// Fuzz targets for the analysis' parsers (script/fuzz runs each briefly; seeds in testdata/fuzz).

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/jsonscan"
	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
)

// WWW-Authenticate parsing never panics, names parameters in lower case, and reads back a quoted value it is
// given after any other challenge.
func FuzzParseBearer(f *testing.F) {
	f.Add(`Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", scope="mcp"`, "v")
	f.Add(`Basic realm="x", Bearer error="invalid_token", error_description="a \"quoted\" thing"`, `a"b\c`)
	f.Add(`Bearer resource_metadata=https://unquoted/x`, "")
	f.Add(`Bearer="`, `=`)
	f.Fuzz(func(t *testing.T, header, value string) {
		c, ok := parseBearer(header)
		if ok != c.present {
			t.Fatalf("ok %v, present %v", ok, c.present)
		}
		for k := range c.params {
			if k != strings.ToLower(k) {
				t.Fatalf("parameter %q not lower-cased", k)
			}
		}
		quoted := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(value)
		c, ok = parseBearer(`Newauth realm="apps", type=1, Bearer x_fuzz="` + quoted + `", scope="mcp"`)
		if !ok || c.params["x_fuzz"] != value || c.params["scope"] != "mcp" {
			t.Fatalf("value %q: got %v %v", value, ok, c.params)
		}
		bearerChallenge(recorder.Headers{{Name: "WWW-Authenticate", Value: header}, {Name: "www-authenticate", Value: header}})
	})
}

// The analysis never panics on whatever an exchange holds, whatever order its updates come in, and Info and
// Report stay answerable.
func FuzzObserve(f *testing.F) {
	f.Add("POST", "/mcp", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","clientInfo":{"name":"claude-ai"}}}`,
		200, "text/event-stream", "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n", `Bearer resource_metadata="http://x/.well-known/oauth-protected-resource"`, "Claude-User")
	f.Add("POST", "/token", "grant_type=authorization_code&code=abc&code_verifier=x&redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback",
		200, "application/json", `{"access_token":"t","token_type":"Bearer","expires_in":-1,"refresh_token":"r"}`, "", "python-httpx/0.27")
	f.Add("GET", "/authorize?response_type=code&client_id=https%3A%2F%2Fx&redirect_uri=%zz", "", 302, "", "", "", "")
	f.Add("GET", "/.well-known/oauth-authorization-server/mcp", "", 200, "application/json", `{"issuer":1,"code_challenge_methods_supported":"S256"}`, "", "")
	f.Fuzz(func(t *testing.T, method, target, reqBody string, status int, ctype, respBody, wwwAuth, ua string) {
		a := New(Options{})
		for i, kind := range []string{recorder.Inbound, recorder.Outbound, recorder.Inbound} {
			ex := &recorder.Exchange{ID: uint64(i + 1), Kind: kind, State: recorder.StatePending, Start: t0.Add(time.Duration(i) * time.Second),
				Method: method, URL: target, Host: "127.0.0.1:4000",
				ReqHeaders: recorder.Headers{{Name: "User-Agent", Value: ua}, {Name: "Content-Type", Value: ctype},
					{Name: "Authorization", Value: wwwAuth}, {Name: "Mcp-Session-Id", Value: ua}},
				ReqBody: recorder.Body{Data: []byte(reqBody), Size: int64(len(reqBody))}}
			ex.RPC = recorder.ParseRPC(ex.ReqBody.Data, recorder.FromClient, -1)
			a.Observe(ex)
			a.Info(ex.ID)
			done := *ex
			done.State, done.Status = recorder.StateComplete, status
			done.RespHeaders = recorder.Headers{{Name: "Content-Type", Value: ctype}, {Name: "WWW-Authenticate", Value: wwwAuth},
				{Name: "Location", Value: respBody}, {Name: "Mcp-Session-Id", Value: ua}}
			done.RespBody = recorder.Body{Data: []byte(respBody), Size: int64(len(respBody))}
			p := &recorder.SSEParser{}
			done.Events = p.Feed([]byte(respBody))
			done.RPC = append(done.RPC, recorder.ParseRPC(done.RespBody.Data, recorder.FromServer, -1)...)
			for j, ev := range done.Events {
				done.RPC = append(done.RPC, recorder.ParseRPC([]byte(ev.Data), recorder.FromServer, j)...)
			}
			done.Timings.Total = time.Duration(status) * time.Millisecond
			a.Observe(&done)
			a.Info(done.ID)
		}
		a.SetNow(t0.Add(time.Hour))
		rep := a.Report()
		for _, c := range rep.Connections {
			if c.ID == "" {
				t.Fatalf("a connection without an id: %+v", c)
			}
		}
		// Forgetting the first two leaves the third's analysis answerable, and then nothing.
		a.Forget(3)
		a.Info(3)
		for _, c := range a.Report().Connections {
			if len(c.Exchanges) == 0 || c.Exchanges[0] != 3 {
				t.Fatalf("after forgetting #1 and #2: %+v", c)
			}
		}
		a.Forget(4)
		if rep := a.Report(); len(rep.Connections) != 0 || len(rep.Findings) != 0 {
			t.Fatalf("after forgetting everything: %d connections, %d findings", len(rep.Connections), len(rep.Findings))
		}
		StageOf(&recorder.Exchange{Method: method, URL: target, ReqBody: recorder.Body{Data: []byte(reqBody)}}, target)
	})
}

// member reads a JSON object's members as object's map does (the last of a name, the same raw value), for every
// key the map has and a few it may not: rpcResult reads an initialize's result with it, without a map per level.
func FuzzMemberLikeObject(f *testing.F) {
	f.Add(`{"jsonrpc":"2.0","id":1,"result":{"capabilities":{"tools":{"listChanged":true}},"protocolVersion":"2025-11-25"}}`, "result")
	f.Add(` {"a" : [1, {"b":"}"}], "a":"x\"y", "\u0061":null , "k\\":{} } `, "a")
	f.Add(`{"result":1,"result":{"x":[]}}`, "result")
	f.Add(`{"\ud800":1,"é":2,"tab\t":true}`, "é")
	f.Add(`{}`, "")
	f.Fuzz(func(t *testing.T, doc, key string) {
		b := []byte(doc)
		m := object(b)
		if m == nil {
			return // not an object: rpcResult checks json.Valid before member
		}
		for _, k := range append(slices.Collect(maps.Keys(m)), key, "result", "id") {
			got, ok := jsonscan.Member(bytes.TrimSpace(b), k)
			want, has := m[k]
			if ok != has || !bytes.Equal(got, want) {
				t.Fatalf("member %q of %s: %q %v, want %q %v", k, doc, got, ok, want, has)
			}
		}
	})
}

// rpcParamsOf reads a request's params as object(object(body)["params"]) does, without a map of the body's
// members; and allocates only the params' map.
func FuzzRPCParamsOfLikeObject(f *testing.F) {
	f.Add(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`)
	f.Add(`{"params":1,"params":{"a":2}}`)
	f.Add(`{"params":{"a":2},"params":[]}`)
	f.Add(` {"params" : {"x":"}"} } `)
	f.Add(`{"params":{"a":1}`)
	f.Add(`[{"params":{}}]`)
	f.Fuzz(func(t *testing.T, doc string) {
		var want map[string]json.RawMessage
		if o := object([]byte(doc)); o != nil {
			want = object(o["params"])
		}
		if got := rpcParamsOf([]byte(doc)); !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) || (got == nil) != (want == nil) {
			t.Fatalf("rpcParamsOf(%s) = %q, want %q", doc, got, want)
		}
	})
}

func TestRPCParamsOfAllocations(t *testing.T) {
	if testkit.Race {
		t.Skip("allocation counts under -race are the detector's")
	}
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`)
	old := func() { object(object(body)["params"]) } // what rpcParamsOf did: the body's own map first
	n, was := testing.AllocsPerRun(100, func() { rpcParamsOf(body) }), testing.AllocsPerRun(100, old)
	t.Logf("rpcParamsOf of an initialize: %.0f allocations, %.0f through the body's map", n, was)
	if n > was-5 {
		t.Errorf("rpcParamsOf allocates %.0f times, the body's map and then the params' %.0f: want at least 5 fewer", n, was)
	}
}
