package oauth

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// Clients, grants and tokens survive a restart: a client that cached its registration, and the tokens it holds,
// keep working against a new server on the same state file.
func TestStateSurvivesRestart(t *testing.T) {
	path := tempState(t)
	h1 := newHarnessAt(t, path)
	client, tk := h1.flow(cb)
	confidential := h1.register(map[string]any{"redirect_uris": []string{cb}, "token_endpoint_auth_method": "client_secret_post"}).JSON(t)
	h1.srv.Close()
	h1.as.Close() // a restart: the state file's lock goes with the first server

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{tk.Access, tk.Refresh, confidential["client_secret"].(string)} {
		if strings.Contains(string(data), secret) {
			t.Errorf("secret %s… in the state file", secret[:12])
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}

	h2 := newHarnessAt(t, path)
	// The old access token is valid at the new server's /mcp (same host name and port are not needed here: the
	// harness has a new port, so check the grant directly and use the refresh token).
	if ti, err := h2.as.Verify(mustRequest(t, tk.Access), h1.srv.URL+"/mcp", nil); err != nil || ti.Extra["client_id"] != client {
		t.Errorf("access token after restart: %v %v", ti, err)
	}
	t2 := h2.mustTokens(h2.tokenForm("grant_type", "refresh_token", "refresh_token", tk.Refresh, "client_id", client))
	if t2.Access == "" {
		t.Fatal("no token after restart")
	}
	// The registered clients are known: authorize shows the consent page, not "unknown client".
	_, challenge := pkce()
	consentForm(t, h2.get(authorizeQuery(client, cb, challenge)))
	consentForm(t, h2.get(authorizeQuery(confidential["client_id"].(string), cb, challenge)))
	// The confidential client still needs its secret.
	wantOAuthError(t, h2.tokenForm("grant_type", "refresh_token", "refresh_token", "x", "client_id", confidential["client_id"].(string)), http.StatusUnauthorized, "invalid_client")
	// No temporary files are left behind: the state and its lock file only.
	entries, _ := os.ReadDir(strings.TrimSuffix(path, "state.json"))
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files next to the state: %v", names)
	}
}

func mustRequest(t *testing.T, token string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, "http://x/mcp", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}
