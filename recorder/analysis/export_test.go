package analysis

// Lookups only the tests make (the shipped code refers to a rule by its variable, and to toggles through what
// RegisterToggle recorded); defined here so that the binary does not carry them. The external tests
// (package analysis_test) see them too: they are one test binary.

// RuleByID returns a rule of the catalogue.
func RuleByID(id string) (Rule, bool) {
	r, ok := ruleIndex[id]
	if !ok {
		return Rule{}, false
	}
	return r.export(), true
}

// ToggleRules returns the ids of the rules a toggle (by name, without its value) can produce; ok is false for a
// toggle the relation does not know.
func ToggleRules(toggle string) (rules []string, ok bool) {
	rs, ok := toggleCauses[toggle]
	for _, r := range rs {
		rules = append(rules, r.ID)
	}
	return rules, ok
}

// CanCause reports whether the toggle given as NAME or NAME=VALUE (as an exchange records it) can produce rule.
func CanCause(toggle, rule string) bool {
	r := ruleIndex[rule]
	return r != nil && r.causedBy(toggle)
}
