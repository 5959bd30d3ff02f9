package export

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// Adding a format is adding one value to formats: every list and lookup reads the registry (the walkthrough in
// CONTRIBUTING.md's "Add an export format" does exactly this).
func TestAddFormatIsOneValue(t *testing.T) {
	saved := formats
	t.Cleanup(func() { formats = saved })
	formats = append(slices.Clone(formats), formatSpec{name: "ids", aliases: []string{"id"}, ext: ".ids", redacts: true,
		about: "the exchange ids, one a line",
		write: func(w io.Writer, exs []*recorder.Exchange, _ Options) error {
			for _, ex := range exs {
				if _, err := io.WriteString(w, strings.Repeat("x", int(ex.ID))+"\n"); err != nil {
					return err
				}
			}
			return nil
		}})

	if !slices.Contains(Formats(), "ids") || !strings.HasSuffix(FormatNames("|"), "|curl|ids") {
		t.Errorf("Formats %v, names %q", Formats(), FormatNames("|"))
	}
	if f, err := ParseFormat("ID"); err != nil || f != "ids" {
		t.Errorf("ParseFormat(ID) = %q, %v", f, err)
	}
	if f, ok := FormatForPath("out.IDS"); !ok || f != "ids" || Format("ids").Ext() != ".ids" {
		t.Errorf("FormatForPath = %q, %v", f, ok)
	}
	if !strings.HasSuffix(FormatExts(), ".sh or .ids") || !strings.Contains(FormatHelp(), "  ids       the exchange ids, one a line\n") {
		t.Errorf("exts %q, help:\n%s", FormatExts(), FormatHelp())
	}
	var b bytes.Buffer
	exs := []*recorder.Exchange{{ID: 1}, {ID: 2}}
	if err := Write(&b, "ids", exs, Options{}); err != nil || b.String() != "x\nxx\n" {
		t.Errorf("Write: %q, %v", b.String(), err)
	}
	path := filepath.Join(t.TempDir(), "out.ids")
	if err := WriteFile(path, "ids", exs, Options{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v", fi.Mode().Perm(), err)
	}
}

// A file's mode follows from the format's value: owner-only when not redacted, executable when a script.
func TestFileMode(t *testing.T) {
	for _, tt := range []struct {
		f        Format
		noRedact bool
		want     os.FileMode
	}{{HAR, false, 0o644}, {HAR, true, 0o600}, {Curl, false, 0o755}, {Curl, true, 0o700}, {Markdown, false, 0o644}} {
		if got := tt.f.FileMode(tt.noRedact); got != tt.want {
			t.Errorf("%s noRedact=%v: %v, want %v", tt.f, tt.noRedact, got, tt.want)
		}
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "x"), "pdf", nil, Options{}); err == nil || !strings.Contains(err.Error(), "unknown export format") {
		t.Errorf("WriteFile(pdf): %v", err)
	}
}

// Names, aliases and extensions are each one format's: a second format on ".md" would be written under a name
// FormatForPath reads back as markdown, and its golden file would be markdown's.
func TestFormatNamesAndExtsAreDistinct(t *testing.T) {
	seen := map[string]Format{}
	for _, f := range formats {
		keys := []string{"name " + string(f.name), "ext " + strings.ToLower(f.ext)}
		for _, a := range f.aliases {
			keys = append(keys, "name "+a)
		}
		for _, k := range keys {
			if o, dup := seen[k]; dup {
				t.Errorf("%s is both %s's and %s's", k, o, f.name)
			}
			seen[k] = f.name
		}
	}
}
