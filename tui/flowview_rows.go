package tui

import (
	"encoding/binary"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// statusClass groups a status for colour and for the filter's status:Nxx.
type statusClass uint8

const (
	classPending statusClass = iota // no response yet
	class1xx
	class2xx
	class3xx
	class4xx
	class5xx
	classError // the exchange ended without a status (transport error, client went away)
)

func classOf(ex *recorder.Exchange) statusClass {
	switch {
	case ex.Status >= 100 && ex.Status < 600:
		return statusClass(ex.Status / 100)
	case ex.Error != "" || ex.State == recorder.StateComplete:
		return classError
	}
	return classPending
}

// row is one exchange as the list holds it: its id, and what the list shows and the filter searches, in a small
// value without pointers (so the garbage collector never scans the rows). Whatever else the detail pane, the curl
// copy or an export need of the exchange, they ask the store for (Config.Store.Get, one exchange per change of the
// selection): the rows keep none of the store's records alive, so that what the store forgets is freed.
type row struct {
	id   uint64
	sec  int64         // the start, as unix seconds and nanoseconds (sec, nsec) in a zone offset (off, seconds east)
	dur  time.Duration // Timings.Total
	size int64         // Exchange.Size: the store's bounds count it
	hid  int32         // the row's hay (what the filter's words search), interned: see flowView.hays
	tid  int32         // the row's texts (method, URL, ...), interned: see flowView.texts and rowText
	cn   int32         // the connection, interned: see flowView.connIDs (0: none)
	rev  uint32        // counts the snapshots the row took: the detail pane asks the store again when it moves

	status int32
	nsec   int32
	off    int32
	stage  stageID
	cl     uint8 // the client kind, interned: see flowView.clients
	class  statusClass
	flags  rowFlags
}

// rowFlags are the exchange's state and kind, as a row needs them.
type rowFlags uint8

const (
	rowPending   rowFlags = 1 << iota // State: pending (no response yet)
	rowStreaming                      // State: streaming
	rowComplete                       // State: complete (final: the store never changes it again)
	rowOutbound                       // Kind: a request mcpwatch made itself
	rowToggles                        // a toggle altered the exchange
)

// stageID is a stage, interned: see flowView.stageNames. The rows stay small (64 bytes), which is what a filter pass
// over 100,000 of them reads.
type stageID uint8

// start is the exchange's start, in the zone it was recorded in.
func (r *row) start() time.Time { return time.Unix(r.sec, int64(r.nsec)) }

// clock is the start's time of day (15:04:05.000) in the zone it was recorded in, as ex.Start.Format shows it.
func (r *row) clock() string {
	return time.Unix(r.sec+int64(r.off), int64(r.nsec)).UTC().Format("15:04:05.000")
}

// rowText is what a row shows and the filter matches besides its hay: the texts of the exchange, kept once per
// distinct combination (see flowView.texts) in one string, each part preceded by its length (uvarint).
type rowText struct {
	method, url, rpc, err, host string
	toggles                     string // the toggles' names, each preceded by its length (see eachToggle)
}

// appendRowText encodes what a row keeps of ex's texts.
func appendRowText(b []byte, ex *recorder.Exchange) []byte {
	b = appendPart(b, ex.Method)
	b = appendPart(b, ex.URL)
	b = appendPart(b, ex.RPCMethod())
	b = appendPart(b, ex.Error)
	host := ""
	if ex.Kind == recorder.Outbound {
		host = ex.Host // the hay searches an outbound request's host (an inbound one's is mcpwatch's own)
	}
	b = appendPart(b, host)
	n := 0 // the toggles' part: their names, each preceded by its length
	for _, t := range ex.Toggles {
		n += uvarintLen(uint64(len(t.Name))) + len(t.Name)
	}
	b = binary.AppendUvarint(b, uint64(n))
	for _, t := range ex.Toggles {
		b = appendPart(b, t.Name)
	}
	return b
}

func uvarintLen(n uint64) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

func appendPart(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// part reads one part of an encoded text: the part and what follows it.
func part(s string) (p, rest string) {
	n, k := uvarint(s)
	if k <= 0 || n > uint64(len(s)-k) {
		return "", "" // not one of appendRowText's (never happens)
	}
	return s[k : k+int(n)], s[k+int(n):]
}

func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// decodeRowText reads an encoded text (its strings are the encoding's: nothing is copied).
func decodeRowText(s string) rowText {
	var t rowText
	t.method, s = part(s)
	t.url, s = part(s)
	t.rpc, s = part(s)
	t.err, s = part(s)
	t.host, s = part(s)
	t.toggles, _ = part(s)
	return t
}

// methodOf is the first part of an encoded text (the filter's method: term reads only it).
func methodOf(s string) string {
	m, _ := part(s)
	return m
}

// eachToggle calls f with the name of each toggle that altered the exchange, until f says stop.
func (t *rowText) eachToggle(f func(name string) bool) {
	for s := t.toggles; s != ""; {
		var name string
		name, s = part(s)
		if !f(name) {
			return
		}
	}
}

// path is what the list shows of an inbound request: the URL's path, without the query.
func (t *rowText) path() string { return (&recorder.Exchange{URL: t.url}).Path() }

// connInfo is what the filter's client: term matches for a connection.
type connInfo struct {
	kind analysis.ClientKind
	hay  string // lower case kind, client name and user agent
}

// findingMark is the worst severity of an exchange's findings, their number, and where the first one is in the
// report's findings.
type findingMark struct {
	sev   analysis.Severity
	n     int32
	first int32
}

// sevRank orders severities, worst first; no severity ranks last.
func sevRank(s analysis.Severity) int {
	switch s {
	case analysis.SeverityError:
		return 0
	case analysis.SeverityWarn:
		return 1
	case analysis.SeverityInfo:
		return 2
	}
	return 3
}
