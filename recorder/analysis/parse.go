package analysis

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/mcpwatch/mcpwatch/internal/jsonscan"
	"github.com/mcpwatch/mcpwatch/recorder"
)

// Small readers of what an exchange carries: query, form or JSON bodies, the Bearer challenge, the public base URL.
// They never fail: what cannot be read is absent.

// query returns the URL's query parameters.
func query(ex *recorder.Exchange) url.Values {
	u := ex.URL
	i := strings.IndexByte(u, '?')
	if i < 0 {
		return nil
	}
	u = u[i+1:]
	if j := strings.IndexByte(u, '#'); j >= 0 {
		u = u[:j]
	}
	v, _ := url.ParseQuery(u)
	return v
}

func mediaType(h string) string {
	mt, _, err := mime.ParseMediaType(h)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.Split(h, ";")[0]))
	}
	return mt
}

// params reads a request body as parameters: a form (application/x-www-form-urlencoded) or a JSON object whose
// values are strings, numbers, booleans or string arrays (Claude sends its token request as JSON; seed document).
func params(ex *recorder.Exchange) url.Values {
	b := bytes.TrimSpace(ex.ReqBody.Data)
	if len(b) == 0 {
		return nil
	}
	ct := mediaType(header(ex.ReqHeaders, "Content-Type"))
	if b[0] == '{' || ct == "application/json" {
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			return nil
		}
		out := url.Values{}
		for k, raw := range m {
			var s string
			var arr []string
			switch {
			case json.Unmarshal(raw, &s) == nil:
				out.Set(k, s)
			case json.Unmarshal(raw, &arr) == nil:
				out[k] = arr
			default:
				out.Set(k, strings.TrimSpace(string(raw)))
			}
		}
		return out
	}
	if ct == "application/x-www-form-urlencoded" || ct == "" || bytes.IndexByte(b, '=') > 0 {
		v, err := url.ParseQuery(string(b))
		if err != nil {
			return nil
		}
		return v
	}
	return nil
}

// object parses b as a JSON object, or returns nil.
func object(b []byte) map[string]json.RawMessage {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// str returns m[k] as a string ("" when absent or not a string).
func str(m map[string]json.RawMessage, k string) string {
	var s string
	if raw, ok := m[k]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

// strs returns m[k] as a string list.
func strs(m map[string]json.RawMessage, k string) []string {
	var s []string
	if raw, ok := m[k]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

// num returns m[k] as a number (0 when absent).
func num(m map[string]json.RawMessage, k string) float64 {
	var f float64
	if raw, ok := m[k]; ok {
		_ = json.Unmarshal(raw, &f)
	}
	return f
}

func has(m map[string]json.RawMessage, k string) bool {
	_, ok := m[k]
	return ok
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// challenge is a parsed Bearer challenge of a WWW-Authenticate header (RFC 6750 §3, RFC 9728 §5.1).
type challenge struct {
	present bool
	params  map[string]string
}

// bearerChallenge finds the Bearer challenge among a response's WWW-Authenticate headers. Values may be quoted
// strings or bare tokens (the seed document's server sent resource_metadata unquoted).
func bearerChallenge(h recorder.Headers) challenge {
	for v := range headerValues(h, "WWW-Authenticate") {
		if c, ok := parseBearer(v); ok {
			return c
		}
	}
	return challenge{}
}

func parseBearer(s string) (challenge, bool) {
	i := 0
	for i < len(s) {
		// A challenge starts with a scheme token followed by a space or the end.
		for i < len(s) && (s[i] == ' ' || s[i] == ',') {
			i++
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != ',' && s[j] != '=' {
			j++
		}
		scheme := s[i:j]
		if j < len(s) && s[j] == '=' { // an auth-param of another challenge: skip it
			i = skipParam(s, i)
			continue
		}
		i = j
		if !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		c := challenge{present: true, params: map[string]string{}}
		for i < len(s) {
			for i < len(s) && (s[i] == ' ' || s[i] == ',') {
				i++
			}
			k := i
			for k < len(s) && s[k] != '=' && s[k] != ' ' && s[k] != ',' {
				k++
			}
			if k >= len(s) || s[k] != '=' { // the next challenge's scheme
				break
			}
			name := strings.ToLower(s[i:k])
			val, next := paramValue(s, k+1)
			c.params[name] = val
			i = next
		}
		return c, true
	}
	return challenge{}, false
}

func skipParam(s string, i int) int {
	for i < len(s) && s[i] != '=' {
		i++
	}
	_, next := paramValue(s, i+1)
	return next
}

// paramValue reads a token or a quoted string starting at i.
func paramValue(s string, i int) (string, int) {
	if i < len(s) && s[i] == '"' {
		var b strings.Builder
		i++
		for i < len(s) && s[i] != '"' {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
			i++
		}
		return b.String(), i + 1
	}
	j := i
	for j < len(s) && s[j] != ',' && s[j] != ' ' {
		j++
	}
	return s[i:j], j
}

// base is the scheme and host the client used to reach this exchange: for inbound requests behind a tunnel, the
// forwarded ones (X-Forwarded-Proto/-Host, as cloudflared sends), else http and the Host header.
func base(ex *recorder.Exchange) string {
	if ex.Kind == recorder.Outbound {
		if u, err := url.Parse(ex.URL); err == nil && u.Host != "" {
			return strings.ToLower(u.Scheme + "://" + u.Host)
		}
	}
	scheme := "http"
	if p := firstValue(header(ex.ReqHeaders, "X-Forwarded-Proto")); p != "" {
		scheme = strings.ToLower(p)
	}
	host := ex.Host
	if h := firstValue(header(ex.ReqHeaders, "X-Forwarded-Host")); h != "" {
		host = h
	}
	if host == "" {
		host = header(ex.ReqHeaders, "Host")
	}
	return scheme + "://" + strings.ToLower(host)
}

func firstValue(s string) string {
	if i := strings.IndexByte(s, ','); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// hashSecret names a secret (token, code) without keeping it: the first 12 hex digits of its SHA-256.
func hashSecret(s string) string {
	h := hashBytes(s)
	return string(h[:])
}

// hashLen is the length of hashSecret's hash.
const hashLen = 12

// hashBytes is hashSecret(s), without a string.
func hashBytes(s string) [hashLen]byte {
	sum := sha256.Sum256([]byte(s))
	var h [hashLen]byte
	hex.Encode(h[:], sum[:hashLen/2])
	return h
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(ex *recorder.Exchange) string {
	a := header(ex.ReqHeaders, "Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// basicUser returns the client id of an Authorization: Basic header (client_secret_basic).
func basicUser(ex *recorder.Exchange) string {
	a := header(ex.ReqHeaders, "Authorization")
	if len(a) < 6 || !strings.EqualFold(a[:6], "basic ") {
		return ""
	}
	d, err := base64.StdEncoding.DecodeString(strings.TrimSpace(a[6:]))
	if err != nil {
		return ""
	}
	user, _, _ := strings.Cut(string(d), ":")
	u, err := url.QueryUnescape(user)
	if err != nil {
		return user
	}
	return u
}

// location returns the parsed Location of a redirect.
func location(ex *recorder.Exchange) *url.URL {
	l := header(ex.RespHeaders, "Location")
	if l == "" {
		return nil
	}
	u, err := url.Parse(l)
	if err != nil {
		return nil
	}
	return u
}

// rpcResult returns the result of the response to the exchange's first client request, from a JSON body or an SSE
// event, or nil.
func rpcResult(ex *recorder.Exchange) []byte {
	var id json.RawMessage
	for _, m := range ex.RPC {
		if m.From == recorder.FromClient && m.Method != "" && len(m.ID) > 0 {
			id = m.ID
			break
		}
	}
	try := func(b []byte) []byte {
		b = bytes.TrimSpace(b)
		if len(b) == 0 || b[0] != '{' || !jsonscan.Valid(b) {
			return nil
		}
		res, ok := jsonscan.Member(b, "result")
		if !ok {
			return nil
		}
		if id != nil {
			if got, _ := jsonscan.Member(b, "id"); !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(id)) {
				return nil
			}
		}
		if res = bytes.TrimSpace(res); len(res) == 0 || res[0] != '{' {
			return nil
		}
		return res
	}
	if len(ex.Events) == 0 {
		return try(ex.RespBody.Data)
	}
	for _, ev := range ex.Events {
		// The event's data as bytes without a copy: read only here and by every caller, which keeps none of it
		// (an initialize's result was copied for every session setup).
		if r := try(unsafe.Slice(unsafe.StringData(ev.Data), len(ev.Data))); r != nil {
			return r
		}
	}
	return nil
}

// memberObject is obj's member key when it is an object (nil otherwise), as object(m[key]) reads it.
func memberObject(obj []byte, key string) []byte {
	v, _ := jsonscan.Member(obj, key)
	if v = bytes.TrimSpace(v); len(v) == 0 || v[0] != '{' {
		return nil
	}
	return v
}

// memberString is obj's member key when it is a string ("" otherwise), as str reads it.
func memberString(obj []byte, key string) string {
	v, ok := jsonscan.Member(obj, key)
	if !ok {
		return ""
	}
	v = bytes.TrimSpace(v)
	if n := len(v); n >= 2 && v[0] == '"' && v[n-1] == '"' && bytes.IndexByte(v[1:n-1], '\\') < 0 && utf8.Valid(v[1:n-1]) {
		return string(v[1 : n-1]) // nothing to unquote: what json.Unmarshal would make of it, without its decoder
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// hasMember reports whether obj (nil, or a valid JSON object) has a member named key.
func hasMember(obj []byte, key string) bool {
	_, ok := jsonscan.Member(obj, key)
	return ok
}

// rpcParamsOf returns the params of a request body's (first) client message.
func rpcParamsOf(body []byte) map[string]json.RawMessage {
	return object(rpcParamsBytes(body))
}

// rpcParamsBytes is the params object of a request body's (first) client message, as written (nil when the body is
// not a valid JSON object or its params not an object).
func rpcParamsBytes(body []byte) []byte {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' || !jsonscan.Valid(b) {
		return nil // as object(body)
	}
	return memberObject(b, "params")
}

// metaKey is the _meta member that carries a request's protocol version (2026-07-28).
const metaKey = "io.modelcontextprotocol/protocolVersion"

// reqMemo is what the analyzer read of the last request body it parsed: the rules of one exchange (its era, its
// client, its session and version headers, its tool) look at the same params, which were decoded for each of them
// (five times for a 2026-07-28 tools/call). A body is the same while its bytes are: the same start and length
// (records' bodies are never written again once recorded; a growing one is longer); the memo holds the body it
// read, so its memory is not reused meanwhile. The members the analysis reads of every request (the client's
// name and version, _meta's protocol version) are read in place from the params as written; the params are
// decoded into a map only for a rule that asks for it (rpcParams: a tools/list's cursor, a tools/call's tool):
// an initialize's were 16 allocations and most of the analysis' CPU for its client.
type reqMemo struct {
	data       *byte
	n          int
	raw        []byte                     // the params object as written (rpcParamsBytes)
	params     map[string]json.RawMessage // rpcParams, decoded on demand; read only by its users
	paramsDone bool
	metaObj    []byte // params._meta as written (nil: none, or not an object)
	metaRead   bool
	meta       string // params._meta's protocol version
	metaDone   bool
	ciName     string // params' client info
	ciVer      string
	ciDone     bool
}

// at makes the memo the body b's.
func (m *reqMemo) at(b []byte) {
	if len(b) == 0 || unsafe.SliceData(b) != m.data || len(b) != m.n {
		*m = reqMemo{data: unsafe.SliceData(b), n: len(b)}
		if len(b) > 0 {
			m.raw = rpcParamsBytes(b)
		}
	}
}

// decoded is the params decoded into a map, once per body.
func (m *reqMemo) decoded() map[string]json.RawMessage {
	if !m.paramsDone {
		m.params, m.paramsDone = object(m.raw), true
	}
	return m.params
}

// rpcParams returns the params of the exchange's first client message, read once per request body.
func (a *Analyzer) rpcParams(ex *recorder.Exchange) map[string]json.RawMessage {
	a.req.at(ex.ReqBody.Data)
	return a.req.decoded()
}

// reqMetaVersion is the _meta protocol version of a request, without parsing a body that cannot hold one, read
// once per request body.
func (a *Analyzer) reqMetaVersion(ex *recorder.Exchange) string {
	if !bytes.Contains(ex.ReqBody.Data, []byte(metaKey)) {
		return ""
	}
	return a.paramsMetaVersion(ex)
}

// paramsMetaVersion returns the 2026-07-28 _meta protocol version of a request's params, read once per request
// body.
func (a *Analyzer) paramsMetaVersion(ex *recorder.Exchange) string {
	a.req.at(ex.ReqBody.Data)
	if !a.req.metaDone {
		a.req.meta, a.req.metaDone = memberString(a.req.metaObject(), metaKey), true
	}
	return a.req.meta
}

// metaObject is params._meta when it is an object, as written, read once.
func (m *reqMemo) metaObject() []byte {
	if !m.metaRead {
		m.metaObj, m.metaRead = memberObject(m.raw, "_meta"), true
	}
	return m.metaObj
}

// clientInfo returns the name and version a client gave: initialize's clientInfo, or the 2026-07-28 per-request
// _meta["io.modelcontextprotocol/clientInfo"]; read once per request body, in place.
func (a *Analyzer) clientInfo(ex *recorder.Exchange) (name, version string) {
	a.req.at(ex.ReqBody.Data)
	if !a.req.ciDone {
		if p := a.req.raw; p != nil {
			ci := memberObject(p, "clientInfo")
			if ci == nil {
				if meta := a.req.metaObject(); meta != nil {
					ci = memberObject(meta, "io.modelcontextprotocol/clientInfo")
				}
			}
			a.req.ciName, a.req.ciVer = memberString(ci, "name"), memberString(ci, "version")
		}
		a.req.ciDone = true
	}
	return a.req.ciName, a.req.ciVer
}

// trimSlash removes one trailing slash (resource identifiers compare without it; go-sdk oauthex/audience.go).
func trimSlash(s string) string {
	if len(s) > 1 && strings.HasSuffix(s, "/") {
		return s[:len(s)-1]
	}
	return s
}

// canonical lowercases the scheme and host of a URL (RFC 8707 / MCP: canonical resource URIs).
func canonical(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return s
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	return u.String()
}

// isLoopbackURL reports an http(s) URL whose host is localhost or a loopback address.
func isLoopbackURL(u *url.URL) bool {
	h := strings.ToLower(u.Hostname())
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

// jwtHeader is a member of a JWT's header (its first part), read without verifying anything; "" if it is not one.
func jwtHeader(jwt, member string) string {
	head, _, ok := strings.Cut(jwt, ".")
	if !ok || len(head) > 4096 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(head, "="))
	if err != nil {
		return ""
	}
	return str(object(b), member)
}
