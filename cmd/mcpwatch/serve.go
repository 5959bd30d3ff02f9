package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mcpwatch/mcpwatch/app"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/oauth"
	"github.com/mcpwatch/mcpwatch/server/toggle"
)

type serveFlags struct {
	addr      string
	publicURL string
	noTUI     bool
	fixtures  string
	capture   string
	noCapture bool
	// --capture-max-size (MiB a capture file) and --capture-keep (rotated files kept): see recorder.CaptureOptions.
	captureMaxMiB int
	maxMemoryMiB  int // the store's byte bound (--max-memory)
	captureKeep   int
	json          bool
	logFile       string

	noAuth      bool
	autoApprove bool
	consentCode bool
	statePath   string
	ephemeral   bool
	toggleSpecs specList
	scenario    string
	tunnel      bool

	allowLoopbackCIMD bool // --allow-loopback-cimd: documents and JWKS fetched from this machine

	scopes        scopeList // --scopes: scopes_supported
	requireScopes scopeList // --require-scope: needed at /mcp and /sse
}

// scopeList collects comma-separated scopes from one or more flags; set tells an explicit empty --scopes "" (no
// scopes advertised) from the flag's absence (the default scopes).
type scopeList struct {
	list []string
	set  bool
}

func (l *scopeList) String() string { return strings.Join(l.list, ",") }
func (l *scopeList) Type() string   { return "scopes" }
func (l *scopeList) Set(v string) error {
	l.set = true
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if err := oauth.CheckScope(s); err != nil {
			return err
		}
		if !slices.Contains(l.list, s) {
			l.list = append(l.list, s)
		}
	}
	if l.list == nil {
		l.list = []string{}
	}
	return nil
}

// value is the list, or nil when the flag was not given.
func (l *scopeList) value() []string {
	if !l.set {
		return nil
	}
	return l.list
}

// specList collects repeated --toggle (--fault) flags.
type specList []string

func (l *specList) String() string     { return strings.Join(*l, " ") }
func (l *specList) Type() string       { return "spec" }
func (l *specList) Set(v string) error { *l = append(*l, v); return nil }

// toggles builds the toggle set from --toggle and --scenario; a bad name or value is an error that lists the valid
// ones.
func (f *serveFlags) toggles(mode string) (*toggle.Set, error) {
	set := toggle.NewSet(mode)
	if f.scenario != "" {
		sc, err := toggle.LookupScenario(f.scenario)
		if err != nil {
			return nil, err
		}
		for _, spec := range sc.Toggles {
			d, _, _, err := toggle.ParseSpec(spec)
			if err == nil && !d.AppliesTo(mode) {
				return nil, fmt.Errorf("--scenario %s works with mcpwatch %s only: its toggle %s applies to %s only, not to %s mode",
					sc.Name, strings.Join(d.Modes, " and "), d.Name, strings.Join(d.Modes, " and "), mode)
			}
			if err := set.Set(spec); err != nil {
				return nil, fmt.Errorf("--scenario %s: %w", sc.Name, err)
			}
		}
	}
	for _, spec := range f.toggleSpecs {
		if err := set.Set(spec); err != nil {
			return nil, fmt.Errorf("--toggle %s: %w", spec, err)
		}
	}
	return set, nil
}

// registerCommon registers the flags serve and proxy share.
func (f *serveFlags) registerCommon(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "localhost:4000", "listen `address` (loopback only)")
	fs.StringVar(&f.publicURL, "public-url", "", "the tunnel's public `URL` (e.g. https://abc.trycloudflare.com); requests for its host are served")
	fs.BoolVar(&f.noTUI, "no-tui", false, "print one line per request instead of the TUI (also when stdout is not a terminal)")
	fs.StringVar(&f.capture, "capture", "", "capture file `path` (JSONL; default: a new file under the state directory)")
	fs.BoolVar(&f.noCapture, "no-capture", false, "do not write a capture file")
	fs.IntVar(&f.captureMaxMiB, "capture-max-size", recorder.DefaultCaptureMaxSize>>20, fmt.Sprintf("rotate the capture file when it would pass this many `MiB` (capture.jsonl becomes capture.1.jsonl; at most %d, 1 TiB)", maxCaptureMaxMiB))
	fs.IntVar(&f.captureKeep, "capture-keep", recorder.DefaultCaptureKeep, fmt.Sprintf("rotated capture files kept beside the current one (older ones are deleted, their exchanges counted; at most %d)", maxCaptureKeep))
	fs.BoolVar(&f.json, "json", false, "with --no-tui: print each exchange as a JSON line")
	fs.StringVar(&f.logFile, "log", "", "server log `path` (default: mcpwatch.log under the state directory)")
	fs.Var(&f.toggleSpecs, "toggle", "switch a toggle on at start: `NAME[=VALUE]` (repeatable; `mcpwatch toggles` lists them)")
	fs.Var(&f.toggleSpecs, "fault", "the same as --toggle: `NAME[=VALUE]`")
	fs.StringVar(&f.scenario, "scenario", "", "switch on a scenario's toggles: `NAME` (`mcpwatch toggles` lists them)")
	fs.BoolVar(&f.tunnel, "tunnel", false, "start a Cloudflare quick tunnel (cloudflared tunnel --url) and use its URL as the public URL")
	fs.IntVar(&f.maxMemoryMiB, "max-memory", recorder.DefaultStoreMaxBytes>>20, fmt.Sprintf("keep at most this many `MiB` of exchanges in memory (what the store holds: packed records and their byte slabs, exchanges in flight by their size), and at most %d exchanges; past either the oldest are let go and counted (the TUI's header says how many), the capture file keeps every one. With a capture file, bodies of %d KiB and more are not held once written, and at the bound the other bodies of the oldest written exchanges are let go before any exchange is: they are read back from it when shown or exported. The TUI lists the newest %d of those held (its export writes them all) and the analysis keeps the newest %d; the process's soft memory limit is this plus %d MiB (GOMEMLIMIT overrides it)",
		recorder.DefaultStoreMaxCount, recorder.FileBodyMin>>10, app.TUIRows, analysis.DefaultWindow, app.MemRoom>>20))
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	f.registerCommon(fs)
	fs.StringVar(&f.fixtures, "fixtures", "", "add a fixture `set`: conformance (what the official conformance suite expects)")
	fs.BoolVar(&f.noAuth, "no-auth", false, "serve /mcp without OAuth: no token required, no authorization server")
	fs.BoolVar(&f.autoApprove, "auto-approve", false, "approve every valid authorization request without showing the consent page")
	fs.StringVar(&f.statePath, "state", "", "OAuth state file `path`: registered clients, grants, tokens (default: state.json under the state directory)")
	fs.BoolVar(&f.consentCode, "consent-code", false, "ask on the consent page for a code shown only in mcpwatch's terminal (for a tunnel left open)")
	fs.BoolVar(&f.ephemeral, "ephemeral", false, "keep the OAuth state in memory only (clients must register again after a restart)")
	fs.Var(&f.scopes, "scopes", "the scopes the authorization server advertises (scopes_supported), comma-separated: `a,b` (default mcp; \"\" for none); required scopes are added")
	fs.BoolVar(&f.allowLoopbackCIMD, "allow-loopback-cimd", false, "fetch client ID metadata documents (and their JWKS) from this machine, over plain http too: for testing a client of your own; refused with --public-url and --tunnel")
	fs.Var(&f.requireScopes, "require-scope", "a `scope` tokens must carry at /mcp and /sse (repeatable or comma-separated): named in the 401 challenge's scope parameter, granted when a client asks for no scope, 403 insufficient_scope without it")
}

// The largest --capture-max-size and --capture-keep: a rotation renames every kept file, and a size in MiB is
// shifted into bytes (1 TiB a file, 1,000 files).
const (
	maxCaptureMaxMiB = 1 << 20
	maxCaptureKeep   = 1000
)

// checkCommon reports flag combinations that make no sense.
func (f *serveFlags) checkCommon() error {
	if f.tunnel && f.publicURL != "" {
		return fmt.Errorf("--tunnel and --public-url exclude each other (the tunnel's URL is the public URL)")
	}
	if f.allowLoopbackCIMD && (f.tunnel || f.publicURL != "") {
		return fmt.Errorf("--allow-loopback-cimd cannot be used with --public-url or --tunnel: anyone reaching the public URL could make mcpwatch fetch URLs on this machine")
	}
	if f.captureMaxMiB < 1 || f.captureKeep < 0 {
		return fmt.Errorf("--capture-max-size must be at least 1 (MiB) and --capture-keep at least 0")
	}
	if f.captureMaxMiB > maxCaptureMaxMiB || f.captureKeep > maxCaptureKeep {
		return fmt.Errorf("--capture-max-size must be at most %d (MiB) and --capture-keep at most %d", maxCaptureMaxMiB, maxCaptureKeep)
	}
	if f.maxMemoryMiB < 1 {
		return fmt.Errorf("--max-memory must be at least 1 (MiB)")
	}
	return nil
}

// captureOptions are the capture file's bounds the flags ask for; rotations are logged to logger.
func (f *serveFlags) captureOptions(logger *slog.Logger) recorder.CaptureOptions {
	keep := f.captureKeep
	if keep == 0 {
		keep = -1 // CaptureOptions: none (0 is its default)
	}
	return recorder.CaptureOptions{MaxSize: int64(f.captureMaxMiB) << 20, Keep: keep, Logger: logger}
}

// cmdServe runs serve (the root command too: mcpwatch [flags]) with its parsed flags and positional arguments.
func cmdServe(ctx context.Context, f *serveFlags, pos []string, stdout, stderr io.Writer) error {
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "mcpwatch serve: unexpected argument %q\n", pos[0])
		return errUsage
	}

	if f.statePath != "" && f.ephemeral {
		fmt.Fprintln(stderr, "mcpwatch serve: --state and --ephemeral exclude each other")
		return errUsage
	}
	if err := f.checkCommon(); err != nil {
		fmt.Fprintln(stderr, "mcpwatch serve:", err)
		return errUsage
	}
	if f.consentCode && (f.noAuth || f.autoApprove) {
		fmt.Fprintln(stderr, "mcpwatch serve: --consent-code needs the consent page, which --no-auth and --auto-approve skip")
		return errUsage
	}
	if f.noAuth && (f.scopes.set || f.requireScopes.set) {
		fmt.Fprintln(stderr, "mcpwatch serve: --scopes and --require-scope need the authorization server, which --no-auth turns off")
		return errUsage
	}
	toggles, err := f.toggles(toggle.ModeServe)
	if err != nil {
		return err
	}
	stateDir, err := stateDir()
	if err != nil {
		return err
	}
	statePath := ""
	if !f.noAuth && !f.ephemeral {
		statePath = f.statePath
		if statePath == "" {
			statePath = filepath.Join(stateDir, "state.json")
		}
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
	var capture *recorder.CaptureFile
	if !f.noCapture && !benchNoRecord() {
		if capture, err = app.OpenCapture(store, f.capture, stateDir, f.captureOptions(logger)); err != nil {
			return err
		}
	}

	consentCode := ""
	if f.consentCode {
		consentCode = oauth.NewConsentCode()
	}
	srv, err := server.New(server.Config{
		Addr:      f.addr,
		PublicURL: f.publicURL,
		Fixtures:  f.fixtures,
		Logger:    logger,
		Recorder:  benchRecorder(rec),
		Toggles:   toggles,

		NoAuth:            f.noAuth,
		AutoApprove:       f.autoApprove,
		ConsentCode:       consentCode,
		StatePath:         statePath,
		Scopes:            f.scopes.value(),
		RequiredScopes:    f.requireScopes.value(),
		AllowLoopbackCIMD: f.allowLoopbackCIMD,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Listen(); err != nil {
		return err
	}
	var authLine string
	switch {
	case f.noAuth:
		authLine = "auth: off (--no-auth): /mcp answers without a token"
	case statePath == "":
		authLine = fmt.Sprintf("auth: OAuth 2.1 on, %s; state in memory only (--ephemeral)", consentMode(f.autoApprove))
	default:
		authLine = fmt.Sprintf("auth: OAuth 2.1 on, %s; state: %s", consentMode(f.autoApprove), statePath)
	}
	if req := f.requireScopes.value(); len(req) > 0 {
		authLine += fmt.Sprintf("; tokens need scope %s", strings.Join(req, " "))
	}
	if consentCode != "" {
		authLine += "; consent code " + consentCode + " (the consent page asks for it)"
	}
	after, authNote := []string{authLine}, ""
	if f.allowLoopbackCIMD {
		after, authNote = append(after, oauth.LoopbackCIMDNote), oauth.LoopbackCIMDHeader
	}
	app.PaceGC(ctx) // the process's GC pacing (app/gcpace.go)
	return app.Session{
		Server: srv, Store: store, Limits: storeLimits, Capture: capture, Toggles: toggles, StateDir: stateDir,
		Tunnel: f.tunnel, PublicURL: f.publicURL, NoTUI: f.noTUI, JSON: f.json,
		Logger: logger, Auth: !f.noAuth, AuthNote: authNote, After: after, ConsentCode: consentCode,
	}.Run(ctx, stdout, stderr)
}

func consentMode(auto bool) string {
	if auto {
		return "every authorization auto-approved (--auto-approve)"
	}
	return "consent page at /authorize"
}

// stateDir is $XDG_STATE_HOME/mcpwatch, or ~/.local/state/mcpwatch.
func stateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "mcpwatch"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("state directory: %w (set XDG_STATE_HOME)", err)
	}
	return filepath.Join(home, ".local", "state", "mcpwatch"), nil
}

// openLog opens the server log; nothing else may write to the terminal while the TUI owns it.
func openLog(path, stateDir string) (*slog.Logger, func(), error) {
	if path == "" {
		path = filepath.Join(stateDir, "mcpwatch.log")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("log: %w", err)
	}
	f, err := recorder.OpenPrivate(path)
	if err != nil {
		return nil, nil, fmt.Errorf("log: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})), func() { f.Close() }, nil
}
