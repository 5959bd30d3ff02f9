package analysis

import (
	"bytes"
	"strings"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// The 2024-11-05 HTTP+SSE transport answers nothing in a POST's response (202 Accepted): every JSON-RPC response
// arrives on the session's long-lived GET stream, whose first event ("endpoint") names the URL to POST to. The
// analysis pairs each POSTed request with its answer on that stream (same session, same id), so that the request's
// stage status and findings come from its real answer, and the stream is not blamed for the errors it carries.
//
// Whichever comes first is kept until the other arrives: the answer (a capture lists the stream before its POSTs),
// or the POST's final snapshot (live, a POST is answered 202 before its answer is streamed). A POST still waiting
// when its stream ends, or past the bounds below, is judged on its own.

// sseStream is a 2024-11-05 event stream.
type sseStream struct {
	id      uint64
	keys    []string               // its keys in Analyzer.sse
	scanned int                    // RPC messages of the stream already looked at
	answers map[string]sseAnswer   // answers no POST claimed yet, by JSON-RPC id
	waiting map[string]*ssePending // POSTs judged once their answer arrives, by JSON-RPC id
	order   []string               // ids of waiting, oldest first (for the bound)
	ended   bool
}

type sseAnswer struct {
	rpc recorder.RPC
	ev  recorder.SSEEvent
}

type ssePending struct {
	id    uint64 // the POST's record: its id and birth
	birth uint32
	ex    *recorder.Exchange // the POST's final snapshot (immutable)
}

const (
	// maxSSEPending bounds the answers and the POSTs a stream keeps waiting for their other half.
	maxSSEPending = 1024
	// maxSSEAnswerData: an answer's event data is kept up to this size (initialize's result is read from it).
	maxSSEAnswerData = 64 << 10
)

// sseKeys are the keys a legacy POST finds its stream by: the request target the endpoint event named, and for
// the /sse path its session id.
func sseKeys(target string) []string {
	keys := []string{"ep:" + target}
	probe := recorder.Exchange{URL: target}
	if probe.Path() == "/sse" {
		q := query(&probe)
		if sid := q.Get("sessionid") + q.Get("sessionId"); sid != "" {
			keys = append(keys, "sse:"+sid)
		}
	}
	return keys
}

// endpointTarget is the request target a legacy stream's endpoint event names, or "".
func endpointTarget(ex *recorder.Exchange) string {
	if ex.Method != "GET" || len(ex.Events) == 0 || ex.Events[0].Event != "endpoint" {
		return ""
	}
	probe := recorder.Exchange{URL: strings.TrimSpace(ex.Events[0].Data)}
	return probe.Target()
}

// observeSSE registers a legacy stream and takes the answers that arrived on it since the last update.
func (a *Analyzer) observeSSE(r *exRec, ex *recorder.Exchange) {
	s := a.sseByID[r.id]
	if s == nil {
		target := endpointTarget(ex)
		if target == "" {
			return
		}
		s = &sseStream{id: r.id, keys: sseKeys(target), answers: map[string]sseAnswer{}, waiting: map[string]*ssePending{}}
		a.sseByID[r.id] = s
		for _, k := range s.keys {
			a.sse[k] = s
		}
	}
	for ; s.scanned < len(ex.RPC); s.scanned++ {
		m := ex.RPC[s.scanned]
		if m.From != recorder.FromServer || !m.IsResponse || len(m.ID) == 0 || m.Event < 0 || m.Event >= len(ex.Events) {
			continue
		}
		ans := sseAnswer{rpc: m, ev: ex.Events[m.Event]}
		if len(ans.ev.Data) > maxSSEAnswerData {
			ans.ev.Data = ""
		}
		id := rpcKey(m.ID)
		if p := s.waiting[id]; p != nil {
			delete(s.waiting, id)
			a.judgePost(p, withAnswer(p.ex, ans))
			continue
		}
		if len(s.answers) >= maxSSEPending {
			for k := range s.answers { // an answer no POST claimed in a long while: drop one
				delete(s.answers, k)
				break
			}
		}
		s.answers[id] = ans
	}
	if ex.State == recorder.StateComplete || ex.State == "" {
		s.ended = true
		for _, id := range s.order {
			if p := s.waiting[id]; p != nil {
				a.judgePost(p, p.ex) // never answered on the stream: judged on its own
			}
		}
		s.waiting, s.order = map[string]*ssePending{}, nil
	}
}

// ssePost finds the stream a POST belongs to and the id of the request it carries; nil when the POST is not a
// request of a known legacy session, or carries its answer itself.
func (a *Analyzer) ssePost(ex *recorder.Exchange) (*sseStream, string) {
	if ex.Method != "POST" || len(a.sse) == 0 || ex.Status < 200 || ex.Status >= 300 {
		return nil, ""
	}
	var req *recorder.RPC
	for i := range ex.RPC {
		m := &ex.RPC[i]
		if m.From == recorder.FromServer {
			return nil, "" // answered in the POST itself
		}
		if req == nil && m.Method != "" && len(m.ID) > 0 {
			req = m
		}
	}
	if req == nil {
		return nil, ""
	}
	for _, k := range sseKeys(ex.Target()) {
		if s := a.sse[k]; s != nil {
			return s, rpcKey(req.ID)
		}
	}
	return nil, ""
}

// sseAnswered returns the POST with its answer from the stream when that answer already arrived; wait is true
// when it has not yet and the POST must wait for it (its judgement is deferred to judgePost).
func (a *Analyzer) sseAnswered(r *exRec, ex *recorder.Exchange) (_ *recorder.Exchange, wait bool) {
	s, id := a.ssePost(ex)
	if s == nil {
		return ex, false
	}
	r.sse = true
	if ans, ok := s.answers[id]; ok {
		delete(s.answers, id)
		return withAnswer(ex, ans), false
	}
	switch {
	case s.waiting[id] != nil:
		return ex, true // a later copy of a POST already waiting
	case s.ended:
		return ex, false
	}
	if len(s.order) >= maxSSEPending {
		old := s.order[0]
		s.order = s.order[1:]
		if p := s.waiting[old]; p != nil {
			delete(s.waiting, old)
			a.judgePost(p, p.ex)
		}
	}
	s.waiting[id] = &ssePending{id: r.id, birth: r.birth, ex: ex}
	s.order = append(s.order, id)
	return ex, true
}

// judgePost judges a POST whose answer arrived on its stream after it completed (or whose stream ended first).
func (a *Analyzer) judgePost(p *ssePending, ex *recorder.Exchange) {
	r := a.rec(p.id)
	if r == nil || r.birth != p.birth || r.done {
		return
	}
	c := a.connOf(r)
	if c == nil {
		return
	}
	r.setStatus(statusOf(ex, r.stage()))
	c.updateStage(r, duration(ex))
	r.done = true
	c = a.link(r, ex, a.keysOf(r, ex, r.stage()))
	a.observeEra(r, ex, c)
	a.check(r, ex, c)
	a.settle(r)
}

// withAnswer is the POST with the answer its stream carried, as if it had come in the POST's own response.
func withAnswer(ex *recorder.Exchange, ans sseAnswer) *recorder.Exchange {
	c := *ex
	ans.rpc.Event = len(ex.Events)
	c.Events = append(ex.Events[:len(ex.Events):len(ex.Events)], ans.ev)
	c.RPC = append(ex.RPC[:len(ex.RPC):len(ex.RPC)], ans.rpc)
	return &c
}

func rpcKey(id []byte) string { return string(bytes.TrimSpace(id)) }

// forgetSSE drops a stream's record when the analyzer forgets the stream's exchange.
func (a *Analyzer) forgetSSE(id uint64) {
	s := a.sseByID[id]
	if s == nil {
		return
	}
	delete(a.sseByID, id)
	for _, k := range s.keys {
		if a.sse[k] == s {
			delete(a.sse, k)
		}
	}
}
