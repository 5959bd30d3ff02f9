package analysis

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// StageOf returns the stage of one exchange. It works for the embedded server and for any upstream in proxy mode:
// OAuth endpoints are recognised by their well-known paths and by the shape of the request (a grant_type, a
// registration document, an authorization query), MCP traffic by its JSON-RPC method or, on the MCP path, by the
// HTTP method. A server may name the stage itself with a note "stage" (recorder.AddNote); that wins.
//
// A snapshot taken before the request body arrived is classified by what is known (path, headers); later snapshots
// of the same exchange refine it.
func StageOf(ex *recorder.Exchange, mcpPath string) Stage {
	if ex == nil {
		return StageOther
	}
	if mcpPath == "" {
		mcpPath = "/mcp"
	}
	if s := Stage(ex.Note("stage")); s != "" && stageIndex(s) >= 0 {
		return s
	}
	path := ex.Path()

	// Discovery documents: RFC 9728 (path-suffixed or root), RFC 8414 (path-inserted or root), OpenID discovery
	// (path-inserted and path-appended forms; S26 authorization-server-discovery.mdx).
	if strings.Contains(path, "/.well-known/") {
		lp := strings.ToLower(path)
		switch {
		case strings.HasPrefix(lp, "/.well-known/oauth-protected-resource"):
			return StageResourceMetadata
		case strings.HasPrefix(lp, "/.well-known/oauth-authorization-server"),
			strings.HasPrefix(lp, "/.well-known/openid-configuration"),
			strings.HasSuffix(lp, "/.well-known/openid-configuration"),
			strings.HasSuffix(lp, "/.well-known/oauth-authorization-server"):
			return StageAuthMetadata
		}
	}

	// JSON-RPC from the client: the MCP endpoint, whatever its path.
	if s := rpcStage(ex); s != "" {
		if ex.Status == http.StatusUnauthorized {
			return StageChallenge
		}
		return s
	}

	if s := oauthStage(ex, strings.ToLower(path)); s != "" {
		return s
	}

	onMCP := isMCPPath(path, mcpPath)
	if onMCP && ex.Method == http.MethodHead {
		return StageProbe // a reachability check, whatever it was answered (a 401 is still read as a challenge)
	}
	if ex.Status == http.StatusUnauthorized && (onMCP || bearerChallenge(ex.RespHeaders).present) {
		return StageChallenge
	}
	if onMCP {
		switch ex.Method {
		case http.MethodHead, http.MethodOptions:
			return StageProbe
		case http.MethodGet:
			if acceptsSSE(ex) || isSSE(ex) {
				return StageStream
			}
			return StageProbe
		case http.MethodDelete:
			return StageTerminate
		}
		return StageOther
	}
	if ex.Kind == recorder.Outbound && ex.Method == http.MethodGet && looksLikeClientMetadata(ex) {
		return StageClientMetadata
	}
	if ex.Method == http.MethodHead || ex.Method == http.MethodGet && path == "/" {
		return StageProbe
	}
	return StageOther
}

// stageIndex is the position of s in handshake order, or -1.
func stageIndex(s Stage) int {
	for i, x := range stageOrder {
		if x == s {
			return i
		}
	}
	return -1
}

// isMCPPath reports the MCP endpoint (with or without a trailing slash) and the 2024-11-05 SSE endpoint.
func isMCPPath(path, mcpPath string) bool {
	return path == mcpPath || path == mcpPath+"/" || path == strings.TrimSuffix(mcpPath, "/") || path == "/sse"
}

// rpcMethod is the JSON-RPC method a client asked for: from the body once parsed, else from the 2026-07-28
// Mcp-Method header (present before the body arrives).
func rpcMethod(ex *recorder.Exchange) string {
	if m := ex.RPCMethod(); m != "" {
		return m
	}
	if len(ex.RPC) == 0 {
		return header(ex.ReqHeaders, "Mcp-Method")
	}
	return ""
}

func rpcStage(ex *recorder.Exchange) Stage {
	m := rpcMethod(ex)
	if m == "" {
		for _, r := range ex.RPC {
			if r.From == recorder.FromClient {
				return StageOther // the client answering a server request (roots/list, sampling, ...)
			}
		}
		return ""
	}
	switch {
	case m == "server/discover":
		return StageDiscover
	case m == "initialize":
		return StageInitialize
	case m == "notifications/initialized":
		return StageInitialized
	case m == "tools/list", m == "prompts/list", m == "resources/list", m == "resources/templates/list":
		return StageList
	case m == "tools/call":
		return StageCall
	case m == "subscriptions/listen":
		// 2026-07-28's server event stream: it replaces the GET stream and resources/subscribe
		// (S26/basic/patterns/subscriptions.mdx), so it is DESIGN's `stream`, not a stage of its own.
		return StageStream
	}
	return StageOther
}

// oauthStage recognises authorization-server endpoints by request shape, then by path.
func oauthStage(ex *recorder.Exchange, lp string) Stage {
	last := lp
	if i := strings.LastIndexByte(lp, '/'); i >= 0 {
		last = lp[i+1:]
	}
	q := query(ex)
	switch ex.Method {
	case http.MethodGet:
		if q.Get("response_type") != "" || q.Get("client_id") != "" && q.Get("redirect_uri") != "" {
			return StageAuthorize
		}
		switch last {
		case "authorize", "authorization", "auth":
			return StageAuthorize
		case "consent", "approve":
			return StageConsent
		}
		return ""
	case http.MethodPost:
	default:
		if ex.Method == http.MethodOptions {
			switch last {
			case "token":
				return StageToken
			case "register", "registration":
				return StageRegister
			}
		}
		return ""
	}
	body := ex.ReqBody.Data
	if len(body) > 0 {
		if bytes.Contains(body, []byte("grant_type")) {
			if p := params(ex); p != nil {
				switch g := p.Get("grant_type"); {
				case g == "refresh_token":
					return StageRefresh
				case g != "":
					return StageToken
				}
			}
		}
		if bytes.Contains(body, []byte("redirect_uris")) {
			if o := object(body); o != nil && has(o, "redirect_uris") {
				return StageRegister
			}
		}
		if p := params(ex); p != nil {
			if p.Get("token") != "" && (p.Get("token_type_hint") != "" || last == "revoke" || last == "revocation") {
				return StageRevoke
			}
			if mediaType(header(ex.ReqHeaders, "Content-Type")) == "application/x-www-form-urlencoded" {
				if isConsentForm(p) {
					return StageConsent
				}
				if p.Get("response_type") != "" {
					return StageAuthorize // an authorization request sent as a form POST (OAuth 2.1 §4.1.1)
				}
			}
		}
	}
	switch last {
	case "token":
		return StageToken
	case "register", "registration":
		return StageRegister
	case "revoke", "revocation":
		return StageRevoke
	case "consent", "approve", "authorize", "authorization":
		return StageConsent
	}
	if q.Get("response_type") != "" {
		return StageAuthorize
	}
	return ""
}

// isConsentForm reports a consent page's answer: a decision field or an anti-CSRF token.
func isConsentForm(p url.Values) bool {
	for k := range p {
		switch lk := strings.ToLower(k); {
		case lk == "approve", lk == "deny", lk == "decision", lk == "action", lk == "consent", lk == "allow",
			strings.Contains(lk, "csrf"):
			return true
		}
	}
	return false
}

func acceptsSSE(ex *recorder.Exchange) bool {
	return strings.Contains(strings.ToLower(header(ex.ReqHeaders, "Accept")), "text/event-stream")
}

func isSSE(ex *recorder.Exchange) bool {
	return mediaType(header(ex.RespHeaders, "Content-Type")) == "text/event-stream"
}

// looksLikeClientMetadata reports an outbound GET that fetched (or is fetching) a client ID metadata document:
// a JSON document naming client_id and redirect_uris (S26 client-registration.mdx §Client ID Metadata Documents).
func looksLikeClientMetadata(ex *recorder.Exchange) bool {
	if o := object(ex.RespBody.Data); o != nil {
		return has(o, "client_id") && has(o, "redirect_uris")
	}
	if ex.State != recorder.StateComplete || ex.Error != "" || ex.Status >= 400 {
		// No document (yet): judge by the URL, which names a client's metadata (https://claude.ai/oauth/
		// mcp-oauth-client-metadata) rather than an upstream's resource.
		p := strings.ToLower(ex.Path())
		return strings.Contains(p, "client") || strings.Contains(p, "metadata") || strings.HasSuffix(p, ".json")
	}
	return false
}
