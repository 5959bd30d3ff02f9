package proxy

// NoDerive makes p record the upstream copy of each exchange on its own, as without recorder.Transport.Derive.
func NoDerive(p *Proxy) { p.recT.Derive = false }
