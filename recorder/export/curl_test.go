package export

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder"
)

// recordedServer is a real http.Server behind the capture middleware (wire-order headers), answering every
// request after reading its body.
func recordedServer(t *testing.T) (string, *recorder.Store) {
	t.Helper()
	store := recorder.NewStore(recorder.StoreOptions{})
	rec := recorder.New(store, recorder.Options{BodyLimit: 4 << 20})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ConnContext: recorder.ConnContext, Handler: rec.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "ok")
	}))}
	go srv.Serve(recorder.WrapListener(ln))
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), store
}

// send writes one raw HTTP/1.1 request (the test controls every header byte) and waits for the answer.
func send(t *testing.T, base, method, target string, headers []string, body []byte) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, strings.TrimPrefix(base, "http://"))
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(body)
	if _, err := c.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
}

// comparable are the headers a replay must reproduce: all but the ones that describe the connection or the
// body's framing (Host names the replay's server).
func comparable(h recorder.Headers) string {
	var b strings.Builder
	for _, x := range h {
		switch strings.ToLower(x.Name) {
		case "host", "content-length", "connection", "transfer-encoding":
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", x.Name, x.Value)
	}
	return b.String()
}

func TestCurlReplaysRequestsByteForByte(t *testing.T) {
	bashPath, err := exec.LookPath("bash")
	_, curlErr := exec.LookPath("curl")
	if testing.Short() && (err != nil || curlErr != nil) {
		t.Skip("-short: bash and curl are needed to run the generated script (script/test installs them)")
	}
	if err != nil {
		t.Fatal("bash is needed to run the generated script: ", err)
	}
	if curlErr != nil {
		t.Fatal("curl is needed to run the generated script (script/test installs it): ", curlErr)
	}
	origBase, orig := recordedServer(t)
	large := bytes.Repeat([]byte("0123456789abcdef\n"), 6000) // 100 KiB: past the inline limit and curl's Expect threshold
	binary := []byte{0, 1, 2, 0xff, 0xfe, '\'', '"', '$', '`', '\n', 0x80, 0x00, 'x'}
	type req struct {
		method, target string
		headers        []string
		body           []byte
	}
	reqs := []req{
		{"POST", "/mcp", []string{"Content-Type: application/json", "Accept: application/json, text/event-stream", "User-Agent: Claude-User"},
			[]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"it's $HOME and ` + "`whoami`" + ` and $(id) and \\n and \"quotes\" and !! and ünïcödé"}}}`)},
		{"POST", "/text", []string{"Content-Type: text/plain"}, []byte("line one\r\nline two\n\ttabbed\n\n\n")},
		{"POST", "/at", []string{"Content-Type: text/plain"}, []byte("@/etc/passwd")},
		{"POST", "/bin", []string{"Content-Type: application/octet-stream"}, binary},
		{"POST", "/large", []string{"Content-Type: text/plain"}, large},
		{"POST", "/form", []string{"Content-Type: application/x-www-form-urlencoded"}, []byte("a=1+2&b=%26%3D&c='x'&d=\"$y\"")},
		{"POST", "/no-content-type", nil, []byte("raw")},
		{"POST", "/empty", []string{"Content-Type: application/json"}, []byte{}},
		{"PUT", "/put", []string{"Content-Type: application/json"}, []byte(`{"k":"v"}`)},
		{"PATCH", "/patch", []string{"Content-Type: application/json"}, []byte(`{}`)},
		{"DELETE", "/mcp", []string{"Mcp-Session-Id: abc'def$x"}, nil},
		{"GET", "/q?x=%5B1%5D&y={a}&z=a+b&w=[0]", []string{"Accept: */*", "X-Empty:", "X-Dup: one", "x-dup: two", "User-Agent: weird 'agent' $(id)"}, nil},
		{"HEAD", "/head", []string{"Accept: text/html"}, nil},
		{"OPTIONS", "/mcp", []string{"Origin: http://localhost:6274", "Access-Control-Request-Method: POST"}, nil},
	}
	for _, r := range reqs {
		send(t, origBase, r.method, r.target, r.headers, r.body)
	}
	want := orig.Snapshot()
	if len(want) != len(reqs) {
		t.Fatalf("recorded %d of %d originals", len(want), len(reqs))
	}

	replayBase, replay := recordedServer(t)
	var script bytes.Buffer
	if err := WriteCurl(&script, want, Options{NoRedact: true, Base: replayBase}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "replay.sh")
	if err := os.WriteFile(path, script.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bashPath, path).CombinedOutput()
	if err != nil {
		t.Fatalf("the script failed: %v\n%s\n--- script ---\n%s", err, out, script.String())
	}
	got := replay.Snapshot()
	if len(got) != len(want) {
		t.Fatalf("the replay server got %d requests, want %d\n%s", len(got), len(want), out)
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Method != w.Method || g.URL != w.URL {
			t.Errorf("request %d: %s %s, want %s %s", i+1, g.Method, g.URL, w.Method, w.URL)
		}
		if !bytes.Equal(g.ReqBody.Data, w.ReqBody.Data) || g.ReqBody.Size != w.ReqBody.Size {
			t.Errorf("request %d (%s): body differs: got %d bytes %q…, want %d bytes %q…", i+1, w.URL,
				len(g.ReqBody.Data), head(g.ReqBody.Data), len(w.ReqBody.Data), head(w.ReqBody.Data))
		}
		if comparable(g.ReqHeaders) != comparable(w.ReqHeaders) {
			t.Errorf("request %d (%s): headers differ\n got:\n%s\nwant:\n%s", i+1, w.URL, comparable(g.ReqHeaders), comparable(w.ReqHeaders))
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 40)] }

func TestCurlBaseMustBeAnAbsoluteURL(t *testing.T) {
	for _, base := range []string{"localhost:4000", "ftp://x", "/path"} {
		if err := WriteCurl(io.Discard, loadFixture(t), Options{Base: base}); err == nil {
			t.Errorf("base %q accepted", base)
		}
	}
}

func TestShellQuoting(t *testing.T) {
	for _, s := range []string{"", "plain", "it's", "''", `$HOME "x" ` + "`id`", "a\nb", `\`, "!!"} {
		out, err := exec.Command("bash", "-c", "printf '%s' "+shq(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("%q came back as %q (%v)", s, out, err)
		}
	}
}
