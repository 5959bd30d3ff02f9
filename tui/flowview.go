package tui

import (
	"slices"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// flowView is the model's view of the flow: a row for each exchange the store holds (in id order, bounded like the
// store — the same MaxBytes, the oldest go first — and by a window of its own, MaxRows rows), fed with the store's
// updates; the latest analysis of them (computed by the session's analysis service, see analysis.go); and the
// filtered view. Only Update changes it. It keeps no exchange: a row is the exchange's id and what the list shows
// (flowview_rows.go); the rest is the store's, asked for by id (programContext.exchange). The updates' snapshots
// only pass through, on their way to the analysis service (the caller's fed list, pushed at the end of the Update
// that took them).
//
// Its parts: the rows (flowview_rows.go); the interning of stages, clients, connections and texts
// (flowview_intern.go); the bitset prefilter of the texts (flowview_prefilter.go); the filter and its cache of
// recent results (flowview_filtercache.go); the hand-off to and from the analysis service (flowview_analysis.go).
type flowView struct {
	limits recorder.StoreOptions
	aopts  analysis.Options
	// oldest is the oldest exchange the store holds (storeOldest), nil for a feeder without a store: see evict.
	oldest func() uint64

	rows  []row // ordered by exchange id
	base  int   // absolute index of rows[0]: absolute indices survive evictions
	bytes int64

	anEpoch int // counts clears: the service starts afresh, and its results from before one are dropped

	// The latest analysis: the report and its maps (the pump's analysisView, never changed), and what the
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

	clearedAt uint64 // updates of exchanges up to this id were cleared; they are ignored
	evicted   uint64
	// evictedBefore is evicted at the last clear: with oldest, evicted is it plus the ids between the clear and
	// the first row (see evict).
	evictedBefore uint64
	dropped       uint64 // updates the subscription missed
	resyncedAt    uint64 // the dropped count when the last resync was asked for

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

	// texts are the distinct encoded texts of the rows (rowText: method, URL, JSON-RPC method, error...): most
	// exchanges share theirs with many others. textBuf is where a row's is encoded before it is looked up.
	texts   []string
	textIdx map[string]int32
	textBuf []byte
	rev     uint32 // counts the snapshots taken into rows (row.rev)
}

// MaxRows is the TUI's own window: it lists the newest MaxRows exchanges at most, whatever the store holds (up to
// recorder.DefaultStoreMaxCount, 1,000,000). A row is 64 bytes and a filter pass reads every row: at 100,000 a
// frame and a filter keystroke take 0.03–1.6 ms (BenchmarkView, BenchmarkFilterKeystroke), a whole filter pass
// 1.5–2.5 ms and at 1,000,000 rows 9.5–12.2 ms (BenchmarkFilterPass), past the 5 ms a keystroke may take. The rows the window let go are
// counted in the header ("older let go"); the store still holds them (the detail of a row is the store's, and an
// export of the unfiltered list writes them too: exportIDs), and the capture file keeps every one.
const MaxRows = 100_000

func newFlowView(limits recorder.StoreOptions, aopts analysis.Options) *flowView {
	if limits.MaxCount <= 0 {
		limits.MaxCount = recorder.DefaultStoreMaxCount
	}
	limits.MaxCount = min(limits.MaxCount, MaxRows)
	if limits.MaxBytes <= 0 {
		limits.MaxBytes = recorder.DefaultStoreMaxBytes
	}
	d := &flowView{limits: limits, aopts: aopts, hayIdx: map[string]int32{}, textIdx: map[string]int32{},
		stageIdx: map[analysis.Stage]stageID{}, clientIdx: map[analysis.ClientKind]uint8{}}
	d.clientID("") // 0: not known yet
	for _, st := range analysis.StageOrder() {
		d.stageID(st)
	}
	d.resetConns()
	d.resetAnalysis()
	return d
}

// len is the number of exchanges held.
func (d *flowView) len() int { return len(d.rows) }

// visible is the number of rows the filter lets through.
func (d *flowView) visible() int {
	if d.vis == nil {
		return len(d.rows)
	}
	return len(d.vis)
}

// at returns the row at a position of the filtered view.
func (d *flowView) at(pos int) *row {
	if d.vis == nil {
		return &d.rows[pos]
	}
	return &d.rows[d.vis[pos]-d.base]
}

// posOf returns the position in the filtered view of exchange id, or of the first row after it, and whether it
// is there.
func (d *flowView) posOf(id uint64) (int, bool) {
	if d.vis == nil {
		i, ok := slices.BinarySearchFunc(d.rows, id, func(r row, id uint64) int { return cmpID(r.id, id) })
		return i, ok
	}
	return slices.BinarySearchFunc(d.vis, id, func(abs int, id uint64) int { return cmpID(d.rows[abs-d.base].id, id) })
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
func (d *flowView) index(id uint64) (int, bool) {
	if n := len(d.rows); n == 0 || d.rows[n-1].id < id { // the usual cases: a new exchange,
		return n, false
	} else if d.rows[n-1].id == id { // or the newest changed
		return n - 1, true
	}
	return slices.BinarySearchFunc(d.rows, id, func(r row, id uint64) int { return cmpID(r.id, id) })
}

// applyResult says what a batch changed.
type applyResult struct {
	added   int  // exchanges new to the data
	cleared bool // the store was cleared
	order   bool // an exchange arrived out of order (absolute indices moved)
}

// apply takes a batch of the store's updates. ignoreCleared is set when the model cleared itself and is waiting
// for the store's Cleared update, which must not wipe what arrived since. The snapshots taken are appended to fed
// (for the analysis service); a clear empties it.
func (d *flowView) apply(us []recorder.Update, ignoreCleared *bool, fed *[]*recorder.Exchange) applyResult {
	d.version++
	var res applyResult
	var from uint64 // the store let go of every exchange below it (evicted while in flight: its update still comes)
	if d.oldest != nil {
		from = d.oldest()
	}
	for _, u := range us {
		if u.Kind == recorder.Cleared {
			if *ignoreCleared {
				*ignoreCleared = false
				continue
			}
			d.clear(d.maxID())
			*fed = nil
			res.cleared = true
			continue
		}
		ex := u.Exchange
		if ex == nil || ex.ID <= d.clearedAt || ex.ID < from {
			continue
		}
		added, order := d.put(ex, fed)
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

// resync makes the data the store's snapshot (after updates were dropped, and for the first load): what the
// store no longer holds goes, what it holds is taken in its latest form (a row of a complete exchange, which the
// store never changes again, is kept as it is), and what arrived after the snapshot was taken stays (its updates
// are on their way). The snapshots taken are appended to fed.
func (d *flowView) resync(exs []*recorder.Exchange, fed *[]*recorder.Exchange) {
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
		for i < len(old) && old[i].id < ex.ID {
			gone++ // the store let it go
			i++
		}
		if i < len(old) && old[i].id == ex.ID {
			r := old[i]
			i++
			if r.flags&rowComplete == 0 {
				*fed = append(*fed, ex)
				d.fill(&r, ex)
			}
			d.rows = append(d.rows, r)
			d.bytes += r.size
			continue
		}
		d.put(ex, fed)
	}
	for ; i < len(old); i++ {
		if old[i].id > snapMax {
			d.rows = append(d.rows, old[i])
			d.bytes += old[i].size
		} else {
			gone++
		}
	}
	if d.oldest == nil {
		d.evicted += uint64(gone) // with oldest, evict counts them by id
	}
	d.evict()
	d.refreshConnList()
	d.refilter()
}

func (d *flowView) maxID() uint64 {
	if len(d.rows) == 0 {
		return d.clearedAt
	}
	return max(d.rows[len(d.rows)-1].id, d.clearedAt)
}

// clear drops every exchange up to id and starts the analysis afresh.
func (d *flowView) clear(upTo uint64) {
	d.version++
	clear(d.rows)
	d.rows = d.rows[:0]
	d.base = 0
	d.bytes = 0
	d.clearedAt = max(d.clearedAt, upTo)
	d.evictedBefore = d.evicted
	d.hays, d.hayIdx, d.hayGen, d.hayRes, d.haySig = nil, map[string]int32{}, nil, nil, nil
	d.texts, d.textIdx = nil, map[string]int32{}
	d.resetConns()
	d.resetAnalysis()
	if d.vis != nil {
		d.vis = d.vis[:0]
	}
}

// put adds or replaces one exchange, and appends it to fed. It reports whether the exchange was new, and whether it
// was inserted before the newest one (absolute indices after it moved).
func (d *flowView) put(ex *recorder.Exchange, fed *[]*recorder.Exchange) (added, outOfOrder bool) {
	*fed = append(*fed, ex)
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

// fill takes a snapshot into a row: what the row keeps of it (nothing of the snapshot's memory: the texts are
// copied when they are interned). The stage is the exchange's own reading until the analysis says more (with the
// client and the connection, which a row keeps from snapshot to snapshot): see applyInfos.
func (d *flowView) fill(r *row, ex *recorder.Exchange) {
	stage := analysis.StageOf(ex, d.aopts.MCPPath)
	r.id = ex.ID
	d.rev++
	r.rev = d.rev
	r.sec, r.nsec = ex.Start.Unix(), int32(ex.Start.Nanosecond())
	_, off := ex.Start.Zone()
	r.off = int32(off)
	r.dur = ex.Timings.Total
	r.size = ex.Size()
	r.status = int32(min(max(ex.Status, -1), 1<<31-1)) // a saved capture's status beyond int32 is no HTTP status
	r.stage = d.stageID(stage)
	r.class = classOf(ex)
	r.flags = 0
	switch ex.State {
	case recorder.StatePending:
		r.flags |= rowPending
	case recorder.StateStreaming:
		r.flags |= rowStreaming
	case recorder.StateComplete:
		r.flags |= rowComplete
	}
	if ex.Kind == recorder.Outbound {
		r.flags |= rowOutbound
	}
	if len(ex.Toggles) > 0 {
		r.flags |= rowToggles
	}
	d.textBuf = appendRowText(d.textBuf[:0], ex)
	r.tid = d.internText(d.textBuf)
	t := d.text(r)
	r.hid = d.intern(hayOf(&t, stage, r))
	d.fb.note(r, stage)
}

// text is a row's texts.
func (d *flowView) text(r *row) rowText { return decodeRowText(d.texts[r.tid]) }

// evict drops the oldest exchanges beyond the store's bounds, as the store does, and beyond the rows' window.
// With oldest (a store's: storeOldest), the rows follow what the store holds exactly: those below its oldest
// exchange go. Without (a feeder with no store), the store's bounds are mirrored: its count, and its bytes by each
// exchange's estimated size (Exchange.Size, about 3.5 times what the packed store counts for a small exchange, so
// that the mirror lets go sooner than the store).
func (d *flowView) evict() {
	k, bytes := 0, d.bytes
	if d.oldest != nil {
		from := d.oldest()
		for k < len(d.rows) && d.rows[k].id < from {
			k++
		}
		k = max(k, len(d.rows)-d.limits.MaxCount)
		d.dropFront(k)
		// Counted by id: every exchange recorded since the last clear below the list's first row was let go, by
		// the store or by the window, whether the list ever held a row for it or not.
		low := from
		if len(d.rows) > 0 {
			low = d.rows[0].id
		}
		d.evicted = d.evictedBefore
		if low > d.clearedAt+1 {
			d.evicted += low - d.clearedAt - 1
		}
		return
	}
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

func (d *flowView) dropFront(k int) {
	if k == 0 {
		return
	}
	for i := range k {
		d.bytes -= d.rows[i].size
		d.rows[i] = row{}
	}
	d.rows = d.rows[k:]
	if cap(d.rows) > 2*d.limits.MaxCount && len(d.rows) < cap(d.rows)/2 {
		d.rows = slices.Clone(d.rows)
	}
	d.base += k
	d.evicted += uint64(k)
	d.compactHays()
	d.compactTexts()
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

// ids returns the ids of the filtered view's exchanges, in order (what an export writes: it asks the store for
// them, off the update loop).
func (d *flowView) ids() []uint64 {
	out := make([]uint64, d.visible())
	for i := range out {
		out[i] = d.at(i).id
	}
	return out
}

// storeOldest returns the oldest id s holds (every id below it was let go); an empty store holds none below the
// next.
func storeOldest(s *recorder.Store) func() uint64 {
	return func() uint64 {
		st := s.Stats()
		return st.Total - uint64(min(uint64(st.Count), st.Total)) + 1
	}
}

// exportIDs returns the ids an export writes: the filtered view's; without a filter, every exchange the store
// holds (st, its Stats), the older ones the rows' window let go included.
func (d *flowView) exportIDs(st recorder.Stats) []uint64 {
	from, to := d.unlisted(st)
	if from == to {
		return d.ids()
	}
	out := make([]uint64, 0, int(to-from)+len(d.rows))
	for id := from; id < to; id++ {
		out = append(out, id)
	}
	for i := range d.rows {
		out = append(out, d.rows[i].id)
	}
	return out
}

// unlisted is the range [from, to) of ids the store holds (st, its Stats) below the rows, when no filter is
// active: what the rows' window (MaxRows) let go and the store did not.
func (d *flowView) unlisted(st recorder.Stats) (from, to uint64) {
	if d.vis != nil || len(d.rows) == 0 || st.Count == 0 || uint64(st.Count) > st.Total {
		return 0, 0
	}
	from = max(st.Total-uint64(st.Count)+1, d.clearedAt+1)
	to = d.rows[0].id
	if from >= to {
		return 0, 0
	}
	return from, to
}

// connection returns the report's connection with id, or nil.
func (d *flowView) connection(id string) *analysis.Connection {
	for _, c := range d.report.Connections {
		if c.ID == id {
			return c
		}
	}
	return nil
}
