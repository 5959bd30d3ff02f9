package proxy_test

// Proxy overhead, side by side in one run: the same loopback upstream reached directly, through mcpwatch's proxy
// (the whole router: capture with a capture file, Host guard, proxy, upstream recorded too), and through mitmproxy's
// mitmdump in reverse mode (default, and with stream_large_bodies so that it streams). Run:
//
//	go test ./server/proxy -run '^$' -bench . -count 3
//
// Throughput: ns/op and req/s for small JSON-RPC POSTs from 16 concurrent clients. First event: first-event-µs
// is the mean time from sending a GET to reading the first SSE event of a stream that ends 20 ms later (a proxy
// that buffers the stream delivers it only then). mitmdump comes from Debian's mitmproxy package; without it the
// mitmdump rows are skipped with a message.
//
// Side by side (BenchmarkProxySideBySide): one client sends the same request to direct, revproxy and mcpwatch in
// turn (the order rotating), one at a time, so that they see the same machine at the same moments; it reports
// each one's p50 and p99 and mcpwatch's minus the bare ReverseProxy's (added-p50-µs, added-p99-µs), for a POST
// (latency) and for the first event of a stream (first-event). mcpwatch-norec is mcpwatch recording nothing,
// mcpwatch-inbound recording the client's exchanges but not the upstream copies: the differences are what each
// part of recording adds; mcpwatch-session has the subscribers of `proxy --no-tui` attached (the analysis service
// and the headless printer). next-first-event measures the second of two streams opened in a row on the same
// target, as script/bench opens them: what the first one's end left to do runs when the second opens. Run it
// several times: a p99 on a busy machine is noisy, the same run's difference less so.

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/bench/peers"
	"github.com/mcpwatch/mcpwatch/internal/testkit"
	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/analysis/live"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/servertest"
)

const (
	benchRequest   = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`
	benchResponse  = `{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hello"}]}}`
	benchStreamFor = 20 * time.Millisecond
)

func benchUpstream(b *testing.B) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, benchResponse)
		case http.MethodGet:
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":1}}\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-time.After(benchStreamFor):
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":2}}\n\n")
		}
	}))
	b.Cleanup(up.Close)
	return up
}

// benchMcpwatch runs mcpwatch's router with the proxy in front of upstream, recording into a capture file.
func benchMcpwatch(b *testing.B, upstream string) string {
	return benchMcpwatchRecording(b, upstream, true, true)
}

// benchMcpwatchRecording is benchMcpwatch recording the client's exchanges (inbound) and the upstream copies
// (upstream) or not: what each costs.
func benchMcpwatchRecording(b *testing.B, upstream string, inbound, upstreamCopy bool) string {
	url, _ := benchMcpwatchStore(b, upstream, inbound, upstreamCopy)
	return url
}

// benchMcpwatchSession is benchMcpwatch with the subscribers of `mcpwatch proxy --no-tui` (app/session.go): the
// analysis service following the store and the headless printer printing it (to io.Discard).
func benchMcpwatchSession(b *testing.B, upstream string) string {
	url, store := benchMcpwatchStore(b, upstream, true, true)
	svc := live.New(live.Options{Analysis: analysis.Options{MCPPath: "/mcp"}, JudgeEvery: time.Second})
	sub := store.SubscribeWith(recorder.SubscribeOptions{Buffer: 4096, NoBegan: true})
	psub := svc.Subscribe()
	ctx, stop := context.WithCancel(context.Background())
	printed := make(chan error, 1)
	go svc.Follow(ctx, sub, store)
	go func() { printed <- headless.Watch(ctx, psub, io.Discard, headless.Options{}) }()
	b.Cleanup(func() {
		stop()
		sub.Close()
		<-printed
		svc.Close()
	})
	return url
}

func benchMcpwatchStore(b *testing.B, upstream string, inbound, upstreamCopy bool) (string, *recorder.Store) {
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{})
	inRec, upRec := rec, rec
	if !inbound {
		inRec = nil
	}
	if !upstreamCopy {
		upRec = nil
	}
	capture, err := recorder.OpenCapture(filepath.Join(b.TempDir(), "capture.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	store.OnComplete(capture.Append)
	p, err := proxy.New(proxy.Options{Upstream: upstream, Recorder: upRec, RewriteURLs: true, HeaderTimeout: proxy.DefaultHeaderTimeout})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { // after the server stopped
		p.Close()
		capture.Close()
	})
	return servertest.Serve(b, server.Config{Recorder: inRec, Handler: p}).LocalURL(), store
}

// benchRevproxy runs a bare httputil.ReverseProxy with its own transport in front of upstream (the limit for a Go
// proxy; bench/peers is what script/bench measures against).
func benchRevproxy(b *testing.B, upstream string) string {
	u, _ := url.Parse(upstream)
	srv := httptest.NewServer(peers.ReverseProxy(u))
	b.Cleanup(srv.Close)
	return srv.URL
}

// benchMitmdump runs `mitmdump --mode reverse:UPSTREAM` on a free loopback port; "" when mitmdump is missing.
func benchMitmdump(b *testing.B, upstream string, extra ...string) string {
	path, err := exec.LookPath("mitmdump")
	if err != nil {
		return ""
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := append([]string{"-q", "--mode", "reverse:" + upstream, "--listen-host", "127.0.0.1", "--listen-port", strconv.Itoa(port)}, extra...)
	cmd := exec.Command(path, args...)
	cmd.Dir = b.TempDir() // mitmproxy writes its CA under ~/.mitmproxy; nothing else
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return "http://" + addr
		}
		select {
		case <-exited:
			b.Fatalf("mitmdump exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("mitmdump did not listen on %s within 30s: %s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type benchTarget struct{ name, url string }

func benchTargets(b *testing.B) []benchTarget {
	up := benchUpstream(b)
	ts := []benchTarget{
		{"direct", up.URL},
		{"revproxy", benchRevproxy(b, up.URL)},
		{"mcpwatch", benchMcpwatch(b, up.URL)},
		{"mitmdump", benchMitmdump(b, up.URL)},
		{"mitmdump-stream", benchMitmdump(b, up.URL, "--set", "stream_large_bodies=1")},
	}
	return ts
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 0, MaxIdleConnsPerHost: 256, DisableCompression: true}}
}

func BenchmarkProxy(b *testing.B) {
	targets := benchTargets(b)
	for _, tg := range targets {
		b.Run("throughput/"+tg.name, func(b *testing.B) {
			if tg.url == "" {
				b.Skip("mitmdump is not installed (Debian: apt-get install mitmproxy)")
			}
			client := benchClient()
			defer client.CloseIdleConnections()
			b.SetParallelism(8) // 8 × GOMAXPROCS concurrent clients
			b.ResetTimer()
			cpu0 := testkit.ProcessCPU()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(tg.url+"/mcp", "application/json", strings.NewReader(benchRequest))
					if err != nil {
						b.Error(err)
						return
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 || string(body) != benchResponse {
						b.Errorf("%d %q %v", resp.StatusCode, body, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
			b.ReportMetric(float64((testkit.ProcessCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
	for _, tg := range targets {
		b.Run("first-event/"+tg.name, func(b *testing.B) {
			if tg.url == "" {
				b.Skip("mitmdump is not installed (Debian: apt-get install mitmproxy)")
			}
			client := benchClient()
			defer client.CloseIdleConnections()
			var total time.Duration
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				req, _ := http.NewRequest("GET", tg.url+"/mcp", nil)
				req.Header.Set("Accept", "text/event-stream")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				br := bufio.NewReader(resp.Body)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						b.Fatalf("no first event: %v", err)
					}
					if line == "\n" {
						break
					}
				}
				total += time.Since(t0)
				io.Copy(io.Discard, br)
				resp.Body.Close()
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "first-event-µs")
		})
	}
}

// BenchmarkProxySideBySide: see the file's comment. An op is one request to each of the three targets.
func BenchmarkProxySideBySide(b *testing.B) {
	up := benchUpstream(b)
	targets := []benchTarget{
		{"direct", up.URL},
		{"revproxy", benchRevproxy(b, up.URL)},
		{"mcpwatch", benchMcpwatch(b, up.URL)},
		{"mcpwatch-norec", benchMcpwatchRecording(b, up.URL, false, false)},
		{"mcpwatch-inbound", benchMcpwatchRecording(b, up.URL, true, false)},
		{"mcpwatch-session", benchMcpwatchSession(b, up.URL)},
	}
	b.Run("latency", func(b *testing.B) {
		sideBySide(b, targets, benchPost)
	})
	b.Run("first-event", func(b *testing.B) {
		sideBySide(b, targets, benchFirstEvent)
	})
	// The second of two streams opened one after the other on the same target, as script/bench opens them: what
	// the first one's end left to do (the subscribers' work, the capture file's) runs when the second is opened.
	b.Run("next-first-event", func(b *testing.B) {
		sideBySide(b, targets, func(b *testing.B, client *http.Client, url string) time.Duration {
			benchFirstEvent(b, client, url)
			return benchFirstEvent(b, client, url)
		})
	})
}

// sideBySide runs one op against each target in turn, b.N times (the first target of a round rotating), and
// reports the p50 and p99 of each target's durations, and mcpwatch's p50 and p99 against revproxy's.
func sideBySide(b *testing.B, targets []benchTarget, op func(b *testing.B, client *http.Client, url string) time.Duration) {
	client := benchClient()
	defer client.CloseIdleConnections()
	for _, tg := range targets { // warm the connections
		op(b, client, tg.url)
	}
	took := make([][]time.Duration, len(targets))
	b.ResetTimer()
	for i := range b.N {
		for j := range targets {
			k := (i + j) % len(targets)
			took[k] = append(took[k], op(b, client, targets[k].url))
		}
	}
	b.StopTimer()
	q := map[string][2]time.Duration{}
	for k, tg := range targets {
		p50, p99 := percentile(took[k], 50), percentile(took[k], 99)
		q[tg.name] = [2]time.Duration{p50, p99}
		b.ReportMetric(float64(p50.Nanoseconds())/1e3, tg.name+"-p50-µs")
		b.ReportMetric(float64(p99.Nanoseconds())/1e3, tg.name+"-p99-µs")
	}
	b.ReportMetric(float64((q["mcpwatch"][0]-q["revproxy"][0]).Nanoseconds())/1e3, "added-p50-µs")
	b.ReportMetric(float64((q["mcpwatch"][1]-q["revproxy"][1]).Nanoseconds())/1e3, "added-p99-µs")
	b.ReportMetric(float64(q["mcpwatch"][0])/float64(q["revproxy"][0]), "p50-ratio")
	if s, ok := q["mcpwatch-session"]; ok {
		b.ReportMetric(float64(s[0])/float64(q["revproxy"][0]), "session-p50-ratio")
	}
}

// percentile returns the p-th percentile of ds (nearest rank); it sorts ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds)*p + 99) / 100
	return ds[max(i-1, 0)]
}

// benchPost sends one tools/call POST and reads its answer; it returns the time until the answer was read.
func benchPost(b *testing.B, client *http.Client, url string) time.Duration {
	t0 := time.Now()
	resp, err := client.Post(url+"/mcp", "application/json", strings.NewReader(benchRequest))
	if err != nil {
		b.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(t0)
	if err != nil || resp.StatusCode != 200 || string(body) != benchResponse {
		b.Fatalf("%d %q %v", resp.StatusCode, body, err)
	}
	return took
}

// benchFirstEvent opens a stream and reads its first event; it returns the time until then, and reads the rest.
func benchFirstEvent(b *testing.B, client *http.Client, url string) time.Duration {
	t0 := time.Now()
	req, _ := http.NewRequest("GET", url+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			b.Fatalf("no first event: %v", err)
		}
		if line == "\n" {
			break
		}
	}
	took := time.Since(t0)
	io.Copy(io.Discard, br)
	return took
}
