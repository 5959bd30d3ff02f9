package oauth

import (
	"net/url"
	"slices"
	"strings"
)

// Redirect URIs (RFC 8252 §7, RFC 9700 §4.11.2). Registration accepts an allow-list of forms, never a blocklist:
//
//   - https with a host;
//   - http on a loopback host (localhost, 127.0.0.1, [::1]; RFC 8252 §7.3);
//   - a private-use scheme of a native app: reverse-domain form (com.example.app:/cb, RFC 8252 §7.1), or one of
//     appSchemes, the single-word schemes of MCP clients seen in the field.
//
// Anything else — ms-msdt:, search-ms:, view-source:, javascript:, data:, file:, ... — is refused.
//
// An error found after the redirect URI matched goes back to it at once only when the URI is trusted: loopback or
// private-use (it ends on the user's own machine), or the https callback of a client ID metadata document on the
// document's own host. A dynamically registered client names any https URI it likes, so its errors are shown on a
// page, with a link the user may follow back to the client (RFC 9700 §4.11.2: the server must not be an open
// redirector).

// maxRedirectURIBytes bounds one registered redirect URI.
const maxRedirectURIBytes = 2 << 10

// appSchemes are single-word private-use schemes of MCP clients (Cursor, VS Code, Windsurf); one place to add one.
var appSchemes = []string{"cursor", "vscode", "vscode-insiders", "windsurf"}

// privateUseScheme: a reverse-domain scheme (at least two dot-separated labels of letters, digits and '-') or a
// known app scheme.
func privateUseScheme(scheme string) bool {
	if slices.Contains(appSchemes, scheme) {
		return true
	}
	labels := strings.Split(scheme, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return false
		}
	}
	return true
}

// trustedRedirect reports whether an error may be sent to redirect without the user's say (see above).
func trustedRedirect(c *client, redirect string) bool {
	u, err := url.Parse(redirect)
	if err != nil {
		return false
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "http" || scheme == "https":
		if isLoopbackHost(u.Hostname()) {
			return true
		}
		if scheme == "https" && c != nil && c.CIMD {
			doc, err := url.Parse(c.ID)
			return err == nil && strings.EqualFold(doc.Hostname(), u.Hostname())
		}
		return false
	default:
		return privateUseScheme(scheme)
	}
}
