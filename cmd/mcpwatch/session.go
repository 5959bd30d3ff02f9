package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/control"
	"github.com/mcpwatch/mcpwatch/server/faults"
	"github.com/mcpwatch/mcpwatch/server/tunnel"
)

// watched is what serve and proxy hand to runWatched once their server listens.
type watched struct {
	flags    *serveFlags
	srv      *server.Server
	store    *recorder.Store
	capture  *recorder.CaptureFile
	toggles  *faults.Set
	stateDir string
	logger   *slog.Logger
	auth     bool   // the embedded authorization server is on
	authNote string // said after the auth state in the TUI header (--allow-loopback-cimd)
	upstream string // proxy mode: the upstream URL
	// Banner lines of the command's own: before, right after "listening on"; after, after the connector URL.
	before, after []string
	headless      headless.Options
}

// tunnelStartTimeout bounds the wait for cloudflared's URL (a quick tunnel usually takes a few seconds).
const tunnelStartTimeout = 60 * time.Second

// runWatched starts the tunnel (--tunnel) and the control socket, then runs the TUI or the headless printer while
// the server serves, until ctx ends; then it stops everything in order.
func runWatched(ctx context.Context, w watched, stdout, stderr io.Writer) error {
	srv := w.srv
	var tun *tunnel.Tunnel
	if w.flags.tunnel {
		var err error
		tun, err = tunnel.Start(tunnel.Options{Origin: srv.LocalURL(), Logger: w.logger})
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
	ctl, ctlErr := control.Listen(filepath.Join(control.Dir(w.stateDir), control.SocketName(port)), w.toggles)
	if ctlErr == nil {
		defer ctl.Close()
	}

	if !w.flags.noTUI && isTerminal(stdout) {
		// The TUI owns the terminal: no banner, no line on stdout or stderr until it ends.
		var notices []string
		if ctlErr != nil {
			notices = append(notices, "no control socket, `mcpwatch fault` cannot reach this instance: "+ctlErr.Error())
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
		err := runTUI(ctx, srv, tuiRun{publicURL: w.flags.publicURL, auth: w.auth, upstream: w.upstream,
			toggles: w.toggles, notice: strings.Join(notices, "; "), store: w.store, tunnelNote: tunnelNote, authNote: w.authNote,
			tunnelGone: tunnelGone})
		if w.capture != nil {
			if cerr := closeCapture(w.capture, stderr); cerr != nil && err == nil {
				err = cerr
			}
			fmt.Fprintf(stderr, "capture: %s\n", w.capture.Path())
		}
		return err
	}

	fmt.Fprintf(stderr, "mcpwatch %s listening on %s\n", version, srv.LocalURL())
	for _, l := range w.before {
		fmt.Fprintln(stderr, l)
	}
	if tun != nil {
		fmt.Fprintf(stderr, "tunnel: %s (cloudflared pid %d, stopped when mcpwatch exits; it may take a few seconds to be reachable)\n", tun.URL(), tun.Pid())
		fmt.Fprintf(stderr, "note: %s\n", tunnel.BufferingNote)
	}
	fmt.Fprintf(stderr, "connector URL (paste into Claude → Settings → Connectors → Add custom connector): %s\n", srv.ConnectorURL())
	if w.flags.publicURL == "" && tun == nil {
		fmt.Fprintf(stderr, "behind a tunnel? add --tunnel (runs cloudflared), or run `cloudflared tunnel --url %s` and pass its URL with --public-url\n", srv.LocalURL())
	}
	for _, l := range w.after {
		fmt.Fprintln(stderr, l)
	}
	if w.capture != nil {
		fmt.Fprintf(stderr, "capture: %s\n", w.capture.Path())
	}
	if ctlErr != nil {
		fmt.Fprintf(stderr, "warning: no control socket, `mcpwatch fault` cannot reach this instance: %v\n", ctlErr)
	}
	if on := w.toggles.List(); len(on) > 0 {
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
	sub := w.store.SubscribeWith(recorder.SubscribeOptions{Buffer: 4096, NoBegan: true})
	printed := make(chan error, 1)
	pctx, stopPrint := context.WithCancel(context.Background())
	hopts := w.headless
	hopts.JSON = w.flags.json
	hopts.Analysis.MaxExchanges = storeLimits.MaxCount // the analysis forgets what the store no longer holds
	go func() { printed <- headless.Run(pctx, sub, stdout, hopts) }()

	serveErr := srv.Serve(ctx)
	if tun != nil {
		tun.Stop()
	}
	sub.Close() // the printer drains what is buffered, then returns
	perr := <-printed
	stopPrint()
	if w.capture != nil {
		if err := closeCapture(w.capture, stderr); err != nil && serveErr == nil {
			serveErr = err
		}
	}
	if serveErr != nil {
		return serveErr
	}
	return perr
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
	return err
}
