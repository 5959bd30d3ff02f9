package export

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
)

// The goldens pin each format. When the analysis changes what it says (stages, clients, findings), regenerate
// them with `go test ./recorder/export -update` and read the diff.
// The -update flag (goldie's, through testkit) also rewrites testdata/claude-handshake.jsonl.

const fixturePath = "testdata/claude-handshake.jsonl"

func loadFixture(t *testing.T) []*recorder.Exchange {
	t.Helper()
	if testkit.Updating() {
		if err := os.WriteFile(fixturePath, fixtureJSONL(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := recorder.LoadCapture(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	if res.TornTail || len(res.Skipped) > 0 || len(res.Exchanges) == 0 {
		t.Fatalf("fixture: torn %v skipped %v n %d", res.TornTail, res.Skipped, len(res.Exchanges))
	}
	return res.Exchanges
}

func export(t *testing.T, f Format, exs []*recorder.Exchange, opts Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, f, exs, opts); err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	return b.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", "golden"), "", name, got)
}

func TestGolden(t *testing.T) {
	exs := loadFixture(t)
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			golden(t, "claude-handshake"+f.Ext(), export(t, f, exs, Options{}))
		})
	}
	t.Run("curl-base", func(t *testing.T) {
		golden(t, "claude-handshake.base.sh", export(t, Curl, exs, Options{Base: "http://localhost:4000/"}))
	})
}

func TestExportsAreDeterministic(t *testing.T) {
	exs := loadFixture(t)
	for _, f := range Formats() {
		a, b := export(t, f, exs, Options{}), export(t, f, exs, Options{})
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two exports differ", f)
		}
	}
}

// inRequests reports whether s appears in what the clients sent (all a curl export holds).
func inRequests(exs []*recorder.Exchange, s string) bool {
	for _, ex := range exs {
		if ex.Kind == recorder.Outbound {
			continue
		}
		if strings.Contains(ex.URL, s) || strings.Contains(string(ex.ReqBody.Data), s) {
			return true
		}
		for _, h := range ex.ReqHeaders {
			if strings.Contains(h.Value, s) {
				return true
			}
		}
	}
	return false
}

func TestEverySecretIsRedactedInEveryFormat(t *testing.T) {
	exs := loadFixture(t)
	for _, f := range Formats() {
		t.Run(string(f), func(t *testing.T) {
			out := string(export(t, f, exs, Options{}))
			for what, secret := range fixtureSecrets {
				if strings.Contains(out, secret) {
					t.Errorf("the %s %q is in the %s export", what, secret, f)
				}
			}
			for _, kept := range fixtureKept {
				if f == Curl && !inRequests(exs, kept) {
					continue
				}
				if f == HAR || f == JSONL { // bodies are JSON strings there
					kept = strings.ReplaceAll(kept, `"`, `\"`)
				}
				if f == Markdown && strings.HasPrefix(kept, `"code"`) {
					continue // pretty-printed there
				}
				if !strings.Contains(out, kept) {
					t.Errorf("%q (not a secret) is missing from the %s export", kept, f)
				}
			}
			if !strings.Contains(out, "Bearer "+Redacted) {
				t.Errorf("the %s export lost the Authorization scheme", f)
			}
			// The original exchanges are untouched.
			if !strings.Contains(string(exs[7].ReqBody.Data), fixtureSecrets["PKCE verifier"]) {
				t.Fatal("redaction modified its input")
			}
		})
	}
}

func TestNoRedactKeepsEverySecret(t *testing.T) {
	exs := loadFixture(t)
	for _, f := range Formats() {
		out := string(export(t, f, exs, Options{NoRedact: true}))
		for what, secret := range fixtureSecrets {
			if f == Curl && !inRequests(exs, secret) {
				continue
			}
			if !strings.Contains(out, secret) {
				t.Errorf("%s --no-redact: the %s is missing", f, what)
			}
		}
		if strings.Contains(out, Redacted) {
			t.Errorf("%s --no-redact still redacts", f)
		}
	}
}

func TestJSONLLoadsBackAsACapture(t *testing.T) {
	exs := loadFixture(t)
	res, err := recorder.ReadCapture(bytes.NewReader(export(t, JSONL, exs, Options{NoRedact: true})))
	if err != nil || len(res.Skipped) > 0 || res.TornTail {
		t.Fatalf("err %v skipped %v torn %v", err, res.Skipped, res.TornTail)
	}
	if len(res.Exchanges) != len(exs) {
		t.Fatalf("%d exchanges, want %d", len(res.Exchanges), len(exs))
	}
	for i := range exs {
		a, _ := json.Marshal(exs[i])
		b, _ := json.Marshal(res.Exchanges[i])
		if !bytes.Equal(a, b) {
			t.Errorf("exchange %d changed in the round trip:\n%s\n%s", i+1, a, b)
		}
	}
	// Each line carries the analysis.
	first := bytes.SplitN(export(t, JSONL, exs, Options{}), []byte("\n"), 2)[0]
	var l struct {
		Analysis struct {
			Stage    string `json:"stage"`
			Redacted bool   `json:"redacted"`
		} `json:"analysis"`
	}
	if err := json.Unmarshal(first, &l); err != nil || l.Analysis.Stage != "challenge" || !l.Analysis.Redacted {
		t.Errorf("analysis %+v err %v", l.Analysis, err)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"har": HAR, "HAR": HAR, "jsonl": JSONL, "markdown": Markdown, "md": Markdown, "curl": Curl} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	_, err := ParseFormat("pdf")
	if err == nil || !strings.Contains(err.Error(), "(valid: "+FormatNames(", ")+")") || !strings.Contains(err.Error(), "har, jsonl, markdown") {
		t.Errorf("err %v", err)
	}
	if err := Write(&bytes.Buffer{}, "pdf", nil, Options{}); err == nil {
		t.Error("Write accepted an unknown format")
	}
	for path, want := range map[string]Format{"a.har": HAR, "b.JSONL": JSONL, "c.md": Markdown, "d.sh": Curl} {
		if got, ok := FormatForPath(path); !ok || got != want {
			t.Errorf("%s: %v", path, got)
		}
	}
	if _, ok := FormatForPath("x.txt"); ok {
		t.Error("x.txt")
	}
}

func TestEmptyAndDuplicateIDs(t *testing.T) {
	for _, f := range Formats() {
		if out := export(t, f, nil, Options{}); len(out) == 0 && f != JSONL {
			t.Errorf("%s: nothing written for no exchanges", f)
		}
	}
	// Two runs appended to one capture file: ids restart.
	exs := loadFixture(t)
	twice := append(append([]*recorder.Exchange{}, exs...), exs...)
	out := export(t, HAR, twice, Options{})
	var h harFile
	if err := json.Unmarshal(out, &h); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, e := range h.Log.Entries {
		if seen[e.ID] {
			t.Fatalf("duplicate id %d", e.ID)
		}
		seen[e.ID] = true
	}
	if !strings.Contains(h.Log.Comment, "renumbered") {
		t.Errorf("comment %q", h.Log.Comment)
	}
}
