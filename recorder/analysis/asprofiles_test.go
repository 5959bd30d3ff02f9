package analysis

import (
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// The registry recognises a product from the proxy's note, a request path or its metadata's issuer.
func TestASProfileOf(t *testing.T) {
	for _, tc := range []struct{ origin, url, want string }{
		{"https://dev-abc.us.auth0.com", "https://x/.well-known/openid-configuration", "Auth0"},
		{"https://sso.example.com", "https://x/realms/mcp/protocol/openid-connect/auth", "Keycloak"},
		{"https://login.microsoftonline.com", "https://x/tenant/oauth2/v2.0/token", "Microsoft Entra ID"},
		{"http://localhost:9000", "http://x/interaction/abc", "node-oidc-provider"},
		{"https://as.example.com", "https://x/token", ""},
	} {
		ex := &recorder.Exchange{URL: tc.url, Notes: []recorder.Note{{Key: "authorization-server", Value: tc.origin}}}
		got := ""
		if p := ASProfileOf(ex); p != nil {
			got = p.Name
		}
		if got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.origin, tc.url, got, tc.want)
		}
	}
	for _, p := range asProfiles {
		for _, q := range p.Quirks {
			if stageIndex(q.Stage) < 0 || q.Says == "" || q.Fix == "" || q.Source == "" {
				t.Errorf("%s: incomplete quirk %+v", p.Name, q)
			}
		}
	}
}
