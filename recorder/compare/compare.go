// Package compare tells two captures apart connection by connection ("worked yesterday, fails today"): the
// stage sequence of each connection, what changed in each exchange (status, the headers and JSON members that
// matter to the handshake), and the findings that appeared or went away. Both captures are judged by
// recorder/analysis, as `mcpwatch open` judges them.
package compare

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// Side is one capture, analysed.
type Side struct {
	Conns []*Conn
}

// Conn is one connection of a capture.
type Conn struct {
	ID       string
	Client   string
	Stages   []analysis.Stage // of its exchanges, in order, consecutive repeats folded
	Exs      []Step
	Findings []string // rules
}

// Step is one exchange of a connection.
type Step struct {
	Stage  analysis.Stage
	Label  string // method and path, and the JSON-RPC method
	Status int
	Error  string
	Facts  map[string]string // the headers and JSON members that matter, by name
}

// Load analyses a capture's exchanges.
func Load(exs []*recorder.Exchange, opts analysis.Options) *Side {
	a := analysis.New(opts)
	for _, ex := range exs {
		a.Observe(ex)
	}
	a.End()
	rep := a.Report()
	byID := make(map[uint64]*recorder.Exchange, len(exs))
	for _, ex := range exs {
		byID[ex.ID] = ex
	}
	s := &Side{}
	for _, c := range rep.Connections {
		conn := &Conn{ID: c.ID, Client: string(c.Client)}
		for _, id := range c.Exchanges {
			ex := byID[id]
			if ex == nil {
				continue
			}
			st := a.Info(id).Stage
			if n := len(conn.Stages); n == 0 || conn.Stages[n-1] != st {
				conn.Stages = append(conn.Stages, st)
			}
			conn.Exs = append(conn.Exs, step(ex, st))
		}
		for _, f := range c.Findings {
			if !slices.Contains(conn.Findings, f.Rule) {
				conn.Findings = append(conn.Findings, f.Rule)
			}
		}
		s.Conns = append(s.Conns, conn)
	}
	return s
}

// handshakeHeaders are the response headers that matter to a handshake (compared by value, or by presence for
// the ones that change every run).
var handshakeHeaders = []string{"WWW-Authenticate", "Content-Type", "Location", "Mcp-Session-Id", "Mcp-Protocol-Version",
	"Access-Control-Allow-Origin", "Allow"}

// presenceOnly are the facts whose value changes with every run: their presence is compared.
var presenceOnly = map[string]bool{"Mcp-Session-Id": true, "Location": false}

// jsonMembers are the JSON members (top-level of a metadata document or a registration, or of a JSON-RPC result)
// that matter to a handshake.
var jsonMembers = []string{"resource", "authorization_servers", "scopes_supported", "issuer", "authorization_endpoint",
	"token_endpoint", "registration_endpoint", "token_endpoint_auth_methods_supported", "code_challenge_methods_supported",
	"client_id_metadata_document_supported", "grant_types_supported", "token_endpoint_auth_method", "redirect_uris",
	"grant_types", "error", "token_type", "scope", "protocolVersion", "supportedVersions", "capabilities"}

func step(ex *recorder.Exchange, st analysis.Stage) Step {
	label := ex.Method + " " + ex.Path()
	for _, m := range ex.RPC {
		if m.From == recorder.FromClient && m.Method != "" {
			label += " " + m.Method
			break
		}
	}
	s := Step{Stage: st, Label: label, Status: ex.Status, Error: ex.Error, Facts: map[string]string{}}
	for _, h := range handshakeHeaders {
		v := ex.RespHeaders.Get(h)
		if v == "" {
			continue
		}
		switch {
		case presenceOnly[h]:
			v = "(set)"
		case h == "Location":
			v = stripQuery(v) // a code and state change every run; where it points does not
		}
		s.Facts["header "+h] = normalize(v)
	}
	for _, m := range ex.RPC {
		if m.From == recorder.FromServer && m.ErrorCode != nil {
			s.Facts["jsonrpc error"] = fmt.Sprint(*m.ErrorCode)
		}
	}
	var obj map[string]json.RawMessage
	body := ex.RespBody.Data
	if len(ex.Events) > 0 {
		body = []byte(ex.Events[len(ex.Events)-1].Data)
	}
	if json.Unmarshal(body, &obj) == nil {
		if r, ok := obj["result"]; ok {
			var res map[string]json.RawMessage
			if json.Unmarshal(r, &res) == nil {
				obj = res
			}
		}
		for _, k := range jsonMembers {
			if v, ok := obj[k]; ok {
				s.Facts["json "+k] = normalize(compact(v))
			}
		}
	}
	return s
}

// loopbackPort matches a loopback origin's port: an ephemeral callback or test server port changes every run and
// says nothing about the handshake.
var loopbackPort = regexp.MustCompile(`(https?://(?:localhost|127\.0\.0\.1|\[::1\])):\d+`)

func normalize(v string) string { return loopbackPort.ReplaceAllString(v, "$1:PORT") }

func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

func compact(v json.RawMessage) string {
	var x any
	if json.Unmarshal(v, &x) != nil {
		return string(v)
	}
	b, _ := json.Marshal(x) // sorted keys
	s := string(b)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// pair matches the connections of a and b: each connection of A with the next unmatched one of B of the same
// client, then what is left in order; a connection with no partner is paired with nil.
func pair(a, b []*Conn) [][2]*Conn {
	used := make([]bool, len(b))
	match := make([]int, len(a))
	for i, ca := range a {
		match[i] = -1
		for j, cb := range b {
			if !used[j] && cb.Client == ca.Client {
				match[i], used[j] = j, true
				break
			}
		}
	}
	next := 0
	for i := range a {
		if match[i] >= 0 {
			continue
		}
		for next < len(b) && used[next] {
			next++
		}
		if next < len(b) {
			match[i], used[next] = next, true
		}
	}
	var out [][2]*Conn
	for i, ca := range a {
		var cb *Conn
		if match[i] >= 0 {
			cb = b[match[i]]
		}
		out = append(out, [2]*Conn{ca, cb})
	}
	for j, cb := range b {
		if !used[j] {
			out = append(out, [2]*Conn{nil, cb})
		}
	}
	return out
}

// Write prints the differences between a and b; it reports whether there were any. Connections are paired by
// client (the first Claude connection of A with the first of B), then in order.
func Write(w io.Writer, a, b *Side) bool {
	changed := false
	for _, p := range pair(a.Conns, b.Conns) {
		ca, cb := p[0], p[1]
		switch {
		case ca == nil:
			fmt.Fprintf(w, "+ connection %s (%s) only in B: %s\n", cb.ID, cb.Client, stages(cb.Stages))
			changed = true
			continue
		case cb == nil:
			fmt.Fprintf(w, "- connection %s (%s) only in A: %s\n", ca.ID, ca.Client, stages(ca.Stages))
			changed = true
			continue
		}
		var lines []string
		if ca.Client != cb.Client {
			lines = append(lines, fmt.Sprintf("  client: %s → %s", ca.Client, cb.Client))
		}
		if !slices.Equal(ca.Stages, cb.Stages) {
			lines = append(lines, "  stages A: "+stages(ca.Stages), "  stages B: "+stages(cb.Stages))
		}
		lines = append(lines, exchanges(ca.Exs, cb.Exs)...)
		for _, r := range ca.Findings {
			if !slices.Contains(cb.Findings, r) {
				lines = append(lines, "  - finding "+r)
			}
		}
		for _, r := range cb.Findings {
			if !slices.Contains(ca.Findings, r) {
				lines = append(lines, "  + finding "+r)
			}
		}
		name := ca.ID
		if cb.ID != ca.ID {
			name += " / " + cb.ID
		}
		if len(lines) == 0 {
			fmt.Fprintf(w, "= connection %s (%s): same %d exchanges, same stages and findings\n", name, ca.Client, len(ca.Exs))
			continue
		}
		changed = true
		fmt.Fprintf(w, "~ connection %s (%s)\n", name, ca.Client)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
	return changed
}

func stages(ss []analysis.Stage) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, " → ")
}

// exchanges pairs the exchanges of two connections by label, in order (the n-th "GET /authorize" of A with the
// n-th of B), and tells what changed in each pair, and what one side has that the other has not.
func exchanges(a, b []Step) []string {
	var lines []string
	used := make([]bool, len(b))
	for _, x := range a {
		j := -1
		for k := range b {
			if !used[k] && b[k].Label == x.Label {
				j = k
				break
			}
		}
		if j < 0 {
			lines = append(lines, fmt.Sprintf("  - %s (%d) only in A", x.Label, x.Status))
			continue
		}
		used[j] = true
		y := b[j]
		var d []string
		if x.Status != y.Status {
			d = append(d, fmt.Sprintf("status %d → %d", x.Status, y.Status))
		}
		if x.Error != y.Error {
			d = append(d, fmt.Sprintf("error %q → %q", x.Error, y.Error))
		}
		keys := make([]string, 0, len(x.Facts)+len(y.Facts))
		for k := range x.Facts {
			keys = append(keys, k)
		}
		for k := range y.Facts {
			if _, ok := x.Facts[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			va, oka := x.Facts[k]
			vb, okb := y.Facts[k]
			switch {
			case !oka:
				d = append(d, fmt.Sprintf("%s added: %s", k, vb))
			case !okb:
				d = append(d, fmt.Sprintf("%s removed (was %s)", k, va))
			case va != vb:
				d = append(d, fmt.Sprintf("%s: %s → %s", k, va, vb))
			}
		}
		if len(d) > 0 {
			lines = append(lines, "  ~ "+x.Label+": "+strings.Join(d, "; "))
		}
	}
	for k, y := range b {
		if !used[k] {
			lines = append(lines, fmt.Sprintf("  + %s (%d) only in B", y.Label, y.Status))
		}
	}
	return lines
}
