// Package servertest runs mcpwatch's server for a test, as net/http/httptest runs a handler: on a loopback port,
// until the test ends. Only test files import it (TestLayers in app holds the line); a handler alone is served by
// internal/testkit.Serve.
package servertest

import (
	"context"
	"testing"

	"github.com/mcpwatch/mcpwatch/server"
)

// Serve builds a server from cfg, listening on 127.0.0.1:0 (cfg.Addr is ignored), and serves until the test ends;
// then it stops the server and reports an error Serve returned. Cleanups registered before the call (closing a
// proxy the server mounts) run after the server stopped.
func Serve(tb testing.TB, cfg server.Config) *server.Server {
	tb.Helper()
	cfg.Addr = "127.0.0.1:0"
	srv, err := server.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
	})
	return srv
}
