package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/cli.md")

// docs/cli.md is the command tree as the code has it: a flag added without regenerating the file fails here.
func TestCLIDoc(t *testing.T) {
	var b bytes.Buffer
	writeCLIDoc(&b)
	path := filepath.Join("..", "..", "docs", "cli.md")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, b.Bytes()) {
		t.Errorf("docs/cli.md is out of date: go test ./cmd/mcpwatch -run TestCLIDoc -update")
	}
}
