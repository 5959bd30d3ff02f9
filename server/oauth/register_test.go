package oauth

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/server/oauth/store"
)

// The Claude web app's registration, exactly as the seed write-up records it.
func TestRegisterClaude(t *testing.T) {
	h := newHarness(t)
	r := h.post(PathRegister, "application/json", `{
  "client_name": "claudeai",
  "grant_types": ["authorization_code", "refresh_token"],
  "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
  "response_types": ["code"],
  "scope": "claudeai",
  "token_endpoint_auth_method": "none"
}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if id, _ := m["client_id"].(string); !strings.HasPrefix(id, prefixClient) {
		t.Errorf("client_id %v", m["client_id"])
	}
	if _, ok := m["client_secret"]; ok {
		t.Error("a public client got a secret")
	}
	if m["client_name"] != "claudeai" || m["scope"] != "claudeai" || m["token_endpoint_auth_method"] != "none" ||
		!slices.Equal(strs(m["redirect_uris"]), []string{"https://claude.ai/api/mcp/auth_callback"}) ||
		!slices.Equal(strs(m["grant_types"]), []string{"authorization_code", "refresh_token"}) {
		t.Errorf("metadata not echoed: %v", m)
	}
	if _, ok := m["client_id_issued_at"].(float64); !ok {
		t.Errorf("client_id_issued_at: %v", m["client_id_issued_at"])
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Error("no Cache-Control: no-store")
	}
}

func TestRegisterDefaultsAndNativeClients(t *testing.T) {
	h := newHarness(t)
	// Cursor registers three redirect URIs in one go, one of them a private-use scheme.
	r := h.register(map[string]any{"redirect_uris": []string{
		"cursor://anysphere.cursor-mcp/oauth/callback", "https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback",
	}})
	if r.Status != http.StatusCreated {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["token_endpoint_auth_method"] != "none" || !slices.Equal(strs(m["response_types"]), []string{"code"}) ||
		!slices.Equal(strs(m["grant_types"]), []string{"authorization_code", "refresh_token"}) {
		t.Errorf("defaults: %v", m)
	}
	// A JWKS object is accepted (and ignored).
	if r := h.register(map[string]any{"redirect_uris": []string{"http://127.0.0.1/"}, "jwks": map[string]any{"keys": []any{}}}); r.Status != http.StatusCreated {
		t.Errorf("jwks object: %d %s", r.Status, r.Body)
	}
}

func TestRegisterConfidential(t *testing.T) {
	h := newHarness(t)
	r := h.register(map[string]any{"redirect_uris": []string{"http://localhost:8090/callback"}, "token_endpoint_auth_method": "client_secret_post"})
	if r.Status != http.StatusCreated {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	secret, _ := m["client_secret"].(string)
	if !strings.HasPrefix(secret, prefixSecret) || m["client_secret_expires_at"] != float64(0) {
		t.Fatalf("secret: %v", m)
	}
	// Stored hashed.
	h.as.store.View(func(s *store.State) {
		c := s.Clients[m["client_id"].(string)]
		if c.SecretHash != store.Hash(secret) {
			t.Errorf("secret hash %q", c.SecretHash)
		}
		b, _ := json.Marshal(s)
		if strings.Contains(string(b), secret) {
			t.Error("the secret is stored in clear")
		}
	})
}

// Bad metadata gets the documented error and registers nothing.
func TestRegisterRejects(t *testing.T) {
	for _, tc := range []struct {
		name, body, code string
		desc             string // how error_description begins ("" unchecked)
	}{
		{"no redirect_uris", `{"client_name":"x"}`, "invalid_redirect_uri", "redirect_uris is required"},
		{"empty redirect_uris", `{"redirect_uris":[]}`, "invalid_redirect_uri", ""},
		{"http on a public host", `{"redirect_uris":["http://claude.ai/cb"]}`, "invalid_redirect_uri", ""},
		{"javascript", `{"redirect_uris":["javascript:alert(1)"]}`, "invalid_redirect_uri", ""},
		{"data", `{"redirect_uris":["data:text/html,hi"]}`, "invalid_redirect_uri", ""},
		{"relative", `{"redirect_uris":["/callback"]}`, "invalid_redirect_uri", ""},
		{"fragment", `{"redirect_uris":["https://a.example/cb#x"]}`, "invalid_redirect_uri", ""},
		{"one bad among good", `{"redirect_uris":["https://a.example/cb","http://evil.example/cb"]}`, "invalid_redirect_uri", ""},
		{"redirect_uris a string", `{"redirect_uris":"https://a.example/cb"}`, "invalid_client_metadata", "redirect_uris must be an array of strings, not a JSON string"},
		{"redirect_uris of numbers", `{"redirect_uris":[1]}`, "invalid_client_metadata", "redirect_uris must be an array of strings, not an array holding a JSON number"},
		{"grant_types a string", `{"redirect_uris":["https://a.example/cb"],"grant_types":"authorization_code"}`, "invalid_client_metadata", "grant_types must be an array of strings, not a JSON string"},
		{"client_name a number", `{"redirect_uris":["https://a.example/cb"],"client_name":7}`, "invalid_client_metadata", "client_name must be a string, not a JSON number"},
		{"not JSON", `redirect_uris=https://a.example/cb`, "invalid_client_metadata", "the body is not a JSON object of client metadata"},
		{"client_credentials", `{"redirect_uris":["https://a.example/cb"],"grant_types":["client_credentials"]}`, "invalid_client_metadata", ""},
		{"no authorization_code", `{"redirect_uris":["https://a.example/cb"],"grant_types":["refresh_token"]}`, "invalid_client_metadata", ""},
		{"implicit", `{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}`, "invalid_client_metadata", ""},
		{"private_key_jwt", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, "invalid_client_metadata", ""},
		{"application_type", `{"redirect_uris":["https://a.example/cb"],"application_type":"desktop"}`, "invalid_client_metadata", ""},
		{"logo_uri javascript", `{"redirect_uris":["https://a.example/cb"],"logo_uri":"javascript:x"}`, "invalid_client_metadata", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			before := h.snapshot()
			r := h.post(PathRegister, "application/json", tc.body)
			wantOAuthError(t, r, http.StatusBadRequest, tc.code)
			if got, _ := r.JSON(t)["error_description"].(string); !strings.HasPrefix(got, tc.desc) {
				t.Errorf("error_description %q, want it to begin %q", got, tc.desc)
			}
			h.unchanged(before)
		})
	}
	t.Run("form content type", func(t *testing.T) {
		h := newHarness(t)
		wantOAuthError(t, h.post(PathRegister, "application/x-www-form-urlencoded", `{"redirect_uris":["https://a.example/cb"]}`), http.StatusBadRequest, "invalid_client_metadata")
	})
	t.Run("redirect host allow-list", func(t *testing.T) {
		h := newHarness(t, withOptions(func(o *Options) { o.RedirectHosts = []string{"claude.ai", "claude.com"} }))
		wantOAuthError(t, h.register(map[string]any{"redirect_uris": []string{"https://chatgpt.com/connector/oauth/x"}}), http.StatusBadRequest, "invalid_redirect_uri")
		h.mustRegister("https://claude.com/api/mcp/auth_callback")
	})
}

func TestRegisterEvictsOldestIdleClient(t *testing.T) {
	h := newHarness(t)
	var first string
	h.as.store.Update(func(s *store.State) error {
		for i := range MaxClients {
			id := randomID(prefixClient)
			if i == 0 {
				first = id
			}
			s.Clients[id] = &store.Client{ID: id, IssuedAt: h.clock.Now().Add(-timeMinutes(MaxClients - i))}
		}
		return nil
	})
	h.mustRegister("https://a.example/cb")
	h.as.store.View(func(s *store.State) {
		if len(s.Clients) != MaxClients {
			t.Errorf("%d clients, want %d", len(s.Clients), MaxClients)
		}
		if _, ok := s.Clients[first]; ok {
			t.Error("the oldest client was kept")
		}
	})
}
