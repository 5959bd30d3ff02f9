package oauth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// Error is an OAuth error answered as JSON: RFC 6749 §5.2 (token), RFC 7591 §3.2.2 (registration), RFC 7009
// (revocation), RFC 8707 (invalid_target).
type Error struct {
	Status      int
	Code        string
	Description string
	// Challenge is a WWW-Authenticate value (invalid_client after HTTP Basic authentication).
	Challenge string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func oauthErr(status int, code, desc string) *Error {
	return &Error{Status: status, Code: code, Description: desc}
}

func invalidRequest(desc string) *Error {
	return oauthErr(http.StatusBadRequest, "invalid_request", desc)
}
func invalidGrant(desc string) *Error { return oauthErr(http.StatusBadRequest, "invalid_grant", desc) }
func invalidClient(desc string) *Error {
	return oauthErr(http.StatusUnauthorized, "invalid_client", desc)
}

// pageError is an authorization error that cannot be sent back to the client, because the client or its
// redirect URI is not known to be genuine (RFC 6749 §4.1.2.1): it is shown on an error page instead.
type pageError struct {
	Status  int
	Title   string
	Message string
	// Cause is the likely reason, Fix what to do about it.
	Cause string
	Fix   string
	// Details are shown as a definition list (client_id, redirect_uri, ...).
	Details [][2]string
	// Continue, when set, is an error response to the client's redirect URI that the user may follow (an error
	// about a client whose redirect URI is not trusted, RFC 9700 §4.11.2); ContinueHost names where it goes.
	Continue, ContinueHost string
}

func (e *pageError) Error() string { return e.Title + ": " + e.Message }

// redirectError is an authorization error sent back to the client's redirect URI (RFC 6749 §4.1.2.1, RFC 9207).
type redirectError struct {
	RedirectURI string
	Code        string
	Description string
	State       string
	Issuer      string
	// Untrusted: the redirect URI is not trusted (redirect.go), so the error is shown on a page with a link to it.
	Untrusted bool
}

func (e *redirectError) Error() string { return e.Code + ": " + e.Description }

// handlerFunc is an endpoint that returns its failure instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle turns a handlerFunc's error into the response its kind calls for, and notes it on the recorded exchange.
func (a *AS) handle(f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := f(w, r)
		if err == nil {
			return
		}
		var (
			oe *Error
			pe *pageError
			re *redirectError
		)
		switch {
		case errors.As(err, &re):
			to := authorizationResponse(re.RedirectURI, map[string]string{
				"error": re.Code, "error_description": re.Description, "state": re.State, "iss": re.Issuer,
			})
			if re.Untrusted {
				recorder.AddNote(r.Context(), "oauth", "error page (redirect URI not trusted for an automatic redirect): "+re.Error())
				a.renderError(w, &pageError{Status: http.StatusBadRequest, Title: "Invalid authorization request",
					Message: re.Description + " (" + re.Code + ").",
					Cause:   "The client's request is invalid. Its redirect URI is one it registered for itself, so this server does not send you there on its own (it would be an open redirector).",
					Fix:     "Follow the link below to hand the error back to the client, or fix the client's authorization request.",
					Details: [][2]string{{"error", re.Code}, {"redirect_uri", re.RedirectURI}}, Continue: to, ContinueHost: redirectHost(re.RedirectURI)})
				return
			}
			recorder.AddNote(r.Context(), "oauth", "error redirect: "+re.Error())
			http.Redirect(w, r, to, http.StatusFound)
		case errors.As(err, &pe):
			recorder.AddNote(r.Context(), "oauth", "error page: "+pe.Error())
			a.renderError(w, pe)
		case errors.As(err, &oe):
			recorder.AddNote(r.Context(), "oauth", "error: "+oe.Error())
			writeOAuthError(w, oe)
		default:
			// The detail (a write error names the state file's absolute path: the home directory, the user name)
			// goes to the log; the answer and the note name the file by its base name only.
			a.log.Error("oauth endpoint failed", "path", r.URL.Path, "err", err)
			msg := a.redactPaths(err.Error())
			recorder.AddNote(r.Context(), "oauth", "server error: "+msg)
			writeOAuthError(w, oauthErr(http.StatusInternalServerError, "server_error", "the server failed: "+msg+" (the detail is in mcpwatch's log)"))
		}
	})
}

func writeOAuthError(w http.ResponseWriter, e *Error) {
	if e.Challenge != "" {
		w.Header().Set("WWW-Authenticate", e.Challenge)
	}
	body := map[string]string{"error": e.Code}
	if e.Description != "" {
		body["error_description"] = e.Description
	}
	writeJSON(w, e.Status, body)
}

// writeJSON answers with v as JSON and Cache-Control: no-store (token and registration responses carry secrets;
// errors must not be cached either).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// authorizationResponse adds params (empty values omitted) to a redirect URI's query.
func authorizationResponse(redirectURI string, params map[string]string) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return redirectURI // validated before; cannot happen
	}
	q := u.Query()
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Secrets: every token, code and client secret is 256 random bits, base64url, behind a prefix that says what it
// is (and lets exporters redact it).
const (
	prefixAccess  = "mcpw_at_"
	prefixRefresh = "mcpw_rt_"
	prefixCode    = "mcpw_ac_"
	prefixSecret  = "mcpw_cs_"
	prefixClient  = "mcpw_c_"
)

func randomToken(prefix string) string {
	var b [32]byte
	rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// randomID is 128 random bits, for identifiers that are not secrets (client ids, grant ids).
func randomID(prefix string) string {
	var b [16]byte
	rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// equalSecret compares two strings in constant time.
func equalSecret(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// quoteSafe makes s safe inside a quoted-string of an HTTP header (no quotes, backslashes or control characters).
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"' || r == '\\':
			return '\''
		case r < 0x20 || r >= 0x7f:
			return '?'
		}
		return r
	}, s)
}

// redactPaths replaces the state file's directory in msg: what a failed write says goes out without the
// absolute path.
func (a *AS) redactPaths(msg string) string {
	p := a.store.Path()
	if p == "" {
		return msg
	}
	if dir := filepath.Dir(p); dir != "." && dir != "/" {
		msg = strings.ReplaceAll(msg, dir+string(filepath.Separator), "")
		msg = strings.ReplaceAll(msg, dir, "<state directory>")
	}
	return msg
}
