//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// `mcpwatch export PATH` of a capture that is not a regular file — a named pipe, or what a shell gives for
// `mcpwatch export <(zcat capture.jsonl.gz)` and `mcpwatch export /dev/stdin` — exports it as stdin's "-" is
// exported: the export reads each line again at its offset, which a pipe cannot do, so its bytes are copied to a
// temporary file first.
func TestExportOfAPipe(t *testing.T) {
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	code, want, _ := runCLI("export", fixture, "--format", "jsonl")
	if code != 0 {
		t.Fatalf("export of the fixture: code %d", code)
	}
	fifo := filepath.Join(t.TempDir(), "capture.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no named pipe here: %v", err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		f.Write(data)
		f.Close()
	}()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"export", fifo, "--format", "jsonl"}, &out, &errOut); code != 0 || out.String() != want {
		t.Fatalf("export of a named pipe: code %d, stderr %q, output equal %v", code, errOut.String(), out.String() == want)
	}
}
