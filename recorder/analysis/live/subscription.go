package live

import (
	"context"
	"slices"
	"sync"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// Subscription is a subscriber's mailbox. The service puts every message in it without waiting: the infos not
// taken yet are kept, the latest per exchange, in the order they were published (none is lost: an exchange's
// newer info replaces its older one, and the mailbox drops only the infos of exchanges the feeder no longer
// holds, counting them in Msg.Dropped, so that it holds at most about two infos per exchange held); a report
// replaces the one not taken yet.
type Subscription struct {
	s     *Service
	ready chan struct{} // signalled when something can be taken
	// findingsOnly: the subscriber reads only the reports' findings (SubscribeFindings).
	findingsOnly bool

	mu      sync.Mutex
	has     bool // a message is owed (even one with no info: Seq moved)
	ended   bool // the service stopped: nothing more is put
	epoch   int
	seq     uint64
	taken   uint64 // the Seq of the last message taken
	pending bool
	from    uint64
	dropped uint64
	lost    uint64 // infos pruned before they were taken (said in Dropped)
	final   bool
	report  *analysis.Report
	infos   []Info         // not taken yet
	shared  bool           // infos is a message's own slice, shared with the other subscribers: copied before written
	at      map[uint64]int // id → off + its index in infos, while indexed
	indexed bool           // at holds every info not taken yet: made up only when a put may replace one (ensureAt)
	top     uint64         // while not indexed, no info held has a greater id
	off     int            // what at's indexes count from: the infos taken in chunks since at was last emptied
	written int            // entries written to at (TestTakeInChunksIsLinear)
	atPeak  int            // the most entries at held since it was made (resetAt)
}

// keepIndex is the most entries a per-message index (a mailbox's at, the service's inChanged) may have held and
// still be cleared for the next message rather than made anew: a Go map keeps the groups it grew to and clear
// walks them all, so after one burst (a printer behind by thousands of infos) every later message, of a few
// dozen, paid for the burst's size (11 µs a message after a window's backlog in BenchmarkWatchProxied).
const keepIndex = 256

// Subscribe returns a new subscription: it receives what is published from now on (subscribe before the first
// Push).
func (s *Service) Subscribe() *Subscription { return s.subscribe(false) }

// SubscribeFindings subscribes a reader of the reports' findings only (the headless printer): while every
// subscriber is one, the reports published carry no connections (Report.Connections is empty; Analysed's report
// has them), so that the analysis neither builds nor keeps a view of every connection it holds.
func (s *Service) SubscribeFindings() *Subscription { return s.subscribe(true) }

func (s *Service) subscribe(findingsOnly bool) *Subscription {
	sub := &Subscription{s: s, ready: make(chan struct{}, 1), at: map[uint64]int{}, findingsOnly: findingsOnly}
	s.mu.Lock()
	if s.subsOver {
		sub.ended = true
	} else {
		s.subs = append(slices.Clip(s.subs), sub) // another slice: deliver reads the one it took outside the lock
	}
	s.mu.Unlock()
	return sub
}

// Close ends the subscription: the service puts nothing more in it.
func (sub *Subscription) Close() {
	s := sub.s
	s.mu.Lock()
	for i, x := range s.subs {
		if x == sub {
			s.subs = append(s.subs[:i:i], s.subs[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	sub.end()
}

func (sub *Subscription) end() {
	sub.mu.Lock()
	sub.ended = true
	sub.mu.Unlock()
	sub.signal()
}

func (sub *Subscription) signal() {
	select {
	case sub.ready <- struct{}{}:
	default:
	}
}

// mailboxSlack is the fewest infos a mailbox prunes for: a prune keeps at most one info per exchange held, and
// the next waits for at least as many more (amortised O(1) a put), so that the mailbox holds at most twice the
// exchanges held (and so about twice their bytes: a feeder that evicts by bytes holds few when they are big).
const mailboxSlack = 64

// put merges a message into the mailbox; held is the number of exchanges the service holds (the mailbox's bound).
func (sub *Subscription) put(m Msg, held int) {
	sub.mu.Lock()
	if sub.ended {
		sub.mu.Unlock()
		return
	}
	if m.Epoch != sub.epoch {
		sub.epoch = m.Epoch
		sub.infos, sub.report, sub.shared = nil, nil, false
		sub.resetAt()
	}
	if len(sub.infos) == 0 {
		// The usual case, the last message taken: its infos are this one's (an exchange once each, as the service
		// publishes them), shared with the other subscribers and never written here (shared: copied first; clipped,
		// so that an append copies too) — instead of copied into a slice grown one info at a time. Not indexed: a
		// subscriber that keeps up takes them before the next put.
		if sub.indexed {
			sub.resetAt() // a prune let go of every info held: at indexes none of these
		}
		sub.infos, sub.shared = slices.Clip(m.Infos), true
		sub.top = 0
		for _, in := range m.Infos {
			sub.top = max(sub.top, in.ID)
		}
	} else if !sub.indexed && above(m.Infos, sub.top) {
		// Exchanges after every one held (a store's ids come one after another): none replaces an info held.
		if len(m.Infos) > 0 {
			sub.own()
			sub.infos = append(sub.infos, m.Infos...)
			sub.top = m.Infos[len(m.Infos)-1].ID
		}
	} else {
		sub.own()
		sub.ensureAt()
		for _, in := range m.Infos {
			if i, ok := sub.at[in.ID]; ok {
				sub.infos[i-sub.off] = in
				continue
			}
			sub.at[in.ID] = sub.off + len(sub.infos)
			sub.written++
			sub.infos = append(sub.infos, in)
		}
	}
	sub.atPeak = max(sub.atPeak, len(sub.at))
	if len(sub.infos) > 2*max(held, mailboxSlack) {
		sub.prune(m.From)
	}
	if m.Report != nil {
		sub.report = m.Report
	}
	sub.seq, sub.pending, sub.from, sub.dropped = m.Seq, m.Pending, m.From, m.Dropped
	sub.final = sub.final || m.Final
	sub.has = true
	sub.mu.Unlock()
	sub.signal()
}

// above reports whether the ids of infos go up from above last (none: an empty infos).
func above(infos []Info, last uint64) bool {
	for _, in := range infos {
		if in.ID <= last {
			return false
		}
		last = in.ID
	}
	return true
}

// ensureAt indexes the infos not taken yet, unless they are.
func (sub *Subscription) ensureAt() {
	if sub.indexed {
		return
	}
	sub.resetAt()
	for i, in := range sub.infos {
		sub.at[in.ID] = i
	}
	sub.written += len(sub.infos)
	sub.indexed = true
}

// resetAt empties at: cleared, or made anew when it held more than keepIndex entries since it was made; the
// infos are not indexed then.
func (sub *Subscription) resetAt() {
	if sub.atPeak > keepIndex {
		sub.at = map[uint64]int{}
	} else {
		clear(sub.at)
	}
	sub.atPeak, sub.off, sub.indexed = 0, 0, false
}

// own makes infos the mailbox's own before it is written in place.
func (sub *Subscription) own() {
	if sub.shared {
		sub.infos, sub.shared = slices.Clone(sub.infos), false
	}
}

// prune drops the infos of exchanges the feeder no longer holds; a message says them in Dropped.
func (sub *Subscription) prune(from uint64) {
	sub.own()
	kept := sub.infos[:0]
	indexed := sub.indexed
	clear(sub.at)
	sub.off = 0
	for _, in := range sub.infos {
		if in.ID >= from {
			if indexed {
				sub.written++
				sub.at[in.ID] = len(kept)
			}
			kept = append(kept, in)
		}
	}
	sub.lost += uint64(len(sub.infos) - len(kept))
	clear(sub.infos[len(kept):])
	sub.infos = kept
}

// Ready is signalled when Take may have something (or the service stopped).
func (sub *Subscription) Ready() <-chan struct{} { return sub.ready }

// Take returns what was published since the last Take, at most InfoChunk infos at a time (a message with more to
// follow says Pending, and the Seq of the message before), without waiting; ok is false when there is nothing.
func (sub *Subscription) Take() (m Msg, ok bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if !sub.has {
		return Msg{}, false
	}
	m = Msg{Epoch: sub.epoch, From: sub.from, Dropped: sub.dropped + sub.lost}
	if len(sub.infos) > InfoChunk {
		m.Infos = append([]Info(nil), sub.infos[:InfoChunk]...)
		if sub.indexed {
			for _, in := range m.Infos {
				delete(sub.at, in.ID)
			}
			// the rest keep their entries: at counts from off, moved past the chunk (rewriting the rest's entries
			// on every chunk made draining N infos cost N²/InfoChunk map writes)
			sub.off += InfoChunk
		}
		sub.infos = sub.infos[InfoChunk:]
		m.Seq, m.Pending = sub.taken, true
		sub.signal() // more follows
		return m, true
	}
	m.Infos, m.Report, m.Seq, m.Pending, m.Final = sub.infos, sub.report, sub.seq, sub.pending, sub.final
	sub.infos, sub.report, sub.has, sub.shared = nil, nil, false, false
	sub.resetAt()
	sub.taken = sub.seq
	return m, true
}

// Next waits for the next message; ok is false when the service stopped (or ctx ended) and nothing is left.
func (sub *Subscription) Next(ctx context.Context) (Msg, bool) {
	for {
		if m, ok := sub.Take(); ok {
			return m, true
		}
		sub.mu.Lock()
		ended := sub.ended
		sub.mu.Unlock()
		if ended {
			return Msg{}, false
		}
		select {
		case <-sub.ready:
		case <-ctx.Done():
			return Msg{}, false
		}
	}
}
