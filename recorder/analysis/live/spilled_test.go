package live

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// A resync hands the service again the exchanges it has analysed. At the store's bound nearly every record held
// has its bodies spilled to the capture file; the service reads them back only for an exchange the analyzer has
// not seen complete, not for the copies it ignores (each read is a line read and decoded: ~10 KiB allocated).
func TestResyncReadsNoBodiesBackForWhatWasAnalysed(t *testing.T) {
	c, err := recorder.OpenCapture(filepath.Join(t.TempDir(), "capture.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	store := recorder.NewStore(recorder.StoreOptions{MaxBytes: 256 << 10})
	store.UseCapture(c)
	const n = 3000
	body := `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"` + strings.Repeat("x", 200) + `"}}}`
	for i := range n {
		req := fmt.Appendf(nil, body, i)
		store.Add(&recorder.Exchange{Method: "POST", URL: "/mcp", Status: 200, Start: time.Unix(int64(i), 0).UTC(),
			ReqBody: recorder.Body{Data: req, Size: int64(len(req))}})
		if i%20 == 19 { // let the writer catch up, so that the oldest records can be spilled
			deadline := time.Now().Add(20 * time.Second)
			for w, _ := c.Written(); w < uint64(i+1); w, _ = c.Written() {
				if time.Now().After(deadline) {
					t.Fatalf("the capture wrote %d of %d", w, i+1)
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	snap := store.Snapshot()
	spilled := 0
	for _, ex := range snap {
		if ex.BodiesInFile() {
			spilled++
		}
	}
	if spilled < len(snap)/2 {
		t.Fatalf("%d of %d records held spilled: the test needs most of them so", spilled, len(snap))
	}
	s := New(Options{})
	defer s.Close()
	sub := s.Subscribe()
	from := snap[0].ID
	push := func(seq uint64) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s.Push(Batch{Epoch: 1, Seq: seq, Exchanges: snap, From: from})
		for m := next(t, sub); m.Seq < seq; m = next(t, sub) {
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	first := push(1) // analysed: the bodies read back
	again := push(2) // the same records again
	t.Logf("%d records (%d spilled): %d B allocated the first time, %d B the second", len(snap), spilled, first, again)
	if again > first/4 {
		t.Errorf("handing the service again %d records it analysed allocated %d B (the first time %d B): their bodies were read back", len(snap), again, first)
	}
}
