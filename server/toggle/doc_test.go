package toggle

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

// groupTitles are the groups' headings in docs/toggles.md.
var groupTitles = map[string]string{
	GroupTransport: "transport / session",
	GroupDiscovery: "discovery",
	GroupAuth:      "registration / authorization",
}

// docs/toggles.md is generated from the catalogue and the prose of testdata/toggles.md.tmpl; -update rewrites it.
func TestTogglesDoc(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "toggles.md.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	type group struct {
		Title   string
		Toggles []Def
	}
	var data struct {
		Groups                        []group
		ServeOnly, ServeOnlyScenarios []string
		Scenarios                     []Scenario
	}
	for _, d := range Toggles() {
		title, ok := groupTitles[d.Group]
		if !ok {
			t.Fatalf("toggle %s: group %q has no title in docs/toggles.md (groupTitles)", d.Name, d.Group)
		}
		if n := len(data.Groups); n == 0 || data.Groups[n-1].Title != title {
			data.Groups = append(data.Groups, group{Title: title})
		}
		data.Groups[len(data.Groups)-1].Toggles = append(data.Groups[len(data.Groups)-1].Toggles, d)
		if !d.AppliesTo(ModeProxy) {
			data.ServeOnly = append(data.ServeOnly, d.Name)
		}
	}
	data.Scenarios = Scenarios()
	for _, s := range data.Scenarios {
		for _, spec := range s.Toggles {
			name, _, _ := strings.Cut(spec, "=")
			if slices.Contains(data.ServeOnly, name) {
				data.ServeOnlyScenarios = append(data.ServeOnlyScenarios, s.Name)
				break
			}
		}
	}
	esc := strings.NewReplacer("|", `\|`, "\n", " ")
	tmpl, err := template.New("toggles").Funcs(template.FuncMap{
		"esc":   esc.Replace,
		"proxy": func(d Def) bool { return d.AppliesTo(ModeProxy) },
		"last":  func(i int, list []string) bool { return i == len(list)-1 },
	}).Parse(string(src))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	testkit.Golden(t, "../../docs", ".md", "toggles", b.Bytes()) // -update rewrites it
}
