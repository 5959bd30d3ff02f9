package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/charmbracelet/x/term"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/tui"
)

// storeLimits bound the in-memory store; the TUI holds no more than the store does.
var storeLimits = recorder.StoreOptions{}

// isTerminal reports whether w is a terminal (the TUI runs only then).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

// runTUI serves while the TUI runs; quitting the TUI stops the server, and a server that fails ends the TUI.
func runTUI(ctx context.Context, srv *server.Server, publicURL string, store *recorder.Store) error {
	tctx, endTUI := context.WithCancel(ctx)
	defer endTUI()
	sctx, stopServer := context.WithCancel(ctx)
	defer stopServer()
	served := make(chan error, 1)
	go func() {
		err := srv.Serve(sctx)
		served <- err
		endTUI()
	}()

	pub := ""
	if u := srv.Guard().Public(); u != nil {
		pub = u.String()
	} else if publicURL != "" {
		pub = publicURL
	}
	wd, _ := os.Getwd()
	err := tui.Run(tctx, tui.Config{
		Store:         store,
		Limits:        storeLimits,
		Version:       version,
		ListenURL:     srv.LocalURL(),
		PublicURL:     pub,
		ConnectorURL:  srv.ConnectorURL(),
		Auth:          false, // the embedded authorization server is not on main yet
		Toggles:       nil,   // the toggles (issue 6) are not on main yet
		Exporter:      exportForTUI,
		ExportFormats: exportFormatsForTUI,
		WorkDir:       wd,
	})
	stopServer()
	if serr := <-served; serr != nil && err == nil {
		err = serr
	}
	return err
}

// exportFormatsForTUI are the formats the TUI's export (`e`) offers. Until the export package is merged, the one
// format is the capture's own: JSONL, one exchange per line (what `mcpwatch open` reads).
var exportFormatsForTUI = []string{"jsonl"}

// exportForTUI writes exchanges for the TUI's export. The file appears whole or not at all: it is written next
// to path under a temporary name and renamed.
func exportForTUI(format, path string, exs []*recorder.Exchange) error {
	if format != "jsonl" {
		return fmt.Errorf("unknown format %q (formats: jsonl)", format)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	enc := json.NewEncoder(tmp)
	for _, ex := range exs {
		if err := enc.Encode(ex); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
