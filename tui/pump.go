package tui

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// The store reaches the program through commands, never through Program.Send (which blocks): the pump waits for
// the subscription's next update and returns it with whatever else is already buffered, as one message; Update
// applies it and asks for the next (bubbletea's examples/realtime). Tests feed updatesMsg to Update directly.

// maxBatch bounds one message, so that a flood is applied in slices between frames.
const maxBatch = 4096

// updatesMsg is a batch of the store's updates.
type updatesMsg struct {
	updates []recorder.Update
	dropped uint64 // the subscription's count of missed updates so far
	closed  bool   // the subscription ended: no more updates
}

// waitForUpdates is the pump.
func waitForUpdates(sub *recorder.Subscription) tea.Cmd {
	if sub == nil {
		return nil
	}
	return func() tea.Msg {
		u, ok := <-sub.C
		if !ok {
			return updatesMsg{closed: true, dropped: sub.Dropped()}
		}
		batch := []recorder.Update{u}
		for len(batch) < maxBatch {
			select {
			case u, ok := <-sub.C:
				if !ok {
					return updatesMsg{updates: batch, closed: true, dropped: sub.Dropped()}
				}
				batch = append(batch, u)
			default:
				return updatesMsg{updates: batch, dropped: sub.Dropped()}
			}
		}
		return updatesMsg{updates: batch, dropped: sub.Dropped()}
	}
}

// resyncMsg carries the store's content after updates were dropped.
type resyncMsg struct{ exchanges []*recorder.Exchange }

// resyncFrom reads the newest n exchanges, the rows' window (at most MaxRows): the list keeps no more, and the
// store may hold ten times that (materialising them all would take a second and hundreds of MB for nothing).
func resyncFrom(store *recorder.Store, n int) tea.Cmd {
	return func() tea.Msg { return resyncMsg{exchanges: store.SnapshotLast(n)} }
}

// clearedMsg says the store was cleared at the user's request.
type clearedMsg struct{}

func clearStore(store *recorder.Store) tea.Cmd {
	return func() tea.Msg {
		store.Clear()
		return clearedMsg{}
	}
}

// togglesMsg carries the toggles' state after a change (or a periodic refresh).
type togglesMsg struct {
	list   []ToggleInfo
	err    error  // of the change, if any
	change string // what was asked: "omit-session-id on", ...
}

func listToggles(t Toggles) tea.Cmd {
	if t == nil {
		return nil
	}
	return func() tea.Msg { return togglesMsg{list: t.List()} }
}

// toggleRefresh re-reads the toggles now and then: they can also change from a second terminal.
type toggleTickMsg struct{}

const toggleRefreshEvery = time.Second

func toggleTick() tea.Cmd {
	return tea.Tick(toggleRefreshEvery, func(time.Time) tea.Msg { return toggleTickMsg{} })
}

func setToggle(t Toggles, name, value string, on bool) tea.Cmd {
	return func() tea.Msg {
		var err error
		change := name + " off"
		if on {
			err = t.Set(name, value)
			change = name + " on"
			if value != "" {
				change = name + "=" + value
			}
		} else {
			err = t.Unset(name)
		}
		return togglesMsg{list: t.List(), err: err, change: change}
	}
}

// exportedMsg is the outcome of an export.
type exportedMsg struct {
	format, path string
	n            int
	forgotten    int // exchanges of the view the store had forgotten when they were asked for: not written
	unread       int // bodies that could not be read back from the capture file (rotated out): absent, with a note
	err          error
	exists       bool // the file exists and overwriting was not confirmed: nothing was written
}

// runExport writes the exchanges with ids, asking the store for them (get, their bodies read back from the capture
// file) in the command, off the update loop, as the exporter needs them; it tells prog how far it got.
func runExport(exp Exporter, get func(uint64) *recorder.Exchange, format, path string, ids []uint64, overwrite bool, prog *exportProgress) tea.Cmd {
	return func() tea.Msg {
		if !overwrite {
			if _, err := os.Stat(path); err == nil {
				return exportedMsg{format: format, path: path, exists: true}
			} else if !errors.Is(err, os.ErrNotExist) {
				return exportedMsg{format: format, path: path, err: err}
			}
		}
		withBodies := func(id uint64) *recorder.Exchange {
			if ex := get(id); ex != nil {
				return ex.WithBodies() // the bodies the store keeps in the capture file, read back
			}
			return nil
		}
		res, err := exp(format, path, ids, withBodies, prog.set)
		if err != nil {
			err = fmt.Errorf("export %s to %s: %w", format, path, err)
		}
		return exportedMsg{format: format, path: path, n: res.Written, forgotten: res.Forgotten, unread: res.Unread, err: err}
	}
}

// exportProgress is how far the export running got: its command writes it, the prompt shows it at each tick.
type exportProgress struct {
	p atomic.Pointer[ExportProgress]
}

func (e *exportProgress) set(p ExportProgress) {
	if e != nil {
		e.p.Store(&p)
	}
}

func (e *exportProgress) get() (ExportProgress, bool) {
	if e == nil {
		return ExportProgress{}, false
	}
	p := e.p.Load()
	if p == nil {
		return ExportProgress{}, false
	}
	return *p, true
}

// exportTickMsg redraws the export prompt's progress while it writes (seq: the export it is for).
type exportTickMsg struct{ seq int }

const exportTickEvery = 250 * time.Millisecond

func exportTick(seq int) tea.Cmd {
	return tea.Tick(exportTickEvery, func(time.Time) tea.Msg { return exportTickMsg{seq: seq} })
}

// clearStatusMsg ends a status message (seq tells whether a newer one replaced it meanwhile).
type clearStatusMsg struct{ seq int }

// TunnelStarted is what Config.StartTunnel reports: the new public and connector URLs, the tunnel's note (as
// Config.TunnelNote) and where it says why it ended on its own (as Config.TunnelGone).
type TunnelStarted struct {
	PublicURL, ConnectorURL, Note string
	Gone                          <-chan string
}

// tunnelStartedMsg is Config.StartTunnel's answer.
type tunnelStartedMsg struct {
	started TunnelStarted
	err     error
}

// startTunnel runs Config.StartTunnel off the update loop.
func startTunnel(start func() (TunnelStarted, error)) tea.Cmd {
	return func() tea.Msg {
		st, err := start()
		return tunnelStartedMsg{st, err}
	}
}

// waitTunnelGone waits for why the tunnel ended on its own.
func waitTunnelGone(c <-chan string) tea.Cmd {
	return func() tea.Msg {
		why, ok := <-c
		if !ok {
			return nil
		}
		return tunnelGoneMsg{why: why}
	}
}

// tunnelGoneMsg: cloudflared exited on its own (Config.TunnelGone).
type tunnelGoneMsg struct{ why string }

const statusFor = 6 * time.Second

func clearStatusAfter(seq int) tea.Cmd {
	return tea.Tick(statusFor, func(time.Time) tea.Msg { return clearStatusMsg{seq: seq} })
}
