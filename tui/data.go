package tui

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// statusClass groups a status for colour and for the filter's status:Nxx.
type statusClass uint8

const (
	classPending statusClass = iota // no response yet
	class1xx
	class2xx
	class3xx
	class4xx
	class5xx
	classError // the exchange ended without a status (transport error, client went away)
)

func classOf(ex *recorder.Exchange) statusClass {
	switch {
	case ex.Status >= 100 && ex.Status < 600:
		return statusClass(ex.Status / 100)
	case ex.Error != "" || ex.State == recorder.StateComplete:
		return classError
	}
	return classPending
}

// row is one exchange as the list holds it: the snapshot (immutable, shared with the store) and what the list and
// the filter need without recomputing it.
type row struct {
	ex    *recorder.Exchange
	size  int64
	hid   int32 // the row's hay (what the filter's words search), interned: see data.hays
	cn    int32 // the connection, interned: see data.connIDs (0: none)
	stage stageID
	cl    uint8 // the client kind, interned: see data.clients
	class statusClass
}

// stageID is a stage, interned: see data.stageNames. The rows stay small (32 bytes), which is what a filter pass
// over 100,000 of them reads.
type stageID uint8

// connInfo is what the filter's client: term matches for a connection.
type connInfo struct {
	kind analysis.ClientKind
	hay  string // lower case kind, client name and user agent
}

// data is the model's copy of the store: the exchanges in id order, bounded like the store (the same MaxCount and
// MaxBytes; the oldest go first), fed with the store's updates; the latest analysis of them (computed by the
// analysis worker, see analysis.go); and the filtered view. Only Update changes it.
type data struct {
	limits recorder.StoreOptions
	aopts  analysis.Options

	rows  []row // ordered by exchange id
	base  int   // absolute index of rows[0]: absolute indices survive evictions
	bytes int64

	// What changed for the analysis since the model last handed it to the worker: the snapshots taken.
	anExs   []*recorder.Exchange
	anEpoch int // counts clears: the worker starts afresh, and its results from before one are dropped

	// The latest analysis: the report and its maps (from the worker's analysisView, never changed), and what the
	// analysis said of exchanges when it observed them (their own findings, kept for the detail).
	report       *analysis.Report
	conns        map[string]connInfo
	exFinding    map[uint64]findingMark
	infoFindings map[uint64][]analysis.Finding
	infoPruned   int    // len(infoFindings) after its last pruning
	connsGen     uint64 // counts changes of connList
	anGen        uint64 // counts what the analysis said (reports and infos)

	// connList is what the tracker shows: the report's connections or, while the analysis has grouped none, one
	// stand-in built from the stages of the exchanges themselves.
	connList []*analysis.Connection
	fb       fallback

	stageNames []analysis.Stage
	stageIdx   map[analysis.Stage]stageID
	clients    []analysis.ClientKind
	clientIdx  map[analysis.ClientKind]uint8
	connIDs    []string
	connIdx    map[string]int32

	clearedAt  uint64 // updates of exchanges up to this id were cleared; they are ignored
	evicted    uint64
	dropped    uint64 // updates the subscription missed
	resyncedAt uint64 // the dropped count when the last resync was asked for

	filter  filter
	version uint64 // counts the changes to the rows (the filter cache is only good for one version)
	cache   []visCache
	vis     []int // absolute indices of the rows the filter matches; nil when no filter is active
	visBuf  []int // vis's storage, kept while no filter is active

	// hays are the distinct lower-case texts the filter's words search (method, URL, stage, JSON-RPC method,
	// status, error): most exchanges share theirs with many others, so a filter pass searches each text once
	// (hayRes, valid where hayGen is the pass's generation) and a row only looks its result up.
	hays   []string
	hayIdx map[string]int32
	hayGen []uint32
	hayRes []bool
	gen    uint32
	// haySig is a signature of each hay: the bytes it holds and a Bloom filter of its byte pairs. A word can
	// only be in a hay whose signature holds the word's, so most hays are ruled out without searching them; a
	// one-letter word is decided by the signature alone.
	haySig []sig
}

// sig is a signature: [0] has a bit per byte of sigBytes held (bit 63: any other byte), [1] and [2] a 128-bit
// Bloom filter of the byte pairs.
type sig [3]uint64

// sigBytes are the bytes with a bit of their own (a hay is lower case).
const sigBytes = "abcdefghijklmnopqrstuvwxyz0123456789/.-_:?=&%"

var sigBit = func() (t [256]uint8) {
	for i := range t {
		t[i] = 63
	}
	for i := range len(sigBytes) {
		t[sigBytes[i]] = uint8(i)
	}
	return t
}()

func sigOf(s string) sig {
	var g sig
	for i := range len(s) {
		g[0] |= 1 << sigBit[s[i]]
		if i+1 < len(s) {
			h := (uint32(s[i])<<8 | uint32(s[i+1])) * 0x9E3779B1 >> 25 // 7 bits
			g[1+h>>6] |= 1 << (h & 63)
		}
	}
	return g
}

// holds reports whether everything of w may be in g.
func (g *sig) holds(w sig) bool { return g[0]&w[0] == w[0] && g[1]&w[1] == w[1] && g[2]&w[2] == w[2] }

// exact reports whether a word is decided by the signature alone: one byte with a bit of its own.
func exact(word string) bool { return len(word) == 1 && sigBit[word[0]] != 63 }

// findingMark is the worst severity of an exchange's findings, their number, and where the first one is in the
// report's findings.
type findingMark struct {
	sev   analysis.Severity
	n     int32
	first int32
}

// analyzer is what the data needs of *analysis.Analyzer (tests script one).
type analyzer interface {
	Observe(ex *recorder.Exchange)
	Info(id uint64) analysis.Info
	Report() *analysis.Report
}

func realAnalyzer(o analysis.Options) analyzer { return analysis.New(o) }

func newData(limits recorder.StoreOptions, aopts analysis.Options) *data {
	if limits.MaxCount <= 0 {
		limits.MaxCount = 100000
	}
	if limits.MaxBytes <= 0 {
		limits.MaxBytes = 512 << 20
	}
	d := &data{limits: limits, aopts: aopts, hayIdx: map[string]int32{},
		stageIdx: map[analysis.Stage]stageID{}, clientIdx: map[analysis.ClientKind]uint8{}}
	d.clientID("") // 0: not known yet
	for _, st := range analysis.Stages {
		d.stageID(st)
	}
	d.resetConns()
	d.resetAnalysis()
	return d
}

// stageID interns a stage (beyond 255 distinct ones, which the analysis does not have, "other").
func (d *data) stageID(st analysis.Stage) stageID {
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
func (d *data) stageOf(r *row) analysis.Stage { return d.stageNames[r.stage] }

func (d *data) clientID(c analysis.ClientKind) uint8 {
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

func (d *data) resetConns() {
	d.connIDs, d.connIdx = []string{""}, map[string]int32{"": 0}
}

func (d *data) connID(c string) int32 {
	if id, ok := d.connIdx[c]; ok {
		return id
	}
	id := int32(len(d.connIDs))
	d.connIDs = append(d.connIDs, c)
	d.connIdx[c] = id
	return id
}

// connOf is a row's connection id ("" when the analysis has not grouped it).
func (d *data) connOf(r *row) string { return d.connIDs[r.cn] }

func (d *data) resetAnalysis() {
	d.anEpoch++
	d.anExs = nil
	d.setView(emptyView)
	d.infoFindings, d.infoPruned = map[uint64][]analysis.Finding{}, 0
	d.fb = fallback{}
	d.refreshConnList()
}

// setView takes a report the worker finished, and lets what depends on it follow.
func (d *data) setView(v *analysisView) {
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
func (d *data) refreshConnList() {
	d.connsGen++
	d.connList = d.report.Connections
	if len(d.connList) == 0 && len(d.fb.stages) > 0 {
		if c := d.fb.connection(); len(c.Stages) > 0 {
			d.connList = []*analysis.Connection{c}
		}
	}
}

// applyInfos takes what the analysis says of exchanges (in id order): their stage, client and connection.
func (d *data) applyInfos(infos []exInfo) {
	if len(infos) > 0 {
		d.anGen++
	}
	changed, refilter := 0, false
	i := 0
	for k := range infos {
		in := &infos[k]
		// The infos are in id order: the next row is usually the one.
		if i >= len(d.rows) || d.rows[i].ex.ID != in.id {
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
			r.hid = d.intern(hayOf(r.ex, in.stage))
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
func (d *data) findingsOf(id uint64) []analysis.Finding {
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
func (d *data) heldFrom() uint64 {
	if len(d.rows) > 0 {
		return d.rows[0].ex.ID
	}
	return d.clearedAt + 1
}

// takeAnalysisJob is what changed for the analysis since the last call.
func (d *data) takeAnalysisJob() analysisJob {
	j := analysisJob{epoch: d.anEpoch, exs: d.anExs, from: d.heldFrom()}
	d.anExs = nil
	return j
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
	ex := r.ex
	if f.stages == nil {
		f.stages = map[analysis.Stage]analysis.StageState{}
	}
	cur, seen := f.stages[stage]
	if seen && cur.Exchange > ex.ID {
		return
	}
	st := analysis.StageState{Stage: stage, At: ex.Start, Duration: ex.Timings.Total, Exchange: ex.ID}
	if seen && cur.At.Before(ex.Start) {
		st.At = cur.At
	}
	switch {
	case r.class == classPending:
		st.Status = analysis.StatusPending
	case r.class == classError, r.class >= class4xx && !(stage == analysis.StageChallenge && ex.Status == 401):
		st.Status = analysis.StatusFailed
	default:
		st.Status = analysis.StatusOK
	}
	f.stages[stage] = st
	if f.start.IsZero() || ex.Start.Before(f.start) {
		f.start = ex.Start
	}
	if end := ex.Start.Add(ex.Timings.Total); end.After(f.last) {
		f.last = end
	}
}

func (f *fallback) connection() *analysis.Connection {
	c := &analysis.Connection{ID: fallbackID, Client: analysis.ClientUnknown, Start: f.start, Last: f.last}
	for _, s := range analysis.Stages {
		if st, ok := f.stages[s]; ok && s != analysis.StageOther {
			c.Stages = append(c.Stages, st)
		}
	}
	return c
}

// len is the number of exchanges held.
func (d *data) len() int { return len(d.rows) }

// visible is the number of rows the filter lets through.
func (d *data) visible() int {
	if d.vis == nil {
		return len(d.rows)
	}
	return len(d.vis)
}

// at returns the row at a position of the filtered view.
func (d *data) at(pos int) *row {
	if d.vis == nil {
		return &d.rows[pos]
	}
	return &d.rows[d.vis[pos]-d.base]
}

// posOf returns the position in the filtered view of exchange id, or of the first row after it, and whether it
// is there.
func (d *data) posOf(id uint64) (int, bool) {
	if d.vis == nil {
		i, ok := slices.BinarySearchFunc(d.rows, id, func(r row, id uint64) int { return cmpID(r.ex.ID, id) })
		return i, ok
	}
	return slices.BinarySearchFunc(d.vis, id, func(abs int, id uint64) int { return cmpID(d.rows[abs-d.base].ex.ID, id) })
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// index returns the index in rows of exchange id.
func (d *data) index(id uint64) (int, bool) {
	if n := len(d.rows); n == 0 || d.rows[n-1].ex.ID < id { // the usual cases: a new exchange,
		return n, false
	} else if d.rows[n-1].ex.ID == id { // or the newest changed
		return n - 1, true
	}
	return slices.BinarySearchFunc(d.rows, id, func(r row, id uint64) int { return cmpID(r.ex.ID, id) })
}

// get returns the exchange with id, or nil.
func (d *data) get(id uint64) *row {
	if i, ok := d.index(id); ok {
		return &d.rows[i]
	}
	return nil
}

// applyResult says what a batch changed.
type applyResult struct {
	added   int  // exchanges new to the data
	cleared bool // the store was cleared
	order   bool // an exchange arrived out of order (absolute indices moved)
}

// apply takes a batch of the store's updates. ignoreCleared is set when the model cleared itself and is waiting
// for the store's Cleared update, which must not wipe what arrived since.
func (d *data) apply(us []recorder.Update, ignoreCleared *bool) applyResult {
	d.version++
	var res applyResult
	for _, u := range us {
		if u.Kind == recorder.Cleared {
			if *ignoreCleared {
				*ignoreCleared = false
				continue
			}
			d.clear(d.maxID())
			res.cleared = true
			continue
		}
		ex := u.Exchange
		if ex == nil || ex.ID <= d.clearedAt {
			continue
		}
		added, order := d.put(ex)
		if added {
			res.added++
		}
		res.order = res.order || order
	}
	d.evict()
	if len(d.report.Connections) == 0 {
		d.refreshConnList() // the stand-in follows the exchanges until the analysis groups them
	}
	if res.order || res.cleared {
		d.refilter()
	}
	return res
}

// reportNowUpTo is the number of exchanges up to which the worker takes the report after every batch it observes
// (a handshake shows stage by stage as it happens); beyond it, the analysis' report costs enough (tens of
// milliseconds at 100,000: it is built over every connection and finding held) that the worker takes it at most
// every reportEvery, and no more often than ten times its cost.
const reportNowUpTo = 5000

const reportEvery = 250 * time.Millisecond

// resync makes the data the store's snapshot (after updates were dropped, and for the first load): what the
// store no longer holds goes, what it holds is taken in its latest form, and what arrived after the snapshot was
// taken stays (its updates are on their way).
func (d *data) resync(exs []*recorder.Exchange) {
	d.version++
	var snapMax uint64
	if n := len(exs); n > 0 {
		snapMax = exs[n-1].ID
	}
	old := d.rows
	d.rows = make([]row, 0, max(len(exs), len(old)))
	d.bytes = 0
	if d.vis != nil {
		d.visBuf, d.vis = d.vis[:0], nil
	}
	gone, i := 0, 0
	for _, ex := range exs {
		if ex.ID <= d.clearedAt {
			continue
		}
		for i < len(old) && old[i].ex.ID < ex.ID {
			gone++ // the store let it go
			i++
		}
		if i < len(old) && old[i].ex.ID == ex.ID {
			if old[i].ex == ex {
				d.rows = append(d.rows, old[i])
				d.bytes += old[i].size
				i++
				continue
			}
			i++
		}
		d.put(ex)
	}
	for ; i < len(old); i++ {
		if old[i].ex.ID > snapMax {
			d.rows = append(d.rows, old[i])
			d.bytes += old[i].size
		} else {
			gone++
		}
	}
	d.evicted += uint64(gone)
	d.evict()
	d.refreshConnList()
	d.refilter()
}

func (d *data) maxID() uint64 {
	if len(d.rows) == 0 {
		return d.clearedAt
	}
	return max(d.rows[len(d.rows)-1].ex.ID, d.clearedAt)
}

// clear drops every exchange up to id and starts the analysis afresh.
func (d *data) clear(upTo uint64) {
	d.version++
	clear(d.rows)
	d.rows = d.rows[:0]
	d.base = 0
	d.bytes = 0
	d.clearedAt = max(d.clearedAt, upTo)
	d.hays, d.hayIdx, d.hayGen, d.hayRes, d.haySig = nil, map[string]int32{}, nil, nil, nil
	d.resetConns()
	d.resetAnalysis()
	if d.vis != nil {
		d.vis = d.vis[:0]
	}
}

// put adds or replaces one exchange. It reports whether the exchange was new, and whether it was inserted before
// the newest one (absolute indices after it moved).
func (d *data) put(ex *recorder.Exchange) (added, outOfOrder bool) {
	d.anExs = append(d.anExs, ex)
	i, found := d.index(ex.ID)
	if found {
		r := &d.rows[i]
		d.bytes -= r.size
		d.fill(r, ex)
		d.bytes += r.size
		if d.vis != nil {
			d.rematch(d.base + i)
		}
		return false, false
	}
	var r row
	d.fill(&r, ex)
	d.bytes += r.size
	if i == len(d.rows) {
		d.rows = append(d.rows, r)
		if d.vis != nil && d.filter.match(&d.rows[i], d) {
			d.vis = append(d.vis, d.base+i)
		}
		return true, false
	}
	d.rows = slices.Insert(d.rows, i, r)
	return true, true
}

// fill takes a snapshot into a row. The stage is the exchange's own reading until the analysis says more (with the
// client and the connection, which a row keeps from snapshot to snapshot): see applyInfos.
func (d *data) fill(r *row, ex *recorder.Exchange) {
	r.ex = ex
	stage := analysis.StageOf(ex, d.aopts.MCPPath)
	r.stage = d.stageID(stage)
	r.class = classOf(ex)
	r.size = ex.Size()
	r.hid = d.intern(hayOf(ex, stage))
	d.fb.note(r, stage)
}

// intern returns the id of a hay.
func (d *data) intern(h string) int32 {
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
func (d *data) compactHays() {
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

// textOK reports whether the filter's words match a row's hay, searching each distinct hay once per filter.
func (d *data) textOK(r *row) bool {
	id := r.hid
	if int(id) >= len(d.hayGen) {
		n := max(len(d.hays), int(id)+1)
		d.hayGen = append(d.hayGen, make([]uint32, n-len(d.hayGen))...)
		d.hayRes = append(d.hayRes, make([]bool, n-len(d.hayRes))...)
	}
	if d.hayGen[id] != d.gen {
		d.hayGen[id] = d.gen
		d.hayRes[id] = d.filter.matchText(d, id)
	}
	return d.hayRes[id]
}

// hayOf is what a filter word is searched in: method, path and query, JSON-RPC methods, status, error, host.
func hayOf(ex *recorder.Exchange, stage analysis.Stage) string {
	var b strings.Builder
	b.Grow(len(ex.URL) + 48)
	b.WriteString(ex.Method)
	b.WriteByte(' ')
	b.WriteString(ex.URL)
	b.WriteByte(' ')
	b.WriteString(string(stage))
	if m := ex.RPCMethod(); m != "" {
		b.WriteByte(' ')
		b.WriteString(m)
	}
	if ex.Status != 0 {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(ex.Status))
	}
	if ex.Error != "" {
		b.WriteByte(' ')
		b.WriteString(ex.Error)
	}
	if ex.Kind == recorder.Outbound && ex.Host != "" {
		b.WriteByte(' ')
		b.WriteString(ex.Host)
	}
	return strings.ToLower(strings.ReplaceAll(b.String(), "\n", " ")) // a newline ends a hay in the arena
}

// evict drops the oldest exchanges beyond the store's bounds, as the store does.
func (d *data) evict() {
	k, bytes := 0, d.bytes
	for len(d.rows)-k > d.limits.MaxCount {
		bytes -= d.rows[k].size
		k++
	}
	for bytes > d.limits.MaxBytes && len(d.rows)-k > 1 {
		bytes -= d.rows[k].size
		k++
	}
	d.dropFront(k)
}

func (d *data) dropFront(k int) {
	if k == 0 {
		return
	}
	for i := range k {
		d.bytes -= d.rows[i].size
		d.rows[i] = row{} // let the snapshots go
	}
	d.rows = d.rows[k:]
	if cap(d.rows) > 2*d.limits.MaxCount && len(d.rows) < cap(d.rows)/2 {
		d.rows = slices.Clone(d.rows)
	}
	d.base += k
	d.evicted += uint64(k)
	d.compactHays()
	d.compactConns()
	if d.vis != nil {
		j, _ := slices.BinarySearch(d.vis, d.base)
		d.vis = d.vis[j:]
	}
	// The exchanges' own findings: pruned of what was evicted once they have doubled.
	if n := len(d.infoFindings); n > 2*d.infoPruned+256 {
		from := d.heldFrom()
		for id := range d.infoFindings {
			if id < from {
				delete(d.infoFindings, id)
			}
		}
		d.infoPruned = len(d.infoFindings)
	}
}

// compactConns forgets the connection ids no row uses any more, once there are many of them.
func (d *data) compactConns() {
	if len(d.connIDs) <= 2*len(d.rows)+4096 {
		return
	}
	old := d.connIDs
	d.resetConns()
	for i := range d.rows {
		d.rows[i].cn = d.connID(old[d.rows[i].cn])
	}
}

// sevRank orders severities, worst first; no severity ranks last.
func sevRank(s analysis.Severity) int {
	switch s {
	case analysis.SeverityError:
		return 0
	case analysis.SeverityWarn:
		return 1
	case analysis.SeverityInfo:
		return 2
	}
	return 3
}

// clientOf is the client of a row: its connection's, once the analysis has grouped it.
func (d *data) clientOf(r *row) analysis.ClientKind {
	if c, ok := d.conns[d.connOf(r)]; ok && c.kind != "" {
		return c.kind
	}
	return d.clients[r.cl]
}

// setFilter applies a parsed filter. When the new filter only narrows the old one (the user typed one more
// character), only the rows the old one let through are searched.
func (d *data) setFilter(f filter) {
	old := d.filter
	d.filter = f
	d.gen++
	if !f.empty() && d.fromCache(f.src) {
		return
	}
	defer func() {
		if d.vis != nil {
			d.toCache(f.src)
		}
	}()
	switch {
	case f.empty():
		if d.vis != nil {
			d.visBuf = d.vis[:0]
		}
		d.vis = nil
	case d.vis != nil && f.narrows(old):
		kept := d.vis[:0]
		for _, abs := range d.vis {
			if f.match(&d.rows[abs-d.base], d) {
				kept = append(kept, abs)
			}
		}
		d.vis = kept
	default:
		d.refilter()
	}
}

// visCache keeps the results of the last filters typed, for as long as the data has not changed: deleting a
// character gives back the previous filter's rows without a pass over every exchange.
type visCache struct {
	src     string
	version uint64
	vis     []int
}

// maxCached bounds the cache: entries, and row indices in all (four times the store's MaxCount).
const maxCached = 32

func (d *data) fromCache(src string) bool {
	for i, c := range d.cache {
		if c.src == src && c.version == d.version {
			dst := d.vis
			if dst == nil {
				dst = d.visBuf
			}
			d.vis = append(dst[:0], c.vis...)
			d.cache = append(d.cache[:i], d.cache[i+1:]...)
			d.cache = append(d.cache, c)
			return true
		}
	}
	return false
}

func (d *data) toCache(src string) {
	if len(d.vis) > d.limits.MaxCount/4 {
		return // a broad filter is searched again rather than copied (its copy costs about what it saves)
	}
	total := len(d.vis)
	keep := d.cache[:0]
	for _, c := range d.cache {
		if c.version == d.version && c.src != src {
			keep = append(keep, c)
		}
	}
	d.cache = keep
	for _, c := range d.cache {
		total += len(c.vis)
	}
	for len(d.cache) > 0 && (len(d.cache) >= maxCached || total > 4*d.limits.MaxCount) {
		total -= len(d.cache[0].vis)
		d.cache = d.cache[1:]
	}
	if total <= 4*d.limits.MaxCount {
		d.cache = append(d.cache, visCache{src: src, version: d.version, vis: slices.Clone(d.vis)})
	}
}

// refilter computes the filtered view from scratch.
func (d *data) refilter() {
	if d.filter.empty() {
		if d.vis != nil {
			d.visBuf = d.vis[:0]
		}
		d.vis = nil
		return
	}
	d.gen++ // the hays' results may have changed with the report
	vis := d.vis[:0]
	if vis == nil {
		vis = d.visBuf[:0]
	}
	if vis == nil {
		vis = make([]int, 0, len(d.rows))
	}

	for i := range d.rows {
		if d.filter.match(&d.rows[i], d) {
			vis = append(vis, d.base+i)
		}
	}
	d.vis = vis
}

// rematch updates the filtered view after the row at absolute index abs changed.
func (d *data) rematch(abs int) {
	j, in := slices.BinarySearch(d.vis, abs)
	ok := d.filter.match(&d.rows[abs-d.base], d)
	switch {
	case ok && !in:
		d.vis = slices.Insert(d.vis, j, abs)
	case !ok && in:
		d.vis = slices.Delete(d.vis, j, j+1)
	}
}

// exchanges returns the snapshots of the filtered view, in order (what an export writes).
func (d *data) exchanges() []*recorder.Exchange {
	out := make([]*recorder.Exchange, d.visible())
	for i := range out {
		out[i] = d.at(i).ex
	}
	return out
}

// connection returns the report's connection with id, or nil.
func (d *data) connection(id string) *analysis.Connection {
	for _, c := range d.report.Connections {
		if c.ID == id {
			return c
		}
	}
	return nil
}
