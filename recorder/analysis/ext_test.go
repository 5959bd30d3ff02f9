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
