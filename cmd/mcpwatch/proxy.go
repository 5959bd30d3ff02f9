package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/faults"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/publicurl"
)

type proxyFlags struct {
	serveFlags   // the shared ones (registerCommon)
	upstream     string
	rewriteURLs  bool
	preserveHost bool
	upstreamWait time.Duration
}

func (f *proxyFlags) register(fs *flag.FlagSet) {
	f.registerCommon(fs)
	fs.StringVar(&f.upstream, "upstream", "", "your MCP server's `URL`, e.g. http://localhost:8080/mcp (its path is the connector's path; every path is forwarded as is)")
	fs.BoolVar(&f.rewriteURLs, "rewrite-urls", true, "rewrite the upstream's own absolute URLs (http://localhost:8080/...) in discovery documents, WWW-Authenticate and Location to the public URL; --rewrite-urls=false forwards them untouched")
	fs.BoolVar(&f.preserveHost, "preserve-host", false, "send the public host as Host (default: the upstream's own host, with the public host in X-Forwarded-Host)")
	fs.DurationVar(&f.upstreamWait, "upstream-timeout", proxy.DefaultHeaderTimeout, "answer 504 when the upstream sends no response headers within this `duration`, GET event streams included (0: wait forever); a stream whose headers came in time lasts as long as the upstream keeps it open")
}

const proxyUsage = `mcpwatch proxy --upstream URL [flags]: record every request between an MCP client and your own server.

Flags:
`

func cmdProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, proxyUsage)
		fs.PrintDefaults()
	}
	var f proxyFlags
	f.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
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
	if f.upstreamWait < 0 {
		fmt.Fprintln(stderr, "mcpwatch proxy: --upstream-timeout must not be negative")
		return errUsage
	}
	toggles, err := f.toggles(faults.ModeProxy)
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
	rec := recorder.New(store, recorder.Options{})
	p, err := proxy.New(proxy.Options{
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
		path := f.capture
		if path == "" {
			path = filepath.Join(stateDir, "captures", time.Now().Format("2006-01-02T15-04-05")+".jsonl")
		}
		capture, err = recorder.OpenCaptureWith(path, f.captureOptions(logger))
		if err != nil {
			return err
		}
		store.OnComplete(capture.Append)
	}
	srv, err := server.New(server.Config{
		Addr:         f.addr,
		PublicURL:    f.publicURL,
		Logger:       logger,
		Recorder:     benchRecorder(rec),
		Faults:       toggles,
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

	host := "the upstream's own Host, the public host in X-Forwarded-Host"
	if f.preserveHost {
		host = "the public host as Host"
	}
	rewrite := "on"
	if !f.rewriteURLs {
		rewrite = "off"
	}
	before := []string{fmt.Sprintf("proxying to %s (%s; URL rewriting %s)", p.Upstream(), host, rewrite)}
	if !p.HasEndpointPath() {
		before = append(before, fmt.Sprintf("--upstream has no path: the connector URL assumes %s; name your server's MCP endpoint in --upstream (e.g. %s/mcp) if it differs", p.EndpointPath(), p.Upstream()))
	}
	return runWatched(ctx, watched{
		flags: &f.serveFlags, srv: srv, store: store, capture: capture, toggles: toggles, stateDir: stateDir,
		logger: logger, upstream: p.Upstream().String(), before: before,
		headless: headless.Options{Analysis: analysis.Options{MCPPath: p.Upstream().Path}},
	}, stdout, stderr)
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
