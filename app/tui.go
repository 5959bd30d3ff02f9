package app

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/charmbracelet/x/term"

	"github.com/mcpwatch/mcpwatch/internal/version"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
	"github.com/mcpwatch/mcpwatch/recorder/export"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/toggle"
	"github.com/mcpwatch/mcpwatch/tui"
)

// IsTerminal reports whether w is a terminal (the TUI runs only then).
func IsTerminal(w io.Writer) bool {
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
	toggles   *toggle.Set
	notice    string
	store     *recorder.Store
	limits    recorder.StoreOptions
	// consentCode (--consent-code) is shown in the header.
	consentCode string
	// tunnelNote is set while --tunnel's quick tunnel runs: the TUI says it under the header for good.
	tunnelNote string
	tunnelGone <-chan string // why the tunnel ended on its own
	// analysis is the session's analysis service: the TUI feeds it and shows it, its export writes it.
	analysis *live.Service
	// startTunnel starts a quick tunnel from the TUI (T); nil when the run has a public URL already.
	startTunnel func() (tui.TunnelStarted, error)
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
		Limits:        o.limits,
		Version:       version.String(),
		ListenURL:     srv.LocalURL(),
		PublicURL:     pub,
		ConnectorURL:  srv.ConnectorURL(),
		TunnelNote:    o.tunnelNote,
		TunnelGone:    o.tunnelGone,
		StartTunnel:   o.startTunnel,
		Auth:          auth,
		Upstream:      o.upstream,
		AuthNote:      o.authNote,
		Toggles:       togglesForTUI{Toggles: toggles},
		Notice:        notice,
		ConsentCode:   o.consentCode,
		Service:       o.analysis,
		Analysis:      o.analysis.Options().Analysis,
		Exporter:      exportForTUI(o.analysis),
		ExportFormats: exportFormatsForTUI(),
		ExportNote:    exportNoteForTUI,
		WorkDir:       wd,
	})
	stopServer()
	if serr := <-served; serr != nil && err == nil {
		err = serr
	}
	return err
}

// exportFormatsForTUI returns the formats the TUI's export (`e`) offers: the export package's registry, in its order.
func exportFormatsForTUI() []string { return strings.Split(export.FormatNames(","), ",") }

// exportNoteForTUI is what the export prompt says of the files it writes.
const exportNoteForTUI = "secrets (Authorization, cookies, codes, tokens) are redacted"

// exportForTUI is the TUI's export: it writes exchanges as `mcpwatch export` does (secrets redacted, the file
// replaced atomically: it appears whole or not at all), with the analysis of the session's service — what the TUI
// shows — rather than analysing the exchanges afresh (export.Options.Analysed says which findings an export of a
// subset carries). A nil service: the exchanges are analysed as a capture that ended. The exchanges are read from
// the store one at a time as the export needs them (export.Exchanges), never all held at once.
func exportForTUI(svc *live.Service) tui.Exporter {
	return func(format, path string, ids []uint64, get func(uint64) *recorder.Exchange, progress func(tui.ExportProgress)) (tui.ExportResult, error) {
		f, err := export.ParseFormat(format)
		if err != nil {
			return tui.ExportResult{}, err
		}
		opts := export.Options{Version: version.String()}
		if progress != nil {
			opts.Progress = func(p export.Progress) { progress(tui.ExportProgress(p)) }
		}
		if svc != nil {
			opts.Analysis = svc.Options().Analysis // the MCP path of an exchange the service has no stage of yet
			a, err := svc.Analysed(ids)
			if err != nil {
				return tui.ExportResult{}, err
			}
			opts.Analysed = &a
		}
		res, err := export.WriteFileFrom(path, f, storeExchanges{ids: ids, get: get}, opts)
		return tui.ExportResult{Written: res.Written, Forgotten: res.Gone, Unread: res.Unread}, err
	}
}

// storeExchanges are the exchanges with ids as export.Exchanges: each read from the store when asked for.
type storeExchanges struct {
	ids []uint64
	get func(uint64) *recorder.Exchange
}

func (s storeExchanges) Len() int                    { return len(s.ids) }
func (s storeExchanges) At(i int) *recorder.Exchange { return s.get(s.ids[i]) }

// togglesForTUI shows the toggle set to the TUI: the catalogue's toggles for the set's mode, in catalogue order,
// with the ones that are on.
type togglesForTUI struct{ Toggles *toggle.Set }

func (t togglesForTUI) List() []tui.ToggleInfo {
	on := map[string]toggle.Active{}
	for _, a := range t.Toggles.List() {
		on[a.Name] = a
	}
	var out []tui.ToggleInfo
	for _, d := range toggle.Toggles() {
		if !d.AppliesTo(t.Toggles.Mode()) {
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
	return t.Toggles.Set(name)
}

func (t togglesForTUI) Unset(name string) error { return t.Toggles.Unset(name) }
