// Package app runs a watched session: what cmd/mcpwatch's serve and proxy start once their server listens (the
// tunnel and its watcher, the control socket, the TUI or the headless printer, the shutdown order, the tunnel
// started late from the TUI), and the capture file's setup they share. cmd parses flags and wires; app runs.
package app

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/version"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/control"
	"github.com/mcpwatch/mcpwatch/server/toggle"
	"github.com/mcpwatch/mcpwatch/server/tunnel"
	"github.com/mcpwatch/mcpwatch/tui"
)

// Session is what serve and proxy hand to Run once their server listens.
type Session struct {
	Server   *server.Server
	Store    *recorder.Store
	Limits   recorder.StoreOptions // the store's bounds: the TUI and the analysis hold no more (each a window of its own)
	Capture  *recorder.CaptureFile // nil: no capture file
	Toggles  *toggle.Set
	StateDir string
	Logger   *slog.Logger

	Tunnel    bool   // --tunnel: start a quick tunnel before serving
	PublicURL string // --public-url
	NoTUI     bool   // --no-tui
	JSON      bool   // --json (headless)

	Auth     bool   // the embedded authorization server is on
	AuthNote string // said after the auth state in the TUI header (--allow-loopback-cimd)
	Upstream string // proxy mode: the upstream URL
	// Banner lines of the command's own: Before, right after "listening on"; After, after the connector URL.
	Before, After []string
	Headless      headless.Options
	ConsentCode   string // --consent-code: shown in the TUI's header (headless: in the banner, through After)
}

// tunnelStartTimeout bounds the wait for cloudflared's URL (a quick tunnel usually takes a few seconds).
const tunnelStartTimeout = 60 * time.Second

// Run starts the tunnel (--tunnel) and the control socket, then runs the TUI or the headless printer while the
// server serves, until ctx ends; then it stops everything in order.
func (w Session) Run(ctx context.Context, stdout, stderr io.Writer) error {
	srv := w.Server
	var tun *tunnel.Tunnel
	if w.Tunnel {
		var err error
		tun, err = tunnel.Start(tunnel.Options{Origin: srv.LocalURL(), Logger: w.Logger})
		if err != nil {
			return err
		}
		defer tun.Stop()
		wctx, cancel := context.WithTimeout(ctx, tunnelStartTimeout)
		url, err := tun.WaitURL(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted while waiting
			}
			return fmt.Errorf("tunnel: %w", err)
		}
		if err := srv.Guard().SetPublic(url); err != nil {
			return fmt.Errorf("tunnel: cloudflared printed %q: %w", url, err)
		}
	}

	_, port, _ := net.SplitHostPort(srv.Addr())
	// The control socket is a convenience: without it, toggles still work at start and in the TUI.
	ctl, ctlErr := control.Listen(filepath.Join(control.Dir(w.StateDir), control.SocketName(port)), w.Toggles)
	if ctlErr == nil {
		defer ctl.Close()
	}

	if !w.NoTUI && IsTerminal(stdout) {
		// The TUI owns the terminal: no banner, no line on stdout or stderr until it ends.
		var notices []string
		if ctlErr != nil {
			notices = append(notices, "no control socket, `mcpwatch toggle` cannot reach this instance: "+ctlErr.Error())
		}
		tunnelNote := ""
		var tunnelGone chan string
		if tun != nil {
			tunnelNote = tunnel.BufferingNote // shown under the header for as long as the TUI runs
			tunnelGone = make(chan string, 1)
			go func() {
				<-tun.Done()
				if !tun.Stopping() {
					tunnelGone <- "cloudflared exited (" + exitText(tun.Err()) + ")"
				}
				close(tunnelGone)
			}()
		}
		var later lateTunnel
		lctx, cancelLater := context.WithCancel(ctx)
		defer later.stop()
		defer cancelLater() // first: a start still waiting for its URL gives up, then stop
		var startTunnel func() (tui.TunnelStarted, error)
		if tun == nil && w.PublicURL == "" {
			startTunnel = func() (tui.TunnelStarted, error) { return later.start(lctx, srv, w.Logger) }
		}
		svc := w.analysisService(0) // judged every 2 s while nothing arrives
		defer svc.Close()
		err := runTUI(ctx, srv, tuiRun{analysis: svc, publicURL: w.PublicURL, auth: w.Auth, upstream: w.Upstream,
			toggles: w.Toggles, notice: strings.Join(notices, "; "), store: w.Store, limits: w.Limits, tunnelNote: tunnelNote, authNote: w.AuthNote,
			tunnelGone: tunnelGone, consentCode: w.ConsentCode, startTunnel: startTunnel})
		if w.Capture != nil {
			if cerr := closeCapture(w.Capture, stderr); cerr != nil && err == nil {
				err = cerr
			}
			fmt.Fprintf(stderr, "capture: %s\n", w.Capture.Path())
		}
		return err
	}

	fmt.Fprintf(stderr, "mcpwatch %s listening on %s\n", version.String(), srv.LocalURL())
	for _, l := range w.Before {
		fmt.Fprintln(stderr, l)
	}
	if tun != nil {
		fmt.Fprintf(stderr, "tunnel: %s (cloudflared pid %d, stopped when mcpwatch exits; it may take a few seconds to be reachable)\n", tun.URL(), tun.Pid())
		fmt.Fprintf(stderr, "note: %s\n", tunnel.BufferingNote)
	}
	if w.PublicURL == "" && tun == nil {
		// A loopback URL reaches only clients on this machine: the web clients connect from their own servers.
		fmt.Fprintf(stderr, "connector URL (local clients only: Claude Code, Cursor, VS Code, the MCP Inspector): %s\n", srv.ConnectorURL())
		fmt.Fprintf(stderr, "loopback only: Claude and ChatGPT on the web cannot reach this URL; for a public one add --tunnel (runs cloudflared), or run `cloudflared tunnel --url %s` and pass its URL with --public-url\n", srv.LocalURL())
	} else {
		fmt.Fprintf(stderr, "connector URL (paste into Claude → Settings → Connectors → Add custom connector): %s\n", srv.ConnectorURL())
	}
	for _, l := range w.After {
		fmt.Fprintln(stderr, l)
	}
	if w.Capture != nil {
		fmt.Fprintf(stderr, "capture: %s\n", w.Capture.Path())
	}
	if ctlErr != nil {
		fmt.Fprintf(stderr, "warning: no control socket, `mcpwatch toggle` cannot reach this instance: %v\n", ctlErr)
	}
	if on := w.Toggles.List(); len(on) > 0 {
		var specs []string
		for _, a := range on {
			specs = append(specs, a.Spec())
		}
		fmt.Fprintf(stderr, "toggles on: %s\n", strings.Join(specs, " "))
	}

	var mu sync.Mutex // stderr is shared with the tunnel watcher
	if tun != nil {
		go func() {
			<-tun.Done()
			if tun.Stopping() {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stderr, "cloudflared exited (%v): %s no longer reaches mcpwatch, which keeps serving on %s. It is not restarted (a new quick tunnel has a new URL): restart mcpwatch for a new one.\n",
				exitText(tun.Err()), tun.URL(), srv.LocalURL())
		}()
	}

	// The printer shows what was answered: it need not hear of requests as they begin (it learns of a stream when
	// its response starts).
	sub := w.Store.SubscribeWith(recorder.SubscribeOptions{Buffer: 4096, NoBegan: true})
	hopts := w.Headless
	hopts.JSON = w.JSON
	svc := w.analysisService(cmp.Or(w.Headless.Tick, time.Second)) // the printer's tick
	defer svc.Close()
	printed := make(chan error, 1)
	pctx, stopPrint := context.WithCancel(context.Background())
	psub := svc.Subscribe()
	go svc.Follow(pctx, sub, w.Store)
	go func() { printed <- headless.Watch(pctx, psub, stdout, hopts) }()

	serveErr := srv.Serve(ctx)
	if tun != nil {
		tun.Stop()
	}
	sub.Close() // the service observes what is buffered, takes its last report; the printer prints it and returns
	perr := <-printed
	stopPrint()
	if w.Capture != nil {
		if err := closeCapture(w.Capture, stderr); err != nil && serveErr == nil {
			serveErr = err
		}
	}
	if serveErr != nil {
		return serveErr
	}
	return perr
}

// analysisService makes the session's one analysis service (see recorder/analysis/live): the TUI feeds it and
// shows it, and its export writes its findings; in --no-tui mode it follows the store and the printer prints it.
// The analysis forgets what the store no longer holds, and keeps a window of its own within it (the newest
// analysis.DefaultWindow exchanges, unless Headless.Analysis says otherwise), not the store's count: the store
// holds up to 1,000,000 exchanges, the analysis' records of handshakes far more bytes each. Headless.Now is its
// clock (default time.Now).
func (w Session) analysisService(judgeEvery time.Duration) *live.Service {
	o := w.Headless.Analysis
	return live.New(live.Options{Analysis: o, Clock: w.Headless.Now,
		JudgeEvery: judgeEvery})
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// closeCapture closes the capture file and says so if an exchange ended too late to be in it (a stream that
// outlived the server's stop by more than its grace).
func closeCapture(c *recorder.CaptureFile, stderr io.Writer) error {
	err := c.Close()
	if n := c.Late(); n > 0 {
		fmt.Fprintf(stderr, "warning: %d exchanges ended after the capture file was closed and are not in it\n", n)
	}
	if rotatedOut, tooBig := c.Dropped(); rotatedOut+tooBig > 0 {
		fmt.Fprintf(stderr, "warning: %d exchanges were dropped from the capture (%d deleted with the oldest rotated file, %d larger than --capture-max-size)\n", rotatedOut+tooBig, rotatedOut, tooBig)
	}
	if rotated := c.RotatedPaths(); len(rotated) > 0 {
		fmt.Fprintf(stderr, "capture: older exchanges in %s\n", strings.Join(rotated, ", "))
	}
	return err
}

// lateTunnel is a quick tunnel started from the TUI (T) in a run that began without a public URL; it is stopped
// when the run ends.
type lateTunnel struct {
	mu  sync.Mutex
	tun *tunnel.Tunnel
}

// start starts cloudflared, waits for its URL and makes it the public URL, as --tunnel does at start.
func (l *lateTunnel) start(ctx context.Context, srv *server.Server, logger *slog.Logger) (tui.TunnelStarted, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tun != nil {
		return tui.TunnelStarted{}, fmt.Errorf("a tunnel is already running")
	}
	tun, err := tunnel.Start(tunnel.Options{Origin: srv.LocalURL(), Logger: logger})
	if err != nil {
		return tui.TunnelStarted{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, tunnelStartTimeout)
	url, err := tun.WaitURL(wctx)
	cancel()
	if err == nil {
		if err = srv.Guard().SetPublic(url); err != nil {
			err = fmt.Errorf("cloudflared printed %q: %w", url, err)
		}
	}
	if err != nil {
		tun.Stop()
		return tui.TunnelStarted{}, err
	}
	l.tun = tun
	gone := make(chan string, 1)
	go func() {
		<-tun.Done()
		if !tun.Stopping() {
			gone <- "cloudflared exited (" + exitText(tun.Err()) + ")"
		}
		close(gone)
	}()
	return tui.TunnelStarted{PublicURL: url, ConnectorURL: srv.ConnectorURL(), Note: tunnel.BufferingNote, Gone: gone}, nil
}

func (l *lateTunnel) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tun != nil {
		l.tun.Stop()
	}
}
