package recorder

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mcpwatch/mcpwatch/internal/timeword"
)

// Packed records: the store keeps a completed exchange as a fixed-size, pointer-free packed value in a chunked
// array, its variable parts packed into pointer-free append-only byte slabs and referenced by (slab, offset,
// length). The garbage collector marks none of it (no pointers: a chunk or a slab is one object it never scans),
// and Get and Snapshot materialise an *Exchange equal to the record field for field, its bodies and the texts
// found in them (events, JSON-RPC ids and error messages) referring to the slab's bytes (which are never written
// again, so a materialised record stays valid after the store forgot it: the GC keeps the slab while the record
// is referenced). Its other texts — header and note lists, address, URL, host, faults — are copies of their own
// (readHeaders, reader.own), because readers keep such texts after letting the record go, and one kept text would
// keep its whole slab.
//
// A record's parts:
//
//   - its request and response header lists and its notes, each encoded (count, then texts) and shared with an
//     equal list packed recently (partCache: a session's requests and a server's answers repeat their lines);
//   - its two bodies, raw, shared with an equal body packed recently (the upstream copy of a proxied exchange and
//     its client's exchange hold the same bytes once);
//   - the rest — addresses, URL, faults, body sizes, events, JSON-RPC messages, toggles — in one encoded part of
//     its own, in which an event's data and id and a JSON-RPC message's id and error message that are runs of their
//     body's bytes (the usual case) are a reference to them (found in order, one pass over the body: eventsInBody)
//     rather than a second copy.
//
// A part larger than an eighth of a slab gets a slab of its own (room). Sharing refers only to the current slab
// and the one before it (or to a large part's own slab, which holds nothing else), so that a record keeps at most
// those two alive beyond its own; each slab counts the records referring to it and is dropped when the last one
// goes. See docs/benchmarks-store.md for the measurements.

// ref is a part of a record: the part at off in slab slab, its length a uvarint in front of its bytes (partLen),
// so that a ref is 8 bytes rather than 12 (six in each record). Slab 0 stands for a nil part, 1 for an empty one;
// for a body kept in the capture file (refFile, refSpill) off is its length.
type ref struct {
	slab, off uint32
}

// fileLen is the length of a body kept in the capture file (r.slab refFile or refSpill).
func (r ref) fileLen() uint32 { return r.off }

// partAt returns the part at off in buf: its uvarint length, then its bytes (capacity capped).
func partAt(buf []byte, off uint32) []byte {
	n, k := binary.Uvarint(buf[off:])
	start := uint64(off) + uint64(k)
	return buf[start : start+n : start+n]
}

const (
	refNil   = 0
	refEmpty = 1
	slabIDs  = 2 // the first slab id
	// refFile stands for a body kept in the capture file rather than in a slab (bodies.go): n is its length, and
	// where its line is, the store's inFile table says. No slab id reaches it.
	refFile = math.MaxUint32
	// refSpill stands for a body the store let go at its byte bound (Store.spill): it is in the record's capture
	// line, which the record's line field locates; n is its length. No slab id reaches it.
	refSpill = math.MaxUint32 - 1
)

// The parts of a packed record, in its refs.
const (
	partReqHeaders = iota
	partRespHeaders
	partReqBody
	partRespBody
	partNotes
	partRest
	nParts
)

// packed is a completed exchange as the store keeps it: 80 bytes, no pointers. Its id is its place in the
// store's chunks (Store.rec); its timings are in its own part (a few bytes each rather than eight).
type packed struct {
	wall uint64 // Start's words (timeword): monotonic reading included, so a materialised Start is == the original
	ext  int64
	// where the record's capture line is, once written (0: not written, or no capture file): the file's
	// generation in the top 16 bits, the line's offset in it below (lineAt); its bodies may then be spilled
	line   uint64
	refs   [nParts]ref
	status int32
	loc    uint8 // Start's location: locNil or locLocal
	live   bool  // not packed: the exchange is in the store's live map (pending, streaming, or not packable)
}

// lineAt packs a capture line's place into packed.line (ok false when it does not fit: the record keeps its bodies).
func lineAt(gen uint32, off int64) (uint64, bool) {
	if gen == 0 || gen >= 1<<16 || off < 0 || off >= 1<<48 {
		return 0, false
	}
	return uint64(gen)<<48 | uint64(off), true
}

// lineOf unpacks packed.line.
func lineOf(line uint64) (gen uint32, off int64) {
	return uint32(line >> 48), int64(line & (1<<48 - 1))
}

const (
	locNil   = 0
	locLocal = 1
)

// startLoc returns the tag of t's location, ok false when it is neither UTC (nil) nor Local.
func startLoc(t *time.Time) (uint8, bool) {
	switch _, loc := timeword.Split(t); loc {
	case nil:
		return locNil, true
	case time.Local:
		return locLocal, true
	}
	return 0, false
}

// slabBuf is one slab: buf is allocated whole and never reassigned; bytes below n are written once and never
// again, so readers need no lock for the parts they hold a ref to.
type slabBuf struct {
	id   uint32
	buf  []byte
	n    int
	refs int  // the records (parts) referring to it
	own  bool // one large part's alone (bigPart), exactly sized
	body bool // a body's alone, to be dropped once the capture file holds it (put's own): no list is cached from it
	dead bool
}

// partCache remembers where recently packed lists and bodies are, so that an equal one is shared: a table of
// fixed size in sets of two slots (the two lists used last of those that fall in a set: with one slot, two lists
// that repeat and fall in the same one pushed each other out, each then packed again at every other use),
// pointer-free (refs are checked against the slab table before use).
type partCache struct {
	seed  maphash.Seed
	slots [1024]cacheSlot
}

type cacheSlot struct {
	h uint64
	r ref
}

// set returns the two slots h may be in.
func (c *partCache) set(h uint64) *[2]cacheSlot {
	i := h % uint64(len(c.slots)/2) * 2
	return (*[2]cacheSlot)(c.slots[i : i+2])
}

// matCache holds the materialised form of recently packed header and note lists (stored only under the store's
// lock; cleared for a slab when the slab is dropped), so that materialising an exchange whose lists are shared
// allocates no new list. It is two-way: a list's ref picks a set of two slots, the one stored last first, so that
// two lists used on every call whose refs pick one set (a proxied call's client and upstream lists: 10 recorders of
// 800 set up as TestUpstreamCopyHeaderListsOneAllocation sets them up, while it was one slot a ref;
// TestMatCacheKeepsTwoListsOfOneSet) both stay rather than take turns, each turn a new list.
type matCache[E any] struct {
	slots [2 * matSets]atomic.Pointer[matList[E]]
}

// matSets is the number of a matCache's sets: 256 slots, as many as the one-way cache had, so that it holds no more
// lists than before (the store does not count them).
const matSets = 128

type matList[E any] struct {
	r    ref
	list []E
}

// set returns the two slots of r's set.
func (c *matCache[E]) set(r ref) *[2]atomic.Pointer[matList[E]] {
	i := 2 * ((uint64(r.slab)*0x9E3779B1 + uint64(r.off)) % matSets)
	return (*[2]atomic.Pointer[matList[E]])(c.slots[i : i+2])
}

func (c *matCache[E]) get(r ref) []E {
	for i, s := 0, c.set(r); i < 2; i++ {
		if m := s[i].Load(); m != nil && m.r == r {
			return m.list
		}
	}
	return nil
}

// put keeps list as r's (the store's lock held): in its set's first slot, the list that was there moved to the
// second, unless r is in the set already.
func (c *matCache[E]) put(r ref, list []E) {
	s := c.set(r)
	first := s[0].Load()
	if first != nil && first.r == r {
		return
	}
	if m := s[1].Load(); m != nil && m.r == r {
		return
	}
	s[1].Store(first)
	s[0].Store(&matList[E]{r, list})
}

func (c *matCache[E]) dropSlab(id uint32) {
	for i := range c.slots {
		if m := c.slots[i].Load(); m != nil && m.r.slab == id {
			c.slots[i].Store(nil)
		}
	}
}

// packer holds the store's slabs and caches. Callers hold the store's lock.
type packer struct {
	slabs    []*slabBuf // slabs[i].id == slabBase+i; dropped ones nil
	slabBase uint32
	nextSlab uint32
	// the slab the small parts are written in and the one before it (0: none): what sharing may refer to, with the
	// large parts' own slabs of the last ownShare slabs; bodyCur and bodyPrev the same for the small bodies when
	// they have slabs of their own (a store with a capture file: pack's split), so that the bodies the store lets
	// go at its bound (Store.spill) free their slabs while the records' other parts stay
	curSlab, prevSlab uint32
	bodyCur, bodyPrev uint32
	slabSize          int
	bytes             int64     // the slabs' allocated bytes
	parts             partCache // the header and note lists packed recently
	bodies            partCache // the bodies packed recently
	hdrs              matCache[Header]
	notes             matCache[Note]
	scratch           []byte
	rest              []byte
	// the dictionary of names (appendName): dict[i] is the name of index i, names its index
	dict      []string
	names     map[string]uint32
	dictBytes int64
	addrNames int // the names added by appendAddr
	taken     int // parts packed as references to the record packed before (pack's like: tests)
	// the header list parts packed last, by their lists' fingerprints (putHeaders) in sets of two (the one used
	// last first)
	lastLists    [256]ref
	listsMatched int // header lists packed as references found in lastLists (tests)
	// the messages' part of the rest of the record packed last, when it was packed without a like (appendRest's
	// rpcAt to rpcEnd), and the record it was encoded for (its own part's ref: one of a kind, never shared, and no
	// slab id is used twice) and whether its bodies went to the capture file: a record packed with that record as
	// its like copies it when it holds the like's list in the like's bodies (pack)
	rpcAt, rpcEnd int
	rpcSec        []byte
	rpcOf         struct {
		rest              ref
		reqFile, respFile bool
	}
	rpcCopied int // messages' parts copied (tests)
}

func newPacker(slabSize int) *packer {
	return &packer{slabSize: slabSize, slabBase: slabIDs, nextSlab: slabIDs, parts: partCache{seed: maphash.MakeSeed()},
		bodies: partCache{seed: maphash.MakeSeed()},
		names:  map[string]uint32{}}
}

func (p *packer) slab(id uint32) *slabBuf {
	if id < p.slabBase || int(id-p.slabBase) >= len(p.slabs) {
		return nil
	}
	return p.slabs[id-p.slabBase]
}

// A part larger than an eighth of a slab (bigPart) gets a slab of its own, exactly sized, and the small parts go
// on in the current slab: so a slab ends with at most an eighth of it unused, and a large part costs its own bytes
// (the recorder's per-body limit is a whole slab: every cut body is one). Sharing may refer to such a slab among
// the last ownShare slabs: it keeps nothing alive but the equal part itself.
const ownShare = 16

func (p *packer) bigPart(n int) bool { return n > p.slabSize/8 }

// room returns the slab to write n more bytes in: a slab of its own for a large part, else the current slab,
// starting one when it is full or gone.
func (p *packer) room(n int, body bool) *slabBuf {
	if p.bigPart(n) {
		return p.newSlab(n, true)
	}
	cur, prev := &p.curSlab, &p.prevSlab
	if body {
		cur, prev = &p.bodyCur, &p.bodyPrev
	}
	if s := p.slab(*cur); s != nil && !s.dead && len(s.buf)-s.n >= n {
		return s
	}
	s := p.newSlab(p.slabSize, false)
	s.body = body
	*prev, *cur = *cur, s.id
	return s
}

func (p *packer) newSlab(size int, own bool) *slabBuf {
	s := &slabBuf{id: p.nextSlab, buf: make([]byte, size), own: own}
	p.nextSlab++
	if len(p.slabs) == 0 {
		p.slabBase = s.id
	}
	for p.slabBase+uint32(len(p.slabs)) < s.id {
		p.slabs = append(p.slabs, nil)
	}
	p.slabs = append(p.slabs, s)
	p.bytes += int64(len(s.buf))
	return s
}

// recent reports whether r's slab is alive and one sharing may refer to: the current slab, the one before it, or
// a large part's own slab among the last ownShare.
func (p *packer) recent(r ref) bool {
	s := p.slab(r.slab)
	return s != nil && !s.dead && (r.slab == p.curSlab || r.slab == p.prevSlab || r.slab == p.bodyCur ||
		r.slab == p.bodyPrev || s.own && r.slab+ownShare >= p.nextSlab)
}

// put writes b as a part (shared with an equal part packed recently that share, a cache, remembers; nil: not
// shared) and takes a reference on its slab.
// own puts it in a slab of its own, exactly sized, whatever its size: a body that will be dropped from memory once
// the capture file holds it (bodies.go), so that dropping it frees its bytes. body puts a small part in the slabs
// of bodies rather than in those of the records' other parts.
func (p *packer) put(b []byte, isNil bool, share *partCache, own, body bool) ref {
	if isNil {
		return ref{slab: refNil}
	}
	if len(b) == 0 {
		return ref{slab: refEmpty}
	}
	var h uint64
	if share != nil {
		h = maphash.Bytes(share.seed, b)
		set := share.set(h)
		for i := range set {
			sl := &set[i]
			if sl.h == h && p.recent(sl.r) {
				s := p.slab(sl.r.slab)
				if bytes.Equal(partAt(s.buf, sl.r.off), b) {
					s.refs++
					r := sl.r
					set[0], set[i] = set[i], set[0] // the one used last first
					return r
				}
			}
		}
	}
	var s *slabBuf
	size := uvarintLen(uint64(len(b))) + len(b)
	if own {
		s = p.newSlab(size, true)
		s.body = true
	} else {
		s = p.room(size, body)
	}
	r := ref{slab: s.id, off: uint32(s.n)}
	s.n += binary.PutUvarint(s.buf[s.n:], uint64(len(b)))
	s.n += copy(s.buf[s.n:], b)
	s.refs++
	if share != nil {
		// in the first slot of its set, the other one keeping the one used last before it, unless that one is
		// stale (its slab no longer recent: sharing may not refer to it)
		set := share.set(h)
		if set[0].h != 0 && p.recent(set[0].r) {
			set[1] = set[0]
		}
		set[0].h, set[0].r = h, r
	}
	return r
}

// release drops a record's references; a slab no record refers to any more is dropped.
func (p *packer) release(refs *[nParts]ref) {
	for _, r := range refs {
		p.releaseRef(r)
	}
}

// releaseRef drops one reference; a slab no record refers to any more is dropped.
func (p *packer) releaseRef(r ref) {
	if r.slab < slabIDs || r.slab >= refSpill {
		return
	}
	s := p.slab(r.slab)
	if s == nil {
		return
	}
	if s.refs--; s.refs == 0 {
		s.dead = true
		p.bytes -= int64(len(s.buf))
		p.slabs[s.id-p.slabBase] = nil
		if !s.body {
			p.hdrs.dropSlab(s.id)
			p.notes.dropSlab(s.id)
		}
		for len(p.slabs) > 0 && p.slabs[0] == nil {
			p.slabs = p.slabs[1:]
			p.slabBase++
		}
	}
}

// packable reports whether ex can be packed exactly: its Start's location is UTC or Local (the recorder's times
// and a capture file's written in UTC are), and its bodies fit a ref's 32-bit length.
func packable(ex *Exchange) bool {
	_, ok := startLoc(&ex.Start)
	return ok && timeword.OK && len(ex.RespBody.Data) < 1<<31 && len(ex.ReqBody.Data) < 1<<31 &&
		ex.Status >= math.MinInt32 && ex.Status <= math.MaxInt32
}

// pack packs ex (a completed exchange; not modified) into rec. Callers hold the store's lock. A body of at least
// fileMin bytes (0: none) is put in a slab of its own, to be dropped once the capture file holds it (bodies.go),
// and the texts of the JSON-RPC messages and events' ids found in it are kept in the record's own part rather than
// as runs of it, so that the record read without that body (Store.Snapshot) keeps them.
//
// like, when not nil, is the record of likeEx, already packed (the upstream copy derived from ex: completePair packs
// it first): a body or header list of ex that is likeEx's — the same slice, so the same bytes — is a reference to
// like's part (its slab's count taken) rather than encoded, hashed and looked up in the caches again, and ex's
// JSON-RPC section is copied from like's own part when it was encoded there for the same list (rpcOf names that
// part, so a record packed in between cannot lend its own).
func (p *packer) pack(rec *packed, ex *Exchange, fileMin int, like *packed, likeEx *Exchange) {
	tw, _ := timeword.Split(&ex.Start)
	rec.loc, _ = startLoc(&ex.Start)
	rec.wall, rec.ext = tw.Wall, tw.Ext
	rec.status = int32(ex.Status)
	rec.live = false

	var likeRefs *[nParts]ref
	if like != nil {
		likeRefs = &like.refs
	}
	if r, ok := p.same(likeRefs, partReqHeaders, ex.ReqHeaders, likeEx); ok {
		rec.refs[partReqHeaders] = r
	} else {
		rec.refs[partReqHeaders] = p.putHeaders(ex.ReqHeaders)
	}
	if r, ok := p.same(likeRefs, partRespHeaders, ex.RespHeaders, likeEx); ok {
		rec.refs[partRespHeaders] = r
	} else {
		rec.refs[partRespHeaders] = p.putHeaders(ex.RespHeaders)
	}
	reqFile, respFile := toFile(ex.ReqBody.Data, fileMin), toFile(ex.RespBody.Data, fileMin)
	// with a capture file (fileMin > 0) the small bodies have slabs of their own: the store may let them go at its
	// bound once the record's line is written (Store.spill)
	split := fileMin > 0
	// the bodies have a cache of their own: most are one of a kind (shared only by the upstream copy of a proxied
	// exchange, packed next), and in the lists' cache each would push out a header list that repeats
	if r, ok := p.sameBody(likeRefs, partReqBody, ex.ReqBody.Data, likeEx); ok {
		rec.refs[partReqBody] = r
	} else {
		rec.refs[partReqBody] = p.put(ex.ReqBody.Data, ex.ReqBody.Data == nil, &p.bodies, reqFile, split)
	}
	if r, ok := p.sameBody(likeRefs, partRespBody, ex.RespBody.Data, likeEx); ok {
		rec.refs[partRespBody] = r
	} else {
		rec.refs[partRespBody] = p.put(ex.RespBody.Data, ex.RespBody.Data == nil, &p.bodies, respFile, split)
	}
	p.scratch = appendNotes(p.scratch[:0], ex.Notes, ex.ID)
	// a list with a link between a proxied exchange and its upstream copy (the other's id) is one of a kind: not
	// worth a slot in the cache
	notesCache := &p.parts
	if hasLink(ex.Notes) {
		notesCache = nil
	}
	rec.refs[partNotes] = p.put(p.scratch, ex.Notes == nil, notesCache, false, false)
	// the JSON-RPC messages' part of the rest is the same bytes as like's when they are the same list found in the
	// same bodies (the client's record holds its upstream copy's list when the copy's request body is its own:
	// heldPair.sameRPC): copied rather than encoded again
	var rpcSec []byte
	if like != nil && p.rpcOf.rest == like.refs[partRest] && len(ex.RPC) > 0 && len(ex.RPC) == len(likeEx.RPC) &&
		&ex.RPC[0] == &likeEx.RPC[0] && sameSlice(ex.ReqBody.Data, likeEx.ReqBody.Data) &&
		sameSlice(ex.RespBody.Data, likeEx.RespBody.Data) && p.rpcOf.reqFile == reqFile && p.rpcOf.respFile == respFile {
		rpcSec = p.rpcSec
		p.rpcCopied++
	}
	p.rest = p.appendRest(p.rest[:0], ex, reqFile, respFile, rpcSec)
	rec.refs[partRest] = p.put(p.rest, false, nil, false, false)
	p.rpcOf.rest = ref{} // no record's (its own part is never nil)
	if like == nil && len(ex.RPC) > 0 {
		// what a record packed next with this one as its like may copy (the rest's messages: appendRest)
		p.rpcSec = append(p.rpcSec[:0], p.rest[p.rpcAt:p.rpcEnd]...)
		p.rpcOf.rest, p.rpcOf.reqFile, p.rpcOf.respFile = rec.refs[partRest], reqFile, respFile
	}
	if cap(p.scratch) > 64<<10 {
		p.scratch = nil // a stranger's one large list does not stay
	}
	if cap(p.rest) > 64<<10 {
		p.rest = nil
	}
	if cap(p.rpcSec) > 64<<10 {
		p.rpcSec, p.rpcOf.rest = nil, ref{}
	}
}

// putHeaders puts a header list as a part (put, shared through the lists' cache), or takes a reference to the part
// of an equal list packed recently, found in lastLists by a fingerprint of the list (listPrint: its length, and
// its values' lengths and a few of their bytes; a set of two slots for each) and checked by reading that part
// against h (isHeaders: its count, then each name and value) rather than by encoding h, hashing the encoding and
// comparing the two encodings. A proxy's requests and answers repeat their lists call after call (the client's
// request list, the upstream copy's and the answer's: three lists a call, for each session). The part is read in
// the slab, where its bytes are together: comparing h with the part's materialised list (the hdrs cache) instead
// read some twenty strings scattered in the heap, and cost the proxy more than the encoding it saved.
func (p *packer) putHeaders(h Headers) ref {
	var set *[2]ref
	if len(h) > 0 && len(h) <= matListMax {
		i := listPrint(h) % uint64(len(p.lastLists)/2) * 2
		set = (*[2]ref)(p.lastLists[i : i+2])
		for k, r := range set {
			if r.slab >= slabIDs && p.recent(r) {
				if s := p.slab(r.slab); isHeaders(partAt(s.buf, r.off), h) {
					s.refs++
					p.listsMatched++
					set[0], set[k] = r, set[0] // the one used last first
					return r
				}
			}
		}
	}
	p.scratch = packHeaders(p.scratch[:0], h)
	r := p.put(p.scratch, h == nil, &p.parts, false, false)
	if set != nil && r != set[0] {
		set[1], set[0] = set[0], r
	}
	return r
}

// isHeaders reports whether part is packHeaders' encoding of h (not nil).
func isHeaders(part []byte, h Headers) bool {
	n, k := binary.Uvarint(part)
	if k <= 0 || n != uint64(len(h))+1 {
		return false
	}
	part = part[k:]
	for i := range h {
		for _, t := range [2]string{h[i].Name, h[i].Value} {
			l, k := binary.Uvarint(part)
			if k <= 0 || l != uint64(len(t)) || uint64(len(part)-k) < l || string(part[k:k+int(l)]) != t {
				return false
			}
			part = part[k+int(l):]
		}
	}
	return len(part) == 0
}

// listPrint is a header list's fingerprint for lastLists: lists that differ in a value's length or in its first,
// middle or last byte (a session's id: one list a session) fall in different slots, mostly; any other difference
// is found by the comparison that follows.
func listPrint(h Headers) uint64 {
	x := uint64(len(h))
	for i := range h {
		v := h[i].Value
		x = x*0x9E3779B97F4A7C15 + uint64(len(v))
		if len(v) > 0 {
			x ^= uint64(v[0]) | uint64(v[len(v)/2])<<8 | uint64(v[len(v)-1])<<16
		}
	}
	return x ^ x>>29
}

// sameSlice reports whether a and b are the same bytes in memory (the same slice, or both empty).
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// same returns like's header list part i when h is likeEx's list i (the same slice; like nil: none), its slab's
// count taken.
func (p *packer) same(like *[nParts]ref, i int, h Headers, likeEx *Exchange) (ref, bool) {
	if like == nil || len(h) == 0 {
		return ref{}, false
	}
	o := likeEx.ReqHeaders
	if i == partRespHeaders {
		o = likeEx.RespHeaders
	}
	if len(o) != len(h) || &o[0] != &h[0] {
		return ref{}, false
	}
	return p.take(like[i])
}

// sameBody is same for a body (part partReqBody or partRespBody of like).
func (p *packer) sameBody(like *[nParts]ref, i int, b []byte, likeEx *Exchange) (ref, bool) {
	if like == nil || len(b) == 0 {
		return ref{}, false
	}
	o := likeEx.ReqBody.Data
	if i == partRespBody {
		o = likeEx.RespBody.Data
	}
	if len(o) != len(b) || unsafe.SliceData(o) != unsafe.SliceData(b) {
		return ref{}, false
	}
	return p.take(like[i])
}

// take takes a reference to the part r refers to in a slab (ok false for any other ref: a body in the capture file,
// a slab gone).
func (p *packer) take(r ref) (ref, bool) {
	if r.slab < slabIDs || r.slab >= refSpill {
		return ref{}, false
	}
	s := p.slab(r.slab)
	if s == nil || s.dead {
		return ref{}, false
	}
	s.refs++
	p.taken++
	return r, true
}

func hasLink(ns []Note) bool {
	for i := range ns {
		if k := ns[i].Key; k == NoteInbound || k == NoteOutbound {
			return true
		}
	}
	return false
}

// The encoding of the parts: counts and lengths as uvarints, a list's count +1 (0: nil).

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, n int, isNil bool) []byte {
	if isNil {
		return append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(n)+1)
}

func packHeaders(b []byte, h Headers) []byte {
	b = appendList(b, len(h), h == nil)
	for _, x := range h {
		b = appendStr(appendStr(b, x.Name), x.Value)
	}
	return b
}

// appendNotes writes a note list, the keys as words (the link between a proxied exchange and its upstream copy,
// "inbound" or "outbound" and the other's id, is in every proxied record and one of a kind).
// A note's value is its length ×2 and its bytes, or, for a link (its key NoteInbound or NoteOutbound, the other
// exchange's id in decimal), a 1 and the other's id as a varint difference from the record's own id (id): two
// bytes for the upstream copy next to its client's exchange, rather than the id's digits. A list with a link is
// one of a kind, never shared (pack), so its bytes may depend on the record's id.
func appendNotes(b []byte, ns []Note, id uint64) []byte {
	b = appendList(b, len(ns), ns == nil)
	for _, x := range ns {
		b = appendWord(b, x.Key)
		if v, ok := linkID(x); ok {
			b = binary.AppendVarint(append(b, 1), int64(v-id))
			continue
		}
		b = binary.AppendUvarint(b, uint64(len(x.Value))<<1)
		b = append(b, x.Value...)
	}
	return b
}

// linkID is the id a link note names, ok only when its value is that id's decimal digits exactly.
func linkID(n Note) (uint64, bool) {
	if n.Key != NoteInbound && n.Key != NoteOutbound || n.Value == "" || len(n.Value) > 19 ||
		n.Value[0] == '0' && len(n.Value) > 1 {
		return 0, false
	}
	v, err := strconv.ParseUint(n.Value, 10, 64)
	return v, err == nil
}

// appendIn writes a text that may be a run of the body (in): 2×length+1 and its offset in the body when it is,
// 2×length and the text when not.
func appendIn(b []byte, s string, in *eventsInBody) []byte {
	if j := in.find(s); j >= 0 {
		b = binary.AppendUvarint(b, uint64(len(s))<<1|1)
		return binary.AppendUvarint(b, uint64(j))
	}
	b = binary.AppendUvarint(b, uint64(len(s))<<1)
	return append(b, s...)
}

// toFile reports a body the capture file will hold (at least fileMin bytes; 0: none).
func toFile(b []byte, fileMin int) bool { return fileMin > 0 && len(b) >= fileMin }

// appendRest encodes everything of ex that is not in its fixed part, its header lists, bodies and notes. A body
// going to the capture file (reqFile, respFile) is looked in only for events' data: the record read without it
// has the other texts.
// The messages' part (from p.rpcAt to p.rpcEnd in what it returns) is rpcSec when it is not nil: the same messages
// encoded for another record, found in the same bodies (pack).
func (p *packer) appendRest(b []byte, ex *Exchange, reqFile, respFile bool, rpcSec []byte) []byte {
	// the two lists' counts first: materialise allocates the record and its lists together
	b = appendList(b, len(ex.Events), ex.Events == nil)
	b = appendList(b, len(ex.RPC), ex.RPC == nil)
	b = binary.AppendVarint(b, int64(ex.Timings.Wait))
	b = binary.AppendVarint(b, int64(ex.Timings.Total))
	b = appendWord(b, ex.Kind)
	b = appendWord(b, ex.State)
	b = p.appendAddr(b, ex.RemoteAddr)
	b = appendWord(b, ex.Method)
	b = p.appendName(b, ex.URL)
	b = p.appendName(b, ex.Host)
	b = appendWord(b, ex.Proto)
	// a byte of flags (restFlags) says which of the rarely set fields follow; a body's size is written as its
	// difference from the length the record keeps (its bytes, or their length in a ref to the capture file): 0,
	// one byte, for a body recorded whole
	var f byte
	if ex.ReqBody.Truncated {
		f |= restReqTrunc
	}
	if ex.RespBody.Truncated {
		f |= restRespTrunc
	}
	if ex.Error != "" {
		f |= restError
	}
	if ex.EventsSkipped != 0 {
		f |= restEventsSkipped
	}
	if ex.RPCSkipped != 0 {
		f |= restRPCSkipped
	}
	b = append(b, f)
	if ex.Error != "" {
		b = appendStr(b, ex.Error)
	}
	b = binary.AppendVarint(b, ex.ReqBody.Size-int64(len(ex.ReqBody.Data)))
	b = binary.AppendVarint(b, ex.RespBody.Size-int64(len(ex.RespBody.Data)))
	if ex.EventsSkipped != 0 {
		b = binary.AppendVarint(b, int64(ex.EventsSkipped))
	}
	if ex.RPCSkipped != 0 {
		b = binary.AppendVarint(b, int64(ex.RPCSkipped))
	}
	data, ids, reqIn, respIn := bodyFinders(ex)
	if reqFile {
		reqIn = eventsInBody{missed: true}
	}
	if respFile {
		ids, respIn = eventsInBody{missed: true}, eventsInBody{missed: true}
	}
	for i := range ex.Events {
		ev := &ex.Events[i]
		b = binary.AppendVarint(b, int64(ev.At))
		b = appendIn(b, ev.ID, &ids)
		b = appendWord(b, ev.Event)
		b = appendIn(b, ev.Data, &data)
		b = binary.AppendVarint(b, int64(ev.Retry))
	}
	p.rpcAt = len(b)
	if rpcSec != nil {
		b = append(b, rpcSec...)
	}
	for i := range ex.RPC {
		if rpcSec != nil {
			break
		}
		m := &ex.RPC[i]
		f := rpcFinder(m, &reqIn, &respIn)
		// a message is a head byte (rpcHead: its flags, its direction when client or server, which fields follow),
		// its method and the method it answers as words, and only the fields it has: a call or its answer, its
		// id found in its body, takes 5–6 bytes (11–12 with a byte per field)
		head := rpcHead(m)
		b = append(b, head)
		if head&rpcFromMask == rpcFromOther {
			b = appendWord(b, m.From)
		}
		b = appendWord(b, m.Method)
		if m.ID != nil {
			b = appendIn(b, bytesString(m.ID), f)
		}
		if m.ErrorCode != nil {
			b = binary.AppendVarint(b, int64(*m.ErrorCode))
		}
		if m.ErrorMessage != "" {
			b = appendIn(b, m.ErrorMessage, f)
		}
		b = appendWord(b, m.ReplyTo)
		if m.Event != -1 {
			b = binary.AppendVarint(b, int64(m.Event))
		}
	}
	p.rpcEnd = len(b)
	b = appendList(b, len(ex.Toggles), ex.Toggles == nil)
	for _, t := range ex.Toggles {
		b = appendStr(appendStr(appendStr(appendStr(b, t.Name), t.What), t.Before), t.After)
	}
	return b
}

// The flags of a record's own part: which of its rarely set fields follow.
const (
	restReqTrunc = 1 << iota
	restRespTrunc
	restError
	restEventsSkipped
	restRPCSkipped
)

// bodyLen is the length of the body r refers to (p: its bytes when in memory).
func bodyLen(r ref, p []byte) int64 {
	if r.slab == refFile || r.slab == refSpill {
		return int64(r.fileLen())
	}
	return int64(len(p))
}

// A JSON-RPC message's head byte: its flags, which of its fields follow, its direction.
const (
	rpcResponse = 1 << iota
	rpcBatch
	rpcHasID
	rpcHasCode
	rpcHasErrMsg
	rpcHasEvent   // Event is not -1 (the message is not in an event)
	rpcFromClient = 0 << 6
	rpcFromServer = 1 << 6
	rpcFromOther  = 2 << 6 // the direction follows as a word
	rpcFromMask   = 3 << 6
)

func rpcHead(m *RPC) byte {
	var h byte
	if m.IsResponse {
		h |= rpcResponse
	}
	if m.Batch {
		h |= rpcBatch
	}
	if m.ID != nil {
		h |= rpcHasID
	}
	if m.ErrorCode != nil {
		h |= rpcHasCode
	}
	if m.ErrorMessage != "" {
		h |= rpcHasErrMsg
	}
	if m.Event != -1 {
		h |= rpcHasEvent
	}
	switch m.From {
	case FromClient:
		h |= rpcFromClient
	case FromServer:
		h |= rpcFromServer
	default:
		h |= rpcFromOther
	}
	return h
}

// reader decodes a part; its strings refer to the part's bytes. A part is written by pack and never changed, so
// it is well formed; a malformed one (a bug) reads as zero values rather than panicking.
type reader struct {
	b    []byte
	dict []string // the store's names (packer.dict) as they were when the record was read
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.b = nil
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) str() string {
	s := r.bytes(r.uvarint())
	if len(s) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(s), len(s))
}

// own reads a text of the record's own part that a reader may keep after it let the record go (the address, the
// URL, the host, a fault, a toggle): a copy of its own — interned when short (the same address, URL and host
// repeat from one record to the next: no allocation while in use), cloned when long — rather than a run of the
// slab, so that keeping it does not keep the whole slab alive past the store's bound. Header and note lists are
// read from a copy of their part (readHeaders, readNotes); only the bodies and the texts found in them are the
// slab's bytes.
func (r *reader) own() string {
	s := r.str()
	if len(s) > internMax {
		return strings.Clone(s)
	}
	return intern(s)
}

// words are the texts most records hold (kinds, states, directions, methods, protocols, event types, the
// MCP methods, and the empty text: a call's ReplyTo, an answer's Method): a record holds such a text as one byte,
// its index + 1. Others are written whole after a 0.
var words = [...]string{"", Inbound, Outbound, StatePending, StateStreaming, StateComplete, FromClient, FromServer,
	"GET", "POST", "DELETE", "OPTIONS", "HEAD", "PUT", "HTTP/1.1", "HTTP/2.0", "HTTP/1.0", "message", "endpoint",
	"initialize", "notifications/initialized", "tools/list", "tools/call", "resources/list", "resources/read",
	"resources/templates/list", "prompts/list", "prompts/get", "ping", "notifications/progress", "notifications/message",
	"notifications/cancelled", "logging/setLevel", "completion/complete", "notifications/tools/list_changed"}

// wordSlots finds a word by one comparison: slot wordSlot(s) holds the index in words (plus one: what appendWord
// writes) of the one word of at least 3 bytes in it, 0 for none, or wordsShared when two words fall in it (then
// they are compared one by one, as a text shorter than 3 bytes is; the words of today fall in slots of their own:
// TestWordsHaveSlotsOfTheirOwn). A record writes about ten words, a proxied call's two records twenty, and the
// messages' methods are found the same way when they are read (setShortString): comparing s with each word of its
// length, as before, was a twentieth of packing a pair.
var wordSlots = func() (t [128]byte) {
	for i, w := range words {
		if len(w) < 3 {
			continue
		}
		if h := wordSlot(w); t[h] == 0 {
			t[h] = byte(i + 1)
		} else {
			t[h] = wordsShared
		}
	}
	return t
}()

const wordsShared = 0xff

// wordSlot is a word's slot in wordSlots (len(s) >= 3): its length and its last and third-last bytes.
func wordSlot(s string) byte {
	return byte(len(s)+int(s[len(s)-1])+7*int(s[len(s)-3])) & 127
}

// wordIndex returns the index of s in words plus one, or false when s is not a word.
func wordIndex(s string) (byte, bool) {
	if s == "" {
		return 1, true // words[0]
	}
	i := byte(wordsShared) // a word shorter than 3 bytes has no slot: compared one by one
	if len(s) >= 3 {
		i = wordSlots[wordSlot(s)]
	}
	switch {
	case i == wordsShared:
		for k, w := range words {
			if w == s {
				return byte(k + 1), true
			}
		}
	case i != 0 && words[i-1] == s:
		return i, true
	}
	return 0, false
}

// appendWord writes s as its index in words, or whole (a 0, then the text).
func appendWord(b []byte, s string) []byte {
	if i, ok := wordIndex(s); ok {
		return append(b, i)
	}
	return appendStr(append(b, 0), s)
}

// word reads what appendWord wrote.
func (r *reader) word() string {
	i := r.byte()
	if i == 0 {
		return r.own()
	}
	if int(i) <= len(words) {
		return words[i-1]
	}
	return ""
}

// The store's dictionary of names: the URLs and hosts of its records (a proxy's upstream URL and host, the
// listener's host: the same few in every record) are written as an index into a table of the store's, rather than
// whole (12–27 bytes each). The table only grows, bounded: at most maxNames names of at most internMax bytes,
// counted in the store's bytes (each its length + nameBytes); past it names are written whole. A reader reads a
// copy of the table's slice taken under the store's lock (slabTable.dict): the names below its length never
// change.
const (
	maxNames  = 1024
	nameBytes = 64 // what one name costs beside its bytes: its string, its map entry
	nameMark  = 0xFF
)

// appendName writes s (a URL, a host) as a word, as its index in the dictionary (nameMark and the index, the
// name added when it is new and there is room), or whole.
func (p *packer) appendName(b []byte, s string) []byte {
	if i, ok := wordIndex(s); ok {
		return append(b, i)
	}
	i, ok := p.names[s]
	if !ok {
		i, ok = p.addName(s)
	}
	if ok {
		return binary.AppendUvarint(append(b, nameMark), uint64(i))
	}
	return appendStr(append(b, 0), s)
}

// addName adds s to the dictionary when there is room (ok false: none, or s is empty or too long).
func (p *packer) addName(s string) (uint32, bool) {
	if s == "" || len(s) > internMax || len(p.dict) >= maxNames {
		return 0, false
	}
	c := strings.Clone(s)
	i := uint32(len(p.dict))
	p.dict = append(p.dict, c)
	p.names[c] = i
	p.dictBytes += int64(len(c)) + nameBytes
	p.bytes += int64(len(c)) + nameBytes
	return i, true
}

// maxAddrNames bounds the hosts of remote addresses in the dictionary (appendAddr): a quarter of it, so that a
// stranger coming from many addresses leaves room for the URLs and hosts.
const maxAddrNames = maxNames / 4

// appendAddr writes a remote address "host:port" as its host in the dictionary and its port as a uvarint (a 1,
// then both: 4–6 bytes rather than 16 for "127.0.0.1:34218") when its port is written the usual way (decimal, no
// leading zero, at most 65535) and its host is in the dictionary or may be added (hosts of addresses take at most
// maxAddrNames names: past them an address is written whole); else whole (a 0, then the text); "" as a 2.
func (p *packer) appendAddr(b []byte, s string) []byte {
	if s == "" {
		return append(b, 2) // an upstream copy's: one byte
	}
	if host, port, ok := splitAddr(s); ok {
		i, ok := p.names[host]
		if !ok && p.addrNames < maxAddrNames {
			if i, ok = p.addName(host); ok {
				p.addrNames++
			}
		}
		if ok {
			b = binary.AppendUvarint(append(b, 1), uint64(i))
			return binary.AppendUvarint(b, port)
		}
	}
	return appendStr(append(b, 0), s)
}

// splitAddr splits "host:port" at its last colon; ok only when the port reads back as the same digits.
func splitAddr(s string) (host string, port uint64, ok bool) {
	j := strings.LastIndexByte(s, ':')
	if j <= 0 {
		return "", 0, false
	}
	host, ps := s[:j], s[j+1:]
	if ps == "" || len(ps) > 5 || ps[0] == '0' && len(ps) > 1 {
		return "", 0, false
	}
	for k := range len(ps) {
		if ps[k] < '0' || ps[k] > '9' {
			return "", 0, false
		}
		port = port*10 + uint64(ps[k]-'0')
	}
	return host, port, port <= math.MaxUint16
}

// addr reads what appendAddr wrote: interned (the same address repeats for a connection's exchanges).
func (r *reader) addr() string {
	switch r.byte() {
	case 0:
		return r.own()
	case 2:
		return ""
	}
	k, port := r.uvarint(), r.uvarint()
	if k >= uint64(len(r.dict)) || port > math.MaxUint16 {
		return ""
	}
	var buf [internMax + 8]byte
	b := strconv.AppendUint(append(append(buf[:0], r.dict[k]...), ':'), port, 10)
	// one allocation of the address' length (buf stays on the stack); intern keeps one copy while in use
	return intern(string(b))
}

// name reads what appendName wrote.
func (r *reader) name() string {
	switch i := r.byte(); {
	case i == 0:
		return r.own()
	case i == nameMark:
		if k := r.uvarint(); k < uint64(len(r.dict)) {
			return r.dict[k]
		}
		return ""
	case int(i) <= len(words):
		return words[i-1]
	}
	return ""
}

// in reads what appendIn wrote, in body.
func (r *reader) in(body []byte) string {
	k := r.uvarint()
	if k&1 == 0 {
		s := r.bytes(k >> 1)
		if len(s) == 0 {
			return ""
		}
		return unsafe.String(unsafe.SliceData(s), len(s))
	}
	n, j := k>>1, r.uvarint()
	if j > uint64(len(body)) || n > uint64(len(body))-j {
		return ""
	}
	return unsafe.String(unsafe.SliceData(body[j:]), int(n))
}

// list reads a list's count: -1 for nil.
func (r *reader) list() int {
	n := r.uvarint()
	if n == 0 {
		return -1
	}
	// a count beyond what the part's bytes can hold is a bug: read nothing
	return min(int(n-1), len(r.b))
}

// readHeaders reads a header list from a copy of its part: a reader that keeps one of its texts (the analysis
// keeps a connection's session id and user agent for as long as the connection) keeps the list's few hundred
// bytes, not the slab (TestKeptTextsDoNotKeepSlabs).
func readHeaders(b []byte) Headers {
	r := reader{b: bytes.Clone(b)}
	n := r.list()
	if n < 0 {
		return nil
	}
	h := make(Headers, n)
	for i := range h {
		h[i] = Header{Name: r.str(), Value: r.str()}
	}
	return h
}

// readNotes reads a note list from a copy of its part, as readHeaders.
func readNotes(b []byte, id uint64) []Note {
	r := reader{b: bytes.Clone(b)}
	n := r.list()
	if n < 0 {
		return nil
	}
	ns := make([]Note, n)
	for i := range ns {
		ns[i].Key = r.word()
		if k := r.uvarint(); k == 1 {
			ns[i].Value = strconv.FormatUint(id+uint64(r.varint()), 10)
		} else if v := r.bytes(k >> 1); len(v) > 0 {
			ns[i].Value = unsafe.String(unsafe.SliceData(v), len(v))
		}
	}
	return ns
}

// slabTable resolves a record's refs to bytes. Materialising outside the store's lock uses a copy of the table.
type slabTable struct {
	slabs []*slabBuf
	base  uint32
	dict  []string // the dictionary of names (packer.dict)
}

// parts resolves rec's refs.
func (t slabTable) parts(rec *packed) (ps [nParts][]byte) {
	for i, r := range rec.refs {
		ps[i] = t.part(r)
	}
	return ps
}

func (t slabTable) part(r ref) []byte {
	switch r.slab {
	case refNil, refFile, refSpill:
		return nil
	case refEmpty:
		return []byte{}
	}
	i := int(r.slab) - int(t.base)
	if i < 0 || i >= len(t.slabs) || t.slabs[i] == nil {
		return nil // not reached: a record's slabs live as long as it does
	}
	return partAt(t.slabs[i].buf, r.off)
}

// partLen is the length of the part r refers to in a slab (r.slab ≥ slabIDs, below refSpill; 0 if its slab is gone).
func (p *packer) partLen(r ref) int {
	s := p.slab(r.slab)
	if s == nil {
		return 0
	}
	return len(partAt(s.buf, r.off))
}

// uvarintLen is the length of x's uvarint.
func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// materialise returns the exchange rec holds, its parts resolved (hdrs, notes: the caches of materialised lists,
// read only).
func materialise(id uint64, rec *packed, ps *[nParts][]byte, dict []string, hdrs *matCache[Header], notes *matCache[Note]) *Exchange {
	r := reader{b: ps[partRest], dict: dict}
	nEv, nRPC := r.list(), r.list()
	c, evs, msgs := newRecord(nEv, nRPC)
	*c = Exchange{ID: id, Status: int(rec.status), Events: evs, RPC: msgs}
	c.Timings.Wait, c.Timings.Total = time.Duration(r.varint()), time.Duration(r.varint())
	var loc *time.Location
	if rec.loc == locLocal {
		loc = time.Local
	}
	c.Start = timeword.Join(timeword.Words{Wall: rec.wall, Ext: rec.ext}, loc)
	c.ReqHeaders = matHeaders(rec.refs[partReqHeaders], ps[partReqHeaders], hdrs)
	c.RespHeaders = matHeaders(rec.refs[partRespHeaders], ps[partRespHeaders], hdrs)
	c.ReqBody.Data = ps[partReqBody]
	c.RespBody.Data = ps[partRespBody]
	if nr := rec.refs[partNotes]; nr.slab >= slabIDs {
		if c.Notes = notes.get(nr); c.Notes == nil {
			c.Notes = readNotes(ps[partNotes], id)
		}
	} else if nr.slab == refEmpty {
		c.Notes = []Note{}
	}
	c.Kind, c.State, c.RemoteAddr, c.Method = r.word(), r.word(), r.addr(), r.word()
	c.URL, c.Host, c.Proto = r.name(), r.name(), r.word()
	f := r.byte()
	if f&restError != 0 {
		c.Error = r.own()
	}
	c.ReqBody.Size = r.varint() + bodyLen(rec.refs[partReqBody], ps[partReqBody])
	c.RespBody.Size = r.varint() + bodyLen(rec.refs[partRespBody], ps[partRespBody])
	c.ReqBody.Truncated, c.RespBody.Truncated = f&restReqTrunc != 0, f&restRespTrunc != 0
	if f&restEventsSkipped != 0 {
		c.EventsSkipped = int(r.varint())
	}
	if f&restRPCSkipped != 0 {
		c.RPCSkipped = int(r.varint())
	}
	{
		for i := range c.Events {
			ev := &c.Events[i]
			ev.At = time.Duration(r.varint())
			ev.ID = r.in(c.RespBody.Data)
			ev.Event = r.word()
			ev.Data = r.in(c.RespBody.Data)
			ev.Retry = int(r.varint())
		}
	}
	{
		n := len(c.RPC)
		var codes []int
		for i := range c.RPC {
			m := &c.RPC[i]
			head := r.byte()
			switch head & rpcFromMask {
			case rpcFromClient:
				m.From = FromClient
			case rpcFromServer:
				m.From = FromServer
			default:
				m.From = r.word()
			}
			m.Method = r.word()
			body := c.RespBody.Data
			if m.From == FromClient {
				body = c.ReqBody.Data
			}
			if head&rpcHasID != 0 {
				id := r.in(body)
				m.ID = unsafe.Slice(unsafe.StringData(id), len(id))[:len(id):len(id)]
				if m.ID == nil {
					m.ID = []byte{}
				}
			}
			if head&rpcHasCode != 0 {
				if codes == nil {
					codes = make([]int, 0, n) // one allocation for every code of the list
				}
				codes = append(codes, int(r.varint()))
				m.ErrorCode = &codes[len(codes)-1]
			}
			if head&rpcHasErrMsg != 0 {
				m.ErrorMessage = r.in(body)
			}
			m.ReplyTo = r.word()
			m.Event = -1
			if head&rpcHasEvent != 0 {
				m.Event = int(r.varint())
			}
			m.IsResponse, m.Batch = head&rpcResponse != 0, head&rpcBatch != 0
		}
	}
	if n := r.list(); n >= 0 {
		c.Toggles = make([]ToggleChange, n)
		for i := range c.Toggles {
			c.Toggles[i] = ToggleChange{Name: r.own(), What: r.own(), Before: r.own(), After: r.own()}
		}
	}
	c.memo = compactMemo(c)
	return c
}

// newRecord allocates a materialised record with its events and JSON-RPC messages (nil for -1): the usual
// shapes — a call answered in one event, a call answered in the body, no messages — in one allocation.
func newRecord(nEv, nRPC int) (*Exchange, []SSEEvent, []RPC) {
	switch {
	case nEv <= 1 && nRPC <= 2 && nEv >= 0 && nRPC >= 0:
		m := &struct {
			ex  Exchange
			ev  [1]SSEEvent
			rpc [2]RPC
		}{}
		return &m.ex, m.ev[:nEv:nEv], m.rpc[:nRPC:nRPC]
	case nEv < 0 && nRPC >= 0 && nRPC <= 2:
		m := &struct {
			ex  Exchange
			rpc [2]RPC
		}{}
		return &m.ex, nil, m.rpc[:nRPC:nRPC]
	}
	var evs []SSEEvent
	var msgs []RPC
	if nEv >= 0 {
		evs = make([]SSEEvent, nEv)
	}
	if nRPC >= 0 {
		msgs = make([]RPC, nRPC)
	}
	return &Exchange{}, evs, msgs
}

func matHeaders(r ref, b []byte, cache *matCache[Header]) Headers {
	switch r.slab {
	case refNil:
		return nil
	case refEmpty:
		return Headers{}
	}
	if h := cache.get(r); h != nil {
		return h
	}
	return readHeaders(b)
}

// matListMax is the most lines of a list the caches of materialised lists keep: the lists that repeat (a
// session's requests, a server's answers) are a few dozen lines, and a stranger's list of thousands (32 bytes a
// line materialised, a few in the slab) would make the caches hold more than the store counts.
const matListMax = 64

// remember puts rec's materialised lists in the caches (the store's lock held).
func (p *packer) remember(rec *packed, c *Exchange) {
	for _, x := range [...]struct {
		r ref
		h Headers
	}{{rec.refs[partReqHeaders], c.ReqHeaders}, {rec.refs[partRespHeaders], c.RespHeaders}} {
		if x.r.slab >= slabIDs && len(x.h) <= matListMax {
			p.hdrs.put(x.r, x.h)
		}
	}
	if r := rec.refs[partNotes]; r.slab >= slabIDs && len(c.Notes) > 0 && len(c.Notes) <= matListMax && !hasLink(c.Notes) {
		p.notes.put(r, c.Notes)
	}
}

// table returns the slab table (shared: only under the store's lock; clone it to use it after).
func (p *packer) table() slabTable { return slabTable{slabs: p.slabs, base: p.slabBase, dict: p.dict} }
