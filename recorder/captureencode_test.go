package recorder

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// proxiedPairs builds n proxied calls' record pairs as the proxy hands them to the capture file under mcpload's
// load (the upstream copy first, then the client's exchange), each pair in allocations of its own, sharing what the
// recorder shares: the copy's bodies, response headers and JSON-RPC messages are the client's (the same slices),
// its events' texts the client's; the client's request headers are texts of one header block (headersFor), the
// copy's those of net/http's header map. With sse the answer is an event.
func proxiedPairs(n int, sse bool) []*Exchange {
	t0 := time.Date(2026, 12, 6, 23, 35, 12, 859272088, time.UTC)
	var out []*Exchange
	for i := range n {
		id := uint64(2*i + 1)
		call := fmt.Sprintf(`{"id":%d,"jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"text":"mcpload 13/%d"},"name":"echo"}}`, i, i)
		answer := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"mcpload 13/%d"}]}}`, i, i)
		session := fmt.Sprintf("%032x", i*7919)
		block := strings.Clone("Host: 127.0.0.1:7222\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: " + fmt.Sprint(len(call)) +
			"\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nMcp-Protocol-Version: 2025-11-25\r\nMcp-Session-Id: " + session)
		var reqHeaders Headers
		for _, l := range strings.Split(block, "\r\n") {
			k, v, _ := strings.Cut(l, ": ")
			reqHeaders = append(reqHeaders, Header{Name: k, Value: v})
		}
		client := &Exchange{ID: id + 1, Kind: Inbound, State: StateComplete, Start: t0.Add(time.Duration(i) * 120 * time.Microsecond),
			Timings: Timings{Wait: 1254747, Total: 1260946}, RemoteAddr: "127.0.0.1:58228", Method: "POST", URL: "/mcp",
			Host: "127.0.0.1:7222", Proto: "HTTP/1.1", ReqHeaders: reqHeaders,
			ReqBody: Body{Data: []byte(call), Size: int64(len(call))}, Status: 200,
			Notes: []Note{{Key: "outbound", Value: fmt.Sprint(id)}}}
		if sse {
			ev := "event: message\ndata: " + answer + "\n\n"
			client.RespHeaders = Headers{{"Cache-Control", "no-cache, no-transform"}, {"Content-Type", "text/event-stream"},
				{"Date", "Sun, 06 Dec 2026 23:35:12 GMT"}, {"Mcp-Session-Id", strings.Clone(session)}}
			client.RespBody = Body{Data: []byte(ev), Size: int64(len(ev))}
			client.Events = []SSEEvent{{At: 1200 * time.Microsecond, Event: "message", Data: strings.Clone(answer)}}
			client.RPC = append(ParseRPC(client.ReqBody.Data, FromClient, -1), ParseRPC([]byte(client.Events[0].Data), FromServer, 0)...)
		} else {
			client.RespHeaders = Headers{{"Content-Length", fmt.Sprint(len(answer) + 1)}, {"Content-Type", "application/json"},
				{"Date", "Sun, 06 Dec 2026 23:35:12 GMT"}}
			client.RespBody = Body{Data: []byte(answer + "\n"), Size: int64(len(answer) + 1)}
			client.RPC = append(ParseRPC(client.ReqBody.Data, FromClient, -1), ParseRPC(client.RespBody.Data, FromServer, -1)...)
		}
		pairReplies(client.RPC)
		c := strings.Clone
		cp := &Exchange{ID: id, Kind: Outbound, State: StateComplete, Start: client.Start.Add(30 * time.Microsecond),
			Timings: Timings{Wait: 1247747, Total: 1252685}, Method: "POST", URL: "http://127.0.0.1:7221/mcp",
			Host: "127.0.0.1:7221", Proto: "HTTP/1.1",
			ReqHeaders: Headers{{"Accept", c("application/json, text/event-stream")}, {"Content-Length", c(reqHeaders[2].Value)},
				{"Content-Type", c("application/json")}, {"Mcp-Protocol-Version", c("2025-11-25")}, {"Mcp-Session-Id", c(session)},
				{"User-Agent", c("Go-http-client/1.1")}, {"X-Forwarded-For", c("127.0.0.1")}, {"X-Forwarded-Host", c("127.0.0.1:7222")},
				{"X-Forwarded-Proto", c("http")}},
			ReqBody: client.ReqBody, Status: 200, RespHeaders: client.RespHeaders, RespBody: client.RespBody, RPC: client.RPC,
			Notes: []Note{{Key: "inbound", Value: fmt.Sprint(id + 1)}}}
		for _, ev := range client.Events {
			ev.At -= 20 * time.Microsecond
			cp.Events = append(cp.Events, ev)
		}
		out = append(out, cp, client)
	}
	return out
}

// BenchmarkCaptureEncodeProxied encodes proxied calls' line pairs shaped as the proxy's under mcpload (proxiedPairs),
// 64 lines a group as the capture writer does, in the thread's CPU time per pair (cpu-ns/unit): "cold" goes through
// 4,000 pairs in order (their records out of the caches, as the writer meets them milliseconds after they
// completed), "hot" encodes the same 32 pairs again and again.
func BenchmarkCaptureEncodeProxied(b *testing.B) {
	for _, sse := range []bool{false, true} {
		all := proxiedPairs(4000, sse)
		name := "json"
		if sse {
			name = "sse"
		}
		var buf []byte
		for _, cold := range []bool{true, false} {
			temp := "hot"
			if cold {
				temp = "cold"
			}
			b.Run(name+"/"+temp, func(b *testing.B) {
				i := 0
				onThreadCPU(b, 32, func() {
					if i+64 > len(all) || !cold {
						i = 0
					}
					buf, _, _ = encodeLines(buf[:0], all[i:i+64], 0, false, nil)
					i += 64
				})
				b.ReportMetric(float64(len(buf))/32, "bytes/pair")
			})
		}
	}
}

// A group of proxied calls' lines — each pair's parts encoded once and copied into its second line, events' data
// too — and of records whose parts are short, need escapes or come once, are the lines appendLine writes one by one.
func TestCaptureLinesGroupSameBytes(t *testing.T) {
	var records []*Exchange
	records = append(records, proxiedPairs(40, false)...)
	records = append(records, proxiedPairs(40, true)...)
	long := strings.Repeat(`<"é\u2028"> `, 10)
	for i := range 40 {
		ex := &Exchange{ID: uint64(1000 + i), Start: time.Unix(int64(i), int64(i)).UTC(), Events: []SSEEvent{{Data: long[:i*3]}, {Data: long}},
			ReqHeaders: Headers{{"X", long[:i]}}, ReqBody: Body{Data: []byte(long[i:])}}
		records = append(records, ex, &Exchange{ID: uint64(2000 + i), Events: ex.Events, ReqBody: ex.ReqBody})
	}
	var got, want []byte
	for i := 0; i < len(records); i += 64 {
		var err error
		if got, _, err = encodeLines(got, records[i:min(i+64, len(records))], 0, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, ex := range records {
		want, _ = appendLine(want, ex)
	}
	if !bytes.Equal(got, want) {
		g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(g), len(w)) {
			if g[i] != w[i] {
				t.Fatalf("line %d differs:\n got %s\nwant %s", i, g[i], w[i])
			}
		}
		t.Fatalf("%d lines, want %d", len(g), len(w))
	}
}

// A long stream's pair of lines still shares its bodies, headers and messages: its events' data are remembered
// for the first maxSharedData events only, so that the many others do not push the bodies out of the ring before
// the second line meets them.
func TestCaptureLinesLongStreamKeepsBodiesShared(t *testing.T) {
	data := `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`
	var stream strings.Builder
	var events []SSEEvent
	for i := range 20 {
		d := strings.Replace(data, "1}", fmt.Sprint(i)+"}", 1)
		events = append(events, SSEEvent{At: time.Duration(i), Data: d})
		stream.WriteString("data: " + d + "\n\n")
	}
	client := &Exchange{ID: 2, Kind: Inbound, ReqBody: Body{Data: []byte(benchCall)}, RespBody: Body{Data: []byte(stream.String())},
		RespHeaders: Headers{{"Content-Type", "text/event-stream"}, {"Mcp-Session-Id", "x"}}, Events: events,
		RPC: ParseRPC([]byte(benchCall), FromClient, -1)}
	cp := *client
	cp.ID, cp.Kind, cp.Events = 1, Outbound, append([]SSEEvent(nil), events...)
	var lp lineParts
	var got, want []byte
	for _, ex := range []*Exchange{&cp, client} {
		var err error
		if got, err = lp.appendLine(got, ex, nil); err != nil {
			t.Fatal(err)
		}
		want, _ = appendLine(want, ex)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the lines differ:\n got %s\nwant %s", got, want)
	}
	if want := 4 + maxSharedData; lp.copied != want {
		t.Errorf("%d parts copied, want %d: both bodies, the response's headers, the messages and the first events' data", lp.copied, want)
	}
}
