package tui

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// The analysis runs on a goroutine of its own, the analysis worker, which owns the analyzer: Update never calls
// it and never waits for it. After each Update that changed the data, the model hands the worker what changed (the
// snapshots it took, and the lowest id it still holds); the worker observes them, and publishes immutable results
// (what the analysis says of each exchange it observed, and now and then a report with the maps the panes look
// things up in) as analysisMsg, through a channel pump (bubbletea's examples/realtime). Update swaps a finished
// report in; a keystroke that arrives while one is computed is handled at once.
//
// Memory: the worker keeps the snapshots the data holds (a pointer each; it drops them as the data evicts them)
// and starts its analyzer afresh from them once the data has evicted half as many exchanges as it holds, so that
// the analyzer has observed at most 1.5 times the exchanges held (at least rebuildMin more).

// analysisJob is what one Update changed.
type analysisJob struct {
	epoch int    // the data's epoch: a new one (the data was cleared) starts the analysis afresh
	seq   uint64 // counts the jobs
	exs   []*recorder.Exchange
	from  uint64 // the data holds no exchange below this id any more
	force bool   // take a report now (benchmarks)
}

// exInfo is what the analysis says of one exchange, as the data keeps it.
type exInfo struct {
	id       uint64
	stage    analysis.Stage
	client   analysis.ClientKind
	conn     string
	findings []analysis.Finding // the analysis' findings for the exchange when it was observed (Info)
}

// analysisView is a report and what the panes look up in it; built by the worker, never changed after.
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

// analysisMsg is what the worker publishes.
type analysisMsg struct {
	epoch   int
	seq     uint64 // the last job observed
	infos   []exInfo
	view    *analysisView // nil: no new report in this message
	pending bool          // a report of what was observed is still owed (it is taken on a tick)
}

// infoChunk bounds the infos of one message (after a rebuild every exchange held gets one), so that applying
// one stays well within a frame.
const infoChunk = 4096

// rebuildMin is the fewest evicted exchanges the analyzer is rebuilt for.
const rebuildMin = 1024

// queueMax bounds the snapshots queued for the worker; beyond it the queue is coalesced (one snapshot per
// exchange, the latest, and only exchanges the data still holds).
const queueMax = 4096

type analysisWorker struct {
	newAn    func(analysis.Options) analyzer
	opts     analysis.Options
	minEvery time.Duration // the least time between two reports beyond reportNowUpTo exchanges
	// clock, when set (a live session), is the time rules about something that never happened are judged at;
	// the worker looks again every judgeEvery, so that "authorize never followed by a token request" shows while
	// nothing else arrives. Nil for a saved capture, judged at its own end.
	clock      func() time.Time
	judgeEvery time.Duration // default judgeEvery (tests)
	judging    bool          // the report due is only the clock's: publish it only if its findings changed
	lastKeys   []string      // the findings of the last report published

	mu     sync.Mutex
	queue  []analysisJob
	queued int // snapshots in queue
	floor  int // snapshots in queue after the last coalescing
	wake   chan struct{}
	out    chan analysisMsg
	done   chan struct{}
	exited chan struct{}
	stop   sync.Once

	// Owned by the worker's goroutine.
	an         analyzer
	epoch      int
	seq        uint64               // the last job observed
	acked      uint64               // the last job a message said was observed
	live       []*recorder.Exchange // the data's exchanges, in id order
	stale      int                  // exchanges the analyzer observed that the data no longer holds
	changed    map[uint64]struct{}  // observed since the last message
	all        bool                 // every exchange held is owed an info (the analyzer was rebuilt)
	dirty      bool                 // the last report is older than what was observed
	force      bool
	lastReport time.Time
	every      time.Duration
	rebuilds   int
}

// judgeEvery is how often a live session's analysis is judged again while nothing arrives.
const judgeEvery = 2 * time.Second

func newAnalysisWorker(newAn func(analysis.Options) analyzer, opts analysis.Options, minEvery time.Duration, clock func() time.Time) *analysisWorker {
	if minEvery <= 0 {
		minEvery = reportEvery
	}
	w := &analysisWorker{newAn: newAn, opts: opts, minEvery: minEvery, every: minEvery, clock: clock,
		wake: make(chan struct{}, 1), out: make(chan analysisMsg), done: make(chan struct{}), exited: make(chan struct{}),
		changed: map[uint64]struct{}{}}
	go w.run() // its analyzer is made by the first job (a new epoch)
	return w
}

// close stops the worker and waits for it.
func (w *analysisWorker) close() {
	w.stop.Do(func() { close(w.done) })
	<-w.exited
}

// push queues a job; it never blocks.
func (w *analysisWorker) push(j analysisJob) {
	w.mu.Lock()
	w.queue = append(w.queue, j)
	w.queued += len(j.exs)
	if w.queued > max(queueMax, 2*w.floor) {
		w.queue = coalesce(w.queue)
		w.queued = len(w.queue[0].exs)
		w.floor = w.queued
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// coalesce makes one job of a queue the worker has fallen behind on: the latest snapshot of each exchange the
// data still holds, in the order they first arrived (since the last new epoch).
func coalesce(q []analysisJob) []analysisJob {
	last := q[len(q)-1]
	start := 0
	for i, j := range q {
		if j.epoch != last.epoch {
			start = i + 1
		}
	}
	out := analysisJob{epoch: last.epoch, seq: last.seq, from: last.from}
	at := make(map[uint64]int, len(last.exs))
	for _, j := range q[start:] {
		out.force = out.force || j.force
		for _, ex := range j.exs {
			if ex.ID < last.from {
				continue
			}
			if i, ok := at[ex.ID]; ok {
				out.exs[i] = ex
				continue
			}
			at[ex.ID] = len(out.exs)
			out.exs = append(out.exs, ex)
		}
	}
	return []analysisJob{out}
}

func (w *analysisWorker) take() []analysisJob {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queue
	w.queue, w.queued, w.floor = nil, 0, 0
	return q
}

// stopped reports whether close was called (long loops look now and then, so that quitting never waits for a
// rebuild).
func (w *analysisWorker) stopped() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *analysisWorker) run() {
	defer close(w.exited)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var tick, judge <-chan time.Time
	if w.clock != nil {
		t := time.NewTicker(cmp.Or(w.judgeEvery, judgeEvery))
		defer t.Stop()
		judge = t.C
	}
	for {
		select {
		case <-w.done:
			return
		case <-w.wake:
		case <-tick:
			tick = nil
		case <-judge:
			if w.an != nil && !w.dirty {
				// The time passed may have made an absence a finding: report again, but say so only if it did.
				w.dirty, w.judging = true, true
			}
		}
		for _, j := range w.take() {
			w.apply(j)
		}
		if w.stale >= max(len(w.live)/2, rebuildMin) {
			w.rebuild()
		}
		if w.stopped() {
			return
		}
		due := w.dirty && (w.force || len(w.live) <= reportNowUpTo || time.Since(w.lastReport) >= w.every)
		if w.dirty && !due && tick == nil {
			timer.Reset(w.every - time.Since(w.lastReport))
			tick = timer.C
		}
		if !w.publish(due) {
			return
		}
	}
}

func (w *analysisWorker) apply(j analysisJob) {
	if j.epoch != w.epoch {
		w.epoch = j.epoch
		w.an = w.newAn(w.opts)
		clear(w.live)
		w.live = w.live[:0]
		w.stale = 0
		clear(w.changed)
		w.all, w.dirty, w.judging = false, true, false
	}
	w.seq = j.seq
	for i, ex := range j.exs {
		if i&1023 == 1023 && w.stopped() {
			return
		}
		if ex == nil || ex.ID < j.from {
			continue // the data let it go already
		}
		w.an.Observe(ex)
		w.put(ex)
		w.changed[ex.ID] = struct{}{}
		w.dirty, w.judging = true, false
	}
	if k, _ := slices.BinarySearchFunc(w.live, j.from, func(ex *recorder.Exchange, id uint64) int { return cmp.Compare(ex.ID, id) }); k > 0 {
		clear(w.live[:k])
		w.live = w.live[k:]
		w.stale += k
		if cap(w.live) > 2*len(w.live)+4096 {
			w.live = slices.Clone(w.live)
		}
	}
	if j.force {
		w.force, w.dirty, w.judging = true, true, false
	}
}

// put keeps the latest snapshot of each exchange held, in id order.
func (w *analysisWorker) put(ex *recorder.Exchange) {
	n := len(w.live)
	if n == 0 || w.live[n-1].ID < ex.ID {
		w.live = append(w.live, ex)
		return
	}
	i, found := slices.BinarySearchFunc(w.live, ex.ID, func(e *recorder.Exchange, id uint64) int { return cmp.Compare(e.ID, id) })
	if found {
		w.live[i] = ex
		return
	}
	w.live = slices.Insert(w.live, i, ex)
}

// rebuild starts the analyzer afresh from the exchanges held (the old one is let go first: one analyzer at a time).
func (w *analysisWorker) rebuild() {
	w.an = nil
	an := w.newAn(w.opts)
	for i, ex := range analysis.SettleOrder(w.live) {
		if i&1023 == 1023 && w.stopped() {
			return // the program ends: no need to finish
		}
		an.Observe(ex)
	}
	w.an, w.stale, w.all, w.dirty = an, 0, true, true
	clear(w.changed)
	w.rebuilds++
}

// publish sends what the analysis says of the exchanges observed since the last message and, when due, a report.
// It returns false when the worker is stopped meanwhile.
func (w *analysisWorker) publish(due bool) bool {
	if w.an == nil {
		return true
	}
	infos := w.infos()
	var view *analysisView
	if due {
		start := time.Now()
		if c, ok := w.an.(interface{ SetNow(time.Time) }); ok && w.clock != nil {
			c.SetNow(w.clock())
		}
		if e, ok := w.an.(interface{ End() }); ok && w.clock == nil {
			e.End() // a saved capture: judged as the live session judged it once the grace had passed
		}
		rep := w.an.Report()
		keys := make([]string, len(rep.Findings))
		for i, f := range rep.Findings {
			keys[i] = f.Key()
		}
		if !(w.judging && slices.Equal(keys, w.lastKeys)) {
			view, w.lastKeys = newView(rep), keys
		}
		w.judging = false
		// The report costs what the analysis does over every exchange held: beyond reportNowUpTo exchanges it is
		// taken no more often than ten times its cost, so that it takes at most a tenth of a core.
		w.every = min(max(10*time.Since(start), w.minEvery), max(5*time.Second, w.minEvery))
		w.lastReport = time.Now()
		w.dirty, w.force = false, false
	}
	if len(infos) == 0 && view == nil && w.seq == w.acked {
		return true // nothing new to say
	}
	for {
		msg := analysisMsg{epoch: w.epoch, seq: w.seq, pending: w.dirty}
		n := min(len(infos), infoChunk)
		msg.infos, infos = infos[:n:n], infos[n:]
		if len(infos) == 0 {
			msg.view = view
		} else {
			msg.seq, msg.pending = w.acked, true // more follows
		}
		select {
		case w.out <- msg:
		case <-w.done:
			return false
		}
		w.acked = w.seq
		if len(infos) == 0 {
			return true
		}
	}
}

// infos is what the analysis says of the exchanges observed since the last message (every one held after a
// rebuild), in id order.
func (w *analysisWorker) infos() []exInfo {
	var ids []uint64
	if w.all {
		ids = make([]uint64, len(w.live))
		for i, ex := range w.live {
			ids[i] = ex.ID
		}
		w.all = false
	} else {
		ids = make([]uint64, 0, len(w.changed))
		for id := range w.changed {
			ids = append(ids, id)
		}
		slices.Sort(ids)
	}
	if len(w.changed) > 4096 {
		w.changed = map[uint64]struct{}{} // a cleared map keeps its size
	} else {
		clear(w.changed)
	}
	out := make([]exInfo, 0, len(ids))
	for _, id := range ids {
		in := w.an.Info(id)
		if in.Stage == "" {
			continue // forgotten, or never settled: the data keeps its own reading
		}
		out = append(out, exInfo{id: id, stage: in.Stage, client: in.Client, conn: in.Connection, findings: in.Findings})
	}
	return out
}

// waitForAnalysis is the analysis' pump: the next message of the worker.
func waitForAnalysis(w *analysisWorker) tea.Cmd {
	return func() tea.Msg {
		select {
		case msg := <-w.out:
			return msg
		case <-w.done:
			return nil
		}
	}
}
