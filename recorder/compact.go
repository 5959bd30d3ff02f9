package recorder

import (
	"bytes"
	"hash/maphash"
	"slices"
	"sync/atomic"
	"unique"
	"unsafe"
)

// Compact records: when an exchange completes, the store keeps a compacted copy of it rather than the snapshot the
// recorder built while it streamed. The copy is still an *Exchange (every consumer reads the same fields), but
//
//   - all its own strings and byte data — URL, addresses, header values, bodies, events, JSON-RPC ids and methods,
//     notes, fault texts — live in one append-only byte slab allocated once, exactly sized, and the fields refer
//     to it (strings by unsafe.String over the slab, which is never written again);
//   - header names, and header values up to internMax bytes, are interned (unique.Make: one copy process-wide,
//     reclaimed by the GC when no record uses it any more, so a stranger's unique values bound nothing);
//   - an event's data that is a run of the response body's bytes (a one-line "data:" field, the usual case)
//     refers to those bytes instead of holding a second copy;
//   - every slice is exactly sized.
//
// The recorder's growing snapshots (many small allocations, slices with spare capacity) become garbage as soon
// as the record completes. docs/benchmarks-store.md has the measurements and the design of the steps after this
// one (pointer-free fixed parts, bodies read back from the capture file).

// internMax is the longest header value interned; longer values (tokens, cookies) are rarely repeated byte for
// byte and go into the record's slab.
const internMax = 96

// slabResized counts slabs whose size was computed wrong (tests hold it at 0).
var slabResized atomic.Uint64

// compactRecords is on; BenchmarkStoreLiveHeap turns it off to measure the records as the recorder built them.
var compactRecords = true

// compact returns a compacted copy of a completed exchange (ex is not modified).
func compact(ex *Exchange) *Exchange {
	if !compactRecords {
		return ex
	}
	c := *ex
	// One slab for every byte this record owns: first its size, then its contents (the same walk).
	n := len(c.RemoteAddr) + len(c.URL) + len(c.Host) + len(c.Error) + len(c.ReqBody.Data) + len(c.RespBody.Data)
	reqH, respH := recentHeaders.lookup(c.ReqHeaders), recentHeaders.lookup(c.RespHeaders)
	n += long(c.Method) + long(c.Proto) + slabHeaders(c.ReqHeaders, reqH) + slabHeaders(c.RespHeaders, respH)
	in := eventsInBody{body: c.RespBody.Data}
	for i := range c.Events {
		ev := &c.Events[i]
		n += len(ev.ID) + long(ev.Event)
		if in.find(ev.Data) < 0 {
			n += len(ev.Data)
		}
	}
	for i := range c.RPC {
		m := &c.RPC[i]
		n += len(m.ID) + len(m.ErrorMessage) + long(m.Method) + long(m.ReplyTo)
	}
	for _, f := range c.Faults {
		n += len(f.Name) + len(f.What) + len(f.Before) + len(f.After)
	}
	for _, x := range c.Notes {
		n += len(x.Key) + len(x.Value)
	}
	s := slab{b: make([]byte, 0, n)}

	c.RemoteAddr, c.URL, c.Host, c.Error = s.str(c.RemoteAddr), s.str(c.URL), s.str(c.Host), s.str(c.Error)
	c.Kind, c.State, c.Method, c.Proto = intern(c.Kind), intern(c.State), s.intern(c.Method), s.intern(c.Proto)
	c.ReqHeaders, c.RespHeaders = s.headers(c.ReqHeaders, reqH), s.headers(c.RespHeaders, respH)
	c.ReqBody.Data, c.RespBody.Data = s.bytes(c.ReqBody.Data), s.bytes(c.RespBody.Data)
	if c.Events != nil {
		evs := make([]SSEEvent, len(c.Events))
		in := eventsInBody{body: c.RespBody.Data} // the slab's copy of the body
		for i, ev := range c.Events {
			ev.ID, ev.Event = s.str(ev.ID), s.intern(ev.Event)
			if j := in.find(ev.Data); j >= 0 {
				ev.Data = unsafe.String(unsafe.SliceData(c.RespBody.Data[j:]), len(ev.Data))
			} else {
				ev.Data = s.str(ev.Data)
			}
			evs[i] = ev
		}
		c.Events = evs
	}
	if c.RPC != nil {
		ms := make([]RPC, len(c.RPC))
		for i, m := range c.RPC {
			m.From, m.Method, m.ReplyTo = intern(m.From), s.intern(m.Method), s.intern(m.ReplyTo)
			m.ID, m.ErrorMessage = s.bytes(m.ID), s.str(m.ErrorMessage)
			ms[i] = m
		}
		c.RPC = ms
	}
	if c.Faults != nil {
		fs := make([]FaultChange, len(c.Faults))
		for i, f := range c.Faults {
			fs[i] = FaultChange{Name: s.str(f.Name), What: s.str(f.What), Before: s.str(f.Before), After: s.str(f.After)}
		}
		c.Faults = fs
	}
	if c.Notes != nil {
		ns := make([]Note, len(c.Notes))
		for i, x := range c.Notes {
			ns[i] = Note{Key: s.str(x.Key), Value: s.str(x.Value)}
		}
		c.Notes = ns
	}
	if len(s.b) != n {
		slabResized.Add(1) // a bug (the two walks differ), not bad input: the record is still whole, only grown
	}
	c.memo = exMemo{}
	c.memo = c.sizeMemo()
	c.memo.rpc = c.rpcMemo()
	return &c
}

// slab is a record's byte slab: appended to, never rewritten, so the strings over it stay valid.
type slab struct{ b []byte }

func (s *slab) bytes(p []byte) []byte {
	if p == nil {
		return nil
	}
	i := len(s.b)
	s.b = append(s.b, p...)
	return s.b[i:len(s.b):len(s.b)]
}

func (s *slab) str(v string) string {
	if v == "" {
		return ""
	}
	i := len(s.b)
	s.b = append(s.b, v...)
	return unsafe.String(unsafe.SliceData(s.b[i:]), len(v))
}

// intern interns a short string, and puts a long one in the slab.
func (s *slab) intern(v string) string {
	if len(v) > internMax {
		return s.str(v)
	}
	return intern(v)
}

// headers copies h into the record (lk: h's lookup in recentHeaders), or returns the equal list seen recently.
func (s *slab) headers(h Headers, lk listLookup) Headers {
	if h == nil {
		return nil
	}
	if lk.seen != nil {
		return lk.seen
	}
	out := make(Headers, len(h))
	if lk.slot != nil {
		defer lk.slot.Store(&out)
	}
	for i, x := range h {
		out[i] = Header{Name: s.intern(x.Name), Value: s.intern(x.Value)}
	}
	return out
}

// headerLists remembers recently compacted header lists, so that a list equal to one of them (a session's
// requests, a server's answers: the same lines again and again) is shared rather than copied. It is a
// direct-mapped cache of fixed size: a list hashes to one slot, which holds the last list seen there. Lists are
// immutable once published, so sharing them is safe; a list only shorter than headerListMax lines is cached.
type headerLists struct {
	seed  maphash.Seed
	slots [1024]atomic.Pointer[Headers]
}

const headerListMax = 32

var recentHeaders = headerLists{seed: maphash.MakeSeed()}

// listLookup is a list's slot in the cache (nil: not cached) and the equal list found there.
type listLookup struct {
	slot *atomic.Pointer[Headers]
	seen Headers
}

// lookup finds h's slot and, when the slot holds a list equal to h, that list.
func (c *headerLists) lookup(h Headers) listLookup {
	if len(h) == 0 || len(h) > headerListMax {
		return listLookup{}
	}
	var mh maphash.Hash
	mh.SetSeed(c.seed)
	for _, x := range h {
		mh.WriteString(x.Name)
		mh.WriteByte(0)
		mh.WriteString(x.Value)
		mh.WriteByte(0)
	}
	slot := &c.slots[mh.Sum64()%uint64(len(c.slots))]
	if p := slot.Load(); p != nil && slices.Equal(*p, h) {
		return listLookup{slot, *p}
	}
	return listLookup{slot: slot}
}

// slabHeaders is what h's lines need in the slab: the names and values too long to intern (nothing for a list
// seen recently).
func slabHeaders(h Headers, lk listLookup) int {
	if lk.seen != nil {
		return 0
	}
	n := 0
	for _, x := range h {
		n += long(x.Name) + long(x.Value)
	}
	return n
}

// long is what s.intern puts in the slab: a string too long to intern.
func long(v string) int {
	if len(v) > internMax {
		return len(v)
	}
	return 0
}

// intern returns the canonical copy of a short string (unique.Make; "" stays "").
func intern(v string) string {
	if v == "" || len(v) > internMax {
		return v
	}
	return unique.Make(v).Value()
}

// eventsInBody finds the events' data in the response body, in order: each search starts where the last match
// ended, and after the first miss (a body cut at its limit, a multi-line data field) it stops looking, so the
// whole walk reads the body about once, whatever the number of events.
type eventsInBody struct {
	body   []byte
	at     int
	missed bool
}

// find returns where data is in the body, or -1 (also for empty data).
func (e *eventsInBody) find(data string) int {
	if data == "" || e.missed {
		return -1
	}
	j := bytes.Index(e.body[e.at:], unsafe.Slice(unsafe.StringData(data), len(data)))
	if j < 0 {
		e.missed = true
		return -1
	}
	j += e.at
	e.at = j + len(data)
	return j
}
