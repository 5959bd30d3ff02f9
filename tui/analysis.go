package tui

import (
	"cmp"
	"context"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// The analysis runs in the session's analysis service (recorder/analysis/live), on a goroutine of its own that
// owns the analyzer: Update never calls it and never waits for it. The TUI is the service's feeder: after each
// Update that changed the data, the model pushes what changed (the snapshots it took, and the lowest id it still
// holds), so that what the service says of an exchange never arrives before its row. The service publishes what
// the analysis says of each exchange it observed, and now and then a report, into the TUI's subscription; the
// pump takes them (bubbletea's examples/realtime), builds the maps the panes look things up in (off the update
// loop), and hands them to Update as analysisMsg. Update swaps a finished report in; a keystroke that arrives
// while one is computed is handled at once. The service bounds its memory (see its package).

// exInfo is what the analysis says of one exchange, as the data keeps it.
type exInfo struct {
	id       uint64
	stage    analysis.Stage
	client   analysis.ClientKind
	conn     string
	findings []analysis.Finding // the analysis' findings for the exchange when it was observed (Info)
}

// analysisView is a report and what the panes look up in it; built by the pump, never changed after.
type analysisView struct {
	report    *analysis.Report
	conns     map[string]connInfo
	exFinding map[uint64]findingMark
}

var emptyView = &analysisView{report: &analysis.Report{}, conns: map[string]connInfo{},
	exFinding: map[uint64]findingMark{}}

func newView(rep *analysis.Report) *analysisView {
	if rep == nil {
		rep = &analysis.Report{}
	}
	v := &analysisView{report: rep, conns: make(map[string]connInfo, len(rep.Connections)),
		exFinding: map[uint64]findingMark{}}
	for _, c := range rep.Connections {
		v.conns[c.ID] = connInfo{kind: c.Client, hay: strings.ToLower(string(c.Client) + " " + c.ClientName + " " + c.UserAgent)}
	}
	for i, f := range rep.Findings {
		if f.ExchangeID == 0 {
			continue
		}
		m, seen := v.exFinding[f.ExchangeID]
		if !seen {
			m.first = int32(i)
		}
		m.n++
		if sevRank(f.Severity) < sevRank(m.sev) {
			m.sev = f.Severity
		}
		v.exFinding[f.ExchangeID] = m
	}
	return v
}

// analysisMsg is what the pump brings of the service's messages.
type analysisMsg struct {
	epoch   int
	seq     uint64 // the last job observed
	infos   []exInfo
	view    *analysisView // nil: no new report in this message
	pending bool          // a report of what was observed is still owed (it is taken on a tick)
}

// fromService turns a message of the service into the TUI's (the view's maps are built here, by the pump).
func fromService(m live.Msg) analysisMsg {
	msg := analysisMsg{epoch: m.Epoch, seq: m.Seq, pending: m.Pending}
	if len(m.Infos) > 0 {
		msg.infos = make([]exInfo, 0, len(m.Infos))
		for _, in := range m.Infos {
			if in.Stage == "" {
				continue // forgotten, or never settled: the data keeps its own reading
			}
			msg.infos = append(msg.infos, exInfo{id: in.ID, stage: in.Stage, client: in.Client, conn: in.Connection, findings: in.Findings})
		}
		// The infos come in the order the service observed the exchanges: applyInfos goes fastest in id order.
		slices.SortFunc(msg.infos, func(a, b exInfo) int { return cmp.Compare(a.id, b.id) })
	}
	if m.Report != nil {
		msg.view = newView(m.Report)
	}
	return msg
}

// waitForAnalysis is the analysis' pump: the next message of the service (nil once the subscription ended).
func waitForAnalysis(sub *live.Subscription) tea.Cmd {
	if sub == nil {
		return nil
	}
	return func() tea.Msg {
		m, ok := sub.Next(context.Background())
		if !ok {
			return nil
		}
		return fromService(m)
	}
}
