package export

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// jsonlLine is an exchange in the capture file's form, with what the analysis says of it under "analysis"
// (a field recorder.ReadCapture ignores, so an export loads back as a capture).
type jsonlLine struct {
	*recorder.Exchange
	Analysis jsonlAnalysis `json:"analysis"`
}

type jsonlAnalysis struct {
	Stage      analysis.Stage      `json:"stage"`
	Client     analysis.ClientKind `json:"client,omitempty"`
	Connection string              `json:"connection,omitempty"`
	Findings   []analysis.Finding  `json:"findings,omitempty"`
	Redacted   bool                `json:"redacted"`
}

// WriteJSONL writes one exchange per line, in the order they started: the capture file's format (so that
// `mcpwatch open` and recorder.LoadCapture read it back), redacted unless asked not to, each line with the
// exchange's stage, client, connection and findings under "analysis".
func WriteJSONL(w io.Writer, exs []*recorder.Exchange, opts Options) error {
	return Write(w, JSONL, exs, opts)
}

func writeJSONL(w io.Writer, d *doc) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var err error
	d.each(func(_ int, ex *recorder.Exchange) {
		if err != nil {
			return
		}
		info := d.info[ex.ID]
		l := jsonlLine{Exchange: ex, Analysis: jsonlAnalysis{
			Stage:      d.stage(ex),
			Client:     info.Client,
			Connection: info.Connection,
			Findings:   d.exchangeFindings(ex.ID),
			Redacted:   d.red != nil,
		}}
		if err = enc.Encode(l); err != nil {
			err = fmt.Errorf("jsonl: exchange %d: %w", ex.ID, err)
			return
		}
		d.written(ex)
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}
