package live

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
)

// bodyAnalyzer remembers the response bodies it observed.
type bodyAnalyzer struct {
	countingAnalyzer
	mu     *sync.Mutex
	bodies map[uint64]string
}

func (a *bodyAnalyzer) Observe(ex *recorder.Exchange) {
	a.countingAnalyzer.Observe(ex)
	a.mu.Lock()
	a.bodies[ex.ID] = string(ex.RespBody.Data)
	a.mu.Unlock()
}

// What the TUI feeds after a resync is the store's snapshot, whose large bodies stay in the capture file: the
// service reads them back for the analysis (in its own goroutine), which reads bodies.
func TestServiceObservesBodiesKeptInTheCaptureFile(t *testing.T) {
	store := recorder.NewStore(recorder.StoreOptions{})
	capture, err := recorder.OpenCapture(filepath.Join(t.TempDir(), "capture.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	store.UseCapture(capture)
	body := `{"jsonrpc":"2.0","id":1,"result":{"pad":"` + strings.Repeat("x", 8000) + `"}}`
	id := store.Add(&recorder.Exchange{Method: "POST", URL: "/mcp", Status: 200,
		RespBody: recorder.Body{Data: []byte(body), Size: int64(len(body))}})
	deadline := time.Now().Add(10 * time.Second)
	for !store.Snapshot()[0].BodiesInFile() {
		if time.Now().After(deadline) {
			t.Fatal("the capture did not take the body")
		}
		time.Sleep(time.Millisecond)
	}
	var mu sync.Mutex
	an := &bodyAnalyzer{countingAnalyzer{exs: map[uint64]bool{}}, &mu, map[uint64]string{}}
	s := New(Options{Saved: true, NewAnalyzer: func(analysis.Options) Analyzer { return an }})
	defer s.Close()
	sub := s.Subscribe()
	s.Push(Batch{Epoch: 1, Seq: 1, Exchanges: store.Snapshot(), From: 1})
	for m := next(t, sub); m.Seq != 1 || m.Pending; m = next(t, sub) {
	}
	mu.Lock()
	defer mu.Unlock()
	if an.bodies[id] != body {
		t.Fatalf("the analyzer observed a body of %d bytes, want %d", len(an.bodies[id]), len(body))
	}
}
