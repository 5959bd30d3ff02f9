// Package probe plays an MCP client's handshake against a server, as the client registry (recorder/clients)
// records that client's behaviour, and judges the run with the recorder's own analysis.
//
// It lives under recorder, not server: a probe is a recorded client. Its requests go through the recorder's
// outbound Transport into a Store (and the capture file), and the results are recorder/analysis's findings on
// those exchanges, exactly as if the client had come to `mcpwatch serve`. Nothing in it serves anything.
package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/clients"
)

// Stage is a step of the probe (coarser than analysis.Stage: discovery covers the challenge and both metadata
// documents, opening covers discover, initialize and initialized).
type Stage string

// The stages, in order.
const (
	stageDiscovery    Stage = "discovery"
	stageRegistration Stage = "registration"
	stageAuthorize    Stage = "authorize"
	stageToken        Stage = "token"
	stageOpening      Stage = "opening"
	stageList         Stage = "list"
	stageCall         Stage = "call"
)

// stages lists the stages in order.
var stages = []Stage{stageDiscovery, stageRegistration, stageAuthorize, stageToken, stageOpening, stageList, stageCall}

// Status is how a stage went.
type Status string

// Statuses.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	// NotReproducible: the step needs something only the real client has (its key, its hosted metadata document);
	// the probe says what the server must do there instead of pretending it passed.
	NotReproducible Status = "not reproducible"
	Skipped         Status = "skipped" // not needed (a server without authorization) or not reached after a failure
)

// StageResult is one stage of one run.
type StageResult struct {
	Stage  Stage  `json:"stage"`
	Status Status `json:"status"`
	// Detail says what the probe did and saw (for not reproducible: what the server must do there).
	Detail   string             `json:"detail"`
	First    uint64             `json:"firstExchange,omitempty"` // the stage's exchanges in the capture
	Last     uint64             `json:"lastExchange,omitempty"`
	Findings []analysis.Finding `json:"findings,omitempty"`
}

// Result is one client's run.
type Result struct {
	Client string        `json:"client"`
	Name   string        `json:"name"`
	URL    string        `json:"url"`
	Start  time.Time     `json:"start"`
	Stages []StageResult `json:"stages"`
}

// Failed reports whether a stage failed.
func (r *Result) Failed() bool {
	for _, s := range r.Stages {
		if s.Status == Fail {
			return true
		}
	}
	return false
}

// Stage returns the result of a stage (nil when the run has none).
func (r *Result) Stage(s Stage) *StageResult {
	for i := range r.Stages {
		if r.Stages[i].Stage == s {
			return &r.Stages[i]
		}
	}
	return nil
}

// Options of a run.
type Options struct {
	// URL is the server's MCP endpoint.
	URL string
	// Auto follows the server's redirects at /authorize (a server that approves without a person, such as
	// `mcpwatch serve --auto-approve`); otherwise the user approves in a browser.
	Auto bool
	// Prompt receives the instructions for the user (the authorization URL); Paste is where a redirected URL is
	// read from when the callback is a hosted client's.
	Prompt io.Writer
	Paste  io.Reader
	// OpenBrowser opens the authorization URL with xdg-open/open when present.
	OpenBrowser bool
	// Timeout bounds each request (default 15 s) and AuthTimeout the wait for a browser approval (default 5 min).
	Timeout     time.Duration
	AuthTimeout time.Duration
	// Tool is the tool the call stage calls ("": a read-only one with the fewest required arguments, trying up to
	// three; tools marked destructive are called only when named).
	Tool string
	// Base is the transport under the recorder (nil: http.DefaultTransport).
	Base http.RoundTripper
}

// Profiles returns the profiles --as accepts: the registry's profiles with enough known behaviour (an opening or
// a registration path), then spec.
func Profiles() []*clients.Profile {
	var out []*clients.Profile
	for _, p := range clients.Profiles() {
		if p.Behaviour.Callback != "" {
			out = append(out, p)
		}
	}
	return append(out, clients.Spec())
}

// Lookup finds a profile --as accepts by id.
func Lookup(id string) (*clients.Profile, bool) {
	for _, p := range Profiles() {
		if p.ID == id {
			return p, true
		}
	}
	return nil, false
}

// maxBody bounds what the probe reads of any answer.
const maxBody = 4 << 20

// run plays one profile against o.URL; rec records its requests.
func run(ctx context.Context, p *clients.Profile, rec *recorder.Recorder, o Options) *Result {
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = 5 * time.Minute
	}
	pl := &player{p: p, b: &p.Behaviour, o: o, rec: rec, ctx: ctx,
		res: &Result{Client: p.ID, Name: p.Name, URL: o.URL, Start: time.Now().UTC()}}
	pl.hc = &http.Client{
		Transport:     &recorder.Transport{Base: o.Base, Recorder: rec},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       o.Timeout,
	}
	pl.run()
	return pl.res
}

type player struct {
	p   *clients.Profile
	b   *clients.Behaviour
	o   Options
	rec *recorder.Recorder
	ctx context.Context
	hc  *http.Client
	res *Result

	mcpURL    *url.URL
	challenge map[string]string // the 401's WWW-Authenticate parameters
	prm       map[string]any
	as        map[string]any
	asURL     string
	noAuth    bool

	clientID, secret, authMethod string
	redirect                     string
	listener                     net.Listener
	scope                        string
	verifier                     string
	code                         string
	token                        string
	refresh                      string
	expiresIn                    int // the token's expires_in, seconds (0: not said)

	modern    bool   // the 2026-07-28 era was negotiated
	version   string // the negotiated protocol version
	session   string
	tools     []tool
	nextID    int
	openingRq []byte // the opening request, for a first POST
}

type tool struct {
	Name        string         `json:"name"`
	InputSchema map[string]any `json:"inputSchema"`
	Annotations struct {
		ReadOnly    *bool `json:"readOnlyHint"`
		Destructive *bool `json:"destructiveHint"`
	} `json:"annotations"`
}

// rank orders the tools the call stage may try: read-only ones first, destructive ones never unless named, then
// by the number of required arguments.
func (t tool) rank() int {
	req, _ := t.InputSchema["required"].([]any)
	r := len(req)
	if t.Annotations.ReadOnly == nil || !*t.Annotations.ReadOnly {
		r += 1000
	}
	return r
}

func (t tool) destructive() bool {
	ro := t.Annotations.ReadOnly != nil && *t.Annotations.ReadOnly
	return !ro && (t.Annotations.Destructive == nil || *t.Annotations.Destructive) && t.Annotations.Destructive != nil
}

// errStage ends a stage as failed.
type errStage struct{ msg string }

func (e *errStage) Error() string { return e.msg }

func failf(format string, a ...any) error { return &errStage{fmt.Sprintf(format, a...)} }

// notRepro ends a stage as not reproducible (the run may go on).
type notRepro struct{ msg string }

func (e *notRepro) Error() string { return e.msg }

func (pl *player) total() uint64 { return pl.rec.Store().Stats().Total }

// stage runs f as one stage and records its result; it reports whether the run goes on.
func (pl *player) stage(s Stage, f func() (string, error)) bool {
	before := pl.total()
	detail, err := f()
	r := StageResult{Stage: s, Status: Pass, Detail: detail}
	var nr *notRepro
	switch {
	case err == nil:
	case errors.As(err, &nr):
		r.Status, r.Detail = NotReproducible, nr.msg
	default:
		r.Status, r.Detail = Fail, err.Error()
	}
	if after := pl.total(); after > before {
		r.First, r.Last = before+1, after
	}
	pl.res.Stages = append(pl.res.Stages, r)
	return r.Status != Fail
}

func (pl *player) skip(from Stage, why string) {
	started := false
	for _, s := range stages {
		if s == from {
			started = true
		}
		if started && pl.res.Stage(s) == nil {
			pl.res.Stages = append(pl.res.Stages, StageResult{Stage: s, Status: Skipped, Detail: why})
		}
	}
}

func (pl *player) run() {
	defer func() {
		if pl.listener != nil {
			pl.listener.Close()
		}
	}()
	u, err := ParseURL(pl.o.URL)
	if err != nil {
		pl.res.Stages = append(pl.res.Stages, StageResult{Stage: stageDiscovery, Status: Fail, Detail: err.Error()})
		pl.skip(stageRegistration, "not reached")
		return
	}
	pl.mcpURL = u
	steps := []struct {
		s Stage
		f func() (string, error)
	}{
		{stageDiscovery, pl.discovery},
		{stageRegistration, pl.registration},
		{stageAuthorize, pl.authorize},
		{stageToken, pl.tokenStage},
		{stageOpening, pl.opening},
		{stageList, pl.list},
		{stageCall, pl.call},
	}
	for _, st := range steps {
		if pl.noAuth && (st.s == stageRegistration || st.s == stageAuthorize || st.s == stageToken) {
			pl.res.Stages = append(pl.res.Stages, StageResult{Stage: st.s, Status: Skipped, Detail: "the server asked for no authorization"})
			continue
		}
		if !pl.stage(st.s, st.f) {
			pl.skip(st.s, "not reached: an earlier stage failed")
			return
		}
		if st.s == stageAuthorize && pl.code == "" {
			pl.skip(stageToken, "not reached: the browser step was not completed")
			return
		}
		if st.s == stageRegistration && pl.clientID == "" {
			// Not reproducible, and no stand-in registration either: nothing after it can be played.
			pl.skip(stageAuthorize, "not reached: only the real client can register here")
			return
		}
	}
}

// ParseURL checks the MCP URL a probe is given: an absolute http(s) URL with a host.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("not an http(s) URL: %q", raw)
	}
	return u, nil
}

// PublicURL is the MCP URL a hosted client connects to: the public base's scheme and host (a tunnel's https
// origin) with the path and query of the local MCP URL.
func PublicURL(local, public string) (string, error) {
	l, err := ParseURL(local)
	if err != nil {
		return "", err
	}
	p, err := ParseURL(public)
	if err != nil {
		return "", fmt.Errorf("--public-url: %w", err)
	}
	u := *l
	u.Scheme, u.Host, u.User = p.Scheme, p.Host, nil
	return u.String(), nil
}

// played says which of the profile's facts were unknown and played as the spec says.
func (pl *player) unknown(field string) string {
	if _, ok := pl.b.Sources[field]; ok {
		return ""
	}
	return " (" + strings.ToLower(field) + " unknown for " + pl.p.Name + ": played as the spec says)"
}

// ---- HTTP helpers ----

func (pl *player) userAgent(oauth bool) string {
	ua := pl.b.UserAgent
	if oauth && pl.b.OAuthUserAgent != "" {
		ua = pl.b.OAuthUserAgent
	}
	if ua == "" {
		ua = "mcpwatch-probe (as " + pl.p.ID + ")"
	}
	return ua
}

func (pl *player) do(req *http.Request, oauth bool) (*http.Response, []byte, error) {
	req.Header.Set("User-Agent", pl.userAgent(oauth))
	resp, err := pl.hc.Do(req.WithContext(pl.ctx))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return resp, body, err
}

func (pl *player) getJSON(u string) (int, map[string]any, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, body, err := pl.do(req, true)
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("GET %s: not a JSON object: %v", u, err)
	}
	return resp.StatusCode, m, nil
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func strs(m map[string]any, k string) []string {
	a, _ := m[k].([]any)
	var out []string
	for _, v := range a {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// parseChallenge reads the parameters of a Bearer WWW-Authenticate challenge.
func parseChallenge(h string) map[string]string {
	out := map[string]string{}
	i := strings.IndexByte(h, ' ')
	if i < 0 || !strings.EqualFold(h[:i], "Bearer") {
		return out
	}
	s := h[i+1:]
	for s != "" {
		s = strings.TrimLeft(s, " ,")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		k := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = s[eq+1:]
		var v string
		if strings.HasPrefix(s, `"`) {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				v, s = s[1:], ""
			} else {
				v, s = s[1:end+1], s[end+2:]
			}
		} else {
			end := strings.IndexAny(s, ", ")
			if end < 0 {
				v, s = s, ""
			} else {
				v, s = s[:end], s[end:]
			}
		}
		out[k] = v
	}
	return out
}

// ---- discovery ----

func (pl *player) discovery() (string, error) {
	var notes []string
	// The first request: unauthenticated.
	first := pl.b.FirstRequest
	if first == "" {
		first = "post"
	}
	var req *http.Request
	switch first {
	case "get", "head":
		m := http.MethodGet
		if first == "head" {
			m = http.MethodHead
		}
		req, _ = http.NewRequest(m, pl.o.URL, nil)
		req.Header.Set("Accept", "application/json, text/event-stream")
	default:
		body, hdr := pl.openingRequest()
		pl.openingRq = body
		req, _ = http.NewRequest(http.MethodPost, pl.o.URL, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
	}
	resp, rb, err := pl.do(req, false)
	if err != nil {
		return "", failf("%s %s: %v", req.Method, pl.o.URL, err)
	}
	notes = append(notes, fmt.Sprintf("%s %s → %d", req.Method, pl.mcpURL.Path, resp.StatusCode))
	if first == "post" && pl.opening0() == "discover" && resp.StatusCode != http.StatusUnauthorized && isRPCError(rb) {
		// server/discover refused before any authorization (a legacy server): the client falls back to
		// initialize, which is where a server that wants a token challenges.
		vs := pl.versions()
		body, hdr := pl.legacyRequest(pl.id(), "initialize", map[string]any{
			"protocolVersion": vs[len(vs)-1], "capabilities": map[string]any{}, "clientInfo": pl.clientInfo(),
		}, "")
		req, _ = http.NewRequest(http.MethodPost, pl.o.URL, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if resp, _, err = pl.do(req, false); err != nil {
			return "", failf("POST %s (initialize): %v", pl.o.URL, err)
		}
		notes = append(notes, fmt.Sprintf("server/discover refused, initialize → %d", resp.StatusCode))
	}
	if resp.StatusCode != http.StatusUnauthorized {
		if resp.StatusCode < 400 || (first != "post" && resp.StatusCode == http.StatusMethodNotAllowed) {
			if first == "post" || resp.StatusCode < 300 {
				pl.noAuth = true
				return strings.Join(notes, "; ") + ": no authorization asked", nil
			}
		}
		if first == "post" {
			return "", failf("%s: the unauthenticated request got %d, neither 401 with a challenge nor an answer", strings.Join(notes, "; "), resp.StatusCode)
		}
		// A GET or HEAD that is not 401 (405, 400): the client goes on with its POST.
		body, hdr := pl.openingRequest()
		req, _ = http.NewRequest(http.MethodPost, pl.o.URL, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		if resp, _, err = pl.do(req, false); err != nil {
			return "", failf("POST %s: %v", pl.o.URL, err)
		}
		notes = append(notes, fmt.Sprintf("POST → %d", resp.StatusCode))
		if resp.StatusCode != http.StatusUnauthorized {
			if resp.StatusCode < 300 {
				pl.noAuth = true
				return strings.Join(notes, "; ") + ": no authorization asked", nil
			}
			return "", failf("%s: neither 401 with a challenge nor an answer", strings.Join(notes, "; "))
		}
	}
	pl.challenge = parseChallenge(resp.Header.Get("WWW-Authenticate"))

	// The protected resource metadata, in the client's order.
	order := pl.b.DiscoveryOrder
	if len(order) == 0 {
		order = clients.Spec().Behaviour.DiscoveryOrder
	}
	origin := pl.mcpURL.Scheme + "://" + pl.mcpURL.Host
	path := strings.TrimSuffix(pl.mcpURL.EscapedPath(), "/")
	for _, step := range order {
		if pl.prm != nil || !strings.HasPrefix(step, "prm-") {
			continue
		}
		var u string
		switch step {
		case "prm-header":
			u = pl.challenge["resource_metadata"]
			if u == "" {
				notes = append(notes, "no resource_metadata in the challenge")
				continue
			}
			if ru, err := pl.mcpURL.Parse(u); err == nil {
				u = ru.String()
			}
		case "prm-path":
			u = origin + "/.well-known/oauth-protected-resource" + path
		case "prm-root":
			u = origin + "/.well-known/oauth-protected-resource"
		}
		status, m, err := pl.getJSON(u)
		if err != nil {
			notes = append(notes, err.Error())
			continue
		}
		notes = append(notes, fmt.Sprintf("%s → %d", strings.TrimPrefix(u, origin), status))
		if m != nil && len(strs(m, "authorization_servers")) > 0 {
			pl.prm = m
		}
	}
	if pl.prm != nil && pl.b.ChecksResource {
		want := pl.mcpURL.Scheme + "://" + pl.mcpURL.Host + pl.mcpURL.EscapedPath()
		if got := str(pl.prm, "resource"); strings.TrimSuffix(got, "/") != strings.TrimSuffix(want, "/") {
			return "", failf("%s: the resource metadata names resource %q, not %s, the URL connected to (RFC 9728 §3.3: %s stops here)", strings.Join(notes, "; "), got, want, pl.p.Name)
		}
	}
	var issuer string
	if pl.prm != nil {
		issuer = strs(pl.prm, "authorization_servers")[0]
	} else {
		// No resource metadata: the 2025-03-26 rule, the MCP origin is the authorization server.
		notes = append(notes, "no protected resource metadata: the MCP origin is taken as the authorization server")
		issuer = origin
	}
	iu, err := url.Parse(issuer)
	if err != nil || iu.Host == "" {
		return "", failf("%s; authorization server %q is not a URL", strings.Join(notes, "; "), issuer)
	}
	ipath := strings.TrimSuffix(iu.EscapedPath(), "/")
	iorigin := iu.Scheme + "://" + iu.Host
	var cands []string
	for _, step := range order {
		switch step {
		case "as":
			if ipath != "" {
				cands = append(cands, iorigin+"/.well-known/oauth-authorization-server"+ipath)
			}
			cands = append(cands, iorigin+"/.well-known/oauth-authorization-server")
		case "oidc":
			if ipath != "" {
				cands = append(cands, iorigin+"/.well-known/openid-configuration"+ipath, iorigin+ipath+"/.well-known/openid-configuration")
			}
			cands = append(cands, iorigin+"/.well-known/openid-configuration")
		}
	}
	for _, u := range cands {
		status, m, err := pl.getJSON(u)
		if err != nil {
			notes = append(notes, err.Error())
			continue
		}
		notes = append(notes, fmt.Sprintf("%s → %d", strings.TrimPrefix(u, iorigin), status))
		if m != nil {
			pl.as, pl.asURL = m, u
			break
		}
	}
	if pl.as == nil {
		return "", failf("%s: no authorization server metadata where %s looks", strings.Join(notes, "; "), pl.p.Name)
	}
	if str(pl.as, "authorization_endpoint") == "" || str(pl.as, "token_endpoint") == "" {
		return "", failf("%s: the authorization server metadata names no authorization or token endpoint", strings.Join(notes, "; "))
	}
	if !slices.Contains(strs(pl.as, "code_challenge_methods_supported"), "S256") {
		return "", failf("%s: code_challenge_methods_supported does not list S256 (clients must refuse to go on)", strings.Join(notes, "; "))
	}
	return strings.Join(notes, "; "), nil
}

// ---- registration ----

func (pl *player) hasRegistration(kind string) bool {
	if len(pl.b.Registration) == 0 {
		return kind == "dcr" // unknown: the spec's DCR
	}
	return slices.Contains(pl.b.Registration, kind)
}

// callbackID is Codex's per-server callback id: base64url(SHA-256(server URL)[0..9]) (reference §4 Authorize).
func (pl *player) callbackID() string {
	u := *pl.mcpURL
	u.Fragment = ""
	sum := sha256.Sum256([]byte(u.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// callback fixes the redirect URI: an ephemeral loopback port is taken now (and listened on when a browser
// comes back to it).
func (pl *player) callback(tmpl string) (string, error) {
	cb := strings.ReplaceAll(tmpl, "{id}", pl.callbackID())
	u, err := url.Parse(strings.ReplaceAll(cb, "{port}", "0"))
	if err != nil {
		return "", err
	}
	loop := u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"
	if !loop {
		return cb, nil
	}
	if !pl.o.Auto || strings.Contains(cb, "{port}") {
		host := u.Hostname()
		if host == "localhost" {
			host = "127.0.0.1"
		}
		port := u.Port()
		if port == "" && !strings.Contains(cb, "{port}") {
			port = "80"
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, port))
		if err != nil {
			if !pl.o.Auto {
				return "", fmt.Errorf("listen on the callback %s: %v", cb, err)
			}
			l, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
			if err != nil {
				return "", err
			}
		}
		if strings.Contains(cb, "{port}") {
			cb = strings.ReplaceAll(cb, "{port}", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		}
		if pl.o.Auto {
			l.Close() // the code is read from the redirect; the port only had to be free
		} else {
			pl.listener = l
		}
	}
	return cb, nil
}

func (pl *player) registration() (string, error) {
	asCIMD, _ := pl.as["client_id_metadata_document_supported"].(bool)
	methods := strs(pl.as, "token_endpoint_auth_methods_supported")
	cimd := pl.b.CIMDURL != "" && pl.hasRegistration("cimd") && asCIMD &&
		(!pl.b.CIMDNeedsNone || slices.Contains(methods, "none"))
	cb, err := pl.callback(pl.b.Callback)
	if err != nil {
		return "", failf("%v", err)
	}
	if cimd && pl.b.CIMDLoopbackOnly {
		u, _ := url.Parse(cb)
		cimd = u != nil && (u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost")
	}
	pl.redirect = cb
	var prefix string
	if cimd {
		doc := strings.ReplaceAll(pl.b.CIMDURL, "{id}", pl.callbackID())
		auth := pl.b.CIMDAuth
		what := fmt.Sprintf("%s would use its client ID metadata document %s (the server advertises client_id_metadata_document_supported", pl.p.Name, doc)
		if pl.b.CIMDNeedsNone {
			what += " and lists none"
		}
		what += "): the server must fetch that document from its host, which only the real client serves"
		if auth == "private_key_jwt" {
			what += ", accept token_endpoint_auth_method private_key_jwt and verify an RS256 client_assertion signed with the client's key (jwks_uri) — or, without private_key_jwt advertised, let it fall back to none with PKCE"
		}
		what += "; the probe went on as a stand-in client registered by DCR"
		prefix = what
	} else if !pl.hasRegistration("dcr") {
		return "", failf("%s registers only with its client ID metadata document%s, and the server does not advertise client_id_metadata_document_supported: true — %s cannot register (e.g. %s)",
			pl.p.Name, " "+pl.b.CIMDURL, pl.p.Name, "goose#9670")
	}
	regURL := str(pl.as, "registration_endpoint")
	if regURL == "" {
		if cimd {
			return "", &notRepro{prefix + " — but the server has no registration endpoint, so the probe cannot go on"}
		}
		return "", failf("the authorization server metadata has no registration_endpoint, and %s has no other way to register here", pl.p.Name)
	}
	body := pl.dcrBody(cb, cimd)
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, regURL, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, rb, err := pl.do(req, true)
	if err != nil {
		return "", failf("POST %s: %v", regURL, err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", failf("POST %s → %d: %s", regURL, resp.StatusCode, oneLine(rb))
	}
	var reg map[string]any
	if err := json.Unmarshal(rb, &reg); err != nil || str(reg, "client_id") == "" {
		return "", failf("POST %s → %d without a client_id", regURL, resp.StatusCode)
	}
	pl.clientID, pl.secret = str(reg, "client_id"), str(reg, "client_secret")
	pl.authMethod = str(reg, "token_endpoint_auth_method")
	if pl.authMethod == "" {
		// The answer names no method: a client with a secret picks from the server's list as the SDKs do —
		// client_secret_basic if listed or no list (RFC 7591 §2's default), else client_secret_post
		// (reference §19, auth.ts).
		switch {
		case pl.secret == "":
			pl.authMethod = "none"
		case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
			pl.authMethod = "client_secret_basic"
		case slices.Contains(methods, "client_secret_post"):
			pl.authMethod = "client_secret_post"
		default:
			pl.authMethod = "client_secret_basic"
		}
	}
	detail := fmt.Sprintf("DCR → %d, client %s, token_endpoint_auth_method %s", resp.StatusCode, pl.clientID, pl.authMethod)
	if cimd {
		return "", &notRepro{prefix + " (" + detail + ")"}
	}
	if pl.b.DCR == nil {
		detail += " (registration body unknown for " + pl.p.Name + ": the spec's body sent)"
	}
	return detail, nil
}

// dcrBody is the client's registration body; a stand-in for a CIMD client sends its own (or the spec's) body as
// a public client, since its document's key or hosting cannot be played.
func (pl *player) dcrBody(cb string, standIn bool) map[string]any {
	reg := pl.b.DCR
	if reg == nil {
		reg = clients.Spec().Behaviour.DCR
	}
	r := *reg
	r.RedirectURIs = nil
	seen := false
	for _, u := range reg.RedirectURIs {
		if u == "{redirect}" {
			u = cb
		}
		seen = seen || u == cb
		r.RedirectURIs = append(r.RedirectURIs, u)
	}
	if !seen {
		r.RedirectURIs = append(r.RedirectURIs, cb)
	}
	if standIn && r.TokenEndpointAuthMethod == "" {
		r.TokenEndpointAuthMethod = "none"
	}
	data, _ := json.Marshal(r)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	switch reg.Scope {
	case "discovered":
		if s := pl.chooseScope(); s != "" {
			m["scope"] = s
		}
	case "empty":
		m["scope"] = ""
	}
	return m
}

func (pl *player) chooseScope() string {
	srcs := pl.b.Scope
	if len(srcs) == 0 {
		srcs = clients.Spec().Behaviour.Scope
	}
	var scope []string
	for _, s := range srcs {
		switch s {
		case "challenge":
			if v := pl.challenge["scope"]; v != "" {
				scope = strings.Fields(v)
			}
		case "prm":
			scope = strs(pl.prm, "scopes_supported")
		case "as":
			scope = strs(pl.as, "scopes_supported")
		case "none":
			return ""
		}
		if len(scope) > 0 {
			break
		}
	}
	if pl.b.OfflineAccess && slices.Contains(strs(pl.as, "scopes_supported"), "offline_access") && !slices.Contains(scope, "offline_access") {
		scope = append(scope, "offline_access")
	}
	return strings.Join(scope, " ")
}

// ---- authorize ----

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (pl *player) resource() string {
	u := *pl.mcpURL
	u.Fragment, u.RawQuery = "", ""
	return u.String()
}

func (pl *player) authorize() (string, error) {
	pl.verifier = randomString(32)
	sum := sha256.Sum256([]byte(pl.verifier))
	state := randomString(16)
	q := url.Values{}
	q.Set("response_type", "code")
	q.Set("client_id", pl.clientID)
	q.Set("redirect_uri", pl.redirect)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	q.Set("state", state)
	pl.scope = pl.chooseScope()
	if pl.scope != "" {
		q.Set("scope", pl.scope)
	}
	if pl.b.Resource {
		q.Set("resource", pl.resource())
	}
	au, err := url.Parse(str(pl.as, "authorization_endpoint"))
	if err != nil {
		return "", failf("authorization_endpoint: %v", err)
	}
	if au.RawQuery != "" {
		au.RawQuery += "&" + q.Encode()
	} else {
		au.RawQuery = q.Encode()
	}
	var back *url.URL
	if pl.o.Auto {
		back, err = pl.followAuthorize(au.String())
	} else {
		back, err = pl.browserAuthorize(au.String())
	}
	if err != nil {
		return "", err
	}
	bq := back.Query()
	if e := bq.Get("error"); e != "" {
		return "", failf("the authorization server answered error=%s %s", e, bq.Get("error_description"))
	}
	if bq.Get("state") != state {
		return "", failf("the redirect's state %q is not the one sent", bq.Get("state"))
	}
	iss := ""
	if adv, _ := pl.as["authorization_response_iss_parameter_supported"].(bool); adv {
		iss = bq.Get("iss")
		if pl.b.ChecksIss && iss != str(pl.as, "issuer") {
			return "", failf("the redirect's iss %q is not the issuer %q (RFC 9207; %s validates it)", iss, str(pl.as, "issuer"), pl.p.Name)
		}
	}
	pl.code = bq.Get("code")
	if pl.code == "" {
		return "", failf("the redirect to %s carries no code", pl.redirect)
	}
	d := "code received at " + pl.redirect
	if pl.scope != "" {
		d += ", scope " + strconv.Quote(pl.scope)
	} else {
		d += ", no scope asked"
	}
	if pl.b.Resource {
		d += ", resource sent"
	}
	return d + pl.unknown("Resource"), nil
}

// isCallback reports whether u is the redirect URI (same scheme, host and path).
func (pl *player) isCallback(u *url.URL) bool {
	cb, err := url.Parse(pl.redirect)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, cb.Scheme) && strings.EqualFold(u.Host, cb.Host) && strings.TrimSuffix(u.Path, "/") == strings.TrimSuffix(cb.Path, "/")
}

// followAuthorize follows the server's redirects (on its own origin) until one points at the callback; the
// callback itself is never requested.
func (pl *player) followAuthorize(start string) (*url.URL, error) {
	cur := start
	for range 6 {
		req, _ := http.NewRequest(http.MethodGet, cur, nil)
		req.Header.Set("Accept", "text/html")
		resp, body, err := pl.do(req, true)
		if err != nil {
			return nil, failf("GET %s: %v", cur, err)
		}
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode >= 400 || loc == "" {
			if resp.StatusCode == http.StatusOK {
				return nil, failf("/authorize answered 200 (a consent page?) where --auto expects a redirect: run without --auto to approve in a browser, or start the server with auto-approval (mcpwatch serve --auto-approve)")
			}
			return nil, failf("/authorize → %d: %s", resp.StatusCode, oneLine(body))
		}
		cu, _ := url.Parse(cur)
		next, err := cu.Parse(loc)
		if err != nil {
			return nil, failf("/authorize redirected to an unreadable Location %q", loc)
		}
		if pl.isCallback(next) {
			return next, nil
		}
		if next.Host != cu.Host {
			return nil, failf("/authorize redirected to %s, neither the callback nor the server (an external login cannot be followed with --auto)", next.Redacted())
		}
		cur = next.String()
	}
	return nil, failf("/authorize redirected more than 5 times without reaching the callback")
}

// browserAuthorize has the user approve in a browser and reads the code from the callback: a loopback listener,
// or for a hosted callback the URL the user pastes (the probe never fetches the hosted client's page).
func (pl *player) browserAuthorize(au string) (*url.URL, error) {
	if pl.o.Prompt != nil {
		fmt.Fprintf(pl.o.Prompt, "\n%s: open this URL in a browser and approve:\n  %s\n", pl.p.Name, au)
	}
	if pl.o.OpenBrowser {
		openBrowser(au)
	}
	if pl.listener == nil {
		if pl.o.Paste == nil {
			return nil, &notRepro{fmt.Sprintf("the probe could not complete the browser step: the callback %s is the hosted client's; run with --auto (a server that auto-approves) or paste the URL the browser was sent to", pl.redirect)}
		}
		if pl.o.Prompt != nil {
			fmt.Fprintf(pl.o.Prompt, "The browser is then sent to %s (which this machine does not serve): paste the address it shows and press Enter:\n", pl.redirect)
		}
		line, err := readLine(pl.o.Paste)
		if err != nil {
			// Nothing to read (stdin closed): the probe's own limit, not the server's failure.
			return nil, &notRepro{fmt.Sprintf("the probe could not complete the browser step (reading the redirected URL: %v): run with --auto against a server that auto-approves, or approve in the browser and paste the address it was sent to on stdin", err)}
		}
		u, err := url.Parse(strings.TrimSpace(line))
		if err != nil || !pl.isCallback(u) {
			return nil, failf("%q is not a redirect to %s", strings.TrimSpace(line), pl.redirect)
		}
		return u, nil
	}
	got := make(chan *url.URL, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		if !pl.isCallback(&u) {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "mcpwatch probe: authorization received; you may close this window.")
		select {
		case got <- &u:
		default:
		}
	})}
	go srv.Serve(pl.listener)
	defer srv.Close()
	pl.listener = nil // srv.Close closes it
	t := time.NewTimer(pl.o.AuthTimeout)
	defer t.Stop()
	select {
	case u := <-got:
		return u, nil
	case <-t.C:
		return nil, failf("no redirect to %s within %s", pl.redirect, pl.o.AuthTimeout)
	case <-pl.ctx.Done():
		return nil, failf("interrupted while waiting for the redirect to %s", pl.redirect)
	}
}

func readLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < 8192 {
		n, err := r.Read(one)
		if n > 0 {
			if one[0] == '\n' {
				return string(b), nil
			}
			b = append(b, one[0])
		}
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				return string(b), nil
			}
			return "", err
		}
	}
	return string(b), nil
}

func openBrowser(u string) {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	if p, err := exec.LookPath(name); err == nil {
		cmd := exec.Command(p, u)
		if cmd.Start() == nil {
			go cmd.Wait()
		}
	}
}

// ---- token ----

func (pl *player) tokenStage() (string, error) {
	f := url.Values{}
	f.Set("grant_type", "authorization_code")
	f.Set("code", pl.code)
	f.Set("redirect_uri", pl.redirect)
	f.Set("code_verifier", pl.verifier)
	if err := pl.tokenRequest(f); err != nil {
		return "", err
	}
	return fmt.Sprintf("form-encoded, client authentication %s → 200 Bearer token", pl.authMethod) + pl.lifetime(), nil
}

// lifetime says how long the token lives when the server said so.
func (pl *player) lifetime() string {
	if pl.expiresIn <= 0 {
		return ""
	}
	return fmt.Sprintf(" (expires_in %d s)", pl.expiresIn)
}

// tokenRequest posts f (an authorization_code or refresh_token grant) to the token endpoint with the client's
// authentication and keeps the access token, its lifetime and the refresh token.
func (pl *player) tokenRequest(f url.Values) error {
	if pl.b.Resource {
		f.Set("resource", pl.resource())
	}
	tu := str(pl.as, "token_endpoint")
	req, _ := http.NewRequest(http.MethodPost, tu, nil)
	switch pl.authMethod {
	case "client_secret_basic":
		req.SetBasicAuth(url.QueryEscape(pl.clientID), url.QueryEscape(pl.secret))
	case "client_secret_post":
		f.Set("client_id", pl.clientID)
		f.Set("client_secret", pl.secret)
	case "private_key_jwt":
		return &notRepro{fmt.Sprintf("%s authenticates at the token endpoint with private_key_jwt (an RS256 client_assertion signed with its own key); the probe has no such key: the server must verify the assertion against the client's jwks_uri (aud = the token endpoint URL)", pl.p.Name)}
	default:
		f.Set("client_id", pl.clientID)
	}
	data := f.Encode()
	req.Body = io.NopCloser(strings.NewReader(data))
	req.ContentLength = int64(len(data))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, body, err := pl.do(req, true)
	if err != nil {
		return failf("POST %s: %v", tu, err)
	}
	if resp.StatusCode != http.StatusOK {
		return failf("POST %s → %d: %s", tu, resp.StatusCode, oneLine(body))
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || str(m, "access_token") == "" {
		return failf("POST %s → 200 without an access_token", tu)
	}
	if !strings.EqualFold(str(m, "token_type"), "bearer") {
		return failf("token_type %q, not Bearer", str(m, "token_type"))
	}
	pl.token = str(m, "access_token")
	pl.expiresIn = 0
	if e, ok := m["expires_in"].(float64); ok && e > 0 && e < 1<<31 {
		pl.expiresIn = int(e)
	}
	if r := str(m, "refresh_token"); r != "" {
		pl.refresh = r
	}
	return nil
}

// ---- MCP ----

func (pl *player) versions() []string {
	if len(pl.b.Versions) > 0 {
		return pl.b.Versions
	}
	if pl.opening0() == "discover" {
		return clients.Spec().Behaviour.Versions
	}
	return []string{"2025-11-25"}
}

// opening0 is how the client opens: its profile's word, else initialize when it is known to offer one legacy
// version only, else the spec's server/discover.
func (pl *player) opening0() string {
	switch {
	case pl.b.Opening != "":
		return pl.b.Opening
	case len(pl.b.Versions) == 1 && pl.b.Versions[0] < "2026":
		return "initialize"
	}
	return clients.Spec().Behaviour.Opening
}

func (pl *player) id() json.RawMessage {
	pl.nextID++
	return json.RawMessage(strconv.Itoa(pl.nextID))
}

func (pl *player) clientInfo() map[string]any {
	name, ver := pl.b.ClientInfo[0], pl.b.ClientInfo[1]
	if name == "" {
		name = "mcpwatch-probe"
	}
	if ver == "" {
		ver = "0.0.0"
	}
	return map[string]any{"name": name, "version": ver}
}

// openingRequest is the first JSON-RPC request of a connection, and its headers.
func (pl *player) openingRequest() ([]byte, map[string]string) {
	vs := pl.versions()
	if pl.opening0() == "discover" {
		id := json.RawMessage(pl.b.DiscoverID)
		if len(id) == 0 {
			id = pl.id()
		}
		return pl.modernRequest(id, "server/discover", map[string]any{}, vs[0], "")
	}
	return pl.legacyRequest(pl.id(), "initialize", map[string]any{
		"protocolVersion": vs[len(vs)-1], "capabilities": map[string]any{}, "clientInfo": pl.clientInfo(),
	}, "")
}

func (pl *player) accept() string {
	if pl.b.Accept != "" {
		return pl.b.Accept
	}
	return "application/json, text/event-stream"
}

func (pl *player) modernRequest(id json.RawMessage, method string, params map[string]any, version, name string) ([]byte, map[string]string) {
	params["_meta"] = map[string]any{
		"io.modelcontextprotocol/protocolVersion":    version,
		"io.modelcontextprotocol/clientInfo":         pl.clientInfo(),
		"io.modelcontextprotocol/clientCapabilities": map[string]any{},
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	h := map[string]string{"Content-Type": "application/json", "Accept": pl.accept(), "Mcp-Method": method}
	hv := version
	if pl.b.HeaderVersion != "" && method != "server/discover" {
		hv = pl.b.HeaderVersion
	}
	h["Mcp-Protocol-Version"] = hv
	if name != "" {
		h["Mcp-Name"] = name
	}
	return body, h
}

func (pl *player) legacyRequest(id json.RawMessage, method string, params map[string]any, version string) ([]byte, map[string]string) {
	m := map[string]any{"jsonrpc": "2.0", "method": method}
	if id != nil {
		m["id"] = id
	}
	if params != nil {
		m["params"] = params
	}
	body, _ := json.Marshal(m)
	h := map[string]string{"Content-Type": "application/json", "Accept": pl.accept()}
	if version != "" {
		h["Mcp-Protocol-Version"] = version
	}
	echo := pl.b.EchoesSession == nil || *pl.b.EchoesSession
	if pl.session != "" && echo {
		h["Mcp-Session-Id"] = pl.session
	}
	return body, h
}

type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// post sends one JSON-RPC message and reads the answer to it (JSON or an event stream).
func (pl *player) post(body []byte, h map[string]string) (*http.Response, *rpcResponse, error) {
	req, _ := http.NewRequest(http.MethodPost, pl.o.URL, bytes.NewReader(body))
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if pl.token != "" {
		req.Header.Set("Authorization", "Bearer "+pl.token)
	}
	resp, rb, err := pl.do(req, false)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode == http.StatusAccepted || len(bytes.TrimSpace(rb)) == 0 {
		return resp, nil, nil
	}
	var msgs [][]byte
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for _, line := range strings.Split(string(rb), "\n") {
			if d, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), "data:"); ok {
				msgs = append(msgs, []byte(strings.TrimSpace(d)))
			}
		}
	} else {
		msgs = [][]byte{rb}
	}
	var reqID struct {
		ID json.RawMessage `json:"id"`
	}
	_ = json.Unmarshal(body, &reqID)
	for _, m := range msgs {
		var r struct {
			ID json.RawMessage `json:"id"`
			rpcResponse
		}
		if json.Unmarshal(m, &r) == nil && (r.Result != nil || r.Error != nil) {
			if r.Error != nil && (len(r.ID) == 0 || string(r.ID) == "null") {
				return resp, &r.rpcResponse, nil // an error the server could not tie to a request (JSON-RPC 2.0 §5)
			}
			if !bytes.Equal(r.ID, reqID.ID) {
				return resp, nil, fmt.Errorf("the answer's id %s is not the request's %s", r.ID, reqID.ID)
			}
			return resp, &r.rpcResponse, nil
		}
	}
	return resp, nil, fmt.Errorf("HTTP %d without a JSON-RPC answer: %s", resp.StatusCode, oneLine(rb))
}

func (pl *player) opening() (string, error) {
	vs := pl.versions()
	var notes []string
	if pl.opening0() == "discover" {
		body, h := pl.openingRequest()
		resp, r, err := pl.post(body, h)
		switch {
		case err != nil && resp == nil:
			return "", failf("server/discover: %v", err)
		case err == nil && r != nil && r.Error == nil:
			var res struct {
				SupportedVersions []string `json:"supportedVersions"`
			}
			_ = json.Unmarshal(r.Result, &res)
			if slices.Contains(res.SupportedVersions, vs[0]) {
				pl.modern, pl.version = true, vs[0]
				d := fmt.Sprintf("server/discover → %d, %s negotiated (stateless)", resp.StatusCode, vs[0]) + pl.unknown("Opening")
				if pl.b.HeaderVersion != "" && pl.b.HeaderVersion != vs[0] {
					d += fmt.Sprintf("; later requests carry MCP-Protocol-Version %s as %s does", pl.b.HeaderVersion, pl.p.Name)
				}
				return d, nil
			}
			notes = append(notes, fmt.Sprintf("server/discover → supportedVersions %v without %s", res.SupportedVersions, vs[0]))
		case r != nil && r.Error != nil:
			notes = append(notes, fmt.Sprintf("server/discover → %d, error %d %s", resp.StatusCode, r.Error.Code, r.Error.Message))
		default:
			notes = append(notes, fmt.Sprintf("server/discover → %d (%v)", resp.StatusCode, err))
		}
		if len(vs) < 2 {
			return "", failf("%s; %s does not fall back to initialize", strings.Join(notes, "; "), pl.p.Name)
		}
		notes = append(notes, "fallback to initialize")
	}
	v := vs[len(vs)-1]
	body, h := pl.legacyRequest(pl.id(), "initialize", map[string]any{
		"protocolVersion": v, "capabilities": map[string]any{}, "clientInfo": pl.clientInfo(),
	}, "")
	resp, r, err := pl.post(body, h)
	if err != nil {
		if resp != nil {
			return "", failf("%sinitialize → %d: %v", prefix(notes), resp.StatusCode, err)
		}
		return "", failf("%sinitialize: %v", prefix(notes), err)
	}
	if r == nil || r.Error != nil || resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("%sinitialize → %d", prefix(notes), resp.StatusCode)
		if r != nil && r.Error != nil {
			msg += fmt.Sprintf(", error %d %s", r.Error.Code, r.Error.Message)
		}
		return "", failf("%s", msg)
	}
	var res struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	_ = json.Unmarshal(r.Result, &res)
	pl.version = res.ProtocolVersion
	pl.session = resp.Header.Get("Mcp-Session-Id")
	notes = append(notes, fmt.Sprintf("initialize %s → %d, protocolVersion %s", v, resp.StatusCode, res.ProtocolVersion))
	if pl.session != "" {
		if pl.b.EchoesSession != nil && !*pl.b.EchoesSession {
			notes = append(notes, "session id not echoed, as "+pl.p.Name+" does")
		} else {
			notes = append(notes, "session id echoed")
		}
	}
	if !pl.b.NoInitialized {
		body, h := pl.legacyRequest(nil, "notifications/initialized", nil, pl.version)
		resp, _, err := pl.post(body, h)
		if err != nil && resp == nil {
			return "", failf("%s; notifications/initialized: %v", strings.Join(notes, "; "), err)
		}
		if resp.StatusCode >= 300 {
			return "", failf("%s; notifications/initialized → %d", strings.Join(notes, "; "), resp.StatusCode)
		}
		notes = append(notes, fmt.Sprintf("notifications/initialized → %d", resp.StatusCode))
	}
	return strings.Join(notes, "; ") + pl.unknown("Opening"), nil
}

func prefix(notes []string) string {
	if len(notes) == 0 {
		return ""
	}
	return strings.Join(notes, "; ") + "; "
}

func (pl *player) request(method string, params map[string]any, name string) (*http.Response, *rpcResponse, error) {
	if pl.modern {
		body, h := pl.modernRequest(pl.id(), method, params, pl.version, name)
		return pl.post(body, h)
	}
	body, h := pl.legacyRequest(pl.id(), method, params, pl.version)
	return pl.post(body, h)
}

func rpcFail(method string, resp *http.Response, r *rpcResponse, err error) error {
	switch {
	case err != nil && resp == nil:
		return failf("%s: %v", method, err)
	case err != nil:
		return failf("%s → %d: %v", method, resp.StatusCode, err)
	case r == nil:
		return failf("%s → %d without an answer", method, resp.StatusCode)
	case r.Error != nil:
		return failf("%s → %d, error %d %s", method, resp.StatusCode, r.Error.Code, r.Error.Message)
	}
	return nil
}

func (pl *player) list() (string, error) {
	resp, r, err := pl.request("tools/list", map[string]any{}, "")
	if e := rpcFail("tools/list", resp, r, err); e != nil {
		return "", e
	}
	var res struct {
		Tools []tool `json:"tools"`
	}
	if err := json.Unmarshal(r.Result, &res); err != nil {
		return "", failf("tools/list: the result is not a tool list: %v", err)
	}
	pl.tools = res.Tools
	return fmt.Sprintf("tools/list → %d, %d tools", resp.StatusCode, len(res.Tools)), nil
}

// callOrder lists the tools the call stage may try: the one named with Options.Tool alone, else read-only tools
// first, then by their number of required arguments (then as listed); a tool marked destructive only when named.
func (pl *player) callOrder() []tool {
	if pl.o.Tool != "" {
		for _, t := range pl.tools {
			if t.Name == pl.o.Tool {
				return []tool{t}
			}
		}
		return nil
	}
	var ts []tool
	for _, t := range pl.tools {
		if !t.destructive() {
			ts = append(ts, t)
		}
	}
	slices.SortStableFunc(ts, func(a, b tool) int { return a.rank() - b.rank() })
	return ts
}

// arguments fills a tool's required arguments with plain values.
func arguments(t tool) map[string]any {
	args := map[string]any{}
	props, _ := t.InputSchema["properties"].(map[string]any)
	req, _ := t.InputSchema["required"].([]any)
	for _, k := range req {
		name, _ := k.(string)
		p, _ := props[name].(map[string]any)
		switch p["type"] {
		case "number", "integer":
			args[name] = 1
		case "boolean":
			args[name] = true
		case "array":
			args[name] = []any{}
		case "object":
			args[name] = map[string]any{}
		default:
			args[name] = "mcpwatch probe"
		}
	}
	return args
}

// maxCalls bounds the tools the call stage tries: a tool may fail for its own reasons (it needs real arguments,
// or an elicitation the probe cannot answer); the stage passes when one call gets a result.
const maxCalls = 3

func (pl *player) call() (string, error) {
	ts := pl.callOrder()
	switch {
	case len(ts) == 0 && pl.o.Tool != "":
		return "", failf("tools/list does not list the tool %q", pl.o.Tool)
	case len(ts) == 0 && len(pl.tools) > 0:
		return "skipped: every listed tool is marked destructive (name one with --tool to call it)", nil
	case len(ts) == 0:
		return "", failf("tools/list listed no tool to call")
	}
	var tried []string
	var last error
	for _, t := range ts[:min(len(ts), maxCalls)] {
		resp, r, err := pl.request("tools/call", map[string]any{"name": t.Name, "arguments": arguments(t)}, t.Name)
		if e := rpcFail("tools/call "+t.Name, resp, r, err); e != nil {
			last = e
			tried = append(tried, e.Error())
			if resp == nil || resp.StatusCode >= 400 {
				break // the transport or the server refused the call itself: another tool would not tell more
			}
			continue
		}
		var res struct {
			IsError bool `json:"isError"`
		}
		_ = json.Unmarshal(r.Result, &res)
		if res.IsError {
			tried = append(tried, fmt.Sprintf("tools/call %s → isError: true", t.Name))
			last = failf("%s", strings.Join(tried, "; "))
			continue
		}
		detail := prefix(tried) + fmt.Sprintf("tools/call %s → %d", t.Name, resp.StatusCode)
		if pl.token == "" || pl.expiresIn <= 0 || pl.expiresIn > maxExpiryWait {
			return detail, nil
		}
		after, err := pl.callAfterExpiry(t)
		if err != nil {
			return "", failf("%s; %v", detail, err)
		}
		return detail + "; " + after, nil
	}
	if len(tried) > 1 {
		return "", failf("%s", strings.Join(tried, "; "))
	}
	return "", last
}

// maxExpiryWait: a token that lives this long or less is waited out, so that the call after expiry and the
// refresh are played as the client plays them (a connector that stops working once its token expires).
const maxExpiryWait = 30

// callAfterExpiry waits for the access token to expire (printing a progress line), calls t again and, on 401,
// refreshes as clients do on 401 (the spec's rule; Claude's too: reference §1) and calls once more.
func (pl *player) callAfterExpiry(t tool) (string, error) {
	wait := time.Duration(pl.expiresIn)*time.Second + time.Second
	if pl.o.Prompt != nil {
		fmt.Fprintf(pl.o.Prompt, "%s: the token expires in %d s; waiting %s to call again after it expired…\n", pl.p.Name, pl.expiresIn, wait)
	}
	tm := time.NewTimer(wait)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-pl.ctx.Done():
		return "", fmt.Errorf("interrupted while waiting for the token to expire")
	}
	params := map[string]any{"name": t.Name, "arguments": arguments(t)}
	resp, r, err := pl.request("tools/call", params, t.Name)
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		if e := rpcFail("tools/call "+t.Name+" after expiry", resp, r, err); e != nil {
			return "", e
		}
		return fmt.Sprintf("after expiry: tools/call %s → %d (the server still accepts the token)", t.Name, resp.StatusCode), nil
	}
	if pl.refresh == "" {
		return "", fmt.Errorf("after expiry: tools/call %s → 401 and no refresh token was issued: the user must sign in again", t.Name)
	}
	f := url.Values{}
	f.Set("grant_type", "refresh_token")
	f.Set("refresh_token", pl.refresh)
	if err := pl.tokenRequest(f); err != nil {
		return "", fmt.Errorf("after expiry: tools/call %s → 401; refresh: %v", t.Name, err)
	}
	resp, r, err = pl.request("tools/call", params, t.Name)
	if e := rpcFail("tools/call "+t.Name+" after the refresh", resp, r, err); e != nil {
		return "", fmt.Errorf("after expiry: tools/call → 401, refresh → 200; %v", e)
	}
	return fmt.Sprintf("after expiry: tools/call %s → 401, refresh → 200, tools/call → %d", t.Name, resp.StatusCode), nil
}

func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// isRPCError reports whether an answer (JSON or an event stream) holds a JSON-RPC error.
func isRPCError(b []byte) bool {
	return bytes.Contains(b, []byte(`"error"`)) && bytes.Contains(b, []byte(`"jsonrpc"`))
}
