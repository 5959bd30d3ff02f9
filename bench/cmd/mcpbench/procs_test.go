package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The ReverseProxy peer runs from a copy of the binary, a file of its own: the same bytes, not the same file (a
// link would share the upstream's code pages again, which is what made the comparison unfair).
func TestOwnBinaryIsACopy(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "self")
	if err := os.WriteFile(self, []byte("#!/bin/sh\necho peer\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	got, err := ownBinary(self, out, "mcpbench-revproxy")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(self)
	b, err := os.Stat(got)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(a, b) {
		t.Fatalf("%s is %s itself", got, self)
	}
	if b.Mode().Perm()&0o100 == 0 {
		t.Errorf("the copy is not executable: %v", b.Mode())
	}
	want, _ := os.ReadFile(self)
	if have, _ := os.ReadFile(got); !bytes.Equal(have, want) {
		t.Errorf("the copy's bytes differ")
	}
	if _, err := ownBinary(self, out, "mcpbench-revproxy"); err == nil {
		t.Errorf("a second copy over the first: no error")
	}
}
