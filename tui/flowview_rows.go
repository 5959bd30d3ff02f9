package tui

import (
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// statusClass groups a status for colour and for the filter's status:Nxx.
type statusClass uint8

const (
	classPending statusClass = iota // no response yet
	class1xx
	class2xx
	class3xx
	class4xx
	class5xx
	classError // the exchange ended without a status (transport error, client went away)
)

func classOf(ex *recorder.Exchange) statusClass {
	switch {
	case ex.Status >= 100 && ex.Status < 600:
		return statusClass(ex.Status / 100)
	case ex.Error != "" || ex.State == recorder.StateComplete:
		return classError
	}
	return classPending
}

// row is one exchange as the list holds it: the snapshot (immutable, shared with the store) and what the list and
// the filter need without recomputing it.
type row struct {
	ex    *recorder.Exchange
	size  int64
	hid   int32 // the row's hay (what the filter's words search), interned: see flowView.hays
	cn    int32 // the connection, interned: see flowView.connIDs (0: none)
	stage stageID
	cl    uint8 // the client kind, interned: see flowView.clients
	class statusClass
}

// stageID is a stage, interned: see flowView.stageNames. The rows stay small (32 bytes), which is what a filter pass
// over 100,000 of them reads.
type stageID uint8

// connInfo is what the filter's client: term matches for a connection.
type connInfo struct {
	kind analysis.ClientKind
	hay  string // lower case kind, client name and user agent
}

// findingMark is the worst severity of an exchange's findings, their number, and where the first one is in the
// report's findings.
type findingMark struct {
	sev   analysis.Severity
	n     int32
	first int32
}

// sevRank orders severities, worst first; no severity ranks last.
func sevRank(s analysis.Severity) int {
	switch s {
	case analysis.SeverityError:
		return 0
	case analysis.SeverityWarn:
		return 1
	case analysis.SeverityInfo:
		return 2
	}
	return 3
}
