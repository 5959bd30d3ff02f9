package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
)

// Rewrite is the value of a NoteRewrite note, as JSON: one note per rewritten header or document and per origin.
// The upstream's original response is the linked outbound exchange (notes "outbound"/"inbound").
type Rewrite struct {
	// Where: "header WWW-Authenticate", "header Location" or "body".
	Where string `json:"where"`
	// From is the upstream origin that was replaced (e.g. http://localhost:8080), To the request's public origin.
	From string `json:"from"`
	To   string `json:"to"`
	// Count is the number of occurrences replaced.
	Count int `json:"count"`
	// Before and After are a header's value as the upstream sent it and as the client received it.
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// URLs are the distinct URLs as the upstream wrote them in a body (at most maxNotedURLs).
	URLs []string `json:"urls,omitempty"`
	// Skipped says why a discovery document was left as it was (e.g. "content-encoding br", "larger than 4 MiB").
	Skipped string `json:"skipped,omitempty"`
	// Direct lists the endpoints of an authorization server's metadata on another origin than its own, left as
	// they are: the client talks to them directly, unwatched ("token_endpoint https://...").
	Direct []string `json:"direct,omitempty"`

	key string // the note's key: NoteRewrite, or NoteRewriteAS for the watched authorization server's origin
}

const (
	maxRewriteBody = 4 << 20
	maxNotedURLs   = 20
)

// discoveryPaths are the documents whose absolute URLs are rewritten (path-inserted and path-appended forms alike).
var discoveryPaths = []string{
	"/.well-known/oauth-protected-resource",
	"/.well-known/oauth-authorization-server",
	"/.well-known/openid-configuration",
}

// isDiscoveryPath reports whether path is an OAuth/OpenID discovery document.
func isDiscoveryPath(path string) bool {
	for _, p := range discoveryPaths {
		if strings.Contains(path, p) {
			return true
		}
	}
	return false
}

// rewrittenHeaders are the response headers whose upstream URLs are rewritten.
var rewrittenHeaders = []string{"WWW-Authenticate", "Location", "Content-Location", "Access-Control-Allow-Origin"}

// rewrittenKeys are rewrittenHeaders' keys in an http.Header, made once (CanonicalHeaderKey("WWW-Authenticate") is
// a new string each time: an allocation a response).
var rewrittenKeys = func() []string {
	keys := make([]string, len(rewrittenHeaders))
	for i, name := range rewrittenHeaders {
		keys[i] = http.CanonicalHeaderKey(name)
	}
	return keys
}()

// ownOrigins lists the origins under which the upstream names itself: its scheme and host, and for a loopback host
// every loopback spelling with the same port (a server on 127.0.0.1:8080 often says http://localhost:8080).
func ownOrigins(up *url.URL) []string {
	host, port := up.Hostname(), up.Port()
	hosts := []string{host}
	if publicurl.IsLoopback(up.Host) {
		for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
			if h != host {
				hosts = append(hosts, h)
			}
		}
	}
	def := map[string]string{"http": "80", "https": "443"}[up.Scheme]
	var out []string
	for _, h := range hosts {
		hp := h
		if strings.Contains(h, ":") {
			hp = "[" + h + "]"
		}
		if port == "" || port == def {
			out = append(out, up.Scheme+"://"+hp, up.Scheme+"://"+net.JoinHostPort(h, def))
		} else {
			out = append(out, up.Scheme+"://"+net.JoinHostPort(h, port))
		}
	}
	return out
}

// mapping replaces the origin spellings from by the origin to.
type mapping struct {
	from []string
	to   string
	key  string // of the notes: NoteRewrite ("" too) or NoteRewriteAS
}

// docKind is what a response body is, for rewriting.
type docKind int

const (
	docNone      docKind = iota
	docDiscovery         // a JSON discovery document: rewritten
	docHTML              // an HTML page of the authorization server: rewritten, then scanned for the real origin
	docScript            // a script of the authorization server: scanned for the real origin, not rewritten
)

// mcpMappings are the rewrites on the MCP listener: the upstream's own origin to the request's public origin
// (--rewrite-urls), and the watched authorization server's origin to its listener's public origin.
func (p *Proxy) mcpMappings(buf *[2]mapping, to string) []mapping {
	maps := buf[:0]
	if p.opts.RewriteURLs {
		maps = append(maps, mapping{from: p.origins, to: to})
	}
	if p.as != nil {
		if origins, pub := p.as.mapping(); len(origins) > 0 && pub != "" {
			maps = append(maps, mapping{from: origins, to: pub, key: NoteRewriteAS})
		}
	}
	return maps
}

// originText is base's scheme and host as an origin (scheme://host): the last one's text when they are the same (a
// proxy's clients come through one public origin; it was an allocation a response).
func (p *Proxy) originText(base *url.URL) string {
	if last := p.lastOrigin.Load(); last != nil && last.scheme == base.Scheme && last.host == base.Host {
		return last.text
	}
	o := &origin{scheme: base.Scheme, host: base.Host, text: base.Scheme + "://" + base.Host}
	p.lastOrigin.Store(o)
	return o.text
}

// origin is a scheme and host and their origin's text.
type origin struct{ scheme, host, text string }

// rewriteResponse rewrites a response of the MCP listener.
func (p *Proxy) rewriteResponse(resp *http.Response, base *url.URL) error {
	to := p.originText(base)
	ctx := resp.Request.Context()
	var notes []Rewrite
	kind := docNone
	if isDiscoveryPath(resp.Request.URL.Path) && jsonish(resp.Header.Get("Content-Type")) {
		kind = docDiscovery
	}
	text, ok, n, err := readPlain(resp, kind, to)
	if err != nil {
		return err
	}
	notes = append(notes, n...)
	if ok && p.as != nil && strings.Contains(resp.Request.URL.Path, "/.well-known/oauth-protected-resource") {
		// The upstream's own origins, and the request's public one: an upstream that builds its URLs from
		// X-Forwarded-Host names itself by mcpwatch's origin, and is its own authorization server.
		p.as.learn(ctx, text, append(slices.Clip(p.origins), to), to)
	}
	var buf [2]mapping
	maps := p.mcpMappings(&buf, to)
	notes = append(notes, rewriteHeaders(resp, maps)...)
	if ok {
		n, _ := rewriteText(resp, text, maps, kind)
		notes = append(notes, n...)
	}
	addNotes(ctx, notes)
	return nil
}

func addNotes(ctx context.Context, notes []Rewrite) {
	for _, n := range notes {
		b, _ := json.Marshal(n)
		key := n.key
		if key == "" {
			key = NoteRewrite
		}
		recorder.AddNote(ctx, key, string(b))
	}
}

func jsonish(ct string) bool {
	ct = strings.ToLower(ct)
	return ct == "" || strings.Contains(ct, "json")
}

// rewriteHeaders rewrites the origins of maps in the response headers that carry URLs (and the iss parameter of
// a Location, RFC 9207).
func rewriteHeaders(resp *http.Response, maps []mapping) []Rewrite {
	var notes []Rewrite
	for i, name := range rewrittenHeaders {
		vals := resp.Header[rewrittenKeys[i]]
		for i, v := range vals {
			nv := v
			for _, m := range maps {
				for _, from := range m.from {
					if from == m.to {
						continue
					}
					out, n, _ := replaceOrigin(nv, from, m.to)
					if name == "Location" {
						// The authorization response's iss (RFC 9207) names the issuer, URL-encoded in the query: it
						// must match the issuer of the (rewritten) metadata, or a client that checks it refuses the code.
						var k int
						out, k = rewriteIssParam(out, from, m.to)
						n += k
					}
					if n > 0 {
						notes = append(notes, Rewrite{Where: "header " + name, From: from, To: m.to, Count: n, Before: nv, After: out, key: m.key})
						nv = out
					}
				}
			}
			vals[i] = nv
		}
	}
	return notes
}

// readPlain reads a body of kind (docNone: none is read) whole, up to maxRewriteBody bytes, decoding gzip. The
// response keeps its body as the upstream sent it; ok is false (and a note says why) when it cannot be rewritten.
func readPlain(resp *http.Response, kind docKind, to string) (string, bool, []Rewrite, error) {
	if kind == docNone || resp.Body == nil || resp.Body == http.NoBody {
		return "", false, nil, nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxRewriteBody+1))
	if err != nil {
		resp.Body.Close()
		return "", false, nil, fmt.Errorf("reading the upstream's %s: %w", resp.Request.URL.Path, err)
	}
	if len(raw) > maxRewriteBody {
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(raw), resp.Body), resp.Body}
		return "", false, []Rewrite{{Where: "body", To: to, Skipped: "larger than 4 MiB"}}, nil
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	plain := raw
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			plain, err = io.ReadAll(io.LimitReader(zr, maxRewriteBody+1))
		}
		if err != nil || len(plain) > maxRewriteBody {
			return "", false, []Rewrite{{Where: "body", To: to, Skipped: "content-encoding " + enc + " could not be decoded"}}, nil
		}
	default:
		return "", false, []Rewrite{{Where: "body", To: to, Skipped: "content-encoding " + enc}}, nil
	}
	return string(plain), true, nil, nil
}

// rewriteText rewrites the origins of maps in a body read by readPlain, and sets it as the response's body when
// anything changed. A script is not rewritten (its URLs may be built in ways no replacement can follow).
func rewriteText(resp *http.Response, text string, maps []mapping, kind docKind) ([]Rewrite, string) {
	if kind == docScript {
		return nil, text
	}
	var notes []Rewrite
	for _, m := range maps {
		for _, from := range m.from {
			if from == m.to {
				continue
			}
			// JSON (and a script in a page) may escape the slashes (http:\/\/localhost:8080): rewrite both spellings.
			for _, f := range []struct{ from, to string }{{from, m.to}, {jsonSlashes(from), jsonSlashes(m.to)}} {
				out, n, urls := replaceOrigin(text, f.from, f.to)
				if n > 0 {
					notes = append(notes, Rewrite{Where: "body", From: from, To: m.to, Count: n, URLs: urls, key: m.key})
					text = out
				}
			}
		}
	}
	if len(notes) == 0 {
		return nil, text
	}
	resp.Body = io.NopCloser(strings.NewReader(text))
	resp.ContentLength = int64(len(text))
	resp.Header.Set("Content-Length", strconv.Itoa(len(text)))
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Etag") // the representation changed
	return notes, text
}

type readCloser struct {
	io.Reader
	io.Closer
}

// rewriteIssParam rewrites the origin from to to in the value of the iss query parameter of the URL loc, leaving
// every other byte of it as it is.
func rewriteIssParam(loc, from, to string) (string, int) {
	q := strings.IndexByte(loc, '?')
	if q < 0 {
		return loc, 0
	}
	query, frag, _ := strings.Cut(loc[q+1:], "#")
	parts := strings.Split(query, "&")
	n := 0
	for i, part := range parts {
		k, v, ok := strings.Cut(part, "=")
		if !ok || k != "iss" {
			continue
		}
		iss, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		if out, m, _ := replaceOrigin(iss, from, to); m > 0 && strings.HasPrefix(iss, from) {
			parts[i] = k + "=" + url.QueryEscape(out)
			n++
		}
	}
	if n == 0 {
		return loc, 0
	}
	out := loc[:q+1] + strings.Join(parts, "&")
	if strings.Contains(loc[q+1:], "#") {
		out += "#" + frag
	}
	return out, n
}

func jsonSlashes(s string) string { return strings.ReplaceAll(s, "/", `\/`) }

// replaceOrigin replaces each occurrence of the origin from in s by to, where the origin ends there (the next
// byte cannot continue a host or port: http://localhost:80 is not a prefix of http://localhost:8080). It returns
// the new string, the count and the distinct URLs replaced (as written, at most maxNotedURLs).
func replaceOrigin(s, from, to string) (string, int, []string) {
	var b strings.Builder
	var urls []string
	seen := map[string]bool{}
	n, i := 0, 0
	for {
		j := strings.Index(s[i:], from)
		if j < 0 {
			break
		}
		start, end := i+j, i+j+len(from)
		if end < len(s) && continuesHost(s[end]) {
			b.WriteString(s[i : start+1])
			i = start + 1
			continue
		}
		if u := urlAt(s[start:]); !seen[u] && len(urls) < maxNotedURLs {
			seen[u] = true
			urls = append(urls, u)
		}
		b.WriteString(s[i:start])
		b.WriteString(to)
		i = end
		n++
	}
	if n == 0 {
		return s, 0, nil
	}
	b.WriteString(s[i:])
	return b.String(), n, urls
}

func continuesHost(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '-' || c == ':' || c == '_' || c == '@' || c == '%'
}

// urlAt returns the URL that starts s, up to a quote, space, comma or the end of a JSON string.
func urlAt(s string) string {
	end := strings.IndexAny(s, "\"' \t\r\n,<>")
	if end < 0 {
		end = len(s)
	}
	u := s[:end]
	return strings.TrimSuffix(u, `\`) // the backslash of an escaped quote
}
