package analysis

import (
	"strings"
	"testing"
	"time"

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
		{"http://localhost:4444", "http://x/oauth2/auth?client_id=c", "Ory Hydra"},
		{"https://spring.example.com", "https://x/oauth2/authorize?client_id=c", ""},
	} {
		ex := &recorder.Exchange{URL: tc.url, Notes: []recorder.Note{{Key: "authorization-server", Value: tc.origin}}}
		got := ""
		if p := asProfileOf(ex); p != nil {
			got = p.Name
		}
		if got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.origin, tc.url, got, tc.want)
		}
	}
	for _, p := range asProfiles {
		for _, q := range p.Quirks {
			if stageIndex(q.Stage) < 0 || q.Says == "" || q.Fix == "" || q.Source == "" || q.Missing != "" && q.Stage != StageAuthMetadata {
				t.Errorf("%s: incomplete quirk %+v", p.Name, q)
			}
		}
	}
}

// A registration that Ory Hydra, watched through the proxy, answered with the empty strings the TypeScript SDK
// refuses is one as-known-quirk naming Hydra; the same answer from the embedded server (no authorization-server
// note) is no product's quirk. A state refused on the authorization redirect is one too.
func TestKnownAuthorizationServerQuirk(t *testing.T) {
	mk := func(watched bool) []*recorder.Exchange {
		reg := &recorder.Exchange{ID: 1, Kind: recorder.Inbound, Method: "POST", URL: "http://127.0.0.1:4001/oauth2/register",
			Status: 201, State: recorder.StateComplete, Start: time.Unix(1, 0),
			ReqHeaders:  recorder.Headers{{Name: "Content-Type", Value: "application/json"}},
			RespHeaders: recorder.Headers{{Name: "Content-Type", Value: "application/json"}}}
		reg.ReqBody.Data = []byte(`{"redirect_uris":["http://127.0.0.1:9/callback"],"token_endpoint_auth_method":"none"}`)
		reg.RespBody.Data = []byte(`{"client_id":"c1","redirect_uris":["http://127.0.0.1:9/callback"],"client_uri":"","contacts":null}`)
		auth := &recorder.Exchange{ID: 2, Kind: recorder.Inbound, Method: "GET", URL: "http://127.0.0.1:4001/oauth2/auth?response_type=code&client_id=c1&state=s",
			Status: 302, State: recorder.StateComplete, Start: time.Unix(2, 0),
			RespHeaders: recorder.Headers{{Name: "Location", Value: "http://127.0.0.1:9/callback?error=invalid_state&error_description=The+state+is+missing"}}}
		if watched {
			for _, ex := range []*recorder.Exchange{reg, auth} {
				ex.Notes = append(ex.Notes, recorder.Note{Key: "authorization-server", Value: "http://localhost:4444"})
			}
		}
		md := &recorder.Exchange{ID: 3, Kind: recorder.Inbound, Method: "GET", URL: "http://127.0.0.1:4001/.well-known/openid-configuration",
			Status: 200, State: recorder.StateComplete, Start: time.Unix(0, 0),
			RespHeaders: recorder.Headers{{Name: "Content-Type", Value: "application/json"}}}
		md.RespBody.Data = []byte(`{"issuer":"http://127.0.0.1:4001","authorization_endpoint":"http://127.0.0.1:4001/oauth2/auth","token_endpoint":"http://127.0.0.1:4001/oauth2/token"}`)
		if watched {
			md.Notes = append(md.Notes, recorder.Note{Key: "authorization-server", Value: "http://localhost:4444"})
		}
		return []*recorder.Exchange{md, reg, auth}
	}
	for _, watched := range []bool{true, false} {
		var got []string
		for _, c := range Analyze(mk(watched), Options{}).Connections {
			for _, f := range c.Findings {
				if f.Rule == "as-known-quirk" {
					got = append(got, f.Summary)
				}
			}
		}
		if watched && (len(got) != 1 || !strings.Contains(got[0], "Ory Hydra's metadata (/.well-known/openid-configuration) has no registration_endpoint") || !strings.Contains(got[0], "WEBFINGER_OIDC_DISCOVERY_CLIENT_REGISTRATION_URL")) {
			t.Errorf("watched: %q", got)
		}
		if !watched && len(got) != 0 {
			t.Errorf("embedded: %q", got)
		}
	}
}
