package proxy

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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

// IsDiscoveryPath reports whether path is an OAuth/OpenID discovery document.
func IsDiscoveryPath(path string) bool {
	for _, p := range discoveryPaths {
		if strings.Contains(path, p) {
			return true
		}
	}
	return false
}

// rewrittenHeaders are the response headers whose upstream URLs are rewritten.
var rewrittenHeaders = []string{"WWW-Authenticate", "Location"}

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

func (p *Proxy) rewriteResponse(resp *http.Response, base *url.URL) error {
	to := base.Scheme + "://" + base.Host
	ctx := resp.Request.Context()
	var notes []Rewrite
	for _, name := range rewrittenHeaders {
		vals := resp.Header[http.CanonicalHeaderKey(name)]
		for i, v := range vals {
			nv := v
			for _, from := range p.origins {
				if from == to {
					continue
				}
				out, n, _ := replaceOrigin(nv, from, to)
				if name == "Location" {
					// The authorization response's iss (RFC 9207) names the issuer, URL-encoded in the query: it
					// must match the issuer of the (rewritten) metadata, or a client that checks it refuses the code.
					var m int
					out, m = rewriteIssParam(out, from, to)
					n += m
				}
				if n > 0 {
					notes = append(notes, Rewrite{Where: "header " + name, From: from, To: to, Count: n, Before: nv, After: out})
					nv = out
				}
			}
			vals[i] = nv
		}
	}
	if IsDiscoveryPath(resp.Request.URL.Path) && resp.Body != nil && resp.Body != http.NoBody {
		ct := strings.ToLower(resp.Header.Get("Content-Type"))
		if ct == "" || strings.Contains(ct, "json") {
			n, err := p.rewriteBody(resp, to)
			if err != nil {
				return err
			}
			notes = append(notes, n...)
		}
	}
	for _, n := range notes {
		b, _ := json.Marshal(n)
		recorder.AddNote(ctx, NoteRewrite, string(b))
	}
	return nil
}

// rewriteBody rewrites a discovery document. It reads at most maxRewriteBody bytes; a larger or undecodable body is
// forwarded untouched (and the reason noted).
func (p *Proxy) rewriteBody(resp *http.Response, to string) ([]Rewrite, error) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxRewriteBody+1))
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("reading the upstream's %s: %w", resp.Request.URL.Path, err)
	}
	if len(raw) > maxRewriteBody {
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(raw), resp.Body), resp.Body}
		return []Rewrite{{Where: "body", To: to, Skipped: "larger than 4 MiB"}}, nil
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
			return []Rewrite{{Where: "body", To: to, Skipped: "content-encoding " + enc + " could not be decoded"}}, nil
		}
	default:
		return []Rewrite{{Where: "body", To: to, Skipped: "content-encoding " + enc}}, nil
	}
	var notes []Rewrite
	text := string(plain)
	for _, from := range p.origins {
		if from == to {
			continue
		}
		// JSON may escape the slashes (http:\/\/localhost:8080): rewrite both spellings.
		for _, f := range []struct{ from, to string }{{from, to}, {jsonSlashes(from), jsonSlashes(to)}} {
			out, n, urls := replaceOrigin(text, f.from, f.to)
			if n > 0 {
				notes = append(notes, Rewrite{Where: "body", From: from, To: to, Count: n, URLs: urls})
				text = out
			}
		}
	}
	if len(notes) == 0 {
		return nil, nil
	}
	resp.Body = io.NopCloser(strings.NewReader(text))
	resp.ContentLength = int64(len(text))
	resp.Header.Set("Content-Length", strconv.Itoa(len(text)))
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Etag") // the representation changed
	return notes, nil
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
