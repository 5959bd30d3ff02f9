// Package testkit is what tests share: a handler served on a loopback port for as long as a test runs. It is
// imported by test files only.
package testkit

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Serve serves h on 127.0.0.1:0 until the test ends and returns the server. At the end its open connections (event
// streams a test left open) are closed first, so that closing the server does not wait on them.
func Serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts
}
