package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	neturl "net/url"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpwatch/mcpwatch/recorder/analysis"
	"github.com/mcpwatch/mcpwatch/recorder/headless"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serveHeadless runs `mcpwatch serve --no-tui [extra]` in-process on a free port and returns its MCP URL,
// its stdout, and a stop function that waits for it to exit.
func serveHeadless(t *testing.T, extra ...string) (string, *lockedBuffer, func()) {
	t.Helper()
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	var stdout, stderr lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	args := append([]string{"serve", "--no-tui", "--addr", "127.0.0.1:0", "--no-capture"}, extra...)
	go func() { done <- run(ctx, args, &stdout, &stderr) }()
	re := regexp.MustCompile(`listening on (http://\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for !re.MatchString(stderr.String()) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no banner: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	url := re.FindStringSubmatch(stderr.String())[1] + "/mcp"
	return url, &stdout, func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit code %d: %s", code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	}
}

// sdkSession is a Go SDK client session at 2025-11-25: initialize, the GET stream, a list and a call, DELETE;
// with an OAuth handler when the server wants a token.
func sdkSession(t *testing.T, url string, oauth auth.OAuthHandler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := mcp.NewClient(&mcp.Implementation{Name: "headless-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, OAuthHandler: oauth}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
}

func waitLines(t *testing.T, out *lockedBuffer, pred func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !pred(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("output:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The --no-tui line of each exchange names its stage, client and connection.
func TestServeHeadlessLinesHaveStages(t *testing.T) {
	url, out, stop := serveHeadless(t, "--no-auth")
	sdkSession(t, url, nil)
	waitLines(t, out, func(s string) bool { return strings.Contains(s, "DELETE") })
	stop()
	stages := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(line, "! ") {
			t.Errorf("a healthy session printed a finding: %s", line)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[len(f)-1] != "c1" || f[len(f)-2] != "unknown" {
			t.Errorf("line without client and connection: %q", line)
			continue
		}
		stages[f[len(f)-3]] = true
	}
	for _, s := range []string{"initialize", "initialized", "list", "call", "stream", "terminate"} {
		if !stages[s] {
			t.Errorf("no %s line in:\n%s", s, out.String())
		}
	}
}

// --json prints events: one exchange event per request, with its stage; a healthy session has no finding event.
func TestServeHeadlessJSON(t *testing.T) {
	url, out, stop := serveHeadless(t, "--json", "--no-auth")
	sdkSession(t, url, nil)
	waitLines(t, out, func(s string) bool { return strings.Contains(s, `"method":"DELETE"`) })
	stop()
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	sc.Buffer(nil, 4<<20)
	var stages []analysis.Stage
	for sc.Scan() {
		var ev headless.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		if ev.Event != headless.EventExchange {
			t.Errorf("unexpected event %s", sc.Text())
			continue
		}
		if ev.Exchange == nil || ev.Connection != "c1" || ev.Client != analysis.ClientUnknown || ev.Exchange.Path() != "/mcp" {
			t.Errorf("event %+v", ev)
		}
		stages = append(stages, ev.Stage)
	}
	// Events come in completion order (initialize answered over SSE may complete after initialized).
	for _, want := range []analysis.Stage{analysis.StageInitialize, analysis.StageInitialized, analysis.StageList,
		analysis.StageCall, analysis.StageStream, analysis.StageTerminate} {
		if !slices.Contains(stages, want) {
			t.Errorf("no %s event among %v", want, stages)
		}
	}
}

// The Go SDK's own OAuth client through the embedded authorization server (--auto-approve): a healthy run, so the
// analysis finds nothing, groups it as one connection and labels every step.
func TestServeHeadlessOAuthRun(t *testing.T) {
	url, out, stop := serveHeadless(t, "--json", "--auto-approve", "--ephemeral")
	redirect := "http://127.0.0.1:39999/callback"
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			RedirectURIs: []string{redirect}, ClientName: "headless-test", TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"}}},
		RedirectURL: redirect,
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			req, err := http.NewRequestWithContext(ctx, "GET", args.URL, nil)
			if err != nil {
				return nil, err
			}
			resp, err := noFollow.Do(req) // --auto-approve: straight back to the redirect URI
			if err != nil {
				return nil, err
			}
			resp.Body.Close()
			loc, err := neturl.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, err
			}
			q := loc.Query()
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sdkSession(t, url, h)
	waitLines(t, out, func(s string) bool { return strings.Contains(s, `"method":"DELETE"`) })
	stop()
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	sc.Buffer(nil, 4<<20)
	seen := map[analysis.Stage]bool{}
	for sc.Scan() {
		var ev headless.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		switch ev.Event {
		case headless.EventExchange:
			seen[ev.Stage] = true
			if ev.Connection != "c1" || ev.Status == analysis.StatusFailed && ev.Stage != analysis.StageChallenge {
				t.Errorf("%s %s: stage %s %s on %s", ev.Exchange.Method, ev.Exchange.Path(), ev.Stage, ev.Status, ev.Connection)
			}
		default:
			t.Errorf("unexpected event: %s", sc.Text())
		}
	}
	for _, want := range []analysis.Stage{analysis.StageChallenge, analysis.StageResourceMetadata, analysis.StageAuthMetadata,
		analysis.StageRegister, analysis.StageAuthorize, analysis.StageToken, analysis.StageInitialize, analysis.StageInitialized,
		analysis.StageList, analysis.StageCall, analysis.StageStream, analysis.StageTerminate} {
		if !seen[want] {
			t.Errorf("no %s exchange; stages seen %v", want, seen)
		}
	}
}

// While no public URL is set, the --no-tui banner says the loopback connector URL is for local clients only, that
// web clients cannot reach it, and how to get a public URL; with one, it offers it to Claude's connector settings.
func TestServeHeadlessBannerLoopback(t *testing.T) {
	for _, c := range []struct {
		extra       []string
		want, avoid []string
	}{
		{nil, []string{"local clients only: Claude Code, Cursor, VS Code", "Claude and ChatGPT on the web cannot reach", "--tunnel", "--public-url"},
			[]string{"Add custom connector"}},
		{[]string{"--public-url", "https://example.trycloudflare.com"}, []string{"Add custom connector): https://example.trycloudflare.com/mcp"},
			[]string{"local clients only", "cannot reach"}},
	} {
		t.Setenv("XDG_STATE_HOME", t.TempDir())
		var stdout, stderr lockedBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		args := append([]string{"serve", "--no-tui", "--addr", "127.0.0.1:0", "--no-capture"}, c.extra...)
		go func() { done <- run(ctx, args, &stdout, &stderr) }()
		waitLines(t, &stderr, func(s string) bool { return strings.Contains(s, "connector URL") })
		time.Sleep(50 * time.Millisecond)
		cancel()
		<-done
		banner := stderr.String()
		for _, w := range c.want {
			if !strings.Contains(banner, w) {
				t.Errorf("%v: the banner lacks %q:\n%s", c.extra, w, banner)
			}
		}
		for _, a := range c.avoid {
			if strings.Contains(banner, a) {
				t.Errorf("%v: the banner says %q:\n%s", c.extra, a, banner)
			}
		}
	}
}

// serve paces the GC (app.PaceGC): with the small live heap of a fresh serve, GOGC is raised above 100 so that
// the heap grows to app.gcGoal between collections (docs/benchmarks.md, serve's own layers). proxy does not (cmd/mcpwatch/proxy.go).
func TestServePacesGC(t *testing.T) {
	t.Setenv("GOGC", "") // restored after; unset for the test: PaceGC leaves a GOGC the user set alone
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	_, _, stop := serveHeadless(t)
	p := debug.SetGCPercent(100)
	stop()
	if p <= 100 {
		t.Errorf("GC percent %d while serve runs; want more than 100", p)
	}
}
