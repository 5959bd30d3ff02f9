package recorder

import (
	"bytes"
	"context"
	"net"
	"net/http"
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
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.buf = append(c.buf, p[:n]...)
		if len(c.buf) > 2*maxHeaderWindow { // keep the last window; amortised, each byte moves at most once
			c.buf = append(c.buf[:0], c.buf[len(c.buf)-maxHeaderWindow:]...)
		}
		c.mu.Unlock()
	}
	return n, err
}

// headersFor finds the header block of r in the bytes read so far, returns its headers in order, and forgets
// everything up to the block's end. It returns nil when the block is not there (HTTP/2, an oversized window).
func (c *wireConn) headersFor(r *http.Request) Headers {
	if r.ProtoMajor != 1 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	line := []byte(r.Method + " " + r.RequestURI + " ")
	start := bytes.Index(c.buf, line)
	if start < 0 {
		return nil
	}
	end := bytes.Index(c.buf[start:], []byte("\r\n\r\n"))
	if end < 0 {
		return nil
	}
	block := string(c.buf[start : start+end]) // copied before the buffer is reused below
	c.buf = append(c.buf[:0], c.buf[start+end+4:]...)
	_, rest, _ := strings.Cut(block, "\r\n") // the request line
	h := make(Headers, 0, strings.Count(rest, "\r\n")+1)
	for len(rest) > 0 {
		var l string
		l, rest, _ = strings.Cut(rest, "\r\n")
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(h) > 0 { // obsolete line folding
			h[len(h)-1].Value += " " + strings.TrimSpace(l)
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		h = append(h, Header{Name: name, Value: strings.TrimSpace(value)})
	}
	if !holdsEvery(h, r.Header) { // a block that does not hold every header is not this request's: fall back
		return nil
	}
	return h
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
		for name, vs := range hdr {
			if len(vs) > 0 && vs[0] != "" && h.Get(name) == "" {
				return false
			}
		}
		return true
	}
	first := make(map[string]string, len(h))
	for _, x := range h {
		for i := 0; i < len(x.Name); i++ {
			if x.Name[i] >= utf8.RuneSelf {
				return false
			}
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
