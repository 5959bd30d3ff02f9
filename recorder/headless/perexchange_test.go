package headless

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
)

// proxiedCalls is n tools/calls through the proxy as `proxy --no-tui` hands them to its analysis service: for each,
// the final snapshots of the upstream's copy (outbound, its note "inbound" naming the client's) then the client's
// exchange, in sessions of 1,000 calls as serve recorded mcpload's (the analysis' serve-calls.jsonl).
func proxiedCalls(tb testing.TB, n int) []*recorder.Exchange {
	tb.Helper()
	res, err := recorder.LoadCapture(filepath.Join("..", "analysis", "testdata", "bench", "serve-calls.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := res.Exchanges
	slices.SortFunc(tmpl, func(x, y *recorder.Exchange) int { return x.Start.Compare(y.Start) })
	var out []*recorder.Exchange
	var id uint64
	at := time.Now()
	for k := 0; len(out) < 2*n; k++ {
		sid := fmt.Sprintf("SID%023d", k)
		for i := 0; i < 1000 && len(out) < 2*n; i++ {
			t := tmpl[min(i, 2+(i-2+len(tmpl)-2)%(len(tmpl)-2))] // initialize, initialized, then the calls
			in := *t
			id += 2
			in.ID, in.Start, in.RemoteAddr = id, at, fmt.Sprintf("127.0.0.1:%d", 40000+k%16)
			in.ReqHeaders = setHeader(t.ReqHeaders, "Mcp-Session-Id", sid, i > 0)
			in.RespHeaders = setHeader(t.RespHeaders, "Mcp-Session-Id", sid, true)
			up := in
			up.ID, up.Kind, up.URL = id-1, recorder.Outbound, "http://127.0.0.1:9000"+in.URL
			up.Notes = []recorder.Note{{Key: recorder.NoteInbound, Value: strconv.FormatUint(in.ID, 10)}}
			out = append(out, &up, &in)
			at = at.Add(250 * time.Microsecond)
		}
	}
	return out
}

// setHeader is h with name's value set to v (added when absent and add is set).
func setHeader(h recorder.Headers, name, v string, add bool) recorder.Headers {
	out := slices.Clone(h)
	for i := range out {
		if out[i].Name == name {
			out[i].Value = v
			return out
		}
	}
	if add {
		out = append(out, recorder.Header{Name: name, Value: v})
	}
	return out
}

// countingWriter counts the writes it is handed and the lines in them.
type countingWriter struct{ writes, bytes, lines atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	w.bytes.Add(int64(len(p)))
	w.lines.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// waitLines waits (bounded) until w has been handed n lines, and fails if it was handed more.
func waitLines(b *testing.B, w *countingWriter, n int64) {
	b.Helper()
	for deadline := time.Now().Add(time.Minute); w.lines.Load() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d lines printed after a minute, want %d", w.lines.Load(), n)
		}
	}
	if got := w.lines.Load(); got != n {
		b.Fatalf("%d lines printed, want %d", got, n)
	}
}

// BenchmarkWatchProxied is the CPU of the analysis service and the printer per proxied call (two exchanges, two
// lines), fed as Follow feeds them: batches of 32 final snapshots (16 calls: 2 ms of a proxy at 8,000 calls/s).
// The window fills before the measured calls (20,000 exchanges held). cpu-ns/call is the process's CPU.
func BenchmarkWatchProxied(b *testing.B) {
	const calls = 20_000
	exs := proxiedCalls(b, 10_000+calls)
	warm, measured := exs[:20_000], exs[20_000:]
	for b.Loop() {
		b.StopTimer()
		// A fresh service each round, its window filled first.
		svc := live.New(live.Options{Clock: time.Now, JudgeEvery: time.Hour})
		sub := svc.SubscribeFindings()
		cw := &countingWriter{}
		done := make(chan error, 1)
		go func() { done <- Watch(context.Background(), sub, cw, Options{}) }()
		seq := uint64(0)
		for i := 0; i < len(warm); i += 4096 { // Follow's batches are at most 4,096 updates
			seq++
			svc.Push(live.Batch{Epoch: 1, Seq: seq, Exchanges: warm[i:min(i+4096, len(warm))], From: 1})
		}
		// Every warm exchange's line printed before the measured window opens: waiting for the first bytes only left
		// 4,096–12,288 of the 20,000 warm exchanges to be analysed and printed inside it (20–40% more exchanges
		// than the window's 40,000, a different share every round).
		waitLines(b, cw, int64(len(warm)))
		runtime.GC()
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		c0 := testkit.ProcessCPU()
		w0 := cw.writes.Load()
		b.StartTimer()
		for i := 0; i < len(measured); i += 32 {
			seq++
			svc.Push(live.Batch{Epoch: 1, Seq: seq, Exchanges: measured[i:min(i+32, len(measured))], From: measured[0].ID - 20_000})
			time.Sleep(100 * time.Microsecond) // the batches arrive over time, each its own wake-up
		}
		svc.Finish()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		waitLines(b, cw, int64(len(warm)+len(measured)))
		cpu := testkit.ProcessCPU() - c0
		runtime.ReadMemStats(&ms1)
		b.ReportMetric(float64(cpu.Nanoseconds())/calls, "cpu-ns/call")
		b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/calls, "allocs/call")
		b.ReportMetric(float64(cw.writes.Load()-w0)/calls*1000, "writes/1000calls")
		svc.Close()
		b.StartTimer()
	}
}
