package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/tunnel"
)

// ASListener is what proxy --watch-as asks of the authorization server's listener.
type ASListener struct {
	PublicURL string // --as-public-url
	Tunnel    bool   // --tunnel: a second quick tunnel to it, for an authorization server the upstream names
	MCPPublic bool   // the MCP listener has a public URL of its own (--public-url)
}

// ListenAS opens the watched authorization server's listener on the first free port after mcpwatch's own (same
// host), behind the same recorder (the toggles act on the MCP listener only), with --tunnel a second quick tunnel
// to it (unless --as-public-url names one), and returns its banner lines and what stops that tunnel.
func ListenAS(ctx context.Context, p *proxy.Proxy, srv *server.Server, f ASListener, logger *slog.Logger, rec *recorder.Recorder) (*server.Server, []string, func(), error) {
	host, portStr, _ := net.SplitHostPort(srv.Addr())
	port, _ := strconv.Atoi(portStr)
	var asSrv *server.Server
	var err error
	for i := 1; i <= 11; i++ {
		addr := net.JoinHostPort(host, strconv.Itoa(port+i))
		if i == 11 {
			addr = net.JoinHostPort(host, "0")
		}
		asSrv, err = server.New(server.Config{Addr: addr, PublicURL: f.PublicURL, Logger: logger, Recorder: rec,
			Handler: p.AS(), EndpointPath: "/"})
		if err != nil {
			return nil, nil, nil, err
		}
		if err = asSrv.Listen(); err == nil {
			break
		}
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("the authorization server's listener: %w", err)
	}
	// Ask the upstream now: a second quick tunnel is started only for a server it names (quick tunnels are
	// rate-limited), and the banner can name it.
	watching := p.DiscoverAS(ctx)
	public := f.PublicURL
	stop := func() {}
	if public == "" && f.Tunnel && watching != "" {
		tun, err := tunnel.Start(tunnel.Options{Origin: asSrv.LocalURL(), Logger: logger})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("the authorization server's tunnel: %w", err)
		}
		wctx, cancel := context.WithTimeout(ctx, tunnelStartTimeout)
		public, err = tun.WaitURL(wctx)
		cancel()
		if err != nil {
			tun.Stop()
			return nil, nil, nil, fmt.Errorf("the authorization server's tunnel: %w", err)
		}
		stop = tun.Stop
	}
	if public != "" {
		if err := asSrv.Guard().SetPublic(public); err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("the authorization server's public URL %q: %w", public, err)
		}
	} else {
		public = asSrv.LocalURL()
	}
	if err := p.SetASPublic(public); err != nil {
		stop()
		return nil, nil, nil, fmt.Errorf("--as-public-url: %w", err)
	}
	line := fmt.Sprintf("authorization server listener: %s", asSrv.LocalURL())
	if public != asSrv.LocalURL() {
		line += " (public " + public + ")"
	}
	if watching != "" {
		line += "; watching " + watching + " (--watch-as=false leaves it direct)"
	} else {
		line += "; it serves the authorization server the upstream's resource metadata names on another origin, once a client fetches it (--watch-as=false: never)"
	}
	lines := []string{line}
	if (f.Tunnel || f.MCPPublic) && public == asSrv.LocalURL() && watching != "" {
		lines = append(lines, "note: the authorization server's listener is reachable on this machine only; for a remote client run a second tunnel to "+asSrv.LocalURL()+" and pass its URL with --as-public-url, or use --watch-as=false")
	}
	return asSrv, lines, stop, nil
}
