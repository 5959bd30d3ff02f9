package main

import (
	"context"
	"io"
	"os"

	"github.com/charmbracelet/x/term"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/export"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/faults"
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
// tuiRun is what the TUI shows besides the server's own URLs.
type tuiRun struct {
	publicURL string
	auth      bool
	upstream  string // proxy mode
	authNote  string // after the auth state in the header
	toggles   *faults.Set
	notice    string
	store     *recorder.Store
	// tunnelNote is set while --tunnel's quick tunnel runs: the TUI says it under the header for good.
	tunnelNote string
	tunnelGone <-chan string // why the tunnel ended on its own
}

func runTUI(ctx context.Context, srv *server.Server, o tuiRun) error {
	publicURL, auth, toggles, notice, store := o.publicURL, o.auth, o.toggles, o.notice, o.store
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
		TunnelNote:    o.tunnelNote,
		TunnelGone:    o.tunnelGone,
		Auth:          auth,
		Upstream:      o.upstream,
		AuthNote:      o.authNote,
		Toggles:       togglesForTUI{set: toggles},
		Notice:        notice,
		Exporter:      exportForTUI,
		ExportFormats: exportFormatsForTUI,
		ExportNote:    exportNoteForTUI,
		WorkDir:       wd,
	})
	stopServer()
	if serr := <-served; serr != nil && err == nil {
		err = serr
	}
	return err
}

// exportFormatsForTUI are the formats the TUI's export (`e`) offers: the export package's (HAR first: the
// format DevTools and HAR viewers open).
var exportFormatsForTUI = func() []string {
	out := make([]string, len(export.Formats))
	for i, f := range export.Formats {
		out[i] = string(f)
	}
	return out
}()

// exportNoteForTUI is what the export prompt says of the files it writes.
const exportNoteForTUI = "secrets (Authorization, cookies, codes, tokens) are redacted"

// exportForTUI writes exchanges for the TUI's export, as `mcpwatch export` does (secrets redacted, the file
// replaced atomically: it appears whole or not at all).
func exportForTUI(format, path string, exs []*recorder.Exchange) error {
	f, err := export.ParseFormat(format)
	if err != nil {
		return err
	}
	perm := os.FileMode(0o644)
	if f == export.Curl {
		perm |= (perm & 0o444) >> 2 // executable by whoever may read it
	}
	return writeAtomic(path, perm, func(w io.Writer) error {
		return export.Write(w, f, exs, export.Options{Version: version})
	})
}

// togglesForTUI shows the toggle set to the TUI: the catalogue's toggles for the set's mode, in catalogue order,
// with the ones that are on.
type togglesForTUI struct{ set *faults.Set }

func (t togglesForTUI) List() []tui.ToggleInfo {
	on := map[string]faults.Active{}
	for _, a := range t.set.List() {
		on[a.Name] = a
	}
	var out []tui.ToggleInfo
	for _, d := range faults.Catalogue {
		if !d.AppliesTo(t.set.Mode()) {
			continue
		}
		a, active := on[d.Name]
		out = append(out, tui.ToggleInfo{Name: d.Name, Summary: d.Changes, Active: active, Value: a.Value,
			TakesValue: d.Arg != "", ValueHint: d.Arg})
	}
	return out
}

func (t togglesForTUI) Set(name, value string) error {
	if value != "" {
		name += "=" + value
	}
	return t.set.Set(name)
}

func (t togglesForTUI) Unset(name string) error { return t.set.Unset(name) }
