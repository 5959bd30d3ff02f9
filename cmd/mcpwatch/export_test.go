package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/internal/version"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/export"
)

const fixture = "../../recorder/export/testdata/claude-handshake.jsonl"

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestExportEachFormatToStdoutAndFile(t *testing.T) {
	res, err := recorder.LoadCapture(fixture)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range export.Formats() {
		var want bytes.Buffer
		if err := export.Write(&want, f, res.Exchanges, export.Options{Version: version.String()}); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI("export", fixture, "--format", string(f))
		if code != 0 || out != want.String() {
			t.Errorf("%s to stdout: code %d, stderr %q, output equal %v", f, code, errOut, out == want.String())
		}
		path := filepath.Join(dir, "capture"+f.Ext())
		code, out, errOut = runCLI("export", "--out", path, fixture) // flags before the capture; format from the name
		if code != 0 || out != "" || !strings.Contains(errOut, "wrote 20 exchanges") {
			t.Errorf("%s to a file: code %d stdout %q stderr %q", f, code, out, errOut)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s: the file differs from export.Write (%v)", f, err)
		}
		st, _ := os.Stat(path)
		wantPerm := os.FileMode(0o644)
		if f == export.Curl {
			wantPerm = 0o755
		}
		if st.Mode().Perm() != wantPerm {
			t.Errorf("%s: mode %v, want %v", f, st.Mode().Perm(), wantPerm)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(export.Formats()) {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestExportNoRedactAndBase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay.sh")
	code, _, errOut := runCLI("export", fixture, "--format", "curl", "--no-redact", "--base", "http://localhost:4000", "--out", path)
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "Bearer at-SECRET-token-0001") || !strings.Contains(string(b), "'http://localhost:4000/mcp'") {
		t.Error("--no-redact or --base had no effect")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o700 {
		t.Errorf("an unredacted export is readable by others: %v", st.Mode().Perm())
	}
	if !strings.Contains(errOut, "NOT redacted") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestExportErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o600)
	tornOnly := filepath.Join(dir, "torn.jsonl")
	os.WriteFile(tornOnly, []byte(`{"id":1,"method":"GE`), 0o600)
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"no capture", []string{"export", "--format", "har"}, 2, "name the capture file"},
		{"two captures", []string{"export", fixture, fixture, "--format", "har"}, 2, "one capture file at a time"},
		{"no format", []string{"export", fixture}, 2, "--format is required (" + export.FormatNames(", ") + ")"},
		{"format not in the name", []string{"export", fixture, "--out", filepath.Join(dir, "x.txt")}, 2, "--format is required"},
		{"bad format", []string{"export", fixture, "--format", "pdf"}, 2, `unknown export format "pdf" (valid: ` + export.FormatNames(", ") + ")"},
		{"base without curl", []string{"export", fixture, "--format", "har", "--base", "http://x"}, 2, "--base only applies to --format curl"},
		{"bad base", []string{"export", fixture, "--format", "curl", "--base", "localhost:4000"}, 1, "want an absolute http(s) URL"},
		{"unknown flag", []string{"export", fixture, "--nope"}, 2, "unknown flag: --nope"},
		{"missing file", []string{"export", filepath.Join(dir, "nope.jsonl"), "--format", "har"}, 1, "does not exist"},
		{"empty capture", []string{"export", empty, "--format", "har"}, 1, "holds no exchanges"},
		{"only a torn line", []string{"export", tornOnly, "--format", "har"}, 1, "the last line of"},
		{"out in a missing directory", []string{"export", fixture, "--format", "har", "--out", filepath.Join(dir, "no", "x.har")}, 1, "--out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.inStderr) {
				t.Errorf("code %d (want %d), stderr:\n%s", code, tt.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
		})
	}
}

func TestExportReportsSkippedLines(t *testing.T) {
	src, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	damaged := lines[0] + "{garbage\n" + strings.Join(lines[1:3], "") + lines[3][:40] // a corrupt line and a torn tail
	path := filepath.Join(t.TempDir(), "damaged.jsonl")
	os.WriteFile(path, []byte(damaged), 0o600)
	code, out, errOut := runCLI("export", path, "--format", "jsonl")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, path+": 1 unreadable line skipped (line 2 first)\n") || !strings.Contains(errOut, path+": the torn last line was skipped") {
		t.Errorf("stderr %q", errOut)
	}
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("%d exchanges exported, want 3", n)
	}
}

func TestExportKeepsTheOldFileWhenTheExportFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.sh")
	os.WriteFile(path, []byte("old"), 0o644)
	code, _, _ := runCLI("export", fixture, "--format", "curl", "--base", "nope", "--out", path)
	if code == 0 {
		t.Fatal("want a failure")
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("the old file was replaced by %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

// A file that is not a capture (a HAR, pretty or on one line, random JSON, a binary, an empty file, a directory)
// is one message naming it and quoting its first line, exit 1, for open and export alike; a capture with many bad
// lines among good ones loads, the count said once.
func TestNotACapture(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var har bytes.Buffer
	if code, out, errOut := runCLI("export", fixture, "--format", "har"); code != 0 {
		t.Fatalf("export har: %d %s", code, errOut)
	} else {
		har.WriteString(out)
	}
	var oneLineHAR bytes.Buffer
	if err := json.Compact(&oneLineHAR, har.Bytes()); err != nil {
		t.Fatal(err)
	}
	binary := make([]byte, 4096)
	for i := range binary {
		binary[i] = byte(i*7 + i/3)
	}
	cases := []struct {
		name, path, want string
	}{
		{"har", write("out.har", har.Bytes()), `not a capture: ` + dir + `/out.har, first line "{"`},
		{"one-line har", write("one.har", oneLineHAR.Bytes()), `not a capture: ` + dir + `/one.har, first line "{\"log\":{\"version\":\"1.2\",`},
		{"random json", write("x.json", []byte("{\"a\":1}\n[1,2]\n")), `not a capture: ` + dir + `/x.json, first line "{\"a\":1}"`},
		{"binary", write("x.bin", binary), `not a capture: ` + dir + `/x.bin, first line "\x00\a\x0e`},
		{"empty", write("empty.jsonl", nil), dir + "/empty.jsonl is empty: it holds no exchanges"},
		{"directory", dir, "not a capture: " + dir + " is a directory"},
	}
	for _, tc := range cases {
		for _, args := range [][]string{{"open", tc.path, "--no-tui"}, {"export", tc.path, "--format", "jsonl"}} {
			t.Run(tc.name+" "+args[0], func(t *testing.T) {
				code, out, errOut := runCLI(args...)
				if code != 1 || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
					t.Errorf("exit %d (want 1), stdout %q, stderr (want one line with %q):\n%s", code, out, tc.want, errOut)
				}
			})
		}
	}

	src, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	damaged := write("damaged.jsonl", append([]byte(strings.Repeat("{garbage\n", 500)+"{\"a\":1}\n"), src...))
	for _, args := range [][]string{{"open", damaged, "--no-tui"}, {"export", damaged, "--format", "jsonl"}} {
		code, out, errOut := runCLI(args...)
		if code != 0 || strings.Count(out, "\n") < 20 || errOut != "mcpwatch "+args[0]+": "+damaged+": 501 unreadable lines skipped\n" {
			t.Errorf("%s: exit %d, %d lines out, stderr %q", args[0], code, strings.Count(out, "\n"), errOut)
		}
	}
}
