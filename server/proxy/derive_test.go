package proxy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/servertest"
	"github.com/mcpwatch/mcpwatch/server/toggle"
)

// The upstream copy of a proxied exchange is derived from its client's exchange (recorder.Transport.Derive) where
// the client received the same bytes, and recorded on its own from the first difference. Its record is the one
// the recorder makes without deriving, field by field, where TestProxiedRecordsKeepTheirFields does not reach:
// bodies beyond the recorder's limit, a response the proxy or a toggle rewrote (the client got other bytes, or
// JSON instead of an event stream and back), an upstream that breaks off mid-stream, a client that cannot take
// the last event. Each case runs both ways on a clock the upstream moves before each piece it sends (the client
// reads a piece before the next is sent), so times compare too.
func TestDerivedRecordsAreTheRecordedOnes(t *testing.T) {
	type tc struct {
		name    string
		limit   int      // recorder.Options.BodyLimit (0: default)
		toggles []string // proxy-mode toggles on
		kind    string   // what the upstream answers (see below)
		gated   bool     // the upstream sends its second event once the client read the first
		method  string
		failAt  int  // the n-th write to the client fails (0: none): the client cannot take it
		gone    bool // the client hangs up after the first event
	}
	cases := []tc{
		{name: "json", kind: "json", method: "POST"},
		{name: "json beyond the limit", kind: "json", method: "POST", limit: 150},
		{name: "request beyond the limit", kind: "json", method: "POST", limit: 40},
		{name: "stream", kind: "sse", gated: true, method: "POST"},
		{name: "stream beyond the limit", kind: "sse", gated: true, method: "POST", limit: 150},
		{name: "events beyond the line limit", kind: "sse", gated: true, method: "GET", limit: 60},
		{name: "GET stream", kind: "sse", gated: true, method: "GET"},
		{name: "discovery rewritten", kind: "discovery", method: "GET"},
		{name: "wrong-jsonrpc-id", kind: "json", method: "POST", toggles: []string{"wrong-jsonrpc-id"}},
		{name: "wrong-jsonrpc-id stream", kind: "sse", method: "POST", toggles: []string{"wrong-jsonrpc-id"}},
		{name: "sse-responses", kind: "json", method: "POST", toggles: []string{"sse-responses"}},
		{name: "json-responses", kind: "sse", method: "POST", toggles: []string{"json-responses"}},
		{name: "upstream breaks off", kind: "cut", gated: true, method: "POST"},
		{name: "client cannot take the second event", kind: "sse", gated: true, method: "POST", failAt: 2},
		{name: "client cannot take the answer", kind: "json", method: "POST", failAt: 1},
		{name: "client hangs up mid-stream", kind: "sse", gated: true, method: "POST", gone: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := func(derive bool) string {
				var clock atomic.Int64
				step := func() { clock.Add(int64(time.Millisecond)) }
				next := make(chan struct{}, 1)
				var up *httptest.Server
				up = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					io.ReadAll(r.Body)
					step()
					switch c.kind {
					case "json":
						w.Header().Set("Content-Type", "application/json")
						io.WriteString(w, `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"x","description":"a tool of some length, `+
							`longer than the shortest limit of the cases below, which cuts it"}]}}`)
					case "discovery":
						w.Header().Set("Content-Type", "application/json")
						fmt.Fprintf(w, `{"resource":"%s/mcp","authorization_servers":["%s"]}`, up.URL, up.URL)
					case "sse", "cut":
						w.Header().Set("Content-Type", "text/event-stream")
						io.WriteString(w, "event: message\nid: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n")
						w.(http.Flusher).Flush()
						if c.gated { // else the proxy may read the first event before or after the clock moves
							select {
							case <-next:
							case <-r.Context().Done():
								return
							case <-time.After(10 * time.Second):
							}
							step()
						}
						if c.kind == "cut" {
							panic(http.ErrAbortHandler) // the connection is cut mid-stream
						}
						io.WriteString(w, ": keep-alive\n\nevent: message\nid: e2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\n")
						if c.failAt == 0 { // else what the proxy read when the write failed depends on the timing
							w.(http.Flusher).Flush() // an event across two pieces
						}
						io.WriteString(w, "data: \"result\":{\"content\":[{\"type\":\"text\",\"text\":\"done\"}]}}\n\n")
					}
				}))
				defer up.Close()
				store := recorder.NewStore(recorder.StoreOptions{})
				at := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
				rec := recorder.New(store, recorder.Options{BodyLimit: c.limit, PublishDelay: time.Millisecond,
					Now: func() time.Time { return at.Add(time.Duration(clock.Load())) }})
				p, err := proxy.New(proxy.Options{Upstream: up.URL + "/mcp", Recorder: rec, RewriteURLs: true})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				if !derive {
					proxy.NoDerive(p)
				}
				set := toggle.NewSet(toggle.ModeProxy)
				for _, s := range c.toggles {
					if err := set.Set(s); err != nil {
						t.Fatal(err)
					}
				}
				var h http.Handler = p
				if c.failAt > 0 {
					h = failingWrites(p, c.failAt)
				}
				srv := servertest.Serve(t, server.Config{Recorder: rec, Handler: h, EndpointPath: p.EndpointPath(), Toggles: set})
				r := &rig{store: store, url: srv.LocalURL()}

				path := "/mcp"
				if c.kind == "discovery" {
					path = "/.well-known/oauth-protected-resource/mcp"
				}
				var body io.Reader = http.NoBody
				if c.method == "POST" {
					body = strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"a":"bcdefghijklmnop"}}}`)
				}
				req, _ := http.NewRequest(c.method, r.url+path, body)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := http.DefaultClient.Do(req)
				if err != nil && c.failAt == 1 {
					resp = &http.Response{Body: http.NoBody} // nothing reached the client
				} else if err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(resp.Body)
				if c.gated {
					for { // the first event, then the next is sent
						line, err := br.ReadString('\n')
						if err != nil {
							t.Fatalf("before the first event's end: %v", err)
						}
						if line == "\n" {
							break
						}
					}
					if c.gone {
						resp.Body.Close() // the upstream waits for its request's end
					} else {
						next <- struct{}{}
					}
				}
				io.Copy(io.Discard, br)
				resp.Body.Close()
				exs := r.exchanges(t, 2)
				if len(exs) != 2 {
					t.Fatalf("%d exchanges", len(exs))
				}
				var b bytes.Buffer
				for _, ex := range exs {
					line, err := json.Marshal(ex)
					if err != nil {
						t.Fatal(err)
					}
					b.Write(line)
					b.WriteByte('\n')
				}
				norm := strings.ReplaceAll(b.String(), strings.TrimPrefix(up.URL, "http://"), "UPSTREAM")
				norm = strings.ReplaceAll(norm, strings.TrimPrefix(r.url, "http://"), "PROXY")
				norm = regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(norm, "CLIENT")
				norm = regexp.MustCompile(`"name":"Date","value":"[^"]*"`).ReplaceAllString(norm, `"name":"Date","value":"DATE"`)
				return norm
			}
			want, got := run(false), run(true)
			wantLines, gotLines := strings.Split(want, "\n"), strings.Split(got, "\n")
			for i := range wantLines {
				if gotLines[i] != wantLines[i] {
					t.Errorf("record %d derived differs from the recorded one:%s", i+1, fieldDiff(gotLines[i], wantLines[i]))
				}
			}
			if testing.Verbose() {
				t.Logf("records:\n%s", got)
			}
		})
	}
}

// failingWrites answers through h, failing the n-th write to the client and every one after it (a client that
// cannot take more: its connection broke).
func failingWrites(h http.Handler, n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&failingWriter{ResponseWriter: w, n: n}, r)
	})
}

type failingWriter struct {
	http.ResponseWriter
	n, writes int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	f.writes++
	if f.writes >= f.n {
		return 0, errors.New("the client's connection broke")
	}
	return f.ResponseWriter.Write(p)
}

func (f *failingWriter) Flush() { http.NewResponseController(f.ResponseWriter).Flush() }

func (f *failingWriter) Unwrap() http.ResponseWriter { return f.ResponseWriter }
