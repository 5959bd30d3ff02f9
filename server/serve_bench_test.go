package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/app"
	"github.com/mcpwatch/mcpwatch/bench/loadgen"
	"github.com/mcpwatch/mcpwatch/bench/peers"
	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/toggle"
)

// serveVariants are the servers BenchmarkServe compares, in one run: the go-sdk's StreamableHTTPHandler alone (the
// target's denominator: bench/peers.SDK, default options, stateless for the 2026 era), a plain net/http handler
// answering with fixed JSON (what the client and the loopback connection cost: subtract it to see the servers),
// and `mcpwatch serve`'s whole chain — server.New with the embedded MCP server, served by Server.Serve (the wrapped
// listener, the router and every middleware), --no-auth, under app.Session.Run as `serve --no-tui` runs it (the
// analysis and the headless printer following the store) — with recording off (as MCPWATCH_BENCH_NO_RECORD=1
// serves), in memory only (--no-capture), and with a capture file.
var serveVariants = []string{"sdk", "plain", "off", "mem", "capture"}

// startServe starts the variant and returns the MCP endpoint's URL; it stops when the benchmark ends.
func startServe(b *testing.B, variant string, stateless bool) string {
	b.Helper()
	var h http.Handler
	switch variant {
	case "sdk":
		h = peers.SDK(stateless)
	case "plain":
		h = peers.Plain()
	}
	if h != nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		hs := &http.Server{Handler: h}
		go hs.Serve(ln)
		b.Cleanup(func() { hs.Close() })
		return "http://" + ln.Addr().String() + "/mcp"
	}

	dir := b.TempDir()
	limits := recorder.StoreOptions{}
	store := recorder.NewStore(limits)
	var rec *recorder.Recorder
	if variant != "off" {
		rec = recorder.New(store, recorder.Options{})
	}
	var capture *recorder.CaptureFile
	if variant == "capture" {
		var err error
		if capture, err = app.OpenCapture(store, filepath.Join(dir, "capture.jsonl"), dir, recorder.CaptureOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	toggles := toggle.NewSet(toggle.ModeServe)
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", NoAuth: true, Recorder: rec, Toggles: toggles})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Session{Server: srv, Store: store, Limits: limits, Capture: capture, Toggles: toggles, StateDir: dir,
			NoTUI: true}.Run(ctx, io.Discard, io.Discard)
	}()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return srv.LocalURL() + "/mcp"
}

// BenchmarkServe compares `serve` with the go-sdk alone, tools/call on an established session (one client, one
// keep-alive connection, the echo tool; every answer checked by the load generator's client) in both eras, and
// session setup (initialize + notifications/initialized, then DELETE so that sessions do not pile up). The
// machine is shared: read the ratios between the variants of one run, not the absolute times. ns/op, cpu-ns/op
// (the process's CPU time, client, server and background work such as the GC and the analysis together: steadier
// than wall time on a busy machine) and allocs/op include the client, the same for every variant (the plain
// variant is about the client alone).
//
//	go test ./server -run '^$' -bench 'Serve/' -benchmem -count 3
func BenchmarkServe(b *testing.B) {
	for _, era := range []loadgen.Era{loadgen.EraLegacy, loadgen.Era2026} {
		for _, v := range serveVariants {
			b.Run("call/"+string(era)+"/"+v, func(b *testing.B) {
				url := startServe(b, v, era == loadgen.Era2026)
				c := loadgen.NewClient(loadgen.Config{Clients: 1})
				ctx := context.Background()
				s, err := c.Open(ctx, url, era, "")
				if err != nil {
					b.Fatal(err)
				}
				text := make([]byte, 0, 32)
				b.ReportAllocs()
				n := 0
				cpu0 := testkit.ProcessCPU()
				for b.Loop() {
					n++
					text = strconv.AppendInt(append(text[:0], "bench "...), int64(n), 10)
					if err := c.CallEcho(ctx, s, "echo", string(text)); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				reportCPU(b, cpu0)
				if err := c.Close(ctx, s); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
	for _, v := range serveVariants {
		b.Run("setup/"+v, func(b *testing.B) {
			url := startServe(b, v, false)
			c := loadgen.NewClient(loadgen.Config{Clients: 1})
			ctx := context.Background()
			b.ReportAllocs()
			cpu0 := testkit.ProcessCPU()
			for b.Loop() {
				s, err := c.Open(ctx, url, loadgen.EraLegacy, "")
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Close(ctx, s); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportCPU(b, cpu0)
		})
	}
}

// reportCPU reports the process's CPU time per operation since cpu0.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	if cpu := testkit.ProcessCPU(); cpu > 0 && b.N > 0 {
		b.ReportMetric(float64(cpu-cpu0)/float64(b.N), "cpu-ns/op")
	}
}
