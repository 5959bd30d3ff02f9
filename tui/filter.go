package tui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// The filter language (typed after `/`): words separated by spaces, all of which must hold.
//
//	text            the method, URL, stage, JSON-RPC method, status or error contains "text" (any case)
//	"two words"     a phrase
//	stage:token     the exchange's stage (a known stage name, or a prefix of one: stage:init)
//	status:4xx      a status class (1xx..5xx), a status (401), err (no response) or pending
//	client:claude   the connection's client (kind, client name or user agent contains the word)
//	method:POST     the HTTP method
//	conn:ID         the connection (as the analysis names it)
//	finding:any     exchanges with findings (or of a severity: error, warn, info)
//	toggle:any      exchanges a toggle altered (or a toggle's name)
//	-word, -key:v   negation
//	key:a,b         either value
const filterKeys = "stage, status, client, method, conn, finding, toggle"

// termKind is a term's key, as a number for the match loop.
type termKind uint8

const (
	kindText termKind = iota
	kindStage
	kindStatus
	kindClient
	kindMethod
	kindConn
	kindFinding
	kindToggle
)

var termKinds = map[string]termKind{"stage": kindStage, "status": kindStatus, "client": kindClient,
	"method": kindMethod, "conn": kindConn, "finding": kindFinding, "toggle": kindToggle}

type term struct {
	kind termKind
	key  string // "" for a text word
	vals []string
	neg  bool
	st   []statusSpec // status: the parsed values
	sig  sig          // a text word's signature (see flowView.haySig)
	full []bool       // stage: the value is a whole stage name (else a prefix)
}

// statusSpec is one status value: a class, or an exact code.
type statusSpec struct {
	class statusClass
	code  int
}

type filter struct {
	src   string
	terms []term
	words int // how many of the terms are text words (they are searched per distinct hay: flowView.textOK)
}

func (f filter) empty() bool { return len(f.terms) == 0 }

// needsReport reports whether the filter depends on the analysis report, which changes with every batch.
func (f filter) needsReport() bool {
	for _, t := range f.terms {
		if t.key == "client" || t.key == "finding" || t.key == "conn" {
			return true
		}
	}
	return false
}

// parseFilter reads the filter language.
func parseFilter(src string) (filter, error) {
	f := filter{src: src}
	words, err := splitWords(src)
	if err != nil {
		return f, err
	}
	for _, w := range words {
		t := term{}
		if len(w.text) > 1 && (w.text[0] == '-' || w.text[0] == '!') && !w.quoted {
			t.neg, w.text = true, w.text[1:]
		}
		k, v, ok := strings.Cut(w.text, ":")
		// A word with a colon is a filter when what comes before the colon is a word; "http://x" is text.
		if !ok || w.quoted || k == "" || strings.Trim(strings.ToLower(k), "abcdefghijklmnopqrstuvwxyz") != "" ||
			strings.HasPrefix(v, "/") {
			t.vals = []string{strings.ToLower(w.text)}
			t.sig = sigOf(t.vals[0])
			f.terms = append(f.terms, t)
			f.words++
			continue
		}
		k = strings.ToLower(k)
		switch k {
		case "s":
			k = "stage"
		case "c":
			k = "client"
		case "m":
			k = "method"
		}
		if v == "" {
			return f, fmt.Errorf("%s: needs a value (e.g. %s)", k, example(k))
		}
		t.key = k
		t.kind = termKinds[k]
		for val := range strings.SplitSeq(v, ",") {
			if val == "" {
				continue
			}
			val = strings.ToLower(val)
			if err := checkValue(k, val); err != nil {
				return f, err
			}
			t.vals = append(t.vals, val)
			if k == "status" {
				sp, _ := parseStatus(val)
				t.st = append(t.st, sp)
			}
			t.full = append(t.full, isStage(val))
		}
		f.terms = append(f.terms, t)
	}
	return f, nil
}

type word struct {
	text   string
	quoted bool
}

func splitWords(s string) ([]word, error) {
	var out []word
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out, nil
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return out, fmt.Errorf("a phrase is missing its closing quote")
			}
			if end > 0 {
				out = append(out, word{text: s[1 : 1+end], quoted: true})
			}
			s = s[2+end:]
			continue
		}
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			end = len(s)
		}
		out = append(out, word{text: s[:end]})
		s = s[end:]
	}
}

func example(key string) string {
	switch key {
	case "stage":
		return "stage:token"
	case "status":
		return "status:4xx"
	case "client":
		return "client:claude"
	case "method":
		return "method:POST"
	case "finding":
		return "finding:error"
	case "toggle":
		return "toggle:any"
	}
	return key + ":ID"
}

func checkValue(key, val string) error {
	switch key {
	case "stage":
		for _, s := range analysis.StageOrder() {
			if strings.HasPrefix(string(s), val) {
				return nil
			}
		}
		names := make([]string, len(analysis.StageOrder()))
		for i, s := range analysis.StageOrder() {
			names[i] = string(s)
		}
		return fmt.Errorf("unknown stage %q (stages: %s)", val, strings.Join(names, " "))
	case "status":
		if _, ok := parseStatus(val); !ok {
			return fmt.Errorf("status:%s: use 2xx, 4xx, 401, err or pending", val)
		}
	case "finding":
		switch val {
		case "any", "error", "warn", "info":
		default:
			return fmt.Errorf("finding:%s: use any, error, warn or info", val)
		}
	case "client", "method", "conn", "toggle":
	default:
		return fmt.Errorf("unknown filter %q (filters: %s)", key+":", filterKeys)
	}
	return nil
}

// parseStatus reads a status value.
func parseStatus(v string) (statusSpec, bool) {
	switch v {
	case "err", "error":
		return statusSpec{class: classError}, true
	case "pending":
		return statusSpec{class: classPending}, true
	}
	if (len(v) == 3 && v[1:] == "xx" || len(v) == 1) && v[0] >= '1' && v[0] <= '5' {
		return statusSpec{class: statusClass(v[0] - '0')}, true
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 100 && n < 600 {
		return statusSpec{code: n}, true
	}
	return statusSpec{}, false
}

// match reports whether a row passes every term.
func (f *filter) match(r *row, d *flowView) bool {
	for i := range f.terms {
		if f.terms[i].kind != kindText && f.terms[i].match(r, d) == f.terms[i].neg {
			return false
		}
	}
	return f.words == 0 || d.textOK(r)
}

// matchText reports whether hay id passes every text word: its signature rules most hays out (and decides a
// one-letter word alone); only the others are searched.
func (f *filter) matchText(d *flowView, id int32) bool {
	g := &d.haySig[id]
	for i := range f.terms {
		t := &f.terms[i]
		if t.kind != kindText {
			continue
		}
		in := g.holds(t.sig) && (exact(t.vals[0]) || strings.Contains(d.hays[id], t.vals[0]))
		if in == t.neg {
			return false
		}
	}
	return true
}

func (t *term) match(r *row, d *flowView) bool {
	for i, v := range t.vals {
		if t.matchOne(i, v, r, d) {
			return true
		}
	}
	return false
}

func (t *term) matchOne(i int, v string, r *row, d *flowView) bool {
	switch t.kind {
	case kindText:
		return strings.Contains(d.hays[r.hid], v)
	case kindStage:
		s := string(d.stageNames[r.stage])
		if t.full[i] {
			return s == v
		}
		return strings.HasPrefix(s, v)
	case kindStatus:
		if sp := t.st[i]; sp.code != 0 {
			return int(r.status) == sp.code
		}
		return r.class == t.st[i].class
	case kindClient:
		if c, ok := d.conns[d.connOf(r)]; ok {
			return strings.Contains(c.hay, v)
		}
		return strings.HasPrefix(string(d.clients[r.cl]), v)
	case kindMethod:
		return strings.EqualFold(methodOf(d.texts[r.tid]), v)
	case kindConn:
		conn := d.connIDs[r.cn]
		return len(conn) >= len(v) && strings.EqualFold(conn[:len(v)], v)
	case kindFinding:
		m, ok := d.exFinding[r.id]
		return ok && (v == "any" || string(m.sev) == v)
	case kindToggle:
		if r.flags&rowToggles == 0 {
			return false
		}
		t := d.text(r)
		found := false
		t.eachToggle(func(name string) bool {
			found = v == "any" || len(name) >= len(v) && strings.EqualFold(name[:len(v)], v)
			return !found
		})
		return found
	}
	return false
}

func isStage(v string) bool {
	return slices.Contains(analysis.StageOrder(), analysis.Stage(v))
}

// narrows reports whether f lets through a subset of what old does, so that only old's matches need searching:
// the same terms, with text words that contain the old ones (one more character typed), maybe more words.
func (f filter) narrows(old filter) bool {
	if old.empty() || len(f.terms) < len(old.terms) {
		return false
	}
	for i, o := range old.terms {
		n := f.terms[i]
		if n.key != o.key || n.neg != o.neg || len(n.vals) != len(o.vals) {
			return false
		}
		for j := range o.vals {
			switch {
			case n.vals[j] == o.vals[j]:
			case o.key == "" && !o.neg && len(o.vals) == 1 && strings.Contains(n.vals[j], o.vals[j]):
			default:
				return false
			}
		}
	}
	return true
}
