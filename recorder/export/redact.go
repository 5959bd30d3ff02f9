package export

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// Redacted replaces a secret.
const Redacted = "[REDACTED]"

// redactedQ is Redacted in a query string or a form body.
var redactedQ = url.QueryEscape(Redacted)

// minSweep is the shortest secret value that is also replaced wherever else it appears (shorter ones would hit
// innocent text).
const minSweep = 8

// Redact returns copies of exs with their secrets replaced by [REDACTED]:
//   - the credentials of Authorization and Proxy-Authorization (the scheme stays: "Bearer [REDACTED]"), the values
//     of Cookie and Set-Cookie (names and attributes stay), and headers named like a token, a secret, a password,
//     an API key or a CSRF token;
//   - in query strings (the URL, Location, Referer), form bodies, JSON bodies at any depth, SSE data and HTML forms:
//     code, code_verifier, access_token, refresh_token, id_token, client_secret, token, password, client_assertion,
//     device_code, CSRF tokens, and any name ending in "token" or naming a secret or a password. A JSON-RPC body's
//     "code" is left alone (there it is an error code or a tool's argument, not an OAuth code).
//
// Every secret value found this way (8 characters or more) is then replaced wherever else it appears: in other
// bodies, headers, notes, toggle records and errors, so that an access token is gone from the token response, the
// later requests and the consent page alike. Session ids, client ids, state and PKCE challenges are kept: they are
// what a reader needs to follow a handshake, and not credentials.
func Redact(exs []*recorder.Exchange) []*recorder.Exchange {
	return newRedactor().exchanges(exs)
}

type redactor struct {
	secrets  map[string]bool
	replacer *strings.Replacer
}

func newRedactor() *redactor { return &redactor{secrets: map[string]bool{}} }

func (r *redactor) note(v string) {
	v = strings.TrimSpace(v)
	if len(v) >= minSweep && v != Redacted && v != redactedQ {
		r.secrets[v] = true
	}
}

// exchanges redacts every exchange structurally, then sweeps the secrets found anywhere over all of them.
func (r *redactor) exchanges(exs []*recorder.Exchange) []*recorder.Exchange {
	out := make([]*recorder.Exchange, len(exs))
	for i, ex := range exs {
		out[i] = r.structural(ex)
	}
	r.build()
	for _, ex := range out {
		r.sweepExchange(ex)
	}
	return out
}

func (r *redactor) build() {
	keys := make([]string, 0, len(r.secrets))
	for s := range r.secrets {
		keys = append(keys, s)
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(keys, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	var pairs []string
	for _, s := range keys {
		pairs = append(pairs, s, Redacted)
		if q := url.QueryEscape(s); q != s {
			pairs = append(pairs, q, redactedQ)
		}
		if j, _ := json.Marshal(s); string(j[1:len(j)-1]) != s {
			pairs = append(pairs, string(j[1:len(j)-1]), Redacted)
		}
	}
	if len(pairs) > 0 {
		r.replacer = strings.NewReplacer(pairs...)
	}
}

// sweep replaces the secrets found so far in s.
func (r *redactor) sweep(s string) string {
	if r.replacer == nil || s == "" {
		return s
	}
	return r.replacer.Replace(s)
}

func (r *redactor) sweepBytes(b []byte) []byte {
	if r.replacer == nil || len(b) == 0 {
		return b
	}
	s := r.replacer.Replace(string(b))
	if s == string(b) {
		return b
	}
	return []byte(s)
}

// structural returns a deep copy of ex with the secrets in known places replaced, noting their values.
func (r *redactor) structural(ex *recorder.Exchange) *recorder.Exchange {
	c := *ex
	c.URL = r.redactURL(ex.URL)
	c.ReqHeaders = r.headers(ex.ReqHeaders)
	c.RespHeaders = r.headers(ex.RespHeaders)
	c.ReqBody.Data = r.body(ex.ReqBody.Data, ex.ReqHeaders.Get("Content-Type"))
	c.RespBody.Data = r.body(ex.RespBody.Data, ex.RespHeaders.Get("Content-Type"))
	c.Events = slices.Clone(ex.Events)
	for i := range c.Events {
		c.Events[i].Data = string(r.jsonOrText([]byte(c.Events[i].Data)))
	}
	c.RPC = slices.Clone(ex.RPC)
	c.Toggles = slices.Clone(ex.Toggles)
	c.Notes = slices.Clone(ex.Notes)
	return &c
}

func (r *redactor) sweepExchange(ex *recorder.Exchange) {
	ex.URL = r.sweep(ex.URL)
	for i := range ex.ReqHeaders {
		ex.ReqHeaders[i].Value = r.sweep(ex.ReqHeaders[i].Value)
	}
	for i := range ex.RespHeaders {
		ex.RespHeaders[i].Value = r.sweep(ex.RespHeaders[i].Value)
	}
	ex.ReqBody.Data = r.sweepBytes(ex.ReqBody.Data)
	ex.RespBody.Data = r.sweepBytes(ex.RespBody.Data)
	for i := range ex.Events {
		ex.Events[i].Data = r.sweep(ex.Events[i].Data)
		ex.Events[i].ID = r.sweep(ex.Events[i].ID)
	}
	for i := range ex.RPC {
		ex.RPC[i].ErrorMessage = r.sweep(ex.RPC[i].ErrorMessage)
	}
	for i := range ex.Toggles {
		ex.Toggles[i].Before = r.sweep(ex.Toggles[i].Before)
		ex.Toggles[i].After = r.sweep(ex.Toggles[i].After)
		ex.Toggles[i].What = r.sweep(ex.Toggles[i].What)
	}
	for i := range ex.Notes {
		ex.Notes[i].Value = r.sweep(ex.Notes[i].Value)
	}
	ex.Error = r.sweep(ex.Error)
}

// secretName reports whether a parameter, field or header name holds a secret.
func secretName(name string) bool {
	n := strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', '.', ' ':
			return -1
		}
		return r
	}, strings.ToLower(name))
	switch n {
	case "code", "codeverifier", "token", "password", "passwd", "pwd", "secret", "clientsecret", "clientassertion",
		"assertion", "devicecode", "apikey", "xapikey", "csrf", "xsrf", "csrfmiddlewaretoken", "gorillacsrftoken",
		"authorization", "proxyauthorization", "cookie", "setcookie", "samlresponse":
		return true
	case "progresstoken", "pagetoken", "nextpagetoken", "nexttoken", "continuationtoken", "tokentype", "tokentypehint":
		return false // MCP progress tokens and pagination cursors are not credentials
	}
	return strings.HasSuffix(n, "token") || strings.HasSuffix(n, "apikey") ||
		strings.Contains(n, "secret") || strings.Contains(n, "password") ||
		strings.Contains(n, "csrf") || strings.Contains(n, "xsrf")
}

// redactPairs redacts the secret values of an application/x-www-form-urlencoded string, leaving every other
// byte as it was.
func (r *redactor) redactPairs(s string) string {
	if s == "" || !strings.Contains(s, "=") {
		return s
	}
	parts := strings.Split(s, "&")
	changed := false
	for i, part := range parts {
		k, v, ok := strings.Cut(part, "=")
		if !ok || v == "" {
			continue
		}
		name := k
		if dk, err := url.QueryUnescape(k); err == nil {
			name = dk
		}
		if !secretName(name) {
			continue
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			r.note(dv)
		}
		r.note(v)
		parts[i] = k + "=" + redactedQ
		changed = true
	}
	if !changed {
		return s
	}
	return strings.Join(parts, "&")
}

// redactURL redacts the query and the fragment (an implicit grant puts the token there) of a URL or request
// target.
func (r *redactor) redactURL(u string) string {
	base, frag, hasFrag := strings.Cut(u, "#")
	path, query, hasQuery := strings.Cut(base, "?")
	out := path
	if hasQuery {
		out += "?" + r.redactPairs(query)
	}
	if hasFrag {
		out += "#" + r.redactPairs(frag)
	}
	return out
}

func (r *redactor) headers(h recorder.Headers) recorder.Headers {
	if h == nil {
		return nil
	}
	out := slices.Clone(h)
	for i, x := range out {
		switch strings.ToLower(x.Name) {
		case "authorization", "proxy-authorization":
			scheme, cred, ok := strings.Cut(strings.TrimSpace(x.Value), " ")
			if ok && strings.TrimSpace(cred) != "" {
				r.note(strings.TrimSpace(cred))
				out[i].Value = scheme + " " + Redacted
			} else if x.Value != "" {
				r.note(x.Value)
				out[i].Value = Redacted
			}
		case "cookie":
			crumbs := strings.Split(x.Value, ";")
			for j, c := range crumbs {
				name, v, ok := strings.Cut(c, "=")
				if ok {
					r.note(v)
					crumbs[j] = name + "=" + Redacted
				}
			}
			out[i].Value = strings.Join(crumbs, ";")
		case "set-cookie":
			first, attrs, hasAttrs := strings.Cut(x.Value, ";")
			if name, v, ok := strings.Cut(first, "="); ok {
				r.note(v)
				out[i].Value = name + "=" + Redacted
				if hasAttrs {
					out[i].Value += ";" + attrs
				}
			}
		case "location", "content-location", "referer", "refresh":
			out[i].Value = r.redactURL(x.Value)
		case "mcp-session-id", "mcp-protocol-version", "www-authenticate", "content-type":
		default:
			if secretName(x.Name) && x.Value != "" {
				r.note(x.Value)
				out[i].Value = Redacted
			}
		}
	}
	return out
}

// body redacts a request or response body by its content type (sniffed when there is none).
func (r *redactor) body(data []byte, contentType string) []byte {
	if len(data) == 0 {
		return data
	}
	mt := mediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded":
		return []byte(r.redactPairs(string(data)))
	case mt == "text/event-stream":
		return r.sse(data)
	case strings.Contains(mt, "json"):
		return r.json(data)
	case mt == "text/html" || mt == "application/xhtml+xml":
		return r.html(data)
	case mt == "":
		return r.jsonOrText(data)
	}
	return data
}

// jsonOrText redacts data as JSON when it looks like JSON, as a form when it looks like one, else leaves it.
func (r *redactor) jsonOrText(data []byte) []byte {
	t := bytes.TrimSpace(data)
	if len(t) == 0 {
		return data
	}
	if t[0] == '{' || t[0] == '[' {
		return r.json(data)
	}
	if formLike.Match(t) {
		return []byte(r.redactPairs(string(data)))
	}
	return data
}

var formLike = regexp.MustCompile(`^[A-Za-z0-9_.%+\-]+=[^\s]*$`)

// json replaces the string values of secret keys, leaving every other byte (order, spacing) as it was. On a
// truncated document it redacts up to the cut, and a secret value cut in the middle.
func (r *redactor) json(data []byte) []byte {
	rpc := bytes.Contains(data, []byte(`"jsonrpc"`))
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct{ obj, wantKey bool }
	var stack []frame
	var key string
	type span struct{ from, to int }
	var spans []span
	pendingSecret := false // a secret key was read and its value not yet
	cut := -1
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			if pendingSecret {
				cut = before
			}
			break
		}
		after := int(dec.InputOffset())
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			if s, ok := tok.(string); ok {
				key = s
				stack[n-1].wantKey = false
				pendingSecret = secretName(key) && !(rpc && strings.EqualFold(key, "code"))
				continue
			}
		}
		secret := pendingSecret
		pendingSecret = false
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				stack = append(stack, frame{obj: d == '{', wantKey: d == '{'})
				continue
			case '}', ']':
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
			}
		}
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
		if s, ok := tok.(string); ok && secret && s != "" {
			q := bytes.IndexByte(data[before:after], '"')
			if q >= 0 {
				r.note(s)
				spans = append(spans, span{before + q, after})
			}
		}
	}
	if len(spans) == 0 && cut < 0 {
		return data
	}
	var b bytes.Buffer
	last := 0
	for _, s := range spans {
		b.Write(data[last:s.from])
		b.WriteString(`"` + Redacted + `"`)
		last = s.to
	}
	if cut >= 0 {
		// The document ends inside a secret's value: keep the colon, drop the rest.
		rest := data[cut:]
		if q := bytes.IndexByte(rest, '"'); q >= 0 {
			b.Write(data[last : cut+q])
			b.WriteString(`"` + Redacted)
			return b.Bytes()
		}
	}
	b.Write(data[last:])
	return b.Bytes()
}

// sse redacts the data lines of an event stream as JSON.
func (r *redactor) sse(data []byte) []byte {
	if !utf8.Valid(data) {
		return data
	}
	lines := strings.SplitAfter(string(data), "\n")
	changed := false
	for i, l := range lines {
		body := strings.TrimRight(l, "\r\n")
		end := l[len(body):]
		if v, ok := strings.CutPrefix(body, "data:"); ok {
			sp := ""
			if strings.HasPrefix(v, " ") {
				sp, v = " ", v[1:]
			}
			if nv := string(r.jsonOrText([]byte(v))); nv != v {
				lines[i] = "data:" + sp + nv + end
				changed = true
			}
		}
	}
	if !changed {
		return data
	}
	return []byte(strings.Join(lines, ""))
}

var (
	htmlTag     = regexp.MustCompile(`(?is)<(?:input|meta)\b[^>]*>`)
	htmlNameAtt = regexp.MustCompile(`(?is)\b(?:name|id)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	htmlValAtt  = regexp.MustCompile(`(?is)\b(value|content)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
)

// html redacts the values of form fields and meta tags named like secrets (the consent form's CSRF token).
func (r *redactor) html(data []byte) []byte {
	return htmlTag.ReplaceAllFunc(data, func(tag []byte) []byte {
		m := htmlNameAtt.FindSubmatch(tag)
		if m == nil || !secretName(string(m[1])+string(m[2])) {
			return tag
		}
		return htmlValAtt.ReplaceAllFunc(tag, func(att []byte) []byte {
			v := htmlValAtt.FindSubmatch(att)
			val := string(v[2]) + string(v[3])
			if val == "" {
				return att
			}
			r.note(val)
			return []byte(string(v[1]) + `="` + Redacted + `"`)
		})
	})
}
