package analysis

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// manyRuns is n exchanges in runs of 16 (discovery, registration, authorization, token, initialize, three calls),
// each its own connection from its own address and user agent; every other run's token response lacks no-store
// (a finding).
func manyRuns(n int) []*recorder.Exchange {
	var out []*recorder.Exchange
	var id uint64
	start := t0
	for k := 0; len(out) < n; k++ {
		run := synthRun(k, &id, start, 5)
		for _, ex := range run {
			ex.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:443", k>>16&255, k>>8&255, k&255)
			for i, h := range ex.ReqHeaders {
				if h.Name == "User-Agent" && h.Value == "Claude-User" {
					ex.ReqHeaders[i].Value = fmt.Sprintf("client-%d/1.0", k)
				}
			}
			if k%2 == 1 && ex.Path() == "/token" {
				ex.RespHeaders = slices.DeleteFunc(ex.RespHeaders, func(h recorder.Header) bool { return h.Name == "Cache-Control" })
			}
		}
		start = start.Add(10 * time.Minute)
		out = append(out, run...)
	}
	return out[:n]
}

// What the analyzer keeps is bounded by what it holds, linearly: fed many connections with a bound on the
// exchanges held (the feeder's, through Forget, or MaxExchanges), it keeps about what a fresh analyzer fed only
// the exchanges held keeps — never the connections, findings, keys, tokens, client ids or sessions of the
// exchanges it forgot. (Before, it forgot exchanges but kept every connection: 2,500 here.)
func TestForgetBoundsWhatIsKept(t *testing.T) {
	const n, bound = 40_000, 1_000
	exs := manyRuns(n)
	for _, how := range []string{"Forget", "MaxExchanges"} {
		t.Run(how, func(t *testing.T) {
			a := New(Options{})
			if how == "MaxExchanges" {
				a = New(Options{MaxExchanges: bound})
			}
			for i, ex := range exs {
				a.Observe(ex)
				if how == "Forget" && ex.ID > bound {
					a.Forget(ex.ID - bound + 1)
				}
				if (i+1)%5000 != 0 {
					continue
				}
				if i%10000 == 9999 {
					_ = a.Report() // a report drops gone connections too; the bound must not depend on it
				}
				fresh := New(Options{})
				for _, h := range exs[i+1-bound : i+1] {
					fresh.Observe(h)
				}
				got, want := a.Kept(), fresh.Kept()
				if got.Exchanges != bound || got.Order > 2*bound+1024 {
					t.Fatalf("after %d: %d records, %d ids queued (bound %d)", i+1, got.Exchanges, got.Order, bound)
				}
				for _, c := range []struct {
					what      string
					got, want int
				}{{"connections", got.Connections, want.Connections}, {"findings", got.Findings, want.Findings},
					{"ids", got.IDs, want.IDs}, {"sessions", got.Sessions, want.Sessions}, {"keys", got.Keys, want.Keys},
					{"families", got.Weak, want.Weak}, {"hosts", got.Hosts, want.Hosts}, {"tokens", got.Tokens, want.Tokens},
					{"refresh uses", got.RefreshUses, want.RefreshUses}, {"clients", got.Clients, want.Clients}} {
					// The indexes are swept once as many exchanges were forgotten as are held: at most about twice.
					if c.got > 2*c.want+sweepMin {
						t.Fatalf("after %d exchanges (%d held): %d %s kept, a fresh analyzer of those held keeps %d",
							i+1, bound, c.got, c.what, c.want)
					}
				}
			}
			rep := a.Report()
			held := map[uint64]bool{}
			for _, ex := range exs[n-bound:] {
				held[ex.ID] = true
			}
			for _, c := range rep.Connections {
				if len(c.Exchanges) == 0 {
					t.Fatalf("connection %s has no exchange held", c.ID)
				}
				for _, id := range c.Exchanges {
					if !held[id] {
						t.Fatalf("connection %s lists #%d, forgotten", c.ID, id)
					}
				}
			}
			fresh := Analyze(exs[n-bound:], Options{})
			if len(rep.Connections) > len(fresh.Connections)+1 || len(rep.Findings) > len(fresh.Findings)+4 {
				t.Fatalf("%d connections, %d findings reported; a fresh analysis of what is held: %d, %d",
					len(rep.Connections), len(rep.Findings), len(fresh.Connections), len(fresh.Findings))
			}
		})
	}
}

// renamed is a report's summary with its connections named by their order (two analyzers number them apart).
func renamed(rep *Report) string {
	names := map[string]string{}
	out := &Report{Findings: slices.Clone(rep.Findings)}
	for i, c := range rep.Connections {
		names[c.ID] = fmt.Sprintf("#%d", i+1)
		d := *c
		d.ID = names[c.ID]
		d.Findings = slices.Clone(c.Findings)
		for j := range d.Findings {
			d.Findings[j].Connection = names[c.ID]
		}
		out.Connections = append(out.Connections, &d)
	}
	for j := range out.Findings {
		out.Findings[j].Connection = names[out.Findings[j].Connection]
	}
	return summarize(out)
}

// restricted is a report with only the exchanges held: a connection with none held left out, with its findings;
// the others list the held ones.
func restricted(rep *Report, held func(uint64) bool) *Report {
	out := &Report{Connections: []*Connection{}, Findings: []Finding{}}
	kept := map[string]bool{}
	for _, c := range rep.Connections {
		d := *c
		d.Exchanges = slices.DeleteFunc(slices.Clone(c.Exchanges), func(id uint64) bool { return !held(id) })
		if len(d.Exchanges) == 0 {
			continue
		}
		kept[c.ID] = true
		out.Connections = append(out.Connections, &d)
	}
	for _, f := range rep.Findings {
		if kept[f.Connection] {
			out.Findings = append(out.Findings, f)
		}
	}
	return out
}

// shifted is a fixture renumbered from id next on, and moved to start at at.
func shifted(exs []*recorder.Exchange, next uint64, at time.Time) []*recorder.Exchange {
	exs = slices.Clone(exs)
	slices.SortFunc(exs, func(x, y *recorder.Exchange) int { return cmp.Compare(x.ID, y.ID) })
	first := exs[0].Start
	for _, ex := range exs {
		if ex.Start.Before(first) {
			first = ex.Start
		}
	}
	ids := map[uint64]uint64{}
	for i, ex := range exs {
		ids[ex.ID] = next + uint64(i)
	}
	out := make([]*recorder.Exchange, len(exs))
	for i, ex := range exs {
		c := *ex
		c.ID = ids[ex.ID]
		c.Start = at.Add(ex.Start.Sub(first))
		c.Notes = slices.Clone(ex.Notes)
		for j, n := range c.Notes {
			if n.Key == recorder.NoteInbound || n.Key == recorder.NoteOutbound {
				old, _ := strconv.ParseUint(n.Value, 10, 64)
				c.Notes[j].Value = strconv.FormatUint(ids[old], 10)
			}
		}
		out[i] = &c
	}
	return out
}

// After forgetting, the report is the report of a fresh analyzer fed only the exchanges held, wherever the
// exchanges held were observed after the others were forgotten: a capture A, then, once every exchange of A was
// forgotten, a capture B (two hours later) gives the report and the infos of B alone, for every pair of fixtures,
// even those that share a client id, a token or a session (nothing of A is left to join B to).
//
// Where the exchanges held were observed while forgotten ones were still held, what they learned from them stays:
// the report is then the report of everything observed restricted to what is held — a connection none of whose
// exchanges is held leaves it with its findings; one with an exchange held lists only those and keeps the rest
// (its stages, names and findings, also those found on forgotten exchanges). It differs from a fresh analysis of
// the exchanges held exactly where those needed a forgotten exchange: they joined its connection (a key, a user
// agent, an address it named), or a rule read what it said (a client id registered, a session or a token
// issued). Cut within each fixture, and after A for pairs of fixtures: A twice (every key shared), and three others.
func TestForgetMatchesAFreshAnalysis(t *testing.T) {
	var fixtures [][]*recorder.Exchange
	for _, fc := range fixtureCases {
		fixtures = append(fixtures, loadFixture(t, fc.name))
	}
	judge := func(a *Analyzer) *Report {
		a.End()
		return a.Report()
	}
	feed := func(a *Analyzer, exs []*recorder.Exchange) {
		for _, ex := range SettleOrder(exs) {
			a.Observe(ex)
		}
	}
	for i, fa := range fixtures {
		A := shifted(fa, 1, t0)
		next := uint64(len(A) + 1)
		// Cut within A: the report is A's restricted to what is held.
		all := New(Options{})
		feed(all, A)
		whole := judge(all)
		for cut := uint64(2); cut < next; cut++ {
			a := New(Options{})
			feed(a, A)
			a.Forget(cut)
			got, want := renamed(judge(a)), renamed(restricted(whole, func(id uint64) bool { return id >= cut }))
			if got != want {
				t.Fatalf("%s forgotten below #%d:\n%s\nwant:\n%s", fixtureCases[i].name, cut, got, want)
			}
		}
		n := len(fixtures)
		for _, j := range []int{i, (i + 1) % n, (i + n/2) % n, (7*i + 3) % n} {
			B := shifted(fixtures[j], next, lastEnd(A).Add(2*time.Hour))
			fresh := New(Options{})
			feed(fresh, B)
			// A forgotten before B arrives: B alone.
			a := New(Options{})
			feed(a, A)
			a.Forget(next)
			feed(a, B)
			if got, want := renamed(judge(a)), renamed(judge(fresh)); got != want {
				t.Fatalf("%s forgotten, then %s:\n%s\nwant:\n%s", fixtureCases[i].name, fixtureCases[j].name, got, want)
			}
			for _, ex := range B {
				g, w := a.Info(ex.ID), fresh.Info(ex.ID)
				if g.Stage != w.Stage || g.Status != w.Status || g.Client != w.Client || g.Era != w.Era ||
					(g.Connection == "") != (w.Connection == "") || len(g.Findings) != len(w.Findings) {
					t.Fatalf("%s forgotten, then %s: #%d is %+v, alone %+v", fixtureCases[i].name, fixtureCases[j].name, ex.ID, g, w)
				}
			}
			// A forgotten after B was observed: everything observed, restricted to B.
			both := New(Options{})
			feed(both, A)
			feed(both, B)
			a = New(Options{})
			feed(a, A)
			feed(a, B)
			a.Forget(next)
			got, want := renamed(judge(a)), renamed(restricted(judge(both), func(id uint64) bool { return id >= next }))
			if got != want {
				t.Fatalf("%s, %s, then %s forgotten:\n%s\nwant:\n%s", fixtureCases[i].name, fixtureCases[j].name, fixtureCases[i].name, got, want)
			}
		}
	}
}
