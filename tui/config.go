package tui

import (
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// Toggles is what the TUI needs of the toggles (server/toggle) that break things on purpose. cmd wires the real ones.
// The methods are called from commands (goroutines of their own), possibly at the same time: they must be safe
// for concurrent use.
type Toggles interface {
	// List returns every toggle in a stable order, with its current state.
	List() []ToggleInfo
	// Set switches a toggle on (value is "" for a toggle that takes none); the change applies to the next request.
	Set(name, value string) error
	// Unset switches a toggle off.
	Unset(name string) error
}

// ToggleInfo describes one toggle.
type ToggleInfo struct {
	Name       string // e.g. "omit-session-id"
	Summary    string // what it changes, one line
	Active     bool
	Value      string // the current value of an active toggle that takes one
	TakesValue bool   // the toggle needs NAME=VALUE
	ValueHint  string // e.g. "DURATION", "STAGE:STATUS"
}

// Exporter writes the exchanges with ids (the view's, in its order) to path in a format (one of
// Config.ExportFormats). It asks get for an exchange (an immutable snapshot, its bodies read back from the capture
// file; nil once the store forgot it) each time it needs it and drops it once used: the view may be the store's
// million exchanges, too many to hold at once with their bodies. It runs in a command (a goroutine of its own);
// progress, when set, is told how far it got.
type Exporter func(format, path string, ids []uint64, get func(uint64) *recorder.Exchange, progress func(ExportProgress)) (ExportResult, error)

// ExportResult is what an export wrote.
type ExportResult struct {
	Written   int // exchanges written
	Forgotten int // exchanges of the view the store had forgotten when they were asked for: not written
	Unread    int // bodies that could not be read back from the capture file (rotated out): absent, with a note
}

// ExportProgress is how far an export got: pass Pass of Passes over Total exchanges, Done of them read in it.
type ExportProgress struct{ Pass, Passes, Done, Total int }

// Config is what the TUI shows and what it can act on.
type Config struct {
	// Store is where the exchanges come from (required). The TUI subscribes to it; `x` clears it.
	Store *recorder.Store
	// Limits are the store's bounds: the TUI holds no more than the store does, and at most MaxRows rows (fed by
	// Store, it lists what the store still holds; fed otherwise, it mirrors these bounds).
	Limits recorder.StoreOptions
	// SubscriptionBuffer is the subscription's buffer (default 8192); updates beyond it are dropped, counted and
	// recovered from the store.
	SubscriptionBuffer int
	// Analysis options (the MCP path), for the TUI's own reading of an exchange's stage and, when Service is
	// nil, for the service the TUI makes.
	Analysis analysis.Options
	// Service is the session's analysis service (recorder/analysis/live). The TUI is its feeder (it pushes the
	// snapshots it holds) and shows what it publishes; export asks it too. Nil: the TUI makes one of its own over
	// what it shows (a saved capture, ReadOnly, is judged at its end), and stops it when it ends.
	Service *live.Service

	Version      string
	ListenURL    string // http://127.0.0.1:4000
	PublicURL    string // the tunnel's URL, "" if none
	ConnectorURL string // what to paste into the client (`u` copies it)
	Auth         bool   // the OAuth authorization server is on
	Upstream     string // proxy mode: the upstream's URL, shown instead of the auth state
	AuthNote     string // said after the auth state for as long as the TUI runs (e.g. "loopback CIMD allowed")
	// TunnelNote is set while a quick tunnel (--tunnel) is on: what it does to GET event streams. A line under
	// the header says it for as long as the TUI runs; the help (`?`) gives the whole note.
	TunnelNote string
	// TunnelGone, when set, receives why the quick tunnel ended on its own (cloudflared exited): the tunnel's line
	// then says that the public URL no longer reaches mcpwatch, for good.
	TunnelGone <-chan string
	// StartTunnel, when set (a live run without a public URL), starts a quick tunnel when T is pressed: it blocks
	// until the tunnel has its URL, and returns what the header shows then.
	StartTunnel func() (TunnelStarted, error)

	// ReadOnly is set for a saved capture (`mcpwatch open`): toggles are disabled; export and copy work.
	ReadOnly bool
	Source   string // the capture's path, in read-only mode
	// SourceNote says something about the capture (e.g. that a torn last line was skipped).
	SourceNote string

	Toggles       Toggles  // nil: no toggles in this build
	Exporter      Exporter // nil: export is unavailable
	ExportFormats []string // e.g. jsonl, har, markdown, curl; the first is the default
	ExportNote    string   // said in the export prompt (e.g. that secrets are redacted)
	WorkDir       string   // where relative export paths go (shown in the prompt)

	// Notice is shown at start, as a warning in the status line (e.g. that the control socket is missing).
	Notice string
	// ConsentCode (--consent-code) is shown in the header for as long as the TUI runs: the consent page asks for it.
	ConsentCode string

	// Theme forces "dark" or "light"; "" follows the terminal's background.
	Theme string
	// Now is the clock (for the default export file name).
	Now func() time.Time
}
