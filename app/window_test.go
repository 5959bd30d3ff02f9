package app

import (
	"testing"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// TestSessionAnalysisKeepsItsOwnWindow: the session's analysis keeps its own window (analysis.DefaultWindow),
// not the store's count bound — the store holds up to 1,000,000 exchanges, and an analysis record of a handshake
// costs several times a stored exchange. (Before, the session gave the analysis the store's MaxCount.)
func TestSessionAnalysisKeepsItsOwnWindow(t *testing.T) {
	w := Session{Limits: recorder.StoreOptions{MaxCount: recorder.DefaultStoreMaxCount}}
	svc := w.analysisService(0)
	defer svc.Close()
	if got := svc.Options().Analysis.MaxExchanges; got != 0 && got > analysis.DefaultWindow {
		t.Errorf("the analysis keeps %d exchanges; its window is %d", got, analysis.DefaultWindow)
	}
}
