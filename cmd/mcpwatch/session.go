package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/tunnel"
)

// session is what serve and proxy share: the state directory, the log, the recorder and its store, the capture
// file, and running the server (tunnel, banner, output).
type session struct {
	flags    *commonFlags
	stateDir string
	logger   *slog.Logger
	closeLog func()
	store    *recorder.Store
	rec      *recorder.Recorder
	capture  *recorder.CaptureFile
}

func openSession(f *commonFlags) (*session, error) {
	dir, err := stateDir()
	if err != nil {
		return nil, err
	}
	logger, closeLog, err := openLog(f.logFile, dir)
	if err != nil {
		return nil, err
	}
	s := &session{flags: f, stateDir: dir, logger: logger, closeLog: closeLog}
	s.store = recorder.NewStore(recorder.StoreOptions{})
	s.rec = recorder.New(s.store, recorder.Options{})
	if !f.noCapture {
		path := f.capture
		if path == "" {
			path = filepath.Join(dir, "captures", time.Now().Format("2006-01-02T15-04-05")+".jsonl")
		}
		s.capture, err = recorder.OpenCapture(path)
		if err != nil {
			closeLog()
			return nil, err
		}
		s.store.OnComplete(s.capture.Append)
	}
	return s, nil
}

func (s *session) close() { s.closeLog() }

// tunnelStartTimeout bounds the wait for cloudflared's URL (a quick tunnel usually takes a few seconds).
const tunnelStartTimeout = 60 * time.Second

// banner holds a command's own banner lines: before, right after "listening on"; after, after the connector URL.
type banner struct{ before, after []string }

// run starts the tunnel (--tunnel), prints the banner, prints exchanges until ctx ends, then stops everything in
// order. srv must be listening. hopts are the headless printer's options (JSON is set from the flags).
func (s *session) run(ctx context.Context, srv *server.Server, b banner, hopts headless.Options, stdout, stderr io.Writer) error {
	var tun *tunnel.Tunnel
	if s.flags.tunnel {
		var err error
		tun, err = tunnel.Start(tunnel.Options{Origin: srv.LocalURL(), Logger: s.logger})
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

	fmt.Fprintf(stderr, "mcpwatch %s listening on %s\n", version, srv.LocalURL())
	for _, l := range b.before {
		fmt.Fprintln(stderr, l)
	}
	if tun != nil {
		fmt.Fprintf(stderr, "tunnel: %s (cloudflared pid %d, stopped when mcpwatch exits; it may take a few seconds to be reachable)\n", tun.URL(), tun.Pid())
		fmt.Fprintf(stderr, "note: %s\n", tunnel.BufferingNote)
	}
	fmt.Fprintf(stderr, "connector URL (paste into Claude → Settings → Connectors → Add custom connector): %s\n", srv.ConnectorURL())
	if s.flags.publicURL == "" && tun == nil {
		fmt.Fprintf(stderr, "behind a tunnel? add --tunnel (runs cloudflared), or run `cloudflared tunnel --url %s` and pass its URL with --public-url\n", srv.LocalURL())
	}
	for _, l := range b.after {
		fmt.Fprintln(stderr, l)
	}
	if s.capture != nil {
		fmt.Fprintf(stderr, "capture: %s\n", s.capture.Path())
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

	sub := s.store.Subscribe(4096)
	printed := make(chan error, 1)
	pctx, stopPrint := context.WithCancel(context.Background())
	hopts.JSON = s.flags.json
	go func() { printed <- headless.Run(pctx, sub, stdout, hopts) }()

	serveErr := srv.Serve(ctx)
	if tun != nil {
		tun.Stop()
	}
	sub.Close() // the printer drains what is buffered, then returns
	perr := <-printed
	stopPrint()
	if s.capture != nil {
		if err := s.capture.Close(); err != nil && serveErr == nil {
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
