package recorder

import (
	"bytes"
	"unique"
	"unsafe"
)

// What the packed records (pack.go) keep from the compact records that came before them: texts of a record found
// in its bodies (eventsInBody), short texts interned, and no memo on a record small enough to look at whole.

// internMax is the longest string interned.
const internMax = 96

// memoFrom is the size of record beyond which a materialised record keeps a memo: up to it, RPCMethod, RPCError
// and Size look at the record whole (a few dozen lines at most), which costs less than the memo's 64 bytes in
// every record.
const (
	memoFromLines = 8  // JSON-RPC messages or events
	memoFromHdrs  = 48 // header lines, both lists
)

// compactMemo returns the memo a completed record keeps: nil for a record small enough to look at whole.
func compactMemo(c *Exchange) *exMemo {
	c.memo = nil
	if len(c.RPC) <= memoFromLines && len(c.Events) <= memoFromLines && len(c.ReqHeaders)+len(c.RespHeaders) <= memoFromHdrs {
		return nil
	}
	m := c.sizeMemo()
	m.rpc = c.rpcMemo()
	return &m
}

// intern returns the canonical copy of a short string (unique.Make; "" stays "").
func intern(v string) string {
	if v == "" || len(v) > internMax {
		return v
	}
	return unique.Make(v).Value()
}

// bodyFinders returns the finders of a record's texts in its bodies: the events' data and ids in the response
// body, and the JSON-RPC messages' ids and error messages in the body of their side.
func bodyFinders(c *Exchange) (data, ids, req, resp eventsInBody) {
	data, ids = eventsInBody{body: c.RespBody.Data}, eventsInBody{body: c.RespBody.Data}
	req, resp = eventsInBody{body: c.ReqBody.Data}, eventsInBody{body: c.RespBody.Data}
	return
}

// rpcFinder is the finder for m's texts: a client's messages are in the request body, a server's in the response.
func rpcFinder(m *RPC, req, resp *eventsInBody) *eventsInBody {
	if m.From == FromClient {
		return req
	}
	return resp
}

func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// eventsInBody finds texts in a body, in order: each search starts where the last match ended, and after the
// first miss (a body cut at its limit, a multi-line data field) it stops looking, so a whole record's walk reads
// the body about once, whatever the number of events.
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
