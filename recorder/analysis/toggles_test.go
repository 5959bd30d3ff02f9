package analysis_test

import (
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/server/toggle"
)

// Importing server/toggle registers the toggles' Causes with the analysis (RegisterToggle) for every test of this
// package, the internal ones included: they are one test binary.

// The relation of toggles to rules covers every toggle of server/toggle, and names no other.
func TestToggleCausesCoverTheToggles(t *testing.T) {
	known := map[string]bool{}
	for _, d := range toggle.Toggles() {
		known[d.Name] = true
		if _, ok := analysis.ToggleRules(d.Name); !ok {
			t.Errorf("toggle %s is not registered with the analysis", d.Name)
		}
	}
	for _, r := range analysis.Rules() {
		for _, tg := range r.Toggles {
			if !known[tg] {
				t.Errorf("rule %s names toggle %s, which server/toggle does not have", r.ID, tg)
			}
		}
	}
}
