package recorder

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Go's http.Request keeps headers in a map, which loses their order and the case they were sent in. To record
// request headers as they crossed the wire, WrapListener keeps the bytes each HTTP/1.x connection read until the
// end of the next header block, and the capture middleware takes that block for the request it belongs to.

// maxHeaderWindow bounds the bytes kept per connection while looking for a header block.
const maxHeaderWindow = 64 << 10

type wireConnKey struct{}

type wireConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
	// skip is how many bytes still to come belong to the body of the request whose header block headersFor took
	// (its Content-Length): they cannot hold a header block, so they are not kept (a body was copied into buf,
	// and a large one moved through the window again and again, only to be passed over by the next search)
	skip int64
	kept uint64 // bytes kept in buf (tests)
	// last is the last header block taken (request line included) when it started the bytes read, and lastH its
	// list, whose values are last's: a client sends the same block call after call on its connection (the same
	// method, target, names and values, a body of the same length), and the next such block is listed as this one
	// was — the same list, read only by the records that share it — rather than copied and parsed again
	last  string
	lastH Headers
}

// maxReusedBlock bounds the header block a connection keeps for its next request (wireConn.last).
const maxReusedBlock = 4 << 10

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		b := p[:n]
		if c.skip > 0 {
			k := min(int64(len(b)), c.skip)
			b, c.skip = b[k:], c.skip-k
		}
		if len(b) > 0 {
			c.kept += uint64(len(b))
			c.buf = append(c.buf, b...)
			if len(c.buf) > 2*maxHeaderWindow { // keep the last window; amortised, each byte moves at most once
				c.buf = append(c.buf[:0], c.buf[len(c.buf)-maxHeaderWindow:]...)
			}
		}
		c.mu.Unlock()
	}
	return n, err
}

// headersFor finds the header block of r in the bytes read so far, returns its headers in order, and forgets
// everything up to the block's end, and, when the block is r's, its body of r.ContentLength bytes (those read
// already, and those to come: skip). It returns nil when the block is not there (HTTP/2, an oversized window).
func (c *wireConn) headersFor(r *http.Request) Headers {
	if r.ProtoMajor != 1 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	start := 0 // the request line is where the bytes read start, unless something came before it
	if !startsWith(c.buf, r.Method, r.RequestURI) {
		start = bytes.Index(c.buf, []byte(r.Method+" "+r.RequestURI+" "))
		if start < 0 {
			return nil
		}
	}
	end := bytes.Index(c.buf[start:], []byte("\r\n\r\n"))
	if end < 0 {
		return nil
	}
	after := c.buf[start+end+4:]
	defer func() { c.buf = append(c.buf[:0], after...) }()
	if start == 0 && c.lastH != nil && len(c.last) == end && string(c.buf[:end]) == c.last {
		// the block that starts the bytes read is the connection's last one again, byte for byte: the same headers
		// in the same order (whether they are this request's is checked as for any block)
		if !holdsEvery(c.lastH, r.Header) {
			return nil
		}
		c.takeBody(&after, r)
		return c.lastH
	}
	block := string(c.buf[start : start+end]) // copied before the buffer is reused below
	_, rest, _ := cutCRLF(block)              // the request line
	// its lines at most: a one-byte count is the fast one
	h := make(Headers, 0, strings.Count(rest, "\n")+1)
	for len(rest) > 0 {
		var l string
		l, rest, _ = cutCRLF(rest)
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(h) > 0 { // obsolete line folding
			h[len(h)-1].Value += " " + strings.TrimSpace(l)
			continue
		}
		i := strings.IndexByte(l, ':')
		if i < 0 {
			continue
		}
		h = append(h, Header{Name: l[:i], Value: strings.TrimSpace(l[i+1:])})
	}
	if !holdsEvery(h, r.Header) { // a block that does not hold every header is not this request's: fall back
		return nil
	}
	h = slices.Clip(h) // the records that share it have nothing to append in its array
	c.last, c.lastH = "", nil
	if start == 0 && len(block) <= maxReusedBlock {
		c.last, c.lastH = block, h
	}
	c.takeBody(&after, r)
	return h
}

// takeBody passes over r's body in after, the bytes that follow r's header block. Callers hold c.mu.
func (c *wireConn) takeBody(after *[]byte, r *http.Request) {
	if r.ContentLength > 0 {
		// The body follows the block, exactly r.ContentLength bytes (net/http reads it so; a chunked body's length
		// is not known: -1, kept as before), then the next request's header block.
		k := min(int64(len(*after)), r.ContentLength)
		*after, c.skip = (*after)[k:], r.ContentLength-k
	}
}

// startsWith reports whether b starts with the request line's method and target, each followed by a space.
func startsWith(b []byte, method, target string) bool {
	n := len(method) + 1 + len(target) + 1
	return len(b) >= n && string(b[:len(method)]) == method && b[len(method)] == ' ' &&
		string(b[len(method)+1:n-1]) == target && b[n-1] == ' '
}

// cutCRLF is strings.Cut(s, "\r\n"), the line found through its '\r' (a header block's lines are short: Cut's
// general search was most of the time the block took).
func cutCRLF(s string) (before, after string, found bool) {
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '\r')
		if j < 0 {
			return s, "", false
		}
		i += j
		if i+1 < len(s) && s[i+1] == '\n' {
			return s[:i], s[i+2:], true
		}
		i++
	}
}

type wireListener struct{ net.Listener }

func (l wireListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: c}, nil
}

// WrapListener records each connection's bytes so that request headers keep their wire order. Pair it with
// ConnContext on the http.Server.
func WrapListener(ln net.Listener) net.Listener { return wireListener{ln} }

// ConnContext makes a wrapped connection available to the capture middleware.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if wc, ok := c.(*wireConn); ok {
		return context.WithValue(ctx, wireConnKey{}, wc)
	}
	return ctx
}

// holdsEvery reports whether, for every name in hdr whose first value is not empty, h's first line of that name
// (case-insensitively) has a value that is not empty. A few lines are looked up one by one; more (a stranger can
// send thousands in a header window) through a map, so that the cost is linear in the lines. A block with a name
// that is not ASCII is not the request's (net/http accepts only token names) when it is looked at through the map.
func holdsEvery(h Headers, hdr http.Header) bool {
	if len(h) <= 16 {
		// hdr's names are ASCII (net/http's tokens): a name of h that is ASCII too folds to one of them only when
		// they have the same length, and one that is not is compared as Get compares it
		ascii := true
		for _, x := range h {
			ascii = ascii && isASCII(x.Name)
		}
		for name, vs := range hdr {
			if len(vs) > 0 && vs[0] != "" && firstFold(h, name, ascii) == "" {
				return false
			}
		}
		return true
	}
	first := make(map[string]string, len(h))
	for _, x := range h {
		if !isASCII(x.Name) {
			return false
		}
		k := strings.ToLower(x.Name)
		if _, seen := first[k]; !seen {
			first[k] = x.Value
		}
	}
	for name, vs := range hdr {
		if len(vs) > 0 && vs[0] != "" && first[strings.ToLower(name)] == "" {
			return false
		}
	}
	return true
}

// firstFold is h.Get(name), the names of another length passed over when every name of h is ASCII.
func firstFold(h Headers, name string, ascii bool) string {
	for _, x := range h {
		if (!ascii || len(x.Name) == len(name)) && strings.EqualFold(x.Name, name) {
			return x.Value
		}
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
