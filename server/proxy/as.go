package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
)

// Note keys the authorization server's listener adds to its inbound exchanges.
const (
	// NoteAS: the origin of the authorization server the exchange was forwarded to (second listener only).
	NoteAS = "authorization-server"
	// NoteASLearnt: on the resource metadata that named it, which authorization server is now watched (or not).
	NoteASLearnt = "authorization-server-learnt"
	// NoteRewriteAS: a Rewrite (JSON) of the watched authorization server's origin, on either listener — kept apart
	// from NoteRewrite, which says the upstream named itself by a URL a remote client cannot follow.
	NoteRewriteAS = "rewrite-as"
	// NoteASProblem: why a page or redirect of the authorization server may not work through the proxy.
	NoteASProblem = "as-unproxyable"
	// NoteStage names the exchange's stage (recorder/analysis reads it): the listener knows the server's
	// endpoints from its metadata, where paths alone say little (/protocol/openid-connect/auth, /interaction/x).
	NoteStage = "stage"
)

// Bounds on what a watched authorization server can make the proxy hold.
const (
	maxASEndpoints = 64 // endpoint paths learnt from its metadata
	maxASOthers    = 8  // further authorization servers named and not watched
	maxASSaid      = 32 // distinct problems reported through OnASFinding
)

// asState is the authorization server being watched: the first one the upstream's resource metadata names on an
// origin other than the upstream's own. It is served, unchanged but for its own origin, by the second listener.
type asState struct {
	onFinding func(string)

	mu        sync.RWMutex
	target    *url.URL // scheme://host of the real server; nil until learnt
	origins   []string // its spellings
	public    string   // the listener's public origin (SetASPublic)
	endpoints map[string]string
	others    []string
	said      map[string]bool

	cookies    cookieNames // set by the authorization server: removed from what the MCP listener forwards
	mcpCookies cookieNames // set by the upstream MCP server: removed from what the AS listener forwards
}

func newASState(onFinding func(string)) *asState {
	return &asState{onFinding: onFinding, endpoints: map[string]string{}, said: map[string]bool{}}
}

// SetASPublic sets the public origin of the authorization server's listener: --as-public-url, a tunnel's URL, or
// the listener's loopback URL. The MCP listener rewrites the server's origin to it.
func (p *Proxy) SetASPublic(s string) error {
	if p.as == nil {
		return fmt.Errorf("the authorization server is not watched")
	}
	u, err := publicurl.ParsePublic(s)
	if err != nil {
		return err
	}
	p.as.mu.Lock()
	p.as.public = u.Scheme + "://" + u.Host
	p.as.mu.Unlock()
	return nil
}

// WatchedAS returns the origin of the watched authorization server, or "" while none is known.
func (p *Proxy) WatchedAS() string {
	if p.as == nil {
		return ""
	}
	t, _ := p.as.current()
	if t == nil {
		return ""
	}
	return t.String()
}

func (s *asState) current() (*url.URL, []string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.target, s.origins
}

// mapping returns the real server's origins and the listener's public origin.
func (s *asState) mapping() ([]string, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.origins, s.public
}

// say reports a problem once (and at most maxASSaid distinct ones).
func (s *asState) say(msg string) {
	s.mu.Lock()
	first := !s.said[msg] && len(s.said) < maxASSaid
	if first {
		s.said[msg] = true
	}
	s.mu.Unlock()
	if first && s.onFinding != nil {
		s.onFinding(msg)
	}
}

// learn reads a protected resource metadata document (as the upstream sent it) and watches the first
// authorization server it names on another origin than the upstream's own (own).
//
// from is the public origin the document was fetched through ("" at start): when it is not loopback and the
// listener's is, a remote client cannot follow, and that is said.
func (s *asState) learn(ctx context.Context, doc string, own []string, from string) {
	var prm struct {
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if json.Unmarshal([]byte(doc), &prm) != nil {
		return
	}
	for _, as := range prm.AuthorizationServers {
		u, err := url.Parse(as)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			continue
		}
		origin := u.Scheme + "://" + strings.ToLower(u.Host)
		s.mu.Lock()
		if slices.Contains(own, origin) || origin == s.public {
			s.mu.Unlock()
			continue // the upstream is its own authorization server (--rewrite-urls covers it), or names ours
		}
		var msg string
		switch {
		case s.target == nil:
			s.target = &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host)}
			s.origins = ownOrigins(s.target)
			msg = fmt.Sprintf("watching the authorization server %s, which the upstream's resource metadata names, through mcpwatch's second listener (--watch-as=false leaves the client talking to it directly)", origin)
			if pu, err := url.Parse(s.public); from != "" && err == nil && publicurl.IsLoopback(pu.Host) && !publicurl.IsLoopback(strings.TrimPrefix(strings.TrimPrefix(from, "https://"), "http://")) {
				msg += fmt.Sprintf("; but that listener, %s, is reachable on this machine only, and the client came through %s: run a second tunnel to it and pass its URL with --as-public-url, or use --watch-as=false", s.public, from)
			}
		case !slices.Contains(s.origins, origin) && !slices.Contains(s.others, origin) && len(s.others) < maxASOthers:
			s.others = append(s.others, origin)
			msg = fmt.Sprintf("the resource metadata also names the authorization server %s, which is not watched (only %s is)", origin, s.target)
		}
		s.mu.Unlock()
		if msg != "" {
			recorder.AddNote(ctx, NoteASLearnt, msg)
			s.say(msg)
		}
	}
}

// endpointStages are the metadata fields whose paths name a stage; the other *_endpoint and *_uri fields of the
// server's own origin are known not to be login pages.
var endpointStages = map[string]string{
	"authorization_endpoint": "authorize",
	"token_endpoint":         "token",
	"registration_endpoint":  "register",
	"revocation_endpoint":    "revoke",
}

// learnEndpoints reads the server's metadata (as it sent it): the paths of its endpoints on its own origin, for
// the stages; it returns the endpoints on other origins, which are left as they are (the client talks to them
// directly, unwatched).
func (s *asState) learnEndpoints(doc string) []string {
	var md map[string]json.RawMessage
	if json.Unmarshal([]byte(doc), &md) != nil {
		return nil
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		if strings.HasSuffix(k, "_endpoint") || strings.HasSuffix(k, "_uri") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var direct []string
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		var v string
		if json.Unmarshal(md[k], &v) != nil {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			continue
		}
		if !slices.Contains(s.origins, u.Scheme+"://"+strings.ToLower(u.Host)) {
			if len(direct) < maxNotedURLs {
				direct = append(direct, k+" "+v)
			}
			continue
		}
		st := endpointStages[k]
		if old, ok := s.endpoints[u.Path]; ok {
			if old == "" && st != "" {
				s.endpoints[u.Path] = st
			}
			continue
		}
		if len(s.endpoints) < maxASEndpoints {
			s.endpoints[u.Path] = st
		}
	}
	return direct
}

// stageOf names the stage of a request to the authorization server: by the endpoints its metadata named, then
// by the request's shape; every other page of the server's own is its login.
func (s *asState) stageOf(r *http.Request) string {
	path := r.URL.Path
	if isDiscoveryPath(path) {
		return "auth-metadata"
	}
	s.mu.RLock()
	st, known := s.endpoints[path]
	if !known {
		// The authorization endpoint's own sub-paths (node-oidc-provider resumes at /auth/UID after login).
		for p, e := range s.endpoints {
			if e == "authorize" && p != "/" && strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
				st, known = e, true
				break
			}
		}
	}
	s.mu.RUnlock()
	if r.Method == http.MethodOptions {
		return "" // a CORS preflight: the analysis judges it by its path
	}
	if st == "token" || !known && r.Method == http.MethodPost {
		if g := grantType(r); g == "refresh_token" {
			return "refresh"
		} else if g != "" {
			return "token"
		}
	}
	if known {
		return st // "" for the server's other endpoints (jwks_uri, userinfo...): the analysis decides
	}
	if r.URL.Query().Get("response_type") != "" {
		return "authorize"
	}
	lp := strings.ToLower(path)
	if strings.Contains(lp, "consent") || strings.Contains(lp, "confirm") || strings.Contains(lp, "approve") {
		return "consent"
	}
	return "login"
}

// grantType reads the grant_type of a form body that wholeBody kept in memory ("" otherwise).
func grantType(r *http.Request) string {
	if r.GetBody == nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return ""
	}
	rc, err := r.GetBody()
	if err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(rc, maxWholeBody))
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return ""
	}
	return v.Get("grant_type")
}

// AS is the handler of the authorization server's listener, nil unless Options.WatchAS. Mount it behind the same
// capture and guard middleware as the proxy itself (a second server.Server with the same recorder).
func (p *Proxy) AS() http.Handler {
	if p.as == nil {
		return nil
	}
	return asHandler{p}
}

type asHandler struct{ p *Proxy }

func (h asHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target, _ := h.p.as.current()
	if target == nil {
		line := "502 Bad Gateway: mcpwatch watches the authorization server the upstream's protected resource metadata names on another origin, and it has named none yet (fetch " + h.p.upstream.Scheme + "://" + h.p.upstream.Host + "/.well-known/oauth-protected-resource through mcpwatch first)"
		recorder.AddNote(ctx, NoteError, line)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, line+"\n")
		return
	}
	recorder.AddNote(ctx, NoteAS, target.String())
	_ = http.NewResponseController(w).EnableFullDuplex()
	wholeBody(r)
	if st := h.p.as.stageOf(r); st != "" {
		recorder.AddNote(ctx, NoteStage, st)
	}
	h.p.asRP.ServeHTTP(w, r)
}

// asRewrite forwards to the real authorization server as if the client talked to it directly: its own Host, no
// X-Forwarded-* (a server that trusts them would issue its tokens under mcpwatch's name, and the MCP server would
// refuse them), the browser's Origin and Referer on its own origin, and only the content codings the rewriter
// can read.
func (p *Proxy) asRewrite(pr *httputil.ProxyRequest) {
	target, _ := p.as.current()
	if target == nil { // cannot happen: ServeHTTP checked
		target = p.target
	}
	pr.SetURL(target)
	inMemoryBody(pr)
	stripCookies(pr.In.Context(), pr.Out.Header, &p.as.mcpCookies, "the upstream MCP server", NoteRewriteAS)
	b := publicurl.Base(pr.In)
	pub := b.Scheme + "://" + b.Host
	for _, h := range []string{"Origin", "Referer"} {
		if v := pr.Out.Header.Get(h); v != "" {
			if out, n, _ := replaceOrigin(v, pub, target.String()); n > 0 && strings.HasPrefix(v, pub) {
				pr.Out.Header.Set(h, out)
			}
		}
	}
	if ae := pr.Out.Header.Get("Accept-Encoding"); ae != "" {
		if strings.Contains(strings.ToLower(ae), "gzip") {
			pr.Out.Header.Set("Accept-Encoding", "gzip")
		} else {
			pr.Out.Header.Del("Accept-Encoding")
		}
	}
}

// asModifyResponse rewrites the authorization server's origin in what it answers: headers, discovery documents,
// HTML pages, cookies; and notes what cannot work through the proxy.
func (p *Proxy) asModifyResponse(resp *http.Response) error {
	ctx := resp.Request.Context()
	if resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &streamBody{rc: resp.Body, ctx: ctx}
	}
	b := publicurl.Base(resp.Request)
	to := b.Scheme + "://" + b.Host
	origins, _ := p.as.mapping()
	maps := []mapping{{from: origins, to: to, key: NoteRewriteAS}}
	path := resp.Request.URL.Path
	ct := strings.ToLower(resp.Header.Get("Content-Type"))
	kind := docNone
	switch {
	case isDiscoveryPath(path) && jsonish(ct):
		kind = docDiscovery
	case strings.HasPrefix(ct, "text/html"):
		kind = docHTML
	case strings.Contains(ct, "javascript"), strings.Contains(ct, "ecmascript"):
		kind = docScript
	}
	text, ok, notes, err := readPlain(resp, kind, to)
	if err != nil {
		return err
	}
	if ok && kind == docDiscovery && resp.StatusCode < 300 {
		if direct := p.as.learnEndpoints(text); len(direct) > 0 {
			notes = append(notes, Rewrite{Where: "body", To: to, Direct: direct, key: NoteRewriteAS})
		}
	}
	notes = append(notes, rewriteHeaders(resp, maps)...)
	p.as.cookies.learn(resp, &p.as.mcpCookies)
	notes = append(notes, rewriteCookies(resp, to)...)
	what := resp.Request.Method + " " + path
	if ok {
		var n []Rewrite
		n, text = rewriteText(resp, text, maps, kind)
		notes = append(notes, n...)
		if kind == docHTML || kind == docScript {
			for _, o := range origins {
				host := o[strings.Index(o, "://")+3:]
				if strings.Contains(text, host) {
					page := "page"
					if kind == docScript {
						page = "script"
					}
					p.asProblem(ctx, fmt.Sprintf("the authorization server's %s %s still names its real host %s after rewriting: it builds its own URLs, and the login may leave mcpwatch or fail; run with --watch-as=false to let the client talk to %s directly", page, what, host, o))
					break
				}
			}
		}
	}
	if loc, err := url.Parse(resp.Header.Get("Location")); err == nil && loc.IsAbs() && loc.Host != "" &&
		loc.Scheme+"://"+strings.ToLower(loc.Host) != to && leavesForLogin(loc) {
		p.asProblem(ctx, fmt.Sprintf("the authorization server sent the browser on to %s://%s (%s): that origin is not watched, and a login that comes back to the real %s will not find the session it began through mcpwatch; run with --watch-as=false if the login fails", loc.Scheme, loc.Host, what, origins[0]))
	}
	addNotes(ctx, notes)
	return nil
}

func (p *Proxy) asProblem(ctx context.Context, msg string) {
	recorder.AddNote(ctx, NoteASProblem, msg)
	p.as.say(msg)
}

// leavesForLogin reports a redirect to a third origin that is not the authorization response going back to the
// client (code or error in its query or fragment): a federated login, another host of the same provider.
func leavesForLogin(u *url.URL) bool {
	q := u.Query()
	if q.Has("response_type") {
		return true // an authorization request to another server
	}
	if q.Has("code") || q.Has("error") {
		return false
	}
	f, _ := url.ParseQuery(u.Fragment)
	return !f.Has("code") && !f.Has("access_token") && !f.Has("error")
}

// rewriteCookies makes the server's cookies stick to the listener: no Domain (it names the real host, or a
// parent of it), and on a plain-http listener no Secure (which a browser would refuse to store or send there,
// Chrome and Firefox on localhost aside) — SameSite=None then becomes Lax, as None requires Secure. Cookies whose
// name requires Secure (__Secure-, __Host-) keep it. Names and values pass untouched; notes show attributes only.
func rewriteCookies(resp *http.Response, to string) []Rewrite {
	var notes []Rewrite
	plain := strings.HasPrefix(to, "http://")
	vals := resp.Header["Set-Cookie"]
	for i, v := range vals {
		parts := strings.Split(v, ";")
		name, _, _ := strings.Cut(strings.TrimSpace(parts[0]), "=")
		keepSecure := !plain || strings.HasPrefix(name, "__Secure-") || strings.HasPrefix(name, "__Host-")
		out := []string{parts[0]}
		var dropped []string
		droppedSecure := false
		for _, a := range parts[1:] {
			k, _, _ := strings.Cut(strings.TrimSpace(a), "=")
			switch k = strings.ToLower(strings.TrimSpace(k)); {
			case k == "domain":
				dropped = append(dropped, strings.TrimSpace(a))
				continue
			case k == "secure" && !keepSecure:
				dropped = append(dropped, "Secure")
				droppedSecure = true
				continue
			}
			out = append(out, a)
		}
		if droppedSecure {
			for j, a := range out[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(a), "=")
				if strings.EqualFold(strings.TrimSpace(k), "samesite") && strings.EqualFold(strings.TrimSpace(val), "none") {
					out[j+1] = " SameSite=Lax"
					dropped = append(dropped, "SameSite=None (now Lax)")
				}
			}
		}
		if len(dropped) == 0 {
			continue
		}
		vals[i] = strings.Join(out, ";")
		notes = append(notes, Rewrite{Where: "header Set-Cookie", To: to, Count: len(dropped), key: NoteRewriteAS,
			Before: name + ": " + strings.Join(dropped, "; "), After: name + ": dropped"})
	}
	return notes
}

// DiscoverAS asks the upstream for its protected resource metadata (the path-suffixed document, then the root
// one), unrecorded, to learn the authorization server before a client comes; it returns its origin ("" if none
// is named on another origin).
func (p *Proxy) DiscoverAS(ctx context.Context) string {
	if p.as == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	paths := []string{"/.well-known/oauth-protected-resource"}
	if p.HasEndpointPath() {
		paths = append([]string{"/.well-known/oauth-protected-resource" + p.upstream.EscapedPath()}, paths...)
	}
	for _, path := range paths {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.target.String()+path, nil)
		if err != nil {
			return ""
		}
		resp, err := p.transport.RoundTrip(req)
		if err != nil {
			return ""
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxRewriteBody))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			p.as.learn(ctx, string(b), p.origins, "")
			if t := p.WatchedAS(); t != "" {
				return t
			}
		}
	}
	return ""
}
