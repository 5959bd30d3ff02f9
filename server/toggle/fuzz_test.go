package toggle

// Fuzz targets for the toggles' parsers and JSON edits (script/fuzz runs each briefly; seeds in testdata/fuzz).

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// The JSON edits never panic; on a JSON object they keep it valid JSON, and what they set is what getPath reads
// back.
func FuzzJSONEdit(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}}}}`), "result", "protocolVersion", "x")
	f.Add([]byte(`{"a":{"b":[1,2,{"c":null}]},"a":2}`), "a", "b", "")
	f.Add([]byte(` {"\u00e9":"\ud800"} trailing`), "é", "", "<&>")
	f.Add([]byte(`[{"id":1}]`), "id", "", "1")
	f.Fuzz(func(t *testing.T, raw []byte, k1, k2, value string) {
		path := []string{k1}
		if k2 != "" {
			path = append(path, k2)
		}
		getPath(raw, path...)
		out, changed := editPath(raw, path, setTo(value))
		validObject := json.Valid(raw) && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{"))
		if !changed && !bytes.Equal(out, raw) {
			t.Fatal("unchanged, but the bytes differ")
		}
		if changed {
			if validObject && !json.Valid(out) {
				t.Fatalf("an edit of valid JSON gave invalid JSON:\n%s\n%s", raw, out)
			}
			var got string
			if err := json.Unmarshal(getPath(out, path...), &got); err != nil || got != value {
				if validObject && utf8.ValidString(k1) && utf8.ValidString(k2) && utf8.ValidString(value) { // what is not UTF-8 is written as \ufffd
					t.Fatalf("set %q at %v, read back %q (%v):\n%s", value, path, got, err, out)
				}
			}
		}
		out, changed = editPath(raw, path, remove)
		if changed && validObject && !json.Valid(out) {
			t.Fatalf("a removal from valid JSON gave invalid JSON:\n%s\n%s", raw, out)
		}
		short(raw)
	})
}

// A toggle spec from the command line, a scenario or the control socket is parsed without panicking: a known
// toggle comes back under its own name, anything else is an error.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"slow=5s", "fail=token:500", "redirect-allow=claude.com,claude.ai", "protocol-version=2026-07-28",
		"short-token=1ns", "token-error=", "omit-session-id=x", "fail=:", "slow=-1s", "  wrong-jsonrpc-id "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		d, value, _, err := ParseSpec(spec)
		if err != nil {
			return
		}
		name, _, _ := strings.Cut(strings.TrimSpace(spec), "=")
		if d.Name != name {
			t.Fatalf("%q parsed as toggle %q", spec, d.Name)
		}
		s := NewSet(ModeServe)
		if err := s.Set(spec); err == nil {
			if tg, ok := ByName(d.Name); !ok || !s.Has(tg) || s.Empty() {
				t.Fatalf("%q set but not on", spec)
			}
			_ = value
		}
	})
}

// The middleware, with every toggle that edits an answer on, never panics on whatever a server (an upstream, in
// proxy mode) answers to whatever a client sends; an answer that was a JSON object stays valid JSON, and the
// recorder records exactly what went out.
func FuzzRewrite(f *testing.F) {
	f.Add(uint8(0), `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, uint8(0), `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}}}}`)
	f.Add(uint8(0), `{"jsonrpc":"2.0","id":2,"method":"server/discover"}`, uint8(1), "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"supportedVersions\":[\"x\"]}}\n\n")
	f.Add(uint8(1), ``, uint8(0), `{"resource":"https://pub.example/mcp","authorization_servers":["https://pub.example"]}`)
	f.Add(uint8(2), ``, uint8(0), `{"issuer":"x","registration_endpoint":"https://pub.example/register","client_id_metadata_document_supported":true}`)
	f.Add(uint8(3), `grant_type=refresh_token&refresh_token=r`, uint8(0), `{"access_token":"a","refresh_token":"r"}`)
	f.Add(uint8(0), `[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]`, uint8(1), "data: {\"id\":\ndata: 1}\r\n\r\ndata:[]\n\n")
	paths := []string{"/mcp", "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server", "/token"}
	ctypes := []string{"application/json", "text/event-stream", "text/plain", ""}
	f.Fuzz(func(t *testing.T, pathSel uint8, reqBody string, ctSel uint8, respBody string) {
		path := paths[int(pathSel)%len(paths)]
		ctype := ctypes[int(ctSel)%len(ctypes)]
		set := NewSet(ModeServe)
		toggles := []string{"protocol-version=2025-06-18", "drop-tools-capability", "wrong-jsonrpc-id", "resource-mismatch",
			"no-refresh-token", "no-registration", "no-cimd", "omit-session-id", "scope-challenge=mcp admin", "relative-resource-metadata"}
		if ctSel%2 == 0 {
			toggles = append(toggles, "sse-responses")
		} else {
			toggles = append(toggles, "json-responses")
		}
		for _, tg := range toggles {
			if err := set.Set(tg); err != nil {
				t.Fatal(err)
			}
		}
		backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			w.Header().Set("Mcp-Session-Id", "s")
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="https://pub.example/.well-known/oauth-protected-resource/mcp"`)
			w.WriteHeader(http.StatusOK)
			half := len(respBody) / 2
			io.WriteString(w, respBody[:half])
			w.(http.Flusher).Flush()
			io.WriteString(w, respBody[half:])
		})
		store := recorder.NewStore(recorder.StoreOptions{})
		h := recorder.New(store, recorder.Options{}).Middleware(Middleware(set, Options{})(backend))
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(reqBody))
		req.Header.Set("Content-Type", "application/json")
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		out := rr.Body.Bytes()
		if rr.Code >= 500 {
			t.Fatalf("HTTP %d: %s", rr.Code, out)
		}
		if ctype == "application/json" && rr.Header().Get("Content-Type") == "application/json" &&
			json.Valid([]byte(respBody)) && strings.HasPrefix(strings.TrimSpace(respBody), "{") && !json.Valid(out) {
			t.Fatalf("a JSON object answer became invalid JSON:\n%s\n%s", respBody, out)
		}
		exs := store.Snapshot()
		if len(exs) != 1 || !bytes.Equal(exs[0].RespBody.Data, out) || exs[0].Status != rr.Code {
			t.Fatalf("the recorder did not record what went out")
		}
	})
}
