package app

import (
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/tui"
)

// exportSlice runs the TUI's exporter over exchanges held in a slice, as the TUI does over the store: by id.
func exportSlice(exp tui.Exporter, format, path string, exs []*recorder.Exchange) error {
	byID := map[uint64]*recorder.Exchange{}
	ids := make([]uint64, 0, len(exs))
	for _, ex := range exs {
		byID[ex.ID] = ex
		ids = append(ids, ex.ID)
	}
	_, err := exp(format, path, ids, func(id uint64) *recorder.Exchange { return byID[id] }, nil)
	return err
}
