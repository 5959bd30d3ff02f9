package tui

import (
	"github.com/mcpwatch/mcpwatch/recorder"
)

// sliceExporter is an Exporter that reads every exchange once and gives them to f all at once, as the tests'
// exporters take them.
func sliceExporter(f func(format, path string, exs []*recorder.Exchange) error) Exporter {
	return func(format, path string, ids []uint64, get func(uint64) *recorder.Exchange, _ func(ExportProgress)) (ExportResult, error) {
		var res ExportResult
		var exs []*recorder.Exchange
		for _, id := range ids {
			ex := get(id)
			if ex == nil {
				res.Forgotten++
				continue
			}
			for _, n := range ex.Notes {
				if n.Key == recorder.NoteBody {
					res.Unread++
				}
			}
			exs = append(exs, ex)
		}
		res.Written = len(exs)
		return res, f(format, path, exs)
	}
}
