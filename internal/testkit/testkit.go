// Package testkit is what tests share: a handler served on a loopback port for as long as a test runs, and golden
// files through goldie. It is imported by test files only.
package testkit

import (
	"flag"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sebdah/goldie/v2"
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

// Updating reports whether the test runs with -update (goldie's flag): golden files are being rewritten, and so may
// be the inputs they are made from.
func Updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// Golden compares got with the golden file dir/name+suffix through goldie (github.com/sebdah/goldie/v2). Run the
// test with -update (goldie's flag) to rewrite the file with got, then read the diff (docs/testing.md).
func Golden(t *testing.T, dir, suffix, name string, got []byte) {
	t.Helper()
	g := goldie.New(t, goldie.WithFixtureDir(dir), goldie.WithNameSuffix(suffix))
	g.Assert(t, name, got)
}
