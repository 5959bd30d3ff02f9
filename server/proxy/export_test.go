package proxy

import (
	"context"
	"net"
	"sync/atomic"
)

// NoDerive makes p record the upstream copy of each exchange on its own, as without recorder.Transport.Derive.
func NoDerive(p *Proxy) { p.recT.Derive = false }

// CountUpstreamWrites counts the write calls p makes on its upstream connections in n.
func CountUpstreamWrites(p *Proxy, n *atomic.Int64) {
	dial := p.transport.DialContext
	p.transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, n: n}, nil
	}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) { c.n.Add(1); return c.Conn.Write(b) }
