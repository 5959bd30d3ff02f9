package server

import (
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
