package analysis

import (
	"fmt"
	"os"
	"reflect"
	"testing"
)

// TestMain checks, once every test of the package ran (the fixtures, golden findings, merges, forgetting, fuzz
// seeds), that nothing wrote through a connection's read-only ext (conn.x hands out noExt to connections
// without one).
func TestMain(m *testing.M) {
	code := m.Run()
	if !reflect.ValueOf(noExt).IsZero() {
		fmt.Fprintf(os.Stderr, "noExt was written: %+v\n", noExt)
		code = 1
	}
	os.Exit(code)
}

// TestSetupConnectionHasNoExt: a session setup's connection (initialize, notifications/initialized, DELETE)
// sets none of ext's fields, so it has none (TestSetupConnectionScanned measures what that saves); reporting its
// findings does not make one either.
func TestSetupConnectionHasNoExt(t *testing.T) {
	a := New(Options{})
	for _, u := range setupUpdates(t, 50) {
		a.Observe(u)
	}
	if rep := a.FindingsReport(); len(rep.Findings) != 0 {
		t.Fatalf("%d findings", len(rep.Findings))
	}
	if len(a.conns) != 50 {
		t.Fatalf("%d connections, want 50", len(a.conns))
	}
	for _, c := range a.conns {
		if c.ext != nil {
			t.Fatalf("connection %s has an ext: %+v", c.id, *c.ext)
		}
	}
}

// TestSessionVersions: a connection keeps each session's negotiated version (mcp-remote's probe session beside
// the host's), the first in the connection and the others in ext, at most maxSessions in all; a session it does
// not keep, or none, reads the connection's latest.
func TestSessionVersions(t *testing.T) {
	c := &conn{negotiated: "latest"}
	if got := c.sessionVersion(""); got != "latest" {
		t.Fatalf("no session: %q", got)
	}
	for i := range maxSessions + 3 {
		c.setSession(fmt.Sprint("s", i), fmt.Sprint("v", i))
	}
	c.setSession("s1", "again")
	for i := range maxSessions + 3 {
		want := fmt.Sprint("v", i)
		switch {
		case i == 1:
			want = "again"
		case i >= maxSessions:
			want = "latest"
		}
		if got := c.sessionVersion(fmt.Sprint("s", i)); got != want {
			t.Errorf("session s%d: %q, want %q", i, got, want)
		}
	}
	if got := c.sessionVersion(""); got != "latest" {
		t.Errorf("no session: %q", got)
	}
	if n := 1 + len(c.x().sessions); n != maxSessions {
		t.Errorf("%d sessions kept, want %d", n, maxSessions)
	}
}
