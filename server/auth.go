package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/mcpwatch/mcpwatch/server/oauth"
	"github.com/mcpwatch/mcpwatch/server/oauth/store"
)

// newAuthServer opens the OAuth state (a file, or memory when StatePath is empty) and builds the authorization
// server that protects /mcp and /sse.
func newAuthServer(cfg Config) (*oauth.AS, error) {
	st := store.Ephemeral(store.Options{})
	if cfg.StatePath != "" {
		var err error
		if st, err = store.Open(cfg.StatePath, store.Options{}); err != nil {
			return nil, err
		}
	}
	return oauth.New(oauth.Config{
		Store:             st,
		Recorder:          cfg.Recorder,
		Logger:            cfg.Logger,
		ResourcePaths:     []string{"/mcp", "/sse"},
		AllowLoopbackCIMD: cfg.AllowLoopbackCIMD,
		Options: oauth.Options{
			AutoApprove:    cfg.AutoApprove,
			ConsentCode:    cfg.ConsentCode,
			Scopes:         cfg.Scopes,
			RequiredScopes: cfg.RequiredScopes,
		},
	})
}

// singleAuthorization refuses a request that carries more than one Authorization header (400 invalid_request,
// RFC 6750 §3.1): which one counts would otherwise be up to whoever reads it first — the bearer check, the
// upstream in proxy mode, or a proxy in between — so a second header could smuggle credentials past the one that
// was checked. It is in front of every endpoint, the proxy's included.
func singleAuthorization(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.Header.Values("Authorization")); n > 1 {
			desc := fmt.Sprintf("the request carries %d Authorization headers; send exactly one", n)
			h := w.Header()
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			h.Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="invalid_request", error_description=%q`, desc))
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": desc})
			return
		}
		next.ServeHTTP(w, r)
	})
}
