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
//     notes, toggle texts — live in one append-only byte slab allocated once, exactly sized, and the fields refer
//     to it (strings by unsafe.String over the slab, which is never written again);
//   - header names, header values, the address, host and URL up to internMax bytes are interned (unique.Make: one
//     copy process-wide, reclaimed by the GC when no record uses it any more, so a stranger's unique values pin
//     nothing);
//   - a list of header lines, notes or JSON-RPC messages equal to one compacted recently is shared (recentLists);
//   - a body equal to one compacted recently is shared (the upstream copy of a proxied exchange and its client's
//     exchange hold the same bytes once);
//   - an event's data and id that are runs of the response body's bytes (a one-line "data:" field, the usual
//     case) refer to those bytes instead of holding a second copy; so do a JSON-RPC message's id and error
//     message, in the body of its side (up to rpcBodyMax bytes);
//   - a record small enough to look at whole keeps no memo (compactMemo);
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

// record is the completed live exchange's final form, compacted straight from it (one copy rather than a
// snapshot and then its compacted copy). Callers hold the exchange's lock.
func (e *Exchange) record() *Exchange {
	if !compactRecords {
		return e.snapshot()
	}
	return compact(e)
}

// compact returns a compacted copy of a completed exchange (ex is not modified).
func compact(ex *Exchange) *Exchange {
	if !compactRecords {
		return ex
	}
	c := *ex
	// One slab for every byte this record owns: first its size, then its contents (the same walk).
	// A body equal to one compacted recently is shared: in proxy mode the upstream exchange completes just before
	// its client's, with the same request and (usually) the same response bytes.
	reqB, respB := recentBodies.lookup(c.ReqBody.Data), recentBodies.lookup(c.RespBody.Data)
	n := long(c.RemoteAddr) + long(c.URL) + long(c.Host) + len(c.Error) + reqB.need(c.ReqBody.Data) + respB.need(c.RespBody.Data)
	reqH, respH, notes := recentHeaders.lookup(c.ReqHeaders), recentHeaders.lookup(c.RespHeaders), lookupNotes(c.Notes)
	n += long(c.Method) + long(c.Proto) + slabHeaders(c.ReqHeaders, reqH) + slabHeaders(c.RespHeaders, respH) + slabNotes(c.Notes, notes)
	// An event's data and id, a JSON-RPC message's id and error message are usually runs of the body they came
	// in: they refer to its bytes rather than being copied (found in order, see eventsInBody). The second walk
	// below looks for the same texts in the same order in the record's copy of the bodies (the same bytes), so it
	// finds them at the same places.
	in, ids, reqIn, respIn := bodyFinders(&c)
	for i := range c.Events {
		ev := &c.Events[i]
		n += ids.need(ev.ID) + long(ev.Event) + in.need(ev.Data)
	}
	rpcL := recentRPC.lookup(c.RPC)
	for i := range c.RPC {
		if rpcL.seen != nil {
			break // shared: nothing of it in this slab
		}
		m := &c.RPC[i]
		f := rpcFinder(m, &reqIn, &respIn)
		n += f.need(bytesString(m.ID)) + f.need(m.ErrorMessage) + long(m.Method) + long(m.ReplyTo)
	}
	for _, f := range c.Toggles {
		n += len(f.Name) + len(f.What) + len(f.Before) + len(f.After)
	}
	s := slab{b: make([]byte, 0, n)}

	// a connection's address, the host and a short URL repeat from one exchange to the next: interned
	c.RemoteAddr, c.URL, c.Host, c.Error = s.intern(c.RemoteAddr), s.intern(c.URL), s.intern(c.Host), s.str(c.Error)
	c.Kind, c.State, c.Method, c.Proto = intern(c.Kind), intern(c.State), s.intern(c.Method), s.intern(c.Proto)
	c.ReqHeaders, c.RespHeaders = s.headers(c.ReqHeaders, reqH), s.headers(c.RespHeaders, respH)
	c.ReqBody.Data, c.RespBody.Data = s.body(c.ReqBody.Data, reqB), s.body(c.RespBody.Data, respB)
	in, ids, reqIn, respIn = bodyFinders(&c) // over the record's copy of the bodies
	if c.Events != nil {
		evs := make([]SSEEvent, len(c.Events))
		for i, ev := range c.Events {
			ev.ID, ev.Event, ev.Data = s.strIn(ev.ID, &ids), s.intern(ev.Event), s.strIn(ev.Data, &in)
			evs[i] = ev
		}
		c.Events = evs
	}
	if rpcL.seen != nil {
		c.RPC = rpcL.seen
	} else if c.RPC != nil {
		ms := make([]RPC, len(c.RPC))
		for i, m := range c.RPC {
			f := rpcFinder(&m, &reqIn, &respIn)
			m.From, m.Method, m.ReplyTo = intern(m.From), s.intern(m.Method), s.intern(m.ReplyTo)
			if id := s.strIn(bytesString(m.ID), f); id != "" {
				m.ID = unsafe.Slice(unsafe.StringData(id), len(id))[:len(id):len(id)]
			} else {
				m.ID = s.bytes(m.ID) // nil or empty, as it was
			}
			m.ErrorMessage = s.strIn(m.ErrorMessage, f)
			ms[i] = m
		}
		c.RPC = ms
		if rpcL.slot != nil {
			rpcL.slot.Store(boxed(ms))
		}
	}
	if c.Toggles != nil {
		fs := make([]ToggleChange, len(c.Toggles))
		for i, f := range c.Toggles {
			fs[i] = ToggleChange{Name: s.str(f.Name), What: s.str(f.What), Before: s.str(f.Before), After: s.str(f.After)}
		}
		c.Toggles = fs
	}
	c.Notes = s.notes(c.Notes, notes)
	if len(s.b) != n {
		slabResized.Add(1) // a bug (the two walks differ), not bad input: the record is still whole, only grown
	}
	c.memo = compactMemo(&c)
	return &c
}

// memoFrom is the size of record beyond which a compact record keeps a memo: up to it, RPCMethod, RPCError and
// Size look at the record whole (a few dozen lines at most), which costs less than the memo's 64 bytes in every
// record.
const (
	memoFromLines = 8  // JSON-RPC messages or events
	memoFromHdrs  = 48 // header lines, both lists
)

// compactMemo returns the memo a compact record keeps: nil for a record small enough to look at whole.
func compactMemo(c *Exchange) *exMemo {
	c.memo = nil
	if len(c.RPC) <= memoFromLines && len(c.Events) <= memoFromLines && len(c.ReqHeaders)+len(c.RespHeaders) <= memoFromHdrs {
		return nil
	}
	m := c.sizeMemo()
	m.rpc = c.rpcMemo()
	return &m
}

// recentBodies remembers the bodies compacted recently, like recentLists: a direct-mapped cache of fixed size.
var recentBodies = bodyCache{seed: maphash.MakeSeed()}

type bodyCache struct {
	seed  maphash.Seed
	slots [1024]atomic.Pointer[[]byte]
}

type bodyLookup struct {
	slot *atomic.Pointer[[]byte]
	seen []byte
}

func (c *bodyCache) lookup(b []byte) bodyLookup {
	if len(b) == 0 {
		return bodyLookup{}
	}
	slot := &c.slots[maphash.Bytes(c.seed, b)%uint64(len(c.slots))]
	if p := slot.Load(); p != nil && bytes.Equal(*p, b) {
		return bodyLookup{slot, *p}
	}
	return bodyLookup{slot: slot}
}

// need is what the body takes in the slab: nothing when an equal body is shared.
func (l bodyLookup) need(b []byte) int {
	if l.seen != nil {
		return 0
	}
	return len(b)
}

// body copies b into the slab, or returns the equal body compacted recently.
func (s *slab) body(b []byte, l bodyLookup) []byte {
	if l.seen != nil {
		return l.seen
	}
	out := s.bytes(b)
	if l.slot != nil {
		l.slot.Store(boxed(out))
	}
	return out
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
func (s *slab) headers(h Headers, lk listLookup[Header]) Headers {
	if h == nil {
		return nil
	}
	if lk.seen != nil {
		return lk.seen
	}
	out := make([]Header, len(h))
	for i, x := range h {
		out[i] = Header{Name: s.intern(x.Name), Value: s.intern(x.Value)}
	}
	if lk.slot != nil {
		lk.slot.Store(boxed(out))
	}
	return out
}

// notes copies ns into the record like headers.
func (s *slab) notes(ns []Note, lk listLookup[Note]) []Note {
	if ns == nil {
		return nil
	}
	if lk.seen != nil {
		return lk.seen
	}
	out := make([]Note, len(ns))
	for i, x := range ns {
		// a value that repeats comes with its whole list, which is shared; one that does not (the client
		// exchange's id on an upstream copy) belongs in the slab, not in the intern table
		out[i] = Note{Key: s.intern(x.Key), Value: s.str(x.Value)}
	}
	if lk.slot != nil {
		lk.slot.Store(boxed(out))
	}
	return out
}

// boxed returns a pointer to a copy of the slice header, for a cache slot: taking the address of the list's own
// variable would put every list's header on the heap, cached or not.
func boxed[T any](list T) *T { return &list }

// recentLists remembers recently compacted lists (header lines, notes, JSON-RPC messages), so that a list equal to one of them (a
// session's requests, a server's answers, the era note: the same lines again and again) is shared rather than
// copied. It is a direct-mapped cache of fixed size: a list hashes to one slot, which holds the last list seen
// there. Lists are immutable once published, so sharing them is safe; only lists of at most listMax lines are
// cached.
type recentLists[E any] struct {
	seed  maphash.Seed
	pair  func(*E) (string, string) // the two texts of a line, hashed
	equal func(a, b []E) bool
	slots [1024]atomic.Pointer[[]E]
}

const listMax = 32

var (
	recentHeaders = recentLists[Header]{seed: maphash.MakeSeed(), equal: slices.Equal[[]Header],
		pair: func(x *Header) (string, string) { return x.Name, x.Value }}
	recentNotes = recentLists[Note]{seed: maphash.MakeSeed(), equal: slices.Equal[[]Note],
		pair: func(x *Note) (string, string) { return x.Key, x.Value }}
	// the JSON-RPC messages of a proxied exchange's upstream copy and of its client's exchange are the same
	recentRPC = recentLists[RPC]{seed: maphash.MakeSeed(), equal: rpcListsEqual,
		pair: func(m *RPC) (string, string) { return m.Method, unsafe.String(unsafe.SliceData(m.ID), len(m.ID)) }}
)

// lookupNotes is recentNotes.lookup for lists that may repeat: a list with a link between a proxied exchange and
// its upstream copy (NoteInbound, NoteOutbound: the other's id) is one of a kind, so it is neither hashed nor
// cached (it would only push a list that repeats out of its slot).
func lookupNotes(ns []Note) listLookup[Note] {
	for i := range ns {
		if k := ns[i].Key; k == NoteInbound || k == NoteOutbound {
			return listLookup[Note]{}
		}
	}
	return recentNotes.lookup(ns)
}

// rpcListsEqual compares lists of JSON-RPC messages field by field (error codes by value).
func rpcListsEqual(a, b []RPC) bool {
	return slices.EqualFunc(a, b, func(x, y RPC) bool {
		if (x.ErrorCode == nil) != (y.ErrorCode == nil) || x.ErrorCode != nil && *x.ErrorCode != *y.ErrorCode {
			return false
		}
		return x.From == y.From && x.Method == y.Method && bytes.Equal(x.ID, y.ID) && (x.ID == nil) == (y.ID == nil) &&
			x.ErrorMessage == y.ErrorMessage && x.IsResponse == y.IsResponse && x.ReplyTo == y.ReplyTo && x.Event == y.Event && x.Batch == y.Batch
	})
}

// listLookup is a list's slot in the cache (nil: not cached) and the equal list found there.
type listLookup[E any] struct {
	slot *atomic.Pointer[[]E]
	seen []E
}

// lookup finds list's slot and, when the slot holds a list equal to it, that list.
func (c *recentLists[E]) lookup(list []E) listLookup[E] {
	if len(list) == 0 || len(list) > listMax {
		return listLookup[E]{}
	}
	var mh maphash.Hash
	mh.SetSeed(c.seed)
	for i := range list {
		a, b := c.pair(&list[i])
		mh.WriteString(a)
		mh.WriteByte(0)
		mh.WriteString(b)
		mh.WriteByte(0)
	}
	slot := &c.slots[mh.Sum64()%uint64(len(c.slots))]
	if p := slot.Load(); p != nil && c.equal(*p, list) {
		return listLookup[E]{slot, *p}
	}
	return listLookup[E]{slot: slot}
}

// slabHeaders is what h's lines need in the slab: the names and values too long to intern (nothing for a list
// seen recently).
func slabHeaders(h Headers, lk listLookup[Header]) int {
	if lk.seen != nil {
		return 0
	}
	n := 0
	for _, x := range h {
		n += long(x.Name) + long(x.Value)
	}
	return n
}

func slabNotes(ns []Note, lk listLookup[Note]) int {
	if lk.seen != nil {
		return 0
	}
	n := 0
	for _, x := range ns {
		n += long(x.Key) + len(x.Value)
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

// rpcBodyMax is the largest body a JSON-RPC message's id or error message refers to (rather than being a copy in
// the slab). A list of messages may be shared by later records (recentRPC) that do not share the body: the bound
// is what such a record can keep alive beyond its own bytes.
const rpcBodyMax = 1 << 10

// bodyFinders returns the finders of compact's two walks over c's bodies: the events' data and ids in the
// response body, and the JSON-RPC messages' ids and error messages in the body of their side (within rpcBodyMax).
func bodyFinders(c *Exchange) (data, ids, req, resp eventsInBody) {
	data, ids = eventsInBody{body: c.RespBody.Data}, eventsInBody{body: c.RespBody.Data}
	req, resp = eventsInBody{body: c.ReqBody.Data}, eventsInBody{body: c.RespBody.Data}
	req.missed, resp.missed = len(c.ReqBody.Data) > rpcBodyMax, len(c.RespBody.Data) > rpcBodyMax
	return
}

// rpcFinder is the finder for m's texts: a client's messages are in the request body, a server's in the response.
func rpcFinder(m *RPC, req, resp *eventsInBody) *eventsInBody {
	if m.From == FromClient {
		return req
	}
	return resp
}

// need is what v takes in the slab: nothing when it is found in the body.
func (e *eventsInBody) need(v string) int {
	if e.find(v) >= 0 {
		return 0
	}
	return len(v)
}

// strIn returns v as a run of the body when it is found there, else as a copy in the slab.
func (s *slab) strIn(v string, in *eventsInBody) string {
	if j := in.find(v); j >= 0 {
		return unsafe.String(unsafe.SliceData(in.body[j:]), len(v))
	}
	return s.str(v)
}

func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

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
