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

// Kept counts what an analyzer keeps, for the tests of its bound.
type Kept struct {
	Exchanges   int // records
	Order       int // ids queued for forgetting
	Connections int // connections (merged and gone ones not swept yet included)
	Findings    int // findings of those connections
	IDs         int // exchange ids listed in those connections
	Sessions    int // session versions kept in those connections, and session ids issued
	Keys        int // strong keys
	Weak        int // user-agent families
	Hosts       int // remote hosts
	Tokens      int // tokens issued
	RefreshUses int // refresh tokens presented
	Clients     int // client ids registered
	Streams     int // legacy event streams (by key and by id)
}

func (a *Analyzer) Kept() Kept {
	k := Kept{Exchanges: a.exs.len(), Order: len(a.order) - a.head, Connections: len(a.conns), Sessions: len(a.sids),
		Keys: len(a.keys), Weak: len(a.weak), Hosts: len(a.hosts), Tokens: len(a.toks), RefreshUses: len(a.rts),
		Clients: len(a.cids), Streams: len(a.sse) + len(a.sseByID)}
	for _, c := range a.conns {
		k.Findings += len(c.x().order)
		k.IDs += len(c.ids)
		k.Sessions += len(c.x().sessions)
		if c.sess0.sid != "" {
			k.Sessions++
		}
	}
	return k
}
