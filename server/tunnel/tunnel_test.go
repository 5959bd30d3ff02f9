package tunnel

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParserFindsTheQuickTunnelURL(t *testing.T) {
	box := []string{
		"2024-06-23T18:35:10Z INF +--------------------------------------------------------------------------------------------+",
		"2024-06-23T18:35:10Z INF |  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |",
		"2024-06-23T18:35:10Z INF |  https://retail-curves-bernard-affairs.trycloudflare.com                                   |",
		"2024-06-23T18:35:10Z INF +--------------------------------------------------------------------------------------------+",
	}
	cases := []struct {
		name  string
		lines []string
		want  string
	}{
		{"console format", box, "https://retail-curves-bernard-affairs.trycloudflare.com"},
		{"an error quoting the API host first", append([]string{
			`2024-06-23T18:35:09Z ERR failed to request quick Tunnel: Post "https://api.trycloudflare.com/tunnel": dial tcp: i/o timeout`,
			`2024-06-23T18:35:09Z INF Thank you for trying Cloudflare Tunnel. ... (https://www.cloudflare.com/website-terms/) ...`,
		}, box...), "https://retail-curves-bernard-affairs.trycloudflare.com"},
		{"a later box names another tunnel", append(box, "INF |  https://someone-elses.trycloudflare.com  |"), "https://retail-curves-bernard-affairs.trycloudflare.com"},
		{"json log format", []string{
			`{"level":"info","time":"2024-06-23T18:35:10Z","message":"|  Your quick Tunnel has been created! Visit it at (it may take some time to be reachable):  |"}`,
			`{"level":"info","time":"2024-06-23T18:35:10Z","message":"|  https://json-words-here.trycloudflare.com                                  |"}`,
		}, "https://json-words-here.trycloudflare.com"},
		{"banner worded differently", []string{
			"INF +------------------------------+",
			"INF |  Your tunnel is ready:        |",
			"INF |  https://new-words.trycloudflare.com  |",
		}, "https://new-words.trycloudflare.com"},
		{"banner with another domain", []string{
			"INF |  Your quick Tunnel has been created! Visit it at:  |",
			"INF |  https://words.example-tunnels.net  |",
		}, "https://words.example-tunnels.net"},
		{"an unboxed URL is not the tunnel", []string{"INF see https://words.trycloudflare.com for details"}, ""},
		{"a boxed URL elsewhere is not the tunnel", []string{"INF |  SUMMARY: see https://developers.cloudflare.com  |", "INF |  https://developers.cloudflare.com/x  |"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var p parser
			got := ""
			for _, l := range c.lines {
				if u, ok := p.feed(l); ok {
					if got != "" {
						t.Fatalf("a second URL %q after %q", u, got)
					}
					got = u
				}
			}
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

var standIn string // a directory holding the stand-in as "cloudflared"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fakecloudflared")
	if err != nil {
		panic(err)
	}
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "cloudflared"), "./testdata/fakecloudflared").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		panic("building the cloudflared stand-in: " + err.Error() + "\n" + string(out))
	}
	standIn = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// usingStandIn puts the stand-in first on PATH and returns the directory it reports to.
func usingStandIn(t *testing.T, env ...string) string {
	t.Setenv("PATH", standIn+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	t.Setenv("FAKE_CLOUDFLARED_DIR", dir)
	for i := 0; i+1 < len(env); i += 2 {
		t.Setenv(env[i], env[i+1])
	}
	return dir
}

func readPid(t *testing.T, dir, name string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in wrote no %s file", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie waiting for a reaper does not count).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no procfs: trust kill(0)
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("process %d outlived Stop", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestStartReadsTheURLForwardsAndStopsTheGroup(t *testing.T) {
	dir := usingStandIn(t, "FAKE_CLOUDFLARED_HOST", "calm-river-four-birds.trycloudflare.com")
	hosts := make(chan string, 1)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host + " " + r.Header.Get("X-Forwarded-Proto")
		io.WriteString(w, "hello")
	}))
	defer origin.Close()

	tun, err := Start(Options{Origin: origin.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := tun.WaitURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u != "https://calm-river-four-birds.trycloudflare.com" {
		t.Fatalf("URL %q", u)
	}
	select {
	case <-tun.Connected():
	case <-time.After(10 * time.Second):
		t.Fatal("no connection registered")
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if string(args) != "tunnel --no-autoupdate --url "+origin.URL {
		t.Errorf("args %q", args)
	}
	pid, child := readPid(t, dir, "pid"), readPid(t, dir, "child")
	edge, _ := os.ReadFile(filepath.Join(dir, "edge"))
	resp, err := http.Get("http://" + string(edge) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := <-hosts; h != "calm-river-four-birds.trycloudflare.com https" {
		t.Errorf("origin saw %q", h)
	}

	tun.Stop()
	select {
	case <-tun.Done():
	default:
		t.Error("Stop returned before cloudflared exited")
	}
	if !tun.Stopping() {
		t.Error("Stopping() false after Stop")
	}
	waitGone(t, pid, child)
	tun.Stop() // twice is fine
}

func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	for _, env := range []string{"FAKE_CLOUDFLARED_IGNORE_TERM", "FAKE_CLOUDFLARED_STUBBORN_CHILD"} {
		t.Run(env, func(t *testing.T) {
			dir := usingStandIn(t, env, "1")
			tun, err := Start(Options{Origin: "http://127.0.0.1:1", StopTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := tun.WaitURL(ctx); err != nil {
				t.Fatal(err)
			}
			pid, child := readPid(t, dir, "pid"), readPid(t, dir, "child")
			time.Sleep(50 * time.Millisecond) // let the child's shell install its trap
			start := time.Now()
			tun.Stop()
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Stop took %s", d)
			}
			waitGone(t, pid, child)
		})
	}
}

func TestExitBeforeTheURLIsAnError(t *testing.T) {
	usingStandIn(t, "FAKE_CLOUDFLARED_FAIL", "1")
	tun, err := Start(Options{Origin: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = tun.WaitURL(ctx)
	if err == nil || !strings.Contains(err.Error(), "exited before it printed a tunnel URL") || !strings.Contains(err.Error(), "429 Too Many Requests") {
		t.Fatalf("err = %v", err)
	}
}

func TestNotInstalledSaysHowToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(Options{Origin: "http://127.0.0.1:1"})
	if !errors.Is(err, errNotInstalled) || !strings.Contains(err.Error(), "apt-get install cloudflared") {
		t.Fatalf("err = %v", err)
	}
}

// If mcpwatch is killed outright (no chance to call Stop), cloudflared still goes: the kernel sends it SIGTERM
// when its parent dies (Linux). The parent here is this test binary re-run as a helper process.
func TestKilledParentTakesCloudflaredAlong(t *testing.T) {
	if os.Getenv("TUNNEL_TEST_HELPER") == "1" {
		tun, err := Start(Options{Origin: "http://127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tun.WaitURL(context.Background()); err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Minute) // killed by the test before this ends
		return
	}
	dir := usingStandIn(t)
	helper := exec.Command(os.Args[0], "-test.run", "^TestKilledParentTakesCloudflaredAlong$")
	helper.Env = append(os.Environ(), "TUNNEL_TEST_HELPER=1")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Process.Kill()
	ready := make(chan struct{})
	go func() {
		b := make([]byte, 64)
		var got strings.Builder
		for !strings.Contains(got.String(), "ready") {
			n, err := out.Read(b)
			got.Write(b[:n])
			if err != nil {
				return
			}
		}
		close(ready)
		io.Copy(io.Discard, out)
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the helper did not start the tunnel")
	}
	pid := readPid(t, dir, "pid")
	// Only cloudflared itself is signalled (it starts no processes of its own; the stand-in's child is ours).
	defer syscall.Kill(-pid, syscall.SIGKILL)
	if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	helper.Wait()
	waitGone(t, pid)
}
