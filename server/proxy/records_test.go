package proxy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
	"github.com/mcpwatch/mcpwatch/server"
	"github.com/mcpwatch/mcpwatch/server/proxy"
	"github.com/mcpwatch/mcpwatch/server/servertest"
)

var updateRecords = flag.Bool("update-records", false, "rewrite testdata/proxied-records.golden")

// The records of a proxied exchange pair (the client's exchange and the upstream copy) hold the same fields and
// values whatever the recorder does on the way (when it publishes, what it derives from what): a POST answered
// with JSON, a POST answered with an event stream and a GET stream, recorded with a fixed clock, each record as
// its capture line (json.Marshal: TestAppendLineIsJSONMarshal), compared with the golden file line by line. The
// golden file was written by the recorder before the event streams' progress moved to the late timer (ae122b8);
// addresses, ports and dates are replaced by names.
func TestProxiedRecordsKeepTheirFields(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == http.MethodPost && bytes.Contains(body, []byte(`"tools/list"`)):
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Mcp-Session-Id", "s1")
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`)
		case r.Method == http.MethodPost:
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "event: message\nid: e1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n")
			w.(http.Flusher).Flush()
			io.WriteString(w, "event: message\nid: e2\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"content\":[]}}\n\n")
		default:
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "id: g1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":1}}\n\n")
			w.(http.Flusher).Flush()
			io.WriteString(w, ": keep-alive\n\nid: g2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"n\":2}}\n\n")
		}
	}))
	defer up.Close()
	store := recorder.NewStore(recorder.StoreOptions{})
	at := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	rec := recorder.New(store, recorder.Options{Now: func() time.Time { return at }})
	p, err := proxy.New(proxy.Options{Upstream: up.URL, Recorder: rec, RewriteURLs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := servertest.Serve(t, server.Config{Recorder: rec, Handler: p, EndpointPath: p.EndpointPath()})
	r := &rig{store: store, url: srv.LocalURL()}

	send := func(method, body string) {
		req, _ := http.NewRequest(method, r.url+"/mcp", strings.NewReader(body))
		if body == "" {
			req.Body = http.NoBody
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		if _, err := io.Copy(io.Discard, br); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", method, resp.StatusCode, err)
		}
	}
	send("POST", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	r.exchanges(t, 2)
	send("POST", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}`)
	r.exchanges(t, 4)
	send("GET", "")
	exs := r.exchanges(t, 6)

	var got bytes.Buffer
	for _, ex := range exs {
		line, err := json.Marshal(ex)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(line)
		got.WriteByte('\n')
	}
	norm := got.String()
	norm = strings.ReplaceAll(norm, strings.TrimPrefix(up.URL, "http://"), "UPSTREAM")
	norm = strings.ReplaceAll(norm, strings.TrimPrefix(r.url, "http://"), "PROXY")
	norm = regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(norm, "CLIENT")
	norm = regexp.MustCompile(`"name":"Date","value":"[^"]*"`).ReplaceAllString(norm, `"name":"Date","value":"DATE"`)

	golden := filepath.Join("testdata", "proxied-records.golden")
	if *updateRecords {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(norm), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	gotLines, wantLines := strings.Split(norm, "\n"), strings.Split(string(want), "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("%d records, want %d:\n%s", len(gotLines)-1, len(wantLines)-1, norm)
	}
	for i := range gotLines {
		if gotLines[i] != wantLines[i] {
			t.Errorf("record %d differs from the golden file:%s", i+1, fieldDiff(gotLines[i], wantLines[i]))
		}
	}
}

// fieldDiff lists the fields of two records (capture lines) whose values differ, or both lines whole when they
// hold the same fields and values in another order.
func fieldDiff(got, want string) string {
	var g, w map[string]json.RawMessage
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return "\n got  " + got + "\n want " + want
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(w)) {
		if !bytes.Equal(g[k], w[k]) {
			fmt.Fprintf(&b, "\n %s: got %s, want %s", k, g[k], w[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(g)) {
		if _, ok := w[k]; !ok {
			fmt.Fprintf(&b, "\n %s: got %s, not in the golden file", k, g[k])
		}
	}
	if b.Len() == 0 {
		return "\n got  " + got + "\n want " + want
	}
	return b.String()
}
