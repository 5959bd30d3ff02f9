package tui

import (
	"slices"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

func (d *flowView) resetAnalysis() {
	d.anEpoch++
	d.setView(emptyView)
	d.infoFindings, d.infoPruned = map[uint64][]analysis.Finding{}, 0
	d.fb = fallback{}
	d.refreshConnList()
}

// setView takes a report the service finished, and lets what depends on it follow.
func (d *flowView) setView(v *analysisView) {
	d.version++
	d.anGen++
	d.report, d.conns, d.exFinding = v.report, v.conns, v.exFinding
	d.refreshConnList()
	if d.filter.needsReport() {
		d.refilter()
	}
}

// refreshConnList makes the tracker's list: the report's connections or, while the analysis has grouped none,
// the stand-in built from the stages the exchanges reached.
func (d *flowView) refreshConnList() {
	d.connsGen++
	d.connList = d.report.Connections
	if len(d.connList) == 0 && len(d.fb.stages) > 0 {
		if c := d.fb.connection(); len(c.Stages) > 0 {
			d.connList = []*analysis.Connection{c}
		}
	}
}

// applyInfos takes what the analysis says of exchanges (in id order): their stage, client and connection.
func (d *flowView) applyInfos(infos []exInfo) {
	if len(infos) > 0 {
		d.anGen++
	}
	changed, refilter := 0, false
	i := 0
	for k := range infos {
		in := &infos[k]
		// The infos are in id order: the next row is usually the one.
		if i >= len(d.rows) || d.rows[i].id != in.id {
			var ok bool
			if i, ok = d.index(in.id); !ok {
				continue // evicted meanwhile
			}
		}
		r := &d.rows[i]
		i++
		if len(in.findings) > 0 {
			d.infoFindings[in.id] = in.findings
		} else if len(d.infoFindings) > 0 {
			delete(d.infoFindings, in.id)
		}
		stage, cl, cn := d.stageID(in.stage), d.clientID(in.client), d.connID(in.conn)
		if r.stage == stage && r.cl == cl && r.cn == cn {
			continue
		}
		if r.stage != stage {
			t := d.text(r)
			r.hid = d.intern(hayOf(&t, in.stage, r))
		}
		r.stage, r.cl, r.cn = stage, cl, cn
		changed++
		if d.vis != nil {
			if changed > 64 {
				refilter = true
			} else {
				d.rematch(d.base + i - 1)
			}
		}
	}
	if changed > 0 {
		d.version++
		d.gen++ // the hays' results may have changed
	}
	if refilter {
		d.refilter()
	}
}

// findingsOf is what the detail shows of an exchange's findings: the report's, and those the analysis named when
// it observed the exchange (a rule that fired on it again, whose finding points at the first exchange).
func (d *flowView) findingsOf(id uint64) []analysis.Finding {
	var out []analysis.Finding
	if m, ok := d.exFinding[id]; ok {
		// The report's findings are in order of appearance: the exchange's first one, then the others after it.
		for _, f := range d.report.Findings[m.first:] {
			if f.ExchangeID == id {
				if out = append(out, f); len(out) == int(m.n) {
					break
				}
			}
		}
	}
	for _, f := range d.infoFindings[id] {
		if !slices.ContainsFunc(out, func(g analysis.Finding) bool { return g.Key() == f.Key() }) {
			out = append(out, f)
		}
	}
	return out
}

// heldFrom is the lowest id the data can hold: every exchange below it was evicted or cleared.
func (d *flowView) heldFrom() uint64 {
	if len(d.rows) > 0 {
		return d.rows[0].id
	}
	return d.clearedAt + 1
}

// analysisJob is what changed for the analysis: the snapshots the data took since the last job (fed), its epoch
// and what it still holds.
func (d *flowView) analysisJob(fed []*recorder.Exchange) live.Batch {
	return live.Batch{Epoch: d.anEpoch, Exchanges: fed, From: d.heldFrom()}
}

// fallbackID names the stand-in connection.
const fallbackID = "(ungrouped)"

// fallback gathers, per stage, the latest exchange of that stage, for the stand-in connection.
type fallback struct {
	stages      map[analysis.Stage]analysis.StageState
	start, last time.Time
}

func (f *fallback) note(r *row, stage analysis.Stage) {
	if stage == "" {
		return
	}
	if f.stages == nil {
		f.stages = map[analysis.Stage]analysis.StageState{}
	}
	cur, seen := f.stages[stage]
	if seen && cur.Exchange > r.id {
		return
	}
	start := r.start()
	st := analysis.StageState{Stage: stage, At: start, Duration: r.dur, Exchange: r.id}
	if seen && cur.At.Before(start) {
		st.At = cur.At
	}
	switch {
	case r.class == classPending:
		st.Status = analysis.StatusPending
	case r.class == classError, r.class >= class4xx && !(stage == analysis.StageChallenge && r.status == 401):
		st.Status = analysis.StatusFailed
	default:
		st.Status = analysis.StatusOK
	}
	f.stages[stage] = st
	if f.start.IsZero() || start.Before(f.start) {
		f.start = start
	}
	if end := start.Add(r.dur); end.After(f.last) {
		f.last = end
	}
}

func (f *fallback) connection() *analysis.Connection {
	c := &analysis.Connection{ID: fallbackID, Client: analysis.ClientUnknown, Start: f.start, Last: f.last}
	for _, s := range analysis.StageOrder() {
		if st, ok := f.stages[s]; ok && s != analysis.StageOther {
			c.Stages = append(c.Stages, st)
		}
	}
	return c
}
