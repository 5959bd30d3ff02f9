package recorder

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
)

// Notes that link an outbound exchange and the inbound exchange it was made for; the value is the other's id.
const (
	NoteInbound  = "inbound"  // on the outbound exchange
	NoteOutbound = "outbound" // on the inbound exchange (once per outbound request)
)

// Transport records the requests mcpwatch makes itself (a client ID metadata document fetch, an upstream request
// in proxy mode) as Outbound exchanges. Response bodies are recorded as the caller reads them, so a streamed
// upstream response shows up event by event; the exchange completes when the caller closes the body.
type Transport struct {
	Base     http.RoundTripper // nil: http.DefaultTransport
	Recorder *Recorder
	// Derive: the requests are made for the inbound exchange being served (their context's) and their responses
	// passed on to its client as they are read (a reverse proxy). While what the client receives is the same bytes,
	// the outbound exchange refers to the inbound one's body, events and JSON-RPC messages instead of recording and
	// parsing them a second time, and it completes with it (see derive.go). Where they differ (a rewritten body, a
	// client gone mid-stream), it records its own from the first difference on, as without Derive.
	Derive bool

	lastURL atomic.Pointer[urlText] // the last request's URL and its text (urlString)
	// respLen is the length of the last response's header list: a request's list is made with room for that many
	// past its own, where its answer's is made when it fits (writeHeader) — one allocation for both lists
	respLen atomic.Int32
}

// urlText is a URL and its String.
type urlText struct {
	u url.URL
	s string
}

// urlString is u.String(), the text of the last URL when u is the same URL: a proxy sends every request to its one
// upstream endpoint, and writing its URL again was an allocation and half a µs a proxied call.
func (t *Transport) urlString(u *url.URL) string {
	if last := t.lastURL.Load(); last != nil && last.u == *u {
		return last.s
	}
	c := &urlText{u: *u, s: u.String()}
	t.lastURL.Store(c)
	return c.s
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Recorder == nil {
		return base.RoundTrip(req)
	}
	rec := t.Recorder
	now := rec.opts.Now()
	l := &live{rec: rec, t0: now}
	l.ex = Exchange{
		Kind:       Outbound,
		State:      StatePending,
		Start:      now,
		Method:     req.Method,
		URL:        t.urlString(req.URL),
		Host:       req.Host,
		Proto:      "HTTP/1.1",
		ReqHeaders: rec.reqOrder.listIn(nil, int(t.respLen.Load()), req.Header),
	}
	if l.ex.Host == "" {
		l.ex.Host = req.URL.Host
	}
	in, _ := req.Context().Value(liveKey{}).(*live) // the inbound exchange being served, if any
	var pl *live                                    // the inbound exchange whose response this one's is (Derive)
	if t.Derive {
		pl = in
	}
	var replayed []byte // a body in memory, recorded once it was sent
	var sharedReq Body  // the inbound exchange's request body, when it is the same bytes as replayed
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		l.reqEOF = true
		l.reqShared = pl != nil && pl.noRequestBody() // both empty: the same messages (none)
	case pl != nil && req.GetBody != nil && req.ContentLength >= 0 && pl.sameRequestBody(req, &sharedReq):
		l.reqEOF = true
	case req.GetBody != nil && req.ContentLength >= 0 && req.ContentLength <= int64(rec.opts.BodyLimit):
		// A body held in memory (the caller can replay it): recorded from a replay, so that req.Body stays what
		// it is (net/http sends a body it knows to be in memory in one write with the headers).
		if rc, err := req.GetBody(); err == nil {
			data := make([]byte, req.ContentLength)
			_, err = io.ReadFull(rc, data)
			rc.Close()
			if err == nil {
				replayed = data
				l.reqEOF = true
				break
			}
		}
		fallthrough
	default:
		// A shallow copy with the tee as its body: RoundTrip must not modify the caller's request, and nothing
		// else of it changes (a deep Clone would copy every header for nothing).
		r2 := *req
		l.tee = teeBody{rc: req.Body, l: l}
		r2.Body = &l.tee
		req = &r2
	}
	// Link the outbound exchange and the inbound one it was made for (a proxied request, a CIMD fetch).
	var parent uint64
	if in != nil {
		in.mu.Lock()
		parent = in.ex.ID
		in.mu.Unlock()
	}
	rec.inflight.Add(1)
	var outNote string // the inbound exchange's note, its value this one's id
	// no snapshot of its own unless someone takes Began updates: Get and Snapshot snapshot it while in flight
	rec.store.beginLazy(l, func(id uint64) {
		if parent != 0 {
			// both links' values in one text: this one's id, then the inbound one's
			var buf [40]byte
			b := strconv.AppendUint(buf[:0], id, 10)
			k := len(b)
			ids := string(strconv.AppendUint(b, parent, 10))
			outNote = ids[:k]
			l.ex.Notes = append(l.noteBuf[:0], Note{Key: NoteInbound, Value: ids[k:]})
		}
		l.ex.ID = id
	})
	if parent != 0 {
		in.addNote(NoteOutbound, outNote)
	}

	resp, err := base.RoundTrip(req)
	if err != nil {
		l.mu.Lock()
		l.ex.Error = err.Error()
		l.ex.Timings.Wait = rec.opts.Now().Sub(l.t0)
		l.mu.Unlock()
		l.end(nil)
		return nil, err
	}
	l.mu.Lock()
	l.ex.Proto = resp.Proto
	if replayed != nil {
		// An answer came, so the request went out whole (net/http writes an in-memory body with the headers);
		// after an error nobody can say how much of it did, and none is claimed.
		l.ex.ReqBody = Body{Data: replayed, Size: int64(len(replayed))}
	} else if sharedReq.Data != nil {
		l.ex.ReqBody, l.reqShared = sharedReq, true
	}
	if !l.reqShared {
		pl = nil // its request's messages are its own: nothing is derived (a request whose body streams)
	}
	l.mu.Unlock()
	if pl != nil {
		l.link(pl) // before its headers are recorded: they arm the timer that publishes its progress
	}
	l.writeHeader(resp.StatusCode, resp.Header)
	l.mu.Lock()
	if n := int32(min(len(l.ex.RespHeaders), maxOrderNames)); n != t.respLen.Load() {
		t.respLen.Store(n)
	}
	l.mu.Unlock()
	l.rb = recordedBody{rc: resp.Body, l: l}
	resp.Body = &l.rb
	return resp, nil
}

// end completes an exchange.
func (l *live) end(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked(err)
}

// endLocked completes an exchange (and the outbound exchange derived from it, first). Callers hold l.mu.
func (l *live) endLocked(err error) {
	if l.ended {
		return
	}
	l.cutHeld() // a write held in the first event's window
	l.ended = true
	l.releaseTimer()
	if err != nil && l.ex.Error == "" {
		l.ex.Error = err.Error()
	}
	l.reqEOF = true
	l.parseRequest() // first: its list is made with room for the answer that follows
	if l.sse == nil {
		l.addRPC(l.ex.RespBody.Data, -1)
		l.pairer.pair(l.ex.RPC)
	} else {
		l.parseEvents()
	}
	if !l.totalSet {
		l.ex.Timings.Total = l.rec.opts.Now().Sub(l.t0)
	}
	if l.ex.Kind == Inbound {
		d := int64(servedRequest)
		if l.longStream {
			d += servedStream
		}
		l.rec.served.Add(-d)
	}
	l.ex.State = StateComplete
	var derived *Exchange // the record of the outbound exchange derived from this one, completed with it
	var h *heldLive       // the published copy (Store.complete's), its lists in l's buffers copied out (heldLive)
	if c := l.child; c != nil {
		// the outbound exchange derived from this one completes first, as it would have on its own (its answer
		// ended before this one's), from this one's exchange, in the same store call (completePair)
		l.child = nil
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.derived && (!c.upDone || len(c.pend.b) > 0) {
			c.diverge() // its body is still open, or its last piece did not reach the client
		}
		if c.derived {
			pair := new(heldPair) // both records in one allocation
			derived, h = c.completeDerived(pair, &l.ex), &pair.client
			c.final = derived
			l.ex.freezeInto(&h.ex)
			if pair.sameRPC {
				// the same messages: one list for both records (a capture line encodes it once: lineParts)
				h.ex.RPC = derived.RPC
			}
		}
	}
	if h == nil {
		h = new(heldLive)
		l.ex.freezeInto(&h.ex)
	}
	h.own(l, nil)
	l.final = &h.ex
	if derived != nil {
		l.rec.store.completePair(derived, &h.ex)
		l.rec.inflight.Add(-1) // the derived one's: it began in RoundTrip; its own end (endLocked) returns at once now
	} else {
		l.rec.store.completeOwned(&h.ex)
	}
	l.releaseParser()
	l.rec.inflight.Add(-1)
}

type recordedBody struct {
	rc io.ReadCloser
	l  *live
}

// Read records what it returns; an event stream's progress is published by the late timer (see recordPending),
// not here: a proxy passes on what a read returned and reads again, and recording it before that next read
// delayed the event on its way to the client (BenchmarkProxySideBySide, first-event).
func (b *recordedBody) Read(p []byte) (int, error) {
	if b.l.parent != nil {
		return b.readDerived(p)
	}
	n, err := b.rc.Read(p)
	if n > 0 {
		b.l.writeBody(p[:n])
	}
	if err != nil {
		if err == io.EOF {
			b.l.end(nil)
		} else {
			b.l.end(err)
		}
	}
	return n, err
}

func (b *recordedBody) Close() error {
	err := b.rc.Close()
	if b.l.parent != nil {
		b.l.upstreamEnded(nil)
		return err
	}
	b.l.end(nil)
	return err
}
