package server

import (
	"bytes"
	"context"
	"net/http"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server/mcpserver"
	"github.com/mcpwatch/mcpwatch/server/toggle"
)

// What watchToolsChanged looks for in a response: the SDK writes compact JSON.
var (
	listedMarker   = []byte(`"name":"` + mcpserver.ChangedToolName + `"`)
	notifiedMarker = []byte(`"method":"notifications/tools/list_changed"`)
)

// watchToolsChanged records the tools-changed toggle on the exchanges it alters: a tools/list answer that lists
// its tool, and a stream that carries the notifications/tools/list_changed announcing the tool's arrival (toggle
// set) or departure (toggle unset). A notification is blamed on the toggle only when the tool was added or
// removed since the exchange began (or since its last such notification), so a list_changed from elsewhere (the
// conformance fixtures) is not. Until the toggle is first used, only GET streams pay for the watch.
func (s *Server) watchToolsChanged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flips := s.toolsFlips.Load()
		listed := s.cfg.Toggles.Has(toggle.ToolsChanged) // answers now list the tool
		if !listed && flips == 0 && r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&toolsChangedWriter{ResponseWriter: w, s: s, ctx: r.Context(), watchList: listed, seen: flips}, r)
	})
}

type toolsChangedWriter struct {
	http.ResponseWriter
	s         *Server
	ctx       context.Context
	watchList bool   // look for the tool in a tools/list answer (once)
	seen      uint64 // toolsFlips already accounted for
	tail      []byte // the end of the previous write, for a marker split across writes
}

func (w *toolsChangedWriter) Write(p []byte) (int, error) {
	w.scan(p)
	return w.ResponseWriter.Write(p)
}

func (w *toolsChangedWriter) scan(p []byte) {
	if w.watchList && w.has(p, listedMarker) {
		w.watchList = false
		recorder.AddToggle(w.ctx, recorder.ToggleChange{Name: toggle.ToolsChanged.Name(), What: "result.tools",
			Before: "(without " + mcpserver.ChangedToolName + ")", After: mcpserver.ChangedToolName + " listed"})
	}
	if w.has(p, notifiedMarker) {
		if flips := w.s.toolsFlips.Load(); flips > w.seen {
			w.seen = flips
			w.s.toolsChangedMu.Lock()
			on := w.s.toolsChanged
			w.s.toolsChangedMu.Unlock()
			what := mcpserver.ChangedToolName + " removed"
			if on {
				what = mcpserver.ChangedToolName + " added"
			}
			recorder.AddToggle(w.ctx, recorder.ToggleChange{Name: toggle.ToolsChanged.Name(), What: "notification",
				Before: "(none)", After: "notifications/tools/list_changed (" + what + ")"})
		}
	}
	// Keep the end of this write: a marker may begin in it and end in the next.
	keep := max(len(listedMarker), len(notifiedMarker)) - 1
	w.tail = append(w.tail, p[max(0, len(p)-keep):]...)
	w.tail = w.tail[max(0, len(w.tail)-keep):]
}

// has reports whether m is in p, or begins at the end of the previous write and ends in p.
func (w *toolsChangedWriter) has(p, m []byte) bool {
	if bytes.Contains(p, m) {
		return true
	}
	if len(w.tail) == 0 {
		return false
	}
	var seam [128]byte
	joined := append(append(seam[:0], w.tail...), p[:min(len(p), len(m)-1)]...)
	return bytes.Contains(joined, m)
}

func (w *toolsChangedWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

func (w *toolsChangedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
