package oauth

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/oauth/store"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.New("").ParseFS(templateFS, "templates/*.html"))

const (
	consentTTL    = 10 * time.Minute
	browserCookie = "mcpwatch_browser"
)

// authRequest is a validated authorization request.
type authRequest struct {
	Client      *client
	RedirectURI string
	// RedirectGiven: the request named redirect_uri (the token request must then repeat it, RFC 6749 §4.1.3).
	RedirectGiven bool
	State         string
	Scopes        []string
	Resource      string
	Challenge     string
	Issuer        string
}

// pendingConsent is an authorization request waiting on the consent page. The form carries its id and CSRF token;
// the browser that loaded the page carries the browser cookie; a post must match all three.
type pendingConsent struct {
	ID      string
	CSRF    string
	Browser string
	Req     authRequest
	Expires time.Time
	// Tries counts wrong consent codes (guarded by AS.mu).
	Tries int
}

// authCode is an issued authorization code (kept in memory under its hash: codes live minutes).
type authCode struct {
	Req     authRequest
	Expires time.Time
	// Used is set by the exchange; GrantID is the grant it created, revoked if the code is presented again.
	Used    bool
	GrantID string
}

var pkceValue = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// authorize is the authorization endpoint: GET is the authorization request, POST the consent form's answer.
func (a *AS) authorize(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodPost {
		return a.consent(w, r)
	}
	o := a.Options()
	req, err := a.parseAuthRequest(r, &o)
	if err != nil {
		return err
	}
	recorder.AddNote(r.Context(), "oauth", fmt.Sprintf("authorization request from %s for %s, scopes %q", req.Client.ID, req.Resource, strings.Join(req.Scopes, " ")))
	switch {
	case o.DenyConsent:
		recorder.AddToggle(r.Context(), recorder.ToggleChange{Name: toggleDenyConsent, What: "authorization answer",
			Before: "consent page", After: "redirect with error=access_denied"})
		return &redirectError{RedirectURI: req.RedirectURI, Code: "access_denied", Description: "the authorization server denies every request (toggle)", State: req.State, Issuer: req.Issuer}
	case o.AutoApprove:
		recorder.AddNote(r.Context(), "oauth", "auto-approved")
		return a.approve(w, r, req, &o)
	}
	return a.showConsent(w, r, req)
}

// parseAuthRequest validates an authorization request. Until the client and its redirect URI are known to be
// genuine, errors are shown on a page; after that they go back to the redirect URI (RFC 6749 §4.1.2.1).
func (a *AS) parseAuthRequest(r *http.Request, o *Options) (*authRequest, error) {
	if len(r.URL.RawQuery) > maxAuthorizeQueryBytes {
		return nil, &pageError{Status: http.StatusRequestURITooLong, Title: "Invalid authorization request",
			Message: fmt.Sprintf("The authorization request's query is %d bytes; this server takes at most %d.", len(r.URL.RawQuery), maxAuthorizeQueryBytes),
			Cause:   "The client sent an oversized parameter (state, scope, redirect_uri ...)."}
	}
	q := r.URL.Query()
	for _, p := range []string{"client_id", "redirect_uri", "state", "response_type", "code_challenge", "code_challenge_method", "scope"} {
		if len(q[p]) > 1 {
			return nil, &pageError{Status: http.StatusBadRequest, Title: "Invalid authorization request",
				Message: fmt.Sprintf("The parameter %s appears more than once.", p),
				Cause:   "The client built the authorization URL wrongly (RFC 6749 §3.1: parameters must not be repeated)."}
		}
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		return nil, &pageError{Status: http.StatusBadRequest, Title: "Invalid authorization request",
			Message: "The request has no client_id.",
			Cause:   "The client did not register (or did not send the client id it got) before sending the user here.",
			Fix:     "Check the client's registration step: it should POST to " + publicurl.URL(r, pathRegister) + " first, or use a client ID metadata document URL."}
	}
	c, err := a.lookupClient(r.Context(), clientID, o)
	if err != nil {
		return nil, unknownClientPage(r, clientID, err, o)
	}
	redirect := q.Get("redirect_uri")
	given := redirect != ""
	if !given {
		if len(c.Metadata.RedirectURIs) != 1 {
			return nil, &pageError{Status: http.StatusBadRequest, Title: "Invalid authorization request",
				Message: "The request has no redirect_uri and the client registered several, so it is not clear where to send the answer.",
				Cause:   "The client left out redirect_uri.", Details: [][2]string{{"client_id", c.ID}, {"registered", strings.Join(c.Metadata.RedirectURIs, "\n")}}}
		}
		redirect = c.Metadata.RedirectURIs[0]
	}
	if !matchRedirectURI(c.Metadata.RedirectURIs, redirect) {
		return nil, &pageError{Status: http.StatusBadRequest, Title: "Unregistered redirect URI",
			Message: fmt.Sprintf("%s asked to send the answer to a redirect URI it did not register.", c.name()),
			Cause: "Redirect URIs must match a registered one exactly (only the port of a loopback http URI may differ). Typical causes: " +
				"the client's callback URL changed (claude.ai vs claude.com, a new port) after it registered, or it reuses a registration made for another callback.",
			Fix:     "Register again with the redirect URI the client uses now (remove and re-add the connector).",
			Details: [][2]string{{"client_id", c.ID}, {"redirect_uri", redirect}, {"registered", strings.Join(c.Metadata.RedirectURIs, "\n")}}}
	}
	if err := checkRedirectURI(redirect, o.RedirectHosts); err != nil {
		if checkRedirectURI(redirect, nil) == nil {
			recorder.AddToggle(r.Context(), recorder.ToggleChange{Name: toggleRedirectAllow, What: "authorization answer",
				Before: "consent page", After: "error page: redirect URI " + redirect + " not allowed"})
		}
		return nil, &pageError{Status: http.StatusBadRequest, Title: "Redirect URI not allowed",
			Message: fmt.Sprintf("The redirect URI %s is not allowed: %v.", redirect, err),
			Details: [][2]string{{"client_id", c.ID}, {"redirect_uri", redirect}}}
	}

	// The values are cloned: as substrings of the raw query they would keep all of it alive while the request waits.
	req := &authRequest{Client: slimClient(c), RedirectURI: strings.Clone(redirect), RedirectGiven: given, State: q.Get("state"), Issuer: issuer(r)}
	fail := func(code, desc string) error {
		return &redirectError{RedirectURI: redirect, Code: code, Description: desc, State: req.State, Issuer: req.Issuer,
			Untrusted: !trustedRedirect(c, redirect)}
	}
	if len(req.State) > maxStateBytes {
		n := len(req.State)
		req.State = "" // not echoed: it is the problem
		return nil, fail("invalid_request", fmt.Sprintf("state is %d bytes; this server takes at most %d", n, maxStateBytes))
	}
	req.State = strings.Clone(req.State)
	if rt := q.Get("response_type"); rt != "code" {
		if rt == "" {
			return nil, fail("invalid_request", "response_type is required (code)")
		}
		return nil, fail("unsupported_response_type", fmt.Sprintf("response_type %q is not supported; only code", rt))
	}
	req.Challenge = strings.Clone(q.Get("code_challenge"))
	method := q.Get("code_challenge_method")
	switch {
	case req.Challenge == "":
		return nil, fail("invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256")
	case method != "S256":
		if method == "" {
			method = "plain (the default when code_challenge_method is missing)"
		}
		return nil, fail("invalid_request", "code_challenge_method must be S256; "+method+" is not accepted")
	case !pkceValue.MatchString(req.Challenge):
		return nil, fail("invalid_request", "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~] (base64url of a SHA-256)")
	}
	res, err := a.checkResource(r, q["resource"], "")
	if err != nil {
		var oe *Error
		errors.As(err, &oe)
		return nil, fail(oe.Code, oe.Description)
	}
	req.Resource = res
	scopes, err := parseScope(strings.Clone(q.Get("scope")))
	if err != nil {
		return nil, fail("invalid_scope", err.Error())
	}
	req.Scopes = scopes
	if len(req.Scopes) == 0 {
		req.Scopes = slices.Clone(o.RequiredScopes)
	}
	return req, nil
}

// unknownClientPage explains a client_id the server cannot use.
func unknownClientPage(r *http.Request, clientID string, err error, o *Options) *pageError {
	if errors.Is(err, errUnknownClient) {
		fix := "Make the client register again: remove and re-add the connector (Claude, ChatGPT), clear the client's stored OAuth state " +
			"(mcp-remote: rm -rf ~/.mcp-auth; VS Code: \"Authentication: Remove Dynamic Authentication Providers\"), or keep the state file between runs (do not use --ephemeral)."
		if strings.HasPrefix(clientID, "https://") && o.DisableCIMD {
			fix = "Client ID metadata documents are turned off (toggle); turn them on, or let the client register."
		}
		return &pageError{Status: http.StatusBadRequest, Title: "Unknown client",
			Message: fmt.Sprintf("This server does not know the client id %q.", clientID),
			Cause: "Most likely the client registered with an earlier run of mcpwatch (or another state file) and cached that registration for this host: " +
				"clients register once per server URL and do not register again by themselves.",
			Fix:     fix,
			Details: [][2]string{{"client_id", clientID}, {"authorization server", issuer(r)}}}
	}
	return &pageError{Status: http.StatusBadRequest, Title: "Client metadata document unusable",
		Message: fmt.Sprintf("The client id %s is a client ID metadata document URL, and the document could not be used: %v.", clientID, err),
		Cause:   "The document must be reachable over https at a public address, be JSON, repeat its own URL as client_id, and list client_name and redirect_uris.",
		Details: [][2]string{{"client_id", clientID}}}
}

// checkResource validates RFC 8707 resource parameters against the protected resources' public URLs (a trailing
// slash is tolerated: clients round-trip either form). None given: bound is used, or the MCP endpoint.
func (a *AS) checkResource(r *http.Request, given []string, bound string) (string, error) {
	var res string
	for _, g := range given {
		if res != "" && g != res {
			return "", oauthErr(http.StatusBadRequest, "invalid_target", "more than one resource; a token here is for one resource")
		}
		res = g
	}
	if res == "" {
		if bound != "" {
			return bound, nil
		}
		return publicurl.URL(r, a.MCPPath()), nil
	}
	u, err := url.Parse(res)
	if err != nil || !u.IsAbs() || u.Fragment != "" {
		return "", oauthErr(http.StatusBadRequest, "invalid_target", fmt.Sprintf("resource %q is not an absolute URI without a fragment", res))
	}
	if bound != "" {
		if !oauthex.MatchesResource([]string{bound}, res) {
			return "", oauthErr(http.StatusBadRequest, "invalid_target", fmt.Sprintf("resource %q is not the resource %q this grant was issued for", res, bound))
		}
		return bound, nil
	}
	var known []string
	for _, p := range a.cfg.ResourcePaths {
		want := publicurl.URL(r, p)
		if oauthex.MatchesResource([]string{want}, res) || oauthex.MatchesResource([]string{res}, want) {
			return want, nil // bound in its canonical form, however the client spelt it
		}
		known = append(known, want)
	}
	return "", oauthErr(http.StatusBadRequest, "invalid_target", fmt.Sprintf("resource %q is not served here (resources: %s)", res, strings.Join(known, ", ")))
}

// showConsent renders the consent page and remembers the request until the form comes back.
func (a *AS) showConsent(w http.ResponseWriter, r *http.Request, req *authRequest) error {
	browser := ""
	// The cookie is ours (43 characters) or a new one is set: a cookie of any other length — the request's to choose,
	// up to a megabyte — is not kept with the pending consent.
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= maxBrowserCookie {
		browser = strings.Clone(c.Value)
	} else {
		browser = randomToken("")
		http.SetCookie(w, &http.Cookie{Name: browserCookie, Value: browser, Path: pathAuthorize, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: publicurl.Base(r).Scheme == "https"})
	}
	p := &pendingConsent{ID: randomID(""), CSRF: randomToken(""), Browser: browser, Req: *req, Expires: a.now().Add(consentTTL)}
	a.mu.Lock()
	a.pruneLocked()
	a.consents.Add(p.ID, grantOwner(req.Client.ID), req.bytes()+int64(len(p.ID)+len(p.CSRF)+len(p.Browser)), p.Expires, p)
	a.mu.Unlock()

	view := consentView{
		ClientName:   req.Client.name(),
		ClientID:     req.Client.ID,
		CIMD:         req.Client.CIMD,
		RedirectURI:  req.RedirectURI,
		RedirectHost: redirectHost(req.RedirectURI),
		Scopes:       req.Scopes,
		Resource:     req.Resource,
		ConsentID:    p.ID,
		CSRF:         p.CSRF,
		Action:       pathAuthorize,
		AskCode:      a.Options().ConsentCode != "",
	}
	if req.Client.CIMD && allLoopback(req.Client.Metadata.RedirectURIs) {
		view.Warning = "This client's metadata document lists only localhost redirect URIs: any program on the user's machine could claim to be it."
	}
	if err := a.renderPage(w, http.StatusOK, "consent.html", view); err != nil {
		a.log.Error("render consent page", "err", err)
	}
	return nil
}

type consentView struct {
	ClientName, ClientID      string
	CIMD                      bool
	RedirectURI, RedirectHost string
	Scopes                    []string
	Resource                  string
	ConsentID, CSRF, Action   string
	Warning                   string
	AskCode                   bool
}

func redirectHost(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return u
	}
	return p.Scheme + "://" + p.Host
}

func allLoopback(uris []string) bool {
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil || !isLoopbackHost(u.Hostname()) {
			return false
		}
	}
	return len(uris) > 0
}

// consent handles the consent form: the pending request must exist, and the CSRF token and browser cookie must
// match it. A forged post changes nothing (the pending request stays for the genuine page).
func (a *AS) consent(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return &pageError{Status: http.StatusBadRequest, Title: "Invalid consent form", Message: "The form could not be read: " + err.Error()}
	}
	id := r.PostForm.Get("consent")
	if id == "" {
		return &pageError{Status: http.StatusBadRequest, Title: "Invalid consent form",
			Message: "A POST to " + pathAuthorize + " must be the consent page's form; authorization requests are GET requests."}
	}
	a.mu.Lock()
	a.pruneLocked()
	p, _ := a.consents.Get(id)
	a.mu.Unlock()
	if p == nil {
		return &pageError{Status: http.StatusBadRequest, Title: "Consent form expired",
			Message: "This consent form has expired or was already answered.",
			Fix:     "Start the connection again from the client."}
	}
	cookie, _ := r.Cookie(browserCookie)
	if !equalSecret(r.PostForm.Get("csrf"), p.CSRF) || cookie == nil || !equalSecret(cookie.Value, p.Browser) {
		recorder.AddNote(r.Context(), "oauth", "consent form refused: CSRF check failed")
		return &pageError{Status: http.StatusForbidden, Title: "Forged consent form",
			Message: "This consent answer did not come from the consent page this browser was shown (the CSRF token or the browser cookie does not match), so it is refused.",
			Fix:     "Answer on the consent page itself."}
	}
	action := r.PostForm.Get("action")
	if action != "approve" && action != "deny" { // checked before the consent is used up: an invalid post changes nothing
		return &pageError{Status: http.StatusBadRequest, Title: "Invalid consent form", Message: "The answer must be approve or deny."}
	}
	if want := a.Options().ConsentCode; want != "" && action == "approve" {
		if !equalSecret(normalizeConsentCode(r.PostForm.Get("consent_secret")), normalizeConsentCode(want)) {
			a.mu.Lock()
			p.Tries++
			left := maxConsentCodeTries - p.Tries
			if left <= 0 {
				a.consents.Delete(id)
			}
			a.mu.Unlock()
			recorder.AddNote(r.Context(), "oauth", "consent form refused: wrong consent code")
			msg := fmt.Sprintf("The consent code is wrong. %d tries left: go back and enter the code mcpwatch shows in its terminal.", left)
			if left <= 0 {
				msg = "The consent code is wrong, again: this authorization request is dropped. Start the connection again from the client."
			}
			return &pageError{Status: http.StatusForbidden, Title: "Wrong consent code", Message: msg,
				Cause: "mcpwatch runs with --consent-code: approving needs the code shown in the terminal where mcpwatch runs."}
		}
	}
	a.mu.Lock()
	_, still := a.consents.Get(id)
	a.consents.Delete(id)
	a.mu.Unlock()
	if !still {
		return &pageError{Status: http.StatusBadRequest, Title: "Consent form expired", Message: "This consent form was already answered."}
	}
	req := &p.Req
	o := a.Options()
	if action == "deny" {
		recorder.AddNote(r.Context(), "oauth", "consent: denied")
		return &redirectError{RedirectURI: req.RedirectURI, Code: "access_denied", Description: "the user denied the request", State: req.State, Issuer: req.Issuer}
	}
	if o.DenyConsent {
		recorder.AddToggle(r.Context(), recorder.ToggleChange{Name: toggleDenyConsent, What: "consent answer",
			Before: "approve → code", After: "redirect with error=access_denied"})
		return &redirectError{RedirectURI: req.RedirectURI, Code: "access_denied", Description: "the authorization server denies every request (toggle)", State: req.State, Issuer: req.Issuer}
	}
	recorder.AddNote(r.Context(), "oauth", "consent: approved")
	return a.approve(w, r, req, &o)
}

// approve issues a code and sends it to the redirect URI with state and iss.
func (a *AS) approve(w http.ResponseWriter, r *http.Request, req *authRequest, o *Options) error {
	code := randomToken(prefixCode)
	expires := a.now().Add(o.codeTTL())
	a.mu.Lock()
	a.pruneLocked()
	a.codes.Add(store.Hash(code), grantOwner(req.Client.ID), req.bytes(), expires.Add(usedCodeMemory), &authCode{Req: *req, Expires: expires})
	a.mu.Unlock()
	http.Redirect(w, r, authorizationResponse(req.RedirectURI, map[string]string{"code": code, "state": req.State, "iss": req.Issuer}), http.StatusFound)
	return nil
}

// usedCodeMemory is how long a used code is remembered, so that a replay is recognised and revokes its grant.
const usedCodeMemory = 15 * time.Minute

// pruneLocked forgets expired consents and codes (a used code is remembered usedCodeMemory longer, to catch a
// replay). Call with a.mu held.
func (a *AS) pruneLocked() {
	now := a.now()
	a.consents.Prune(now)
	a.codes.Prune(now)
}

// renderPage writes an HTML page that must not be framed, cached or leak its URL in a Referer to another site.
// The referrer policy is same-origin, not no-referrer: with no-referrer, Chromium sends "Origin: null" on the
// consent form's POST, which the Host/Origin guard refuses.
func (a *AS) renderPage(w http.ResponseWriter, status int, name string, data any) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	return templates.ExecuteTemplate(w, name, data)
}

func (a *AS) renderError(w http.ResponseWriter, e *pageError) {
	if err := a.renderPage(w, e.Status, "error.html", e); err != nil {
		a.log.Error("render error page", "err", err)
	}
}
