package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcpwatch/mcpwatch/app"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
	"github.com/mcpwatch/mcpwatch/server/toggle"
)

type proxyFlags struct {
	serveFlags   // the shared ones (registerCommon)
	upstream     string
	rewriteURLs  bool
	preserveHost bool
	upstreamWait time.Duration
	watchAS      bool
	asPublicURL  string
}

func (f *proxyFlags) register(fs *pflag.FlagSet) {
	f.registerCommon(fs)
	fs.StringVar(&f.upstream, "upstream", "", "your MCP server's `URL`, e.g. http://localhost:8080/mcp (its path is the connector's path; every path is forwarded as is)")
	fs.BoolVar(&f.rewriteURLs, "rewrite-urls", true, "rewrite the upstream's own absolute URLs (http://localhost:8080/...) in discovery documents, WWW-Authenticate and Location to the public URL; --rewrite-urls=false forwards them untouched")
	fs.BoolVar(&f.preserveHost, "preserve-host", false, "send the public host as Host (default: the upstream's own host, with the public host in X-Forwarded-Host)")
	fs.BoolVar(&f.watchAS, "watch-as", true, "watch the authorization server the upstream's resource metadata names on another origin, through a second listener (the port after --addr); --watch-as=false leaves the client talking to it directly")
	fs.StringVar(&f.asPublicURL, "as-public-url", "", "the public `URL` of the authorization server's listener (a second tunnel to the port the banner names); default: with --tunnel a second quick tunnel, else its loopback URL")
	fs.DurationVar(&f.upstreamWait, "upstream-timeout", proxy.DefaultHeaderTimeout, "answer 504 when the upstream sends no response headers within this `duration`, GET event streams included (0: wait forever); a stream whose headers came in time lasts as long as the upstream keeps it open")
}

// cmdProxy runs proxy with its parsed flags and positional arguments.
func cmdProxy(ctx context.Context, f *proxyFlags, pos []string, stdout, stderr io.Writer) error {
	if f.upstream == "" && len(pos) == 1 {
		f.upstream, pos = pos[0], nil // mcpwatch proxy http://localhost:8080/mcp
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "mcpwatch proxy: unexpected argument %q\n", pos[0])
		return errUsage
	}
	if f.upstream == "" {
		fmt.Fprintln(stderr, "mcpwatch proxy: --upstream URL is required (your MCP server, e.g. --upstream http://localhost:8080/mcp)")
		return errUsage
	}
	if err := f.checkCommon(); err != nil {
		fmt.Fprintln(stderr, "mcpwatch proxy:", err)
		return errUsage
	}
	if f.asPublicURL != "" && !f.watchAS {
		fmt.Fprintln(stderr, "mcpwatch proxy: --as-public-url needs --watch-as")
		return errUsage
	}
	if f.asPublicURL != "" {
		if _, err := publicurl.ParsePublic(f.asPublicURL); err != nil {
			fmt.Fprintln(stderr, "mcpwatch proxy: --as-public-url:", err)
			return errUsage
		}
	}
	if f.upstreamWait < 0 {
		fmt.Fprintln(stderr, "mcpwatch proxy: --upstream-timeout must not be negative")
		return errUsage
	}
	toggles, err := f.toggles(toggle.ModeProxy)
	if err != nil {
		return err
	}
	stateDir, err := stateDir()
	if err != nil {
		return err
	}
	logger, closeLog, err := openLog(f.logFile, stateDir)
	if err != nil {
		return err
	}
	defer closeLog()

	storeLimits.MaxBytes = int64(f.maxMemoryMiB) << 20
	store := recorder.NewStore(storeLimits)
	defer app.LimitMemory(storeLimits.MaxBytes)() // the heap's room beside a full store (app/memlimit.go)
	rec := recorder.New(store, recorder.Options{})
	say := asSayer(!f.noTUI && app.IsTerminal(stdout), stderr)
	p, err := proxy.New(proxy.Options{
		WatchAS:       f.watchAS,
		OnASFinding:   say,
		Upstream:      f.upstream,
		Recorder:      benchRecorder(rec),
		Logger:        logger,
		RewriteURLs:   f.rewriteURLs,
		PreserveHost:  f.preserveHost,
		HeaderTimeout: f.upstreamWait,
	})
	if err != nil {
		return err
	}
	defer p.Close()
	var capture *recorder.CaptureFile
	if !f.noCapture && !benchNoRecord() {
		if capture, err = app.OpenCapture(store, f.capture, stateDir, f.captureOptions(logger)); err != nil {
			return err
		}
	}
	srv, err := server.New(server.Config{
		Addr:         f.addr,
		PublicURL:    f.publicURL,
		Logger:       logger,
		Recorder:     benchRecorder(rec),
		Toggles:      toggles,
		Handler:      p,
		EndpointPath: p.EndpointPath(),
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	if isSelf(p.Upstream().Host, srv.Addr()) {
		return fmt.Errorf("--upstream %s is mcpwatch's own address %s: point it at your server", f.upstream, srv.Addr())
	}

	var asLines []string
	shown := p.Upstream().String() // in the TUI's header
	if f.watchAS {
		asSrv, lines, stopTunnel, err := app.ListenAS(ctx, p, srv, app.ASListener{PublicURL: f.asPublicURL, Tunnel: f.tunnel, MCPPublic: f.publicURL != ""}, logger, benchRecorder(rec))
		if err != nil {
			return err
		}
		defer stopTunnel()
		asLines = lines
		srv.Also(asSrv)
		shown += " · authorization server via " + asSrv.LocalURL()
	}

	host := "the upstream's own Host, the public host in X-Forwarded-Host"
	if f.preserveHost {
		host = "the public host as Host"
	}
	rewrite := "on"
	if !f.rewriteURLs {
		rewrite = "off"
	}
	before := []string{fmt.Sprintf("proxying to %s (%s; URL rewriting %s)", p.Upstream(), host, rewrite)}
	before = append(before, asLines...)
	if !p.HasEndpointPath() {
		before = append(before, fmt.Sprintf("--upstream has no path: the connector URL assumes %s; name your server's MCP endpoint in --upstream (e.g. %s/mcp) if it differs", p.EndpointPath(), p.Upstream()))
	}
	// no app.PaceGC here: its room between collections made the first event of a stream slower through the proxy
	// (docs/benchmarks.md, serve's own layers, third round)
	return app.Session{
		Server: srv, Store: store, Limits: storeLimits, Capture: capture, Toggles: toggles, StateDir: stateDir,
		Tunnel: f.tunnel, PublicURL: f.publicURL, NoTUI: f.noTUI, JSON: f.json,
		Logger: logger, Upstream: shown, Before: before,
		Headless: headless.Options{Analysis: analysis.Options{MCPPath: p.Upstream().Path}},
	}.Run(ctx, stdout, stderr)
}

// asSayer prints what the proxy learns about a watched authorization server, once each, in headless mode (the TUI
// shows the same as findings).
func asSayer(tui bool, stderr io.Writer) func(string) {
	if tui {
		return nil
	}
	var mu sync.Mutex
	return func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(stderr, "authorization server:", msg)
	}
}

// isSelf reports whether upstream (host[:port]) is the listener at addr: a loop.
func isSelf(upstream, addr string) bool {
	uh, up, err := net.SplitHostPort(upstream)
	if err != nil {
		return false // no port: 80 or 443, which mcpwatch does not listen on by default
	}
	_, ap, err := net.SplitHostPort(addr)
	return err == nil && up == ap && publicurl.IsLoopback(uh)
}
