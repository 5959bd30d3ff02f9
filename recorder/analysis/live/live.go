// Package live runs a session's one handshake analysis: a Service owns the analyzer on a goroutine of its own,
// is fed the exchanges the session holds, and publishes what the analysis says of each exchange (its stage,
// client, connection and findings) and, now and then, a report, to any number of subscribers: the TUI, the
// headless printer; export asks it for the analysis of the exchanges it writes. No consumer builds an analyzer of
// its own, so that what the TUI shows, what --no-tui prints and what the TUI exports agree.
//
// Feeding. One feeder pushes Batches: the TUI hands over the snapshots its flow view took (so that what the
// service says of an exchange never arrives before the TUI's row for it), or Follow reads a store subscription
// (--no-tui). A batch says which exchanges the feeder still holds (From): the service drops the others.
//
// Memory. The service keeps no exchange: it hands each batch's snapshots to its analyzer, keeps the latest of
// those observed since its last message only until that message is published (its infos carry them), and tells
// the analyzer to forget what the feeder let go (analysis.Analyzer.Forget), so that what the analyzer keeps is
// bounded by the exchanges held, linearly, with no rebuild. A feeder that pushes faster than the analysis observes
// is coalesced (one snapshot per exchange, the latest).
//
// Publishing never waits for a subscriber: each Subscription is a mailbox that keeps, per exchange, the latest
// Info not taken yet (none of an exchange held is lost; the mailbox holds at most about two per exchange held) and
// the latest report (a slow subscriber skips reports it had no time for). An exchange's update that the feeder let
// go before a subscriber took its info (a service or a subscriber that fell behind) is counted in Msg.Dropped,
// so that the printer says the gap. Push never waits for the analysis: a keystroke in the TUI never
// waits for a report.
package live

import (
	"cmp"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// Analyzer is what the service needs of *analysis.Analyzer (tests script one). An analyzer that also has
// Forget(below uint64), as *analysis.Analyzer has, is told to forget what the feeder let go; one without it keeps
// everything (a scripted one).
type Analyzer interface {
	Observe(ex *recorder.Exchange)
	Info(id uint64) analysis.Info
	Report() *analysis.Report
}

// forgetter is an Analyzer that forgets what the feeder let go.
type forgetter interface{ Forget(below uint64) }

// doner is an analyzer that tells whether it has observed an exchange's final snapshot (analysis.Analyzer).
type doner interface{ Done(id uint64) bool }

// Options configure a Service. The fields after Analysis and Saved are injected by tests and benchmarks; the
// zero value is what a session uses.
type Options struct {
	// Analysis configures the analyzer (the MCP path, the grace of absence rules, MaxExchanges).
	Analysis analysis.Options
	// Saved is set for a saved capture (`mcpwatch open`): no clock; it is judged as the live session judged it
	// once the grace had passed after its last exchange.
	Saved bool

	// NewAnalyzer makes the analyzer (default analysis.New); tests script one.
	NewAnalyzer func(analysis.Options) Analyzer
	// MinReportEvery is the least time between two reports beyond ReportNowUpTo exchanges (default 250ms).
	MinReportEvery time.Duration
	// Clock is the wall clock rules about something that never happened are judged at in a live session
	// (default time.Now; unused when Saved).
	Clock func() time.Time
	// JudgeEvery is how often a live session is judged again while nothing arrives (default 2s).
	JudgeEvery time.Duration
}

// Batch is what the feeder changed since its last batch.
type Batch struct {
	Epoch     int                  // a new epoch (the feeder was cleared) starts the analysis afresh
	Seq       uint64               // counts the feeder's batches; messages say the last one observed
	Exchanges []*recorder.Exchange // snapshots, immutable
	From      uint64               // the feeder holds no exchange below this id any more
	Force     bool                 // take a report now (benchmarks)
	Dropped   uint64               // the feeder's count of updates it missed so far (said to subscribers)
}

// Info is what the analysis says of one exchange, with the latest snapshot the service observed of it (handed on:
// the service lets go of it once the message is published).
type Info struct {
	ID       uint64
	Exchange *recorder.Exchange
	analysis.Info
}

// Msg is what a subscriber takes.
type Msg struct {
	Epoch   int
	Seq     uint64 // the last batch observed
	Infos   []Info // what the analysis says of exchanges observed since the last message (in the order observed); read only (subscribers may share it)
	Report  *analysis.Report
	Pending bool   // a report of what was observed is still owed (it is taken on a tick), or more infos follow
	From    uint64 // the feeder's From
	// Dropped counts the updates missed so far: the feeder's, and those the service or the mailbox let go unsaid
	// (an exchange the feeder let go before its info was published or taken), so that a gap is never silent.
	Dropped uint64
	Final   bool // the service finished (Finish): no message follows
}

// InfoChunk bounds the infos of one message (a batch the feeder coalesced may bring every exchange held), so that
// applying one stays well within a frame.
const InfoChunk = 4096

// queueMax bounds the snapshots queued for the service; beyond it the queue is coalesced.
const queueMax = 4096

// ReportNowUpTo is the number of exchanges up to which the service takes the report after every batch it observes
// (a handshake shows stage by stage as it happens); beyond it, the report costs enough (tens of milliseconds at
// 100,000: it is built over every connection and finding held) that it is taken at most every MinReportEvery, and
// no more often than ten times its cost.
const ReportNowUpTo = 5000

const (
	defaultReportEvery = 250 * time.Millisecond
	defaultJudgeEvery  = 2 * time.Second
)

// ErrStopped is returned by Analysed once the service stopped.
var ErrStopped = errors.New("analysis service stopped")

// Service is a session's analysis.
type Service struct {
	opts     Options
	newAn    func(analysis.Options) Analyzer
	clock    func() time.Time // nil: a saved capture
	minEvery time.Duration
	judging  bool     // the report due is only the clock's: publish it only if its findings changed
	lastKeys []string // the findings of the last report published

	mu       sync.Mutex
	queue    []Batch
	spare    []Batch // the queue the service applied last, emptied, for the next take (take, giveBack)
	queued   int     // snapshots in queue
	floor    int     // snapshots in queue after the last coalescing
	finish   bool
	subs     []*Subscription
	subsOver bool   // the service stopped: a new subscription is ended at once
	qlost    uint64 // snapshots coalesced away that the service had not observed and the feeder let go
	wake     chan struct{}
	reqs     chan request
	done     chan struct{}
	exited   chan struct{}
	stop     sync.Once
	made     int // analyzers made (one per epoch); read under mu

	// Owned by the service's goroutine.
	an         Analyzer
	epoch      int
	seq        uint64               // the last batch observed
	acked      uint64               // the last batch a message said was observed
	from       uint64               // the feeder's From
	dropped    uint64               // the feeder's Dropped
	lost       uint64               // snapshots observed but let go before their info was published
	top        uint64               // the greatest id observed in this epoch
	changed    []*recorder.Exchange // observed since the last message, in order, once each: the latest snapshot, until the message is published
	inChanged  map[uint64]int       // id → its place in changed; made up only once an id came that is not above the last (indexed)
	indexed    bool                 // inChanged holds every exchange in changed
	dirty      bool                 // the last report is older than what was observed
	force      bool
	lastReport time.Time
	cost       time.Duration // what the last report took
	every      time.Duration
}

// New starts a service.
func New(opts Options) *Service {
	s := &Service{opts: opts, newAn: opts.NewAnalyzer, minEvery: opts.MinReportEvery, clock: opts.Clock,
		wake: make(chan struct{}, 1), reqs: make(chan request), done: make(chan struct{}), exited: make(chan struct{})}
	if s.newAn == nil {
		s.newAn = func(o analysis.Options) Analyzer { return analysis.New(o) }
	}
	if s.minEvery <= 0 {
		s.minEvery = defaultReportEvery
	}
	s.every = s.minEvery
	if opts.Saved {
		s.clock = nil
	} else if s.clock == nil {
		s.clock = time.Now
	}
	go s.run() // its analyzer is made by the first batch (a new epoch)
	return s
}

// Options returns the service's options.
func (s *Service) Options() Options { return s.opts }

// Analyzers counts the analyzers the service made: one per epoch (the feeder was cleared). Evictions make none:
// the analyzer forgets what the feeder lets go.
func (s *Service) Analyzers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.made
}

// Close stops the service and waits for it; subscribers' Next returns false once they took what was published.
func (s *Service) Close() {
	s.stop.Do(func() { close(s.done) })
	<-s.exited
}

// Done is closed when the service has stopped (Close, or after the final message of Finish).
func (s *Service) Done() <-chan struct{} { return s.exited }

// Push queues a batch; it never blocks.
func (s *Service) Push(b Batch) {
	s.mu.Lock()
	s.queue = append(s.queue, b)
	s.queued += len(b.Exchanges)
	if s.queued > max(queueMax, 2*s.floor) {
		var lost uint64
		s.queue, lost = coalesce(s.queue)
		s.qlost += lost
		s.queued = len(s.queue[0].Exchanges)
		s.floor = s.queued
	}
	s.mu.Unlock()
	s.poke()
}

// Finish says the feeder has nothing more: the service observes what is queued, takes a last report (judged at
// the clock), publishes it as the Final message, and stops.
func (s *Service) Finish() {
	s.mu.Lock()
	s.finish = true
	s.mu.Unlock()
	s.poke()
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// coalesce makes one batch of a queue the service has fallen behind on: the latest snapshot of each exchange the
// feeder still holds, in the order they first arrived (since the last new epoch). lost counts the snapshots of
// the last epoch left out because the feeder let their exchange go (the service never observes them).
func coalesce(q []Batch) (_ []Batch, lost uint64) {
	last := q[len(q)-1]
	start := 0
	for i, b := range q {
		if b.Epoch != last.Epoch {
			start = i + 1
		}
	}
	out := Batch{Epoch: last.Epoch, Seq: last.Seq, From: last.From, Dropped: last.Dropped}
	at := make(map[uint64]int, len(last.Exchanges))
	for _, b := range q[start:] {
		out.Force = out.Force || b.Force
		for _, ex := range b.Exchanges {
			if ex == nil {
				continue
			}
			if ex.ID < last.From {
				if ex.ID >= b.From {
					lost++ // not let go when it was pushed
				}
				continue
			}
			if i, ok := at[ex.ID]; ok {
				out.Exchanges[i] = ex
				continue
			}
			at[ex.ID] = len(out.Exchanges)
			out.Exchanges = append(out.Exchanges, ex)
		}
	}
	return []Batch{out}, lost
}

func (s *Service) take() ([]Batch, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue, s.queued, s.floor = s.spare, 0, 0
	s.spare = nil
	return q, s.finish
}

// giveBack gives back a queue take returned, applied: Push appends to it again after the next take (the two queues
// take turns), unless a burst grew it.
func (s *Service) giveBack(q []Batch) {
	if cap(q) > 64 {
		return
	}
	clear(q) // the batches' snapshots are the analysis' now
	s.mu.Lock()
	s.spare = q[:0]
	s.mu.Unlock()
}

// stopped reports whether Close was called (long loops look now and then, so that quitting never waits for a
// big batch).
func (s *Service) stopped() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *Service) run() {
	defer close(s.exited)
	defer s.closeSubs()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var tick, judge <-chan time.Time
	if s.clock != nil {
		t := time.NewTicker(cmp.Or(s.opts.JudgeEvery, defaultJudgeEvery))
		defer t.Stop()
		judge = t.C
	}
	for {
		var req *request
		select {
		case <-s.done:
			return
		case <-s.wake:
		case <-tick:
			tick = nil
		case r := <-s.reqs:
			req = &r
		case <-judge:
			if s.an != nil && !s.dirty {
				// The time passed may have made an absence a finding: report again, but say so only if it did.
				s.dirty, s.judging = true, true
			}
		}
		q, finish := s.take()
		for _, b := range q {
			s.apply(b)
		}
		s.giveBack(q)
		if s.stopped() {
			return
		}
		if req != nil {
			req.reply <- s.analysed(req.ids)
		}
		if finish {
			s.force, s.dirty, s.judging = true, true, false
		}
		// Up to ReportNowUpTo exchanges the report is due after every batch, unless the last one cost more than a
		// tenth of the time since: a stranger's thousands of connections make each report cost O(connections), and
		// one per exchange would be quadratic; a handshake still shows stage by stage (a report of 1,000
		// connections costs about a millisecond, so it lags by 10 ms at most).
		wait := s.every
		if s.held() <= ReportNowUpTo {
			wait = min(wait, 10*s.cost)
		}
		due := s.dirty && (s.force || time.Since(s.lastReport) >= wait)
		if s.dirty && !due && tick == nil {
			timer.Reset(wait - time.Since(s.lastReport))
			tick = timer.C
		}
		s.publish(due, finish)
		if finish {
			return
		}
	}
}

func (s *Service) apply(b Batch) {
	if b.Epoch != s.epoch {
		s.epoch = b.Epoch
		s.an = s.newAn(s.opts.Analysis)
		s.mu.Lock()
		s.made++
		s.mu.Unlock()
		s.top = 0
		s.resetChanged()
		s.dirty, s.judging = true, false
	}
	s.seq, s.from, s.dropped = b.Seq, b.From, max(s.dropped, b.Dropped)
	if f, ok := s.an.(forgetter); ok {
		f.Forget(b.From) // first: what arrives now is analysed as a fresh analyzer of what is held would
	}
	for i, ex := range b.Exchanges {
		if i&1023 == 1023 && s.stopped() {
			return
		}
		if ex == nil || ex.ID < b.From {
			continue // the feeder let it go already
		}
		if ex.BodiesInFile() {
			// A store's snapshot (a resync) leaves bodies in the capture file: read them back only for an exchange
			// the analyzer has not seen complete (it ignores another copy of one it has; at the store's bound
			// nearly every record held is spilled, and a resync of the TUI's window would read each back).
			if d, ok := s.an.(doner); !ok || !d.Done(ex.ID) {
				ex = ex.WithBodies()
			}
		}
		s.an.Observe(ex)
		s.top = max(s.top, ex.ID)
		s.noteChanged(ex)
		s.dirty, s.judging = true, false
	}
	if b.Force {
		s.force, s.dirty, s.judging = true, true, false
	}
}

// held is about the number of exchanges the feeder holds (its ids are consecutive, from From on).
func (s *Service) held() int {
	if s.top < s.from {
		return 0
	}
	return int(s.top - s.from + 1)
}

// noteChanged keeps ex, just observed, as the latest snapshot of its exchange for the next message: in changed
// once, at the place of its first snapshot since the last message. A store's ids come one after another and --no-tui
// hears each exchange once (its final snapshot), so an id above the last one kept is new, appended without a
// look-up; the index by id (inChanged) is made only when an id is not above it (a snapshot of an exchange kept
// already, or ids out of order: the TUI's batches, a resync), and kept until the message is published.
func (s *Service) noteChanged(ex *recorder.Exchange) {
	if !s.indexed {
		if n := len(s.changed); n == 0 || ex.ID > s.changed[n-1].ID {
			s.changed = append(s.changed, ex)
			return
		}
		if s.inChanged == nil {
			s.inChanged = make(map[uint64]int, len(s.changed)+1)
		}
		for i, x := range s.changed {
			s.inChanged[x.ID] = i
		}
		s.indexed = true
	}
	if i, ok := s.inChanged[ex.ID]; ok {
		s.changed[i] = ex
		return
	}
	s.inChanged[ex.ID] = len(s.changed)
	s.changed = append(s.changed, ex)
}

func (s *Service) resetChanged() {
	if s.indexed {
		if len(s.inChanged) > keepIndex { // it grew since the last message (only published messages empty it)
			s.inChanged = nil // a cleared map keeps its size
		} else {
			clear(s.inChanged)
		}
		s.indexed = false
	}
	if cap(s.changed) > keepChanged {
		s.changed = nil // a burst's list is not kept for every later message
	} else {
		clear(s.changed) // the snapshots are the published infos' now
		s.changed = s.changed[:0]
	}
}

// keepChanged is the longest list of exchanges observed since the last message that is kept for the next one.
const keepChanged = 4 * keepIndex

// findingsReporter is an Analyzer that can report its findings without its connections (*analysis.Analyzer).
type findingsReporter interface{ FindingsReport() *analysis.Report }

// findingsOnly reports whether every subscriber reads only the reports' findings (SubscribeFindings).
func (s *Service) findingsOnly() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		if !sub.findingsOnly {
			return false
		}
	}
	return len(s.subs) > 0
}

// report takes a report judged at the clock (a saved capture: at its end); unless full, without its connections
// when every subscriber reads only findings.
func (s *Service) report(full bool) *analysis.Report {
	if c, ok := s.an.(interface{ SetNow(time.Time) }); ok && s.clock != nil {
		c.SetNow(s.clock())
	}
	if e, ok := s.an.(interface{ End() }); ok && s.clock == nil {
		e.End() // a saved capture: judged as the live session judged it once the grace had passed
	}
	var rep *analysis.Report
	if f, ok := s.an.(findingsReporter); ok && !full && s.findingsOnly() {
		rep = f.FindingsReport()
	} else {
		rep = s.an.Report()
	}
	if rep == nil {
		rep = &analysis.Report{}
	}
	return rep
}

// publish hands the subscribers what the analysis says of the exchanges observed since the last message and,
// when due, a report.
func (s *Service) publish(due, final bool) {
	if s.an == nil {
		if final {
			s.deliver(Msg{Epoch: s.epoch, Seq: s.seq, Final: true, Dropped: s.droppedNow(), Report: &analysis.Report{}})
		}
		return
	}
	infos := s.infos()
	var rep *analysis.Report
	if due {
		start := time.Now()
		r := s.report(false)
		keys := make([]string, len(r.Findings))
		for i, f := range r.Findings {
			keys[i] = f.Key()
		}
		if final || !(s.judging && slices.Equal(keys, s.lastKeys)) {
			rep, s.lastKeys = r, keys
		}
		s.judging = false
		// The report costs what the analysis does over every exchange held: beyond ReportNowUpTo exchanges it is
		// taken no more often than ten times its cost, so that it takes at most a tenth of a core.
		s.cost = time.Since(start)
		s.every = min(max(10*s.cost, s.minEvery), max(5*time.Second, s.minEvery))
		s.lastReport = time.Now()
		s.dirty, s.force = false, false
	}
	if len(infos) == 0 && rep == nil && s.seq == s.acked && !final {
		return // nothing new to say
	}
	s.deliver(Msg{Epoch: s.epoch, Seq: s.seq, Infos: infos, Report: rep, Pending: s.dirty, From: s.from,
		Dropped: s.droppedNow(), Final: final})
	s.acked = s.seq
}

// infos is what the analysis says of the exchanges observed since the last message, in the order they were
// observed.
func (s *Service) infos() []Info {
	out := make([]Info, 0, len(s.changed))
	for _, ex := range s.changed {
		if ex.ID < s.from {
			s.lost++ // observed since the last message, let go before its info was published
			continue
		}
		out = append(out, Info{ID: ex.ID, Exchange: ex, Info: s.an.Info(ex.ID)})
	}
	s.resetChanged()
	return out
}

// droppedNow is the count of missed updates a message says: the feeder's and the service's own.
func (s *Service) droppedNow() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped + s.lost + s.qlost
}

func (s *Service) deliver(m Msg) {
	s.mu.Lock()
	subs := s.subs // never written in place: subscribe appends to it clipped, Close and closeSubs make another
	s.mu.Unlock()
	for _, sub := range subs {
		sub.put(m, s.held())
	}
}

func (s *Service) closeSubs() {
	s.mu.Lock()
	subs := s.subs
	s.subs, s.subsOver = nil, true
	s.mu.Unlock()
	for _, sub := range subs {
		sub.end()
	}
}

// request asks the service's goroutine for the analysis of some exchanges.
type request struct {
	ids   []uint64
	reply chan Analysed
}

// Analysed is the analysis of some exchanges as the service holds it now.
type Analysed struct {
	Infos  map[uint64]analysis.Info // of the exchanges asked for that the service observed
	Report *analysis.Report         // the whole report (every connection and finding the service holds)
}

// Analysed returns what the analysis says now of the exchanges ids, and its report, once it has observed what
// was pushed before the call. It waits for the service (never the UI: export calls it from a command).
func (s *Service) Analysed(ids []uint64) (Analysed, error) {
	r := request{ids: ids, reply: make(chan Analysed, 1)}
	select {
	case s.reqs <- r:
	case <-s.exited:
		return Analysed{}, ErrStopped
	}
	select {
	case a := <-r.reply:
		return a, nil
	case <-s.exited:
		return Analysed{}, ErrStopped
	}
}

func (s *Service) analysed(ids []uint64) Analysed {
	out := Analysed{Infos: make(map[uint64]analysis.Info, len(ids)), Report: &analysis.Report{}}
	if s.an == nil {
		return out
	}
	for _, id := range ids {
		if id < s.from {
			continue // let go
		}
		if in := s.an.Info(id); in.Stage != "" {
			out.Infos[id] = in
		}
	}
	out.Report = s.report(true)
	return out
}
