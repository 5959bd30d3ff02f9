package export

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// madeExchanges are n exchanges with 4 KiB bodies, each made afresh every time it is asked for (as a store reads
// an exchange and its bodies back), that count how many of those made are still alive: every check calls, after
// a collection, by weak pointers.
type madeExchanges struct {
	n, check int
	calls    int
	made     []weak.Pointer[recorder.Exchange]
	maxAlive int
}

func (m *madeExchanges) Len() int { return m.n }

func (m *madeExchanges) At(i int) *recorder.Exchange {
	m.calls++
	if m.calls%m.check == 0 {
		m.count()
	}
	ex := madeExchange(i, m.n)
	m.made = append(m.made, weak.Make(ex))
	return ex
}

// count collects, then keeps the weak pointers whose exchange is alive.
func (m *madeExchanges) count() {
	runtime.GC()
	alive := m.made[:0]
	for _, w := range m.made {
		if w.Value() != nil {
			alive = append(alive, w)
		}
	}
	clear(m.made[len(alive):])
	m.made = alive
	m.maxAlive = max(m.maxAlive, len(alive))
}

// madeExchange is the i-th of n: a tools/call with a bearer token, answered with 4 KiB of JSON; they start in an
// order other than their index's (7919 is prime: i → 7919·i mod n is a permutation when n is not its multiple).
func madeExchange(i, n int) *recorder.Exchange {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	req := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"n":%d}}}`, i, i)
	resp := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"%s"}]}}`, i, strings.Repeat("x", 4<<10))
	return &recorder.Exchange{
		ID: uint64(i + 1), Kind: recorder.Inbound, Method: "POST", URL: "/mcp", Host: "127.0.0.1:4000", Proto: "HTTP/1.1",
		Start:      t0.Add(time.Duration(7919*i%n) * time.Millisecond),
		ReqHeaders: hdrs("Content-Type", "application/json", "Authorization", "Bearer at-SECRET-token-0001", "Mcp-Session-Id", "s1"),
		ReqBody:    recorder.Body{Data: []byte(req), Size: int64(len(req))},
		Status:     200, RespHeaders: hdrs("Content-Type", "application/json"),
		RespBody: recorder.Body{Data: []byte(resp), Size: int64(len(resp))},
		Timings:  recorder.Timings{Wait: time.Millisecond, Total: 2 * time.Millisecond},
		State:    recorder.StateComplete,
	}
}

// An export holds a few exchanges at a time, however many it writes: each format, with the analysis given (the
// TUI's export) or made afresh (a capture file's), reads them as it needs them and drops them once written.
// Before export.Exchanges the exchanges were all materialised (with their bodies), cloned, sorted and redacted
// into copies together: the 4,000 here were all alive at once.
func TestExportHoldsAFewExchangesAtATime(t *testing.T) {
	n, check := 4_000, 250
	if testing.Short() || testkit.Race {
		n, check = 400, 50
	}
	const most = 16
	for _, f := range Formats() {
		for _, analysed := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/analysed=%v", f, analysed), func(t *testing.T) {
				src := &madeExchanges{n: n, check: check}
				opts := Options{}
				if analysed {
					opts.Analysed = &live.Analysed{Infos: map[uint64]analysis.Info{}, Report: &analysis.Report{}}
				}
				var last Progress
				opts.Progress = func(p Progress) { last = p }
				res, err := WriteFrom(io.Discard, f, src, opts)
				if err != nil {
					t.Fatal(err)
				}
				if res.Written != n || res.Gone != 0 {
					t.Fatalf("wrote %d, %d gone; want %d, 0", res.Written, res.Gone, n)
				}
				if last.Pass != last.Passes || last.Done != last.Total || last.Total == 0 {
					t.Errorf("the last progress %+v is not the end of the last pass", last)
				}
				if src.maxAlive > most {
					t.Errorf("%d exchanges were alive at once (of %d read %d times); want at most %d", src.maxAlive, n, src.calls, most)
				}
				t.Logf("%d read, at most %d alive at once", src.calls, src.maxAlive)
			})
		}
	}
}

// Result counts the exchanges written, those the source no longer had, and the bodies they lack (a NoteBody note).
func TestExportResultCounts(t *testing.T) {
	exs := Slice{madeExchange(0, 3), nil, madeExchange(2, 3)}
	exs[2].Notes = append(exs[2].Notes, recorder.Note{Key: recorder.NoteBody, Value: "response body: deleted by rotation"})
	for _, f := range Formats() {
		res, err := WriteFrom(io.Discard, f, exs, Options{})
		if err != nil || res != (Result{Written: 2, Gone: 1, Unread: 1}) {
			t.Errorf("%s: %+v, %v", f, res, err)
		}
	}
}
