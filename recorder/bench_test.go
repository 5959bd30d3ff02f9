package recorder

// What recording costs per exchange, in this process, layer by layer:
//
//	go test ./recorder -run '^$' -bench . -benchmem
//
// BenchmarkRecorder serves a tools/call-shaped exchange (a JSON-RPC POST answered with an SSE event, as the go-sdk
// answers) over real connections, bare and behind the capture middleware (with the wire-order listener), with and
// without the capture file; BenchmarkCaptureEncode is the capture file's encoding of one such exchange.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/internal/testkit"
)

const (
	benchCall  = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"mcpload 3/1417"}}}`
	benchEvent = "event: message\nid: 3GXWB6LQ2Z_7\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"mcpload 3/1417\"}]}}\n\n"
)

func benchHandler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache, no-transform")
	w.Header().Set("Mcp-Session-Id", "3GXWB6LQ2ZQ4YQ3Z")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, benchEvent)
	w.(http.Flusher).Flush()
}

func BenchmarkRecorder(b *testing.B) {
	for _, tc := range []struct {
		name            string
		record, capture bool
		asBuilt         bool // the store keeps the records as the recorder built them (not packed)
	}{{"bare", false, false, false}, {"recorded", true, false, false}, {"recorded+capture", true, true, false}, {"recorded+capture,as-built", true, true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			defer func(old bool) { packRecords = old }(packRecords)
			packRecords = !tc.asBuilt
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			var h http.Handler = http.HandlerFunc(benchHandler)
			srv := &http.Server{Handler: h}
			store := NewStore(StoreOptions{})
			var capture *CaptureFile
			if tc.record {
				h = New(store, Options{}).Middleware(h)
				srv = &http.Server{Handler: h, ConnContext: ConnContext}
				ln = WrapListener(ln)
				if tc.capture {
					if capture, err = OpenCapture(filepath.Join(b.TempDir(), "c.jsonl")); err != nil {
						b.Fatal(err)
					}
					store.OnComplete(capture.Append)
				}
			}
			go srv.Serve(ln)
			defer srv.Close()
			url := "http://" + ln.Addr().String() + "/mcp"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
			defer client.CloseIdleConnections()
			b.ReportAllocs()
			b.SetParallelism(4)
			cpu0 := testkit.ProcessCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("POST", url, strings.NewReader(benchCall))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Accept", "application/json, text/event-stream")
					req.Header.Set("Mcp-Session-Id", "3GXWB6LQ2ZQ4YQ3Z")
					req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(body) != benchEvent {
						b.Errorf("HTTP %d %q", resp.StatusCode, body)
						return
					}
				}
			})
			b.StopTimer()
			if capture != nil {
				t0 := time.Now()
				if err := capture.Close(); err != nil {
					b.Fatal(err)
				}
				// the writer runs behind the HTTP path: what it still had to do is part of the cost
				b.ReportMetric(float64(time.Since(t0).Nanoseconds())/float64(b.N), "ns-after/op")
				if n, _ := capture.Written(); n != uint64(store.Stats().Total) {
					b.Errorf("capture wrote %d of %d exchanges", n, store.Stats().Total)
				}
			}
			// CPU time (client and server: this process) per exchange, the capture writer's included: steadier than
			// the wall time on a busy machine.
			b.ReportMetric(float64((testkit.ProcessCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// benchExchange is a recorded tools/call as serve records it.
func benchExchange() *Exchange {
	ex := &Exchange{ID: 1417, Kind: Inbound, State: StateComplete, Start: time.Date(2026, 11, 25, 19, 5, 37, 473000000, time.UTC),
		Timings: Timings{Wait: 1200 * time.Microsecond, Total: 1600 * time.Microsecond}, RemoteAddr: "127.0.0.1:53422",
		Method: "POST", URL: "/mcp", Host: "127.0.0.1:4000", Proto: "HTTP/1.1",
		ReqHeaders: Headers{{"Host", "127.0.0.1:4000"}, {"User-Agent", "Go-http-client/1.1"}, {"Content-Length", "104"},
			{"Accept", "application/json, text/event-stream"}, {"Content-Type", "application/json"}, {"Mcp-Protocol-Version", "2025-11-25"},
			{"Mcp-Session-Id", "3GXWB6LQ2ZQ4YQ3Z"}, {"Accept-Encoding", "gzip"}},
		ReqBody: Body{Data: []byte(benchCall), Size: int64(len(benchCall))},
		Status:  200,
		RespHeaders: Headers{{"Cache-Control", "no-cache, no-transform"}, {"Content-Type", "text/event-stream"},
			{"Mcp-Session-Id", "3GXWB6LQ2ZQ4YQ3Z"}},
		RespBody: Body{Data: []byte(benchEvent), Size: int64(len(benchEvent))},
		Events:   []SSEEvent{{At: 1300 * time.Microsecond, ID: "3GXWB6LQ2Z_7", Event: "message", Data: benchEvent[38 : len(benchEvent)-2]}},
		Notes:    []Note{{Key: "era", Value: "legacy: session id"}},
	}
	ex.RPC = append(ParseRPC(ex.ReqBody.Data, FromClient, -1), ParseRPC([]byte(ex.Events[0].Data), FromServer, 0)...)
	pairReplies(ex.RPC)
	return ex
}

func BenchmarkCaptureEncode(b *testing.B) {
	ex := benchExchange()
	var line []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if line, err = appendLine(line[:0], ex); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(line)), "bytes/line")
}

// The capture line is the exchange's JSON, and it loads back as the same exchange.
func TestCaptureLineRoundTrip(t *testing.T) {
	ex := benchExchange()
	line, err := appendLine(nil, ex)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(ex)
	if got := bytes.TrimSuffix(line, []byte("\n")); !bytes.Equal(got, want) {
		t.Errorf("line differs from json.Marshal:\n got %s\nwant %s", got, want)
	}
	res, err := ReadCapture(bytes.NewReader(line))
	if err != nil || len(res.Exchanges) != 1 {
		t.Fatalf("%v %+v", err, res)
	}
	again, _ := json.Marshal(res.Exchanges[0])
	if !bytes.Equal(again, want) {
		t.Errorf("round trip:\n got %s\nwant %s", again, want)
	}
}

// BenchmarkParseRPC parses a tools/call request and its SSE answer's data, as the recorder does for each.
func BenchmarkParseRPC(b *testing.B) {
	answer := []byte(benchEvent[38 : len(benchEvent)-2])
	for _, tc := range []struct {
		name  string
		parse func([]byte, string, int) []RPC
	}{{"scanner", ParseRPC}, {"encoding-json", parseRPCReflect}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(tc.parse([]byte(benchCall), FromClient, -1)) != 1 || len(tc.parse(answer, FromServer, 0)) != 1 {
					b.Fatal("no message")
				}
			}
		})
	}
}

// BenchmarkCaptureFileAppend appends tools/call-sized exchanges from 16 goroutines, as concurrent requests do:
// "saturated" appends as fast as it can (the disk is the limit), "paced" appends one exchange per goroutine every
// 2 ms (8,000 a second, about what a loaded proxy records). cpu-ns/op is the process's CPU time per exchange
// (encoding, write calls, wake-ups); append-ns/op the time the appenders spent in Append (the HTTP path's share:
// the writer goroutine encodes the lines).
func BenchmarkCaptureFileAppend(b *testing.B) {
	for _, pace := range []time.Duration{0, 2 * time.Millisecond} {
		name := "saturated"
		if pace > 0 {
			name = "paced"
		}
		b.Run(name, func(b *testing.B) {
			c, err := OpenCapture(filepath.Join(b.TempDir(), "c.jsonl"))
			if err != nil {
				b.Fatal(err)
			}
			ex := sampleExchange(1)
			b.ReportAllocs()
			b.SetParallelism(8) // 16 goroutines on 2 cores
			cpu0 := testkit.ProcessCPU()
			b.ResetTimer()
			var inAppend atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				var took time.Duration
				for pb.Next() {
					t0 := time.Now()
					c.Append(ex)
					took += time.Since(t0)
					if pace > 0 {
						time.Sleep(pace)
					}
				}
				inAppend.Add(int64(took))
			})
			if err := c.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64((testkit.ProcessCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(inAppend.Load())/float64(b.N), "append-ns/op")
		})
	}
}

// BenchmarkRecordBatch records one exchange per iteration: a JSON-RPC batch of n pings answered on an event stream
// with one event per answer, flushed every 16 events (each flush makes the recorder read and pair what arrived,
// and publish the exchange to the store). ns/msg is the cost per message (the n requests and their n answers);
// recording is linear when it stays flat from n=100 to n=10000 (cpu-ns/msg, the process's CPU time, is steadier on a
// busy machine). Compare the sizes within one run:
//
//	go test ./recorder -run '^$' -bench RecordBatch -benchtime 2s
func BenchmarkRecordBatch(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var req, stream bytes.Buffer
			req.WriteByte('[')
			for i := range n {
				if i > 0 {
					req.WriteByte(',')
				}
				fmt.Fprintf(&req, `{"jsonrpc":"2.0","id":%d,"method":"ping"}`, i)
			}
			req.WriteByte(']')
			var events [][]byte
			for i := range n {
				stream.Reset()
				fmt.Fprintf(&stream, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{}}\n\n", i)
				events = append(events, bytes.Clone(stream.Bytes()))
			}
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusOK)
				for i, ev := range events {
					w.Write(ev)
					if i%16 == 15 {
						w.(http.Flusher).Flush()
					}
				}
			})
			store := NewStore(StoreOptions{MaxCount: 16})
			rec := New(store, Options{PublishDelay: time.Hour})
			mw := rec.Middleware(h)
			body := req.Bytes()
			var last *Exchange
			b.ReportAllocs()
			cpu0 := testkit.ProcessCPU()
			for b.Loop() {
				r := httptest.NewRequest("POST", "/mcp", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				mw.ServeHTTP(flushDiscard{h: http.Header{}}, r)
				last = store.Get(store.Stats().Total)
			}
			if last == nil || len(last.RPC) != 2*n || last.RPC[2*n-1].ReplyTo != "ping" {
				b.Fatalf("recorded %v", last)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*n), "ns/msg")
			// The process's CPU time per message: steadier than the wall time on a busy machine.
			b.ReportMetric(float64((testkit.ProcessCPU()-cpu0).Nanoseconds())/float64(b.N)/float64(2*n), "cpu-ns/msg")
		})
	}
}

// flushDiscard is a ResponseWriter (and Flusher) that drops what it is given.
type flushDiscard struct{ h http.Header }

func (d flushDiscard) Header() http.Header         { return d.h }
func (d flushDiscard) Write(p []byte) (int, error) { return len(p), nil }
func (d flushDiscard) WriteHeader(int)             {}
func (d flushDiscard) Flush()                      {}
