package tui

import (
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// stageID interns a stage (beyond 255 distinct ones, which the analysis does not have, "other").
func (d *flowView) stageID(st analysis.Stage) stageID {
	if id, ok := d.stageIdx[st]; ok {
		return id
	}
	if len(d.stageNames) == 255 {
		return d.stageIdx[analysis.StageOther]
	}
	id := stageID(len(d.stageNames))
	d.stageNames = append(d.stageNames, st)
	d.stageIdx[st] = id
	return id
}

// stageOf is a row's stage.
func (d *flowView) stageOf(r *row) analysis.Stage { return d.stageNames[r.stage] }

func (d *flowView) clientID(c analysis.ClientKind) uint8 {
	if id, ok := d.clientIdx[c]; ok {
		return id
	}
	if len(d.clients) == 255 {
		return 0
	}
	id := uint8(len(d.clients))
	d.clients = append(d.clients, c)
	d.clientIdx[c] = id
	return id
}

func (d *flowView) resetConns() {
	d.connIDs, d.connIdx = []string{""}, map[string]int32{"": 0}
}

func (d *flowView) connID(c string) int32 {
	if id, ok := d.connIdx[c]; ok {
		return id
	}
	id := int32(len(d.connIDs))
	d.connIDs = append(d.connIDs, c)
	d.connIdx[c] = id
	return id
}

// connOf is a row's connection id ("" when the analysis has not grouped it).
func (d *flowView) connOf(r *row) string { return d.connIDs[r.cn] }

// intern returns the id of a hay.
func (d *flowView) intern(h string) int32 {
	if id, ok := d.hayIdx[h]; ok {
		return id
	}
	id := int32(len(d.hays))
	d.hays = append(d.hays, h)
	d.hayIdx[h] = id
	d.haySig = append(d.haySig, sigOf(h))
	return id
}

// compactHays forgets the hays no row uses any more, once there are many of them.
func (d *flowView) compactHays() {
	if len(d.hays) <= 2*len(d.rows)+4096 {
		return
	}
	old := d.hays
	d.hays, d.hayIdx, d.haySig = nil, make(map[string]int32, len(d.rows)), nil
	for i := range d.rows {
		d.rows[i].hid = d.intern(old[d.rows[i].hid])
	}
	d.hayGen, d.hayRes = nil, nil
}

// compactConns forgets the connection ids no row uses any more, once there are many of them.
func (d *flowView) compactConns() {
	if len(d.connIDs) <= 2*len(d.rows)+4096 {
		return
	}
	old := d.connIDs
	d.resetConns()
	for i := range d.rows {
		d.rows[i].cn = d.connID(old[d.rows[i].cn])
	}
}

// clientOf is the client of a row: its connection's, once the analysis has grouped it.
func (d *flowView) clientOf(r *row) analysis.ClientKind {
	if c, ok := d.conns[d.connOf(r)]; ok && c.kind != "" {
		return c.kind
	}
	return d.clients[r.cl]
}

// internText returns the id of a row's encoded texts (b is the caller's buffer: a new text is copied, so that no
// row keeps the memory of the snapshot its texts came from).
func (d *flowView) internText(b []byte) int32 {
	if id, ok := d.textIdx[string(b)]; ok {
		return id
	}
	s := string(b)
	id := int32(len(d.texts))
	d.texts = append(d.texts, s)
	d.textIdx[s] = id
	return id
}

// compactTexts forgets the texts no row uses any more, once there are many of them.
func (d *flowView) compactTexts() {
	if len(d.texts) <= 2*len(d.rows)+4096 {
		return
	}
	old := d.texts
	d.texts, d.textIdx = nil, make(map[string]int32, len(d.rows))
	for i := range d.rows {
		r := &d.rows[i]
		s := old[r.tid]
		id, ok := d.textIdx[s]
		if !ok {
			id = int32(len(d.texts))
			d.texts = append(d.texts, s)
			d.textIdx[s] = id
		}
		r.tid = id
	}
}
