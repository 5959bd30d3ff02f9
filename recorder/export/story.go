package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// story is the transcript's prose for one exchange: what the client did, then what the server answered.
func (m *md) story(ex *recorder.Exchange) string {
	ask := m.ask(ex)
	return ask + " " + m.answer(ex)
}

// ask says what the client (or mcpwatch, for an outbound request) did.
func (m *md) ask(ex *recorder.Exchange) string {
	d := m.d
	req := jsonObject(ex.ReqBody.Data)
	params := jsonPath(req, "params")
	authed := ex.ReqHeaders.Get("Authorization") != ""
	if ex.Kind == recorder.Outbound {
		s := "mcpwatch itself requests " + code(absoluteURL(ex)) + "."
		if d.stage(ex) == analysis.StageClientMetadata {
			s = "mcpwatch fetches the client's metadata document " + code(absoluteURL(ex)) + ": the client id is its URL."
		}
		return s
	}
	switch d.stage(ex) {
	case analysis.StageProbe:
		return fmt.Sprintf("The client checks that the server answers at %s.", code(ex.Path()))
	case analysis.StageChallenge:
		what := "a request"
		if r := ex.RPCMethod(); r != "" {
			what = code(r)
		} else if ex.Method == "GET" {
			what = "a GET (to open the stream)"
		}
		if authed {
			return fmt.Sprintf("The client sends %s with a token the server does not accept.", what)
		}
		return fmt.Sprintf("The client sends %s without a token.", what)
	case analysis.StageResourceMetadata:
		return "The client fetches the protected resource metadata (RFC 9728) to learn which authorization server guards the MCP endpoint."
	case analysis.StageAuthMetadata:
		return "The client fetches the authorization server metadata (RFC 8414) to find its endpoints."
	case analysis.StageRegister:
		s := "The client registers itself by dynamic client registration (RFC 7591)"
		if n := str(req, "client_name"); n != "" {
			s += " as " + code(n)
		}
		if uris := strs(req, "redirect_uris"); len(uris) > 0 {
			s += ", with the redirect URI " + codeList(uris)
		}
		if am := str(req, "token_endpoint_auth_method"); am != "" {
			s += " and token endpoint auth method " + code(am)
		}
		return s + "."
	case analysis.StageClientMetadata:
		return "The client's metadata document is fetched: the client id is its URL."
	case analysis.StageAuthorize:
		q := pairMap(parsePairs(rawQuery(ex)))
		if ex.Method == "POST" {
			q = pairMap(parsePairs(string(ex.ReqBody.Data)))
		}
		s := "The user's browser arrives at the authorization endpoint"
		if id := q["client_id"]; id != "" {
			s += " for the client " + code(id)
		}
		var with []string
		if q["code_challenge"] != "" {
			method := q["code_challenge_method"]
			if method == "" {
				method = "no method named"
			}
			with = append(with, "a PKCE challenge ("+method+")")
		}
		if q["state"] != "" {
			with = append(with, "a state")
		}
		if q["scope"] != "" {
			with = append(with, "the scope "+code(q["scope"]))
		}
		if q["resource"] != "" {
			with = append(with, "the resource "+code(q["resource"]))
		}
		if len(with) > 0 {
			s += ", with " + joinAnd(with)
		}
		if r := q["redirect_uri"]; r != "" {
			s += "; the code is to go to " + code(r)
		}
		return s + "."
	case analysis.StageConsent:
		return "The user answers the consent page."
	case analysis.StageToken:
		if pairMap(parsePairs(string(ex.ReqBody.Data)))["grant_type"] == "refresh_token" || str(req, "grant_type") == "refresh_token" {
			return "The client trades its refresh token for a new access token."
		}
		return "The client exchanges the authorization code and its PKCE verifier for tokens."
	case analysis.StageRefresh:
		return "The client trades its refresh token for a new access token."
	case analysis.StageRevoke:
		return "The client revokes a token (RFC 7009)."
	case analysis.StageDiscover:
		return "The client asks the server what it supports (`server/discover`, the stateless 2026-07-28 protocol)."
	case analysis.StageInitialize:
		s := "The client initializes"
		if authed {
			s += ", with its bearer token"
		}
		if ci := jsonPath(params, "clientInfo"); ci != nil {
			s += ", as " + code(strings.TrimSpace(str(ci, "name")+" "+str(ci, "version")))
		}
		if v := str(params, "protocolVersion"); v != "" {
			s += ", asking for protocol " + code(v)
		}
		return s + "."
	case analysis.StageInitialized:
		return "The client confirms that it is ready with `notifications/initialized`."
	case analysis.StageList:
		what := strings.TrimSuffix(ex.RPCMethod(), "/list")
		if what == "" {
			what = "capabilities"
		}
		return fmt.Sprintf("The client lists the server's %s.", what)
	case analysis.StageCall:
		if n := str(params, "name"); n != "" {
			return "The client calls the tool " + code(n) + "."
		}
		return "The client calls a tool."
	case analysis.StageStream:
		return "The client opens the GET stream on which the server can send it messages."
	case analysis.StageTerminate:
		return "The client ends its session."
	}
	if r := ex.RPCMethod(); r != "" {
		return fmt.Sprintf("The client sends %s.", code(r))
	}
	return fmt.Sprintf("The client requests %s.", code(ex.Path()))
}

// answer says what the server answered, with the detail that matters for the stage.
func (m *md) answer(ex *recorder.Exchange) string {
	if ex.Status == 0 {
		if ex.Error != "" {
			return "No answer came: " + ex.Error + "."
		}
		return "No answer was recorded."
	}
	who := "The server"
	if ex.Kind == recorder.Outbound {
		who = "It"
	}
	s := fmt.Sprintf("%s answers %d %s", who, ex.Status, http.StatusText(ex.Status))
	if c, msg, ok := ex.RPCError(); ok {
		return s + fmt.Sprintf(", with JSON-RPC error %d (%s).", c, msg)
	}
	if detail := m.detail(ex); detail != "" {
		return s + ": " + detail + "."
	}
	return s + "."
}

// detail is the part of the answer worth a sentence, per stage.
func (m *md) detail(ex *recorder.Exchange) string {
	resp := jsonObject(ex.RespBody.Data)
	if s := m.stageDetail(ex, resp); s != "" {
		return s
	}
	if e := str(resp, "error"); e != "" && ex.Status >= 400 {
		s := "it refuses with " + code(e)
		if desc := str(resp, "error_description"); desc != "" {
			s += " (" + desc + ")"
		}
		return s
	}
	return ""
}

func (m *md) stageDetail(ex *recorder.Exchange, resp map[string]any) string {
	switch m.d.stage(ex) {
	case analysis.StageChallenge:
		wa := ex.RespHeaders.Get("WWW-Authenticate")
		switch {
		case ex.Status != 401:
			return ""
		case wa == "":
			return "there is no `WWW-Authenticate` header to say where to authorize"
		case strings.Contains(wa, "resource_metadata="):
			return "`WWW-Authenticate` names the resource metadata, " + code(authParam(wa, "resource_metadata"))
		}
		return "its `WWW-Authenticate` does not say where the resource metadata is (" + code(wa) + ")"
	case analysis.StageResourceMetadata:
		if as := strs(resp, "authorization_servers"); len(as) > 0 {
			s := "the authorization server is " + codeList(as)
			if r := str(resp, "resource"); r != "" {
				s += ", for the resource " + code(r)
			}
			return s
		}
	case analysis.StageAuthMetadata:
		var eps []string
		for _, k := range []struct{ key, name string }{
			{"registration_endpoint", "registration"}, {"authorization_endpoint", "authorization"}, {"token_endpoint", "token"},
		} {
			if v := str(resp, k.key); v != "" {
				eps = append(eps, k.name+" at "+code(v))
			}
		}
		if len(eps) > 0 {
			s := joinAnd(eps)
			if ms := strs(resp, "code_challenge_methods_supported"); len(ms) > 0 {
				s += "; PKCE methods " + codeList(ms)
			}
			return s
		}
	case analysis.StageRegister:
		if id := str(resp, "client_id"); id != "" {
			return "the client id is " + code(id)
		}
	case analysis.StageAuthorize, analysis.StageConsent:
		if loc := ex.RespHeaders.Get("Location"); loc != "" {
			if strings.Contains(loc, "code=") {
				return "it sends the browser back to the client with an authorization code: " + code(loc)
			}
			if strings.Contains(loc, "error=") {
				return "it sends the browser back to the client with an error: " + code(loc)
			}
			return "it redirects to " + code(loc)
		}
		if strings.Contains(mediaType(ex.RespHeaders.Get("Content-Type")), "html") {
			return "the consent page"
		}
	case analysis.StageToken, analysis.StageRefresh:
		if str(resp, "access_token") != "" {
			s := "it issues an access token"
			if t := str(resp, "token_type"); t != "" {
				s += " (" + t + ")"
			}
			if exp := num(resp, "expires_in"); exp != "" {
				s += " valid for " + exp + " s"
			}
			if str(resp, "refresh_token") != "" {
				s += " and a refresh token"
			}
			return s
		}
	case analysis.StageInitialize:
		r := rpcResult(ex)
		if r == nil {
			return ""
		}
		var parts []string
		if v := str(r, "protocolVersion"); v != "" {
			parts = append(parts, "protocol "+code(v))
		}
		if si := jsonPath(r, "serverInfo"); si != nil {
			parts = append(parts, "server "+code(strings.TrimSpace(str(si, "name")+" "+str(si, "version"))))
		}
		s := "it agrees on " + joinAnd(parts)
		if len(parts) == 0 {
			s = "it initializes"
		}
		if sid := ex.RespHeaders.Get("Mcp-Session-Id"); sid != "" {
			s += ", and opens the session " + code(sid)
		} else {
			s += ", without an `Mcp-Session-Id`"
		}
		return s
	case analysis.StageList:
		r := rpcResult(ex)
		what := strings.TrimSuffix(ex.RPCMethod(), "/list")
		if r == nil || what == "" {
			return ""
		}
		items, _ := r[what].([]any)
		var names []string
		for _, it := range items {
			o, _ := it.(map[string]any)
			n := str(o, "name")
			if n == "" {
				n = str(o, "uri")
			}
			if n != "" {
				names = append(names, n)
			}
		}
		if len(items) == 0 {
			return "there are none"
		}
		s := plural(len(items), strings.TrimSuffix(what, "s"))
		if len(names) > 0 && len(names) <= 12 {
			s += ", " + codeList(names)
		}
		return s
	case analysis.StageCall:
		r := rpcResult(ex)
		if r == nil {
			return ""
		}
		if b, _ := r["isError"].(bool); b {
			return "the tool reports an error"
		}
		if content, _ := r["content"].([]any); len(content) > 0 {
			if c0, _ := content[0].(map[string]any); str(c0, "type") == "text" {
				t := str(c0, "text")
				if len(t) > 120 {
					t = t[:120] + "…"
				}
				return "the tool says " + code(t)
			}
		}
	case analysis.StageStream:
		if ex.State == recorder.StateComplete && mediaType(ex.RespHeaders.Get("Content-Type")) == "text/event-stream" {
			if len(ex.Events) == 0 {
				return "no event came on the stream before it ended"
			}
			return plural(len(ex.Events), "event") + " came on the stream before it ended"
		}
	}
	return ""
}

// authParam reads one parameter of a WWW-Authenticate challenge.
func authParam(h, name string) string {
	i := strings.Index(h, name+"=")
	if i < 0 {
		return ""
	}
	v := h[i+len(name)+1:]
	if strings.HasPrefix(v, `"`) {
		v = v[1:]
		if j := strings.IndexByte(v, '"'); j >= 0 {
			return v[:j]
		}
		return v
	}
	if j := strings.IndexAny(v, ", "); j >= 0 {
		v = v[:j]
	}
	return v
}

func joinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

func pairMap(ps []pair) map[string]string {
	out := map[string]string{}
	for _, p := range ps {
		if _, ok := out[p.Name]; !ok {
			out[p.Name] = p.Value
		}
	}
	return out
}

// jsonObject parses data as a JSON object, or returns nil.
func jsonObject(data []byte) map[string]any {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] != '{' {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(t, &m) != nil {
		return nil
	}
	return m
}

func jsonPath(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		if m == nil {
			return nil
		}
		m, _ = m[p].(map[string]any)
	}
	return m
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func num(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case float64:
		return fmt.Sprint(v)
	case string:
		return v
	}
	return ""
}

func strs(m map[string]any, key string) []string {
	var out []string
	switch v := m[key].(type) {
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	case string:
		out = append(out, v)
	}
	return out
}

// rpcResult is the result of the JSON-RPC reply in an exchange's response, from a JSON body or an SSE event.
func rpcResult(ex *recorder.Exchange) map[string]any {
	if r := jsonPath(jsonObject(ex.RespBody.Data), "result"); r != nil {
		return r
	}
	for _, ev := range ex.Events {
		if r := jsonPath(jsonObject([]byte(ev.Data)), "result"); r != nil {
			return r
		}
	}
	return nil
}
