package analysis

import (
	"cmp"
	"hash/maphash"
	"maps"
	"math"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unique"
	"unsafe"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/clients"
)

const (
	defaultGrace  = 30 * time.Second
	defaultWindow = 5 * time.Minute
	// runGap: a client id seen again after this long opens a new connection (a reconnect with a cached client).
	runGap = 30 * time.Minute
)

// Analyzer analyses exchanges as they arrive. Observe is called with every update of an exchange (later
// snapshots of the same id replace earlier ones). It is not safe for concurrent use.
//
// Cost: Observe is O(1) amortised per update, apart from parsing the bodies of the few exchanges whose content
// matters (metadata, registration, authorization, token, initialize); Report is proportional to the number of
// connections and findings, not to the number of exchanges. An exchange is analysed once, from the first
// snapshot that has a response (its stage, connection and client) and from its final snapshot (its findings).
//
// Memory is bounded by the exchanges held, linearly: past Options.MaxExchanges, or below the id given to Forget
// (the feeder let them go), an exchange is forgotten, and with it what it said (the keys, tokens, client ids and
// session ids it named, as the entry of an index it set last) and, with a connection's last exchange, the
// connection itself (its findings leave the report). What is kept of a connection that still has an exchange held
// is what it learned from all of them (its stages, findings, names), so that a long session keeps its story.
type Analyzer struct {
	opts Options
	// exs is every record held, by exchange id: its slot in recs (neither holds a pointer).
	exs  idIndex
	recs recSlab
	// connTab are the connections records name (exRec.ci), by slot; connFree the slots let go.
	connTab  []*conn
	connFree []uint32
	// memoTab are the memos of the records being analysed (exRec.mi), by slot; memoFree the slots let go that
	// keep their memo for the next exchange (at most maxSpareMemos), memoSlots those that do not.
	memoTab   []*exMemo
	memoFree  []uint32
	memoSlots []uint32
	// facts are the facts of the records that have some (exRec.facts), odd the eras other than the usual two
	// (eraOther): both by exchange id, few.
	facts map[uint64]*exFacts
	odd   map[uint64]string
	// order holds the ids of exs from order[head] on, oldest first, for forgetting the oldest past MaxExchanges.
	order []uint64
	head  int
	// late holds, as a min-heap, the ids of order queued after a greater one (observed out of order) and those of
	// the open exchanges forget set aside (exRec.parked), so that Forget finds every id below its bound; top is the
	// greatest id queued.
	late idHeap
	top  uint64
	// forgetSteps counts the ids forget took from order (the work it did: see TestForgetWorkPerExchange).
	forgetSteps uint64

	conns []*conn // in creation order; merged and gone ones are dropped at the next Report or sweep
	seq   int     // connections created
	// The indexes below name an exchange that set their entry (ref.ex, token.issued, client.ex, rtUse.ex, sids'
	// values): an entry holds while that exchange is held, and sweep deletes the others.
	keys index              // strong keys (client id, token hash, session id, code hash) → connection
	weak index              // user-agent family → the last connection it was seen on
	toks map[string]*token  // access and refresh tokens issued in this capture, by hash
	rts  map[string]rtUse   // refresh tokens presented, by hash: the latest use (at most maxRTUses)
	cids map[string]*client // client ids registered (or metadata documents fetched) in this capture
	sids map[hkey]uint64    // session ids issued in this capture (hkey) → the initialize that issued it
	// discovering is the last connection that fetched metadata or got a challenge: a browser's authorization
	// request (or the server's fetch of a client ID metadata document) with no known key belongs to it.
	discovering ref
	// hosts is, by remote host, the last connection a client request from it joined: a client's requests with
	// another user agent from the same address join it (hostJoin).
	hosts index
	// seeds are the seeds of the indexes' key hashes (hkey).
	seeds [2]maphash.Seed
	// forgotten counts the exchanges forgotten since the indexes were last swept.
	forgotten int
	// sse are the 2024-11-05 event streams by the keys their POSTs find them by (sse.go), sseByID by stream id.
	sse     map[string]*sseStream
	sseByID map[uint64]*sseStream

	last  time.Time // end of the latest exchange seen
	now   time.Time // SetNow
	ended bool      // End: the capture ended

	req reqMemo // the last request body's params, read once for every rule that looks at them
	// keyBuf and keyList are the keys of the exchange being linked (headerKeys, keysOf): scratch.
	keyBuf  []byte
	keyList []string
	cands   []*conn // link's candidates: scratch
	// uaMemo are the last user agents looked up and their signals (uaSignal), uaNext the entry to replace next;
	// uaLookups counts the lookups made (tests).
	uaMemo [uaMemoSize]uaMemoEnt
	// loop is the last remote host asked about and whether it is a loopback address (loopback).
	loop struct {
		host    string
		is, set bool
	}
	uaNext    int
	uaLookups int

	judged int // connections judged by connFindings (tests: a report's work follows the changes)
}

// exRec is what the analyzer keeps of one exchange (never the exchange itself): 56 bytes without a pointer, in
// chunks of recChunk (recSlab), found by id through a map of pointer-free entries, so that the collector neither
// scans the records nor the map on its cycles (an exRec of 80 bytes with four pointers, one object per exchange
// held, and a map of pointers to them before: the most numerous objects the analysis held). What a record names
// is kept by number: its connection by slot (ci), its memo by slot (mi), its start as an instant, its era as a
// code (an unusual era in Analyzer.odd), its facts (rare) in Analyzer.facts by id.
type exRec struct {
	id    uint64
	pair  uint64  // for the upstream's copy of a client request (proxy mode): the client's exchange (its note "inbound")
	start instant // when it started (startAt), its location loc
	// ci is its connection, 1 + its slot in Analyzer.connTab (0: none yet): always a root (merge points the records
	// of the connection it folds to the one they join).
	ci uint32
	mi uint32 // its memo (exMemo), 1 + its slot in Analyzer.memoTab, until its final snapshot is analysed (0: none)
	// birth tells this record from an earlier one of the same id (a record forgotten, observed again) and from
	// the record that had its slot before.
	birth uint32
	loc   uint8 // start's location (instant)
	era   uint8 // its era: eraNone, eraLegacy, era2026 or eraOther (the string in Analyzer.odd)
	st    uint8 // the stage: 1 + its index in stageOrder (0: none yet)
	stat  uint8 // the status: its index in statuses
	// facts: it has an entry in Analyzer.facts. settled: stage fixed, counted in its connection's stage; done:
	// final snapshot analysed; sse: a POST of a 2024-11-05 session, answered on the session's stream; parked: met
	// open at the head of the forget queue, set aside until it completes (forget).
	facts, settled, done, sse, parked bool
}

// startAt is when the exchange started.
func (r *exRec) startAt() time.Time { return r.start.time(r.loc) }

// Era codes (exRec.era).
const (
	eraNone   = 0
	eraLegacy = 1
	era2026   = 2
	eraOther  = 3 // Analyzer.odd holds it, by exchange id
)

// recEra is the exchange's protocol era ("legacy", "2026", what the embedded server's note said, or "").
func (a *Analyzer) recEra(r *exRec) string {
	switch r.era {
	case eraLegacy:
		return "legacy"
	case era2026:
		return "2026"
	case eraOther:
		return a.odd[r.id]
	}
	return ""
}

// setEra sets the exchange's era. An era other than the usual two (a piece of the embedded server's note) is a
// copy of its own in Analyzer.odd, so that it holds no note of the exchange.
func (a *Analyzer) setEra(r *exRec, era string) {
	if r.era == eraOther {
		delete(a.odd, r.id)
	}
	switch era {
	case "":
		r.era = eraNone
	case "legacy":
		r.era = eraLegacy
	case "2026":
		r.era = era2026
	default:
		r.era = eraOther
		a.odd[r.id] = strings.Clone(era)
	}
}

// recChunk is the records a chunk of the record slab holds.
const recChunk = 1024

// recSlab holds the analyzer's records in chunks that do not move (a record's address holds while it is kept)
// and hold no pointer (the collector does not scan them); slots let go are taken again first.
type recSlab struct {
	chunks []*[recChunk]exRec
	n      uint32   // slots handed out
	free   []uint32 // slots let go
	births uint32
}

func (s *recSlab) at(i uint32) *exRec { return &s.chunks[i/recChunk][i%recChunk] }

// alloc is a slot for a new record of id, and the record.
func (s *recSlab) alloc(id uint64) (uint32, *exRec) {
	var i uint32
	if n := len(s.free); n > 0 {
		i, s.free = s.free[n-1], s.free[:n-1]
	} else {
		if s.n == uint32(len(s.chunks))*recChunk {
			s.chunks = append(s.chunks, new([recChunk]exRec))
		}
		i = s.n
		s.n++
	}
	s.births++
	r := s.at(i)
	*r = exRec{id: id, birth: s.births}
	return i, r
}

// release lets slot i go.
func (s *recSlab) release(i uint32) {
	*s.at(i) = exRec{}
	s.free = append(s.free, i)
}

// rec is the record of exchange id, or nil.
func (a *Analyzer) rec(id uint64) *exRec {
	if i, ok := a.exs.get(id); ok {
		return a.recs.at(i)
	}
	return nil
}

// connOf is the connection of a record (nil: none yet).
func (a *Analyzer) connOf(r *exRec) *conn {
	if r == nil || r.ci == 0 {
		return nil
	}
	return a.connTab[r.ci-1]
}

// setConn puts a record in connection c (a root).
func (r *exRec) setConn(c *conn) { r.ci = c.slot }

// statuses are the stage statuses an exRec can hold, by index ("" first: none yet).
var statuses = [...]StageStatus{"", StatusPending, StatusOK, StatusFailed, StatusSkipped}

func (r *exRec) stage() Stage {
	if r.st == 0 {
		return ""
	}
	return stageOrder[r.st-1]
}

// setStage sets the exchange's stage (one of stageOrder: StageOf's).
func (r *exRec) setStage(s Stage) {
	r.st = uint8(stageIndex(s) + 1)
}

func (r *exRec) status() StageStatus { return statuses[r.stat] }

// setStatus sets how the exchange went for its stage (one of statuses: statusOf's).
func (r *exRec) setStatus(s StageStatus) {
	for i, v := range statuses {
		if v == s {
			r.stat = uint8(i)
			return
		}
	}
	r.stat = 0
}

// exFacts are the toggles that altered an exchange (NAME or NAME=VALUE) and the rules that fired on it (its
// connection holds the findings): most exchanges have none.
type exFacts struct {
	toggles []string
	rules   []string
}

// factsOf is the record's facts (nil: none).
func (a *Analyzer) factsOf(r *exRec) *exFacts {
	if !r.facts {
		return nil
	}
	return a.facts[r.id]
}

// factsFor is the record's facts, made if it had none.
func (a *Analyzer) factsFor(r *exRec) *exFacts {
	if f := a.factsOf(r); f != nil {
		return f
	}
	f := &exFacts{}
	a.facts[r.id], r.facts = f, true
	return f
}

func (a *Analyzer) toggled(r *exRec) []string {
	if f := a.factsOf(r); f != nil {
		return f.toggles
	}
	return nil
}

func (a *Analyzer) fired(r *exRec) []string {
	if f := a.factsOf(r); f != nil {
		return f.rules
	}
	return nil
}

// exMemo is what is computed once of an exchange while it is analysed, let go (for the next exchange to reuse)
// once its final snapshot was: most records live long, and these are needed only while it is analysed.
type exMemo struct {
	sig     signal // the exchange's own client signal, while it is in no connection (pending, no key yet)
	tok     string // "tok:" + hash of its bearer token, once computed: a string into tokBuf
	tokDone bool
	fam     string // its user-agent family key, once computed: a string into famBuf
	uaSig   signal // its user agent's signal, once computed
	uaDone  bool
	addrSig signal // its remote address' signal, once computed
	addrOK  bool
	host    string // its remote host (remoteHost), once computed: the family key, the address' signal and the hosts index read it
	hostOK  bool
	// tokBuf and famBuf hold tok and fam, kept from one exchange to the next that takes the memo (scratch: an
	// index copies what it keeps).
	tokBuf [len("tok:") + hashLen]byte
	famBuf []byte
}

// reset empties the memo for the next exchange, keeping its family buffer unless it is long (maxFamBuf).
func (m *exMemo) reset() {
	buf := m.famBuf[:0]
	if cap(buf) > maxFamBuf {
		buf = nil
	}
	*m = exMemo{famBuf: buf}
}

// maxFamBuf bounds the family buffer a memo keeps for the next exchange: a usual family ("ua:" + a user agent +
// "|" + a host) is tens of bytes; the memos let go are as many as the exchanges once open together (up to the
// window), so that a stranger's long user agents on many open exchanges are not kept past them.
const maxFamBuf = 256

// memo is the record's memo, made (or taken from those let go) if it had none.
func (a *Analyzer) memo(r *exRec) *exMemo {
	if r.mi == 0 {
		if n := len(a.memoFree); n > 0 {
			r.mi, a.memoFree = a.memoFree[n-1], a.memoFree[:n-1]
		} else if n := len(a.memoSlots); n > 0 {
			r.mi, a.memoSlots = a.memoSlots[n-1], a.memoSlots[:n-1]
			a.memoTab[r.mi-1] = &exMemo{}
		} else {
			a.memoTab = append(a.memoTab, &exMemo{})
			r.mi = uint32(len(a.memoTab))
		}
	}
	return a.memoTab[r.mi-1]
}

// maxSpareMemos bounds the memos let go that are kept for the next exchanges: as many as exchanges are usually
// open at once; past a burst of open exchanges (a stranger's many streams) the others go.
const maxSpareMemos = 64

// memoIf is the record's memo, or nil.
func (a *Analyzer) memoIf(r *exRec) *exMemo {
	if r.mi == 0 {
		return nil
	}
	return a.memoTab[r.mi-1]
}

// releaseMemo lets the record's memo go, for the next exchange.
func (a *Analyzer) releaseMemo(r *exRec) {
	if r.mi == 0 {
		return
	}
	if len(a.memoFree) < maxSpareMemos {
		a.memoTab[r.mi-1].reset()
		a.memoFree = append(a.memoFree, r.mi)
	} else {
		a.memoTab[r.mi-1] = nil
		a.memoSlots = append(a.memoSlots, r.mi)
	}
	r.mi = 0
}

// tokKey is the key of the exchange's bearer token (hashed once per exchange).
func (a *Analyzer) tokKey(r *exRec, ex *recorder.Exchange) string {
	m := a.memo(r)
	if !m.tokDone {
		m.tokDone = true
		if t := bearer(ex); t != "" {
			h := hashBytes(t)
			b := append(append(m.tokBuf[:0], "tok:"...), h[:]...)
			m.tok = unsafe.String(unsafe.SliceData(b), len(b))
		}
	}
	return m.tok
}

func (a *Analyzer) family(r *exRec, ex *recorder.Exchange) string {
	m := a.memo(r)
	if m.fam == "" {
		m.famBuf = appendFamilyKey(m.famBuf[:0], ex, a.ua(r, ex), a.addr(r, ex), a.host(r, ex))
		m.fam = unsafe.String(unsafe.SliceData(m.famBuf), len(m.famBuf))
	}
	return m.fam
}

// ua is the signal of the exchange's user agent (looked up once per exchange, through the analyzer's memo).
func (a *Analyzer) ua(r *exRec, ex *recorder.Exchange) signal {
	m := a.memo(r)
	if !m.uaDone {
		m.uaDone = true
		m.uaSig = a.uaSignal(header(ex.ReqHeaders, "User-Agent"))
	}
	return m.uaSig
}

// addr is the signal of the exchange's remote address (looked up once per exchange: its family and its client).
func (a *Analyzer) addr(r *exRec, ex *recorder.Exchange) signal {
	m := a.memo(r)
	if !m.addrOK {
		m.addrOK = true
		h := a.host(r, ex)
		m.addrSig = addrSignal(ex, h, a.loopback(h))
	}
	return m.addrSig
}

// host is the exchange's remote host (remoteHost, split once per exchange).
func (a *Analyzer) host(r *exRec, ex *recorder.Exchange) string {
	m := a.memo(r)
	if !m.hostOK {
		m.hostOK = true
		m.host = remoteHost(ex)
	}
	return m.host
}

// loopback is isLoopback(host), parsed again only when host is not the last one asked about: every exchange of a
// client behind a local tunnel or proxy, or of a local client, comes from the same host.
func (a *Analyzer) loopback(host string) bool {
	if !a.loop.set || host != a.loop.host {
		a.loop.host, a.loop.is, a.loop.set = host, isLoopback(host), true
	}
	return a.loop.is
}

// uaMemoSize is the user agents whose signals an analyzer remembers: a client sends one or two, and a session
// setup three exchanges with the same.
const uaMemoSize = 4

// uaSignal is uaSignal(ua), from the memo of the last user agents looked up: matching a user agent against every
// client profile's fingerprints cost a tenth of a session setup's analysis, three times the same one.
func (a *Analyzer) uaSignal(ua string) signal {
	for i := range a.uaMemo {
		if e := &a.uaMemo[i]; e.set && e.ua == ua {
			return e.sig
		}
	}
	a.uaLookups++
	s := uaSignal(ua)
	a.uaMemo[a.uaNext] = uaMemoEnt{ua: shared(ua), sig: s, set: true}
	a.uaNext = (a.uaNext + 1) % uaMemoSize
	return s
}

// uaMemoEnt is a user agent and its signal (uaSignal).
type uaMemoEnt struct {
	ua  string
	sig signal
	set bool
}

// settle lets go of an exchange's memo once its final snapshot was analysed (kept for the next one).
func (a *Analyzer) settle(r *exRec) {
	if !r.done {
		return
	}
	if r.parked { // open when forget met it: queued again now that it completed (it is in late already)
		r.parked = false
		a.order = append(a.order, r.id)
	}
	a.releaseMemo(r)
}

// ref is a connection as an index names it: the exchange that set the entry last (its owner, in that
// connection), whose record names the connection (a record names a root: merge points the records of the
// connection it folds to the one they join). The entry holds while the analyzer holds that exchange.
type ref struct {
	ex uint64
}

// holds reports whether the analyzer keeps a record of exchange id.
func (a *Analyzer) holds(id uint64) bool {
	_, ok := a.exs.get(id)
	return ok
}

// conn is the connection an index entry names, or nil when the exchange that set it was forgotten.
func (a *Analyzer) conn(e ref) *conn {
	if e.ex == 0 {
		return nil
	}
	return a.connOf(a.rec(e.ex))
}

// point sets an index entry to c, as exchange ex (a record of c) says; an entry that already names c keeps the
// latest owner. k may be scratch (the key buffer, a memo's): the index keeps its hash.
func (a *Analyzer) point(m index, k string, c *conn, ex uint64) {
	h := a.hkey(k)
	if old, ok := m[h]; ok && old.ex > ex && a.conn(old) == c {
		ex = old.ex
	}
	m[h] = ref{ex: ex}
}

// pointKey points the strong key k (a string into the key buffer: headerKeys) to c, as point.
func (a *Analyzer) pointKey(k string, c *conn, ex uint64) { a.point(a.keys, k, c, ex) }

// index is one of the analyzer's indexes (strong keys, families, hosts): by the key's hash (hkey), the exchange
// that set the entry last. Neither holds a pointer, so that the collector scans neither the map nor its entries,
// and a key is not copied into the index (a string of its own for every entry: a session setup's session key,
// every exchange's before the entries were written in place).
type index map[hkey]ref

// hkey is a key's hash, 128 bits of two seeded hashes (maphash: a stranger does not know the seeds, so cannot
// make two keys collide; two keys of a capture collide with a probability of about n²/2¹²⁹).
type hkey [2]uint64

// hkey is k's hash for the analyzer's indexes.
func (a *Analyzer) hkey(k string) hkey {
	return hkey{maphash.String(a.seeds[0], k), maphash.String(a.seeds[1], k)}
}

// mark is the latest exchange of some kind in a connection (for rules about what followed it).
type mark struct {
	at time.Time
	ex uint64
}

func (m mark) set() bool { return m.ex != 0 || !m.at.IsZero() }

// before reports whether m is unset or happened before o.
func (m mark) before(o mark) bool {
	return !m.set() || m.at.Before(o.at) || m.at.Equal(o.at) && m.ex < o.ex
}

// Marks kept per connection.
const (
	mCode             = iota // an authorization code was issued (redirect with code)
	mTokenReq                // an authorization_code token request
	mIssued                  // an access token was issued
	mUsed                    // a request bearing an issued token was accepted
	mExpired401              // a request bearing an expired token was refused
	mRefresh                 // a refresh request
	mInitReq                 // an initialize request (any outcome)
	mInitOK                  // initialize succeeded
	mInitSession             // initialize succeeded with a session id (legacy, stateful)
	mInitialized             // notifications/initialized
	mDiscoverOK              // server/discover succeeded
	mDiscoverFail            // server/discover refused
	mToolsList               // tools/list
	mNoTools                 // an initialize/discover result without the tools capability
	mSession404              // a request for a session answered 404
	mChallenge               // a 401 challenge: the server wants a token
	mChallengeNoScope        // a 401 challenge without scope
	mInvalidScope            // invalid_scope from authorize or token
	mPRMTry                  // a resource metadata fetch
	mPRMOK                   // a resource metadata fetch that succeeded
	mASTry                   // an authorization server metadata fetch
	mASOK                    // ... that succeeded
	mNoResource              // an authorization request without resource (RFC 8707)
	mAuthStep                // a registration, metadata document fetch, authorization or token request
	numMarks
)

// stageEnt is what a connection counts of a stage it has seen (its index in stageOrder: i). A connection keeps
// entries for the stages it saw only, in the order it first saw them: a session setup sees three of the twenty.
type stageEnt struct {
	first  instant // when the connection first saw it (firstAt): no pointer, so that the collector does not scan stages
	lastID uint64
	dur    time.Duration
	count  uint32 // saturating (satAdd): 4 bytes, so that a setup's connection fits 896 bytes
	i      uint8
	stat   uint8 // the status: its index in statuses
	loc    uint8 // first's location (instant)
}

// satAdd is a+b, or the greatest uint32 past it.
func satAdd(a, b uint32) uint32 {
	if a+b < a {
		return math.MaxUint32
	}
	return a + b
}

// firstAt is when the connection first saw the stage.
func (s *stageEnt) firstAt() time.Time { return s.first.time(s.loc) }

func (s *stageEnt) status() StageStatus { return statuses[s.stat] }

// markEnt is a mark a connection has set (m: its kind, mCode...): only the marks set are kept, as the stages.
type markEnt struct {
	at  instant // the mark's time, without a pointer (instant)
	ex  uint64
	loc uint8 // at's location
	m   uint8
}

func markEntOf(m int, v mark) markEnt {
	e := markEnt{ex: v.ex, m: uint8(m)}
	e.at, e.loc = instantOf(v.at)
	return e
}

// mark is the mark the entry keeps.
func (e *markEnt) mark() mark { return mark{at: e.at.time(e.loc), ex: e.ex} }

// sessionVer is the protocol version a session's initialize negotiated.
type sessionVer struct{ sid, version string }

// conn is a connection: what the analysis learned of one client's run. Its fields that hold pointers come first
// and the others after them (the collector scans an object up to its last pointer), and what a session setup's
// connection keeps of its stages, marks, exchanges and session is in arrays of its own (stagesBuf...) that its
// lists start in: one object a connection, rather than five. What a session setup never sets (its registration,
// grant and token, tools, rewrites, findings, view, sessions after the first, stages and marks past its
// arrays...) is in ext, made on demand: the collector reads about 230 bytes of a setup's connection rather than
// 448.
type conn struct {
	id string

	best     signal
	infoName string // clientInfo name/version
	ua       string
	era      string
	protocol string
	session  string
	mcpURL   string
	// negotiated is the protocol version the latest initialize settled on (legacy sessions); sess0 and
	// ext.sessions hold it per session id (mcp-remote runs a probe client's session beside the host's, each at its
	// own version), at most maxSessions of them (setSession, sessionVersion).
	negotiated string
	ext        *connExt // nil until one of its fields is set: read through x, written through xw

	// ids are the exchanges of the connection the analyzer holds, in id order, and holes forgotten ones among
	// them (compacted away lazily); held counts the exchanges held, and gone says the last one was forgotten.
	ids []uint64

	sess0 sessionVer // the first session's version (sid "": none; a session id is never empty); the last field with a pointer

	// Its first and last exchange's times, and when none (below) ends, as instants (no pointer: a time.Time's
	// location is one, and three of them after the fields above made the collector read 72 bytes more of every
	// connection, on every cycle). startAt, lastAt, noneUntilAt read them.
	start, last, noneUntil instant

	seq  int
	slot uint32 // 1 + its slot in Analyzer.connTab, while records name it (0: none)
	// uaStrength is 4 bytes beside slot, the instants' locations and the lists' counts beside the flags, and 8
	// bytes of padding, so that the struct is 632 B: with its malloc header it fills the 640-byte size class
	// exactly (TestSetupConnectionHeld).
	uaStrength int32
	_          [8]byte
	holes      int
	held       int
	// gen counts changes; Report reuses the last view of a connection that did not change.
	gen     uint64
	noneGen uint64

	stale        bool // a name of listed is missing from tools
	expiredHasRT bool
	// unusedRT: the connection holds a refresh token it has not used (issued with its latest token).
	unusedRT bool
	// echoed: a request of the connection carried a session id this server issued.
	echoed bool
	// mcp: a client request of the connection went to the MCP endpoint.
	mcp bool
	// probe: the connection's handshakes so far were a client's throwaway session (mcp-remote-fallback-test): the
	// real session that follows joins it.
	probe     bool
	shared    bool // ids was handed out by Report: copy before an insert in the middle
	merged    bool // folded into another (merge): dropped at the next Report or sweep
	gone      bool
	none      bool
	noneEnded bool

	startLoc, lastLoc, noneUntilLoc uint8
	// nStages and nMarks are the stages and marks seen in stagesBuf and marksBuf, until one more than they hold
	// moves them all to ext (stageList, markList).
	nStages, nMarks uint8

	// Where stages, marks and ids start: a session setup's three stages, four marks (initialize, its success and
	// session, initialized) and three exchanges.
	stagesBuf [3]stageEnt
	marksBuf  [4]markEnt
	idsBuf    [4]uint64
}

// connExt is what a connection keeps that a session setup (initialize, notifications/initialized, DELETE) never
// sets: its own object, made when one of them is (xw), so that the collector does not read their nil slots in
// every setup's connection on every cycle.
type connExt struct {
	regName       string // registered client_name
	clientID      string
	token         string
	grantResource string // the resource parameter of the latest authorization or token request
	// tools are the tool names of the latest tools/list (its pages since the first), at most maxTools; toolsList is
	// that list's exchange (0: never listed).
	tools     map[string]bool
	toolsList uint64
	listed    map[string]bool // every tool name any tools/list of the connection gave, at most maxTools
	// asIDs are the authorization server identifiers the latest resource metadata named (at most 8).
	asIDs []string
	// rw is what its exchanges said of mcpwatch's proxy rewriting the upstream's own URLs (nil: nothing).
	rw *rewrites
	// kept is what the rules about the connection as a whole read of a forgotten exchange its marks name.
	kept  map[uint64]keptEx
	order []*Finding // the findings, one per rule (finding), in the order they were found
	view  connView   // the last view Report built (view nil: none; FindingsReport never builds one)
	// expiredBy is the exchange that issued the token the MCP endpoint refused as expired.
	expiredBy uint64
	sessions  []sessionVer // the sessions after the first (conn.sess0), at most maxSessions-1
	// stages and marks are the connection's, once more than its arrays hold were seen (nil: in the arrays).
	stages []stageEnt
	marks  []markEnt
}

// noExt is what x reads of a connection without ext: all zero, never written.
var noExt connExt

// x is the connection's ext to read: noExt when it has none. Never write through it (xw).
func (c *conn) x() *connExt {
	if c.ext != nil {
		return c.ext
	}
	return &noExt
}

// xw is the connection's ext to write, made on demand.
func (c *conn) xw() *connExt {
	if c.ext == nil {
		c.ext = &connExt{}
	}
	return c.ext
}

func (c *conn) startAt() time.Time     { return c.start.time(c.startLoc) }
func (c *conn) lastAt() time.Time      { return c.last.time(c.lastLoc) }
func (c *conn) noneUntilAt() time.Time { return c.noneUntil.time(c.noneUntilLoc) }
func (c *conn) setStart(t time.Time)   { c.start, c.startLoc = instantOf(t) }
func (c *conn) setLast(t time.Time)    { c.last, c.lastLoc = instantOf(t) }
func (c *conn) setNoneUntil(t time.Time) {
	c.noneUntil, c.noneUntilLoc = instantOf(t)
}

// connView is the last view of a connection Report built, at generation gen, with the absence findings abs.
type connView struct {
	view *Connection
	gen  uint64
	abs  string
}

// rewrites is what a connection's exchanges said of mcpwatch's proxy rewriting the upstream's own URLs.
type rewrites struct {
	first mark     // the first exchange rewritten
	where []string // where (at most maxRewrites)
	from  []string // the upstream origins replaced
	to    string   // the public one
}

// token is an access or refresh token issued in this capture (known by its hash only); it holds while the
// exchange that issued it is held.
type token struct {
	issued   mark
	expires  time.Time // zero: unknown
	resource string    // the resource it was requested for
	refresh  bool      // a refresh token
	hasRT    bool      // an access token issued together with a refresh token
}

// client is a client id registered (or a metadata document fetched) in this capture.
type client struct {
	redirects []string
	secret    bool   // a confidential client (a secret was issued)
	ex        uint64 // the exchange that registered it (or fetched its document): it holds while that one is held
}

// token is the token of hash key t issued in this capture, or nil.
func (a *Analyzer) token(t string) *token {
	if tk := a.toks[t]; tk != nil && a.holds(tk.issued.ex) {
		return tk
	}
	return nil
}

// client is the client id registered (or whose metadata document was fetched) in this capture, or nil.
func (a *Analyzer) client(cid string) *client {
	if cl := a.cids[cid]; cl != nil && a.holds(cl.ex) {
		return cl
	}
	return nil
}

// issued reports a session id issued in this capture.
func (a *Analyzer) issued(sid string) bool {
	ex, ok := a.sids[a.hkey(sid)]
	return ok && a.holds(ex)
}

// New returns an empty analyzer.
func New(opts Options) *Analyzer {
	if opts.MCPPath == "" {
		opts.MCPPath = "/mcp"
	}
	if opts.Grace <= 0 {
		opts.Grace = defaultGrace
	}
	if opts.Window <= 0 {
		opts.Window = defaultWindow
	}
	if opts.MaxExchanges <= 0 {
		opts.MaxExchanges = DefaultWindow
	}
	a := &Analyzer{opts: opts}
	a.Reset()
	return a
}

// Reset forgets everything observed (the store was cleared).
func (a *Analyzer) Reset() {
	a.exs = idIndex{}
	a.recs = recSlab{}
	a.connTab, a.connFree = nil, nil
	a.memoTab, a.memoFree, a.memoSlots = nil, nil, nil
	a.facts = map[uint64]*exFacts{}
	a.odd = map[uint64]string{}
	a.order, a.head, a.late, a.top = nil, 0, nil, 0
	a.conns, a.seq = nil, 0
	a.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	a.keys = index{}
	a.weak = index{}
	a.toks = map[string]*token{}
	a.rts = map[string]rtUse{}
	a.cids = map[string]*client{}
	a.sids = map[hkey]uint64{}
	a.discovering = ref{}
	a.hosts = index{}
	a.forgotten = 0
	a.sse = map[string]*sseStream{}
	a.sseByID = map[uint64]*sseStream{}
	a.last = time.Time{}
	a.ended = false
}

// End says the capture ended: every exchange was observed (a saved file, an export). Without Options.Now or a
// clock, rules about absence are then judged Grace after the last exchange — as the live session judged them
// once the grace had passed — and told relative to the capture's end. Before End (an analyzer fed live, no clock
// yet) they are judged at the last exchange seen, so that nothing fires before it could be known.
func (a *Analyzer) End() { a.ended = true }

// SetNow sets the time rules about absence are judged at (a live caller passes the wall clock, so that
// "authorize never followed by a token request" fires while nothing else happens). Zero restores the default:
// Options.Now; else, for a capture that ended (End), Grace after its last exchange; else the end of the last
// exchange seen.
func (a *Analyzer) SetNow(t time.Time) { a.now = t }

// judgeTime is when absence is judged. A capture that ended is judged as if the grace had passed after its last
// exchange: what did not happen before its end never happened, so `mcpwatch open` and export say of a capture
// what the live session printed once the grace had passed.
func (a *Analyzer) judgeTime() time.Time {
	switch {
	case !a.now.IsZero():
		return a.now
	case !a.opts.Now.IsZero():
		return a.opts.Now
	case a.ended && !a.last.IsZero():
		return a.last.Add(a.opts.Grace + time.Millisecond)
	}
	return a.last
}

// endedJudgement reports a judgement of a capture that ended: absence is told relative to its end.
func (a *Analyzer) endedJudgement() bool { return a.now.IsZero() && a.opts.Now.IsZero() && a.ended }

// since says how long before the judgement something happened.
type since struct {
	d     time.Duration
	ended bool
}

func (s since) String() string {
	if s.ended {
		return s.d.String() + " before the capture ended"
	}
	return s.d.String() + " ago"
}

// Done reports whether the analyzer holds the exchange id and has observed its final snapshot: Observe ignores
// another copy of it.
func (a *Analyzer) Done(id uint64) bool {
	r := a.rec(id)
	return r != nil && r.done
}

// Observe takes a new or updated exchange.
func (a *Analyzer) Observe(ex *recorder.Exchange) {
	if ex == nil {
		return
	}
	r := a.rec(ex.ID)
	if r == nil {
		var i uint32
		i, r = a.recs.alloc(ex.ID)
		r.start, r.loc = instantOf(ex.Start)
		a.exs.set(ex.ID, i)
		a.enqueue(ex.ID)
		if a.exs.len() > a.opts.MaxExchanges {
			a.forget() // never this record: the newest
		}
	}
	if r.done {
		return // the final snapshot was analysed; a later copy (a reloaded capture) changes nothing
	}
	a.observe(r, ex)
	a.settle(r)
}

func (a *Analyzer) observe(r *exRec, ex *recorder.Exchange) {
	if end := exEnd(ex); end.After(a.last) {
		a.last = end
	}
	complete := ex.State == recorder.StateComplete || ex.State == ""
	if ex.Kind == recorder.Outbound {
		if r.setStage(StageOf(ex, a.opts.MCPPath)); r.stage() != StageClientMetadata {
			// The upstream's copy of a client request (proxy mode): it belongs to the client's exchange, which is
			// the one judged.
			if r.pair == 0 {
				r.pair = inboundOf(ex)
			}
			r.setStatus(statusOf(ex, r.stage()))
			a.setEra(r, a.eraOf(ex, r.stage()))
			r.settled = ex.State != recorder.StatePending
			r.done = complete
			return
		}
	}
	if !r.settled {
		r.setStage(StageOf(ex, a.opts.MCPPath))
		if ex.State == recorder.StatePending {
			if s, m := a.ua(r, ex), a.memo(r); s.better(m.sig) {
				m.sig = s // until it joins a connection, its own user agent names its client
			}
			// No response yet: the stage is provisional. Join a connection only on a header key (a token or a
			// session), since a body not read yet may name another.
			if r.ci == 0 {
				if keys := a.headerKeys(r, ex); len(keys) > 0 {
					a.link(r, ex, keys)
				}
			}
			return
		}
		r.settled = true
		var wait bool
		if complete {
			ex, wait = a.sseAnswered(r, ex)
		}
		r.setStatus(statusOf(ex, r.stage()))
		if wait {
			r.setStatus(StatusPending) // until its answer arrives on the stream
		}
		a.setEra(r, a.eraOf(ex, r.stage()))
		if r.sse && r.era == eraNone {
			a.setEra(r, "legacy")
		}
		if t := toggleNames(ex); len(t) > 0 {
			a.factsFor(r).toggles = t
		}
		c := a.link(r, ex, a.keysOf(r, ex, r.stage()))
		c.addStage(r, duration(ex))
		a.observeClient(r, ex, c)
		a.observeEra(r, ex, c)
		if r.stage() == StageStream {
			a.observeSSE(r, ex)
		}
		if !complete {
			a.checkOpen(r, ex, c)
			return
		}
		if wait {
			return // judged by judgePost
		}
		r.done = true
		a.check(r, ex, c)
		return
	}
	c := a.connOf(r)
	var wait bool
	if complete {
		ex, wait = a.sseAnswered(r, ex)
	}
	r.setStatus(statusOf(ex, r.stage()))
	if wait {
		r.setStatus(StatusPending)
	}
	c.updateStage(r, duration(ex))
	if r.stage() == StageStream {
		a.observeSSE(r, ex)
	}
	if complete && !wait {
		r.done = true
		// The final snapshot may name more keys (a streamed response's body).
		c = a.link(r, ex, a.keysOf(r, ex, r.stage()))
		a.observeEra(r, ex, c)
		a.check(r, ex, c)
	}
}

// inboundOf is the id of the inbound exchange an outbound one was made for (the recorder's note "inbound"), or 0.
func inboundOf(ex *recorder.Exchange) uint64 {
	id, err := strconv.ParseUint(ex.Note(recorder.NoteInbound), 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// forget drops the records of the oldest completed exchanges until at most MaxExchanges are kept. An exchange
// still open (a long stream) is kept and set aside (parked): it is queued again when it completes (settle), not
// looked at meanwhile, so that streams held open at the head cost nothing per exchange (each id is taken from the
// queue once: amortised O(1) an exchange, however many streams are open). Forget finds a parked id in late.
func (a *Analyzer) forget() {
	for a.head < len(a.order) && a.exs.len() > a.opts.MaxExchanges {
		id := a.order[a.head]
		a.head++
		a.forgetSteps++
		switch r := a.rec(id); {
		case r == nil:
		case !r.done:
			r.parked = true
			a.pushLate(id)
		default:
			a.drop(r)
		}
	}
	a.trimOrder()
}

// Forget forgets every exchange below id, open or not: the feeder let them go (the store evicted them), so no
// later snapshot of them comes. Info no longer knows them; a connection goes with its last exchange, and its
// findings leave the report. O(1) amortised per exchange forgotten (O(log n) for one observed out of id order).
func (a *Analyzer) Forget(below uint64) {
	for a.head < len(a.order) {
		id := a.order[a.head]
		r := a.rec(id)
		if r != nil && id >= below {
			break // those behind it are greater, or in late
		}
		a.head++
		if r != nil {
			a.drop(r)
		}
	}
	for len(a.late) > 0 && a.late[0] < below {
		if r := a.rec(a.late.pop()); r != nil {
			a.drop(r)
		}
	}
	a.trimOrder()
}

// enqueue queues a new record's id for forgetting.
func (a *Analyzer) enqueue(id uint64) {
	a.order = append(a.order, id)
	if id >= a.top {
		a.top = id
		return
	}
	a.pushLate(id)
}

// pushLate adds id to late, the heap of ids Forget looks at beside order.
func (a *Analyzer) pushLate(id uint64) {
	a.late.push(id)
	if len(a.late) > 2*a.exs.len()+1024 { // ids forgotten through order: drop them (amortised O(1) a push)
		a.late = slices.DeleteFunc(a.late, func(id uint64) bool { return !a.holds(id) })
		a.late.init()
	}
}

// idHeap is a min-heap of ids.
type idHeap []uint64

func (h *idHeap) push(id uint64) {
	*h = append(*h, id)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p] <= s[i] {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *idHeap) pop() uint64 {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	*h = s[:n]
	h.down(0)
	return top
}

func (h idHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		if r := l + 1; r < len(h) && h[r] < h[l] {
			l = r
		}
		if h[i] <= h[l] {
			return
		}
		h[i], h[l] = h[l], h[i]
		i = l
	}
}

func (h idHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (a *Analyzer) trimOrder() {
	if a.head > 1024 && a.head > len(a.order)/2 {
		a.order = append(a.order[:0], a.order[a.head:]...)
		a.head = 0
	}
}

// sweepMin is the fewest forgotten exchanges the indexes are swept for.
const sweepMin = 256

// drop forgets one exchange: its record, its stream's, its place in its connection, and the connection with its
// last exchange. The index entries it set are swept once as many exchanges were forgotten as are held (amortised
// O(1) an exchange; until then they no longer hold: see ref).
func (a *Analyzer) drop(r *exRec) {
	id := r.id
	a.forgetSSE(id)
	if c := a.connOf(r); c != nil {
		a.keep(c, r)
		c.held--
		r.ci = 0 // not held in c while unlist looks
		a.unlist(c, id)
		if c.held <= 0 {
			c.forget()
			a.freeConn(c)
		}
	}
	a.releaseMemo(r)
	if r.facts {
		delete(a.facts, id)
	}
	if r.era == eraOther {
		delete(a.odd, id)
	}
	i, _ := a.exs.get(id)
	a.recs.release(i)
	a.exs.del(id)
	a.forgotten++
	if a.forgotten >= max(a.exs.len(), sweepMin) {
		a.sweep()
	}
}

// sweep deletes the index entries whose exchange was forgotten, and the connections gone or merged.
func (a *Analyzer) sweep() {
	a.forgotten = 0
	gone := func(_ hkey, e ref) bool { return !a.holds(e.ex) }
	maps.DeleteFunc(a.keys, gone)
	maps.DeleteFunc(a.weak, gone)
	maps.DeleteFunc(a.hosts, gone)
	maps.DeleteFunc(a.toks, func(_ string, t *token) bool { return !a.holds(t.issued.ex) })
	maps.DeleteFunc(a.rts, func(_ string, u rtUse) bool { return !a.holds(u.ex) })
	maps.DeleteFunc(a.cids, func(_ string, c *client) bool { return !a.holds(c.ex) })
	maps.DeleteFunc(a.sids, func(_ hkey, ex uint64) bool { return !a.holds(ex) })
	if !a.holds(a.discovering.ex) {
		a.discovering = ref{}
	}
	a.conns = slices.DeleteFunc(a.conns, func(c *conn) bool { return c.merged || c.gone })
}

// unlist takes a forgotten exchange out of its connection's ids: at the front at once (the oldest go first),
// elsewhere as a hole, compacted once holes are half the list.
func (a *Analyzer) unlist(c *conn, id uint64) {
	c.gen++
	if len(c.ids) > 0 && c.ids[0] == id {
		c.ids = c.ids[1:]
		for c.holes > 0 && len(c.ids) > 0 && !a.heldIn(c, c.ids[0]) {
			c.ids = c.ids[1:]
			c.holes--
		}
		return
	}
	c.holes++
	if c.holes > len(c.ids)/2 {
		a.compactIDs(c)
	}
}

// heldIn reports whether exchange id is held, in connection c.
func (a *Analyzer) heldIn(c *conn, id uint64) bool {
	r := a.rec(id)
	return r != nil && r.ci == c.slot && c.slot != 0
}

// compactIDs drops the holes from a connection's ids (into a new slice: a report may hold the old one).
func (a *Analyzer) compactIDs(c *conn) {
	if c.holes == 0 {
		return
	}
	kept := make([]uint64, 0, len(c.ids)-c.holes)
	for _, id := range c.ids {
		if a.heldIn(c, id) {
			kept = append(kept, id)
		}
	}
	c.ids, c.shared, c.holes = kept, false, 0
}

// keptEx is what connFindings reads of an exchange a mark names (the toggles that altered it, whether an error
// fired on it), kept by its connection once the exchange is forgotten.
type keptEx struct {
	toggles []string
	erred   bool
}

// marked reports an exchange a mark of the connection names.
func (c *conn) marked(id uint64) bool {
	for _, m := range c.markList() {
		if m.ex == id {
			return true
		}
	}
	e := c.x()
	return e.expiredBy == id || e.rw != nil && e.rw.first.ex == id
}

// keep keeps what connFindings reads of an exchange being forgotten, if a mark names it (at most about as many as
// there are marks: the others are dropped as they pile up).
func (a *Analyzer) keep(c *conn, r *exRec) {
	erred := a.recErred(r)
	if len(a.toggled(r)) == 0 && !erred || !c.marked(r.id) {
		return
	}
	e := c.xw()
	if e.kept == nil {
		e.kept = map[uint64]keptEx{}
	}
	if len(e.kept) >= 2*(numMarks+2) {
		maps.DeleteFunc(e.kept, func(id uint64, _ keptEx) bool { return !c.marked(id) })
	}
	e.kept[r.id] = keptEx{toggles: a.toggled(r), erred: erred}
}

// forget lets go of what a connection keeps, once its last exchange was forgotten (Report skips it, sweep drops it).
func (c *conn) forget() {
	c.gone = true
	c.ids = nil
	c.nStages, c.nMarks = 0, 0
	c.sess0 = sessionVer{}
	if e := c.ext; e != nil { // its strings stay, as the connection's own do
		e.order, e.tools, e.listed, e.view, e.sessions = nil, nil, nil, connView{}, nil
		e.stages, e.marks = nil, nil
		e.asIDs, e.rw, e.kept = nil, nil, nil
	}
}

func exEnd(ex *recorder.Exchange) time.Time {
	return ex.Start.Add(max(ex.Timings.Total, ex.Timings.Wait))
}

func duration(ex *recorder.Exchange) time.Duration {
	if ex.Timings.Total > 0 {
		return ex.Timings.Total
	}
	return ex.Timings.Wait
}

func toggleNames(ex *recorder.Exchange) []string {
	var names []string
	for _, f := range ex.Toggles {
		if f.Name != "" && !slices.Contains(names, f.Name) {
			names = append(names, f.Name)
		}
	}
	return names
}

// statusOf says how an exchange went for its stage.
func statusOf(ex *recorder.Exchange, stage Stage) StageStatus {
	if ex.State == recorder.StatePending {
		return StatusPending
	}
	if ex.Status == 0 {
		if ex.Error != "" {
			return StatusFailed
		}
		return StatusPending
	}
	switch stage {
	case StageChallenge:
		if ex.Status == 401 && bearerChallenge(ex.RespHeaders).present {
			return StatusOK
		}
		return StatusFailed
	case StageStream:
		switch {
		case ex.Status == 405:
			return StatusSkipped // the server offers no GET stream (allowed; required in 2026-07-28)
		case ex.Status >= 300:
			return StatusFailed
		}
		// The errors a stream carries answer other requests (the POSTs of a 2024-11-05 session): not its own.
		return StatusOK
	case StageAuthorize, StageConsent:
		if l := location(ex); l != nil && l.Query().Get("error") != "" {
			return StatusFailed
		}
		if ex.Status < 400 {
			return StatusOK
		}
	case StageProbe:
		switch {
		case ex.Status >= 300 && ex.Status < 400, ex.Status == 404, ex.Status >= 500:
			return StatusFailed
		}
		return StatusOK // it answered: the server is reachable
	}
	if ex.Status >= 400 {
		return StatusFailed
	}
	if ex.Status >= 300 && mcpStage(stage) {
		return StatusFailed
	}
	if _, _, bad := ex.RPCError(); bad {
		return StatusFailed
	}
	return StatusOK
}

// mcpStage reports the stages of MCP traffic proper.
func mcpStage(s Stage) bool {
	switch s {
	case StageDiscover, StageInitialize, StageInitialized, StageList, StageCall, StageStream, StageTerminate:
		return true
	}
	return false
}

func hasClientRPC(ex *recorder.Exchange) bool {
	for _, m := range ex.RPC {
		if m.From == recorder.FromClient {
			return true
		}
	}
	return header(ex.ReqHeaders, "Mcp-Method") != ""
}

// eraOf names the protocol era of an MCP exchange: the embedded server's "era" note, else what the request says.
func (a *Analyzer) eraOf(ex *recorder.Exchange, stage Stage) string {
	if !mcpStage(stage) && !(stage == StageOther && hasClientRPC(ex)) && !(stage == StageChallenge && hasClientRPC(ex)) {
		return ""
	}
	if n := ex.Note("era"); n != "" {
		era, _, _ := strings.Cut(n, ":")
		return strings.TrimSpace(era)
	}
	if header(ex.ReqHeaders, "Mcp-Session-Id") != "" {
		return "legacy"
	}
	// The body's _meta version is the request's version: it wins over a header that disagrees (Claude sends
	// MCP-Protocol-Version: 2025-11-25 beside _meta 2026-07-28 after server/discover, CC#93290).
	if v := a.paramsMetaVersion(ex); isVersion(v) && v >= "2026-07-28" {
		return "2026"
	}
	if v := header(ex.ReqHeaders, "MCP-Protocol-Version"); isVersion(v) {
		if v >= "2026-07-28" {
			return "2026"
		}
		return "legacy"
	}
	switch stage {
	case StageDiscover:
		return "2026"
	case StageInitialize, StageInitialized:
		return "legacy"
	}
	if ex.Path() == "/sse" {
		return "legacy"
	}
	if a.paramsMetaVersion(ex) != "" {
		return "2026"
	}
	return ""
}

// isVersion reports a protocol version string (a date, YYYY-MM-DD).
func isVersion(v string) bool {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	for i, c := range v {
		if i != 4 && i != 7 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// appendFamilyKey appends the key that groups exchanges that share no strong key to b: a recognised client
// (Anthropic's backend uses many nodes and two user agents; s is the user agent's signal, addr the remote
// address'), or the user agent and the remote host (host: remoteHost).
func appendFamilyKey(b []byte, ex *recorder.Exchange, s, addr signal, host string) []byte {
	ua := header(ex.ReqHeaders, "User-Agent")
	if s.kind != "" && manyAddresses(s.kind) {
		return append(append(b, "fam:"...), s.kind...)
	}
	if addr.kind != "" && manyAddresses(addr.kind) {
		return append(append(b, "fam:"...), addr.kind...) // its nodes, whatever user agent (or none) they send
	}
	b = append(append(b, "ua:"...), ua...)
	return append(append(b, '|'), host...)
}

// opening stages start a run; one that comes after a finished handshake and shares no key starts a new
// connection. (Metadata fetches are not among them: Claude runs OAuth discovery after a successful initialize
// of an authless server, #76.)
func opening(s Stage) bool {
	switch s {
	case StageProbe, StageChallenge, StageDiscover, StageInitialize:
		return true
	}
	return false
}

// headerKeys are the strong keys a request's headers carry: the bearer token and the session id. The keys are
// the analyzer's scratch (keyBuf), valid until the next headerKeys or keysOf: a key is built in its buffer, looked
// up without a string of its own, and copied only when an index takes it (pointKey).
func (a *Analyzer) headerKeys(r *exRec, ex *recorder.Exchange) []string {
	if cap(a.keyBuf) > maxKeyBuf {
		a.keyBuf = nil // a stranger's long key once: not kept
	}
	a.keyBuf, a.keyList = a.keyBuf[:0], a.keyList[:0]
	if t := a.tokKey(r, ex); t != "" {
		a.keyList = append(a.keyList, t)
	}
	a.addKey("sid:", header(ex.ReqHeaders, "Mcp-Session-Id"))
	if ex.Path() == "/sse" {
		q := query(ex)
		a.addKey("sse:", q.Get("sessionid")+q.Get("sessionId"))
	}
	if ex.Method == "POST" && len(a.sse) > 0 {
		if t := ex.Target(); a.sse["ep:"+t] != nil {
			a.addKey("ep:", t) // a POST to the endpoint a 2024-11-05 stream named
		}
	}
	return a.keyList
}

// maxKeyBuf bounds the key buffer the analyzer keeps between exchanges.
const maxKeyBuf = 4 << 10

// addKey adds the key prefix+v to the keys being built (headerKeys), unless v is empty: a string into the
// analyzer's key buffer, not one of its own.
func (a *Analyzer) addKey(prefix, v string) {
	if v == "" {
		return
	}
	start := len(a.keyBuf)
	a.keyBuf = append(append(a.keyBuf, prefix...), v...)
	k := a.keyBuf[start:] // a buffer grown since keeps the earlier keys in the old one, which is not written again
	a.keyList = append(a.keyList, unsafe.String(unsafe.SliceData(k), len(k)))
}

// keysOf are all the strong keys of an exchange: its headers', its body's and its response's (the analyzer's
// scratch, as headerKeys').
func (a *Analyzer) keysOf(r *exRec, ex *recorder.Exchange, stage Stage) []string {
	a.headerKeys(r, ex)
	add := a.addKey
	switch stage {
	case StageAuthorize, StageConsent:
		q := query(ex)
		add("cid:", q.Get("client_id"))
		if stage == StageConsent {
			if p := params(ex); p != nil {
				add("cid:", p.Get("client_id"))
			}
		}
		if l := location(ex); l != nil {
			if code := l.Query().Get("code"); code != "" {
				add("code:", hashSecret(code))
			}
		}
	case StageToken, StageRefresh, StageRevoke:
		p := params(ex)
		add("cid:", p.Get("client_id"))
		add("cid:", basicUser(ex))
		if code := p.Get("code"); code != "" {
			add("code:", hashSecret(code))
		}
		if rt := p.Get("refresh_token"); rt != "" {
			add("tok:", hashSecret(rt))
		}
		if t := p.Get("token"); t != "" && stage == StageRevoke {
			add("tok:", hashSecret(t))
		}
		if o := object(ex.RespBody.Data); o != nil && ex.Status < 300 {
			if t := str(o, "access_token"); t != "" {
				add("tok:", hashSecret(t))
			}
			if t := str(o, "refresh_token"); t != "" {
				add("tok:", hashSecret(t))
			}
		}
	case StageRegister:
		if o := object(ex.RespBody.Data); o != nil && ex.Status < 300 {
			add("cid:", str(o, "client_id"))
		}
	case StageClientMetadata:
		add("cid:", strings.SplitN(ex.URL, "#", 2)[0])
	case StageInitialize:
		if ex.Status < 300 {
			add("sid:", header(ex.RespHeaders, "Mcp-Session-Id"))
		}
	case StageStream:
		add("ep:", endpointTarget(ex))
		if ex.Path() == "/sse" && len(ex.Events) > 0 && ex.Events[0].Event == "endpoint" {
			if i := strings.Index(strings.ToLower(ex.Events[0].Data), "sessionid="); i >= 0 {
				add("sse:", ex.Events[0].Data[i+len("sessionid="):])
			}
		}
	}
	return a.keyList
}

// link puts the exchange in a connection: the one its strong keys name (merging connections the exchange shows
// to be one), else by user agent and time, else a new one.
func (a *Analyzer) link(r *exRec, ex *recorder.Exchange, keys []string) *conn {
	cands := a.cands[:0]
	defer func() { clear(cands); a.cands = cands[:0] }()
	if c := a.connOf(r); c != nil {
		cands = append(cands, c)
	}
	for _, k := range keys {
		c := a.conn(a.keys[a.hkey(k)])
		if c == nil {
			continue
		}
		if strings.HasPrefix(k, "cid:") && !cidJoins(c, ex, r.stage()) {
			continue
		}
		if !slices.Contains(cands, c) {
			cands = append(cands, c)
		}
	}
	var target *conn
	if len(cands) == 0 {
		target = a.weakJoin(r, ex)
		if target == nil {
			target = a.newConn(ex)
		}
	} else {
		target = cands[0]
		for _, c := range cands[1:] {
			if c.seq < target.seq {
				target = c
			}
		}
		for _, c := range cands {
			if c != target {
				a.merge(target, c)
			}
		}
	}
	if r.ci == 0 {
		r.setConn(target)
		target.addID(r.id)
		target.held++
	}
	for _, k := range keys {
		a.pointKey(k, target, r.id)
	}
	target.gen++
	a.point(a.weak, a.family(r, ex), target, r.id)
	if ex.Start.Before(target.startAt()) {
		target.setStart(ex.Start)
	}
	if end := exEnd(ex); end.After(target.lastAt()) {
		target.setLast(end)
	}
	if ex.Kind != recorder.Outbound {
		ua := header(ex.ReqHeaders, "User-Agent")
		if s := a.ua(r, ex); target.ua == "" || s.strength > int(target.uaStrength) {
			target.ua, target.uaStrength = shared(ua), int32(s.strength)
		}
	}
	switch r.stage() {
	case StageChallenge, StageResourceMetadata, StageAuthMetadata:
		d := ref{ex: r.id}
		if a.discovering.ex > r.id && a.conn(a.discovering) == target {
			d.ex = a.discovering.ex
		}
		a.discovering = d
	}
	if ex.Kind == recorder.Inbound && r.stage() != StageAuthorize && r.stage() != StageConsent { // not the browser's
		if isMCPPath(ex.Path(), a.opts.MCPPath) {
			target.mcp = true
		}
		if h := a.host(r, ex); h != "" {
			if len(a.hosts) >= maxHosts {
				clear(a.hosts)
			}
			a.point(a.hosts, h, target, r.id)
		}
	}
	return target
}

// rtUse is a refresh request: when, from which address, which exchange.
type rtUse struct {
	at   time.Time
	host string
	ex   uint64
}

// maxRTUses bounds the refresh tokens remembered; maxTools the tool names a connection keeps.
const (
	maxRTUses = 10000
	maxTools  = 1024
)

// maxHosts bounds the remote hosts remembered for joining a client's requests with another user agent.
const maxHosts = 1024

// preRegWindow is how soon after a connection's last exchange a request with another user agent from the same
// address, before any token was issued, joins it.
const preRegWindow = time.Minute

func remoteHost(ex *recorder.Exchange) string {
	if h, _, err := net.SplitHostPort(ex.RemoteAddr); err == nil {
		return h
	}
	return ex.RemoteAddr
}

// cidJoins: a client id links an exchange to the connection that registered it, unless that connection has
// been quiet long enough for this to be a new run (a reconnect with a cached client id).
func cidJoins(c *conn, ex *recorder.Exchange, stage Stage) bool {
	switch stage {
	case StageToken, StageRefresh, StageRevoke, StageConsent, StageClientMetadata:
		return true
	}
	return ex.Start.Sub(c.lastAt()) <= runGap
}

// weakJoin finds the connection of an exchange that shares no strong key with any: the last connection of the
// same user-agent family, recently; for the authorization steps a browser or the server itself makes, the
// connection that is discovering how to authorize.
func (a *Analyzer) weakJoin(r *exRec, ex *recorder.Exchange) *conn {
	if c := a.conn(a.weak[a.hkey(a.family(r, ex))]); c != nil && ex.Start.Sub(c.lastAt()) <= a.opts.Window &&
		!(opening(r.stage()) && !c.probe && (c.markOf(mInitOK).set() || c.markOf(mDiscoverOK).set())) { // a finished handshake: a new run
		return c
	}
	if c := a.hostJoin(r, ex); c != nil {
		return c
	}
	switch r.stage() {
	case StageAuthorize, StageConsent, StageClientMetadata, StageRegister, StageToken:
		if c := a.conn(a.discovering); c != nil && ex.Start.Sub(c.lastAt()) <= a.opts.Window && !c.markOf(mCode).set() {
			return c
		}
	}
	return nil
}

// hostJoin joins a client's requests that carry another user agent than its MCP requests, from the same address,
// before it holds a token: Claude Code's OAuth requests as Bun/… (or none), mcp-remote's pre-pass (undici, then
// node), Claude's python-httpx discovery. The evidence is the address, the time (preRegWindow) and the sequence:
//   - an OAuth request (metadata, registration, token) after the client's MCP request got its answer (a 401, a
//     probe) joins that connection;
//   - an MCP request after the client fetched the metadata first (`claude mcp login` starts at the protected
//     resource metadata, CC#71610) joins the connection of those fetches, if it has made no MCP request yet.
func (a *Analyzer) hostJoin(r *exRec, ex *recorder.Exchange) *conn {
	if ex.Kind != recorder.Inbound {
		return nil
	}
	c := a.conn(a.hosts[a.hkey(remoteHost(ex))])
	if c == nil || ex.Start.Sub(c.lastAt()) > preRegWindow || c.markOf(mIssued).set() {
		return nil
	}
	switch {
	case r.stage() == StageResourceMetadata, r.stage() == StageAuthMetadata, r.stage() == StageRegister, r.stage() == StageToken:
		return c
	case isMCPPath(ex.Path(), a.opts.MCPPath) && !c.mcp:
		return c
	}
	return nil
}

func (a *Analyzer) newConn(ex *recorder.Exchange) *conn {
	a.seq++
	c := &conn{id: "c" + strconv.Itoa(a.seq), seq: a.seq}
	c.setStart(ex.Start)
	c.setLast(exEnd(ex))
	a.conns = append(a.conns, c)
	if n := len(a.connFree); n > 0 {
		c.slot, a.connFree = a.connFree[n-1], a.connFree[:n-1]
		a.connTab[c.slot-1] = c
	} else {
		a.connTab = append(a.connTab, c)
		c.slot = uint32(len(a.connTab))
	}
	return c
}

// freeConn lets a connection's slot go: no record names it (its last one was forgotten, or merge pointed them to
// the connection it joined).
func (a *Analyzer) freeConn(c *conn) {
	if c.slot == 0 {
		return
	}
	a.connTab[c.slot-1] = nil
	a.connFree = append(a.connFree, c.slot)
	c.slot = 0
}

// shared is s as a string of the analysis' own, one copy for every equal value (unique): a string of an
// exchange's headers points into the one buffer the store materialised the whole list in, and a connection that
// kept it (its user agent, its protocol version) held that list as long as the connection lives.
func shared(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// merge folds src into dst (the exchange shows they are one client's run).
func (a *Analyzer) merge(dst, src *conn) {
	a.compactIDs(dst)
	a.compactIDs(src)
	dst.held += src.held
	src.merged = true
	dst.gen++
	if src.startAt().Before(dst.startAt()) {
		dst.start, dst.startLoc = src.start, src.startLoc
	}
	if src.lastAt().After(dst.lastAt()) {
		dst.last, dst.lastLoc = src.last, src.lastLoc
	}
	if src.best.better(dst.best) {
		dst.best = src.best
	}
	for _, p := range []struct{ d, s *string }{{&dst.infoName, &src.infoName}, {&dst.ua, &src.ua},
		{&dst.era, &src.era}, {&dst.protocol, &src.protocol}, {&dst.session, &src.session},
		{&dst.mcpURL, &src.mcpURL}, {&dst.negotiated, &src.negotiated}} {
		if *p.d == "" {
			*p.d = *p.s
		}
	}
	srcX := src.ext
	if srcX != nil {
		dstX := dst.xw()
		for _, p := range []struct{ d, s *string }{{&dstX.regName, &srcX.regName}, {&dstX.clientID, &srcX.clientID},
			{&dstX.token, &srcX.token}, {&dstX.grantResource, &srcX.grantResource}} {
			if *p.d == "" {
				*p.d = *p.s
			}
		}
	} else {
		srcX = &noExt
	}
	for _, s := range src.stageList() {
		if s.count == 0 {
			continue
		}
		d := dst.stage(int(s.i), true)
		d.count = satAdd(d.count, s.count)
		if d.firstAt().IsZero() || s.firstAt().Before(d.firstAt()) {
			d.first, d.loc = s.first, s.loc
		}
		if s.lastID > d.lastID {
			d.lastID, d.stat, d.dur = s.lastID, s.stat, s.dur
		}
	}
	if s := srcX.rw; s != nil {
		if dst.ext.rw == nil {
			dst.ext.rw = &rewrites{}
		}
		d := dst.ext.rw
		if !d.first.set() || s.first.set() && s.first.before(d.first) {
			d.first = s.first
		}
		for _, w := range s.where {
			if len(d.where) < maxRewrites && !slices.Contains(d.where, w) {
				d.where = append(d.where, w)
			}
		}
		for _, f := range s.from {
			if !slices.Contains(d.from, f) {
				d.from = append(d.from, f)
			}
		}
		if d.to == "" {
			d.to = s.to
		}
	}
	if dst.x().expiredBy == 0 {
		if srcX.expiredBy != 0 {
			dst.ext.expiredBy = srcX.expiredBy // srcX is src's ext: dst has one
		}
		dst.expiredHasRT = src.expiredHasRT
	}
	merged := make([]uint64, 0, len(dst.ids)+len(src.ids))
	i, j := 0, 0
	for i < len(dst.ids) || j < len(src.ids) {
		if j >= len(src.ids) || i < len(dst.ids) && dst.ids[i] < src.ids[j] {
			merged = append(merged, dst.ids[i])
			i++
		} else {
			merged = append(merged, src.ids[j])
			j++
		}
	}
	dst.ids, dst.shared = merged, false
	for _, id := range src.ids { // compacted: each names src
		if r := a.rec(id); r != nil && r.ci == src.slot {
			r.setConn(dst)
		}
	}
	a.freeConn(src)
	for _, f := range srcX.order {
		if g := dst.finding(f.Rule); g != nil {
			g.Count += f.Count
			continue
		}
		dst.ext.order = append(dst.ext.order, f)
	}
	if src.sess0.sid != "" {
		dst.setSession(src.sess0.sid, src.sess0.version)
	}
	for _, s := range srcX.sessions {
		dst.setSession(s.sid, s.version)
	}
	if srcX.toolsList > dst.x().toolsList { // srcX is src's ext: dst has one
		dst.ext.tools, dst.ext.toolsList, dst.stale = srcX.tools, srcX.toolsList, src.stale
	}
	for n := range srcX.listed {
		if dst.ext.listed == nil {
			dst.ext.listed = map[string]bool{}
		}
		if len(dst.ext.listed) < maxTools {
			dst.ext.listed[n] = true
		}
	}
	dst.unusedRT = dst.unusedRT || src.unusedRT
	dst.echoed = dst.echoed || src.echoed
	dst.mcp = dst.mcp || src.mcp
	dst.probe = dst.probe && src.probe
	for id, k := range srcX.kept {
		if dst.ext.kept == nil {
			dst.ext.kept = map[uint64]keptEx{}
		}
		dst.ext.kept[id] = k
	}
	for _, m := range src.markList() {
		if dst.markOf(int(m.m)).before(m.mark()) {
			dst.setMark(int(m.m), m.mark())
		}
	}
	src.ids, src.nMarks, src.nStages, src.sess0 = nil, 0, 0, sessionVer{}
	if src.ext != nil {
		src.ext.order, src.ext.kept, src.ext.sessions = nil, nil, nil
		src.ext.marks, src.ext.stages = nil, nil
	}
}

// finding is the connection's finding of a rule, or nil.
func (c *conn) finding(rule string) *Finding {
	for _, f := range c.x().order {
		if f.Rule == rule {
			return f
		}
	}
	return nil
}

// stage is the connection's entry of stage i (its index in stageOrder); nil if it saw none, unless add.
func (c *conn) stage(i int, add bool) *stageEnt {
	st := c.stageList()
	for k := range st {
		if int(st[k].i) == i {
			return &st[k]
		}
	}
	if !add {
		return nil
	}
	e := stageEnt{i: uint8(i)}
	if c.ext == nil || c.ext.stages == nil {
		if int(c.nStages) < len(c.stagesBuf) {
			c.stagesBuf[c.nStages] = e
			c.nStages++
			return &c.stagesBuf[c.nStages-1]
		}
		x := c.xw()
		x.stages = append(make([]stageEnt, 0, 2*len(c.stagesBuf)), c.stagesBuf[:]...)
	}
	x := c.ext
	x.stages = append(x.stages, e)
	return &x.stages[len(x.stages)-1]
}

// stageList is the connection's stages seen: in stagesBuf, or all in ext once more were seen.
func (c *conn) stageList() []stageEnt {
	if c.ext != nil && c.ext.stages != nil {
		return c.ext.stages
	}
	return c.stagesBuf[:c.nStages]
}

// markList is the connection's marks set: in marksBuf, or all in ext once more were set.
func (c *conn) markList() []markEnt {
	if c.ext != nil && c.ext.marks != nil {
		return c.ext.marks
	}
	return c.marksBuf[:c.nMarks]
}

// markOf is the connection's mark of kind m (unset if none).
func (c *conn) markOf(m int) mark {
	ms := c.markList()
	for k := range ms {
		if int(ms[k].m) == m {
			return ms[k].mark()
		}
	}
	return mark{}
}

// setMark sets the connection's mark of kind m.
func (c *conn) setMark(m int, v mark) {
	ms := c.markList()
	for k := range ms {
		if int(ms[k].m) == m {
			ms[k] = markEntOf(m, v)
			return
		}
	}
	e := markEntOf(m, v)
	if c.ext == nil || c.ext.marks == nil {
		if int(c.nMarks) < len(c.marksBuf) {
			c.marksBuf[c.nMarks] = e
			c.nMarks++
			return
		}
		x := c.xw()
		x.marks = append(make([]markEnt, 0, 2*len(c.marksBuf)), c.marksBuf[:]...)
	}
	c.ext.marks = append(c.ext.marks, e)
}

// markTable is every mark of the connection, by kind, for the rules that read many.
func (c *conn) markTable() (t [numMarks]mark) {
	ms := c.markList()
	for k := range ms {
		t[ms[k].m] = ms[k].mark()
	}
	return t
}

// maxSessions bounds the session versions a connection keeps.
const maxSessions = 64

// setSession records the version a session's initialize negotiated.
func (c *conn) setSession(sid, version string) {
	if s := c.findSession(sid); s != nil {
		s.version = version
		return
	}
	switch {
	case c.sess0.sid == "":
		c.sess0 = sessionVer{sid: sid, version: version}
	case 1+len(c.x().sessions) < maxSessions:
		e := c.xw()
		e.sessions = append(e.sessions, sessionVer{sid: sid, version: version})
	}
}

// findSession is the connection's entry of session sid, or nil.
func (c *conn) findSession(sid string) *sessionVer {
	if sid == "" {
		return nil
	}
	if c.sess0.sid == sid {
		return &c.sess0
	}
	if e := c.ext; e != nil {
		for i := range e.sessions {
			if e.sessions[i].sid == sid {
				return &e.sessions[i]
			}
		}
	}
	return nil
}

// sessionVersion is the version negotiated for a session: its own initialize's, else the connection's latest.
func (c *conn) sessionVersion(sid string) string {
	if s := c.findSession(sid); s != nil {
		return s.version
	}
	return c.negotiated
}

// addID inserts an exchange id, keeping ids sorted.
func (c *conn) addID(id uint64) {
	n := len(c.ids)
	if c.ids == nil {
		c.ids = c.idsBuf[:0]
	}
	if n == 0 || c.ids[n-1] < id {
		c.ids = append(c.ids, id)
		return
	}
	i, found := slices.BinarySearch(c.ids, id)
	if found {
		return
	}
	if c.shared { // a report holds the current slice: do not move its elements under it
		c.ids = slices.Clone(c.ids)
		c.shared = false
	}
	c.ids = slices.Insert(c.ids, i, id)
}

func (c *conn) addStage(r *exRec, dur time.Duration) {
	i := stageIndex(r.stage())
	if i < 0 {
		return
	}
	s := c.stage(i, true)
	s.count = satAdd(s.count, 1)
	if first, start := s.firstAt(), r.startAt(); first.IsZero() || start.Before(first) {
		s.first, s.loc = r.start, r.loc
	}
	if r.id >= s.lastID {
		s.lastID, s.stat, s.dur = r.id, r.stat, dur
	}
}

func (c *conn) updateStage(r *exRec, dur time.Duration) {
	if s := c.stage(stageIndex(r.stage()), false); s != nil && s.lastID == r.id && (s.stat != r.stat || s.dur != dur) {
		s.stat, s.dur = r.stat, dur
		c.gen++
	}
}

func (c *conn) mark(m int, r *exRec) {
	if v := (mark{at: r.startAt(), ex: r.id}); c.markOf(m).before(v) {
		c.setMark(m, v)
		c.gen++
	}
}

func (c *conn) kind() ClientKind {
	if c.best.strength <= weakStrength || c.best.kind == "" { // a shared signal never names a client alone
		return ClientUnknown
	}
	return c.best.kind
}

// observeClient takes the client signals an exchange carries.
func (a *Analyzer) observeClient(r *exRec, ex *recorder.Exchange, c *conn) {
	take := func(s signal) {
		if s.strength == 0 {
			return
		}
		if s.better(c.best) {
			c.best = s
		}
	}
	if r.stage() != StageClientMetadata {
		take(a.ua(r, ex))
		take(a.addr(r, ex))
	}
	stage := r.stage()
	if stage == StageChallenge { // an initialize or discover answered 401 names its client too
		switch rpcMethod(ex) {
		case "initialize":
			stage = StageInitialize
		case "server/discover":
			stage = StageDiscover
		}
	}
	switch stage {
	case StageInitialize, StageDiscover:
		name, version := a.clientInfo(ex)
		s := clientInfoSignal(name, version)
		take(s)
		if s.name != "" {
			if c.probe = clients.IsProbeClientInfo(name); !c.probe || c.infoName == "" {
				c.infoName = s.name // a throwaway session's name only until the real session names itself
			}
		}
	case StageRegister:
		if p := object(ex.ReqBody.Data); p != nil {
			for _, u := range strs(p, "redirect_uris") {
				take(redirectSignal(u))
			}
			s := clientNameSignal(str(p, "client_name"))
			take(s)
			take(softwareIDSignal(str(p, "software_id")))
			take(lookup(clients.ClientURI, str(p, "client_uri")))
			if s.name != "" && c.x().regName == "" {
				c.xw().regName = s.name
			}
			take(scopeSignal(str(p, "scope")))
		}
	case StageAuthorize:
		q := query(ex)
		take(clientIDSignal(q.Get("client_id")))
		take(redirectSignal(q.Get("redirect_uri")))
		take(scopeSignal(q.Get("scope")))
	case StageToken, StageRefresh:
		p := params(ex)
		take(clientIDSignal(p.Get("client_id")))
		take(redirectSignal(p.Get("redirect_uri")))
		if a := p.Get("client_assertion"); a != "" {
			take(lookup(clients.AssertionKeyID, jwtHeader(a, "kid")))
		}
	case StageClientMetadata:
		take(clientIDSignal(ex.URL))
		if o := object(ex.RespBody.Data); o != nil {
			for _, u := range strs(o, "redirect_uris") {
				take(redirectSignal(u))
			}
			take(lookup(clients.ClientURI, str(o, "client_uri")))
			if n := str(o, "client_name"); n != "" && c.x().regName == "" {
				c.xw().regName = n
			}
		}
	default:
		// 2026-07-28 requests carry clientInfo in _meta; read it while the client is not known well.
		if c.best.strength < 3 && a.recEra(r) == "2026" {
			name, version := a.clientInfo(ex)
			s := clientInfoSignal(name, version)
			take(s)
			if s.name != "" && c.infoName == "" {
				c.infoName = s.name
			}
		}
	}
}

// observeEra keeps the connection's era (the latest successful MCP exchange's), protocol version and MCP URL.
func (a *Analyzer) observeEra(r *exRec, ex *recorder.Exchange, c *conn) {
	if a.recEra(r) == "" {
		return
	}
	if r.status() == StatusOK || c.era == "" {
		c.era = a.recEra(r)
	}
	if a.recEra(r) == "2026" && r.status() == StatusOK {
		// The body's _meta version is the request's version; the header may disagree (CC#93290).
		if v := a.reqMetaVersion(ex); isVersion(v) {
			c.protocol = shared(v)
		} else if v := header(ex.ReqHeaders, "MCP-Protocol-Version"); isVersion(v) {
			c.protocol = shared(v)
		}
	}
}

// Info returns what the analysis says of one exchange.
func (a *Analyzer) Info(id uint64) Info {
	r := a.rec(id)
	if r == nil {
		return Info{}
	}
	info := Info{Stage: r.stage(), Status: r.status(), Era: a.recEra(r)}
	if m := a.memoIf(r); m != nil && m.sig.strength > weakStrength { // a shared signal names nobody alone
		info.Client = m.sig.kind
	}
	if !r.settled {
		info.Status = StatusPending
	}
	c := a.connOf(r)
	if p := a.rec(r.pair); r.pair != 0 && p != nil {
		if pc := a.connOf(p); pc != nil {
			info.Connection, info.Client = pc.id, pc.kind()
		} else if m := a.memoIf(p); m != nil && m.sig.strength > weakStrength {
			info.Client = m.sig.kind // the client's request is not in a connection yet: its user agent names it
		}
		if info.Stage == StageOther && p.settled {
			info.Stage = p.stage() // a copy the upstream never read (no body to classify) is for the client's stage
		}
		return info
	}
	if c != nil {
		info.Connection = c.id
		info.Client = c.kind()
		for _, rule := range a.fired(r) {
			if f := c.finding(rule); f != nil {
				g := *f
				g.Connection = c.id
				info.Findings = append(info.Findings, g)
			}
		}
		for _, f := range a.absence(c, a.judgeTime()) {
			if f.ExchangeID == id {
				info.Findings = append(info.Findings, f)
			}
		}
	}
	if info.Client == "" {
		info.Client = ClientUnknown
	}
	return info
}

// Report returns the analysis so far.
func (a *Analyzer) Report() *Report { return a.report(true) }

// FindingsReport returns the analysis' findings so far, as Report's, without its connections
// (Report.Connections is empty): for a consumer that reads only the findings (the headless printer), the
// analysis then neither builds nor keeps a view of each connection (about 1.8 KB each, and the collector marks
// them: a session setup is a connection of its own).
func (a *Analyzer) FindingsReport() *Report { return a.report(false) }

func (a *Analyzer) report(views bool) *Report {
	now := a.judgeTime()
	rep := &Report{Connections: []*Connection{}, Findings: []Finding{}}
	live := a.conns[:0]
	for _, c := range a.conns {
		if c.merged || c.gone {
			continue
		}
		live = append(live, c)
		if !views {
			rep.Findings = a.appendFindings(rep.Findings, c, now)
			continue
		}
		conn := a.connection(c, now)
		rep.Connections = append(rep.Connections, conn)
		rep.Findings = append(rep.Findings, conn.Findings...)
	}
	clear(a.conns[len(live):])
	a.conns = live
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		fi, fj := rep.Findings[i], rep.Findings[j]
		if !fi.At.Equal(fj.At) {
			return fi.At.Before(fj.At)
		}
		return fi.ExchangeID < fj.ExchangeID
	})
	return rep
}

// connection is the report's view of a connection: the last one if nothing changed since, else a new one (a
// view is never modified once handed out).
func (a *Analyzer) connection(c *conn, now time.Time) *Connection {
	a.compactIDs(c)
	abs := a.absence(c, now)
	var absKey strings.Builder
	for _, f := range abs {
		absKey.WriteString(f.Key())
		absKey.WriteByte(' ')
	}
	if v := &c.x().view; v.view != nil && v.gen == c.gen && v.abs == absKey.String() {
		return v.view
	}
	out := &Connection{
		ID:         c.id,
		Client:     c.kind(),
		ClientName: c.infoName,
		UserAgent:  c.ua,
		Era:        c.era,
		Protocol:   c.protocol,
		ClientID:   c.x().clientID,
		SessionID:  c.session,
		Token:      c.x().token,
		MCPURL:     c.mcpURL,
		Start:      c.startAt(),
		Last:       c.lastAt(),
		Exchanges:  c.ids[:len(c.ids):len(c.ids)],
	}
	c.shared = true
	if out.ClientName == "" {
		out.ClientName = c.x().regName
	}
	lastSeen := -1
	for _, s := range c.stageList() {
		if i := int(s.i); s.count > 0 && stageOrder[i] != StageOther && i > lastSeen {
			lastSeen = i
		}
	}
	n := len(stageOrder)
	for _, st := range [...]Stage{StageOther, StageLogin} {
		if s := c.stage(stageIndex(st), false); s == nil || s.count == 0 {
			n-- // not listed
		}
	}
	out.Stages = make([]StageState, 0, n)
	out.Findings = make([]Finding, 0, len(c.x().order))
	for i, st := range stageOrder {
		s := c.stage(i, false)
		if (st == StageOther || st == StageLogin) && (s == nil || s.count == 0) {
			continue // login: an external authorization server's own pages, seen only through the proxy
		}
		ss := StageState{Stage: st, Status: StatusPending}
		if s != nil && s.count > 0 {
			ss.Status, ss.At, ss.Duration, ss.Exchange, ss.Count = s.status(), s.firstAt(), s.dur, s.lastID, int(s.count)
		} else if i < lastSeen {
			ss.Status = StatusSkipped
		}
		out.Stages = append(out.Stages, ss)
	}
	for _, f := range c.x().order {
		g := *f
		g.Connection = c.id
		out.Findings = append(out.Findings, g)
	}
	out.Findings = append(out.Findings, abs...)
	c.xw().view = connView{view: out, gen: c.gen, abs: absKey.String()}
	return out
}

// appendFindings appends a connection's findings to fs as its view lists them (connection).
func (a *Analyzer) appendFindings(fs []Finding, c *conn, now time.Time) []Finding {
	for _, f := range c.x().order {
		g := *f
		g.Connection = c.id
		fs = append(fs, g)
	}
	return append(fs, a.absence(c, now)...)
}

// absence is connFindings(c, now), not judged again while the connection has not changed since it found
// nothing and none of its marks has passed its grace since: a report's work then follows the connections that
// changed, not the connections held. Every rule of connFindings waits for a mark to pass its grace (late) or
// reads only the connection, so what it finds grows with now, and a connection whose marks are all late or
// none pending finds nothing again until it changes.
func (a *Analyzer) absence(c *conn, now time.Time) []Finding {
	ended := a.endedJudgement()
	if c.none && c.noneGen == c.gen && c.noneEnded == ended && !now.After(c.noneUntilAt()) {
		return nil
	}
	a.judged++
	abs := a.connFindings(c, now)
	c.none = len(abs) == 0
	if c.none {
		c.noneGen, c.noneEnded = c.gen, ended
		until := farFuture
		ms := c.markList()
		for k := range ms {
			if at := ms[k].mark().at.Add(a.opts.Grace); !now.After(at) && at.Before(until) {
				until = at // the next mark to pass its grace
			}
		}
		c.setNoneUntil(until)
	}
	return abs
}

// farFuture is later than any exchange.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Analyze is the batch form: every exchange observed, then the report, judged as a capture that ended. Exchanges are observed in the order a live
// analyzer would have settled them (by the time their response started, then id), whatever their order in exs.
func Analyze(exs []*recorder.Exchange, opts Options) *Report {
	a := New(opts)
	for _, ex := range SettleOrder(exs) {
		a.Observe(ex)
	}
	a.End()
	return a.Report()
}

// SettleOrder returns exs sorted by the time their response started (then id): the order in which a live
// analyzer fixes their stage and connection. A capture file lists exchanges in the order they completed.
func SettleOrder(exs []*recorder.Exchange) []*recorder.Exchange {
	out := slices.Clone(exs)
	slices.SortStableFunc(out, func(x, y *recorder.Exchange) int {
		if c := x.Start.Add(x.Timings.Wait).Compare(y.Start.Add(y.Timings.Wait)); c != 0 {
			return c
		}
		return cmp.Compare(x.ID, y.ID)
	})
	return out
}
