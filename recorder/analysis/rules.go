package analysis

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/jsonscan"
	"github.com/mcpwatch/mcpwatch/recorder"
)

// fire records that a rule fired on an exchange. A rule fires once per connection; later exchanges count.
func (a *Analyzer) fire(r *exRec, c *conn, rl *Rule, summary string) {
	rule := rl.ID
	if slices.Contains(a.fired(r), rule) {
		return
	}
	fs := a.factsFor(r)
	fs.rules = append(fs.rules, rule)
	if rl.Severity == SeverityError && r.status() == StatusOK {
		r.setStatus(StatusFailed) // the exchange's stage failed, whatever its HTTP status said
		var dur time.Duration
		if s := c.stage(stageIndex(r.stage()), false); s != nil {
			dur = s.dur
		}
		c.updateStage(r, dur)
	}
	c.gen++ // what the rules about the connection as a whole read (absence) changed
	if f := c.finding(rule); f != nil {
		f.Count++
		if f.Toggle == "" {
			f.Toggle = blame(rl, a.toggled(r))
		}
		return
	}
	f := &Finding{Rule: rule, Severity: rl.Severity, Summary: summary, Fix: rl.Fix, Source: rl.Source,
		ExchangeID: r.id, Toggle: blame(rl, a.toggled(r)), At: r.startAt(), Count: 1}
	e := c.xw()
	e.order = append(e.order, f)
}

// checkOpen runs the rules that a stream's response headers already decide, while the stream is open.
func (a *Analyzer) checkOpen(r *exRec, ex *recorder.Exchange, c *conn) {
	if ex.Kind != recorder.Inbound {
		return
	}
	a.noteMCPURL(r, ex, c)
	if a.recEra(r) != "" || mcpStage(r.stage()) {
		a.checkSession(r, ex, c)
	}
	if r.stage() == StageStream {
		a.checkTunnel(r, ex, c)
	}
}

// check runs every rule on an exchange's final snapshot and keeps the facts later rules need.
func (a *Analyzer) check(r *exRec, ex *recorder.Exchange, c *conn) {
	if ex.Kind != recorder.Inbound {
		// In proxy mode the upstream's copy of a request mirrors the client's; the client's copy is judged.
		// The server's own fetch of a client ID metadata document is judged here.
		if r.stage() == StageClientMetadata {
			c.mark(mAuthStep, r)
			a.checkClientMetadata(r, ex, c)
		}
		return
	}
	switch r.stage() {
	case StageRegister, StageAuthorize, StageConsent, StageToken, StageRefresh:
		c.mark(mAuthStep, r)
	}
	a.noteMCPURL(r, ex, c)
	if a.checkProxy(r, ex, c) {
		return // the upstream never answered: nothing else about this exchange is the server's doing
	}
	a.checkHTTP(r, ex, c)
	switch r.stage() {
	case StageChallenge, StageProbe:
		a.checkChallenge(r, ex, c)
	case StageResourceMetadata:
		a.checkResourceMetadata(r, ex, c)
	case StageAuthMetadata:
		a.checkAuthMetadata(r, ex, c)
	case StageRegister:
		a.checkRegister(r, ex, c)
	case StageAuthorize, StageConsent:
		a.checkAuthorize(r, ex, c)
	case StageToken, StageRefresh:
		a.checkToken(r, ex, c)
	}
	a.checkASQuirks(r, ex, c) // an external authorization server watched through the proxy (asprofiles.go)
	if a.recEra(r) != "" || mcpStage(r.stage()) {
		a.checkMCP(r, ex, c)
	}
}

// noteMCPURL remembers the MCP URL the client uses (for the resource rules).
func (a *Analyzer) noteMCPURL(r *exRec, ex *recorder.Exchange, c *conn) {
	onMCP := mcpStage(r.stage()) || (r.stage() == StageChallenge || r.stage() == StageProbe) &&
		(isMCPPath(ex.Path(), a.opts.MCPPath) || hasClientRPC(ex))
	if !onMCP || ex.Path() == "/sse" || r.sse {
		return
	}
	// The first URL seen, then the one a handshake succeeded on.
	if c.mcpURL == "" || r.status() == StatusOK && (r.stage() == StageInitialize || r.stage() == StageDiscover) {
		c.mcpURL = shared(base(ex) + ex.Path()) // every connection of a server names the same one
	}
}

func bodyText(ex *recorder.Exchange, n int) string {
	b := ex.RespBody.Data
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

var htmlTitle = regexp.MustCompile(`(?is)<title>\s*(.*?)\s*</title>`)

// excerpt is the first line of a plain-text or JSON error body, or the title of an HTML page, for a summary.
func excerpt(ex *recorder.Exchange) string {
	ct := mediaType(header(ex.RespHeaders, "Content-Type"))
	if ct == "text/html" {
		if m := htmlTitle.FindSubmatch(ex.RespBody.Data); m != nil {
			return html.UnescapeString(string(m[1]))
		}
		return ""
	}
	if ct != "text/plain" && ct != "application/json" {
		return ""
	}
	if o := object(ex.RespBody.Data); o != nil {
		s := str(o, "error")
		if d := str(o, "error_description"); d != "" {
			s += ": " + d
		}
		if s == "" {
			if e := object(o["error"]); e != nil {
				s = str(e, "message")
			}
		}
		return s
	}
	s := strings.TrimSpace(bodyText(ex, 200))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func withExcerpt(ex *recorder.Exchange) string {
	if e := excerpt(ex); e != "" {
		return fmt.Sprintf(" (%q)", e)
	}
	return ""
}

func (a *Analyzer) checkHTTP(r *exRec, ex *recorder.Exchange, c *conn) {
	st := ex.Status
	what := exchangeName{ex}
	if st >= 500 {
		a.fire(r, c, ruleServerError, fmt.Sprintf("The server answered %d to %s (%s)%s.", st, what, r.stage(), withExcerpt(ex)))
	}
	var body string
	if st == 403 || st == 429 || st == 503 {
		body = strings.ToLower(bodyText(ex, 4096))
	}
	if st == 403 && strings.Contains(body, "host") &&
		(strings.Contains(body, "invalid host") || strings.Contains(body, "host header") || strings.Contains(body, "not allowed") || strings.Contains(body, "unknown host")) {
		a.fire(r, c, ruleHostForbidden, fmt.Sprintf("The server refused %s with 403 for the Host %q.", what, ex.Host))
	}
	if (st == 403 || st == 503 || st == 429) && (header(ex.RespHeaders, "Cf-Mitigated") != "" ||
		strings.Contains(body, "just a moment...") || strings.Contains(body, "attention required! | cloudflare")) {
		a.fire(r, c, ruleBotBlocked, fmt.Sprintf("%s was answered %d by a bot challenge, not by the server.", what, st))
	}
	if st >= 200 && st < 300 && bearerChallenge(ex.RespHeaders).present {
		a.fire(r, c, ruleWWWAuthenticateNon401, fmt.Sprintf("%s carries a Bearer WWW-Authenticate on a %d; clients read it only on a 401.", what, st))
	}
	switch {
	case r.stage() == StageCall && ex.Timings.Total > 300*time.Second:
		a.fire(r, c, ruleSlowResponse, fmt.Sprintf("The tool call took %s; Claude gives up at 300 s.", ex.Timings.Total.Round(time.Second)))
	case r.stage() != StageCall && r.stage() != StageStream && ex.Timings.Wait > 10*time.Second:
		a.fire(r, c, ruleSlowResponse, fmt.Sprintf("%s (%s) took %s to answer.", what, r.stage(), ex.Timings.Wait.Round(100*time.Millisecond)))
	}
	if header(ex.ReqHeaders, "Origin") != "" {
		switch r.stage() {
		case StageResourceMetadata, StageAuthMetadata, StageRegister, StageToken, StageRefresh, StageRevoke, StageChallenge:
			switch {
			case header(ex.RespHeaders, "Access-Control-Allow-Origin") == "":
				a.fire(r, c, ruleCORSMissing, fmt.Sprintf("%s came from a browser (Origin %s) and the answer has no Access-Control-Allow-Origin.", what, header(ex.ReqHeaders, "Origin")))
			case st == 401 && !exposes(header(ex.RespHeaders, "Access-Control-Expose-Headers"), "www-authenticate"):
				a.fire(r, c, ruleCORSWWWAuthenticateHidden, fmt.Sprintf("The 401 on %s does not expose WWW-Authenticate to the browser that asked (Origin %s).", what, header(ex.ReqHeaders, "Origin")))
			}
		}
	}
	for _, rl := range exchangeRules { // the rules declared with a check of their own (catalogue.go)
		if summary := rl.check(ex, r.stage()); summary != "" {
			a.fire(r, c, rl, summary)
		}
	}
	if isMCPPath(ex.Path(), a.opts.MCPPath) && ex.Path() != "/sse" {
		switch st {
		case 301, 302, 303, 307, 308:
			a.fire(r, c, ruleMCPRedirect, fmt.Sprintf("%s was answered %d to %s.", what, st, header(ex.RespHeaders, "Location")))
		}
	}
}

// The note mcpwatch serve adds to a request it accepted with MCP-Protocol-Version disagreeing with _meta
// (server/mcpserver.NoteVersionHeader; server's TestVersionHeaderQuirk holds them equal).
const noteVersionHeader = "version-header"

// Notes of mcpwatch's proxy (server/proxy: NoteRewrite, NoteError; TestProxyNotes holds them equal).
const (
	noteRewrite    = "rewrite"
	noteProxyError = "proxy-error"
)

// rewriteNote is what the analysis reads of a rewrite note (server/proxy.Rewrite).
type rewriteNote struct {
	Where string `json:"where"` // "header WWW-Authenticate", "header Location" or "body"
	From  string `json:"from"`
	To    string `json:"to"`
	Count int    `json:"count"`
}

// maxRewrites bounds the places a connection's upstream-url-rewritten finding names.
const maxRewrites = 8

// checkProxy reads what mcpwatch's proxy noted on an exchange: URLs of the upstream's own origin it rewrote, or
// its own 502/504 answer when the upstream could not be reached (reported true: the exchange says nothing else).
func (a *Analyzer) checkProxy(r *exRec, ex *recorder.Exchange, c *conn) bool {
	for _, n := range ex.Notes {
		if n.Key != noteRewrite {
			continue
		}
		var rw rewriteNote
		if json.Unmarshal([]byte(n.Value), &rw) != nil || rw.Count <= 0 || rw.From == "" {
			continue // a document left as it was (too large, an unknown encoding) names nothing
		}
		where := ex.Path()
		if h, ok := strings.CutPrefix(rw.Where, "header "); ok {
			switch {
			case strings.EqualFold(h, "WWW-Authenticate") && ex.Status == 401:
				where = "the 401 challenge of " + ex.Method + " " + ex.Path()
			default:
				where = "the " + h + " header of " + ex.Method + " " + ex.Path()
			}
		}
		e := c.xw()
		if e.rw == nil {
			e.rw = &rewrites{}
		}
		if !e.rw.first.set() {
			e.rw.first = mark{at: r.startAt(), ex: r.id}
		}
		if len(e.rw.where) < maxRewrites && !slices.Contains(e.rw.where, where) {
			e.rw.where = append(e.rw.where, where)
		}
		if !slices.Contains(e.rw.from, rw.From) {
			e.rw.from = append(e.rw.from, rw.From)
		}
		e.rw.to = rw.To
		c.gen++
	}
	if ex.Status < 500 {
		return false
	}
	why := ex.Note(noteProxyError)
	if why == "" {
		return false
	}
	a.fire(r, c, ruleUpstreamUnreachable, fmt.Sprintf("The upstream did not answer %s (%s); mcpwatch's proxy answered %s.", exchangeName{ex}, r.stage(), strings.TrimSuffix(why, ".")))
	return true
}

// exchangeName prints as "METHOD path" only when a finding's summary needs it.
type exchangeName struct{ ex *recorder.Exchange }

func (n exchangeName) String() string { return n.ex.Method + " " + n.ex.Path() }

func exposes(list, header string) bool {
	for _, h := range strings.Split(list, ",") {
		h = strings.TrimSpace(h)
		if h == "*" || strings.EqualFold(h, header) {
			return true
		}
	}
	return false
}

func (a *Analyzer) checkChallenge(r *exRec, ex *recorder.Exchange, c *conn) {
	if ex.Status != 401 {
		return
	}
	c.mark(mChallenge, r)
	if rpcMethod(ex) == "initialize" {
		c.mark(mInitReq, r) // the client sent initialize (a fallback from discover, say), answered 401
	}
	what := ex.Method + " " + ex.Path()
	ch := bearerChallenge(ex.RespHeaders)
	switch {
	case !ch.present && header(ex.RespHeaders, "WWW-Authenticate") == "":
		a.fire(r, c, ruleChallengeNoWWWAuthenticate, fmt.Sprintf("The 401 on %s has no WWW-Authenticate header, so the client cannot discover how to authorize.", what))
	case !ch.present:
		a.fire(r, c, ruleChallengeNoWWWAuthenticate, fmt.Sprintf("The 401 on %s has no Bearer challenge (WWW-Authenticate: %s).", what, header(ex.RespHeaders, "WWW-Authenticate")))
	default:
		rm := ch.params["resource_metadata"]
		u, err := url.Parse(rm)
		switch {
		case rm == "":
			a.fire(r, c, ruleChallengeNoResourceMetadata, fmt.Sprintf("The 401 on %s names no resource_metadata in its Bearer challenge.", what))
		case err != nil || !u.IsAbs() || u.Host == "":
			a.fire(r, c, ruleChallengeRelativeResourceMetadata, fmt.Sprintf("The 401 on %s gives resource_metadata=%q, which is not an absolute URL.", what, rm))
		case isLoopbackURL(u) && !isLoopbackBase(base(ex)):
			a.fire(r, c, ruleChallengeResourceMetadataLoopback, fmt.Sprintf("The 401 on %s points resource_metadata at %s, but the client came through %s.", what, rm, base(ex)))
		}
		if ch.params["scope"] == "" {
			c.mark(mChallengeNoScope, r)
		}
	}
	if t := a.tokKey(r, ex); t != "" {
		tk := a.token(t)
		if tk == nil || tk.refresh {
			return
		}
		c.mark(mUsed, r) // presented, if refused
		if !tk.expires.IsZero() && !ex.Start.Before(tk.expires) {
			c.mark(mExpired401, r)
			c.xw().expiredBy = tk.issued.ex
			c.expiredHasRT = tk.hasRT
			return
		}
		s := fmt.Sprintf("The MCP endpoint refused (401) a token this server issued %s earlier", ex.Start.Sub(tk.issued.at).Round(time.Second))
		if tk.resource != "" && c.mcpURL != "" && trimSlash(canonical(tk.resource)) != trimSlash(canonical(c.mcpURL)) {
			s += fmt.Sprintf(" for resource %s, while the client calls %s: an audience mismatch", tk.resource, c.mcpURL)
		}
		a.fire(r, c, ruleTokenRejected, s+".")
	}
}

func isLoopbackBase(b string) bool {
	u, err := url.Parse(b)
	return err == nil && isLoopbackURL(u)
}

const prmPrefix = "/.well-known/oauth-protected-resource"

func (a *Analyzer) checkResourceMetadata(r *exRec, ex *recorder.Exchange, c *conn) {
	if ex.Method == "OPTIONS" {
		return
	}
	c.mark(mPRMTry, r)
	what := ex.Path()
	switch st := ex.Status; {
	case st == 401 || st == 403:
		a.fire(r, c, ruleMetadataBehindAuth, fmt.Sprintf("The resource metadata at %s answered %d: clients fetch it without a token.", what, st))
		return
	case st != 200:
		return
	}
	o := object(ex.RespBody.Data)
	if o == nil {
		return
	}
	c.mark(mPRMOK, r)
	ids := strs(o, "authorization_servers")
	if len(ids) == 0 {
		a.fire(r, c, ruleResourceMetadataNoAuthorizationServers, fmt.Sprintf("The resource metadata at %s lists no authorization_servers.", what))
	}
	c.xw().asIDs = slices.Clone(ids[:min(len(ids), 8)])
	res := str(o, "resource")
	b := base(ex)
	suffix := ""
	if strings.HasPrefix(strings.ToLower(ex.Path()), prmPrefix) {
		suffix = ex.Path()[len(prmPrefix):]
	}
	if res == "" {
		a.fire(r, c, ruleResourceMetadataMismatch, fmt.Sprintf("The resource metadata at %s has no resource.", what))
		return
	}
	u, err := url.Parse(canonical(res))
	if err != nil || u.Host == "" {
		a.fire(r, c, ruleResourceMetadataMismatch, fmt.Sprintf("The resource metadata at %s names resource %q, which is not an absolute URL.", what, res))
		return
	}
	origin := u.Scheme + "://" + u.Host
	mcpPath := a.opts.MCPPath
	if c.mcpURL != "" {
		if m, err := url.Parse(c.mcpURL); err == nil {
			mcpPath = m.Path
		}
	}
	switch {
	case origin != b:
		a.fire(r, c, ruleResourceMetadataMismatch, fmt.Sprintf("The resource metadata at %s names resource %s, but the client reached the server at %s.", what, res, b))
	case suffix != "" && u.Path != suffix:
		s := fmt.Sprintf("The resource metadata at %s names resource %s; a document at this path must name %s", what, res, b+suffix)
		if trimSlash(u.Path) == trimSlash(suffix) {
			s += " (they differ by a trailing slash, and Claude compares exactly)"
		}
		a.fire(r, c, ruleResourceMetadataMismatch, s+".")
	case suffix == "" && u.Path != "" && u.Path != "/" && trimSlash(u.Path) != trimSlash(mcpPath):
		a.fire(r, c, ruleResourceMetadataMismatch, fmt.Sprintf("The resource metadata at %s names resource %s, but the client uses %s.", what, res, b+mcpPath))
	}
}

func (a *Analyzer) checkAuthMetadata(r *exRec, ex *recorder.Exchange, c *conn) {
	if ex.Method == "OPTIONS" {
		return
	}
	c.mark(mASTry, r)
	what := ex.Path()
	switch st := ex.Status; {
	case st == 401 || st == 403:
		a.fire(r, c, ruleMetadataBehindAuth, fmt.Sprintf("The authorization server metadata at %s answered %d: clients fetch it without a token.", what, st))
		return
	case st != 200:
		return
	}
	o := object(ex.RespBody.Data)
	if o == nil {
		return
	}
	c.mark(mASOK, r)
	var missing []string
	for _, k := range []string{"issuer", "authorization_endpoint", "token_endpoint", "response_types_supported"} {
		if !has(o, k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		a.fire(r, c, ruleAuthMetadataIncomplete, fmt.Sprintf("The authorization server metadata at %s lacks %s.", what, strings.Join(missing, ", ")))
	}
	if m := strs(o, "code_challenge_methods_supported"); !contains(m, "S256") {
		got := "no code_challenge_methods_supported"
		if len(m) > 0 {
			got = "code_challenge_methods_supported " + strings.Join(m, ", ")
		}
		a.fire(r, c, ruleAuthMetadataNoS256, fmt.Sprintf("The authorization server metadata at %s has %s, without S256.", what, got))
	}
	// RFC 8414 §3.1 drops an issuer's terminating "/" before inserting the well-known suffix, so an issuer
	// "https://h/" is served at the same URL as "https://h": it is consistent when that is the identifier the
	// resource metadata named (the one the client compares the issuer with).
	if iss, want := str(o, "issuer"), expectedIssuer(ex); iss != "" && want != "" && iss != want &&
		!(iss == want+"/" && slices.Contains(c.x().asIDs, iss)) {
		a.fire(r, c, ruleAuthMetadataIssuerMismatch, fmt.Sprintf("The metadata at %s gives issuer %s; a document at this URL must give %s.", what, iss, want))
	}
	var cimd bool
	_ = json.Unmarshal(o["client_id_metadata_document_supported"], &cimd)
	if str(o, "registration_endpoint") == "" && !cimd {
		a.fire(r, c, ruleAuthMetadataNoRegistration, fmt.Sprintf("The authorization server metadata at %s offers neither a registration_endpoint nor client ID metadata documents.", what))
	}
	if cimd && !contains(strs(o, "token_endpoint_auth_methods_supported"), "none") {
		a.fire(r, c, ruleAuthMetadataCIMDNeedsNone, fmt.Sprintf("The metadata at %s supports client ID metadata documents but not the \"none\" token endpoint auth method.", what))
	}
}

// expectedIssuer is the issuer a metadata URL was built from (RFC 8414 §3; OpenID discovery path-appended form).
func expectedIssuer(ex *recorder.Exchange) string {
	p := ex.Path()
	lp := strings.ToLower(p)
	b := base(ex)
	for _, wk := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		switch {
		case strings.HasPrefix(lp, wk):
			return b + p[len(wk):]
		case strings.HasSuffix(lp, wk):
			return b + p[:len(p)-len(wk)]
		}
	}
	return ""
}

func (a *Analyzer) checkRegister(r *exRec, ex *recorder.Exchange, c *conn) {
	if ex.Method != "POST" {
		return
	}
	req := object(ex.ReqBody.Data)
	redirects := strs(req, "redirect_uris")
	o := object(ex.RespBody.Data)
	st := ex.Status
	switch {
	case st >= 200 && st < 300 && o != nil:
		cid := str(o, "client_id")
		if cid == "" {
			return
		}
		method := str(o, "token_endpoint_auth_method")
		if method == "" {
			method = str(req, "token_endpoint_auth_method")
		}
		registered := strs(o, "redirect_uris")
		if len(registered) == 0 {
			registered = redirects
		}
		if c.unusedRT && c.x().clientID != "" && c.x().clientID != cid {
			a.fire(r, c, ruleRegisterInsteadOfRefresh, fmt.Sprintf("The client registered again (new client id %s, was %s) although it holds a refresh token it never used.", cid, c.x().clientID))
		}
		a.cids[cid] = &client{redirects: registered, secret: str(o, "client_secret") != "" && method != "none", ex: r.id}
		c.xw().clientID = cid
		for _, ru := range registered {
			if u, err := url.Parse(ru); err == nil && u.Scheme == "http" && !isLoopbackURL(u) {
				a.fire(r, c, ruleRegisterInsecureRedirect, fmt.Sprintf("The server registered %s, a plain-http redirect URI that is not loopback.", ru))
			}
		}
	case st >= 400:
		a.fire(r, c, ruleRegisterRejected, registerSummary(ex, o, redirects))
	}
}

func registerSummary(ex *recorder.Exchange, o map[string]json.RawMessage, redirects []string) string {
	if ex.Status == 404 || ex.Status == 405 {
		return fmt.Sprintf("The registration endpoint %s answered %d: it is not there.", ex.Path(), ex.Status)
	}
	why := str(o, "error")
	if d := str(o, "error_description"); d != "" {
		why += ": " + d
	}
	if why == "" {
		why = excerpt(ex)
	}
	s := fmt.Sprintf("Registration was refused (%d", ex.Status)
	if why != "" {
		s += " " + why
	}
	s += ")"
	if len(redirects) > 0 {
		s += " for redirect URIs " + strings.Join(redirects, ", ")
	}
	s += "."
	var claudeCom, claudeAI, cursor bool
	for _, ru := range redirects {
		if u, err := url.Parse(ru); err == nil {
			switch h := strings.ToLower(u.Hostname()); {
			case h == "claude.com":
				claudeCom = true
			case h == "claude.ai":
				claudeAI = true
			case u.Scheme == "cursor":
				cursor = true
			}
		}
	}
	switch {
	case claudeCom:
		s += " Claude sends its claude.com callback to some users: allow claude.ai and claude.com."
	case claudeAI:
		s += " This is Claude's callback; allow it (and its claude.com twin)."
	case cursor:
		s += " Cursor registers three redirect URIs in one request; refusing one refuses all."
	}
	return s
}

func (a *Analyzer) checkClientMetadata(r *exRec, ex *recorder.Exchange, c *conn) {
	what := ex.URL
	ct := mediaType(header(ex.RespHeaders, "Content-Type"))
	switch {
	case ex.Error != "":
	case ex.Status == 403 && (header(ex.RespHeaders, "Cf-Mitigated") != "" || ct == "text/html"):
		a.fire(r, c, ruleClientMetadataNotServed, fmt.Sprintf("The client ID metadata document %s answered the server's fetch with 403 and a bot challenge page%s, not the document.", what, withExcerpt(ex)))
		return
	case ex.Status == 404:
		a.fire(r, c, ruleClientMetadataNotServed, fmt.Sprintf("The client ID metadata document %s answered 404: there is no document at the client id.", what))
		return
	case ex.Status == 200 && ct == "text/html":
		a.fire(r, c, ruleClientMetadataNotServed, fmt.Sprintf("The client ID metadata document %s answered an HTML page%s, not JSON.", what, withExcerpt(ex)))
		return
	}
	if ex.Error != "" || ex.Status != 200 {
		why := ex.Error
		if why == "" {
			why = fmt.Sprintf("status %d", ex.Status)
		}
		a.fire(r, c, ruleClientMetadataFetchFailed, fmt.Sprintf("Fetching the client ID metadata document %s failed: %s.", what, why))
		return
	}
	o := object(ex.RespBody.Data)
	switch {
	case o == nil:
		a.fire(r, c, ruleClientMetadataInvalid, fmt.Sprintf("The client ID metadata document %s is not a JSON object.", what))
		return
	case str(o, "client_id") != what:
		a.fire(r, c, ruleClientMetadataInvalid, fmt.Sprintf("The client ID metadata document %s gives client_id %q, not its own URL.", what, str(o, "client_id")))
	case str(o, "client_name") == "" || len(strs(o, "redirect_uris")) == 0:
		a.fire(r, c, ruleClientMetadataInvalid, fmt.Sprintf("The client ID metadata document %s lacks client_name or redirect_uris.", what))
	}
	a.cids[what] = &client{redirects: strs(o, "redirect_uris"), ex: r.id}
	c.xw().clientID = what
}

func (a *Analyzer) checkAuthorize(r *exRec, ex *recorder.Exchange, c *conn) {
	q := query(ex)
	cid, ru := q.Get("client_id"), q.Get("redirect_uri")
	if r.stage() == StageConsent {
		if p := params(ex); p != nil {
			if cid == "" {
				cid = p.Get("client_id")
			}
			if ru == "" {
				ru = p.Get("redirect_uri")
			}
		}
	}
	if cid != "" {
		c.xw().clientID = cid
	}
	if r.stage() == StageAuthorize && (q.Get("response_type") != "" || cid != "") {
		switch m := q.Get("code_challenge_method"); {
		case q.Get("code_challenge") == "":
			a.fire(r, c, ruleAuthorizePKCEMissing, "The authorization request carries no code_challenge (PKCE).")
		case m != "S256":
			a.fire(r, c, ruleAuthorizePKCEMissing, fmt.Sprintf("The authorization request uses code_challenge_method=%q, not S256.", m))
		}
		if res := q.Get("resource"); res == "" {
			c.mark(mNoResource, r) // judged with the connection, once its protocol version is known
		} else {
			a.checkResourceParam(r, c, res, "authorization request")
			c.xw().grantResource = res
		}
	}
	st := ex.Status
	if l := location(ex); l != nil && st >= 300 && st < 400 {
		lq := l.Query()
		if lq.Get("code") != "" {
			c.mark(mCode, r)
		}
		switch e := lq.Get("error"); e {
		case "":
		case "access_denied":
			a.fire(r, c, ruleConsentDenied, "The authorization ended with access_denied: consent was denied.")
		case "invalid_scope":
			c.mark(mInvalidScope, r)
			a.fire(r, c, ruleInvalidScope, fmt.Sprintf("The authorization server refused the requested scope %q (invalid_scope).", q.Get("scope")))
		default:
			s := "The authorization redirect carries error=" + e
			if d := lq.Get("error_description"); d != "" {
				s += " (" + d + ")"
			}
			a.fire(r, c, ruleAuthorizeError, s+".")
		}
		return
	}
	if st < 400 {
		return
	}
	what := "authorization request"
	if r.stage() == StageConsent {
		what = "consent form"
	}
	known := a.client(cid)
	switch {
	case cid != "" && known == nil && !strings.HasPrefix(cid, "https://"):
		a.fire(r, c, ruleStaleClientID, fmt.Sprintf("The %s was refused (%d) for client id %q, which was not registered in this capture: a registration kept from an earlier run.", what, st, cid))
	case known != nil && ru != "" && !redirectAllowed(known.redirects, ru):
		a.fire(r, c, ruleRedirectUriNotRegistered, fmt.Sprintf("The redirect URI %s is not among those client %s registered (%s).", ru, cid, strings.Join(known.redirects, ", ")))
	default:
		a.fire(r, c, ruleAuthorizeFailed, fmt.Sprintf("The %s was refused with %d%s.", what, st, withExcerpt(ex)))
	}
}

// redirectAllowed: an exact match, or a loopback URI that differs only in its port (RFC 8252 §7.3).
func redirectAllowed(registered []string, ru string) bool {
	if contains(registered, ru) {
		return true
	}
	u, err := url.Parse(ru)
	if err != nil || !isLoopbackURL(u) {
		return false
	}
	for _, x := range registered {
		v, err := url.Parse(x)
		if err == nil && isLoopbackURL(v) && v.Scheme == u.Scheme && v.Hostname() == u.Hostname() && v.Path == u.Path {
			return true
		}
	}
	return false
}

// checkResourceParam compares a resource parameter with the MCP URL the client uses (a trailing slash aside:
// Claude round-trips either form, go-sdk oauthex/audience.go).
func (a *Analyzer) checkResourceParam(r *exRec, c *conn, res, where string) {
	if c.mcpURL == "" {
		return
	}
	if trimSlash(canonical(res)) != trimSlash(canonical(c.mcpURL)) {
		a.fire(r, c, ruleResourceMismatch, fmt.Sprintf("The %s asks for resource %s, but the client calls the MCP server at %s.", where, res, c.mcpURL))
	}
}

func (a *Analyzer) checkToken(r *exRec, ex *recorder.Exchange, c *conn) {
	if ex.Method != "POST" {
		return
	}
	p := params(ex)
	cid := p.Get("client_id")
	if cid == "" {
		cid = basicUser(ex)
	}
	if cid != "" && c.x().clientID == "" {
		c.xw().clientID = cid
	}
	if r.stage() == StageToken {
		c.mark(mTokenReq, r)
	} else {
		c.mark(mRefresh, r)
		c.unusedRT = false
		a.checkRefreshReuse(r, ex, c, p.Get("refresh_token"))
	}
	if cl := a.client(cid); cl != nil && cl.secret && p.Get("client_secret") == "" && basicUser(ex) == "" {
		a.fire(r, c, ruleRegisterSecretUnused, fmt.Sprintf("Client %s was registered with a client_secret but sent none to the token endpoint.", cid))
	}
	res := p.Get("resource")
	if res != "" {
		a.checkResourceParam(r, c, res, "token request")
		c.xw().grantResource = res
	}
	o := object(ex.RespBody.Data)
	st := ex.Status
	switch {
	case st == 405:
		a.fire(r, c, ruleTokenMethodNotAllowed, fmt.Sprintf("The token endpoint answered 405 to POST %s.", ex.Path()))
	case st >= 200 && st < 300:
		at, tt := str(o, "access_token"), str(o, "token_type")
		if at == "" || tt == "" {
			var miss []string
			if at == "" {
				miss = append(miss, "access_token")
			}
			if tt == "" {
				miss = append(miss, "token_type")
			}
			a.fire(r, c, ruleTokenResponseInvalid, fmt.Sprintf("The token response (%d) lacks %s.", st, strings.Join(miss, " and ")))
		}
		if !strings.Contains(strings.ToLower(header(ex.RespHeaders, "Cache-Control")), "no-store") {
			a.fire(r, c, ruleTokenNoStore, "The token response has no Cache-Control: no-store.")
		}
		if at == "" {
			return
		}
		rt := str(o, "refresh_token")
		if res == "" {
			res = c.x().grantResource
		}
		issued := mark{at: r.startAt(), ex: r.id}
		tk := &token{issued: issued, resource: res, hasRT: rt != ""}
		if e := num(o, "expires_in"); e > 0 {
			tk.expires = exEnd(ex).Add(time.Duration(e * float64(time.Second)))
		}
		h := hashSecret(at)
		a.toks["tok:"+h] = tk
		if rt != "" {
			a.toks["tok:"+hashSecret(rt)] = &token{issued: issued, refresh: true}
		}
		c.mark(mIssued, r)
		c.xw().token = "sha256:" + h
		c.unusedRT = rt != ""
	case st >= 400:
		code, desc := str(o, "error"), str(o, "error_description")
		why := code
		if desc != "" {
			why += ": " + desc
		}
		if why == "" {
			why = excerpt(ex)
		}
		if r.stage() == StageRefresh {
			a.fire(r, c, ruleRefreshRejected, fmt.Sprintf("The refresh was refused (%d %s).", st, why))
			return
		}
		if p.Get("grant_type") == grantJWTBearer {
			a.fire(r, c, ruleIDJAGUnsupported, idJAGSummary(p.Get("assertion"), st, code))
			return
		}
		switch code {
		case "invalid_grant":
			a.fire(r, c, ruleTokenInvalidGrant, fmt.Sprintf("The token request was refused (%d %s).", st, why))
		case "invalid_client":
			if cid != "" && a.client(cid) == nil && !strings.HasPrefix(cid, "https://") {
				a.fire(r, c, ruleStaleClientID, fmt.Sprintf("The token request was refused (invalid_client) for client id %q, which was not registered in this capture: a registration kept from an earlier run.", cid))
			} else {
				a.fire(r, c, ruleTokenInvalidClient, fmt.Sprintf("The token request was refused (%d %s).", st, why))
			}
		case "invalid_scope":
			c.mark(mInvalidScope, r)
			a.fire(r, c, ruleInvalidScope, fmt.Sprintf("The token request was refused (%d %s).", st, why))
		case "invalid_target":
			a.fire(r, c, ruleTokenInvalidTarget, fmt.Sprintf("The token request for resource %q was refused (%d %s).", res, st, why))
		default:
			a.fire(r, c, ruleTokenError, fmt.Sprintf("The token request was refused (%d %s).", st, why))
		}
	}
}

// grantJWTBearer is the RFC 7523 §2.1 grant, with which Claude exchanges an ID-JAG (Enterprise-Managed
// Authorization).
const grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// idJAGSummary says what the refused assertion was: its typ and issuer, read from the JWT (never its signature).
func idJAGSummary(assertion string, st int, code string) string {
	part := func(i int) map[string]json.RawMessage {
		parts := strings.SplitN(assertion, ".", 3)
		if len(parts) < 2 {
			return nil
		}
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[i], "="))
		if err != nil {
			return nil
		}
		return object(b)
	}
	what := "an assertion that is not a JWT"
	if h, cl := part(0), part(1); h != nil || cl != nil {
		what = fmt.Sprintf("a JWT of typ %q issued by %q", str(h, "typ"), str(cl, "iss"))
	}
	return fmt.Sprintf("The client sent the jwt-bearer grant (Enterprise-Managed Authorization) with %s, and the token endpoint refused it (%d %s).", what, st, code)
}

func (a *Analyzer) checkMCP(r *exRec, ex *recorder.Exchange, c *conn) {
	st := ex.Status
	if t := a.tokKey(r, ex); t != "" && st != 401 {
		if tk := a.token(t); tk != nil && !tk.refresh {
			c.mark(mUsed, r)
			if h := strings.TrimPrefix(t, "tok:"); strings.TrimPrefix(c.x().token, "sha256:") != h || c.x().token == "" {
				c.xw().token = "sha256:" + h // once per token, not per exchange
			}
		}
	}
	if st == 404 && hasClientRPC(ex) && header(ex.ReqHeaders, "Mcp-Session-Id") == "" && !isRPCError(ex) {
		a.fire(r, c, ruleMCPNotFound, fmt.Sprintf("%s %s answered 404 without a JSON-RPC error: nothing serves MCP at this URL.", ex.Method, ex.Path()))
		return // the wrong URL explains everything else about this exchange
	}
	a.checkSession(r, ex, c)
	a.checkRPCID(r, ex, c)
	switch r.stage() {
	case StageDiscover:
		// Refused is an HTTP error or a JSON-RPC error; an answer the client could not match (a wrong id) is not.
		if _, _, rpcErr := ex.RPCError(); rpcErr || st >= 400 && st != 401 {
			c.mark(mDiscoverFail, r)
		} else if r.status() == StatusOK {
			c.mark(mDiscoverOK, r)
			if res := rpcResult(ex); res != nil && !hasMember(memberObject(res, "capabilities"), "tools") {
				c.mark(mNoTools, r)
			}
		}
	case StageInitialize:
		c.mark(mInitReq, r)
		code, msg, rpcErr := ex.RPCError()
		res := rpcResult(ex)
		switch {
		case rpcErr:
			a.fire(r, c, ruleInitializeFailed, fmt.Sprintf("initialize was answered with JSON-RPC error %d (%s).", code, msg))
		case st >= 400 && st != 401:
			a.fire(r, c, ruleInitializeFailed, fmt.Sprintf("initialize was answered %d%s.", st, withExcerpt(ex)))
		case res != nil:
			c.mark(mInitOK, r)
			if v := memberString(res, "protocolVersion"); v != "" {
				v = shared(v)
				c.protocol, c.negotiated = v, v
			}
			if !hasMember(memberObject(res, "capabilities"), "tools") {
				c.mark(mNoTools, r)
			}
			if sid := header(ex.RespHeaders, "Mcp-Session-Id"); sid != "" {
				sid = strings.Clone(sid) // not the materialised header list it points into (shared)
				a.sids[a.hkey(sid)] = r.id
				c.session = sid
				c.setSession(sid, c.negotiated)
				c.mark(mInitSession, r)
			} else if a.recEra(r) != "2026" && ex.Path() != "/sse" && !r.sse {
				a.fire(r, c, ruleInitializeNoSessionID, "initialize was answered without an Mcp-Session-Id header.")
			}
		}
	case StageInitialized:
		c.mark(mInitialized, r)
	case StageList:
		if rpcMethod(ex) == "tools/list" && st != 401 { // asked, whatever the answer
			c.mark(mToolsList, r)
			a.noteTools(r, ex, c)
		}
	case StageCall:
		a.checkToolListed(r, ex, c)
	case StageStream:
		if st == 405 && header(ex.ReqHeaders, "Mcp-Session-Id") != "" {
			a.fire(r, c, ruleGetStream405, fmt.Sprintf("GET %s, the session's event stream, was answered 405.", ex.Path()))
		}
		a.checkTunnel(r, ex, c)
	}
}

// noteTools keeps the tool names of a tools/list result: a first page replaces the list, a later page (a
// cursor) adds to it.
func (a *Analyzer) noteTools(r *exRec, ex *recorder.Exchange, c *conn) {
	res := rpcResult(ex)
	if res == nil {
		return
	}
	var tools []struct {
		Name string `json:"name"`
	}
	if v, _ := jsonscan.Member(res, "tools"); json.Unmarshal(v, &tools) != nil {
		return
	}
	e := c.xw()
	if str(a.rpcParams(ex), "cursor") == "" || e.tools == nil {
		e.tools = make(map[string]bool, min(len(tools), maxTools))
	}
	if e.listed == nil {
		e.listed = map[string]bool{}
	}
	for _, t := range tools {
		if len(e.tools) >= maxTools {
			break
		}
		e.tools[t.Name] = true
		if len(e.listed) < maxTools {
			e.listed[t.Name] = true
		}
	}
	e.toolsList = r.id
	c.stale = false
	for n := range e.listed {
		if !e.tools[n] {
			c.stale = true // a name an earlier list gave is gone: calls are worth checking
			break
		}
	}
}

// checkToolListed: a tool an earlier tools/list gave that the latest one does not is called from a stale list.
// (A name no list ever gave is the client's own mistake, answered with the call's error.)
func (a *Analyzer) checkToolListed(r *exRec, ex *recorder.Exchange, c *conn) {
	if !c.stale || len(c.x().tools) >= maxTools {
		return // no tool an earlier list gave is missing from the latest: nothing to parse
	}
	name := str(a.rpcParams(ex), "name")
	if name == "" || c.x().tools[name] || !c.x().listed[name] {
		return
	}
	a.fire(r, c, ruleToolNotListed, fmt.Sprintf("The client called tool %q, which the latest tools/list (request %d) does not have: it calls from a stale tool list.", name, c.x().toolsList))
}

// roundDuration rounds to the second, or to the millisecond below one.
func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// raceWindow is how close two refreshes with one refresh token must be to be a race (a client's parallel
// refresh from two nodes) rather than a replay.
const raceWindow = 10 * time.Second

// checkRefreshReuse tells a refresh token presented twice: within raceWindow from another address, a race to
// tolerate; otherwise a replay.
func (a *Analyzer) checkRefreshReuse(r *exRec, ex *recorder.Exchange, c *conn, rt string) {
	if rt == "" || ex.Kind != recorder.Inbound {
		return
	}
	h := hashSecret(rt)
	host := remoteHost(ex)
	prev, seen := a.rts[h]
	seen = seen && a.holds(prev.ex) // a use the analyzer forgot is not known
	if len(a.rts) >= maxRTUses && !seen {
		clear(a.rts)
	}
	a.rts[h] = rtUse{at: ex.Start, host: host, ex: r.id}
	if !seen || prev.ex == r.id {
		return
	}
	d := ex.Start.Sub(prev.at)
	if d < 0 {
		d = -d
	}
	if d <= raceWindow && host != prev.host {
		a.fire(r, c, ruleRefreshTokenRace, fmt.Sprintf("One refresh token was presented twice %s apart from two addresses (%s at request %d, %s here): a client refreshing in parallel, not a theft.", d.Round(time.Millisecond), prev.host, prev.ex, host))
		return
	}
	a.fire(r, c, ruleRefreshTokenReplay, fmt.Sprintf("A refresh token first presented at request %d (%s earlier, from %s) was presented again from %s: a replay, or a client that kept a token it had rotated.", prev.ex, roundDuration(d), prev.host, host))
}

func isRPCError(ex *recorder.Exchange) bool {
	_, _, ok := ex.RPCError()
	return ok
}

// checkSession looks at the session and version headers of an MCP request (headers only: also for open streams).
func (a *Analyzer) checkSession(r *exRec, ex *recorder.Exchange, c *conn) {
	sid := header(ex.ReqHeaders, "Mcp-Session-Id")
	hv := header(ex.ReqHeaders, "MCP-Protocol-Version")
	if mv := a.reqMetaVersion(ex); hv != "" && mv != "" && hv != mv {
		s := fmt.Sprintf("%s carries MCP-Protocol-Version: %s but _meta protocolVersion %s", rpcOrMethod(ex), hv, mv)
		rl := ruleProtocolVersionHeaderMetaMismatch
		switch code, _, ok := ex.RPCError(); {
		case ok && code == -32020 || ex.Status == 400 && strings.Contains(string(ex.RespBody.Data), "-32020"):
			s += "; the server refused it with -32020 (HeaderMismatch), as the 2026-07-28 revision requires, and the client's call failed: accept the request by its _meta version when the header names another revision you support"
		case ex.Note(noteVersionHeader) != "":
			s += "; this server accepted it and served the request by its _meta version (a strict server answers 400 -32020 HeaderMismatch, and every tool call fails)"
			rl = ruleProtocolVersionHeaderMetaAccepted
		case ex.Status >= 200 && ex.Status < 300 && !ok:
			s += "; the server accepted it (a strict server answers 400 -32020 HeaderMismatch, and every tool call fails)"
			rl = ruleProtocolVersionHeaderMetaAccepted
		}
		a.fire(r, c, rl, s+".")
	}
	if sid != "" {
		if a.issued(sid) && !c.echoed {
			c.echoed = true
			c.gen++
		}
		if ex.Status == 404 {
			c.mark(mSession404, r)
			if !a.issued(sid) {
				a.fire(r, c, ruleSessionStale, fmt.Sprintf("The client sent session id %s, which this server did not issue in this capture: a session kept from an earlier run.", sid))
			}
		}
		if n := c.sessionVersion(sid); n != "" && r.stage() != StageInitialize {
			switch {
			case hv != "" && hv != n:
				a.fire(r, c, ruleProtocolVersionMismatch, fmt.Sprintf("The client negotiated %s but sent MCP-Protocol-Version: %s on its session.", n, hv))
			case hv == "" && n >= "2025-06-18":
				a.fire(r, c, ruleProtocolVersionHeaderMissing, fmt.Sprintf("The client negotiated %s but sent %s without an MCP-Protocol-Version header.", n, rpcOrMethod(ex)))
			}
		}
		return
	}
	switch r.stage() {
	case StageInitialize, StageDiscover, StageChallenge:
		return
	}
	if c.session != "" && a.recEra(r) != "2026" && ex.Path() != "/sse" && !r.sse && ex.Status != 401 {
		if !c.echoed {
			a.fire(r, c, ruleSessionNeverEchoed, fmt.Sprintf("The client has never sent back the Mcp-Session-Id %s that initialize issued (%s came without it).", c.session, rpcOrMethod(ex)))
			return
		}
		a.fire(r, c, ruleSessionNotEchoed, fmt.Sprintf("The client sent %s without the Mcp-Session-Id %s that initialize issued, after echoing it before.", rpcOrMethod(ex), c.session))
	}
}

func rpcOrMethod(ex *recorder.Exchange) string {
	if m := rpcMethod(ex); m != "" {
		return m
	}
	return ex.Method + " " + ex.Path()
}

// checkRPCID: the answer to a request must carry the request's id.
func (a *Analyzer) checkRPCID(r *exRec, ex *recorder.Exchange, c *conn) {
	var req *recorder.RPC
	for i := range ex.RPC {
		m := &ex.RPC[i]
		if m.From == recorder.FromClient && m.Method != "" && len(m.ID) > 0 && !m.Batch {
			req = m
			break
		}
	}
	if req == nil {
		return
	}
	var other json.RawMessage
	for _, m := range ex.RPC {
		if m.From != recorder.FromServer || !m.IsResponse || len(m.ID) == 0 {
			continue
		}
		if bytes.Equal(bytes.TrimSpace(m.ID), bytes.TrimSpace(req.ID)) {
			return
		}
		other = m.ID
	}
	if other != nil && !bytes.Equal(other, []byte("null")) {
		a.fire(r, c, ruleWrongJSONRPCID, fmt.Sprintf("The answer to %s (id %s) carries id %s.", req.Method, req.ID, other))
	}
}

func (a *Analyzer) checkTunnel(r *exRec, ex *recorder.Exchange, c *conn) {
	if ex.Status != 200 || !isSSE(ex) || ex.Method != "GET" {
		return
	}
	if host := strings.TrimPrefix(strings.TrimPrefix(base(ex), "https://"), "http://"); strings.HasSuffix(host, ".trycloudflare.com") {
		a.fire(r, c, ruleSSEBufferedTunnel, fmt.Sprintf("The event stream on GET %s goes through a cloudflared quick tunnel (%s), which buffers it.", ex.Path(), host))
	}
}

// erred reports an exchange of connection c on which a rule of error severity fired.
func (a *Analyzer) erred(c *conn, id uint64) bool {
	if r := a.rec(id); r != nil {
		return a.recErred(r)
	}
	return c.x().kept[id].erred
}

func (a *Analyzer) recErred(r *exRec) bool {
	for _, rule := range a.fired(r) {
		if rl := ruleIndex[rule]; rl != nil && rl.Severity == SeverityError {
			return true
		}
	}
	return false
}

// togglesOf lists the toggles that altered the given exchanges of connection c.
func (a *Analyzer) togglesOf(c *conn, ids ...uint64) []string {
	var names []string
	for _, id := range ids {
		toggles := c.x().kept[id].toggles
		if r := a.rec(id); r != nil {
			toggles = a.toggled(r)
		}
		for _, n := range toggles {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// resourceIndicatorsRevision is the first protocol revision that asks clients for RFC 8707 resource indicators.
const resourceIndicatorsRevision = "2025-06-18"

// connFindings are the rules about what a connection did (or never did) after some exchange, judged at now:
// absence rules wait Options.Grace after the exchange they are about.
func (a *Analyzer) connFindings(c *conn, now time.Time) []Finding {
	var out []Finding
	m := c.markTable()
	add := func(rl *Rule, summary string, cause mark, toggleFrom ...uint64) {
		out = append(out, Finding{Rule: rl.ID, Severity: rl.Severity, Summary: summary, Fix: rl.Fix, Source: rl.Source,
			ExchangeID: cause.ex, Connection: c.id, Toggle: blame(rl, a.togglesOf(c, append([]uint64{cause.ex}, toggleFrom...)...)),
			At: cause.at, Count: 1})
	}
	late := func(x mark) bool { return x.set() && now.Sub(x.at) > a.opts.Grace }
	ended := a.endedJudgement()
	ago := func(x mark) since {
		if ended {
			return since{d: a.last.Sub(x.at).Round(time.Second), ended: true}
		}
		return since{d: now.Sub(x.at).Round(time.Second)}
	}

	if late(m[mCode]) && m[mTokenReq].before(m[mCode]) {
		add(ruleAuthorizeNoToken, fmt.Sprintf("An authorization code was issued %s and no token request followed.", ago(m[mCode])), m[mCode])
	}
	if late(m[mIssued]) && m[mUsed].before(m[mIssued]) {
		add(ruleTokenIssuedUnused, fmt.Sprintf("An access token was issued %s and no request has used it.", ago(m[mIssued])), m[mIssued])
	}
	if late(m[mExpired401]) && m[mRefresh].before(m[mExpired401]) {
		s := "The access token expired, the MCP endpoint refused it, and the client did not refresh it"
		if !c.expiredHasRT {
			s += " (no refresh token was issued)"
		}
		add(ruleTokenExpiredNoRefresh, s+".", m[mExpired401], c.x().expiredBy)
	}
	if late(m[mInitSession]) && m[mInitialized].before(m[mInitSession]) {
		add(ruleInitializedMissing, fmt.Sprintf("initialize succeeded %s and the client never sent notifications/initialized.", ago(m[mInitSession])), m[mInitSession])
	}
	hs := m[mInitOK]
	if hs.before(m[mDiscoverOK]) {
		hs = m[mDiscoverOK]
	}
	// A legacy initialize answered without a session id explains a client that went no further
	// (initialize-no-session-id): the tools capability is not the cause then.
	if late(hs) && !m[mToolsList].set() && c.finding(ruleInitializeNoSessionID.ID) == nil {
		s := fmt.Sprintf("The handshake finished %s and the client never listed tools", ago(hs))
		cause := hs
		if m[mNoTools].set() {
			s += "; the server declared no tools capability"
			cause = m[mNoTools]
		}
		add(ruleToolsNeverListed, s+".", cause)
	}
	if m[mDiscoverFail].set() {
		switch {
		case m[mInitReq].set() && m[mDiscoverFail].before(m[mInitReq]):
			add(ruleDiscoverFallback, "server/discover was refused and the client fell back to initialize.", m[mDiscoverFail])
		case late(m[mDiscoverFail]) && m[mDiscoverOK].before(m[mDiscoverFail]):
			add(ruleDiscoverNoFallback, fmt.Sprintf("server/discover was refused %s and the client neither retried nor sent initialize.", ago(m[mDiscoverFail])), m[mDiscoverFail])
		}
	}
	if late(m[mSession404]) && m[mInitReq].before(m[mSession404]) {
		add(ruleSessionNoReinit, fmt.Sprintf("The server answered 404 for the client's session %s and the client did not initialize again.", ago(m[mSession404])), m[mSession404])
	}
	// An authless server has no metadata: these two only count once the server asked for a token.
	if late(m[mPRMTry]) && !m[mPRMOK].set() && m[mChallenge].set() {
		add(ruleResourceMetadataUnreachable, "No protected resource metadata fetch of this connection succeeded.", m[mPRMTry])
	}
	if late(m[mASTry]) && !m[mASOK].set() && m[mChallenge].set() {
		add(ruleAuthMetadataUnreachable, "No authorization server metadata fetch of this connection succeeded.", m[mASTry])
	}
	// Resource indicators became a client's duty in 2025-06-18; a client on an earlier revision (Claude's web app
	// still negotiates 2024-11-05) is not at fault. Without a version, judged after the grace.
	if x := m[mNoResource]; x.set() {
		switch v := c.protocol; {
		case v != "" && v < resourceIndicatorsRevision:
		case v != "" || late(x):
			add(ruleAuthorizeNoResource, "The authorization request carries no resource parameter (RFC 8707).", x)
		}
	}
	if w := c.x().rw; w != nil && w.first.set() {
		add(ruleUpstreamURLRewritten, fmt.Sprintf("The upstream names itself %s, which a remote client cannot follow, in %s; mcpwatch rewrote it to %s.",
			strings.Join(w.from, " and "), strings.Join(w.where, ", "), w.to), w.first)
	}
	// The client read the authorization server metadata and took no step to get a client id or a token. A
	// metadata document with an error (its own finding) explains that already.
	if x := m[mASOK]; late(x) && m[mChallenge].set() && m[mAuthStep].before(x) && !m[mIssued].set() && !m[mUsed].set() && !a.erred(c, x.ex) {
		add(ruleRegistrationNeverAttempted, fmt.Sprintf("The client read the authorization server metadata %s and then neither registered, nor used a client ID metadata document, nor asked to authorize.", ago(x)), x)
	}
	if m[mChallengeNoScope].set() && m[mInvalidScope].set() && m[mChallengeNoScope].before(m[mInvalidScope]) {
		add(ruleChallengeNoScope, "The 401 challenge named no scope, and the scope the client then asked for was refused (invalid_scope).", m[mChallengeNoScope], m[mInvalidScope].ex)
	}
	return out
}
