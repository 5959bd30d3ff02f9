package recorder

import (
	"bytes"
	"io"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"
)

// An outbound exchange derived from its inbound one (Transport.Derive): a reverse proxy reads the upstream's
// response and writes each piece it read to its client. The client's exchange records those bytes, cuts their
// events and reads their JSON-RPC messages; the outbound exchange, which read the same bytes a moment before,
// refers to them instead of recording and parsing them a second time:
//
//   - each piece it reads is held (pend, a pooled buffer) until the client's exchange records a write of the same
//     bytes (passedOn); the outbound exchange's body is then the client's (a clipped slice of it), and the events
//     that piece completed are the client's with the time the piece was read (mirror);
//   - its request body, when held in memory (GetBody) and the same bytes as the client's, is the client's;
//   - when its response ends it waits for the client's exchange, and completes just before it, from its record:
//     the same body, events (its own times) and messages, its own headers, status, timings, notes and error
//     (completeDerived).
//
// The first difference — a piece the client did not receive as it was read (a rewritten body, a write that
// failed, a client gone), a write that was not a piece read (a toggle's, an error page), one side an event stream
// and the other not, the client's exchange ending first — makes it record its own from there on (diverge): its
// body so far is the client's, its event parser a copy of the client's at that point, then the piece it held, and
// every later read as a non-derived outbound exchange records it. Either way its record is the one it would have
// recorded on its own (TestDerivedRecordsAreTheRecordedOnes).
//
// Locks: the parent's, then the child's.

// derivedRecords counts the records completed derived (tests).
var derivedRecords atomic.Uint64

// mirrorParser marks a derived exchange's response as an event stream; it is never fed (diverge replaces it).
var mirrorParser SSEParser

// pendBuffers pools the buffers that hold a piece read until it is passed on, and replayed request bodies
// compared with the client's.
var pendBuffers = sync.Pool{New: func() any { return new(pendBuf) }}

type pendBuf struct{ b []byte }

// maxPooledPend is the largest buffer put back in the pool (a proxy reads 32 KiB at most at a time).
const maxPooledPend = 64 << 10

func getPend() *pendBuf { return pendBuffers.Get().(*pendBuf) }

func putPend(p *pendBuf) {
	if p != nil && cap(p.b) <= maxPooledPend {
		p.b = p.b[:0]
		pendBuffers.Put(p)
	}
}

// sameRequestBody reports whether req's body, held in memory (GetBody), is the bytes the inbound exchange l
// recorded whole; if so, it sets *b to l's request body.
func (l *live) sameRequestBody(req *http.Request, b *Body) bool {
	l.mu.Lock()
	rb := l.ex.ReqBody
	l.mu.Unlock()
	if rb.Truncated || rb.Size != req.ContentLength || int64(len(rb.Data)) != rb.Size || rb.Data == nil {
		return false
	}
	if br := InMemoryReader(req.Body); br != nil {
		// the body's bytes where they are (ReadAt moves nothing: the body goes out as it is), no replay
		if int64(br.Len()) != rb.Size || !sameAt(br, br.Size()-int64(br.Len()), rb.Data) {
			return false
		}
		*b = Body{Data: clip(rb.Data), Size: rb.Size}
		return true
	}
	rc, err := req.GetBody()
	if err != nil {
		return false
	}
	defer rc.Close()
	pb := getPend()
	defer putPend(pb)
	if cap(pb.b) < len(rb.Data)+1 {
		pb.b = make([]byte, 0, len(rb.Data)+1)
	}
	buf := pb.b[:len(rb.Data)+1] // one byte more: a body longer than it says is not the same
	n, err := io.ReadFull(rc, buf)
	if err != io.ErrUnexpectedEOF || !bytes.Equal(buf[:n], rb.Data) {
		return false
	}
	*b = Body{Data: clip(rb.Data), Size: rb.Size}
	return true
}

// The types io.NopCloser returns (net/http looks through them the same way to find a body it knows to be in memory).
var (
	nopCloserType         = reflect.TypeOf(io.NopCloser(nil))
	nopCloserWriterToType = reflect.TypeOf(io.NopCloser(struct {
		io.Reader
		io.WriterTo
	}{}))
)

// InMemoryReader returns the *bytes.Reader that body is io.NopCloser of (a request body held in memory, as the
// proxy and the server's small-body deadline hand it on), or nil. The recorder compares such a body with its
// client's in place; the proxy hands it upstream as it is while nothing has read it.
func InMemoryReader(body io.ReadCloser) *bytes.Reader {
	if body == nil {
		return nil
	}
	if t := reflect.TypeOf(body); t != nopCloserType && t != nopCloserWriterToType {
		return nil
	}
	br, _ := reflect.ValueOf(body).Field(0).Interface().(*bytes.Reader)
	return br
}

// sameAt reports whether br holds want at off, without moving its read position.
func sameAt(br *bytes.Reader, off int64, want []byte) bool {
	var chunk [512]byte
	for len(want) > 0 {
		n, err := br.ReadAt(chunk[:min(len(chunk), len(want))], off)
		if n == 0 || !bytes.Equal(chunk[:n], want[:n]) {
			return false
		}
		if err != nil && err != io.EOF {
			return false
		}
		off += int64(n)
		want = want[n:]
	}
	return true
}

// link makes the outbound exchange l derived from pl, unless pl has one already or has recorded response bytes.
func (l *live) link(pl *live) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.child != nil || pl.ended || pl.ex.RespBody.Size != 0 {
		return
	}
	l.mu.Lock()
	l.parent, l.derived = pl, true
	l.pend = getPend()
	l.mu.Unlock()
	pl.child = l
}

// readDerived is Read for an outbound exchange with a parent. What it changes is the exchange's own (the piece
// held, its end), under its own lock; the parent's is taken too only to diverge, which reads the parent's state.
func (b *recordedBody) readDerived(p []byte) (int, error) {
	l, pl := b.l, b.l.parent
	l.mu.Lock()
	stale := l.derived && len(l.pend.b) > 0
	l.mu.Unlock()
	if stale {
		pl.mu.Lock()
		pl.cutHeld() // its client's write held in the first event's window is passed on first (writeBodyInWindow)
		l.mu.Lock()
		if l.derived && len(l.pend.b) > 0 {
			l.diverge() // the last piece read did not reach the client as it was
		}
		l.mu.Unlock()
		pl.mu.Unlock()
	}
	n, err := b.rc.Read(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	if n > 0 {
		if l.derived {
			l.pend.b = append(l.pend.b, p[:n]...)
			if l.sse != nil {
				l.pendAt = l.rec.opts.Now().Sub(l.t0)
			}
		} else if !l.ended {
			l.appendResponse(p[:n], -1)
		}
	}
	if err == io.EOF {
		l.upstreamEndedLocked(nil)
	} else if err != nil {
		l.upstreamEndedLocked(err)
	}
	return n, err
}

// upstreamEnded records that the outbound exchange's response body ended (err: how, nil for its end or Close).
func (l *live) upstreamEnded(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.upstreamEndedLocked(err)
}

// upstreamEndedLocked: a derived exchange notes its end and completes with its parent; any other ends now.
// Callers hold l.mu (the fields written are the exchange's own: whoever reads them holds it too).
func (l *live) upstreamEndedLocked(err error) {
	if !l.derived {
		l.endLocked(err)
		return
	}
	if l.upDone {
		return
	}
	l.upDone = true
	if err != nil && l.ex.Error == "" {
		l.ex.Error = err.Error()
	}
	l.ex.Timings.Total = l.rec.opts.Now().Sub(l.t0)
	l.totalSet = true
}

// passedOn reports whether the client's exchange is recording a write of p as the piece l read: the same bytes,
// whole. Callers hold both locks.
func (l *live) passedOn(p []byte) bool {
	return len(p) == len(l.pend.b) && len(p) > 0 && bytes.Equal(p, l.pend.b)
}

// mirror takes what the parent recorded of the piece passed on: its body so far, and the events it completed
// (parent's events from n on), which arrived here when the piece was read. Callers hold both locks.
func (l *live) mirror(pl *live, n int) {
	l.pend.b = l.pend.b[:0]
	l.ex.RespBody = pl.ex.RespBody
	l.ex.RespBody.Data = clip(l.ex.RespBody.Data)
	l.ex.EventsSkipped = pl.ex.EventsSkipped
	if len(pl.ex.Events) > n {
		if l.ex.Events == nil {
			l.ex.Events = l.evBuf[:0] // as the client's: its record copies them out (heldLive.own, completeDerived)
		}
		for _, ev := range pl.ex.Events[n:] {
			ev.At = l.pendAt
			l.ex.Events = append(l.ex.Events, ev)
		}
		l.dirty = true
		l.armLate()
	}
}

// mirrorRPC takes the parent's JSON-RPC messages, read as far as its events go (its request body is this one's,
// its events are this one's). Callers hold both locks.
func (l *live) mirrorRPC() {
	pl := l.parent
	pl.parseRequest()
	pl.parseEvents()
	old := l.ex.RPC
	l.ex.RPC, l.ex.RPCSkipped = clip(pl.ex.RPC), pl.ex.RPCSkipped
	l.parsed, l.reqParsed, l.mirrored = len(l.ex.Events), true, true
	if len(old) > 0 && (len(l.ex.RPC) < len(old) || &l.ex.RPC[0] != &old[0]) && l.ex.memo != nil {
		// not the same list grown: what the memo found in the old one is looked for again
		m := *l.ex.memo
		m.rpc = rpcMemo{}
		l.ex.memo = &m
	}
}

// diverge makes a derived exchange record its own response from here on: what it read so far is what its parent
// recorded (the same bytes), then the piece it holds. Callers hold both locks (the parent's state is that of the
// bytes passed on so far).
func (l *live) diverge() {
	pl := l.parent
	l.derived = false
	if pl.child == l {
		pl.child = nil
	}
	if pl.lateDue && !pl.ended {
		// the parent is in its first event's window, its place in the late queue held (armLate): it takes it
		// now, before this one joins it on its own (below, or as it cuts the piece it holds) — where its stream's
		// headers put it, so that the subscribers hear of the two in the same order
		pl.lateDue = false
		pl.joinLate()
	}
	if l.sse != nil {
		if pl.sse != nil && pl.sse != &mirrorParser && l.ex.RespBody.Size > 0 {
			// the events cut so far are the parent's; a partly received one goes on from where the parent is
			p := *pl.sse
			p.buf, p.data = bytes.Clone(p.buf), bytes.Clone(p.data)
			p.cur = pl.sse.cur
			l.sse = &p
		} else {
			l.sse = newSSEParser(l.rec.opts.BodyLimit)
		}
	}
	if l.mirrored {
		// the parent's messages were published as this one's: they are read again, this one's own
		l.ex.RPC, l.ex.RPCSkipped, l.parsed, l.reqParsed, l.mirrored = nil, 0, 0, false, false
		l.pairer.reset()
		if l.ex.memo != nil {
			m := *l.ex.memo
			m.rpc = rpcMemo{}
			l.ex.memo = &m
		}
	}
	if len(l.pend.b) > 0 {
		l.appendResponse(l.pend.b, l.pendAt)
	}
	putPend(l.pend)
	l.pend = nil
	if l.upDone {
		l.endLocked(nil)
	} else if l.dirty {
		l.armLate() // its own timer from here on: what the parent published for it is published again
	}
}

// sameHeaders reports whether list is FromHTTP(h): the same names and values, in the same order.
func sameHeaders(list Headers, h http.Header) bool {
	names := 0
	for i := 0; i < len(list); names++ {
		name := list[i].Name
		vs := h[name]
		if len(vs) == 0 || i+len(vs) > len(list) || i > 0 && list[i-1].Name >= name {
			return false
		}
		for k, v := range vs {
			if list[i+k].Name != name || list[i+k].Value != v {
				return false
			}
		}
		i += len(vs)
	}
	return names == len(h)
}

// completeDerived completes a derived exchange from its parent's record prec, which holds the same response (and
// the same request body when reqShared), into p.derived, its record for the store (Store.completePair, with the
// parent's, p.client: the caller hands both over, then counts this one's end). p.sameRPC says whether its JSON-RPC
// messages are prec's list. Callers hold both locks.
func (l *live) completeDerived(p *heldPair, prec *Exchange) *Exchange {
	h := &p.derived
	l.ended = true
	l.derived = false // a read after its end (there is none: its body ended) records nothing
	l.releaseTimer()
	putPend(l.pend)
	l.pend = nil
	evs := l.ex.Events // this one's times; the texts are the parent's, compacted
	l.ex.State = StateComplete
	l.reqEOF = true
	own := l.ex.ReqBody
	shared := l.reqShared && own.Size == prec.ReqBody.Size && !prec.ReqBody.Truncated && len(own.Data) == len(prec.ReqBody.Data)
	// the parts that are the parent's are left out of the compaction and set after it
	l.ex.RespBody.Data, l.ex.Events, l.ex.RPC = nil, nil, nil
	if shared && own.Data != nil {
		l.ex.ReqBody.Data = nil
	}
	h.ex = l.ex // the store packs it and publishes it as it is (completePair)
	c := &h.ex
	c.RespBody, c.EventsSkipped = prec.RespBody, prec.EventsSkipped
	if prec.Events != nil {
		if len(prec.Events) <= len(h.evBuf) {
			c.Events = h.evBuf[:len(prec.Events):len(prec.Events)] // in the record's allocation (an answer's event or two)
		} else {
			c.Events = make([]SSEEvent, len(prec.Events))
		}
		for i, ev := range prec.Events {
			if i < len(evs) {
				ev.At = evs[i].At
			}
			c.Events[i] = ev
		}
	}
	if shared {
		if own.Data != nil {
			c.ReqBody = prec.ReqBody
		}
		c.RPC, c.RPCSkipped = prec.RPC, prec.RPCSkipped
		p.sameRPC = true
	} else {
		// its own request's messages, then the response's (read in the parent's record: the same bytes)
		var p replyPairer
		c.RPC, c.RPCSkipped = nil, 0
		var skipped int
		c.RPC, skipped = appendRPC(nil, 1, l.rec.opts.MaxRPC, c.ReqBody.Data, FromClient, -1)
		c.RPCSkipped += skipped
		if c.Events == nil && (l.sse == nil) {
			c.RPC, skipped = appendRPC(c.RPC, 0, l.rec.opts.MaxRPC, c.RespBody.Data, FromServer, -1)
			c.RPCSkipped += skipped
		} else {
			for i := range c.Events {
				d := c.Events[i].Data
				c.RPC, skipped = appendRPC(c.RPC, 0, l.rec.opts.MaxRPC, unsafe.Slice(unsafe.StringData(d), len(d)), FromServer, i)
				c.RPCSkipped += skipped
			}
		}
		p.pair(c.RPC)
	}
	derivedRecords.Add(1)
	h.own(l, l.parent) // its notes may be in this one's buffers, its messages in the parent's
	return c
}

// noRequestBody reports an inbound exchange whose request body is empty and ended.
func (l *live) noRequestBody() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reqEOF && l.ex.ReqBody.Size == 0
}
