package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A server runs from a copy of its binary, a file of its own: the same bytes, not the same file (a link would share
// the other process's code pages again, which is what made the comparison unfair).
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

// Two servers of a run started from the same binary each run from a file of their own, neither of them the binary:
// mcpwatch's proxy recording on and off, started from one file, shared its code's pages and warmed each other's
// caches on the servers' CPU (round eleven).
func TestStartOwnGivesEachServerItsOwnFile(t *testing.T) {
	bin := fakeServer(t)
	dir := filepath.Dir(bin)
	run := t.TempDir()
	var ps []*proc
	for _, name := range []string{"mcpwatch-proxy", "mcpwatch-proxy-off"} {
		p, err := startOwn(run, name, nil, bin)
		if err != nil {
			t.Fatal(err)
		}
		defer p.stop()
		ps = append(ps, p)
	}
	src, _ := os.Stat(bin)
	var files []os.FileInfo
	for _, p := range ps {
		path := ranFrom(t, p)
		if filepath.Dir(path) != run {
			t.Errorf("%s runs %s, not a copy in the run's directory %s", p.name, path, run)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if os.SameFile(fi, src) {
			t.Errorf("%s runs the binary's own file", p.name)
		}
		for _, o := range files {
			if os.SameFile(fi, o) {
				t.Errorf("%s runs the file another server runs", p.name)
			}
		}
		files = append(files, fi)
	}
	if _, err := startOwn(run, "mcpwatch-proxy", nil, bin); err == nil {
		t.Errorf("a second server of the same name: no error")
	}
	// a bare name is looked up in PATH, as exec.Command looks it up
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	p, err := startOwn(run, "by-name", nil, "server")
	if err != nil {
		t.Fatalf("a binary named without a path: %v", err)
	}
	defer p.stop()
	if path := ranFrom(t, p); filepath.Dir(path) != run {
		t.Errorf("by-name runs %s, not a copy in %s", path, run)
	}
}

// fakeServer writes a server for startBanner into a directory of its own and returns its path: a script that prints
// the banner startBanner waits for, then the path it runs from (ranFrom), and waits a minute to be stopped.
func fakeServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "server")
	script := "#!/bin/sh\necho \"listening on http://127.0.0.1:9\" >&2\necho \"from $0\" >&2\nexec sleep 60\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// ranFrom is the file p's script says it runs from (its "from $0" line, after the banner).
func ranFrom(t *testing.T, p *proc) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(p.out.String(), "\n") {
			if path, ok := strings.CutPrefix(line, "from "); ok {
				return path
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never said where it runs from:\n%s", p.name, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
