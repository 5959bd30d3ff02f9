package recorder

import (
	"io"
	"net/http"
	"strconv"
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
		URL:        req.URL.String(),
		Host:       req.Host,
		Proto:      "HTTP/1.1",
		ReqHeaders: FromHTTP(req.Header),
	}
	if l.ex.Host == "" {
		l.ex.Host = req.URL.Host
	}
	var replayed []byte // a body in memory, recorded once it was sent
	switch {
	case req.Body == nil || req.Body == http.NoBody:
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
	parent := exchangeID(req.Context())
	if parent != 0 {
		l.ex.Notes = append(l.ex.Notes, Note{Key: NoteInbound, Value: strconv.FormatUint(parent, 10)})
	}
	rec.inflight.Add(1)
	l.ex.ID = rec.store.begin(l.ex.snapshot())
	if parent != 0 {
		AddNote(req.Context(), NoteOutbound, strconv.FormatUint(l.ex.ID, 10))
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
	}
	l.mu.Unlock()
	l.writeHeader(resp.StatusCode, resp.Header)
	l.rb = recordedBody{rc: resp.Body, l: l}
	resp.Body = &l.rb
	return resp, nil
}

// end completes an outbound exchange.
func (l *live) end(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	l.ended = true
	if l.armed {
		l.late.Stop()
		l.armed = false
	}
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
	l.ex.Timings.Total = l.rec.opts.Now().Sub(l.t0)
	l.ex.State = StateComplete
	l.rec.store.complete(&l.ex)
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
	b.l.end(nil)
	return err
}
