package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/mcpwatch/mcpwatch/recorder/headless"
	"github.com/mcpwatch/mcpwatch/server"
)

// commonFlags are the flags serve and proxy share.
type commonFlags struct {
	addr      string
	publicURL string
	noTUI     bool
	capture   string
	noCapture bool
	json      bool
	logFile   string
	tunnel    bool
}

func (f *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "addr", "localhost:4000", "listen `address` (loopback only)")
	fs.StringVar(&f.publicURL, "public-url", "", "the tunnel's public `URL` (e.g. https://abc.trycloudflare.com); requests for its host are served")
	fs.BoolVar(&f.noTUI, "no-tui", false, "print one line per request instead of the TUI (also when stdout is not a terminal)")
	fs.StringVar(&f.capture, "capture", "", "capture file `path` (JSONL; default: a new file under the state directory)")
	fs.BoolVar(&f.noCapture, "no-capture", false, "do not write a capture file")
	fs.BoolVar(&f.json, "json", false, "with --no-tui: print each exchange as a JSON line")
	fs.StringVar(&f.logFile, "log", "", "server log `path` (default: mcpwatch.log under the state directory)")
	fs.BoolVar(&f.tunnel, "tunnel", false, "start a Cloudflare quick tunnel (cloudflared tunnel --url) and use its URL as the public URL")
}

// check reports flag combinations that make no sense.
func (f *commonFlags) check() error {
	if f.tunnel && f.publicURL != "" {
		return fmt.Errorf("--tunnel and --public-url exclude each other (the tunnel's URL is the public URL)")
	}
	return nil
}

type serveFlags struct {
	commonFlags
	fixtures string

	noAuth      bool
	autoApprove bool
	statePath   string
	ephemeral   bool
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.commonFlags.register(fs)
	fs.StringVar(&f.fixtures, "fixtures", "", "add a fixture `set`: conformance (what the official conformance suite expects)")
	fs.BoolVar(&f.noAuth, "no-auth", false, "serve /mcp without OAuth: no token required, no authorization server")
	fs.BoolVar(&f.autoApprove, "auto-approve", false, "approve every valid authorization request without showing the consent page")
	fs.StringVar(&f.statePath, "state", "", "OAuth state file `path`: registered clients, grants, tokens (default: state.json under the state directory)")
	fs.BoolVar(&f.ephemeral, "ephemeral", false, "keep the OAuth state in memory only (clients must register again after a restart)")
}

// envAllowLoopbackCIMD, set to 1, lets client ID metadata documents be fetched from this machine over plain http.
// For tests only: it opens the fetcher to loopback addresses.
const envAllowLoopbackCIMD = "MCPWATCH_TEST_ALLOW_LOOPBACK_CIMD"

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	f.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "mcpwatch serve: unexpected argument %q\n", pos[0])
		return errUsage
	}
	if err := f.check(); err != nil {
		fmt.Fprintln(stderr, "mcpwatch serve:", err)
		return errUsage
	}
	if f.statePath != "" && f.ephemeral {
		fmt.Fprintln(stderr, "mcpwatch serve: --state and --ephemeral exclude each other")
		return errUsage
	}

	sess, err := openSession(&f.commonFlags)
	if err != nil {
		return err
	}
	defer sess.close()
	statePath := ""
	if !f.noAuth && !f.ephemeral {
		statePath = f.statePath
		if statePath == "" {
			statePath = filepath.Join(sess.stateDir, "state.json")
		}
	}
	srv, err := server.New(server.Config{
		Addr:      f.addr,
		PublicURL: f.publicURL,
		Fixtures:  f.fixtures,
		Logger:    sess.logger,
		Recorder:  sess.rec,

		NoAuth:            f.noAuth,
		AutoApprove:       f.autoApprove,
		StatePath:         statePath,
		AllowLoopbackCIMD: os.Getenv(envAllowLoopbackCIMD) == "1",
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	var auth string
	switch {
	case f.noAuth:
		auth = "auth: off (--no-auth): /mcp answers without a token"
	case statePath == "":
		auth = fmt.Sprintf("auth: OAuth 2.1 on, %s; state in memory only (--ephemeral)", consentMode(f.autoApprove))
	default:
		auth = fmt.Sprintf("auth: OAuth 2.1 on, %s; state: %s", consentMode(f.autoApprove), statePath)
	}
	return sess.run(ctx, srv, banner{after: []string{auth}}, headless.Options{}, stdout, stderr)
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
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("log: %w", err)
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})), func() { f.Close() }, nil
}
