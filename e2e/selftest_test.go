package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHarnessServe: Start finds the real URL, the server answers on it, Stop ends it cleanly.
func TestHarnessServe(t *testing.T) {
	p := Start(t, "serve")
	if !strings.HasPrefix(p.URL, "http://127.0.0.1:") || strings.HasSuffix(p.URL, ":0") {
		t.Fatalf("URL = %q, want the bound 127.0.0.1 port", p.URL)
	}
	resp, err := http.Get(p.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), p.URL+"/mcp") {
		t.Errorf("GET /: %d %q", resp.StatusCode, body)
	}
	if !p.WaitStdout(5*time.Second, func(s string) bool { return strings.Contains(s, "GET    /") }) {
		t.Errorf("no headless line for GET / on stdout: %q", p.Stdout())
	}
	p.Stop()
	if code, ok := p.Wait(time.Second); !ok || code != 0 {
		t.Errorf("after Stop: exit code %d, exited %v", code, ok)
	}
}

// TestHarnessRun: one-shot commands, and a usage error's exit code.
func TestHarnessRun(t *testing.T) {
	if r := Run(t, 10*time.Second, "version"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "mcpwatch ") {
		t.Errorf("mcpwatch version: code %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	if r := Run(t, 10*time.Second, "serve", "--no-such-flag"); r.Code != 2 || !strings.Contains(r.Stderr, "no-such-flag") {
		t.Errorf("mcpwatch serve --no-such-flag: code %d, stderr %q", r.Code, r.Stderr)
	}
}

// recordingTB records the failures Stop reports instead of failing the test.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Logf(string, ...any) {}

func (r *recordingTB) failures() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

// TestHarnessStopFails: Stop reports an unclean exit and a process that ignores SIGINT (a harness that cannot
// fail would prove nothing).
func TestHarnessStopFails(t *testing.T) {
	banner := `; echo "fake listening on http://127.0.0.1:1" >&2; `
	cases := []struct {
		name, script, want string
	}{
		{"exit code", `trap "exit 3" INT` + banner + `while :; do sleep 0.05; done`, `"exit status 3"`},
		{"ignores SIGINT", `trap "" INT` + banner + `while :; do sleep 0.05; done`, "did not exit within"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := StopTimeout
			StopTimeout = 500 * time.Millisecond
			defer func() { StopTimeout = old }()
			rec := &recordingTB{TB: t}
			p := StartCmd(rec, exec.Command("sh", "-c", tc.script))
			if p.URL != "http://127.0.0.1:1" {
				t.Errorf("URL = %q", p.URL)
			}
			p.Stop()
			if got := rec.failures(); !strings.Contains(got, tc.want) {
				t.Errorf("Stop reported %q, want %q", got, tc.want)
			}
		})
	}
}
