package app

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
	"github.com/mcpwatch/mcpwatch/tui"
)

// The TUI's export asks the store for each exchange as it writes it and drops it: of the 3,000 exchanges with
// 4 KiB bodies of a store here, a few are alive at once (counted by weak pointers to what the getter returned,
// after a collection every 200 reads). Before, the TUI read them all (with their bodies) before the export began.
// One the store forgot is counted, not written.
func TestTUIExportHoldsAFewExchangesAtATime(t *testing.T) {
	n := 3_000
	if testing.Short() || testkit.Race {
		n = 300
	}
	store := recorder.NewStore(recorder.StoreOptions{})
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var ids []uint64
	for i := range n {
		resp := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"%s"}]}}`, i, strings.Repeat("x", 4<<10))
		ids = append(ids, store.Add(&recorder.Exchange{Kind: recorder.Inbound, Method: "POST", URL: "/mcp",
			Start: t0.Add(time.Duration(i) * time.Millisecond), Status: 200, State: recorder.StateComplete,
			ReqBody:  recorder.Body{Data: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`)},
			RespBody: recorder.Body{Data: []byte(resp), Size: int64(len(resp))}}))
	}
	ids = append(ids, 1<<40) // an exchange the store forgot: counted, not written
	svc := live.New(live.Options{Saved: true})
	defer svc.Close()
	svc.Push(live.Batch{Epoch: 1, Seq: 1, Exchanges: store.Snapshot()})
	for _, s := range []*live.Service{svc, nil} {
		var made []weak.Pointer[recorder.Exchange]
		calls, most := 0, 0
		get := func(id uint64) *recorder.Exchange {
			if calls++; calls%200 == 0 {
				runtime.GC()
				alive := made[:0]
				for _, w := range made {
					if w.Value() != nil {
						alive = append(alive, w)
					}
				}
				clear(made[len(alive):])
				made, most = alive, max(most, len(alive))
			}
			ex := store.Get(id)
			if ex != nil {
				made = append(made, weak.Make(ex))
			}
			return ex
		}
		var last tui.ExportProgress
		res, err := exportForTUI(s)("har", filepath.Join(t.TempDir(), "all.har"), ids, get, func(p tui.ExportProgress) { last = p })
		if err != nil {
			t.Fatal(err)
		}
		if res.Written != n || res.Forgotten != 1 || last.Pass != last.Passes || last.Done != last.Total {
			t.Errorf("service %v: %+v, last progress %+v", s != nil, res, last)
		}
		if most > 16 {
			t.Errorf("service %v: %d exchanges alive at once (of %d, read %d times); want at most 16", s != nil, most, n, calls)
		}
		t.Logf("service %v: %d read, at most %d alive at once", s != nil, calls, most)
	}
}
