package recorder

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Options bound what the recorder keeps.
type Options struct {
	// BodyLimit is the number of bytes kept per body (default 1 MiB); the full size is still counted.
	BodyLimit int
	// MaxEvents is the number of SSE events kept per exchange (default 10000).
	MaxEvents int
	// MaxRPC is the number of JSON-RPC messages read (and paired) per exchange (default DefaultMaxRPC); the messages
	// beyond it are counted in Exchange.RPCSkipped, not read.
	MaxRPC int
	// Now is the clock (tests).
	Now func() time.Time
	// PublishDelay is how long after it arrived an event stream's recorded progress is published (default 2 ms):
	// by a timer, off the path that passes the bytes on, the events that came meanwhile together.
	PublishDelay time.Duration
}

// defaultMaxRPC is Options.MaxRPC's default: the JSON-RPC messages read per exchange, enough for a batch of 10,000
// requests and their 10,000 answers.
const defaultMaxRPC = 20000

// Recorder captures exchanges into a Store (and through it, the capture file and the subscribers).
type Recorder struct {
	store    *Store
	opts     Options
	inflight atomic.Int64 // exchanges begun and not ended
	// served counts the requests served and not ended (inbound exchanges) in its high 32 bits and the GET event
	// streams among them in its low 32 bits, in one word so that Requests reads both at one instant: a server that
	// stops lets the others finish and cuts the streams.
	served atomic.Int64
	late   lateQueue // the event streams whose progress is to be published (armLate)
	// the sorted names of the header maps listed last: outbound requests' (Transport) and responses' (writeHeader)
	reqOrder, respOrder headerOrder
}

// servedRequest and servedStream are what a request and a stream add to Recorder.served.
const (
	servedRequest = 1 << 32
	servedStream  = 1
)

// Requests is how many requests are being served (inbound exchanges begun and not ended), and how many of them are
// GET requests answered with an event stream that has begun: those would not end on their own (a session's
// standalone stream, the legacy /sse stream), whereas a POST answered with an event stream ends once it has
// answered. A server that stops waits for the requests that are not such streams, then ends the streams.
func (rec *Recorder) Requests() (open, streams int64) {
	v := rec.served.Load()
	return v >> 32, v & (servedRequest - 1)
}

// Wait waits until every exchange begun has ended (its record handed to the store and the capture file), or ctx
// ends. A server that stops calls it after closing its connections: a stream cut then still gets its record.
func (rec *Recorder) Wait(ctx context.Context) error {
	for rec.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d exchanges still open: %w", rec.inflight.Load(), ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}

// New returns a recorder feeding store.
func New(store *Store, opts Options) *Recorder {
	if opts.BodyLimit == 0 {
		opts.BodyLimit = 1 << 20
	}
	if opts.MaxEvents == 0 {
		opts.MaxEvents = 10000
	}
	if opts.MaxRPC == 0 {
		opts.MaxRPC = defaultMaxRPC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PublishDelay <= 0 {
		opts.PublishDelay = 2 * time.Millisecond
	}
	return &Recorder{store: store, opts: opts}
}

// Store returns the store the recorder feeds.
func (rec *Recorder) Store() *Store { return rec.store }

// live is an exchange being recorded: the handler goroutine mutates it under mu and publishes snapshots.
type live struct {
	rec *Recorder
	mu  sync.Mutex
	ex  Exchange
	t0  time.Time

	reqParsed bool
	reqEOF    bool
	onPath    atomic.Bool // (inbound) counted in the store's onPath until its answer starts (answered)
	sse       *SSEParser
	ended     bool
	// (see the first event's window below; here, where the fields fit the exchange's padding)
	out, lateDue, cutDue bool
	totalSet             bool // Timings.Total was taken when the response ended (an outbound exchange derived from another)
	// An event stream's progress is published by the late timer, off the path that passes the bytes on (see
	// recordPending): parsed is the number of events whose JSON-RPC messages have been read, dirty whether
	// anything is yet to be published.
	parsed  int
	dirty   bool
	armed   bool        // in the recorder's late queue: what is pending is published by its next run (armLate)
	gone    atomic.Bool // ended: the late queue passes it over, and lets it go when it compacts (lateQueue.add)
	lateGen uint64      // the late queue's run it was queued for (lateQueue.gen)
	pairer  replyPairer // pairs the answers in ex.RPC with their requests, examining each message once

	// the wrappers of the request body, the response writer (inbound) and the response body (outbound), in the
	// same allocation as the exchange they record
	tee teeBody
	cw  captureWriter
	rb  recordedBody
	ctx liveCtx // (inbound) the request's context, with this exchange under liveKey
	// the first events, the first note and the first two JSON-RPC messages, in the same allocation too: serve's
	// legacy answer is a stream of two events (a priming event, then the answer's), its router notes the era of
	// every request, and a call is a request and its answer
	evBuf   [2]SSEEvent
	noteBuf [1]Note
	rpcBuf  [2]RPC // the list of a request's message and its answer's

	// An outbound exchange derived from the inbound one it was made for (Transport.Derive, derive.go). The locks
	// are taken parent first.
	parent    *live // (outbound) the inbound exchange, set once before its response is recorded
	child     *live // (inbound) the outbound exchange derived from this one, until this one ends
	derived   bool  // (outbound) its response is the parent's, byte for byte so far
	reqShared bool  // (outbound) its request body is the parent's
	mirrored  bool  // (outbound) ex.RPC is a copy of the parent's list (published while it streams)
	// longStream: (inbound) an event stream that would not end on its own — a GET's, or a POST's that has answered
	// every request it carried — counted in Recorder.served; calls, answers: the requests and responses among
	// ex.RPC[:rpcCounted] (see countAnswers).
	longStream                 bool
	cutN                       int32 // (see below)
	calls, answers, rpcCounted int
	upDone                     bool          // (outbound, derived) its response body ended; it completes with the parent
	cutFrom                    int32         // (see below)
	pend                       *pendBuf      // (outbound, derived) the last piece read, not passed on to the client yet (pooled)
	pendAt                     time.Duration // when it was read; (inbound) when the write held in the window came (cutDue)
	// final is the record it completed with, for the store's readers of an exchange begun without a snapshot
	// (Store.beginLazy) that read it as it ended
	final *Exchange
	// The first event's window — from the request's arrival to its answer's first bytes out (the first flush) —
	// holds only what must come before those bytes (docs/benchmarks-store.md, "round seven"): out (inbound) says
	// that the first flush passed (or a second write came without one: captureWriter.Write), and lateDue that the late queue is
	// to be joined then (armLate); cutDue (inbound) that a write of an event stream's in the window is in the
	// record's body from cutFrom on (cutN bytes, written at pendAt, which only an outbound exchange uses
	// otherwise), its events not cut yet nor passed to the derived copy (cutHeld). The flags and offsets sit in the
	// padding above: the exchange, with the allocation's header (8 bytes for an object of more than 512 with
	// pointers), stays in main's size class of 1,280 bytes.
}

// heldLive is a completed record as the store publishes it, with room for the lists that a live exchange keeps in
// its own buffers (evBuf, noteBuf, rpcBuf): own copies them here, in the record's one allocation, so that a record
// waiting in a subscriber's queue or the capture writer's does not keep its live exchange alive — and through it
// the request, the response writer and the connection (TestPublishedRecordsLetTheirRequestsGo).
type heldLive struct {
	ex      Exchange
	evBuf   [2]SSEEvent
	noteBuf [1]Note
	rpcBuf  [2]RPC
}

// heldPair is the records of a proxied call completed together (Store.completePair) in one allocation: the upstream
// copy derived from the client's exchange, and that exchange's.
type heldPair struct {
	derived, client heldLive
	sameRPC         bool // the derived record's JSON-RPC messages are the client's list (completeDerived)
}

// own copies into h the lists of h.ex that are in the buffers of a or b (either may be nil).
func (h *heldLive) own(a, b *live) {
	for _, l := range [2]*live{a, b} {
		if l == nil {
			continue
		}
		// a list in one of l's buffers starts at its first element (made as buf[:0]); grown past it, it moved
		if len(h.ex.Events) > 0 && &h.ex.Events[0] == &l.evBuf[0] {
			h.ex.Events = h.evBuf[:copy(h.evBuf[:], h.ex.Events):len(h.ex.Events)]
		}
		if len(h.ex.Notes) > 0 && &h.ex.Notes[0] == &l.noteBuf[0] {
			h.ex.Notes = h.noteBuf[:copy(h.noteBuf[:], h.ex.Notes):len(h.ex.Notes)]
		}
		if len(h.ex.RPC) > 0 && &h.ex.RPC[0] == &l.rpcBuf[0] {
			h.ex.RPC = h.rpcBuf[:copy(h.rpcBuf[:], h.ex.RPC):len(h.ex.RPC)]
		}
	}
}

type liveKey struct{}

// liveCtx is the context of a request being recorded: its parent's, with the live exchange under liveKey — what
// context.WithValue makes, without an allocation of its own (it lives in the exchange's). Every other key, Done,
// Err and Deadline are the parent's, so a context derived from it finds the parent's cancellation as it would
// through WithValue's.
type liveCtx struct {
	context.Context
	l *live
}

func (c *liveCtx) Value(key any) any {
	if _, ok := key.(liveKey); ok {
		return c.l
	}
	return c.Context.Value(key)
}

func (c *liveCtx) String() string { return "recorder.liveCtx" }

// AddNote attaches a note to the exchange being served in ctx (a no-op outside the capture).
func AddNote(ctx context.Context, key, value string) {
	if l, ok := ctx.Value(liveKey{}).(*live); ok {
		l.addNote(key, value)
	}
}

func (l *live) addNote(key, value string) {
	l.mu.Lock()
	if l.ex.Notes == nil {
		l.ex.Notes = l.noteBuf[:0]
	}
	l.ex.Notes = append(l.ex.Notes, Note{Key: key, Value: value})
	l.mu.Unlock()
}

// AddToggle records that a toggle altered the exchange being served in ctx.
func AddToggle(ctx context.Context, f ToggleChange) {
	if l, ok := ctx.Value(liveKey{}).(*live); ok {
		l.mu.Lock()
		l.ex.Toggles = append(l.ex.Toggles, f)
		l.mu.Unlock()
	}
}

// exchangeID returns the id of the exchange being served in ctx, or 0.
func exchangeID(ctx context.Context) uint64 {
	if l, ok := ctx.Value(liveKey{}).(*live); ok {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.ex.ID
	}
	return 0
}

// Middleware records every request that passes through it. Put it outermost, so that what it records is what
// crossed the wire.
func (rec *Recorder) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := rec.begin(r)
		// A copy: net/http keeps using its own *Request (its Body type decides how an unread body is handled
		// after the handler, an Expect: 100-continue one included), so the original must stay as it was. Its
		// context is the exchange's own (liveCtx), in the exchange's allocation.
		l.ctx = liveCtx{Context: r.Context(), l: l}
		r = r.WithContext(&l.ctx)
		if r.Body != nil && r.Body != http.NoBody {
			l.tee = teeBody{rc: r.Body, l: l}
			r.Body = &l.tee
		}
		cw := &l.cw
		*cw = captureWriter{w: w, l: l}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					err := errors.New("handler aborted the response")
					if c := context.Cause(r.Context()); c != nil && !errors.Is(c, context.Canceled) {
						err = c // the server cut it (it stopped: see server.Serve); a proxy's upstream read failed with it
					}
					l.finish(cw, r, err)
					panic(p)
				}
				// Answer first, so that the record shows the 500 the client got.
				if !cw.wroteHeader {
					http.Error(cw, "internal error", http.StatusInternalServerError)
				}
				l.finish(cw, r, fmt.Errorf("handler panicked: %v", p))
			}
		}()
		next.ServeHTTP(cw, r)
		var err error
		if cerr := r.Context().Err(); cerr != nil && !cw.wroteHeader {
			err = errors.New("client went away before a response")
		}
		l.finish(cw, r, err)
		l.letGo(cw)
	})
}

// letGo lets net/http's objects go once the handler returned and the exchange completed. The request's context is
// the exchange's (liveCtx, in its allocation), and a handler may keep it past its return — the go-sdk keeps an
// initialize's for its session's life — so what the exchange refers to stays alive with it: net/http's response
// (the handler returned: a ResponseWriter may not be used after ServeHTTP returns), through it the request it
// answered, and through the request's body the connection's state. The body is let go only once read to its end
// (another goroutine may still be reading it: a reverse proxy's transport); from then on it reads as it ended.
// TestKeptContextLetsTheRequestGo.
func (l *live) letGo(cw *captureWriter) {
	cw.w = handlerReturned{}
	if l.tee.l != nil {
		l.tee.letGo()
	}
}

// handlerReturned is the writer a captureWriter is left with once its handler returned (live.letGo). A late use,
// which net/http does not allow, fails rather than panics.
type handlerReturned struct{}

func (handlerReturned) Header() http.Header { return http.Header{} }

func (handlerReturned) WriteHeader(int) {}

func (handlerReturned) Write([]byte) (int, error) { return 0, errHandlerReturned }

// errHandlerReturned is what a write after the handler returned gets (net/http's own says the same in its words).
var errHandlerReturned = errors.New("mcpwatch: response written after its handler returned")

func (rec *Recorder) begin(r *http.Request) *live {
	now := rec.opts.Now()
	l := &live{rec: rec, t0: now}
	l.ex = Exchange{
		Kind:       Inbound,
		State:      StatePending,
		Start:      now,
		RemoteAddr: r.RemoteAddr,
		Method:     r.Method,
		URL:        r.RequestURI,
		Host:       r.Host,
		Proto:      r.Proto,
		ReqHeaders: requestHeaders(r),
	}
	if l.ex.URL == "" {
		l.ex.URL = r.URL.RequestURI()
	}
	if r.Body == nil || r.Body == http.NoBody {
		l.reqEOF = true
	}
	rec.inflight.Add(1)
	rec.served.Add(servedRequest)
	l.onPath.Store(true)
	rec.store.onPath.Add(1)
	// no snapshot unless someone takes Began updates (--no-tui): Get and Snapshot snapshot it while in flight
	rec.store.beginLazy(l, func(id uint64) { l.ex.ID = id })
	return l
}

// answered takes the request off its way (Store.onPath): the first flush of its answer passed, or it finished.
func (l *live) answered() {
	if l.onPath.CompareAndSwap(true, false) {
		l.rec.store.onPath.Add(-1)
	}
}

// publish sends the current state to the store (and so to subscribers). Callers hold l.mu.
func (l *live) publish() {
	l.parseRequest()
	l.rec.store.update(l.ex.snapshot())
}

// parseRequest finds the JSON-RPC messages of the request body once it has been read whole. Callers hold l.mu.
func (l *live) parseRequest() {
	if l.reqEOF && !l.reqParsed {
		l.reqParsed = true
		// Room for an answer, which usually follows (the request's messages come first).
		req, skipped := appendRPC(l.rpcBuf[:0], 1+len(l.ex.RPC), l.rec.opts.MaxRPC, l.ex.ReqBody.Data, FromClient, -1)
		l.ex.RPCSkipped += skipped
		if len(req) > 0 {
			// In front of what the response brought (when it came first): pair again from the start, once.
			if over := len(req) + len(l.ex.RPC) - l.rec.opts.MaxRPC; over > 0 {
				l.ex.RPC = l.ex.RPC[:len(l.ex.RPC)-over]
				l.ex.RPCSkipped += over
			}
			l.ex.RPC = append(req, l.ex.RPC...)
			l.pairer.reset()
			l.ex.memo = nil // looked at again from the start, once
		}
		l.pairer.pair(l.ex.RPC)
	}
}

// addRPC reads the JSON-RPC messages of a response body or event, within Options.MaxRPC. Callers hold l.mu.
func (l *live) addRPC(body []byte, event int) {
	var skipped int
	l.ex.RPC, skipped = appendRPC(l.ex.RPC, 0, l.rec.opts.MaxRPC, body, FromServer, event)
	l.ex.RPCSkipped += skipped
}

func (l *live) addRequestBytes(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	appendBounded(&l.ex.ReqBody, p, l.rec.opts.BodyLimit)
}

// shareRequestBytes is addRequestBytes for bytes nobody writes again (ReadBody's): the record's body is p itself
// when it has none yet and p fits its bound (p's capacity its length: an append to it copies).
func (l *live) shareRequestBytes(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := &l.ex.ReqBody; b.Data == nil && b.Size == 0 && len(p) <= l.rec.opts.BodyLimit {
		b.Data, b.Size = p, int64(len(p))
		return
	}
	appendBounded(&l.ex.ReqBody, p, l.rec.opts.BodyLimit)
}

func appendBounded(b *Body, p []byte, limit int) {
	b.Size += int64(len(p))
	if room := limit - len(b.Data); room > 0 {
		b.Data = append(b.Data, p[:min(room, len(p))]...)
	}
	if b.Size > int64(len(b.Data)) {
		b.Truncated = true
	}
}

// writeHeader records the response headers. An event stream's start is published with its first events (see
// recordPending), after the headers reached the client.
func (l *live) writeHeader(status int, h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ex.Status = status
	c := l.child
	if c != nil {
		c.mu.Lock() // the parent's first (derive.go)
		defer c.mu.Unlock()
	}
	if c != nil && c.derived && sameHeaders(c.ex.RespHeaders, h) {
		l.ex.RespHeaders = clip(c.ex.RespHeaders) // the upstream's, passed on as they were: one list for both
	} else {
		// an outbound exchange's request list has room for it past its own (Transport.RoundTrip), then is clipped:
		// nothing appended to it reaches this one; and this one is clipped too, the room being the last answer's
		// length: the upstream copy's record is published as built (completeOwned), its lists clipped as frozen's
		var room Headers
		if q := l.ex.ReqHeaders; l.ex.Kind == Outbound {
			room, l.ex.ReqHeaders = q[len(q):], clip(q)
		}
		l.ex.RespHeaders = clip(l.rec.respOrder.listIn(room, 0, h))
	}
	l.ex.Timings.Wait = l.rec.opts.Now().Sub(l.t0)
	if isEventStream(h) {
		if l.derived {
			l.sse = &mirrorParser // the parent's events are this one's: nothing is cut here (see derive.go)
		} else {
			l.sse = newSSEParser(l.rec.opts.BodyLimit)
		}
		if l.ex.Kind == Inbound && l.ex.Method == http.MethodGet && !l.longStream {
			l.longStream = true
			l.rec.served.Add(servedStream)
		}
		l.ex.State = StateStreaming
		l.dirty = true
		l.armLate()
	}
	if c != nil && c.derived && (c.sse == nil) != (l.sse == nil) {
		c.diverge() // one side is an event stream and the other not: their events differ
	}
}

// isEventStream reports whether h's Content-Type is text/event-stream (case-insensitively, parameters or not):
// h.Get's key is already canonical, so the map is read directly (Get checked and canonicalised it again, a
// response's most frequent look-up on the recorder's path).
func isEventStream(h http.Header) bool {
	const es = "text/event-stream"
	vs := h["Content-Type"]
	return len(vs) > 0 && len(vs[0]) >= len(es) && strings.EqualFold(vs[0][:len(es)], es)
}

// armLate makes sure what is pending is published at most Options.PublishDelay after the first of it: the
// exchange joins the recorder's late queue, whose one timer publishes the progress of every stream in it
// (publishLate). Callers hold l.mu.
func (l *live) armLate() {
	if l.armed || l.derived {
		return // a derived exchange's progress is published by its parent's (recordPending)
	}
	if l.ex.Kind == Inbound && !l.out {
		l.lateDue = true // once the first bytes are out (firstOut): the timer is not armed in the first event's window
		return
	}
	l.joinLate()
}

// joinLate queues l in the recorder's late queue (not queued yet: armed). Callers hold l.mu.
func (l *live) joinLate() {
	l.armed = true
	l.rec.late.add(l, l.rec.opts.PublishDelay)
}

// writeBody records response bytes as they pass. An event stream's events are cut (with the time they arrived)
// but their JSON-RPC messages are read and the state published only by recordPending, which the late timer runs
// Options.PublishDelay after the first of them, so that recording an event never delays it.
func (l *live) writeBody(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cutHeld()
	l.writeBodyLocked(p)
}

// writeBodyLocked is writeBody. Callers hold l.mu.
func (l *live) writeBodyLocked(p []byte) { l.recordPiece(p, false, 0) }

// recordPiece records p, a piece of the answer the client receives: appended to the body, or, held, already in it
// at from (written in the first event's window at pendAt: writeBodyInWindow), its events cut. The outbound
// exchange derived from this one is checked against it: what the client receives is what it read, or it records
// its own from here on. Callers hold l.mu (not its child's).
func (l *live) recordPiece(p []byte, held bool, from int) {
	if c := l.child; c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.derived && !c.passedOn(p) {
			c.diverge()
		}
		if c.derived {
			n := len(l.ex.Events)
			l.recordBytes(p, held, from)
			c.mirror(l, n)
			return
		}
	}
	l.recordBytes(p, held, from)
}

func (l *live) recordBytes(p []byte, held bool, from int) {
	if held {
		l.cutEvents(p, from, l.pendAt)
	} else {
		l.appendResponse(p, -1)
	}
}

// writeBodyInWindow is writeBody for a write in the first event's window (before the answer's first flush): an
// event stream's bytes are copied into the record now (the caller keeps p), and what they mean — their events
// cut, the derived copy's piece passed on — comes after the flush (cutHeld, from firstOut), or before anything
// reads the record or the copy reads again.
func (l *live) writeBodyInWindow(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cutHeld()
	b := &l.ex.RespBody
	if l.sse == nil || l.sse == &mirrorParser || l.ended || len(b.Data)+len(p) > min(l.rec.opts.BodyLimit, math.MaxInt32) {
		l.writeBodyLocked(p)
		return
	}
	if b.Data == nil && len(p) < streamBodyCap && l.rec.opts.BodyLimit >= streamBodyCap {
		b.Data = make([]byte, 0, streamBodyCap) // as appendResponse's
	}
	l.cutDue, l.cutFrom, l.cutN, l.pendAt = true, int32(len(b.Data)), int32(len(p)), l.rec.opts.Now().Sub(l.t0)
	appendBounded(b, p, l.rec.opts.BodyLimit)
}

// cutHeld does what writeBody would have done after copying the bytes of the write held in the window
// (writeBodyInWindow): the derived copy's piece checked and passed on, the events cut (arrived when written).
// Callers hold l.mu (not its child's).
func (l *live) cutHeld() {
	if !l.cutDue {
		return
	}
	l.cutDue = false
	from := int(l.cutFrom)
	l.recordPiece(l.ex.RespBody.Data[from:from+int(l.cutN)], true, from)
}

// appendResponse records response bytes; the events they complete arrived at (< 0: now). Callers hold l.mu.
func (l *live) appendResponse(p []byte, at time.Duration) {
	if l.ended {
		return // recorded already (and its parser put back)
	}
	if l.sse == nil {
		appendBounded(&l.ex.RespBody, p, l.rec.opts.BodyLimit)
		return
	}
	b := &l.ex.RespBody
	if b.Data == nil && len(p) < streamBodyCap && l.rec.opts.BodyLimit >= streamBodyCap {
		b.Data = make([]byte, 0, streamBodyCap) // a stream's first piece (serve's legacy answers: a priming event)
	}
	held := len(b.Data)
	appendBounded(b, p, l.rec.opts.BodyLimit)
	l.cutEvents(p, held, at)
}

// cutEvents cuts the events that p, a piece of the response body appended to it at from, completes; they arrived
// at (< 0: now). Callers hold l.mu.
func (l *live) cutEvents(p []byte, from int, at time.Duration) {
	b := &l.ex.RespBody
	// the events are cut straight into the record (beyond MaxEvents: counted, then cut off again); the slots
	// past its length belong to the live exchange alone (a snapshot's Events are clipped to their length). They
	// are cut from the body's copy of p when it kept all of p: a body is only ever appended to, so the events'
	// texts are its bytes, not copies of their own.
	n, evs := len(l.ex.Events), l.ex.Events
	if evs == nil {
		evs = l.evBuf[:0]
	}
	if len(b.Data)-from >= len(p) {
		evs = l.sse.AppendFeedInPlace(evs, b.Data[from:from+len(p)])
	} else {
		evs = l.sse.AppendFeed(evs, p)
	}
	if len(evs) > 0 {
		l.ex.Events = evs
	}
	if len(l.ex.Events) == n {
		return
	}
	if keep := max(n, l.rec.opts.MaxEvents); len(l.ex.Events) > keep {
		l.ex.EventsSkipped += len(l.ex.Events) - keep
		clear(l.ex.Events[keep:])
		l.ex.Events = l.ex.Events[:keep]
	}
	if at < 0 {
		at = l.rec.opts.Now().Sub(l.t0)
	}
	for i := n; i < len(l.ex.Events); i++ {
		l.ex.Events[i].At = at
		l.dirty = true
	}
	if l.dirty {
		l.armLate()
	}
}

// recordPending reads the JSON-RPC messages of the events cut so far and queues the stream's state for the
// subscribers if it changed since the last time (Store.update; publishLate then hands over what it queued at
// once). The late queue's timer runs it, at most Options.PublishDelay after the first of them passed: not the
// goroutine that passes the bytes on (after a flush, before the next read), whose work there would compete with
// the client reading the event on a busy machine (BenchmarkProxySideBySide, first-event).
// It reports whether it queued anything.
func (l *live) recordPending() bool {
	if pl := l.parent; pl != nil {
		pl.mu.Lock() // the parent's first (derive.go)
		defer pl.mu.Unlock()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.armed = false
	queued := l.publishPending()
	if c := l.child; c != nil {
		// the outbound exchange derived from this one is not queued: its events are this one's
		c.mu.Lock()
		queued = c.publishPending() || queued
		c.mu.Unlock()
	}
	return queued
}

// publishPending reads the JSON-RPC messages of the events cut so far and publishes the stream's state, if it
// changed since the last time, and reports whether it did. Callers hold l.mu (and its parent's).
func (l *live) publishPending() bool {
	l.cutHeld()
	if !l.dirty || l.ended {
		return false
	}
	if l.derived {
		l.mirrorRPC() // the parent's messages are this one's
	} else {
		l.parseEvents()
	}
	l.dirty = false
	l.publish()
	return true
}

// parseEvents reads the JSON-RPC messages of the events not read yet. Callers hold l.mu.
func (l *live) parseEvents() {
	if l.parsed == len(l.ex.Events) {
		return
	}
	l.parseRequest() // first when it can be: its list is made with room for the answer that follows
	for ; l.parsed < len(l.ex.Events); l.parsed++ {
		// read in place: the scanner copies what it keeps (ids, methods), and the data is never written
		d := l.ex.Events[l.parsed].Data
		l.addRPC(unsafe.Slice(unsafe.StringData(d), len(d)), l.parsed)
	}
	l.pairer.pair(l.ex.RPC)
	l.countAnswers()
}

// countAnswers counts the requests and responses among the messages not counted yet (each message once), and
// marks an inbound POST's event stream that has as many responses as requests as one that would not end on its own
// (Recorder.Requests): a server that stops may cut it, as it cuts a GET's stream, rather than wait for it. Callers
// hold l.mu.
func (l *live) countAnswers() {
	if l.ex.Kind != Inbound || l.longStream || l.ex.Method != http.MethodPost || l.ex.State != StateStreaming {
		return
	}
	for _, m := range l.ex.RPC[l.rpcCounted:] {
		switch {
		case m.IsResponse && m.From == FromServer:
			l.answers++
		case m.Method != "" && len(m.ID) > 0 && m.From == FromClient:
			l.calls++
		}
	}
	l.rpcCounted = len(l.ex.RPC)
	if l.calls > 0 && l.answers >= l.calls {
		l.longStream = true
		l.rec.served.Add(servedStream)
	}
}

func (l *live) finish(cw *captureWriter, r *http.Request, err error) {
	l.answered()
	// Record the body even when the handler did not read it (a 401 before reading, say), as much of it as net/http
	// itself reads before replying. A client that sent "Expect: 100-continue" holds its body back until it hears
	// 100 Continue, which an answer given without reading never sends: reading would stall the answer until the
	// client tired of waiting, so that body is left unread, as it is on the wire.
	if tb, ok := r.Body.(*teeBody); ok && !tb.eof.Load() && !(tb.n.Load() == 0 && strings.EqualFold(r.Header.Get("Expect"), "100-continue")) {
		_, _ = io.Copy(io.Discard, io.LimitReader(tb, maxPostHandlerRead+1))
	}
	l.mu.Lock()
	if !cw.wroteHeader {
		if err == nil {
			l.ex.Status = http.StatusOK // net/http's implicit answer
			l.ex.RespHeaders = l.rec.respOrder.list(cw.w.Header())
		}
		l.ex.Timings.Wait = l.rec.opts.Now().Sub(l.t0)
	}
	if err == nil && l.sse != nil && r.Context().Err() != nil {
		err = errors.New("stream closed by the client")
		if c := context.Cause(r.Context()); c != nil && !errors.Is(c, context.Canceled) {
			err = c // the server cut it (it stopped: see server.Serve)
		}
	}
	l.mu.Unlock()
	l.end(err)
}

// streamBodyCap is the room an event stream's recorded body starts with: serve's legacy answer to a short call (a
// priming event, then the answer's: 194 bytes for the echo tool) fits, in one allocation rather than one per
// event; a longer one grows as before. A stream's first piece larger than it is allocated as it comes.
const streamBodyCap = 256

// maxPostHandlerRead is how much of an unread request body net/http reads before it replies (its
// maxPostHandlerReadBytes); with more left, it closes the connection after the reply instead.
const maxPostHandlerRead = 256 << 10

// teeBody records a request body as it is read. A handler may leave the body to another goroutine and return (a
// reverse proxy's transport goes on sending a full-duplex request upstream), so the exchange's end looks at eof and
// n while that goroutine reads (atomics), and reads are serialised so that the record keeps the bytes' order.
type teeBody struct {
	rc  io.ReadCloser
	l   *live
	mu  sync.Mutex // held across a read and its recording, and a close
	eof atomic.Bool
	end error        // what ended the body's reads (with eof), under mu
	n   atomic.Int64 // bytes read so far
}

func (t *teeBody) Read(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.rc.Read(p)
	if n > 0 {
		t.n.Add(int64(n))
		t.l.addRequestBytes(p[:n])
	}
	t.endWith(err)
	return n, err
}

// endWith notes what ended the body's reads, the first time a read returns an error (err nil: not ended). t.mu is
// held.
func (t *teeBody) endWith(err error) {
	if err != nil && !t.eof.Load() {
		t.end = err
		t.eof.Store(true)
		t.l.mu.Lock()
		t.l.reqEOF = true
		t.l.mu.Unlock()
	}
}

// ReadBody reads size bytes of a request body (its Content-Length) into a new buffer, as io.ReadFull would, and
// returns those read. When body is the one the recorder's Middleware hands its handler, the buffer is also the
// exchange's record of those bytes, not a copy of them (a server that reads small bodies whole: they were in
// memory twice): the caller must not write into it. size is allocated at once: the caller bounds it (a stranger
// sends the Content-Length).
func ReadBody(body io.Reader, size int64) ([]byte, error) {
	if t, ok := body.(*teeBody); ok {
		return t.readWhole(size)
	}
	buf := make([]byte, size)
	n, err := io.ReadFull(body, buf)
	return buf[:n], err
}

// readWhole is ReadBody for the body t records: what Read does for each read, the bytes recorded as they are in
// the buffer when the record has none yet and they fit its bound.
func (t *teeBody) readWhole(size int64) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	buf := make([]byte, size)
	n := 0
	var err error
	for n < len(buf) && err == nil {
		var m int
		m, err = t.rc.Read(buf[n:])
		n += m
	}
	if n > 0 {
		t.n.Add(int64(n))
		t.l.shareRequestBytes(buf[:n:n])
	}
	t.endWith(err)
	switch {
	case n == len(buf):
		return buf, nil // as io.ReadFull: an end that came with the last bytes is not an error
	case err == io.EOF && n > 0:
		return buf[:n], io.ErrUnexpectedEOF
	}
	return buf[:n], err
}

// Close is serialised with Read, as net/http's own request body serialises them, so that letGo can replace rc.
func (t *teeBody) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rc.Close()
}

// letGo replaces a body read to its end by one that reads as it ended (live.letGo). A body not read to its end is
// left as it is, without taking mu: another goroutine's read may hold it while it waits on the client (a reverse
// proxy's transport sending a stalled upload upstream), and the handler's return must not wait for that read.
// Once eof is set, what ended the reads is in end (set before eof, under mu) and a read returns at once.
// TestLetGoDoesNotWaitForAReadInFlight.
func (t *teeBody) letGo() {
	if !t.eof.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, done := t.rc.(endedBody); done {
		return
	}
	if t.end == io.EOF {
		t.rc = endedEOF // no allocation for the usual end
	} else {
		t.rc = endedBody{err: t.end}
	}
}

var endedEOF io.ReadCloser = endedBody{err: io.EOF}

// endedBody is a request body read to its end: each read returns what ended it (io.EOF, or the error); closing it
// closes nothing (net/http closes the request's own body once the handler returned).
type endedBody struct{ err error }

func (b endedBody) Read([]byte) (int, error) { return 0, b.err }

func (endedBody) Close() error { return nil }

// captureWriter tees the response into the live exchange. It passes Flush, Hijack and the ResponseController
// through, so SSE streams reach the client event by event.
type captureWriter struct {
	w           http.ResponseWriter
	l           *live
	wroteHeader bool
	out         bool // the first event's window ended (firstOut)
	wrote       bool // a body write came in the window
}

func (c *captureWriter) Header() http.Header { return c.w.Header() }

func (c *captureWriter) WriteHeader(status int) {
	if c.wroteHeader {
		c.w.WriteHeader(status) // let net/http log the superfluous call as it would
		return
	}
	if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		c.w.WriteHeader(status)
		return
	}
	c.wroteHeader = true
	c.l.writeHeader(status, c.w.Header())
	c.w.WriteHeader(status)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		if c.w.Header().Get("Content-Type") == "" {
			c.w.Header().Set("Content-Type", http.DetectContentType(p))
		}
		c.WriteHeader(http.StatusOK)
	}
	window := !c.out
	if window && c.wrote {
		// a second write without a flush between: a handler that does not flush (its bytes go out as net/http's
		// buffer fills) has its progress published as it goes, as before
		c.firstOut()
		window = false
	}
	c.wrote = true
	n, err := c.w.Write(p)
	if n > 0 {
		if window {
			c.l.writeBodyInWindow(p[:n])
		} else {
			c.l.writeBody(p[:n])
		}
	}
	return n, err
}

func (c *captureWriter) Flush() {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if f, ok := c.w.(http.Flusher); ok {
		f.Flush()
	}
	c.l.answered() // what waited for its answer to start may run (Store.onPath)
	if !c.out {
		if c.wrote {
			c.firstOut()
		} else {
			// a flush of the headers alone (httputil.ReverseProxy's first, from a timer, may come before the
			// body's first write) does not end the window: the first bytes of the body have not gone out. The
			// stream's start is published all the same: its first event may be long in coming, or never come (a
			// session's standalone GET stream)
			c.l.headersOut()
		}
	}
	// nothing recorded here: the late timer publishes what was written (see recordPending)
}

// firstOut is the end of the first event's window: the answer's first bytes went out (its first flush returned),
// or the handler wrote twice without a flush. What recording did not do before them is done now: the held write's
// events cut (cutHeld) and the late timer armed for what is pending (armLate).
func (c *captureWriter) firstOut() {
	c.out = true
	l := c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out = true
	l.cutHeld()
	if l.lateDue {
		l.lateDue = false
		if !l.ended {
			l.armLate()
		}
	}
}

// headersOut is a flush of the answer's headers alone in the first event's window: the late timer is armed for
// what is pending (an event stream's start, recorded by writeHeader), which it publishes PublishDelay after the
// headers went out, as it did when writeHeader armed it; the window goes on for the body's first write.
func (l *live) headersOut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lateDue && !l.ended && !l.armed {
		l.lateDue = false
		l.joinLate()
	}
}

func (c *captureWriter) Unwrap() http.ResponseWriter { return c.w }

func (c *captureWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(c.w).Hijack()
}

// lateQueue is a recorder's queue of event streams whose recorded progress is pending (armLate): one timer
// publishes them all, Options.PublishDelay after the first joined, and the subscribers are handed their updates
// once for the whole group. Each stream had a timer of its own before: armed when its answer started and stopped
// when it ended (two operations on the runtime's timer heap for each stream), and a stream that outlived the delay
// woke a goroutine of its own and the subscribers for its update alone — at 16 concurrent legacy tools/calls, 40
// of them per 1,000 calls (docs/benchmarks-store.md, "round six").
type lateQueue struct {
	mu    sync.Mutex
	ls    []*live // in the order they joined; an exchange ended meanwhile is passed over (publishPending)
	spare []*live // the other list, reused
	t     *time.Timer
	armed bool // t is running
	runs  int  // times the queue was run (tests)
	// gen counts the runs that took the list; open is how many of the streams queued since the last one have
	// neither ended nor been published: when the last of them ends, the timer is stopped (releaseTimer), so that a
	// stream that ends within the delay while no other is open costs no run, as its own timer stopped cost none
	gen  uint64
	open int
	// compactAt: when ls is this long, the exchanges that ended are let go (a long Options.PublishDelay would keep
	// every one until the run), so that it holds at most about twice the streams queued and open; amortised O(1)
	compactAt int
}

// minLateCompact is the shortest late list that is compacted.
const minLateCompact = 256

// add queues l (not queued yet: live.armed) and makes sure the timer runs within delay.
func (q *lateQueue) add(l *live, delay time.Duration) {
	q.mu.Lock()
	if len(q.ls) >= max(q.compactAt, minLateCompact) {
		q.ls = slices.DeleteFunc(q.ls, func(l *live) bool { return l.gone.Load() })
		q.compactAt = 2 * len(q.ls)
	}
	q.ls = append(q.ls, l)
	l.lateGen = q.gen
	q.open++
	if !q.armed {
		q.armed = true
		if q.t == nil {
			rec := l.rec
			q.t = time.AfterFunc(delay, rec.publishLate)
		} else {
			q.t.Reset(delay)
		}
	}
	q.mu.Unlock()
}

// maxLateSpare is the longest late list kept for reuse.
const maxLateSpare = 4096

// publishLate is the late queue's timer: it publishes the pending progress of every stream queued, then hands the
// updates to the subscribers, in one group (none when every stream queued ended meanwhile, the most frequent case:
// their records are the store's to hand over, with its own group).
func (rec *Recorder) publishLate() {
	q := &rec.late
	q.mu.Lock()
	ls := q.ls
	q.ls, q.spare, q.armed = q.spare[:0], nil, false
	q.runs++
	q.gen++
	q.open = 0
	q.mu.Unlock()
	queued := false
	for _, l := range ls {
		if !l.gone.Load() {
			queued = l.recordPending() || queued
		}
	}
	if queued {
		rec.store.Publish()
	}
	clear(ls) // the exchanges are let go
	if cap(ls) <= maxLateSpare {
		q.mu.Lock()
		if q.spare == nil {
			q.spare = ls[:0]
		}
		q.mu.Unlock()
	}
}

// lateRuns is how many times the late queue was run.
func (rec *Recorder) lateRuns() int {
	rec.late.mu.Lock()
	defer rec.late.mu.Unlock()
	return rec.late.runs
}

// releaseTimer takes the exchange out of what the late queue publishes: it has ended (callers hold l.mu), so its
// entry, if any, is passed over (publishPending); when it was the last stream queued and open, the timer is
// stopped and the list let go.
func (l *live) releaseTimer() {
	if l.armed {
		q := &l.rec.late
		q.mu.Lock()
		if l.lateGen == q.gen {
			if q.open--; q.open == 0 && q.armed {
				q.t.Stop()
				q.armed = false
				clear(q.ls)
				q.ls = q.ls[:0]
			}
		}
		q.mu.Unlock()
	}
	l.armed = false
	l.gone.Store(true)
}

// sseParsers pools the parsers of event streams: an exchange's is put back when it completes (its events' texts
// are strings of their own), so that a stream costs no parser and no line buffers of its own.
var sseParsers = sync.Pool{New: func() any { return new(SSEParser) }}

func newSSEParser(maxLine int) *SSEParser {
	p := sseParsers.Get().(*SSEParser)
	p.MaxLine = maxLine
	return p
}

// releaseParser puts the exchange's parser back in the pool; l.sse stays non-nil (the exchange was a stream) but
// is never fed again. Callers hold l.mu, and the exchange has ended.
func (l *live) releaseParser() {
	p := l.sse
	if p == nil || p == &mirrorParser {
		return
	}
	l.sse = &mirrorParser
	if cap(p.buf) > 64<<10 || cap(p.data) > 64<<10 {
		return
	}
	*p = SSEParser{buf: p.buf[:0], data: p.data[:0]}
	sseParsers.Put(p)
}

// requestHeaders returns the request's headers in wire order when the connection recorded them, else sorted.
func requestHeaders(r *http.Request) Headers {
	if wc, ok := r.Context().Value(wireConnKey{}).(*wireConn); ok {
		if h := wc.headersFor(r); h != nil {
			return h
		}
	}
	h := FromHTTP(r.Header)
	if r.Host != "" && r.Header.Get("Host") == "" {
		h = append(Headers{{Name: "Host", Value: r.Host}}, h...)
	}
	return h
}

// appendSortedKeys appends h's names to dst, sorted.
func appendSortedKeys(dst []string, h http.Header) []string {
	for k := range h {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}
